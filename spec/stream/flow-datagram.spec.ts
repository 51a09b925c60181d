/**
 * FlowDatagram: UDP flows as connected dgram-like sockets, between two engines on the real clock.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, UnknownFlowError } from "../../lib/errors.js";
import type { FlowDatagram, RemoteInfo } from "../../lib/stream/flow-datagram.js";
import type { NetStack } from "../../lib/stream/net-stack.js";
import { CLIENT4, CLIENT6, closed, eventually, SERVER4, SERVER6, useStreamPairs } from "../support/stream-pair.js";

interface Message {
  data: string;
  rinfo: RemoteInfo;
}

/** Messages of `datagram`, and a wait for the nth. */
function collect(datagram: FlowDatagram): { messages: Message[]; count(n: number): Promise<void> } {
  const messages: Message[] = [];
  const waiters: Array<[number, () => void]> = [];
  datagram.on("message", (data: Buffer, rinfo: RemoteInfo) => {
    messages.push({ data: String(data), rinfo });
    for (const [n, resolve] of waiters) if (messages.length >= n) resolve();
  });
  return {
    messages,
    count: (n) => (messages.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push([n, resolve]))),
  };
}

/** Echo every datagram on `stack`, prefixed; resolves with the first server-side datagram. */
function echoServer(stack: NetStack): Promise<FlowDatagram> {
  return new Promise((resolve) => {
    stack.on("udp", (datagram) => {
      // Listeners go on in the 'udp' handler: the flow's first datagram follows at once.
      datagram.on("message", (data: Buffer) => datagram.send(`echo ${String(data)}`));
      resolve(datagram);
    });
  });
}

describe("FlowDatagram", () => {
  const streamPair = useStreamPairs();

  it("the first datagram raises 'udp' on the server stack; messages both ways carry the peer's address", async () => {
    const { a, b } = streamPair();
    const serverSide = echoServer(b);
    const client = a.udp({ host: SERVER4, port: 53 });
    expect(client.address()).toMatchObject({ address: CLIENT4, family: "IPv4" });
    expect(client.remoteAddress()).toEqual({ address: SERVER4, family: "IPv4", port: 53 });
    const got = collect(client);
    expect(client.send("ping")).toBe(true);
    await got.count(1);
    expect(got.messages[0]).toEqual({ data: "echo ping", rinfo: { address: SERVER4, family: "IPv4", port: 53, size: 9 } });
    const server = await serverSide;
    expect(server.remoteAddress()).toEqual({ address: CLIENT4, family: "IPv4", port: client.address().port });
    expect(server.address()).toEqual({ address: SERVER4, family: "IPv4", port: 53 });
    expect(b.stats.udpAccepted).toBe(1);
    expect(a.stats.udpOpened).toBe(1);
  });

  it("keeps datagram boundaries and order (IPv6, 200 datagrams, up to 8000 bytes: fragmented)", async () => {
    const { a, b } = streamPair();
    void echoServer(b);
    const client = a.udp({ host: SERVER6, port: 5353 });
    expect(client.address().address).toBe(CLIENT6);
    const got = collect(client);
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      const text = `${i}:`.padEnd(1 + ((i * 397) % 8000), "x");
      sent.push(text);
      client.send(text);
    }
    await got.count(200);
    expect(got.messages.map((m) => m.data)).toEqual(sent.map((t) => `echo ${t}`));
  });

  it("a datagram nobody listens for is refused: the server's engine answers ICMP port unreachable", async () => {
    const { a, b, engineA, engineB } = streamPair();
    const client = a.udp({ host: SERVER4, port: 9999 });
    client.send("anyone?");
    await eventually(() => engineA.stats().icmpErrorsReceived === 1, "the ICMP error at the client's engine");
    expect(b.stats.refused).toBe(1);
    expect(engineB.stats().icmpErrorsSent).toBe(1);
    // The engine tells UDP flows nothing of ICMP errors (engine.ts icmpError), so the datagram stays open.
    expect(client.closed).toBe(false);
    client.close();
  });

  it("close() ends the flow: 'close', and send() after it throws", async () => {
    const { a, b } = streamPair();
    void echoServer(b);
    const client = a.udp({ host: SERVER4, port: 53 });
    const isClosed = closed(client);
    client.close();
    await isClosed;
    expect(a.endpointCount).toBe(0);
    expect(() => client.send("late")).toThrow(UnknownFlowError);
    expect(() => a.udp({ host: SERVER4, port: 53 }).send(new Uint8Array(70_000))).toThrow(InvalidArgumentError);
  });

  it("the engine's UDP idle timeout closes both ends without an error", async () => {
    const { a, b } = streamPair({ configure: (x) => x.udpIdleTimeout(0.05) });
    const serverSide = echoServer(b);
    const client = a.udp({ host: SERVER4, port: 53 });
    client.on("error", (e) => expect.fail(String(e)));
    const clientClosed = closed(client);
    client.send("hello");
    const server = await serverSide;
    server.on("error", (e) => expect.fail(String(e)));
    await Promise.all([clientClosed, closed(server)]);
  });

  it("pause() holds messages and resume() delivers them, in order", async () => {
    const { a, b } = streamPair();
    const serverSide = echoServer(b);
    const client = a.udp({ host: SERVER4, port: 53 });
    client.send("first");
    await serverSide;
    const got = collect(client);
    await got.count(1);
    client.pause();
    expect(client.isPaused).toBe(true);
    for (let i = 0; i < 5; i++) client.send(`held ${i}`);
    // The echoes arrive while paused: the engine counts them in, and holds them.
    await eventually(() => a.engine.l4Info(client.flow)!.segmentsIn === 6, "the 5 echoes at the client's engine");
    expect(got.messages).toHaveLength(1);
    client.resume();
    await got.count(6);
    expect(got.messages.slice(1).map((m) => m.data)).toEqual([0, 1, 2, 3, 4].map((i) => `echo held ${i}`));
  });
});
