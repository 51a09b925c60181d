/**
 * EchoApp (lib/cli/echo.ts) without a TUN device: the echo engine on one side of an
 * in-memory link (lib/debug/link.ts, virtual clock), a client engine on the other. A small send
 * buffer on the echo side and a client that stops reading for a while force the backpressure path
 * (partial l4Tx, l4PauseRx, l4TxReady, l4ResumeRx); the client's FIN while data still waits
 * exercises the half-close.
 */
import { describe, expect, it } from "vitest";
import type { Callbacks, Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { MemoryLink } from "../../lib/debug/link.js";
import { Random } from "../../lib/debug/random.js";
import type { L3L4 } from "../../lib/engine.js";
import { EchoApp } from "../../lib/cli/echo.js";

interface Client {
  flow: Flow;
  received: Uint8Array[];
  receivedBytes: number;
  remoteClosed: boolean;
  gone: boolean;
}

function setup(faults?: string) {
  const link = new MemoryLink({ seed: 7, ...(faults === undefined ? {} : { faults }) });
  const echoEngine = new L3L4Builder<number>().clock(link.clock.now).tcpBufferSize(16 * 1024).build();
  const clientEngine = new L3L4Builder<number>().clock(link.clock.now).build();
  let echoCb: Callbacks<number> | undefined;
  const echo = new EchoApp(echoEngine, () => echoCb!);
  echoCb = link.attach("b", echoEngine, echo);
  const clients = new Map<Flow, Client>();
  let onTxReady: ((flow: Flow) => void) | undefined;
  const clientCb = link.attach("a", clientEngine, {
    l4Rx(flow, data) {
      const client = clients.get(flow);
      if (client === undefined) return;
      if (data === null) client.gone = true;
      else {
        client.received.push(data.slice());
        client.receivedBytes += data.length;
      }
    },
    l4RemoteClosed(flow) {
      const client = clients.get(flow);
      if (client !== undefined) client.remoteClosed = true;
    },
    l4TxReady(flow) {
      onTxReady?.(flow);
    },
  });
  function connect(protocol: "tcp" | "udp", dstIp: string, srcPort: number): Client {
    const flow = clientEngine.l4Connect(clientCb, { protocol, srcIp: dstIp.includes(":") ? "fd00::1" : "10.0.0.1", srcPort, dstIp, dstPort: 7 });
    const client: Client = { flow, received: [], receivedBytes: 0, remoteClosed: false, gone: false };
    clients.set(flow, client);
    link.wake("a");
    return client;
  }
  return {
    link,
    echo,
    echoEngine,
    clientEngine,
    clientCb,
    connect,
    setTxReady(handler: (flow: Flow) => void) {
      onTxReady = handler;
    },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** -1 when equal, else the first index where they differ (toEqual on 1 MB arrays is slow). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function randomData(bytes: number, seed: number): Uint8Array {
  const random = new Random(seed);
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = random.int(256);
  return data;
}

/** Writes `data` on the client flow as fast as l4Tx takes it, then half-closes (FIN). */
function writeAllThenClose(engine: L3L4<number>, cb: Callbacks<number>, client: Client, data: Uint8Array) {
  let offset = 0;
  const pump = () => {
    while (offset < data.length) {
      const taken = engine.l4Tx(cb, client.flow, data.subarray(offset)) ?? 0;
      offset += taken;
      if (taken === 0) return;
    }
    engine.l4LocalClose(cb, client.flow);
  };
  return { pump, done: () => offset === data.length };
}

describe("EchoApp over an in-memory link", () => {
  it.each([
    ["a clean link", undefined],
    ["a lossy, reordering link", "loss=0.02,reorder=0.05,duplicate=0.01,delay=2"],
  ])("echoes 1 MB on %s with backpressure, and closes after the client's FIN", (_name, faults) => {
    const t = setup(faults);
    const client = t.connect("tcp", "192.0.2.7", 40000);
    t.link.runUntil(() => t.clientEngine.l4State(client.flow) === "ESTABLISHED", { maxTimeMs: 10_000 });
    const data = randomData(1 << 20, 1);
    const writer = writeAllThenClose(t.clientEngine, t.clientCb, client, data);
    t.setTxReady(() => writer.pump());

    // The client reads nothing for a while: the echo's send buffer fills and the echo must pause.
    t.clientEngine.l4PauseRx(client.flow);
    writer.pump();
    t.link.runUntil(() => t.echo.backlogs.size > 0, { maxTimeMs: 10_000 });
    expect(t.echo.counters.pauses).toBeGreaterThan(0);
    t.clientEngine.l4ResumeRx(t.clientCb, client.flow);
    t.link.wake("a");

    const finished = t.link.runUntil(() => client.remoteClosed && writer.done(), { maxTimeMs: 600_000, maxSteps: 5_000_000 });
    expect(finished).toBe(true);
    expect(client.receivedBytes).toBe(data.length);
    expect(firstDifference(concat(client.received), data)).toBe(-1);
    t.link.runUntil(() => t.echoEngine.flowCount === 0, { maxTimeMs: 60_000 });
    expect(t.echoEngine.flowCount).toBe(0);
    expect(t.echo.backlogs.size).toBe(0);
    expect(t.echo.flows.size).toBe(0);
    expect(t.echo.counters.tcpBytes).toBe(data.length);
  });

  it("echoes UDP datagrams as they are, over IPv4 and IPv6 (8 KB ones fragmented)", () => {
    const t = setup();
    for (const [dst, port] of [
      ["198.51.100.9", 5000],
      ["2001:db8::9", 5001],
    ] as const) {
      const client = t.connect("udp", dst, port);
      const sizes = [1, 512, 1472, 8192];
      const sent = sizes.map((size, i) => randomData(size, 10 + i));
      for (const datagram of sent) t.clientEngine.l4Tx(t.clientCb, client.flow, datagram);
      t.link.wake("a");
      t.link.runUntil(() => client.received.length === sizes.length, { maxTimeMs: 10_000 });
      expect(client.received).toEqual(sent);
    }
    expect(t.echo.counters.udpDatagrams).toBe(8);
  });

  it("closes at once when the peer closes with nothing queued", () => {
    const t = setup();
    const client = t.connect("tcp", "192.0.2.8", 40001);
    t.link.runUntil(() => t.clientEngine.l4State(client.flow) === "ESTABLISHED", { maxTimeMs: 10_000 });
    t.clientEngine.l4Tx(t.clientCb, client.flow, new TextEncoder().encode("ping"));
    t.clientEngine.l4LocalClose(t.clientCb, client.flow);
    t.link.wake("a");
    t.link.runUntil(() => client.remoteClosed, { maxTimeMs: 10_000 });
    expect(new TextDecoder().decode(concat(client.received))).toBe("ping");
    expect(t.echo.counters.pauses).toBe(0);
    t.link.runUntil(() => t.echoEngine.flowCount === 0, { maxTimeMs: 10_000 });
    expect(t.echoEngine.flowCount).toBe(0);
  });
});
