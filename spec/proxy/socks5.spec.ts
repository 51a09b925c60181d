/**
 * Socks5Tcp against a tiny SOCKS5 server of the spec's own on 127.0.0.1 (RFC 1928: no authentication,
 * CONNECT): how the socket changes hands after the handshake. The library (SocksClient) reads the
 * replies from 'data' events that our onread callback re-emits; after 'established' every read goes
 * to the sink's shared buffer, what the library read past its reply arrives once as `head` before any
 * of them, and nothing of the library stays on the socket.
 */
import { createServer, Socket, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { Socks5Tcp, Socks5Udp } from "../../lib/proxy/socks5.js";
import { sharedNativeUdp } from "../../lib/tun/udp-socket.js";
import { upstreamSocket, type BorrowedReads, type ProxyServerAddress, type TcpSink, type UdpSink } from "../../lib/proxy/upstream.js";

/** VER 5, REP, RSV, ATYP 1, BND.ADDR 0.0.0.0, BND.PORT 0 (§6). */
function reply(rep: number): Buffer {
  return Buffer.from([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]);
}

/** The events a socket's own machinery listens to, as upstreamSocket() makes it. */
const EVENTS = ["data", "end", "close", "error", "connect", "readable", "drain", "timeout", "lookup", "ready"] as const;
function listenerCounts(socket: Socket): Record<string, number> {
  return Object.fromEntries(EVENTS.map((e) => [e, socket.listenerCount(e)]));
}

/**
 * The server's side of one client: `script` gets the greeting and the CONNECT request as they
 * complete, and answers them; what the client sends after the handshake goes to `afterwards`.
 */
interface Script {
  greeting(socket: Socket): void;
  request(socket: Socket, bytes: Buffer): void;
  afterwards?(socket: Socket, bytes: Buffer): void;
}

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function fakeSocks(script: Script, timeoutMs = 5000): Promise<ProxyServerAddress> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.setNoDelay(true);
    let got = Buffer.alloc(0);
    let stage: "greeting" | "request" | "open" = "greeting";
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      // Greeting: VER NMETHODS METHODS (§3).
      if (stage === "greeting" && got.length >= 2 && got.length >= 2 + got[1]!) {
        expect([...got.subarray(2, 2 + got[1]!)]).toContain(0); // "NO AUTHENTICATION REQUIRED" offered
        got = got.subarray(2 + got[1]!);
        stage = "request";
        script.greeting(socket);
      }
      // Request: VER CMD RSV ATYP(1) DST.ADDR(4) DST.PORT(2) (§4).
      if (stage === "request" && got.length >= 10) {
        const request = got.subarray(0, 10);
        got = got.subarray(10);
        stage = "open";
        script.request(socket, request);
      }
      if (stage === "open" && got.length > 0) {
        const bytes = got;
        got = Buffer.alloc(0);
        script.afterwards?.(socket, bytes);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { host: "127.0.0.1", port, username: undefined, password: undefined, name: `socks5://127.0.0.1:${port}`, timeoutMs };
}

/**
 * A sink as the relay is one: reads into a shared buffer (onread), adopts the socket first. It
 * records the order of what arrives: `head`, then each read. On connection it says "go" upstream,
 * which `afterwards` answers.
 */
class RecordingSink implements TcpSink {
  readonly arrivals: string[] = [];
  socket: Socket | undefined;
  adopted: Socket | undefined;
  countsAtConnect: Record<string, number> | undefined;
  /** 'data' events seen after the handover (none: reads go to `reads`). */
  dataEventsAfter = 0;
  reason: string | undefined;
  /** The socket's 'end' (the server's FIN) after the handover. */
  endSeen = false;
  private readonly ended: Promise<void>;
  private end!: () => void;
  readonly reads: BorrowedReads;

  constructor(private readonly expectBytes: number) {
    this.ended = new Promise((resolve) => (this.end = resolve));
    const sink = this;
    this.reads = {
      buffer: Buffer.alloc(64 * 1024),
      callback(this: Socket, bytes: number, buffer: Uint8Array): boolean {
        expect(this).toBe(sink.socket); // only after the handover, with `this` the socket
        sink.arrive(`read:${Buffer.from(buffer.subarray(0, bytes)).toString("latin1")}`);
        return true;
      },
    };
  }

  adopt(socket: Socket): void {
    this.adopted = socket;
  }

  upstreamConnected(socket: Socket, head: Buffer | undefined): void {
    this.countsAtConnect = listenerCounts(socket);
    this.socket = socket;
    sockets.push(socket);
    socket.on("data", () => this.dataEventsAfter++);
    socket.on("end", () => (this.endSeen = true));
    socket.on("error", () => {});
    if (head !== undefined) this.arrive(`head:${head.toString("latin1")}`);
    socket.write("go");
  }

  upstreamFailed(reason: string): void {
    this.reason = reason;
    this.end();
  }

  private arrive(what: string): void {
    this.arrivals.push(what);
    const total = this.arrivals.reduce((n, a) => n + a.length - a.indexOf(":") - 1, 0);
    if (total >= this.expectBytes) this.end();
  }

  done(): Promise<void> {
    return this.ended;
  }

  /** Everything after the handshake, in arrival order. */
  get stream(): string {
    return this.arrivals.map((a) => a.slice(a.indexOf(":") + 1)).join("");
  }
}

const target = { host: "10.1.2.3", port: 8080 };

/** The listener counts of a socket as upstreamSocket() makes it, connected, before anyone listens. */
async function baselineCounts(server: ProxyServerAddress): Promise<Record<string, number>> {
  const socket = upstreamSocket();
  sockets.push(socket);
  socket.connect({ host: server.host, port: server.port });
  return listenerCounts(socket);
}

describe("Socks5Tcp: the socket after the handshake", () => {
  it("delivers bytes sent in the same TCP write as the CONNECT reply first, as head, then reads into the shared buffer", async () => {
    const server = await fakeSocks({
      greeting: (s) => s.write(Buffer.from([5, 0])),
      request(s, request) {
        expect([...request.subarray(0, 4)]).toEqual([5, 1, 0, 1]); // CONNECT, IPv4
        expect([...request.subarray(4, 8)]).toEqual([10, 1, 2, 3]);
        expect(request.readUInt16BE(8)).toBe(8080);
        // The reply and the destination's first bytes in ONE write.
        s.write(Buffer.concat([reply(0), Buffer.from("first-bytes|")]));
      },
      afterwards(s, bytes) {
        expect(bytes.toString()).toBe("go");
        s.write("after-go");
      },
    });
    const sink = new RecordingSink("first-bytes|after-go".length);
    new Socks5Tcp(server).dial(target, sink);
    await sink.done();
    expect(sink.reason).toBeUndefined();
    expect(sink.adopted).toBe(sink.socket);
    expect(sink.arrivals).toEqual(["head:first-bytes|", "read:after-go"]);
    expect(sink.dataEventsAfter).toBe(0);
    // Nothing of the library (nor of the handshake) is left listening on the socket.
    expect(sink.countsAtConnect).toEqual(await baselineCounts(server));
  });

  it("takes a reply split across reads, and gives no head when nothing came after it", async () => {
    let client: Socket | undefined;
    const pieces = [reply(0).subarray(0, 1), reply(0).subarray(1, 4), reply(0).subarray(4, 9), reply(0).subarray(9)];
    const server = await fakeSocks({
      greeting: (s) => s.write(Buffer.from([5, 0])),
      request(s) {
        // One piece now, each next one once the client has read the one before ('data' below).
        s.write(pieces.shift()!);
      },
      afterwards(s) {
        s.write("0123456789");
      },
    });
    const sink = new RecordingSink(10);
    const originalAdopt = sink.adopt.bind(sink);
    let reads = 0;
    sink.adopt = (socket) => {
      originalAdopt(socket);
      client = socket;
      // The handshake's reads, re-emitted for the library: answer each with the next piece.
      socket.on("data", onHandshakeRead);
    };
    const serverSide = (): Socket => sockets[0]!;
    function onHandshakeRead(): void {
      reads++;
      if (reads >= 2 && pieces.length > 0) serverSide().write(pieces.shift()!);
    }
    const connected = sink.upstreamConnected.bind(sink);
    sink.upstreamConnected = (socket, head) => {
      socket.off("data", onHandshakeRead);
      connected(socket, head);
    };
    new Socks5Tcp(server).dial(target, sink);
    await sink.done();
    expect(sink.reason).toBeUndefined();
    expect(client).toBe(sink.socket);
    expect(reads).toBe(1 + 4); // the method reply, then the four pieces of the CONNECT reply
    expect(sink.arrivals).toEqual(["read:0123456789"]);
    expect(sink.stream).toBe("0123456789");
    expect(sink.countsAtConnect).toEqual(await baselineCounts(server));
  });

  it("fails the flow with the reply's reason, and the socket is destroyed", async () => {
    const server = await fakeSocks({
      greeting: (s) => s.write(Buffer.from([5, 0])),
      request: (s) => s.write(reply(5)), // X'05' Connection refused (§6)
    });
    const sink = new RecordingSink(1);
    new Socks5Tcp(server).dial(target, sink);
    await sink.done();
    expect(sink.reason).toBe(`${server.name}: the proxy refused: connection refused`);
    expect(sink.socket).toBeUndefined();
    expect(sink.adopted?.destroyed).toBe(true);
  });
});

describe("Socks5Tcp: the server's FIN", () => {
  // A handshake timeout longer than the spec's own (60 s, spec/vitest.config.ts): a flow that waited
  // for it would fail the spec by timing out.
  const NEVER_MS = 600_000;

  it.each([
    ["before the method reply", (s: Socket) => s.end()],
    ["after the method reply, before the CONNECT reply", (s: Socket) => s.write(Buffer.from([5, 0]), () => s.end())],
  ] as const)("%s fails the flow at once (not after the handshake timeout), and the socket is destroyed", async (_when, onGreeting) => {
    const server = await fakeSocks({ greeting: onGreeting, request: () => {} }, NEVER_MS);
    const sink = new RecordingSink(1);
    new Socks5Tcp(server).dial(target, sink);
    await sink.done();
    expect(sink.reason).toBe(`${server.name}: the proxy closed the connection during the handshake`);
    expect(sink.socket).toBeUndefined();
    expect(sink.adopted?.destroyed).toBe(true);
  });

  it("right behind the CONNECT reply and the first bytes (one write): the sink gets them, then the end", async () => {
    const server = await fakeSocks({
      greeting: (s) => s.write(Buffer.from([5, 0])),
      request: (s) => s.end(Buffer.concat([reply(0), Buffer.from("all-of-it")])),
    });
    const sink = new RecordingSink("all-of-it".length);
    new Socks5Tcp(server).dial(target, sink);
    await sink.done();
    expect(sink.reason).toBeUndefined();
    expect(sink.stream).toBe("all-of-it");
    await new Promise<void>((resolve) => (sink.endSeen ? resolve() : sink.socket!.once("end", () => resolve())));
    expect(sink.endSeen).toBe(true);
  });
});

describe("Socks5Tcp: the library's handshake timer", () => {
  it("keeps nothing of a finished connection (socket, sink) alive until it fires", async (ctx) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) return ctx.skip(); // spec/vitest.config.ts runs node with --expose-gc
    // SocksClient's timer (never cleared) lives for timeoutMs: an hour here.
    const server = await fakeSocks({ greeting: (s) => s.write(Buffer.from([5, 0])), request: (s) => s.write(Buffer.concat([reply(0), Buffer.from("x")])) }, 3_600_000);
    const refs = await (async () => {
      const sink = new RecordingSink(1);
      new Socks5Tcp(server).dial(target, sink);
      await sink.done();
      const socket = sink.socket!;
      sockets.splice(sockets.indexOf(socket), 1);
      await new Promise((resolve) => socket.destroy().once("close", resolve));
      return { socket: new WeakRef(socket), sink: new WeakRef(sink) };
    })();
    for (let i = 0; i < 3 && (refs.socket.deref() !== undefined || refs.sink.deref() !== undefined); i++) {
      await new Promise((resolve) => setImmediate(resolve)); // a WeakRef's target lives to the end of the job that made it
      gc();
    }
    expect(refs.socket.deref()).toBeUndefined();
    expect(refs.sink.deref()).toBeUndefined();
  });
});

/** The server's UDP relay (§7): answers each datagram with its data reversed, under the same header. */
async function udpRelay(): Promise<{ socket: UdpSocket; port: number }> {
  const socket = createSocket("udp4");
  socket.on("message", (message, from) => {
    const header = message.subarray(0, 10); // RSV RSV FRAG ATYP(1) DST.ADDR(4) DST.PORT(2)
    socket.send(Buffer.concat([header, Buffer.from(message.subarray(10)).reverse()]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { socket, port: socket.address().port };
}

class RecordingUdpSink implements UdpSink {
  readonly datagrams: string[] = [];
  reason: string | undefined;
  readonly ready: Promise<void>;
  readonly failed: Promise<void>;
  private onReady!: () => void;
  private onFailed!: () => void;
  private onDatagram: (() => void) | undefined;
  constructor() {
    this.ready = new Promise((resolve) => (this.onReady = resolve));
    this.failed = new Promise((resolve) => (this.onFailed = resolve));
  }
  upstreamReady(): void {
    this.onReady();
  }
  upstreamDatagram(data: Uint8Array): void {
    this.datagrams.push(Buffer.from(data).toString());
    this.onDatagram?.();
  }
  upstreamFailed(reason: string): void {
    this.reason = reason;
    this.onFailed();
  }
  nextDatagram(): Promise<void> {
    return new Promise((resolve) => (this.onDatagram = resolve));
  }
}

/** The relay's socket: the addon's (recvmmsg, the batch) where it is built, and node:dgram's. */
const UDP_SOCKETS = [
  ...(sharedNativeUdp() !== undefined ? [["the addon's socket", undefined] as const] : []),
  ["node:dgram", null] as const,
];

/** A fake SOCKS5 server that answers UDP ASSOCIATE with the relay at 127.0.0.1:`relayPort`. */
function associateServer(relayPort: number, onControl?: (s: Socket) => void, timeoutMs = 5000): Promise<ProxyServerAddress> {
  return fakeSocks(
    {
      greeting: (s) => s.write(Buffer.from([5, 0])),
      request(s, request) {
        expect([...request.subarray(0, 4)]).toEqual([5, 3, 0, 1]); // UDP ASSOCIATE, IPv4 (0.0.0.0:0)
        onControl?.(s);
        const bound = Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]);
        bound.writeUInt16BE(relayPort, 8);
        s.write(bound);
      },
    },
    timeoutMs,
  );
}

describe.each(UDP_SOCKETS)("Socks5Udp over %s", (_name, native) => {
  it("datagrams of one turn go to the relay each with its request header (§7), and come back past theirs, in order", async () => {
    const relay = await udpRelay();
    const headers: string[] = [];
    relay.socket.prependListener("message", (m) => headers.push([...m.subarray(0, 10)].join(",")));
    const server = await associateServer(relay.port);
    const sink = new RecordingUdpSink();
    const channel = new Socks5Udp(server, native).open({ host: "10.1.2.3", port: 53 }, 4, sink);
    try {
      await sink.ready;
      const batch = sharedNativeUdp()?.batch;
      const sentBefore = batch?.sent ?? 0;
      const all = new Promise<void>((resolve) => {
        const check = setInterval(() => sink.datagrams.length === 100 && (clearInterval(check), resolve()), 5);
      });
      for (let i = 0; i < 100; i++) expect(channel.send(Buffer.from(`d${i}`))).toBe(true);
      await all;
      expect(sink.datagrams).toEqual(Array.from({ length: 100 }, (_, i) => [...`d${i}`].reverse().join("")));
      // RSV RSV FRAG ATYP=1 DST.ADDR 10.1.2.3 DST.PORT 53.
      expect(new Set(headers)).toEqual(new Set(["0,0,0,1,10,1,2,3,0,53"]));
      if (native === undefined) expect(batch!.sent - sentBefore).toBe(100); // the batch carried them
    } finally {
      channel.close();
      relay.socket.close();
    }
  });

  it("a datagram from the relay with a bad header (FRAG set) is dropped, the next delivered", async () => {
    const relay = await udpRelay();
    const server = await associateServer(relay.port);
    const sink = new RecordingUdpSink();
    const channel = new Socks5Udp(server, native).open({ host: "10.1.2.3", port: 53 }, 4, sink);
    try {
      await sink.ready;
      let client: { port: number; address: string } | undefined;
      relay.socket.prependOnceListener("message", (_m, from) => (client = from));
      const first = sink.nextDatagram();
      channel.send(Buffer.from("ab"));
      await first;
      const next = sink.nextDatagram();
      const bad = Buffer.from([0, 0, 1, 1, 10, 1, 2, 3, 0, 53, 120]); // FRAG 1: we do not reassemble (§7)
      const good = Buffer.from([0, 0, 0, 1, 10, 1, 2, 3, 0, 53, 121]);
      relay.socket.send(bad, client!.port, client!.address);
      relay.socket.send(good, client!.port, client!.address);
      await next;
      expect(sink.datagrams).toEqual(["ba", "y"]);
    } finally {
      channel.close();
      relay.socket.close();
    }
  });

  it("the server's FIN on the control connection ends the association: the sink is told, and sends are refused", async () => {
    const relay = await udpRelay();
    let control: Socket | undefined;
    const server = await fakeSocks(
      {
        greeting: (s) => s.write(Buffer.from([5, 0])),
        request(s, request) {
          expect([...request.subarray(0, 4)]).toEqual([5, 3, 0, 1]); // UDP ASSOCIATE, IPv4 (0.0.0.0:0)
          control = s;
          const bound = Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]);
          bound.writeUInt16BE(relay.port, 8);
          s.write(bound);
        },
      },
      600_000, // longer than the spec's own timeout: nothing here may wait for it
    );
    const sink = new RecordingUdpSink();
    const channel = new Socks5Udp(server, native).open({ host: "10.1.2.3", port: 53 }, 4, sink);
    try {
      await sink.ready;
      const echoed = sink.nextDatagram();
      expect(channel.send(Buffer.from("ping"))).toBe(true);
      await echoed;
      expect(sink.datagrams).toEqual(["gnip"]);
      // Half-close only: the server's side stays open, so nothing but the FIN says the association is over.
      control!.end();
      await sink.failed;
      expect(sink.reason).toBe(`${server.name}: the proxy closed the UDP association`);
      expect(channel.send(Buffer.from("late"))).toBe(false);
    } finally {
      channel.close();
      relay.socket.close();
    }
  });
});
