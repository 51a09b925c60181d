/**
 * The global receive budget (receiveBudget on the builder, lib/tcp/receive-budget.ts): the windows all
 * flows advertise and have not received stay within the budget, each flow gets its share, never less
 * than two segments, and no advertised window is retracted (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4).
 * Real handshakes and data through the packet harness; the promises are read off the packets the
 * engine sends (the right edge, ACK + window << scale, of each flow's last segment).
 */
import { describe, expect, it } from "vitest";
import { FLOOR_SEGMENTS, INITIAL_GROWTH_LIMIT, ReceiveBudget } from "../../lib/tcp/receive-budget.js";
import type { Tcb } from "../../lib/tcp/tcb.js";
import { receiveBudgetFor } from "../../lib/cli/device.js";
import { echoEndToEnd } from "../support/echo-end-to-end.js";
import { establish, TcpHarness, type Captured } from "../support/tcp-harness.js";
import { TcpFlag } from "../../lib/wire/tcp.js";

const MSS = 1460;
const FLOOR = FLOOR_SEGMENTS * MSS;
/** The engine's window shift for its default 256 KiB buffer (RFC 7323 §2.3: the least that covers it). */
const SHIFT = 3;

/** Every flow's right edge and ACK as its segments show them; each new right edge checked against the last. */
class Edges {
  readonly right = new Map<number, number>();
  readonly ack = new Map<number, number>();
  retracted: string[] = [];

  take(h: TcpHarness): Captured[] {
    const packets = h.drain();
    for (const p of packets) {
      if (p.flags & TcpFlag.RST) continue;
      const port = p.dstPort;
      const right = p.ack + (p.flags & TcpFlag.SYN ? p.win : p.win << SHIFT);
      const before = this.right.get(port);
      if (before !== undefined && right < before) this.retracted.push(`port ${port}: ${before} -> ${right} at ${p.time} ms`);
      this.right.set(port, Math.max(right, before ?? right));
      this.ack.set(port, p.ack);
    }
    return packets;
  }

  /** Window promised to `port` and not yet received: its right edge less what the engine acknowledged. */
  promise(port: number): number {
    return this.right.get(port)! - this.ack.get(port)!;
  }

  total(): number {
    let sum = 0;
    for (const port of this.right.keys()) sum += this.promise(port);
    return sum;
  }
}

function harness(budget: number): TcpHarness {
  return new TcpHarness({ configure: (b) => b.receiveBudget(budget), strict: false });
}

describe("the global receive budget", () => {
  it("a flow alone grows to the whole budget; flows that come later get two segments, then each its share as data arrives, none retracted", () => {
    const budget = 128 * 1024;
    const h = harness(budget);
    const edges = new Edges();
    const ports = [41000, 41001, 41002, 41003];
    const synAck = establish(h, { port: ports[0]! });
    // The SYN-ACK offers 64 KiB (the growth limit starts there); each segment received opens it by two more.
    expect(synAck.win).toBe(0xffff);
    for (let i = 0; i < 30; i++) h.in({ flags: ".", data: MSS, port: ports[0]! });
    h.at(100);
    edges.take(h);
    // Alone: its whole share, the budget (the buffer, 256 KiB, is larger).
    expect(edges.promise(ports[0]!)).toBeGreaterThan(budget - 2 * MSS);
    expect(edges.promise(ports[0]!)).toBeLessThanOrEqual(budget);

    for (const port of ports.slice(1)) establish(h, { port });
    const synAcks = edges.take(h).filter((p) => p.flags & TcpFlag.SYN);
    // Nothing left under the budget: the floor, two segments (at most 65535 unscaled, RFC 7323 §2.2).
    for (const s of synAcks) expect(s.win).toBe(FLOOR);

    // Data on every flow, round after round: flow 0's promise shrinks as its data fills it (its right
    // edge stays), and the room it leaves goes to the others, up to the share, budget / 4.
    let peak = 0;
    for (let round = 0; round < 120; round++) {
      for (const port of ports) h.in({ flags: ".", data: MSS, port });
      h.at(200 + round * 50);
      edges.take(h);
      peak = Math.max(peak, edges.total());
    }
    expect(edges.retracted).toEqual([]);
    // The bound: the budget, plus a floor for each flow that had to wait (the first flow's promise
    // was made before the others came).
    expect(peak).toBeLessThanOrEqual(budget + ports.length * FLOOR);
    const share = budget / ports.length;
    for (const port of ports) {
      expect(edges.promise(port)).toBeLessThanOrEqual(share);
      expect(edges.promise(port)).toBeGreaterThan(share / 2);
    }
    const stats = h.engine.stats();
    expect(stats.receiveBudget).toBe(budget);
    expect(stats.receiveWindowPromised).toBeLessThanOrEqual(budget);
    expect(stats.receiveBudgetLimited).toBeGreaterThan(0);
    // Every byte arrived, in order.
    for (const port of ports) h.expectRx(120 * MSS + (port === ports[0] ? 30 * MSS : 0), port);
  });

  it("an idle connection keeps what it was first offered, and the busy one grows past it (iperf3's control and data connections)", () => {
    const budget = 256 * 1024;
    const h = harness(budget);
    const edges = new Edges();
    establish(h, { port: 45000 });
    h.in({ flags: "P.", data: 37, port: 45000 });
    h.at(50);
    edges.take(h);
    const dataSynAck = establish(h, { port: 45001 });
    // The idle one holds 64 KiB: the room left lets the busy one start at 64 KiB too, not two segments.
    expect(dataSynAck.win).toBe(0xffff);
    for (let i = 0; i < 200; i++) h.in({ flags: ".", data: MSS, port: 45001 });
    h.at(100);
    edges.take(h);
    expect(edges.promise(45000)).toBeLessThanOrEqual(0xffff + 2 * 37 + (1 << SHIFT));
    // The busy one: its share, half the budget.
    expect(edges.promise(45001)).toBeGreaterThan(budget / 2 - 2 * MSS);
    expect(edges.retracted).toEqual([]);
  });

  it("past the budget every flow still gets two segments, and moves with them", () => {
    const h = harness(65536);
    const edges = new Edges();
    const ports = Array.from({ length: 64 }, (_, i) => 42000 + i);
    for (const port of ports) establish(h, { port });
    edges.take(h);
    for (let round = 0; round < 4; round++) {
      for (const port of ports) {
        h.in({ flags: ".", data: MSS, port });
        h.in({ flags: ".", data: MSS, port });
      }
      edges.take(h);
      for (const port of ports) expect(edges.promise(port)).toBeGreaterThanOrEqual(FLOOR);
    }
    expect(edges.retracted).toEqual([]);
    for (const port of ports) h.expectRx(8 * MSS, port);
  });

  it("a retransmitted SYN-ACK offers no less than the first", () => {
    const h = harness(65536);
    h.in({ flags: "S", seq: 0, win: 65535, mss: MSS, sackOK: true, ts: [100, 0], wscale: 7, port: 43000 });
    const first = h.out({ flags: "S.", port: 43000 });
    // A second flow takes what is left, then the first SYN-ACK times out (RFC 6298 §2.1: 1 s).
    establish(h, { port: 43001 });
    h.drain();
    h.at(1000);
    const again = h.out({ flags: "S.", port: 43000 });
    expect(again.win).toBeGreaterThanOrEqual(first.win);
  });

  it("flows that end give their promise back", () => {
    const h = harness(65536);
    const ports = [44000, 44001, 44002];
    for (const port of ports) establish(h, { port });
    expect(h.engine.stats().receiveWindowPromised).toBeGreaterThan(0);
    for (const port of ports) h.in({ flags: "R.", port });
    h.drain();
    expect(h.engine.flowCount).toBe(0);
    expect(h.engine.stats().receiveWindowPromised).toBe(0);
  });

  it("without a budget nothing is counted and every window is the free buffer", () => {
    const h = new TcpHarness({ strict: false });
    establish(h);
    h.in({ flags: ".", data: MSS });
    h.at(100);
    const ack = h.drain().at(-1)!;
    expect(ack.win << SHIFT).toBe(256 * 1024);
    expect(h.engine.stats().receiveWindowPromised).toBe(0);
    expect(h.engine.stats().receiveBudget).toBe(Infinity);
  });
});

/**
 * Issue 13's soak stalls, at the engine level: the reader drains a queue of fixed size at a fixed
 * rate (netem's rate and tail-drop queue on the in-memory link, as a TUN device's txqueuelen in front
 * of a proxy), and the flows' windows add up past it. Without the budget the queue drops (the soak
 * lost a third of the packets heading for the proxy, and its rounds waited out RTO backoffs); with
 * the budget set as `l3l4 proxy` sets it, half the queue in segments, nothing is dropped.
 */
describe("the receive budget keeps N flows within the reader's queue", () => {
  const QUEUE = 128;
  const run = (receiveBudget: number | undefined) =>
    echoEndToEnd({
      flows: 4,
      bytesPerFlow: 1_000_000,
      seed: 13,
      faults: `rate=100e6,queue=${QUEUE},delay=5`,
      ...(receiveBudget === undefined ? {} : { receiveBudget }),
    });

  it("without a budget four flows' windows overflow a 128-packet queue", () => {
    const r = run(undefined);
    expect(r.link.aToB.droppedQueue + r.link.bToA.droppedQueue).toBeGreaterThan(0);
  });

  it("with half the queue in segments as the budget, nothing is dropped and nothing retransmitted", () => {
    const r = run(receiveBudgetFor(QUEUE, 1500));
    expect(r.link.aToB.droppedQueue + r.link.bToA.droppedQueue).toBe(0);
    expect(r.client.tcpRetransmits + r.server.tcpRetransmits).toBe(0);
    expect(r.server.receiveBudgetLimited).toBeGreaterThan(0);
  });
});

/**
 * ReceiveBudget's arithmetic, on the fields of a connection it reads and writes (a stand-in Tcb): the
 * charge is RCV.ADV - RCV.NXT as last measured, the growth limit opens by two bytes per byte received
 * from 64 KiB (Linux tcp_grow_window), and `clamp` gives the least of the free buffer, the room left,
 * the share and the growth limit, never below two of the larger segment (Linux tcp_clamp_window), and
 * counts a window it made smaller than the free buffer (issue 10).
 */
describe("ReceiveBudget, one connection's numbers", () => {
  interface Conn {
    rcvAdv: number;
    rcvNxt: number;
    rcvBudgetCharge: number;
    rcvBudgetCounted: boolean;
    rcvSsthresh: number;
    rcvMss: number;
    sndMss: number;
  }
  const conn = (rcvNxt: number, promise: number, mss = MSS): Conn => ({
    rcvNxt,
    rcvAdv: (rcvNxt + promise) >>> 0,
    rcvBudgetCharge: 0,
    rcvBudgetCounted: false,
    rcvSsthresh: 0,
    rcvMss: mss,
    sndMss: mss,
  });
  const tcb = (c: Conn): Tcb => c as unknown as Tcb;

  it("account charges RCV.ADV - RCV.NXT, counts a connection once, and replaces its charge when measured again", () => {
    const b = new ReceiveBudget(1 << 20);
    const c = conn(1000, 5000);
    b.account(tcb(c));
    expect(b.promised).toBe(5000);
    expect(b.connections).toBe(1);
    expect(c.rcvBudgetCharge).toBe(5000);
    expect(c.rcvBudgetCounted).toBe(true);
    c.rcvNxt += 3000; // data arrived: the promise is 2000 now
    b.account(tcb(c));
    expect(b.promised).toBe(2000);
    expect(b.connections).toBe(1);
    const d = conn(0xffff_f000, 0x2000); // across the sequence wrap
    b.account(tcb(d));
    expect(b.promised).toBe(2000 + 0x2000);
    expect(b.connections).toBe(2);
  });

  it("a right edge behind RCV.NXT charges nothing (the promise is never negative)", () => {
    const b = new ReceiveBudget(1 << 20);
    const c = conn(1000, 0);
    c.rcvAdv = 900;
    b.account(tcb(c));
    expect(b.promised).toBe(0);
    expect(c.rcvBudgetCharge).toBe(0);
    expect(b.connections).toBe(1);
  });

  it("release gives the charge back once; a connection never counted releases nothing", () => {
    const b = new ReceiveBudget(1 << 20);
    const c = conn(0, 4000);
    const other = conn(0, 3000);
    b.account(tcb(c));
    b.account(tcb(other));
    b.release(tcb(c));
    expect(b.promised).toBe(3000);
    expect(b.connections).toBe(1);
    expect(c.rcvBudgetCharge).toBe(0);
    expect(c.rcvBudgetCounted).toBe(false);
    b.release(tcb(c));
    b.release(tcb(conn(0, 9999)));
    expect(b.promised).toBe(3000);
    expect(b.connections).toBe(1);
    // Accounted again after its release, it is counted again.
    b.account(tcb(c));
    expect(b.connections).toBe(2);
    expect(b.promised).toBe(7000);
  });

  it("without a limit nothing is counted and the growth limit stays unset", () => {
    const b = new ReceiveBudget();
    const c = conn(0, 4000);
    b.account(tcb(c));
    b.grow(tcb(c), 1000);
    expect(b.clamp(tcb(c), 123_456)).toBe(123_456);
    expect(b.promised).toBe(0);
    expect(b.connections).toBe(0);
    expect(b.limited).toBe(0);
    expect(c.rcvBudgetCounted).toBe(false);
    expect(c.rcvSsthresh).toBe(0);
  });

  it("grow opens the growth limit from 64 KiB by two bytes per byte received, up to the limit", () => {
    const b = new ReceiveBudget(100_000);
    const c = conn(0, 0);
    b.grow(tcb(c), 1000);
    expect(c.rcvSsthresh).toBe(INITIAL_GROWTH_LIMIT + 2000);
    b.grow(tcb(c), 500);
    expect(c.rcvSsthresh).toBe(INITIAL_GROWTH_LIMIT + 3000);
    b.grow(tcb(c), 100_000);
    expect(c.rcvSsthresh).toBe(100_000);
  });

  it("clamp: a connection alone gets the free buffer up to its growth limit, and the cut is counted", () => {
    const b = new ReceiveBudget(1 << 20);
    const c = conn(0, 0);
    expect(b.clamp(tcb(c), 200_000)).toBe(INITIAL_GROWTH_LIMIT);
    expect(c.rcvSsthresh).toBe(INITIAL_GROWTH_LIMIT);
    expect(b.limited).toBe(1);
    c.rcvSsthresh = 150_000;
    expect(b.clamp(tcb(c), 200_000)).toBe(150_000);
    expect(b.limited).toBe(2);
    // A free buffer exactly at what is allowed is not cut: returned whole, not counted.
    expect(b.clamp(tcb(c), 150_000)).toBe(150_000);
    expect(b.clamp(tcb(c), 149_999)).toBe(149_999);
    expect(b.limited).toBe(2);
  });

  it("clamp: at most the share, limit / connections, rounded down", () => {
    const b = new ReceiveBudget(300_001);
    const cs = [conn(0, 0), conn(0, 0), conn(0, 0)];
    for (const c of cs) {
      b.account(tcb(c));
      c.rcvSsthresh = 1 << 20;
    }
    expect(b.clamp(tcb(cs[0]!), 1 << 20)).toBe(100_000);
    expect(b.limited).toBe(1);
  });

  it("clamp: at most the room left under the limit, besides the connection's own charge", () => {
    const b = new ReceiveBudget(200_000);
    const big = conn(0, 150_000);
    const c = conn(0, 10_000);
    b.account(tcb(big));
    b.account(tcb(c));
    c.rcvSsthresh = 1 << 20;
    // Room: 200 000 - 150 000 (the other's charge); the share, 100 000, is larger.
    expect(b.clamp(tcb(c), 1 << 20)).toBe(50_000);
    // The room counts the others' charges only: this connection's own promise may be re-offered.
    c.rcvAdv = 40_000;
    expect(b.clamp(tcb(c), 1 << 20)).toBe(50_000);
    expect(b.promised).toBe(190_000);
  });

  it("clamp: never below two of the larger segment, the peer's or ours; a free buffer at or under that floor is returned as is", () => {
    const b = new ReceiveBudget(100_000);
    const big = conn(0, 100_000);
    b.account(tcb(big));
    const c = conn(0, 0, 536);
    c.rcvMss = 1000;
    c.sndMss = 536;
    expect(b.clamp(tcb(c), 50_000)).toBe(2000);
    c.rcvMss = 536;
    c.sndMss = 1200;
    expect(b.clamp(tcb(c), 50_000)).toBe(2400);
    expect(b.limited).toBe(2);
    // At or under the floor: the free buffer, not counted as limited.
    const d = conn(0, 0);
    expect(b.clamp(tcb(d), FLOOR)).toBe(FLOOR);
    expect(b.clamp(tcb(d), 100)).toBe(100);
    expect(b.limited).toBe(2);
    // Just over the floor, with no room: the floor.
    expect(b.clamp(tcb(d), FLOOR + 1)).toBe(FLOOR);
    expect(b.limited).toBe(3);
  });
});
