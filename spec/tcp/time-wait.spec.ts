/**
 * TIME-WAIT records as rows (lib/tcp/time-wait.ts): their index against a model, expiry in order by
 * the FIFO (one timer-heap item), 2*MSL restarted by a retransmitted FIN moving a row to the tail, the
 * maxTimeWait bound (the oldest reused, counted), and the heap a record costs. The RFC behaviours
 * (RFC 9293 §3.10.7.4, RFC 1337, RFC 6191) are in close.spec.ts and reset.spec.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Callbacks } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import type { FlowRecord } from "../../lib/flow/flow.js";
import { MemoryBudget, MemoryKind, TIME_WAIT_BYTES } from "../../lib/memory.js";
import { TimeWaitTable } from "../../lib/tcp/time-wait.js";
import type { TcpSegmentWriter } from "../../lib/tcp/writer.js";
import { Flag as TcpFlag } from "../support/oracle/numbers.js";
import { parse, tcp } from "../support/packets.js";
import { skipOrFailInCi } from "../support/privileges.js";
import { fillTimeWait, timeWaitPeer } from "../support/time-wait-fill.js";

const gc = (globalThis as { gc?: () => void }).gc;
const CONN = { sndMax: 1, rcvNxt: 2, tsOk: false, tsRecent: 0, tsOffset: 0, flow: undefined };

function capture(): Callbacks<Uint8Array> & { sent: Uint8Array[] } {
  const tx = new Uint8Array(2048);
  const sent: Uint8Array[] = [];
  return {
    sent,
    l3TxBuffer: () => tx,
    l3TxBufferMut: (b) => b,
    l3Tx: (b, len) => {
      sent.push(b.slice(0, len));
    },
    l4Rx: () => {},
  };
}

describe("TimeWaitTable rows", () => {
  it("finds exactly the rows it holds through any order of adds and forgets (backward-shift index, growth), and expires them oldest first", () => {
    const writer = { write: () => true } as unknown as TcpSegmentWriter;
    fc.assert(
      // size "max": up to 600 operations over 301 keys, so the rows grow past 16 (and again) and the
      // index is rebuilt at 5/8 load (fast-check's default size keeps arrays near 10 long).
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 600, size: "max" }), (ops) => {
        const t = new TimeWaitTable(writer, 1 << 20);
        /** key -> [row, expiry]: every add expires later than the one before (2*MSL from a later now). */
        const model = new Map<number, [number, number]>();
        const key = new Int32Array(10);
        // A few hashes on purpose, so probe runs are long and deletions shift.
        const keyOf = (k: number) => {
          key.fill(0);
          key[0] = (4 << 8) | 6;
          key[1] = k;
          return k & 7;
        };
        let expiry = 1e9;
        for (const [add, k] of ops) {
          const h = keyOf(k);
          if (add && !model.has(k)) {
            expiry++;
            model.set(k, [t.add(key, h, expiry, CONN, 0, true, () => {}), expiry]);
          } else if (!add && model.has(k)) {
            t.forget(model.get(k)![0]);
            model.delete(k);
          }
        }
        const findsTheModel = (now: number) => {
          expect(t.size).toBe(model.size);
          for (let k = 0; k <= 300; k++) {
            const h = keyOf(k);
            expect(t.find(key, h, now)).toBe(model.has(k) ? model.get(k)![0] : -1);
          }
          const expiries = [...model.values()].map(([, e]) => e);
          expect(t.deadline).toBe(expiries.length === 0 ? Infinity : Math.min(...expiries));
        };
        findsTheModel(0);
        // The FIFO (through every unlink) still holds the rows in expiry order: expiring the older
        // half leaves exactly the younger one.
        const middle = 1e9 + Math.floor((expiry - 1e9) / 2);
        t.expire(middle);
        for (const [k, [, e]] of model) if (e <= middle) model.delete(k);
        findsTheModel(0);
        t.expire(Infinity);
        model.clear();
        findsTheModel(0);
      }),
      { numRuns: 60 },
    );
  });

  it("past its bound (maxTimeWait) an add reuses the oldest row, and says so", () => {
    const t = new TimeWaitTable({ write: () => true } as unknown as TcpSegmentWriter, 3);
    const key = new Int32Array(10);
    let overflows = 0;
    const rows: number[] = [];
    for (let k = 0; k < 5; k++) {
      key[1] = k;
      rows.push(t.add(key, k, 100 + k, CONN, 0, true, () => overflows++));
      expect(t.size).toBe(Math.min(k + 1, 3));
    }
    expect(overflows).toBe(2);
    for (let k = 0; k < 5; k++) {
      key[1] = k;
      expect(t.find(key, k, 0)).toBe(k < 2 ? -1 : rows[k]);
    }
    expect(t.deadline).toBe(102);
  });

  it("a reference goes stale when its row is forgotten and reused", () => {
    const t = new TimeWaitTable({ write: () => true } as unknown as TcpSegmentWriter, 8);
    const key = new Int32Array(10);
    const r = t.add(key, 1, 100, CONN, 0, true, () => {});
    const ref = t.ref(r);
    expect(t.alive(ref, 0)).toBe(true);
    expect(t.alive(ref, 100)).toBe(false); // its 2*MSL is over
    t.forget(r);
    key[1] = 9;
    expect(t.add(key, 2, 100, CONN, 0, true, () => {})).toBe(r);
    expect(t.alive(ref, 0)).toBe(false);
  });
});

describe("TIME-WAIT expiry and bound through the engine", () => {
  it("records expire oldest first from one timer; a retransmitted FIN restarts 2*MSL and moves its record to the end", () => {
    const clock = new VirtualClock(1000);
    const engine = new L3L4Builder<Uint8Array>().clock(clock.now).build();
    const cb = capture();
    fillTimeWait(engine, 1, 0); // A, expires at 61 s
    clock.set(11_000);
    fillTimeWait(engine, 1, 1); // B, expires at 71 s
    expect(engine.l4Poll(cb)).toBe(61_000);
    clock.set(21_000);
    engine.l3Rx(cb, tcp({ ...timeWaitPeer(0), seq: 1001, ack: 5, flags: TcpFlag.FIN | TcpFlag.ACK }));
    expect(cb.sent.map((p) => parse(p).tcp!.flags)).toEqual([TcpFlag.ACK]);
    // A now expires at 81 s, after B: the queue's timer still stands at 61 s, finds B first and moves on.
    clock.set(61_000);
    expect(engine.l4Poll(cb)).toBe(71_000);
    clock.set(71_000);
    expect(engine.l4Poll(cb)).toBe(81_000);
    // B is gone: a stray ACK gets a RST (RFC 9293 §3.10.7.1); A still answers a FIN.
    cb.sent.length = 0;
    engine.l3Rx(cb, tcp({ ...timeWaitPeer(1), seq: 1002, ack: 5, flags: TcpFlag.ACK }));
    expect(cb.sent.map((p) => parse(p).tcp!.flags)).toEqual([TcpFlag.RST]);
    clock.set(81_000);
    expect(engine.l4Poll(cb)).toBeUndefined();
    expect(engine.stats().tcpTimeWait).toBe(2);
  });

  it("past maxTimeWait the oldest record is reused and counted (tcpTimeWaitOverflow)", () => {
    const clock = new VirtualClock(1000);
    const engine = new L3L4Builder<Uint8Array>().clock(clock.now).maxTimeWait(3).build();
    const flows = fillTimeWait(engine, 5, 0, true);
    expect(flows.map((f) => engine.l4State(f))).toEqual([undefined, undefined, "TIME-WAIT", "TIME-WAIT", "TIME-WAIT"]);
    expect(engine.stats()).toMatchObject({ tcpTimeWait: 5, tcpTimeWaitOverflow: 2 });
    // The 4-tuple whose record was reused is free again: l4Connect may take it.
    const p = timeWaitPeer(0);
    const again = engine.l4Connect(capture(), { protocol: "tcp", srcIp: p.dst, srcPort: p.dstPort, dstIp: p.src, dstPort: p.srcPort });
    expect(engine.l4State(again)).toBe("SYN-SENT");
    const q = timeWaitPeer(4);
    expect(() => engine.l4Connect(capture(), { protocol: "tcp", srcIp: q.dst, srcPort: q.dstPort, dstIp: q.src, dstPort: q.srcPort })).toThrow(/exists/);
  });

  it("maxTimeWait is checked by build()", () => {
    expect(() => new L3L4Builder().maxTimeWait(0).build()).toThrow(RangeError);
    expect(() => new L3L4Builder().maxTimeWait(1.5).build()).toThrow(RangeError);
  });

  it("20,000 TIME-WAIT records cost at most 256 bytes of heap each (a FlowRecord and an object each cost ~770)", async (ctx) => {
    skipOrFailInCi(ctx, gc === undefined ? "global.gc (run node with --expose-gc, as spec/vitest.config.ts does)" : undefined);
    const heap = () => {
      for (let i = 0; i < 3; i++) gc!();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const clock = new VirtualClock(1000);
    const engine = new L3L4Builder<Uint8Array>().clock(clock.now).build();
    const before = heap();
    fillTimeWait(engine, 20_000);
    // A record holds its flow weakly, and a WeakRef's target lives to the end of the job that made it.
    await new Promise((resolve) => setImmediate(resolve));
    const each = (heap() - before) / 20_000;
    console.log(`memory: 20000 TIME-WAIT records, ${each.toFixed(0)} bytes each`);
    expect(engine.flowCount).toBe(0);
    expect(engine.stats().tcpTimeWait).toBe(20_000);
    expect(each).toBeLessThan(256);
  });
});

// Boundaries of the table's own contract the mutation run found unpinned (issue 10, round 2): the
// instant a record's 2*MSL is over, the end that opened the connection, references that never named
// a row, held rows without and within the memory budget, and a deletion whose probe run wraps past
// the end of the index.
describe("TimeWaitTable: boundaries", () => {
  const writer = { write: () => true } as unknown as TcpSegmentWriter;
  const keyFor = (k: number) => {
    const key = new Int32Array(10);
    key[0] = (4 << 8) | 6;
    key[1] = k;
    return key;
  };

  it("a record is gone at exactly its expiry: find forgets it then, as expire() and alive() would", () => {
    const t = new TimeWaitTable(writer, 8);
    const key = keyFor(1);
    const r = t.add(key, 1, 100, CONN, 0, true, () => {});
    expect(t.find(key, 1, 99)).toBe(r);
    expect(t.find(key, 1, 100)).toBe(-1);
    expect(t.size).toBe(0);
    expect(t.find(key, 1, 50)).toBe(-1); // forgotten, not merely hidden
  });

  it("activeOpen: the row remembers whether we opened the connection (l4Connect)", () => {
    const t = new TimeWaitTable(writer, 8);
    const flow = (activeOpen: boolean) => ({ activeOpen }) as unknown as FlowRecord;
    const a = t.add(keyFor(1), 1, 100, { ...CONN, flow: flow(true) }, 0, true, () => {});
    const p = t.add(keyFor(2), 2, 100, { ...CONN, flow: flow(false) }, 0, true, () => {});
    const none = t.add(keyFor(3), 3, 100, CONN, 0, true, () => {});
    expect(t.activeOpen(a)).toBe(true);
    expect(t.activeOpen(p)).toBe(false);
    expect(t.activeOpen(none)).toBe(false);
  });

  it("a negative reference (a flow that never had a record) is not alive", () => {
    const t = new TimeWaitTable(writer, 8);
    t.add(keyFor(1), 1, 100, CONN, 0, true, () => {});
    expect(t.alive(-1, 0)).toBe(false);
  });

  it("without a memory budget a held row is made, unlisted, and release lists it", () => {
    const t = new TimeWaitTable(writer, 8);
    const key = keyFor(1);
    const r = t.add(key, 1, 100, CONN, 0, false, () => {});
    expect(r).toBeGreaterThanOrEqual(0);
    expect(t.size).toBe(0);
    expect(t.find(key, 1, 0)).toBe(-1);
    expect(t.release(r, () => {})).toBe(true);
    expect(t.size).toBe(1);
    expect(t.find(key, 1, 0)).toBe(r);
  });

  it("a listed add the budget has no room for, with no record to give way: no row (-1), counted", () => {
    const memory = new MemoryBudget(TIME_WAIT_BYTES);
    const t = new TimeWaitTable(writer, 8, memory);
    const held = t.add(keyFor(1), 1, 100, CONN, 0, false, () => {}); // charged: it fits
    expect(memory.of(MemoryKind.TIME_WAIT)).toBe(TIME_WAIT_BYTES);
    let overflows = 0;
    expect(t.add(keyFor(2), 2, 100, CONN, 0, true, () => overflows++)).toBe(-1);
    expect(overflows).toBe(1);
    expect(t.size).toBe(0);
    expect(t.find(keyFor(2), 2, 0)).toBe(-1);
    expect(t.alive(t.ref(held), 0)).toBe(true);
  });

  it("a held row charged only at release: false (and forgotten) without room, else charged until forgotten", () => {
    const memory = new MemoryBudget(TIME_WAIT_BYTES);
    const t = new TimeWaitTable(writer, 8, memory);
    expect(memory.tryCharge(MemoryKind.HALF_OPEN, TIME_WAIT_BYTES)).toBe(true); // the budget is full
    const r1 = t.add(keyFor(1), 1, 100, CONN, 0, false, () => {});
    const ref1 = t.ref(r1);
    expect(memory.of(MemoryKind.TIME_WAIT)).toBe(0);
    let overflows = 0;
    expect(t.release(r1, () => overflows++)).toBe(false);
    expect(overflows).toBe(1);
    expect(t.alive(ref1, 0)).toBe(false);
    const r2 = t.add(keyFor(2), 2, 100, CONN, 0, false, () => {});
    memory.release(MemoryKind.HALF_OPEN, TIME_WAIT_BYTES); // room again
    expect(t.release(r2, () => {})).toBe(true);
    expect(memory.of(MemoryKind.TIME_WAIT)).toBe(TIME_WAIT_BYTES);
    t.forget(r2);
    expect(memory.of(MemoryKind.TIME_WAIT)).toBe(0);
  });

  it("rows whose probe run wraps past the end of the index are all found after deletions (backward shift across the wrap)", () => {
    // 16 rows, an index of 32 slots: hash 31 is the last slot, so its run continues at slot 0.
    // Each layout's run crosses the wrap; every row is deleted first in turn, then its successor.
    const layouts = [
      [31, 31, 31, 0],
      [30, 31, 0], // deleting the first: the row at slot 0 is at home and stays
      [30, 31, 31], // deleting the first: the row at slot 0 belongs to slot 31, past the hole: it stays
    ];
    for (const hashes of layouts) {
      for (let gone = 0; gone < hashes.length; gone++) {
        const t = new TimeWaitTable(writer, 8);
        const rows = hashes.map((h, k) => t.add(keyFor(k), h, 100, CONN, 0, true, () => {}));
        t.forget(rows[gone]!);
        hashes.forEach((h, k) => expect(t.find(keyFor(k), h, 0)).toBe(k === gone ? -1 : rows[k]));
        // A second deletion across the wrap, then the rest are still there.
        const second = (gone + 1) % hashes.length;
        t.forget(rows[second]!);
        hashes.forEach((h, k) => expect(t.find(keyFor(k), h, 0)).toBe(k === gone || k === second ? -1 : rows[k]));
      }
    }
  });
});

