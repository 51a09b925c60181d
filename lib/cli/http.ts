/**
 * `l3l4 http`: node:http's own server answering EVERY address and port routed into a TUN device, on
 * the engine's flows through NetStack. The captive-portal and test-server use case.
 *
 *   sudo l3l4 http --tun web0          (or, in the repository: sudo npm run http -- --tun web0)
 *   sudo ip addr add 10.99.0.1/24 dev web0; sudo ip route add 10.99.1.0/24 dev web0
 *   curl http://10.99.1.7/            # "you reached 10.99.1.7:80 from 10.99.0.1:..."
 *   curl http://10.99.1.200:8080/bytes/1000000 | wc -c
 *   curl -T file http://10.99.1.9/    # {"bytes":...,"sha256":"..."}
 *
 * Routes, on any host and port:
 *   GET  /bytes/N   N bytes of a fixed pseudo-random pattern (bodyChunks below), for downloads
 *   POST|PUT  any   reads the body, answers its size and sha256 as JSON, for uploads
 *   anything else   one line: the address and port the client reached, and its own
 *
 * The wiring is the NetStack's: runTun(engine, device, stack) (through startDevice) and
 * stack.on("connection", (socket) => server.emit("connection", socket)). UDP has no listener, so a
 * datagram is answered with ICMP port unreachable, as by a host.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import { Pattern, PATTERN_PERIOD } from "../debug/echo-pair.js";
import { NetStack } from "../stream/net-stack.js";
import { describeDevice, deviceCommand, startDevice, type DeviceSource, type RunningDevice } from "./device.js";
import { formatRate, type DeviceOptions } from "./options.js";

/** Largest GET /bytes/N. */
export const MAX_DOWNLOAD = 2 ** 40;

const PATTERN = new Pattern(0x6874_7470);

/** The body of GET /bytes/N, as views of one pattern (nothing is allocated per chunk). */
export function* bodyChunks(length: number): Generator<Uint8Array> {
  for (let offset = 0; offset < length; ) {
    const phase = offset % PATTERN_PERIOD;
    const n = Math.min(PATTERN_PERIOD, length - offset);
    yield PATTERN.bytes.subarray(phase, phase + n);
    offset += n;
  }
}

export interface HttpCounters {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

function hostPort(address: string | undefined, port: number | undefined): string {
  return address?.includes(":") === true ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The request handler (it runs on any node:http server). */
export function httpHandler(counters: HttpCounters): http.RequestListener {
  return (req, res) => {
    counters.requests++;
    const download = req.method === "GET" ? /^\/bytes\/(\d{1,13})$/.exec(req.url ?? "") : null;
    if (download !== null) {
      const length = Number(download[1]);
      if (length > MAX_DOWNLOAD) {
        res.writeHead(400).end("too large\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(length) });
      const chunks = bodyChunks(length);
      const pump = (): void => {
        for (let next = chunks.next(); next.done !== true; next = chunks.next()) {
          counters.bytesOut += next.value.length;
          if (!res.write(next.value)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.method === "POST" || req.method === "PUT") {
      const hash = createHash("sha256");
      let bytes = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
        counters.bytesIn += chunk.length;
      });
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(`${JSON.stringify({ bytes, sha256: hash.digest("hex") })}\n`);
      });
      return;
    }
    req.resume();
    const socket = req.socket;
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(
      `l3l4 http: you reached ${hostPort(socket.localAddress, socket.localPort)} ` +
        `from ${hostPort(socket.remoteAddress, socket.remotePort)} (${req.method} ${req.url})\n`,
    );
  };
}

export interface HttpServer extends RunningDevice {
  readonly stack: NetStack;
  readonly server: http.Server;
  readonly counters: HttpCounters;
}

/** Opens the device (or uses source.device) and serves HTTP on every address until close(). */
export function startHttpServer(options: DeviceOptions, source: DeviceSource = {}): HttpServer {
  const counters: HttpCounters = { requests: 0, bytesIn: 0, bytesOut: 0 };
  const server = http.createServer(httpHandler(counters));
  const running = startDevice(options, source, (engine) => {
    const stack = new NetStack(engine);
    stack.on("connection", (socket) => server.emit("connection", socket));
    return stack;
  });
  return {
    ...running,
    stack: running.app,
    server,
    counters,
    async close(graceMs = 0): Promise<void> {
      server.close();
      await running.close(graceMs);
    },
  };
}

const SUMMARY =
  "A node:http server answering every address and port that reaches the device (IPv4 and IPv6): " +
  "GET /bytes/N downloads N bytes, POST or PUT answers the body's size and sha256, anything else " +
  "says which address and port the client reached.";

export const HTTP_COMMAND = deviceCommand({
  name: "http",
  summary: "a node:http server answering every address and port that reaches a TUN device",
  synopsis: "usage: l3l4 http [--tun NAME] [--mtu N] [--no-offload] [--pcap FILE] [--trace] [--faults SPEC] [options]",
  description: SUMMARY,
  start: startHttpServer,
  started: (running) => `answering every address on ${describeDevice(running.device)}`,
  status(running) {
    let last = { ...running.counters, at: performance.now() };
    return () => {
      const c = running.counters;
      const now = performance.now();
      const seconds = (now - last.at) / 1000;
      const line =
        `connections ${running.stack.endpointCount}  requests ${c.requests - last.requests}  ` +
        `in ${formatRate(c.bytesIn - last.bytesIn, seconds)}  out ${formatRate(c.bytesOut - last.bytesOut, seconds)}`;
      last = { ...c, at: now };
      return line;
    };
  },
});
