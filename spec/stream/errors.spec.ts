/**
 * How a flow ends, as FlowSocket reports it, against a scripted peer (spec/support/tcp-harness.ts)
 * on a virtual clock: each Node error code from the segment or ICMP error that causes it, RST on the
 * wire for destroy(), and 'connection' only once a handshake completed.
 */
import { describe, expect, it } from "vitest";
import type { FlowSocket } from "../../lib/stream/flow-socket.js";
import { NetStack, type NetStackOptions } from "../../lib/stream/net-stack.js";
import { icmp } from "../support/packets.js";
import { TcpHarness, type HarnessOptions } from "../support/tcp-harness.js";
import { closed, nextError, once } from "../support/stream-pair.js";

/** A NetStack on the harness's engine, driven by the harness: it polls at each step of the script, and when the stack asks. */
function stackOn(h: TcpHarness, options: NetStackOptions = {}): NetStack<Uint8Array> {
  const stack = new NetStack(h.engine, options);
  stack.attach({ engine: h.engine, callbacks: h.callbacks, schedule: () => h.poll() });
  h.forward = stack;
  return stack;
}

/** connect() from the harness's local address and port to its peer; the SYN is left to expect. */
function dial(h: TcpHarness, stack: NetStack<Uint8Array>): FlowSocket {
  const socket = stack.connect({ host: h.peerIp, port: h.defaultPort, localAddress: h.localIp, localPort: h.localPort });
  h.conn().flow = socket.flow;
  h.poll();
  return socket;
}

async function established(h: TcpHarness, stack: NetStack<Uint8Array>): Promise<FlowSocket> {
  const socket = dial(h, stack);
  const connected = once(socket, "connect");
  h.out({ flags: "S" });
  h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
  h.out({ flags: ".", ack: 1 });
  await connected;
  return socket;
}

/** Tell the harness's model what the socket will write (it checks every byte the engine sends). */
function willWrite(h: TcpHarness, text: string): string {
  const c = h.conn();
  const bytes = new TextEncoder().encode(text);
  c.appStream.write(c.appWritten, bytes);
  c.appWritten += bytes.length;
  return text;
}

function harness(options: HarnessOptions = {}): TcpHarness {
  return new TcpHarness(options);
}

describe("FlowSocket errors from a scripted peer", () => {
  it("RST answering our SYN: ECONNREFUSED from connect, with the address", async () => {
    const h = harness();
    const stack = stackOn(h);
    const socket = dial(h, stack);
    h.out({ flags: "S" });
    const error = nextError(socket);
    h.in({ flags: "R.", seq: 0, ack: 1 });
    const e = await error;
    expect(e).toMatchObject({ code: "ECONNREFUSED", syscall: "connect", address: h.peerIp, port: h.defaultPort, errno: -111 });
    expect(e.message).toBe(`connect ECONNREFUSED ${h.peerIp}:${h.defaultPort}`);
    expect(socket.destroyed).toBe(true);
    expect(stack.endpointCount).toBe(0);
  });

  it("RST on an established connection: ECONNRESET from read", async () => {
    const h = harness({ family: 6 });
    const stack = stackOn(h);
    const socket = await established(h, stack);
    const error = nextError(socket);
    h.in({ flags: "R", seq: 1 });
    expect(await error).toMatchObject({ code: "ECONNRESET", syscall: "read", errno: -104 });
  });

  it("SYN retransmissions run out: ETIMEDOUT from connect", async () => {
    const h = harness({ strict: false });
    const stack = stackOn(h);
    const socket = dial(h, stack);
    const error = nextError(socket);
    h.at(10 * 60_000);
    expect(h.sent.filter((p) => p.flags === 0x02).length).toBeGreaterThan(1); // the SYN went again
    expect(await error).toMatchObject({ code: "ETIMEDOUT", syscall: "connect", address: h.peerIp });
  });

  it("retransmissions of data run out on an established connection: ETIMEDOUT from read", async () => {
    const h = harness({ strict: false });
    const stack = stackOn(h);
    const socket = await established(h, stack);
    const error = nextError(socket);
    socket.write(willWrite(h, "never acknowledged"));
    h.at(2 * 3600_000);
    expect(h.engine.stats().tcpRetransmits).toBeGreaterThan(5);
    expect(await error).toMatchObject({ code: "ETIMEDOUT", syscall: "read", errno: -110 });
  });

  it.each([
    [1, "EHOSTUNREACH", -113],
    [0, "ENETUNREACH", -101],
  ] as const)("ICMP destination unreachable code %i to our SYN: %s from connect", async (code, name, errno) => {
    const h = harness();
    const stack = stackOn(h);
    const socket = dial(h, stack);
    const syn = h.out({ flags: "S" });
    const error = nextError(socket);
    // From a router on the way, quoting the SYN's IP header and TCP header (RFC 792, RFC 1812 §4.3.2.3).
    h.inRaw(icmp({ src: "203.0.113.1", dst: h.localIp, type: 3, code, data: syn.bytes.subarray(0, 40) }));
    expect(await error).toMatchObject({ code: name, syscall: "connect", errno, address: h.peerIp });
  });

  it("resetAndDestroy() puts a RST on the wire and the flow is gone", async () => {
    const h = harness();
    const stack = stackOn(h);
    const socket = await established(h, stack);
    const isClosed = closed(socket);
    socket.resetAndDestroy();
    h.out({ flags: "R", seq: 1 });
    await isClosed;
    expect(h.flowCount).toBe(0);
    expect(stack.endpointCount).toBe(0);
  });

  it("destroy() with data unread puts a RST on the wire", async () => {
    const h = harness();
    const stack = stackOn(h);
    const socket = await established(h, stack);
    const readable = once(socket, "readable");
    h.in({ flags: "P.", seq: 1, ack: 1, data: 100 });
    await readable;
    h.drain(); // the ACK
    socket.destroy();
    h.out({ flags: "R", seq: 1 });
    expect(h.flowCount).toBe(0);
  });

  it("destroy() with nothing unread sends FIN, and the engine finishes the close", async () => {
    const h = harness();
    const stack = stackOn(h);
    const socket = await established(h, stack);
    socket.on("error", (e) => expect.fail(String(e)));
    const isClosed = closed(socket);
    socket.destroy();
    await isClosed;
    h.out({ flags: "F.", seq: 1 });
    expect(stack.endpointCount).toBe(1); // the flow is still closing
    h.in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: ".", ack: 2 });
    await new Promise((resolve) => process.nextTick(resolve));
    expect(stack.endpointCount).toBe(0);
    expect(stack.stats.orphans).toBe(1);
  });

  it("end() sends FIN after the data; the peer's FIN ends the socket without error", async () => {
    const h = harness();
    const stack = stackOn(h);
    const socket = await established(h, stack);
    const isClosed = closed(socket);
    socket.on("error", (e) => expect.fail(String(e)));
    socket.resume();
    socket.end(willWrite(h, "last words"));
    await once(socket, "finish");
    h.out({ flags: "P.", seq: 1, data: "last words" });
    h.out({ flags: "F.", seq: 11 });
    h.in({ flags: "F.", seq: 1, ack: 12 });
    h.out({ flags: ".", ack: 2 });
    await isClosed;
  });
});

describe("NetStack announces a passive connection when its handshake completes", () => {
  it("no 'connection' for a SYN alone; one at the handshake's ACK, with no data needed", async () => {
    const h = harness();
    const stack = stackOn(h);
    const connections: FlowSocket[] = [];
    stack.on("connection", (socket) => connections.push(socket));
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", ack: 1 });
    await new Promise((resolve) => process.nextTick(resolve));
    expect(connections).toHaveLength(0);
    expect(stack.endpointCount).toBe(0);
    const next = once<FlowSocket>(stack, "connection");
    h.in({ flags: ".", seq: 1, ack: 1 });
    const socket = await next;
    expect(socket.remoteAddress).toBe(h.peerIp);
    expect(socket.localPort).toBe(h.localPort);
    // A server-first protocol: the server speaks before the client has sent anything.
    socket.write(willWrite(h, "220 ready\r\n"));
    h.out({ flags: "P.", seq: 1, data: "220 ready\r\n" });
  });

  it("a handshake that never completes is never announced and leaves nothing behind", async () => {
    const h = harness({ strict: false });
    const stack = stackOn(h);
    stack.on("connection", () => expect.fail("announced a half-open connection"));
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.at(10 * 60_000);
    expect(h.flowCount).toBe(0);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(stack.endpointCount).toBe(0);
    expect(stack.stats.tcpAccepted).toBe(0);
  });

  it("data riding on the handshake's ACK: 'connection' first, then the data", async () => {
    const h = harness();
    const stack = stackOn(h);
    const next = once<FlowSocket>(stack, "connection");
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", ack: 1 });
    h.in({ flags: "P.", seq: 1, ack: 1, data: "GET / HTTP/1.0\r\n\r\n" });
    const socket = await next;
    const data = await once<Buffer>(socket, "data");
    expect(String(data)).toBe("GET / HTTP/1.0\r\n\r\n");
  });
});
