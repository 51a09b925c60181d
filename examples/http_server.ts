/**
 * An HTTP server on a TUN device that answers EVERY address and port routed into it: node:http's own
 * server on the engine's flows through NetStack. The captive-portal and test-server use case.
 *
 *   sudo npm run http -- --tun web0
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
 * All the wiring there is: `runTun(engine, device, stack)` (through startExample) and
 * `stack.on("connection", (socket) => server.emit("connection", socket))`.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import { NetStack } from "../lib/stream/net-stack.js";
import { Pattern, PATTERN_PERIOD } from "./echo-pair.js";
import {
  formatRate,
  isMain,
  runMain,
  startExample,
  type DeviceSource,
  type ExampleOptions,
  type ExampleSpec,
  type RunningExample,
} from "./utils.js";

export const HTTP_SPEC: ExampleSpec = {
  name: "http_server",
  summary:
    "A node:http server answering every address and port that reaches the device (IPv4 and IPv6): " +
    "GET /bytes/N downloads N bytes, POST or PUT answers the body's size and sha256, anything else " +
    "says which address and port the client reached.",
  upstream: false,
};

/** Largest GET /bytes/N. */
export const MAX_DOWNLOAD = 2 ** 40;

const PATTERN = new Pattern(0x6874_7470);

/** The body of GET /bytes/N, as views of one pattern (nothing is allocated per chunk). */
export function* bodyChunks(length: number, chunk = PATTERN_PERIOD): Generator<Uint8Array> {
  for (let offset = 0; offset < length; ) {
    const phase = offset % PATTERN_PERIOD;
    const n = Math.min(chunk, PATTERN_PERIOD, length - offset);
    yield PATTERN.bytes.subarray(phase, phase + n);
    offset += n;
  }
}

export interface HttpCounters {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** The request handler (also usable on any other server). */
export function httpHandler(counters: HttpCounters): http.RequestListener {
  return (req, res) => {
    counters.requests++;
    const socket = req.socket;
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
        for (let next = chunks.next(); !next.done; next = chunks.next()) {
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
    const at = (address: string | undefined, port: number | undefined) =>
      address?.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`l3l4 http_server: you reached ${at(socket.localAddress, socket.localPort)} from ${at(socket.remoteAddress, socket.remotePort)} (${req.method} ${req.url})\n`);
  };
}

export interface HttpServer extends RunningExample {
  readonly stack: NetStack;
  readonly server: http.Server;
  readonly counters: HttpCounters;
}

export interface HttpSource extends DeviceSource {
  /** Status line interval (ms); 0: none. Default 1000, or none with --quiet. */
  statusIntervalMs?: number;
}

/** Opens the device (or uses source.device) and serves HTTP on every address until close(). */
export function startHttpServer(options: ExampleOptions, source: HttpSource = {}): HttpServer {
  const log = source.log ?? ((line: string) => console.log(line));
  const counters: HttpCounters = { requests: 0, bytesIn: 0, bytesOut: 0 };
  const server = http.createServer(httpHandler(counters));
  let stack: NetStack | undefined;
  const running = startExample(options, source, (engine) => {
    stack = new NetStack(engine);
    // UDP has no listener: datagrams are answered with ICMP port unreachable, as by a host.
    stack.on("connection", (socket) => server.emit("connection", socket));
    return stack;
  });
  const interval = source.statusIntervalMs ?? (options.quiet ? 0 : 1000);
  let status: NodeJS.Timeout | undefined;
  if (interval > 0) {
    let last = { ...counters, at: performance.now() };
    status = setInterval(() => {
      const now = performance.now();
      const seconds = (now - last.at) / 1000;
      log(
        `connections ${stack!.endpointCount}  requests ${counters.requests - last.requests}/s  ` +
          `in ${formatRate(counters.bytesIn - last.bytesIn, seconds)}  out ${formatRate(counters.bytesOut - last.bytesOut, seconds)}`,
      );
      last = { ...counters, at: now };
    }, interval);
    status.unref();
  }
  return {
    ...running,
    stack: stack!,
    server,
    counters,
    async close(graceMs = 0): Promise<void> {
      if (status !== undefined) clearInterval(status);
      server.close();
      await running.close(graceMs);
    },
  };
}

if (isMain(import.meta.url)) {
  runMain(HTTP_SPEC, (options) => {
    const running = startHttpServer(options);
    console.log(`http_server: answering every address on ${running.device.name} (mtu ${running.device.mtu}); Ctrl-C to stop`);
    return running;
  });
}
