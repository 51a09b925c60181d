/**
 * FlowSocket between two engines joined on the real clock (joinEngines): what net.Socket users rely
 * on. Every wait is on an event; nothing sleeps.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import type { FlowSocket } from "../../lib/stream/flow-socket.js";
import {
  CLIENT4,
  CLIENT6,
  closed,
  eventually,
  nextConnection,
  nextError,
  once,
  readAll,
  SERVER4,
  SERVER6,
  useStreamPairs,
} from "../support/stream-pair.js";

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("FlowSocket", () => {
  const streamPair = useStreamPairs();

  it("connects: 'connection' on the server stack, 'connect' then 'ready' on the client, net.Socket's properties", async () => {
    const { a, b } = streamPair();
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 8080 });
    expect(client.connecting).toBe(true);
    expect(client.pending).toBe(true);
    expect(client.readyState).toBe("opening");
    const events: string[] = [];
    client.once("connect", () => events.push("connect"));
    await once(client, "ready");
    events.push("ready");
    expect(events).toEqual(["connect", "ready"]);
    const server = await accepted;

    expect(client.connecting).toBe(false);
    expect(client.readyState).toBe("open");
    expect(client.remoteAddress).toBe(SERVER4);
    expect(client.remotePort).toBe(8080);
    expect(client.remoteFamily).toBe("IPv4");
    expect(client.localAddress).toBe(CLIENT4);
    expect(client.localPort).toBeGreaterThanOrEqual(49152);
    expect(client.address()).toEqual({ address: CLIENT4, family: "IPv4", port: client.localPort });
    expect(server.remoteAddress).toBe(CLIENT4);
    expect(server.remotePort).toBe(client.localPort);
    expect(server.localAddress).toBe(SERVER4);
    expect(server.localPort).toBe(8080);
    expect(server.connecting).toBe(false);
    expect(b.engine.l4State(server.flow)).toBe("ESTABLISHED");
    expect(client.info()?.state).toBe("ESTABLISHED");
    expect(a.stats.tcpConnected).toBe(1);
    expect(b.stats.tcpAccepted).toBe(1);
  });

  it("carries bytes exactly both ways (IPv6), counting bytesRead and bytesWritten", async () => {
    const { a, b } = streamPair();
    const data = randomBytes(3_000_000);
    b.on("connection", (socket) => socket.pipe(socket)); // echo
    const client = a.connect({ host: SERVER6, port: 7 });
    const isClosed = closed(client);
    const echoed = readAll(client);
    client.end(data);
    const back = await echoed;
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    expect(client.bytesRead).toBe(data.length);
    expect(client.bytesWritten).toBe(data.length);
    expect(client.remoteFamily).toBe("IPv6");
    expect(client.localAddress).toBe(CLIENT6);
    await isClosed;
    expect(client.readyState).toBe("closed");
  });

  it("many connections at once keep their streams apart", async () => {
    const { a, b } = streamPair();
    b.on("connection", (socket) => socket.pipe(socket));
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const data = randomBytes(50_000 + i * 1000);
        const client = a.connect({ host: SERVER4, port: 1000 + i });
        const back = readAll(client);
        client.end(data);
        return sha256(await back) === sha256(data);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
  });

  it("write() returns false while the engine's send buffer is full, and 'drain' comes once the peer reads", async () => {
    const { a, b } = streamPair({ configure: (x) => x.tcpBufferSize(64 * 1024) });
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 9 });
    const server = await accepted;
    server.pause(); // the reader does not read
    let written = 0;
    let writes = 0;
    const chunk = Buffer.alloc(16 * 1024, 7);
    const drained = () => once(client, "drain");
    // The reader's engine paused delivery (its stream is full) and the window it offers closed below a
    // segment (RFC 9293 §3.8.6.2.1: no silly-window sends): nothing moves any more, no drain comes.
    // No event says so: it is checked once per event-loop turn.
    const stalled = () => b.stats.rxPauses > 0 && client.info()!.sndWnd < client.info()!.sndMss;
    // Write until write() says false; wait for 'drain' while the peer still takes data; repeat until stalled.
    for (let stop = false; !stop; ) {
      writes++;
      written += chunk.length;
      expect(writes).toBeLessThan(1000); // bounded: the peer stops taking, and write() must stay false
      if (client.write(chunk)) continue;
      expect(client.info()!.sendQueue).toBe(64 * 1024); // false because the engine's send buffer is full
      let drainedNow = false;
      drained().then(() => (drainedNow = true), () => {});
      for (let turn = 0; !drainedNow; turn++) {
        expect(turn).toBeLessThan(100_000);
        if (stalled()) {
          stop = true;
          break;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    expect(a.stats.txBlocked).toBeGreaterThan(0);
    expect(server.readableLength).toBeGreaterThanOrEqual(server.readableHighWaterMark);
    const drain = drained();
    let received = 0;
    server.on("data", (d: Buffer) => (received += d.length));
    const ended = once(server, "end");
    server.resume();
    await drain;
    expect(b.stats.rxResumes).toBeGreaterThan(0);
    client.end();
    await ended;
    expect(received).toBe(written);
  });

  it("half-close, client first (allowHalfOpen): the server still sends after the client's FIN, then both close", async () => {
    const { a, b } = streamPair({ a: { allowHalfOpen: true }, b: { allowHalfOpen: true } });
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    const server = await accepted;
    const bothClosed = Promise.all([closed(client), closed(server)]);
    const serverGot = readAll(server);
    client.end("request");
    expect(String(await serverGot)).toBe("request");
    expect(server.readyState).toBe("writeOnly");
    const clientGot = readAll(client);
    server.write("response, ");
    server.end("after the client's FIN");
    expect(String(await clientGot)).toBe("response, after the client's FIN");
    await bothClosed;
    await eventually(() => a.endpointCount === 0 && b.endpointCount === 0, "the flows gone from both stacks");
  });

  it("half-close, server first (allowHalfOpen): the client still sends after the server's FIN", async () => {
    const { a, b } = streamPair({ a: { allowHalfOpen: true }, b: { allowHalfOpen: true } });
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    const server = await accepted;
    const bothClosed = Promise.all([closed(client), closed(server)]);
    const clientGot = readAll(client);
    server.end("banner");
    expect(String(await clientGot)).toBe("banner");
    expect(client.readyState).toBe("writeOnly");
    const serverGot = readAll(server);
    client.end("after the server's FIN");
    expect(String(await serverGot)).toBe("after the server's FIN");
    await bothClosed;
  });

  it("without allowHalfOpen (the default), the peer's FIN ends our side too, as node:net does", async () => {
    const { a, b } = streamPair();
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    const server = await accepted;
    server.resume();
    client.resume();
    const serverFinished = once(server, "finish");
    const clientEnded = once(client, "end");
    const bothClosed = Promise.all([closed(client), closed(server)]);
    client.end();
    await serverFinished; // the server's side ended by itself
    await clientEnded;
    await bothClosed;
  });

  it("destroy() with received data unread sends RST (as close(2) does): the peer gets ECONNRESET", async () => {
    const { a, b, engineA } = streamPair();
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    const server = await accepted;
    server.write("unread");
    await once(client, "readable"); // arrived, and nobody reads it
    const resetsSent = engineA.stats().tcpResetsSent;
    const error = nextError(server);
    const isClosed = closed(server);
    client.destroy();
    const e = await error;
    expect(e.code).toBe("ECONNRESET");
    expect(e.syscall).toBe("read");
    expect(engineA.stats().tcpResetsSent).toBe(resetsSent + 1);
    await isClosed;
    expect(server.destroyed).toBe(true);
  });

  it("destroy() with nothing unread closes as close(2) does: what was written, then FIN; the peer reads it all", async () => {
    const { a, b, engineA } = streamPair({ b: { allowHalfOpen: true } });
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    const server = await accepted;
    const data = randomBytes(200_000);
    const got = readAll(server);
    client.write(data, () => client.destroy()); // taken by the engine, not yet sent
    expect(sha256(await got)).toBe(sha256(data));
    expect(engineA.stats().tcpResetsSent).toBe(0);
    // Data for the destroyed socket is answered with RST, as Linux answers it for a closed one.
    const error = nextError(server);
    server.write("too late");
    expect((await error).code).toBe("ECONNRESET");
    expect(a.stats.resetsAfterClose).toBe(1);
  });

  it("a socket destroyed in order whose peer never closes is aborted after orphanTimeoutMs", async () => {
    const { a, b } = streamPair({ a: { orphanTimeoutMs: 50 }, b: { allowHalfOpen: true } });
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    const server = await accepted;
    server.resume();
    const ended = once(server, "end");
    const error = nextError(server);
    client.destroy();
    await ended; // our FIN
    expect((await error).code).toBe("ECONNRESET"); // and the RST 50 ms later
    expect(a.stats.orphansAborted).toBe(1);
  });

  it("resetAndDestroy() sends RST whatever the state, even after end()", async () => {
    const { a, b } = streamPair({ b: { allowHalfOpen: true } });
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    const server = await accepted;
    client.end();
    await once(client, "finish");
    const error = nextError(server);
    server.resume();
    client.resetAndDestroy();
    expect((await error).code).toBe("ECONNRESET");
  });

  it("end() while connecting sends the FIN after the handshake and the data written before it", async () => {
    const { a, b } = streamPair();
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80 });
    client.end("early");
    const server = await accepted;
    expect(String(await readAll(server))).toBe("early");
  });

  it("setTimeout: 'timeout' after the given idle time, the socket stays open; 0 turns it off", async () => {
    const { a, b } = streamPair();
    const accepted = nextConnection(b);
    const client = a.connect({ host: SERVER4, port: 80, timeout: 30 });
    const server = await accepted;
    expect(client.timeout).toBe(30);
    await once(client, "timeout");
    expect(client.destroyed).toBe(false);
    server.write("still open");
    await once(client, "data");
    client.setTimeout(0);
    expect(client.timeout).toBeUndefined();
    client.destroy();
  });

  it("setNoDelay and setKeepAlive are accepted (the engine's settings apply) and return the socket", async () => {
    const { a } = streamPair();
    const client = a.connect({ host: SERVER4, port: 80 });
    expect(client.setNoDelay(true)).toBe(client);
    expect(client.setKeepAlive(true, 1000)).toBe(client);
    expect(client.ref()).toBe(client);
    expect(client.unref()).toBe(client);
    client.destroy();
  });

  it("a SYN nobody listens for is refused with RST: ECONNREFUSED, as net reports it", async () => {
    const { a, b } = streamPair();
    const client = a.connect({ host: SERVER4, port: 81 });
    const isClosed = closed(client);
    const e = await nextError(client);
    expect(e.code).toBe("ECONNREFUSED");
    expect(e.syscall).toBe("connect");
    expect(e.message).toBe(`connect ECONNREFUSED ${SERVER4}:81`);
    expect((e as NodeJS.ErrnoException & { address: string }).address).toBe(SERVER4);
    expect(b.stats.refused).toBe(1);
    await isClosed;
  });

  it("accept() chooses which flows to take", async () => {
    const { a, b } = streamPair({ b: { accept: (flow) => flow.dstPort === 443 } });
    b.on("connection", (socket) => socket.end("ok"));
    const refused = a.connect({ host: SERVER4, port: 80 });
    expect((await nextError(refused)).code).toBe("ECONNREFUSED");
    const taken = a.connect({ host: SERVER4, port: 443 });
    expect(String(await readAll(taken))).toBe("ok");
  });

  it("connect() refuses a host name, a missing local address and a family mismatch with InvalidArgumentError", () => {
    const { a } = streamPair({ a: { localAddresses: [CLIENT4] } });
    expect(() => a.connect({ host: "example.com", port: 80 })).toThrow(InvalidArgumentError);
    expect(() => a.connect({ host: SERVER6, port: 80 })).toThrow(/no localAddress for IPv6/);
    expect(() => a.connect({ host: SERVER4, port: 80, family: 6 })).toThrow(InvalidArgumentError);
    expect(() => a.connect({ host: SERVER4, port: 0 })).toThrow(InvalidArgumentError);
  });

  it("a local port in use is skipped for the next free one; an explicit one in use throws", async () => {
    const { a, b } = streamPair();
    b.on("connection", () => {});
    const first = a.connect({ host: SERVER4, port: 80, localPort: 50000 });
    expect(first.localPort).toBe(50000);
    expect(() => a.connect({ host: SERVER4, port: 80, localPort: 50000 })).toThrow(/exists/);
    const sockets: FlowSocket[] = [first];
    for (let i = 0; i < 5; i++) sockets.push(a.connect({ host: SERVER4, port: 80 }));
    expect(new Set(sockets.map((s) => s.localPort)).size).toBe(6);
    for (const s of sockets) s.destroy();
  });

  it("every flow is gone from both engines once both sockets closed", async () => {
    const { a, b, engineA, engineB } = streamPair();
    b.on("connection", (socket) => socket.pipe(socket));
    const client = a.connect({ host: SERVER4, port: 80 });
    const isClosed = closed(client);
    client.end("bye");
    await readAll(client);
    await isClosed;
    // The server's side is in LAST-ACK until our ACK of its FIN arrives; TIME-WAIT is not a flow.
    await eventually(() => engineA.flowCount === 0 && engineB.flowCount === 0, "both engines without flows");
    expect(a.endpointCount).toBe(0);
    expect(b.endpointCount).toBe(0);
  });
});
