/**
 * "The engine never throws and never grows past the budget" (issue 13): memory in use is checked
 * after every engine call and inside every callback, through floods of every kind at the smallest
 * budget; the two ways it used to be passed (the first page of an empty send buffer, a TIME-WAIT
 * record with no older one to give way) now stay under it, and what they cost instead is exact: a
 * write refused outright gets l4TxReady once a page is free, a connection with no room for its
 * TIME-WAIT record closes without one, counted.
 */
import { describe, expect, it } from "vitest";
import type { Callbacks, Flow } from "../../lib/api.js";
import { L3L4Builder, MIN_MEMORY_BUDGET } from "../../lib/builder.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { Flag } from "../support/oracle/numbers.js";
import { fragment, parse, tcp, udp } from "../support/packets.js";

const LIMIT = MIN_MEMORY_BUDGET; // 64 KiB: 16 send pages
const PAGE = 4096;

function rig(limit = LIMIT) {
  const clock = new VirtualClock(1000);
  const engine = new L3L4Builder<Uint8Array>().clock(clock.now).maxMemory(limit).build();
  let peak = 0;
  const check = () => {
    const used = engine.stats().memoryInUse;
    if (used > peak) peak = used;
    expect(used).toBeLessThanOrEqual(limit);
  };
  const sent: Uint8Array[] = [];
  const txReady: Flow[] = [];
  const got = new Map<Flow, number>();
  const cb: Callbacks<Uint8Array> = {
    l3TxBuffer: (n) => new Uint8Array(n),
    l3TxBufferMut: (b) => b,
    l3Tx: (b, len) => {
      check();
      sent.push(b.slice(0, len));
    },
    l4Rx: (flow, data) => {
      check();
      if (data !== null) got.set(flow, (got.get(flow) ?? 0) + data.length);
    },
    l4TxReady: (flow) => {
      check();
      txReady.push(flow);
    },
  };
  /** Every engine call, then the bound. */
  const step = <R>(f: () => R): R => {
    const r = f();
    check();
    return r;
  };
  const rx = (p: Uint8Array) => step(() => engine.l3Rx(cb, p));
  const peer = (i: number) => ({ src: `10.7.${(i >> 8) & 255}.${i & 255}`, dst: "198.51.100.7", srcPort: 20000 + (i & 0x3fff), dstPort: 443 });
  /** A passive open, its handshake complete: the flow, our ISS + 1 (ack) and the peer's next seq. */
  const open = (i: number) => {
    sent.length = 0;
    rx(tcp({ ...peer(i), seq: 1000, flags: "S", window: 65535, options: { mss: 1460 } }));
    const synAck = parse(sent.at(-1)!).tcp!;
    expect(synAck.flags).toBe(Flag.SYN | Flag.ACK);
    const ack = (synAck.seq + 1) >>> 0;
    const flow = rx(tcp({ ...peer(i), seq: 1001, ack, flags: "A", window: 65535 }));
    expect(engine.l4State(flow!)).toBe("ESTABLISHED");
    return { flow: flow!, ack, i };
  };
  const write = (f: Flow, n: number) => step(() => engine.l4Tx(cb, f, new Uint8Array(n).fill(7)));
  return { clock, engine, cb, rx, step, peer, open, write, sent, txReady, got, peakOf: () => peak };
}

describe("maxMemory is never passed", () => {
  it("an empty send buffer gets no page past the budget; its write is refused and l4TxReady comes once a page is free", () => {
    const r = rig();
    // Flows open first: from 90 % of the budget new ones are refused.
    const full = Array.from({ length: LIMIT / PAGE }, (_, i) => r.open(i));
    const late = r.open(100);
    for (const o of full) expect(r.write(o.flow, PAGE)).toBe(PAGE);
    expect(r.engine.stats().memory.send).toBe(LIMIT);
    expect(r.write(late.flow, 1000)).toBe(0);
    expect(r.engine.stats().memoryInUse).toBe(LIMIT);
    expect(r.engine.stats().memorySendLimited).toBe(1);
    expect(r.txReady).toEqual([]);
    // A second refusal while waiting: still one l4TxReady later.
    expect(r.write(late.flow, 1000)).toBe(0);
    // The first flow's peer acknowledges everything: its page goes back, and the waiting flow hears.
    r.rx(tcp({ ...r.peer(0), seq: 1001, ack: (full[0]!.ack + PAGE) >>> 0, flags: "A", window: 65535 }));
    expect(r.engine.stats().memory.send).toBe(LIMIT - PAGE);
    expect(r.txReady).toEqual([late.flow]);
    expect(r.write(late.flow, 1000)).toBe(1000);
    expect(r.engine.stats().memoryInUse).toBe(LIMIT);
  });

  it("a connection that ends while it waits for a page is forgotten: the others still hear", () => {
    const r = rig();
    const full = Array.from({ length: LIMIT / PAGE }, (_, i) => r.open(i));
    const a = r.open(100);
    const b = r.open(101);
    for (const o of full) expect(r.write(o.flow, PAGE)).toBe(PAGE);
    expect(r.write(a.flow, 10)).toBe(0);
    expect(r.write(b.flow, 10)).toBe(0);
    r.step(() => r.engine.l4Abort(r.cb, a.flow));
    r.rx(tcp({ ...r.peer(0), seq: 1001, ack: (full[0]!.ack + PAGE) >>> 0, flags: "A", window: 65535 }));
    expect(r.txReady).toEqual([b.flow]);
  });

  it("a write into an empty buffer takes the smallest page when a bigger one does not fit, and only what that page holds", () => {
    const r = rig();
    const others = Array.from({ length: LIMIT / PAGE - 1 }, (_, i) => r.open(i));
    const o = r.open(100);
    for (const f of others) expect(r.write(f.flow, PAGE)).toBe(PAGE);
    // 20 KB would want a 32 KiB ring; one page is left.
    expect(r.write(o.flow, 20_000)).toBe(PAGE);
    expect(r.engine.stats().memory.send).toBe(LIMIT);
    expect(r.engine.l4Info(o.flow)!.sendQueue).toBe(PAGE);
  });

  it("a TIME-WAIT record with no room and none older to give way: the connection closes without one, counted", () => {
    const r = rig();
    const others = Array.from({ length: LIMIT / PAGE }, (_, i) => r.open(i));
    const c = r.open(200);
    for (const f of others) expect(r.write(f.flow, PAGE)).toBe(PAGE);
    r.step(() => r.engine.l4LocalClose(r.cb, c.flow));
    // The peer acknowledges our FIN and sends its own: TIME-WAIT, for which there is no room.
    r.rx(tcp({ ...r.peer(200), seq: 1001, ack: (c.ack + 1) >>> 0, flags: "FA" }));
    const s = r.engine.stats();
    expect(s.memoryInUse).toBe(LIMIT);
    expect(s.memory.timeWait).toBe(0);
    expect(s.tcpTimeWaitOverflow).toBe(1);
    expect(r.engine.l4State(c.flow)).toBeUndefined();
    expect(r.engine.flowCount).toBe(LIMIT / PAGE);
    // A retransmitted FIN finds no record: answered as any segment for no connection (RST).
    r.sent.length = 0;
    r.rx(tcp({ ...r.peer(200), seq: 1001, ack: (c.ack + 1) >>> 0, flags: "FA" }));
    expect(parse(r.sent[0]!).tcp!.flags & Flag.RST).toBe(Flag.RST);
  });

  it("past the budget the oldest TIME-WAIT record gives way to the newest", () => {
    const r = rig();
    const others = Array.from({ length: LIMIT / PAGE - 1 }, (_, i) => r.open(i));
    const closing = Array.from({ length: 18 }, (_, i) => r.open(300 + i));
    for (const f of others) expect(r.write(f.flow, PAGE)).toBe(PAGE);
    // One page left: 17 records of 240 bytes fit in it, the 18th takes the oldest's place.
    for (const c of closing) {
      r.step(() => r.engine.l4LocalClose(r.cb, c.flow));
      r.rx(tcp({ ...r.peer(c.i), seq: 1001, ack: (c.ack + 1) >>> 0, flags: "FA" }));
    }
    const flows = closing.map((c) => c.flow);
    const s = r.engine.stats();
    expect(s.memory.timeWait).toBe(17 * 240);
    expect(s.tcpTimeWaitOverflow).toBe(1);
    expect(r.engine.l4State(flows[0]!)).toBeUndefined();
    expect(r.engine.l4State(flows[17]!)).toBe("TIME-WAIT");
  });

  it("through floods of every kind at the smallest budget, memory in use stays <= the budget at every step, and goes back to 0", () => {
    const r = rig();
    const flows: ReturnType<typeof r.open>[] = [];
    const seqOf = new Map<Flow, number>();
    let threw = false;
    try {
      for (let round = 0; round < 6; round++) {
        // New connections (refused with RST at 90 %), some paused, and application writes on all.
        for (let k = 0; k < 8; k++) {
          const i = round * 8 + k;
          r.sent.length = 0;
          r.rx(tcp({ ...r.peer(i), seq: 1000, flags: "S", window: 65535, options: { mss: 1460 } }));
          const reply = parse(r.sent.at(-1)!).tcp!;
          if (reply.flags !== (Flag.SYN | Flag.ACK)) continue;
          const flow = r.rx(tcp({ ...r.peer(i), seq: 1001, ack: (reply.seq + 1) >>> 0, flags: "A", window: 65535 }));
          if (flow === undefined) continue;
          const o = { flow, ack: (reply.seq + 1) >>> 0, i };
          flows.push(o);
          seqOf.set(flow, 1001);
          if (i % 3 === 0) r.step(() => r.engine.l4PauseRx(flow));
          r.write(flow, 3000 + 1000 * (i % 9));
        }
        for (const o of flows) {
          const s0 = seqOf.get(o.flow)!;
          // In order (paused flows hold it), then out of order past a hole.
          r.rx(tcp({ ...r.peer(o.i), seq: s0, ack: o.ack, flags: "A", window: 65535, payload: new Uint8Array(1400).fill(round) }));
          seqOf.set(o.flow, 1001 + (r.engine.l4Info(o.flow)?.bytesIn ?? 0));
          for (let k = 1; k <= 4; k++) {
            r.rx(tcp({ ...r.peer(o.i), seq: seqOf.get(o.flow)! + k * 1500, ack: o.ack, flags: "A", payload: new Uint8Array(1400) }));
          }
          if (o.i % 5 === round) r.write(o.flow, 6000);
        }
        // A SYN flood (half-open records, then cookies, then RSTs), fragments, UDP to paused flows.
        for (let k = 0; k < 300; k++) r.rx(tcp({ ...r.peer(5000 + round * 300 + k), seq: 7, flags: "S", options: { mss: 1460 } }));
        for (let k = 0; k < 40; k++) {
          const big = udp({ src: `10.8.${round}.${k}`, dst: "198.51.100.7", srcPort: 5000, dstPort: 53, payload: new Uint8Array(3000) });
          for (const f of fragment(big, 1480, round * 100 + k).slice(0, 2)) r.rx(f);
        }
        const u = r.rx(udp({ src: "10.9.0.1", dst: "198.51.100.7", srcPort: 6000 + round, dstPort: 53, payload: "x" }));
        if (u !== undefined) {
          r.step(() => r.engine.l4PauseRx(u));
          for (let k = 0; k < 60; k++) r.rx(udp({ src: "10.9.0.1", dst: "198.51.100.7", srcPort: 6000 + round, dstPort: 53, payload: new Uint8Array(1000) }));
        }
        // Some connections close actively: TIME-WAIT records under pressure.
        for (const o of flows.filter((f) => f.i % 4 === round % 4)) {
          if (r.engine.l4State(o.flow) !== "ESTABLISHED") continue;
          r.step(() => r.engine.l4LocalClose(r.cb, o.flow));
        }
        r.clock.advance(300);
        r.step(() => r.engine.l4Poll(r.cb));
      }
    } catch (e) {
      threw = true;
      throw e;
    }
    expect(threw).toBe(false);
    const s = r.engine.stats();
    expect(r.peakOf()).toBeLessThanOrEqual(LIMIT);
    expect(r.peakOf()).toBeGreaterThan(LIMIT * 0.9); // the floods did reach the budget
    expect(s.memorySendLimited).toBeGreaterThan(0);
    expect(s.memoryRefusedFlows).toBeGreaterThan(0);
    expect(s.memoryDroppedOutOfOrder + s.memoryDroppedInOrder).toBeGreaterThan(0);
    expect(s.memoryDroppedFragments).toBeGreaterThan(0);
    // Everything ends: nothing is left charged.
    for (const o of flows) r.step(() => r.engine.l4Abort(r.cb, o.flow));
    for (let t = 0; t < 10; t++) {
      r.clock.advance(30_000);
      r.step(() => r.engine.l4Poll(r.cb));
    }
    expect(r.engine.flowCount).toBe(0);
    expect(r.engine.stats().memoryInUse).toBe(0);
  });
});
