/**
 * The memory budget in the engine (maxMemory; memory-budget.spec.ts tests lib/memory.ts alone): under a flood of each kind the bound holds, the engine
 * never throws, an established flow keeps working and gets its bytes exactly, one source cannot starve
 * another, and the charge returns to 0 once every flow is gone (the leak detector).
 */
import { describe, expect, it } from "vitest";
import type { Callbacks, Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { HALF_OPEN_BYTES } from "../../lib/memory.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { Flag as TcpFlag } from "../support/oracle/numbers.js";
import { get32 as read32 } from "../support/oracle/octets.js";
import { fragment, tcp, udp } from "../support/packets.js";

const LIMIT = 256 * 1024;

function rig(maxMemory = LIMIT) {
  const clock = new VirtualClock(1000);
  const engine = new L3L4Builder<Uint8Array>().clock(clock.now).maxMemory(maxMemory).build();
  const tx = new Uint8Array(70_000);
  let lastTx = 0;
  const got = new Map<Flow, number[]>();
  const cb: Callbacks<Uint8Array> = {
    l3TxBuffer: () => tx,
    l3TxBufferMut: (b) => b,
    l3Tx: (_b, len) => {
      lastTx = len;
    },
    l4Rx: (flow, data) => {
      if (data === null) return;
      let a = got.get(flow);
      if (a === undefined) got.set(flow, (a = []));
      for (const b of data) a.push(b);
    },
  };
  let peak = 0;
  const rx = (p: Uint8Array): Flow | undefined => {
    const f = engine.l3Rx(cb, p);
    const used = engine.stats().memoryInUse;
    if (used > peak) peak = used;
    return f;
  };
  const peer = (i: number) => ({ src: `10.1.${(i >> 8) & 255}.${i & 255}`, dst: "198.51.100.7", srcPort: 20000 + (i & 0x3fff), dstPort: 443 });
  /** A passive open with a real handshake; the flow, and the ISS + 1 to acknowledge. */
  const open = (i: number): { flow: Flow; ack: number } => {
    lastTx = 0;
    rx(tcp({ ...peer(i), seq: 1000, flags: TcpFlag.SYN, window: 65535, options: { mss: 1460, sackPermitted: true, windowScale: 7 } }));
    expect(lastTx).toBeGreaterThan(40);
    const ack = (read32(tx, 24) + 1) >>> 0;
    const flow = rx(tcp({ ...peer(i), seq: 1001, ack, flags: TcpFlag.ACK, window: 512 }));
    expect(flow).toBeDefined();
    expect(engine.l4State(flow!)).toBe("ESTABLISHED");
    return { flow: flow!, ack };
  };
  return { clock, engine, cb, rx, peer, open, got, peakOf: () => peak };
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255);

describe("maxMemory", () => {
  it("is checked by the builder", () => {
    expect(() => new L3L4Builder().maxMemory(1000).build()).toThrow(RangeError);
    expect(() => new L3L4Builder().maxMemory(1.5e6 + 0.5).build()).toThrow(RangeError);
    expect(new L3L4Builder().maxMemory(Infinity).build().stats().memoryLimit).toBe(Infinity);
    expect(new L3L4Builder().build().stats().memoryLimit).toBe(Infinity);
  });

  it("out-of-order flood from many flows: bound holds, counted, an established flow gets its bytes, charge returns to 0", () => {
    const r = rig();
    const victim = r.open(0);
    const flows: Flow[] = [];
    for (let i = 1; i <= 60; i++) {
      const { flow, ack } = r.open(i);
      flows.push(flow);
      // Each flood flow leaves a hole at 1001 and sends out-of-order segments after it.
      for (let k = 1; k <= 40; k++) {
        r.rx(tcp({ ...r.peer(i), seq: 1001 + k * 1460, ack, flags: TcpFlag.ACK, payload: bytes(1400, k) }));
      }
    }
    const s = r.engine.stats();
    expect(r.peakOf()).toBeLessThanOrEqual(LIMIT);
    expect(s.memoryDroppedOutOfOrder).toBeGreaterThan(0);
    expect(s.memory.outOfOrder).toBeGreaterThan(0);
    expect(s.memory.outOfOrder).toBeLessThanOrEqual(LIMIT);
    // The established flow still works: in-order data straight through, exactly.
    const data = bytes(5000, 3);
    for (let off = 0; off < data.length; off += 1000) {
      r.rx(tcp({ ...r.peer(0), seq: 1001 + off, ack: victim.ack, flags: TcpFlag.ACK, payload: data.subarray(off, off + 1000) }));
    }
    expect(Uint8Array.from(r.got.get(victim.flow) ?? [])).toEqual(data);
    // Every flow gone: nothing left charged.
    for (const f of [...flows, victim.flow]) r.engine.l4Abort(r.cb, f);
    expect(r.engine.flowCount).toBe(0);
    expect(r.engine.stats().memoryInUse).toBe(0);
    expect(Object.values(r.engine.stats().memory).every((v) => v === 0)).toBe(true);
  });

  it("one flow's out-of-order data stops at its share of the budget (an eighth); another flow's is still held", () => {
    const r = rig();
    const hog = r.open(1);
    for (let k = 1; k <= 150; k++) {
      r.rx(tcp({ ...r.peer(1), seq: 1001 + k * 1460, ack: hog.ack, flags: TcpFlag.ACK, payload: bytes(1400, k) }));
    }
    const s = r.engine.stats();
    expect(s.memory.outOfOrder).toBeLessThanOrEqual(LIMIT / 8);
    expect(s.memoryDroppedOutOfOrder).toBeGreaterThan(0);
    const other = r.open(2);
    const before = r.engine.stats().memoryDroppedOutOfOrder;
    r.rx(tcp({ ...r.peer(2), seq: 1001 + 1460, ack: other.ack, flags: TcpFlag.ACK, payload: bytes(1400, 1) }));
    expect(r.engine.stats().memoryDroppedOutOfOrder).toBe(before);
    expect(r.engine.l4Info(other.flow)!.recvQueue).toBe(1400);
    // The hog fills its hole: what it was allowed to keep is delivered, in order, exactly.
    const kept = r.engine.l4Info(hog.flow)!.recvQueue;
    const first = bytes(1460, 0);
    r.rx(tcp({ ...r.peer(1), seq: 1001, ack: hog.ack, flags: TcpFlag.ACK, payload: first }));
    const got = Uint8Array.from(r.got.get(hog.flow) ?? []);
    expect(got.length).toBeGreaterThan(1460);
    expect(got.subarray(0, 1460)).toEqual(first);
    expect(got.subarray(1460, 1460 + 1400)).toEqual(bytes(1400, 1));
    expect(kept).toBeGreaterThan(0);
    r.engine.l4Abort(r.cb, hog.flow);
    r.engine.l4Abort(r.cb, other.flow);
    expect(r.engine.stats().memoryInUse).toBe(0);
  });

  it("paused flows fill their receive buffers only up to the budget, and deliver exactly what was accepted", () => {
    const r = rig(128 * 1024);
    const flows: { flow: Flow; ack: number; i: number; next: number }[] = [];
    for (let i = 0; i < 8; i++) {
      const o = r.open(i);
      r.engine.l4PauseRx(o.flow);
      flows.push({ ...o, i, next: 1001 });
    }
    for (let round = 0; round < 40; round++) {
      for (const f of flows) {
        r.rx(tcp({ ...r.peer(f.i), seq: f.next, ack: f.ack, flags: TcpFlag.ACK, payload: bytes(1400, round) }));
        const info = r.engine.l4Info(f.flow)!;
        f.next = 1001 + info.bytesIn;
      }
    }
    const s = r.engine.stats();
    expect(r.peakOf()).toBeLessThanOrEqual(128 * 1024);
    expect(s.memoryDroppedInOrder).toBeGreaterThan(0);
    // Resumed, each flow delivers exactly the bytes it accepted.
    for (const f of flows) {
      r.engine.l4ResumeRx(r.cb, f.flow);
      expect(r.got.get(f.flow)?.length ?? 0).toBe(f.next - 1001);
    }
    for (const f of flows) r.engine.l4Abort(r.cb, f.flow);
    expect(r.engine.stats().memoryInUse).toBe(0);
  });

  it("fragment flood from many sources: bound holds, counted; another source still reassembles; charge returns to 0", () => {
    const r = rig();
    let threw = false;
    try {
      for (let i = 0; i < 400; i++) {
        // First fragments only: never complete.
        const big = udp({ src: `10.2.${i >> 8}.${i & 255}`, dst: "198.51.100.7", srcPort: 5000, dstPort: 53, payload: bytes(3000, i) });
        for (const f of fragment(big, 1480, i).slice(0, 2)) r.rx(f);
      }
    } catch {
      threw = true;
    }
    expect(threw).toBe(false);
    const s = r.engine.stats();
    expect(r.peakOf()).toBeLessThanOrEqual(LIMIT);
    expect(s.memoryDroppedFragments).toBeGreaterThan(0);
    expect(s.memory.fragments).toBeGreaterThan(0);
    r.clock.advance(31_000);
    r.engine.l4Poll(r.cb);
    expect(r.engine.stats().memory.fragments).toBe(0);
  });

  it("one source flooding fragments cannot starve another", () => {
    const r = rig();
    for (let i = 0; i < 300; i++) {
      const big = udp({ src: "10.3.0.1", dst: "198.51.100.7", srcPort: 5000, dstPort: 53, payload: bytes(3000, i) });
      for (const f of fragment(big, 1480, i).slice(0, 2)) r.rx(f);
    }
    expect(r.engine.stats().memory.fragments).toBeLessThanOrEqual(LIMIT / 4);
    const payload = bytes(3000, 9);
    const other = udp({ src: "10.3.0.2", dst: "198.51.100.7", srcPort: 6000, dstPort: 53, payload });
    let flow: Flow | undefined;
    for (const f of fragment(other, 1480, 77)) flow = r.rx(f) ?? flow;
    expect(flow).toBeDefined();
    expect(Uint8Array.from(r.got.get(flow!) ?? [])).toEqual(payload);
  });

  it("UDP datagrams to a paused flow: bound holds, counted, resume delivers what was kept, close gives it back", () => {
    const r = rig();
    const first = r.rx(udp({ src: "10.4.0.1", dst: "198.51.100.7", srcPort: 7000, dstPort: 53, payload: bytes(10, 1) }))!;
    r.engine.l4PauseRx(first);
    for (let i = 0; i < 250; i++) r.rx(udp({ src: "10.4.0.1", dst: "198.51.100.7", srcPort: 7000, dstPort: 53, payload: bytes(1400, i) }));
    const s = r.engine.stats();
    expect(r.peakOf()).toBeLessThanOrEqual(LIMIT);
    expect(s.memoryDroppedDatagrams).toBeGreaterThan(0);
    expect(s.memory.udpQueue).toBeGreaterThan(0);
    const kept = Math.round(s.memory.udpQueue / (1400 + 64));
    r.engine.l4ResumeRx(r.cb, first);
    expect(r.got.get(first)!.length).toBe(10 + kept * 1400);
    expect(r.engine.stats().memory.udpQueue).toBe(0);
    r.engine.l4PauseRx(first);
    for (let i = 0; i < 5; i++) r.rx(udp({ src: "10.4.0.1", dst: "198.51.100.7", srcPort: 7000, dstPort: 53, payload: bytes(100, i) }));
    expect(r.engine.stats().memory.udpQueue).toBeGreaterThan(0);
    r.engine.l4Abort(r.cb, first);
    expect(r.engine.stats().memoryInUse).toBe(0);
  });

  it("SYN flood: half-open records stay under the budget (cookies from half of it on), then 0", () => {
    const r = rig(64 * 1024);
    let threw = false;
    try {
      for (let i = 0; i < 2000; i++) {
        r.rx(tcp({ ...r.peer(i), seq: 5000, flags: TcpFlag.SYN, window: 65535, options: { mss: 1460 } }));
      }
    } catch {
      threw = true;
    }
    expect(threw).toBe(false);
    const s = r.engine.stats();
    expect(r.peakOf()).toBeLessThanOrEqual(64 * 1024);
    expect(s.memory.halfOpen).toBeGreaterThan(0);
    expect(s.memorySynCookies).toBeGreaterThan(0);
    expect(s.memoryRefusedFlows).toBe(0);
    // The handshakes time out: nothing is left charged.
    r.clock.advance(60_000);
    r.engine.l4Poll(r.cb);
    r.clock.advance(60_000);
    r.engine.l4Poll(r.cb);
    expect(r.engine.stats().tcpHalfOpen).toBe(0);
    expect(r.engine.stats().memoryInUse).toBe(0);
  });

  it("a SYN flood alone stops at half the budget: from there SYNs get cookies (memorySynCookies), never a RST, and a client still connects", () => {
    for (const limit of [64 * 1024, 100 * 1024]) {
      const r = rig(limit);
      let records = 0;
      let cookies = 0;
      for (let i = 0; i < 200; i++) {
        const before = r.engine.stats();
        let flags = -1;
        const cb = { ...r.cb, l3Tx: (b: Uint8Array) => void (flags = b[33]!) };
        r.engine.l3Rx(cb, tcp({ ...r.peer(i), seq: 5000, flags: TcpFlag.SYN, window: 65535, options: { mss: 1460 } }));
        const after = r.engine.stats();
        expect(flags).toBe(TcpFlag.SYN | TcpFlag.ACK);
        expect(after.memoryRefusedFlows).toBe(0);
        if (before.memoryInUse >= 0.5 * limit) {
          // The budget's first step: a cookie, no record, counted.
          expect(after.memory.halfOpen).toBe(before.memory.halfOpen);
          expect(after.memorySynCookies).toBe(before.memorySynCookies + 1);
          cookies++;
        } else {
          expect(after.memory.halfOpen).toBe(before.memory.halfOpen + HALF_OPEN_BYTES);
          expect(after.memorySynCookies).toBe(before.memorySynCookies);
          records++;
        }
      }
      expect(records).toBeGreaterThan(0);
      expect(cookies).toBeGreaterThan(0);
      expect(r.peakOf()).toBeLessThan(0.5 * limit + HALF_OPEN_BYTES);
      // A legitimate client, past the flood, completes its handshake through its cookie.
      expect(r.open(10_000).flow).toBeDefined();
    }
  });

  it("a SYN from 90 % of the budget on is refused with a RST and counted", () => {
    const limit = 128 * 1024;
    const r = rig(limit);
    // Paused flows' in-order data takes the budget past 90 % (what only the application can give back).
    const flows: { flow: Flow; ack: number; i: number; next: number }[] = [];
    for (let i = 0; i < 8; i++) {
      const o = r.open(i);
      r.engine.l4PauseRx(o.flow);
      flows.push({ ...o, i, next: 1001 });
    }
    for (let round = 0; round < 40 && r.engine.stats().memoryInUse < 0.9 * limit; round++) {
      for (const f of flows) {
        r.rx(tcp({ ...r.peer(f.i), seq: f.next, ack: f.ack, flags: TcpFlag.ACK, payload: bytes(1400, round) }));
        f.next = 1001 + r.engine.l4Info(f.flow)!.bytesIn;
      }
    }
    expect(r.engine.stats().memoryInUse).toBeGreaterThanOrEqual(0.9 * limit);
    for (let i = 100; i < 110; i++) {
      const before = r.engine.stats();
      let flags = -1;
      const cb = { ...r.cb, l3Tx: (b: Uint8Array) => void (flags = b[33]!) };
      r.engine.l3Rx(cb, tcp({ ...r.peer(i), seq: 5000, flags: TcpFlag.SYN, window: 65535, options: { mss: 1460 } }));
      expect(flags).toBe(TcpFlag.RST | TcpFlag.ACK);
      expect(r.engine.stats().memoryRefusedFlows).toBe(before.memoryRefusedFlows + 1);
    }
    for (const f of flows) r.engine.l4Abort(r.cb, f.flow);
    expect(r.engine.stats().memoryInUse).toBe(0);
  });

  it("TIME-WAIT records are charged and given back when they expire", () => {
    const r = rig();
    const { flow, ack } = r.open(1);
    r.engine.l4LocalClose(r.cb, flow);
    // Our FIN is at ISS + 1; the peer acknowledges it and sends its own FIN: we go to TIME-WAIT.
    r.rx(tcp({ ...r.peer(1), seq: 1001, ack: (ack + 1) >>> 0, flags: TcpFlag.ACK | TcpFlag.FIN }));
    expect(r.engine.stats().memory.timeWait).toBe(240);
    r.clock.advance(61_000);
    r.engine.l4Poll(r.cb);
    expect(r.engine.stats().memoryInUse).toBe(0);
  });
});
