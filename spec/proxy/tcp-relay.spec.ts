/**
 * TcpRelay's upstream -> device side against real sockets on 127.0.0.1 (node:net's DirectTcp, and the
 * addon's sockets: NativeDirectTcp), with a host
 * whose engine only records the calls: a short first answer is held for one loop iteration
 * (NextIteration), so that the server's FIN read in the next iteration goes to the engine right
 * behind it (l4Tx, then l4LocalClose, with no turn of the loop in between: under tcpAutocork one
 * segment carries both).
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Callbacks, Flow } from "../../lib/api.js";
import type { L3L4 } from "../../lib/engine.js";
import { DirectTcp } from "../../lib/proxy/direct.js";
import { NativeDirectTcp, sharedNativeSockets } from "../../lib/proxy/native-tcp.js";
import type { TcpDialer } from "../../lib/proxy/upstream.js";
import { newCounters, type RelayHost } from "../../lib/proxy/relay-host.js";
import { StagingPool } from "../../lib/proxy/staging.js";
import { HOLD_MAX_BYTES, NextIteration, TcpRelay } from "../../lib/proxy/tcp-relay.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server on 127.0.0.1 that answers each connection with `serve(socket)`. */
async function serverOn(serve: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => {}); // the relay resets its upstream when the flow goes
    serve(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

const FLOW: Flow = { protocol: "tcp", family: 4, srcIp: "10.0.0.2", srcPort: 40000, dstIp: "127.0.0.1", dstPort: 80 };

/**
 * A host whose engine logs "tx N" (l4Tx of N bytes, all taken unless `take` says less), "close" and
 * "abort"; every l4Tx queues a setImmediate that logs "turn" (the runner's turn that would flush it).
 */
function recordingHost(take?: (bytes: number) => number) {
  const log: string[] = [];
  const received: Buffer[] = [];
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const engine = {
    l4Tx(_cb: unknown, _flow: Flow, data: Uint8Array): number {
      const n = take === undefined ? data.length : Math.min(data.length, take(data.length));
      log.push(`tx ${n}`);
      received.push(Buffer.from(data.subarray(0, n)));
      setImmediate(() => log.push("turn"));
      return n;
    },
    l4LocalClose(): void {
      log.push("close");
      closed();
    },
    l4Abort(): void {
      log.push("abort");
      closed();
    },
    l4PauseRx(): void {},
    l4ResumeRx(): void {},
  };
  const held = new NextIteration();
  const host: RelayHost = {
    engine: engine as unknown as L3L4<number>,
    cb: {} as Callbacks<number>,
    pool: new StagingPool(),
    counters: newCounters(),
    schedule() {},
    flushLater(relay) {
      relay.flush();
    },
    holdLater(relay) {
      held.add(relay);
    },
    failed(_relay, reason) {
      log.push(`failed ${reason}`);
      closed();
    },
  };
  return { host, log, received, done };
}

const native = sharedNativeSockets();
const DIALERS: [string, () => TcpDialer][] = [["node:net", () => new DirectTcp(5000)]];
if (native !== undefined) DIALERS.push(["native", () => new NativeDirectTcp(native, 5000, new DirectTcp(5000))]);

describe.each(DIALERS)("TcpRelay (%s): the first answer and the upstream's FIN", (_name, dialer) => {
  it("a short answer and the FIN right behind it reach the engine together (tx, close, then a turn)", async () => {
    const port = await serverOn((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      socket.destroy(); // close(2) right after the write: the FIN is queued behind the answer
    });
    const { host, log, received, done } = recordingHost();
    const relay = new TcpRelay(host, FLOW, { host: "127.0.0.1", port }, undefined, "direct", dialer());
    await done;
    await new Promise((resolve) => setImmediate(resolve));
    expect(Buffer.concat(received).toString()).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    // Without the hold: "tx 40", "turn", "close" (the answer flushed alone, the FIN in a segment of its own).
    expect(log.slice(0, 2)).toEqual(["tx 40", "close"]);
    relay.flowGone();
  });

  it("a longer stream goes through whole and in order, the held first read before the rest", async () => {
    const body = Buffer.alloc(3 * HOLD_MAX_BYTES);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 255;
    const port = await serverOn((socket) => {
      socket.write(body.subarray(0, 100)); // a short first read, held...
      setTimeout(() => socket.end(body.subarray(100)), 20); // ...then more before the FIN
    });
    const { host, log, received, done } = recordingHost();
    const relay = new TcpRelay(host, FLOW, { host: "127.0.0.1", port }, undefined, "direct", dialer());
    await done;
    expect(Buffer.concat(received).equals(body)).toBe(true);
    expect(log.at(-1) === "close" || log.at(-2) === "close").toBe(true);
    relay.flowGone();
  });

  it("what l4Tx does not take of the held answer waits, the reads behind it too, and all arrive in order", async () => {
    const body = Buffer.alloc(2 * HOLD_MAX_BYTES);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13) & 255;
    const port = await serverOn((socket) => {
      socket.write(body.subarray(0, 1000));
      setTimeout(() => socket.end(body.subarray(1000)), 20);
    });
    let first = true;
    // The engine takes 10 bytes of the first l4Tx only; later calls take everything.
    const { host, received, done } = recordingHost((n) => (first ? ((first = false), 10) : n));
    const relay = new TcpRelay(host, FLOW, { host: "127.0.0.1", port }, undefined, "direct", dialer());
    // l4TxReady, as the engine would fire it once its send buffer has room again.
    const ready = setInterval(() => relay.txReady(), 5);
    await done;
    clearInterval(ready);
    expect(Buffer.concat(received).equals(body)).toBe(true);
    relay.flowGone();
  });
});
