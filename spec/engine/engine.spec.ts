import { afterEach, describe, expect, it, vi } from "vitest";
import type { Flow } from "../../lib/api.js";
import { DEFAULT_CONFIG } from "../../lib/config.js";
import { Core } from "../../lib/core.js";
import { BufferTooSmallError, FlowExistsError, InvalidArgumentError, UnknownFlowError } from "../../lib/errors.js";
import { FlowRecord } from "../../lib/flow/flow.js";
import { TcpConnection } from "../../lib/tcp/connection.js";
import { CloseCause, tcpOutSegment, type TcpEndpoint } from "../../lib/tcp/context.js";
import { SendBuffer } from "../../lib/tcp/send-buffer.js";
import { TimeWaitTable, TimeWaitVerdict } from "../../lib/tcp/time-wait.js";
import { TcpOptions } from "../../lib/wire/tcp.js";
import { Capture } from "../support/capture.js";
import { engineFixture } from "../support/engine-fixture.js";
import { ipv6Bytes } from "../support/oracle/address.js";
import { Flag as TcpFlag } from "../support/oracle/numbers.js";
import { flagsOf, icmp, parse, tcp, udp } from "../support/packets.js";
import { skipOrFailInCi } from "../support/privileges.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const V4 = { src: "198.51.100.20", dst: "203.0.113.80" };
const V6 = { src: "2001:db8::20", dst: "2001:db8:80::1" };

function connOf(flow: Flow): TcpConnection {
  const st = (flow as FlowRecord).state;
  if (!(st instanceof TcpConnection)) throw new Error("not a live TCP flow");
  return st;
}

/** Open a TCP flow with a SYN; returns the flow (found via l4Accept). */
function openTcp(fx: ReturnType<typeof engineFixture>, addrs: { src: string; dst: string } = V4, srcPort = 40000): Flow {
  let made: Flow | undefined;
  fx.cap.acceptIf((f) => {
    made = f;
    return true;
  });
  fx.engine.l3Rx(fx.cap, tcp({ ...addrs, srcPort, dstPort: 443, flags: "S", seq: 1000 }));
  fx.cap.l4Accept = undefined;
  fx.cap.take();
  if (made === undefined) throw new Error("no flow made");
  return made;
}

describe("TCP: new flows", () => {
  it.each([
    ["IPv4", V4],
    ["IPv6", V6],
  ])("a SYN makes a flow (%s), asks l4Accept, and hands the segment to acceptSyn", (_n, addrs) => {
    const { engine, cap } = engineFixture();
    const spy = vi.spyOn(TcpConnection.prototype, "acceptSyn");
    const seen: { seq: number; mss: number; ws: number }[] = [];
    spy.mockImplementation(function (this: TcpConnection, seg, opts) {
      seen.push({ seq: seg.seq, mss: opts.mss, ws: opts.windowScale });
    });
    cap.acceptIf(() => true);
    engine.l3Rx(cap, tcp({ ...addrs, srcPort: 40001, dstPort: 443, flags: "S", seq: 123456, options: { mss: 1400, windowScale: 7 } }));
    expect(cap.accepted).toHaveLength(1);
    const flow = cap.accepted[0]!;
    expect(flow).toMatchObject({ protocol: "tcp", family: addrs === V4 ? 4 : 6, srcIp: addrs.src, srcPort: 40001, dstIp: addrs.dst, dstPort: 443 });
    expect(seen).toEqual([{ seq: 123456, mss: 1400, ws: 7 }]);
    expect(connOf(flow).flow).toBe(flow);
    expect(engine.flowCount).toBe(1);
    expect(engine.stats()).toMatchObject({ tcpFlowsOpened: 1, tcpSegmentsIn: 1 });
  });

  it("without l4Accept every SYN is accepted", () => {
    const { engine, cap } = engineFixture();
    const spy = vi.spyOn(TcpConnection.prototype, "acceptSyn").mockImplementation(() => {});
    engine.l3Rx(cap, tcp({ flags: "S" }));
    engine.l3Rx(cap, tcp({ flags: "S", srcPort: 2 }));
    expect(spy).toHaveBeenCalledTimes(2);
    expect(engine.flowCount).toBe(2);
  });

  it.each([
    ["IPv4", V4],
    ["IPv6", V6],
  ])("a refused SYN gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (%s)", (_n, addrs) => {
    const { engine, cap } = engineFixture();
    cap.acceptIf(() => false);
    expect(engine.l3Rx(cap, tcp({ ...addrs, srcPort: 4321, dstPort: 25, flags: "S", seq: 0xfffffffe, payload: "abc" }))).toBeUndefined();
    expect(engine.flowCount).toBe(0);
    const [p] = cap.take();
    expect(p).toMatchObject({ src: addrs.dst, dst: addrs.src, checksumOk: true });
    // SEG.LEN = 3 bytes + SYN; the sum wraps.
    expect(p!.tcp).toMatchObject({ srcPort: 25, dstPort: 4321, seq: 0, ack: 2, flags: TcpFlag.RST | TcpFlag.ACK, window: 0 });
    expect(engine.stats()).toMatchObject({ tcpResetsSent: 1, drops: { refused: 1 } });
  });

  it("at maxFlows a SYN is dropped unanswered", () => {
    const { engine, cap } = engineFixture((b) => b.maxFlows(2));
    vi.spyOn(TcpConnection.prototype, "acceptSyn").mockImplementation(() => {});
    for (let i = 0; i < 5; i++) engine.l3Rx(cap, tcp({ flags: "S", srcPort: 1000 + i }));
    expect(engine.flowCount).toBe(2);
    expect(engine.stats().drops.flow_limit).toBe(3);
    expect(cap.sent).toHaveLength(0);
  });
});

describe("TCP: segments for no flow (RFC 9293 §3.10.7.1)", () => {
  it.each([
    // flags, payload, expected reply (undefined: nothing)
    ["A", "", { seq: 5000, ack: 0, flags: TcpFlag.RST }],
    ["PA", "0123456789", { seq: 5000, ack: 0, flags: TcpFlag.RST }],
    ["FA", "", { seq: 5000, ack: 0, flags: TcpFlag.RST }],
    ["SA", "", { seq: 5000, ack: 0, flags: TcpFlag.RST }],
    ["F", "", { seq: 0, ack: 101, flags: TcpFlag.RST | TcpFlag.ACK }],
    ["", "hello", { seq: 0, ack: 105, flags: TcpFlag.RST | TcpFlag.ACK }],
    ["P", "hello", { seq: 0, ack: 105, flags: TcpFlag.RST | TcpFlag.ACK }],
    ["FP", "hi", { seq: 0, ack: 103, flags: TcpFlag.RST | TcpFlag.ACK }],
    ["R", "", undefined],
    ["RA", "", undefined],
  ] as const)("flags %j with %j -> %j", (flags, payload, want) => {
    for (const addrs of [V4, V6]) {
      const { engine, cap } = engineFixture();
      const seg = tcp({ ...addrs, srcPort: 7777, dstPort: 80, flags: flagsOf(flags), seq: 100, ack: 5000, payload });
      expect(engine.l3Rx(cap, seg)).toBeUndefined();
      expect(engine.flowCount).toBe(0);
      const out = cap.take();
      if (want === undefined) {
        expect(out).toHaveLength(0);
        expect(engine.stats().drops.no_flow_rst).toBe(1);
        continue;
      }
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({ src: addrs.dst, dst: addrs.src, checksumOk: true });
      expect(out[0]!.tcp).toMatchObject({ srcPort: 80, dstPort: 7777, window: 0, ...want });
      expect(out[0]!.tcp!.payload.length).toBe(0);
      expect(engine.stats().drops.no_flow).toBe(1);
      if (addrs === V4) expect(out[0]!.df).toBe(true);
    }
  });

  it("sends nothing (and keeps going) when no buffer is available for the RST", () => {
    const { engine, cap } = engineFixture();
    cap.noBuffers = true;
    engine.l3Rx(cap, tcp({ flags: "A" }));
    expect(engine.stats()).toMatchObject({ txBufferUnavailable: 1, tcpResetsSent: 0 });
  });
});

describe("TCP: what is dropped before any flow is looked at", () => {
  it.each([
    ["from loopback", { src: "127.0.0.1", dst: "10.0.0.1" }, "bad_address"],
    ["to multicast", { src: "10.0.0.2", dst: "224.0.0.1" }, "bad_address"],
    ["to broadcast", { src: "10.0.0.2", dst: "255.255.255.255" }, "bad_address"],
    ["from 0.0.0.0", { src: "0.0.0.0", dst: "10.0.0.1" }, "bad_address"],
    ["to ::1", { src: "fd00::2", dst: "::1" }, "bad_address"],
    ["from ::", { src: "::", dst: "fd00::1" }, "bad_address"],
    ["to ff02::1", { src: "fe80::2", dst: "ff02::1" }, "bad_address"],
    ["from multicast v6", { src: "ff0e::1", dst: "fd00::1" }, "bad_address"],
  ])("a SYN %s", (_n, addrs, reason) => {
    const { engine, cap } = engineFixture();
    engine.l3Rx(cap, tcp({ ...addrs, flags: "S" }));
    engine.l3Rx(cap, tcp({ ...addrs, flags: "A" }));
    expect(engine.flowCount).toBe(0);
    expect(cap.sent).toHaveLength(0);
    expect(engine.stats().drops[reason]).toBe(2);
  });

  it("bad checksums are dropped unless verification is off", () => {
    const a = engineFixture();
    vi.spyOn(TcpConnection.prototype, "acceptSyn").mockImplementation(() => {});
    a.engine.l3Rx(a.cap, tcp({ flags: "S", badChecksum: true }));
    a.engine.l3Rx(a.cap, tcp({ flags: "A", badChecksum: true }));
    expect(a.engine.flowCount).toBe(0);
    expect(a.cap.sent).toHaveLength(0);
    expect(a.engine.stats().drops.bad_checksum).toBe(2);
    const b = engineFixture((x) => x.verifyChecksums(false));
    b.engine.l3Rx(b.cap, tcp({ flags: "S", badChecksum: true }));
    expect(b.engine.flowCount).toBe(1);
  });

  it("a corrupt IPv4 header checksum is dropped", () => {
    const { engine, cap } = engineFixture();
    const p = tcp({ flags: "A" });
    p[8] = 1; // TTL changed, header checksum now wrong
    engine.l3Rx(cap, p);
    expect(engine.stats().drops.bad_checksum).toBe(1);
    expect(cap.sent).toHaveLength(0);
  });

  it("bad options, SYN+FIN, SYN+RST and port 0 are dropped unanswered", () => {
    const { engine, cap } = engineFixture();
    engine.l3Rx(cap, tcp({ flags: "S", rawOptions: Uint8Array.from([2, 1, 0, 0]) })); // MSS with length 1
    engine.l3Rx(cap, tcp({ flags: "S", rawOptions: Uint8Array.from([1, 2, 4, 5]) })); // MSS running past the options
    engine.l3Rx(cap, tcp({ flags: "SF" }));
    engine.l3Rx(cap, tcp({ flags: "SR" }));
    engine.l3Rx(cap, tcp({ flags: "S", srcPort: 0 }));
    engine.l3Rx(cap, tcp({ flags: "A", dstPort: 0 }));
    expect(engine.flowCount).toBe(0);
    expect(cap.sent).toHaveLength(0);
    expect(engine.stats().drops).toEqual({ bad_options: 2, bad_flags: 2, bad_address: 2 });
  });

  it("non-IP, truncated and unknown-protocol packets are counted, never thrown on", () => {
    const { engine, cap } = engineFixture();
    engine.l3Rx(cap, new Uint8Array(0));
    engine.l3Rx(cap, Uint8Array.from([0x50, 1, 2, 3]));
    engine.l3Rx(cap, tcp().subarray(0, 30));
    const gre = udp();
    gre[9] = 47;
    gre[10] = 0;
    gre[11] = 0;
    engine.l3Rx(cap, Uint8Array.from(gre));
    const s = engine.stats();
    expect(s.packetsIn).toBe(4);
    expect(s.drops.truncated).toBe(2);
    expect(s.drops.bad_version).toBe(1);
    expect(s.dropped).toBe(4);
  });
});

describe("TCP: transmit framing", () => {
  function core() {
    const owner = {};
    const c = new Core({ ...DEFAULT_CONFIG }, () => 0, owner);
    const cap = new Capture();
    return { c, cap, owner };
  }

  function endpoint(owner: object, family: 4 | 6, payload: Uint8Array): TcpEndpoint & { sendBuffer: SendBuffer } {
    const addr = new Uint8Array(32);
    if (family === 4) {
      addr.set([198, 51, 100, 20], 0);
      addr.set([203, 0, 113, 80], 16);
    } else {
      addr.set(ipv6Bytes(V6.src), 0);
      addr.set(ipv6Bytes(V6.dst), 16);
    }
    const flow = new FlowRecord(owner, "tcp", family, addr, family === 4 ? V4.src : V6.src, 40000, family === 4 ? V4.dst : V6.dst, 443, false);
    const sendBuffer = new SendBuffer(1 << 16);
    sendBuffer.write(payload, 0, payload.length);
    return { flow, deadline: Infinity, heapIndex: -1, sendBuffer };
  }

  it.each([4, 6] as const)("writes a complete IPv%i TCP packet with options and payload from the send buffer", (family) => {
    const { c, cap, owner } = core();
    const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 255);
    const ep = endpoint(owner, family, data);
    const seg = tcpOutSegment();
    seg.flags = TcpFlag.ACK | TcpFlag.PSH;
    seg.seq = 0xfffffff0;
    seg.ack = 77;
    seg.window = 1234;
    const o = new TcpOptions();
    o.hasTimestamps = true;
    o.tsVal = 11;
    o.tsEcr = 22;
    o.sackCount = 1;
    o.sackBlocks[0] = 100;
    o.sackBlocks[1] = 200;
    seg.options = o;
    seg.payloadOffset = 1000;
    seg.payloadLength = 1300;
    const prev = c.enter(cap);
    try {
      expect(c.transmit(ep, seg)).toBe(true);
    } finally {
      c.leave(prev);
    }
    const [raw] = cap.takeRaw();
    const hl = family === 4 ? 20 : 40;
    expect(raw!.length).toBe(hl + 20 + 12 + 12 + 1300);
    expect(cap.asked).toEqual([raw!.length]);
    const p = parse(raw!);
    expect(p).toMatchObject({ family, src: ep.flow.dstIp, dst: ep.flow.srcIp, protocol: 6, checksumOk: true, ttl: 64 });
    if (family === 4) expect(p.df).toBe(true);
    expect(p.tcp).toMatchObject({ srcPort: 443, dstPort: 40000, seq: 0xfffffff0, ack: 77, flags: TcpFlag.ACK | TcpFlag.PSH, window: 1234 });
    expect(p.tcp!.options).toMatchObject({ hasTimestamps: true, tsVal: 11, tsEcr: 22, sackCount: 1 });
    expect(Array.from(p.tcp!.payload)).toEqual(Array.from(data.subarray(1000, 2300)));
    expect(c.counters).toMatchObject({ tcpSegmentsOut: 1, packetsOut: 1, bytesOut: raw!.length });
  });

  it("a bare ACK needs no send buffer", () => {
    const { c, cap, owner } = core();
    const ep = endpoint(owner, 4, new Uint8Array(0));
    const bare: TcpEndpoint = { flow: ep.flow, deadline: Infinity, heapIndex: -1 };
    const seg = tcpOutSegment();
    seg.flags = TcpFlag.ACK;
    const prev = c.enter(cap);
    try {
      expect(c.transmit(bare, seg)).toBe(true);
    } finally {
      c.leave(prev);
    }
    expect(cap.take()[0]!.checksumOk).toBe(true);
  });

  it("returns false and counts when l3TxBuffer has nothing; throws BufferTooSmallError on a short buffer", () => {
    const { c, cap, owner } = core();
    const ep = endpoint(owner, 6, new Uint8Array(10));
    const seg = tcpOutSegment();
    seg.payloadLength = 10;
    const prev = c.enter(cap);
    try {
      cap.noBuffers = true;
      expect(c.transmit(ep, seg)).toBe(false);
      expect(c.counters.txBufferUnavailable).toBe(1);
      cap.noBuffers = false;
      cap.slack = -1;
      expect(() => c.transmit(ep, seg)).toThrow(BufferTooSmallError);
    } finally {
      c.leave(prev);
    }
  });
});

describe("TCP: the engine's side of closing", () => {
  it("closed() removes the flow and calls l4Rx(flow, null) exactly once", () => {
    const fx = engineFixture();
    const { engine, cap } = fx;
    const flow = openTcp(fx);
    const conn = connOf(flow);
    conn.ctx.closed(conn, CloseCause.ABORTED);
    conn.ctx.closed(conn, CloseCause.ABORTED);
    expect(cap.closes(flow)).toBe(1);
    expect(engine.flowCount).toBe(0);
    expect(engine.l4State(flow)).toBeUndefined();
    expect(engine.l4Tx(cap, flow, new Uint8Array(1))).toBeUndefined();
    expect(engine.l4IsLocalAndRemoteClosed(flow)).toBe(true);
    expect(engine.stats()).toMatchObject({ tcpFlowsClosed: 1, tcpAborts: 1 });
    // The 5-tuple is free: an ACK for it now gets a RST.
    engine.l3Rx(cap, tcp({ ...V4, srcPort: 40000, dstPort: 443, flags: "A", ack: 9 }));
    expect(cap.take()[0]!.tcp!.flags).toBe(TcpFlag.RST);
  });

  it("TIME_WAIT keeps a record for 2*MSL that segments reach, then forgets it", () => {
    const fx = engineFixture();
    const { engine, cap, clock } = fx;
    const flow = openTcp(fx);
    const conn = connOf(flow);
    clock.set(1000);
    conn.ctx.closed(conn, CloseCause.TIME_WAIT);
    expect(cap.closes(flow)).toBe(1);
    expect(engine.flowCount).toBe(0);
    expect(engine.l4State(flow)).toBe("TIME-WAIT");
    expect(engine.l4IsRemoteClosed(flow)).toBe(true);
    expect(engine.l4IsLocalAndRemoteClosed(flow)).toBe(true);
    expect(engine.stats().tcpTimeWait).toBe(1);
    const twSpy = vi.spyOn(TimeWaitTable.prototype, "segmentArrives").mockReturnValue(TimeWaitVerdict.DROP);
    expect(engine.l3Rx(cap, tcp({ ...V4, srcPort: 40000, dstPort: 443, flags: "FA", seq: 5 }))).toBe(flow);
    expect(twSpy).toHaveBeenCalledTimes(1);
    expect(cap.sent).toHaveLength(0);
    const deadline = engine.l4Poll(cap)!;
    expect(deadline).toBeGreaterThan(1000);
    expect(deadline).toBeLessThanOrEqual(1000 + DEFAULT_CONFIG.tcpTimeWaitMs);
    clock.set(deadline);
    expect(engine.l4Poll(cap)).toBeUndefined();
    expect(engine.l4State(flow)).toBeUndefined();
    expect(cap.closes(flow)).toBe(1);
  });

  it("a segment for the TIME-WAIT record of a connection we opened returns that flow, the same object", () => {
    const fx = engineFixture();
    const { engine, cap } = fx;
    const flow = engine.l4Connect(cap, { protocol: "tcp", srcIp: V4.dst, srcPort: 50000, dstIp: V4.src, dstPort: 80 });
    cap.take();
    const conn = connOf(flow);
    conn.ctx.closed(conn, CloseCause.TIME_WAIT);
    vi.spyOn(TimeWaitTable.prototype, "segmentArrives").mockReturnValue(TimeWaitVerdict.DROP);
    const again = engine.l3Rx(cap, tcp({ ...V4, srcPort: 80, dstPort: 50000, flags: "FA", seq: 5 }));
    expect(again).toBe(flow);
    expect(engine.l4State(flow)).toBe("TIME-WAIT");
  });

  it("once nothing holds a TIME-WAIT flow's object, a segment for its record returns a flow with the same fields, either side having opened it", async (ctx) => {
    const gc = (globalThis as { gc?: () => void }).gc;
    skipOrFailInCi(ctx, gc === undefined ? "global.gc (run node with --expose-gc, as spec/vitest.config.ts does)" : undefined);
    const fx = engineFixture();
    const { engine, cap } = fx;
    // Made in a function, so that no reference to the flows stays on this frame.
    const [passive, active] = (() => {
      const p = openTcp(fx);
      const a = engine.l4Connect(cap, { protocol: "tcp", srcIp: V4.dst, srcPort: 50000, dstIp: V4.src, dstPort: 80 });
      for (const f of [p, a]) {
        const c = connOf(f);
        c.ctx.closed(c, CloseCause.TIME_WAIT);
      }
      return [JSON.stringify(p), JSON.stringify(a)];
    })();
    engine.l4Poll(cap); // fires the queued l4Rx(flow, null)
    for (const list of [cap.accepted, cap.rx, cap.remoteClosed, cap.txReady, cap.sent]) list.length = 0;
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef's target lives to the end of the job that made it
    gc!();
    vi.spyOn(TimeWaitTable.prototype, "segmentArrives").mockReturnValue(TimeWaitVerdict.DROP);
    const p2 = engine.l3Rx(cap, tcp({ ...V4, srcPort: 40000, dstPort: 443, flags: "FA", seq: 5 }));
    const a2 = engine.l3Rx(cap, tcp({ ...V4, srcPort: 80, dstPort: 50000, flags: "FA", seq: 5 }));
    expect(JSON.stringify(p2)).toBe(passive);
    expect(JSON.stringify(a2)).toBe(active);
    expect(a2).toMatchObject({ srcIp: V4.dst, srcPort: 50000, dstIp: V4.src, dstPort: 80 });
    expect(engine.l4State(p2!)).toBe("TIME-WAIT");
    expect(engine.l4State(a2!)).toBe("TIME-WAIT");
  });

  it("a SYN the TIME-WAIT record lets through (NEW_SYN) opens a new flow", () => {
    const fx = engineFixture();
    const { engine, cap } = fx;
    const flow = openTcp(fx);
    const conn = connOf(flow);
    conn.ctx.closed(conn, CloseCause.TIME_WAIT);
    vi.spyOn(TimeWaitTable.prototype, "segmentArrives").mockReturnValue(TimeWaitVerdict.NEW_SYN);
    const accept = vi.spyOn(TcpConnection.prototype, "acceptSyn").mockImplementation(() => {});
    cap.acceptIf(() => true);
    engine.l3Rx(cap, tcp({ ...V4, srcPort: 40000, dstPort: 443, flags: "S", seq: 9_000_000 }));
    expect(accept).toHaveBeenCalledTimes(1);
    const fresh = cap.accepted.at(-1)!;
    expect(fresh).not.toBe(flow);
    expect(engine.l4State(flow)).toBeUndefined();
    expect(engine.flowCount).toBe(1);
  });

  it("l3Rx reports a TCP flow only once it is synchronized", () => {
    const fx = engineFixture();
    const { engine, cap } = fx;
    const flow = openTcp(fx);
    const conn = connOf(flow);
    vi.spyOn(TcpConnection.prototype, "segmentArrives").mockImplementation(() => {});
    const ack = tcp({ ...V4, srcPort: 40000, dstPort: 443, flags: "A", seq: 1001 });
    Object.defineProperty(conn, "state", { value: "SYN-RECEIVED", configurable: true, writable: true });
    expect(engine.l3Rx(cap, ack)).toBeUndefined();
    for (const s of ["ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK"]) {
      Object.defineProperty(conn, "state", { value: s, configurable: true, writable: true });
      expect(engine.l3Rx(cap, ack)).toBe(flow);
      expect(engine.l4State(flow)).toBe(s);
    }
  });
});

describe("API boundary", () => {
  it("rejects flows that are not this engine's", () => {
    const a = engineFixture();
    const b = engineFixture();
    const theirs = b.engine.l3Rx(b.cap, udp())!;
    const fake = { protocol: "udp", family: 4, srcIp: "1.2.3.4", srcPort: 1, dstIp: "5.6.7.8", dstPort: 2 } as Flow;
    for (const flow of [theirs, fake]) {
      expect(() => a.engine.l4Tx(a.cap, flow, new Uint8Array(1))).toThrow(UnknownFlowError);
      expect(() => a.engine.l4LocalClose(a.cap, flow)).toThrow(UnknownFlowError);
      expect(() => a.engine.l4Abort(a.cap, flow)).toThrow(UnknownFlowError);
      expect(() => a.engine.l4PauseRx(flow)).toThrow(UnknownFlowError);
      expect(() => a.engine.l4ResumeRx(a.cap, flow)).toThrow(UnknownFlowError);
      expect(() => a.engine.l4IsRemoteClosed(flow)).toThrow(UnknownFlowError);
      expect(() => a.engine.l4IsLocalAndRemoteClosed(flow)).toThrow(UnknownFlowError);
      expect(a.engine.l4State(flow)).toBeUndefined();
    }
    expect(b.engine.l4State(theirs)).toBe("ESTABLISHED");
  });

  it("rejects non-Uint8Array data and packets", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp())!;
    expect(() => engine.l4Tx(cap, flow, "text" as unknown as Uint8Array)).toThrow(InvalidArgumentError);
    expect(() => engine.l3Rx(cap, [1, 2, 3] as unknown as Uint8Array)).toThrow(InvalidArgumentError);
  });

  it("UDP flows: remote/local-closed queries are false while alive", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp())!;
    expect(engine.l4IsRemoteClosed(flow)).toBe(false);
    expect(engine.l4IsLocalAndRemoteClosed(flow)).toBe(false);
  });

  it("l4Poll: undefined with nothing scheduled, else the earliest deadline", () => {
    const { engine, cap, clock } = engineFixture((b) => b.udpIdleTimeout(10));
    expect(engine.l4Poll(cap)).toBeUndefined();
    engine.l3Rx(cap, udp({ srcPort: 1 }));
    clock.set(3000);
    engine.l3Rx(cap, udp({ srcPort: 2 }));
    expect(engine.l4Poll(cap)).toBe(10_000);
    clock.set(10_000);
    expect(engine.l4Poll(cap)).toBe(13_000);
    expect(engine.flowCount).toBe(1);
  });
});

describe("l4Connect", () => {
  it.each([
    [{ protocol: "sctp", srcIp: "10.0.0.1", srcPort: 1, dstIp: "10.0.0.2", dstPort: 2 }],
    [{ protocol: "tcp", srcIp: "10.0.0.256", srcPort: 1, dstIp: "10.0.0.2", dstPort: 2 }],
    [{ protocol: "tcp", srcIp: "10.0.0.1", srcPort: 1, dstIp: "nope", dstPort: 2 }],
    [{ protocol: "tcp", srcIp: "10.0.0.1", srcPort: 1, dstIp: "fd00::2", dstPort: 2 }],
    [{ protocol: "tcp", family: 6, srcIp: "10.0.0.1", srcPort: 1, dstIp: "10.0.0.2", dstPort: 2 }],
    [{ protocol: "tcp", srcIp: "10.0.0.1", srcPort: 0, dstIp: "10.0.0.2", dstPort: 2 }],
    [{ protocol: "tcp", srcIp: "10.0.0.1", srcPort: 1, dstIp: "10.0.0.2", dstPort: 65536 }],
    [{ protocol: "udp", srcIp: "10.0.0.1", srcPort: 1.5, dstIp: "10.0.0.2", dstPort: 2 }],
    [{ protocol: "udp", srcIp: "10.0.0.1", srcPort: 1, dstIp: "224.0.0.9", dstPort: 2 }],
    [{ protocol: "udp", srcIp: "::1", srcPort: 1, dstIp: "fd00::2", dstPort: 2 }],
    [{ protocol: "udp", srcIp: "fd00::1", srcPort: 1, dstIp: "ff02::1", dstPort: 2 }],
  ])("rejects %j with InvalidArgumentError", (opts) => {
    const { engine, cap } = engineFixture();
    expect(() => engine.l4Connect(cap, opts as never)).toThrow(InvalidArgumentError);
    expect(engine.flowCount).toBe(0);
  });

  it("opens a TCP flow with the engine as source and calls connect()", () => {
    const { engine, cap } = engineFixture();
    const connect = vi.spyOn(TcpConnection.prototype, "connect").mockImplementation(() => {});
    const flow = engine.l4Connect(cap, { protocol: "tcp", family: 6, srcIp: "2001:DB8::1", srcPort: 50000, dstIp: "2001:db8::2", dstPort: 443 });
    expect(flow).toMatchObject({ protocol: "tcp", family: 6, srcIp: "2001:db8::1", srcPort: 50000, dstIp: "2001:db8::2", dstPort: 443 });
    expect(connect).toHaveBeenCalledTimes(1);
    expect(engine.flowCount).toBe(1);
    // The peer's answer (from dst to src) finds the same flow.
    const seg = vi.spyOn(TcpConnection.prototype, "segmentArrives").mockImplementation(() => {});
    engine.l3Rx(cap, tcp({ src: "2001:db8::2", dst: "2001:db8::1", srcPort: 443, dstPort: 50000, flags: "SA" }));
    expect(seg).toHaveBeenCalledTimes(1);
    expect(seg.mock.contexts[0]).toBe(connOf(flow));
    expect(() =>
      engine.l4Connect(cap, { protocol: "tcp", srcIp: "2001:db8::1", srcPort: 50000, dstIp: "2001:db8::2", dstPort: 443 }),
    ).toThrow(FlowExistsError);
  });

  it("refuses a 5-tuple a peer already opened", () => {
    const { engine, cap } = engineFixture();
    engine.l3Rx(cap, udp({ src: "10.0.0.2", dst: "10.0.0.1", srcPort: 53, dstPort: 5353 }));
    expect(() => engine.l4Connect(cap, { protocol: "udp", srcIp: "10.0.0.1", srcPort: 5353, dstIp: "10.0.0.2", dstPort: 53 })).toThrow(
      FlowExistsError,
    );
    // The same addresses over TCP are another 5-tuple.
    vi.spyOn(TcpConnection.prototype, "connect").mockImplementation(() => {});
    expect(engine.l4Connect(cap, { protocol: "tcp", srcIp: "10.0.0.1", srcPort: 5353, dstIp: "10.0.0.2", dstPort: 53 })).toBeDefined();
  });
});

describe("re-entrancy", () => {
  it("l3Rx from inside l4Rx is queued and runs when the outer call returns", () => {
    const { engine, cap } = engineFixture();
    const order: string[] = [];
    let inner: Flow | undefined | null = null;
    cap.onRx = (_f, d) => {
      if (d === null) return;
      const t = new TextDecoder().decode(d);
      order.push(t);
      if (t === "outer") {
        inner = engine.l3Rx(cap, udp({ srcPort: 9, payload: "inner" }));
        order.push("after inner l3Rx");
      }
    };
    engine.l3Rx(cap, udp({ payload: "outer" }));
    expect(inner).toBeUndefined();
    expect(order).toEqual(["outer", "after inner l3Rx", "inner"]);
    expect(engine.flowCount).toBe(2);
    expect(engine.stats().packetsIn).toBe(2);
  });

  it("l4Tx and l4Poll from inside a callback work; the nested l4Poll runs no timers", () => {
    const { engine, cap, clock } = engineFixture((b) => b.udpIdleTimeout(1));
    const old = engine.l3Rx(cap, udp({ srcPort: 1 }))!;
    clock.set(5000); // `old` is overdue
    let polled: number | undefined;
    cap.onRx = (f, d) => {
      if (d === null || f === old) return;
      expect(engine.l4Tx(cap, f, new TextEncoder().encode("echo"))).toBe(4);
      polled = engine.l4Poll(cap);
    };
    engine.l3Rx(cap, udp({ srcPort: 2, payload: "x" }));
    expect(polled).toBe(1000);
    expect(cap.closes(old)).toBe(0);
    expect(cap.take()).toHaveLength(1);
    engine.l4Poll(cap);
    expect(cap.closes(old)).toBe(1);
  });
});

describe("TCP end to end through the engine (with the real connection)", () => {
  it("handshake, data both ways, active close into TIME-WAIT and out of it", () => {
    const { engine, cap, clock } = engineFixture();
    const peer = { src: "198.51.100.1", dst: "192.0.2.80", srcPort: 33333, dstPort: 80 };
    expect(engine.l3Rx(cap, tcp({ ...peer, flags: "S", seq: 100, options: { mss: 1460 } }))).toBeUndefined();
    const [synAck] = cap.take();
    expect(synAck!.tcp!.flags).toBe(TcpFlag.SYN | TcpFlag.ACK);
    expect(synAck!.checksumOk).toBe(true);
    const iss = synAck!.tcp!.seq;
    const ack = (n: number) => (iss + n) >>> 0;
    const flow = engine.l3Rx(cap, tcp({ ...peer, flags: "A", seq: 101, ack: ack(1) }));
    expect(flow).toBeDefined();
    expect(engine.l4State(flow!)).toBe("ESTABLISHED");
    expect(engine.l3Rx(cap, tcp({ ...peer, flags: "PA", seq: 101, ack: ack(1), payload: "hello" }))).toBe(flow);
    expect(cap.textOf(flow!)).toBe("hello");
    expect(engine.l4Tx(cap, flow!, new TextEncoder().encode("world"))).toBe(5);
    const sent = cap.take();
    const data = sent.find((p) => p.tcp!.payload.length > 0)!;
    expect(new TextDecoder().decode(data.tcp!.payload)).toBe("world");
    expect(data).toMatchObject({ src: peer.dst, dst: peer.src, checksumOk: true });
    // We close first: FIN; the peer ACKs it and sends its own FIN.
    engine.l4LocalClose(cap, flow!);
    const fin = cap.take().find((p) => (p.tcp!.flags & TcpFlag.FIN) !== 0)!;
    expect(fin.tcp!.seq).toBe(ack(6));
    engine.l3Rx(cap, tcp({ ...peer, flags: "FA", seq: 106, ack: ack(7) }));
    expect(engine.l4State(flow!)).toBe("TIME-WAIT");
    expect(cap.closes(flow!)).toBe(1);
    expect(engine.flowCount).toBe(0);
    expect(engine.stats()).toMatchObject({ tcpTimeWait: 1, tcpFlowsClosed: 1 });
    const deadline = engine.l4Poll(cap)!;
    clock.set(deadline);
    expect(engine.l4Poll(cap)).toBeUndefined();
    expect(engine.l4State(flow!)).toBeUndefined();
    expect(cap.closes(flow!)).toBe(1);
  });

  it("ICMP fragmentation-needed quoting a data segment we sent reaches its connection", () => {
    const { engine, cap } = engineFixture();
    const spy = vi.spyOn(TcpConnection.prototype, "icmpUnreachable");
    const peer = { src: "198.51.100.1", dst: "192.0.2.80", srcPort: 33333, dstPort: 80 };
    engine.l3Rx(cap, tcp({ ...peer, flags: "S", seq: 100, options: { mss: 1460 } }));
    const iss = cap.take()[0]!.tcp!.seq;
    const flow = engine.l3Rx(cap, tcp({ ...peer, flags: "A", seq: 101, ack: (iss + 1) >>> 0 }))!;
    engine.l4Tx(cap, flow, new Uint8Array(1400));
    const segment = cap.takeRaw().find((p) => p.length > 1000)!;
    engine.l3Rx(cap, icmp({ src: "192.0.2.1", dst: peer.dst, type: 3, code: 4, rest: 1000, data: segment.subarray(0, 28) }));
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![0]).toBe(1000);
    expect(spy.mock.contexts[0]).toBe(connOf(flow));
  });
});
