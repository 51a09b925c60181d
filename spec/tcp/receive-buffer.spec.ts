import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { FLOW_OUT_OF_ORDER_SHARE, MemoryBudget } from "../../lib/memory.js";
import { MEMORY_REFUSED, RECEIVE_REFUSED, ReceiveBuffer } from "../../lib/tcp/receive-buffer.js";
import { MIN_STORAGE_BYTES, StoragePool } from "../../lib/tcp/storage.js";

function bytes(n: number, from = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
}

/** Drains all readable bytes through peekContiguous/consume. */
function drain(b: ReceiveBuffer): number[] {
  const out: number[] = [];
  for (let guard = 0; b.readable > 0 && guard < 4; guard++) {
    const chunk = b.peekContiguous();
    out.push(...chunk);
    b.consume(chunk.length);
  }
  expect(b.readable).toBe(0);
  return out;
}

function ranges(b: ReceiveBuffer): Array<[number, number]> {
  const out = new Uint32Array(2 * b.maxRanges);
  const n = b.oooRanges(out, b.maxRanges);
  const r: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) r.push([out[2 * i]!, out[2 * i + 1]!]);
  return r;
}

describe("ReceiveBuffer", () => {
  it("starts empty with the whole capacity as window and no storage", () => {
    const b = new ReceiveBuffer(65536);
    expect(b.readable).toBe(0);
    expect(b.window).toBe(65536);
    expect(b.hasOutOfOrder).toBe(false);
    expect(b.capacityBytes).toBe(0);
    expect(b.peekContiguous().length).toBe(0);
    expect(b.maxRanges).toBe(32);
  });

  it("accepts in-order data, shrinking the window until the application consumes", () => {
    const b = new ReceiveBuffer(1000);
    expect(b.insert(0, bytes(100), 0, 100)).toBe(100);
    expect(b.insert(0, bytes(50, 100), 0, 50)).toBe(50);
    expect(b.readable).toBe(150);
    expect(b.window).toBe(850);
    expect(Array.from(b.peekContiguous())).toEqual(Array.from(bytes(150)));
    b.consume(100);
    expect(b.window).toBe(950);
    expect(drain(b)).toEqual(Array.from(bytes(50, 100)));
  });

  it("holds out-of-order data and joins it up when the hole fills", () => {
    const b = new ReceiveBuffer(10_000);
    const stream = bytes(300);
    expect(b.insert(200, stream, 200, 100)).toBe(0);
    expect(b.insert(100, stream, 100, 50)).toBe(0);
    expect(b.hasOutOfOrder).toBe(true);
    expect(b.oooRangeCount).toBe(2);
    expect(b.oooBytes).toBe(150);
    expect(b.readable).toBe(0);
    expect(b.window).toBe(10_000);
    // Fill [0, 100): joins [100, 150), stops at the hole [150, 200).
    expect(b.insert(0, stream, 0, 100)).toBe(150);
    expect(b.oooRangeCount).toBe(1);
    expect(ranges(b)).toEqual([[50, 150]]);
    // Fill [150, 200): joins [200, 300).
    expect(b.insert(0, stream, 150, 50)).toBe(150);
    expect(b.hasOutOfOrder).toBe(false);
    expect(b.oooBytes).toBe(0);
    expect(drain(b)).toEqual(Array.from(stream));
  });

  it("skips bytes already received when the offset is negative", () => {
    const b = new ReceiveBuffer(1000);
    b.insert(0, bytes(10), 0, 10);
    expect(b.insert(-5, bytes(20), 5, 15)).toBe(10);
    expect(drain(b)).toEqual(Array.from(bytes(20)));
    expect(b.insert(-3, bytes(3), 0, 3)).toBe(0);
    expect(b.readable).toBe(0);
  });

  it("stores overlapping and duplicate data once, first copy winning", () => {
    const b = new ReceiveBuffer(1000);
    expect(b.insert(10, bytes(20, 10), 0, 20)).toBe(0);
    expect(b.insert(10, new Uint8Array(20).fill(0xaa), 0, 20)).toBe(0);
    expect(b.insert(5, new Uint8Array(40).fill(0xbb), 0, 40)).toBe(0);
    expect(b.oooBytes).toBe(40);
    expect(ranges(b)).toEqual([[5, 45]]);
    expect(b.insert(0, bytes(10), 0, 10)).toBe(45);
    const got = drain(b);
    expect(got.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(got.slice(5, 10)).toEqual([0xbb, 0xbb, 0xbb, 0xbb, 0xbb]);
    expect(got.slice(10, 30)).toEqual(Array.from(bytes(20, 10)));
    expect(got.slice(30, 45)).toEqual(new Array(15).fill(0xbb));
  });

  it("trims what lies beyond the capacity, and ignores segments entirely beyond it", () => {
    const b = new ReceiveBuffer(100);
    expect(b.insert(0, bytes(150), 0, 150)).toBe(100);
    expect(b.window).toBe(0);
    expect(b.insert(0, bytes(1), 0, 1)).toBe(0);
    b.consume(30);
    expect(b.window).toBe(30);
    expect(b.insert(40, bytes(10), 0, 10)).toBe(0);
    expect(b.oooRangeCount).toBe(0);
    expect(b.insert(20, bytes(20), 0, 20)).toBe(0);
    expect(ranges(b)).toEqual([[20, 30]]);
  });

  it("keeps the window's right edge from moving left", () => {
    const b = new ReceiveBuffer(500);
    let delivered = 0;
    let rightEdge = 500;
    for (let i = 0; i < 50; i++) {
      b.insert(0, bytes(37), 0, 37);
      if (i % 3 === 0) {
        const n = b.peekContiguous().length;
        b.consume(n);
        delivered += n;
      }
      const edge = delivered + b.readable + b.window;
      expect(edge).toBeGreaterThanOrEqual(rightEdge);
      rightEdge = edge;
    }
  });

  it("refuses a segment needing a range beyond maxRanges, and stores nothing of it", () => {
    const b = new ReceiveBuffer(10_000, 2);
    expect(b.insert(100, bytes(10), 0, 10)).toBe(0);
    expect(b.insert(200, bytes(10), 0, 10)).toBe(0);
    expect(b.insert(300, bytes(10), 0, 10)).toBe(RECEIVE_REFUSED);
    expect(b.insert(50, bytes(10), 0, 10)).toBe(RECEIVE_REFUSED);
    expect(b.oooRangeCount).toBe(2);
    expect(b.oooBytes).toBe(20);
    // Touching or overlapping an existing range needs no new range.
    expect(b.insert(110, bytes(5), 0, 5)).toBe(0);
    expect(b.insert(190, bytes(10), 0, 10)).toBe(0);
    expect(b.oooBytes).toBe(35);
    // Bridging the two ranges frees one.
    expect(b.insert(115, bytes(75), 0, 75)).toBe(0);
    expect(b.oooRangeCount).toBe(1);
    expect(b.insert(300, bytes(10), 0, 10)).toBe(0);
    expect(b.oooRangeCount).toBe(2);
    // In-order data is always accepted.
    expect(b.insert(0, bytes(10), 0, 10)).toBe(10);
  });

  it("reports ranges for SACK most recently updated first (RFC 2018 §4)", () => {
    const b = new ReceiveBuffer(100_000);
    b.insert(1000, bytes(100), 0, 100); // A [1000, 1100)
    b.insert(3000, bytes(100), 0, 100); // B [3000, 3100)
    expect(ranges(b)).toEqual([
      [3000, 3100],
      [1000, 1100],
    ]);
    b.insert(1100, bytes(100), 0, 100); // extends A: A first
    expect(ranges(b)).toEqual([
      [1000, 1200],
      [3000, 3100],
    ]);
    b.insert(5000, bytes(100), 0, 100); // C
    b.insert(3000, bytes(10), 0, 10); // a duplicate inside B: B holds the latest segment
    expect(ranges(b)).toEqual([
      [3000, 3100],
      [5000, 5100],
      [1000, 1200],
    ]);
    // At most the number asked for.
    const out = new Uint32Array(4);
    expect(b.oooRanges(out, 2)).toBe(2);
    expect(Array.from(out)).toEqual([3000, 3100, 5000, 5100]);
    // Offsets are from RCV.NXT: in-order data moves them.
    b.insert(0, bytes(500), 0, 500);
    expect(ranges(b)[0]).toEqual([2500, 2600]);
  });

  it("grows its storage with the data held and releases it when empty", () => {
    const b = new ReceiveBuffer(1 << 20);
    b.insert(0, bytes(100), 0, 100);
    expect(b.capacityBytes).toBe(MIN_STORAGE_BYTES);
    b.insert(20_000, bytes(100), 0, 100); // out of order, 20 KB ahead
    expect(b.capacityBytes).toBe(32768);
    b.consume(100);
    expect(b.capacityBytes).toBe(32768); // out-of-order data still held
    b.insert(0, new Uint8Array(20_000), 0, 20_000);
    expect(b.readable).toBe(20_100);
    drain(b);
    expect(b.capacityBytes).toBe(0);
    expect(b.hasOutOfOrder).toBe(false);
  });

  it("never takes more storage than its capacity rounded up to a power of two", () => {
    const b = new ReceiveBuffer(5000);
    b.insert(4000, bytes(2000), 0, 2000);
    expect(b.capacityBytes).toBe(8192);
    const small = new ReceiveBuffer(100);
    small.insert(0, bytes(10), 0, 10);
    expect(small.capacityBytes).toBe(128);
  });

  it("takes its storage from the pool and gives it back, so steady traffic allocates nothing", () => {
    const pool = new StoragePool();
    const b = new ReceiveBuffer(1 << 20, 32, pool);
    b.insert(0, bytes(1460), 0, 1460);
    const storage = b.peekContiguous().buffer;
    b.consume(1460);
    expect(pool.pooledBytes).toBe(MIN_STORAGE_BYTES);
    for (let i = 0; i < 100; i++) {
      b.insert(0, bytes(1460), 0, 1460);
      expect(b.peekContiguous().buffer).toBe(storage);
      b.consume(1460);
    }
    expect(pool.pooledBytes).toBe(MIN_STORAGE_BYTES);
  });

  it("hands out the readable bytes in two views when the ring wraps", () => {
    const b = new ReceiveBuffer(4096);
    b.insert(0, bytes(4000), 0, 4000);
    b.consume(3900);
    b.insert(0, bytes(300, 4000), 0, 300); // wraps in the 4 KiB ring
    expect(b.readable).toBe(400);
    const first = b.peekContiguous();
    expect(first.length).toBe(196);
    expect(drain(b)).toEqual(Array.from(bytes(400, 3900)));
  });

  it("clear drops everything and releases storage", () => {
    const b = new ReceiveBuffer(10_000);
    b.insert(0, bytes(10), 0, 10);
    b.insert(100, bytes(10), 0, 10);
    b.clear();
    expect(b.readable).toBe(0);
    expect(b.hasOutOfOrder).toBe(false);
    expect(b.oooBytes).toBe(0);
    expect(b.capacityBytes).toBe(0);
    expect(b.window).toBe(10_000);
  });

  it("holds nothing for a segment that starts exactly at the window's right edge, or is empty", () => {
    // RFC 9293 §3.10.7.4: a segment is acceptable only if it begins or ends inside the window
    // (RCV.NXT =< SEG.SEQ < RCV.NXT + RCV.WND); none of one starting at the edge is kept.
    const b = new ReceiveBuffer(100);
    b.insert(0, bytes(40), 0, 40);
    b.consume(30); // right edge: 130 from the start, 90 from RCV.NXT
    expect(b.insert(90, bytes(10), 0, 10)).toBe(0);
    expect(b.hasOutOfOrder).toBe(false);
    expect(b.oooBytes).toBe(0);
    expect(b.insert(20, bytes(10), 0, 0)).toBe(0);
    expect(b.insert(0, bytes(10), 0, 0)).toBe(0);
    expect(b.hasOutOfOrder).toBe(false);
    expect(b.readable).toBe(10);
    // One byte inside the edge is held.
    expect(b.insert(89, bytes(10), 0, 10)).toBe(0);
    expect(ranges(b)).toEqual([[89, 90]]);
  });

  it("keeps out-of-order data when the application has read everything before the hole", () => {
    const b = new ReceiveBuffer(10_000);
    const stream = bytes(300);
    expect(b.insert(0, stream, 0, 100)).toBe(100);
    expect(b.insert(100, stream, 200, 100)).toBe(0); // [200, 300) beyond the hole [100, 200)
    expect(drain(b)).toEqual(Array.from(stream.subarray(0, 100)));
    expect(b.oooRangeCount).toBe(1);
    expect(ranges(b)).toEqual([[100, 200]]);
    expect(b.insert(0, stream, 100, 100)).toBe(200);
    expect(drain(b)).toEqual(Array.from(stream.subarray(100, 300)));
    expect(b.capacityBytes).toBe(0);
  });

  it("reads on from the ring's start when a consume ends exactly at the ring's end", () => {
    const b = new ReceiveBuffer(4096);
    b.insert(0, bytes(4000), 0, 4000);
    b.consume(2000);
    b.insert(0, bytes(200, 4000), 0, 200); // [2000, 4200): wraps past the 4 KiB ring's end
    b.consume(2096); // the read position is exactly at the ring's end
    expect(b.readable).toBe(104);
    expect(Array.from(b.peekContiguous())).toEqual(Array.from(bytes(104, 4096)));
    expect(drain(b)).toEqual(Array.from(bytes(104, 4096)));
  });

  it("writes in-order data that starts exactly at the ring's end at the ring's start", () => {
    const b = new ReceiveBuffer(4096);
    b.insert(0, bytes(4000), 0, 4000);
    b.consume(2000);
    b.insert(0, bytes(96, 4000), 0, 96); // the held data ends exactly at the ring's end
    expect(b.insert(0, bytes(50, 4096), 0, 50)).toBe(50);
    expect(drain(b)).toEqual(Array.from(bytes(2146, 2000)));
  });

  it("keeps the first copy of every byte a segment overlaps, across several ranges", () => {
    const b = new ReceiveBuffer(10_000);
    b.insert(10, new Uint8Array(10).fill(1), 0, 10); // [10, 20)
    b.insert(30, new Uint8Array(10).fill(2), 0, 10); // [30, 40)
    b.insert(50, new Uint8Array(10).fill(3), 0, 10); // [50, 60)
    const later = bytes(60, 0x40); // covers [5, 65)
    expect(b.insert(5, later, 0, 60)).toBe(0);
    expect(ranges(b)).toEqual([[5, 65]]);
    expect(b.insert(0, bytes(5), 0, 5)).toBe(65);
    const want = [...bytes(5)];
    for (let p = 5; p < 65; p++) {
      if (p >= 10 && p < 20) want.push(1);
      else if (p >= 30 && p < 40) want.push(2);
      else if (p >= 50 && p < 60) want.push(3);
      else want.push(later[p - 5]!);
    }
    expect(drain(b)).toEqual(want);
  });

  it("reports only the ranges asked for (RFC 2018 §3: at most the blocks that fit)", () => {
    const b = new ReceiveBuffer(100_000);
    b.insert(1000, bytes(100), 0, 100);
    b.insert(3000, bytes(100), 0, 100);
    b.insert(5000, bytes(100), 0, 100);
    const out = new Uint32Array(8).fill(7);
    expect(b.oooRanges(out, 2)).toBe(2);
    expect(Array.from(out)).toEqual([5000, 5100, 3000, 3100, 7, 7, 7, 7]);
    expect(b.oooRanges(out.fill(7), 8)).toBe(3);
    expect(Array.from(out)).toEqual([5000, 5100, 3000, 3100, 1000, 1100, 7, 7]);
  });

  it("reports no range that in-order data has joined to RCV.NXT (RFC 2018 §4)", () => {
    const b = new ReceiveBuffer(100_000);
    b.insert(100, bytes(100), 0, 100); // A
    b.insert(300, bytes(100), 0, 100); // B
    b.insert(600, bytes(100), 0, 100); // C
    b.insert(300, bytes(10), 0, 10); // B holds the latest segment
    // Fill [0, 100) and [200, 300): A and B join the in-order data; only C is left.
    expect(b.insert(200, bytes(100), 0, 100)).toBe(0);
    expect(b.insert(0, bytes(100), 0, 100)).toBe(400);
    expect(ranges(b)).toEqual([[200, 300]]);
    const out = new Uint32Array(2);
    expect(b.oooRanges(out, 1)).toBe(1);
    expect(Array.from(out)).toEqual([200, 300]);
  });

  it("gives its smaller storage back to the pool when it grows, and keeps it when data fills it exactly", () => {
    const pool = new StoragePool();
    const b = new ReceiveBuffer(1 << 20, 32, pool);
    b.insert(0, bytes(100), 0, 100);
    const first = b.peekContiguous().buffer;
    expect(b.insert(0, bytes(MIN_STORAGE_BYTES - 100, 100), 0, MIN_STORAGE_BYTES - 100)).toBe(MIN_STORAGE_BYTES - 100);
    expect(b.peekContiguous().buffer).toBe(first);
    expect(pool.pooledBytes).toBe(0);
    b.insert(0, bytes(100), 0, 100);
    expect(b.capacityBytes).toBe(2 * MIN_STORAGE_BYTES);
    expect(pool.pooledBytes).toBe(MIN_STORAGE_BYTES);
  });

  it("names the argument in its errors", () => {
    expect(() => new ReceiveBuffer(0)).toThrow(/ReceiveBuffer capacity/);
    expect(() => new ReceiveBuffer(100, 0)).toThrow(/ReceiveBuffer maxRanges/);
    const b = new ReceiveBuffer(100);
    expect(() => b.insert(0, bytes(10), 5, 6)).toThrow(/ReceiveBuffer\.insert: range 5\+6/);
    expect(() => b.insert(0.5, bytes(10), 0, 1)).toThrow(/ReceiveBuffer\.insert offset 0\.5/);
    expect(() => b.consume(1)).toThrow(/ReceiveBuffer\.consume\(1\) with 0 bytes readable/);
    b.insert(5, bytes(10), 0, 10);
    expect(() => b.oooRanges(new Uint32Array(1), 1)).toThrow(/ReceiveBuffer\.oooRanges: room for 0 ranges, 1 asked/);
  });

  it("rejects misuse with InvalidArgumentError", () => {
    expect(() => new ReceiveBuffer(0)).toThrow(InvalidArgumentError);
    expect(() => new ReceiveBuffer(100, 0)).toThrow(InvalidArgumentError);
    const b = new ReceiveBuffer(100);
    expect(() => b.insert(0, bytes(10), 5, 6)).toThrow(InvalidArgumentError);
    expect(() => b.insert(0.5, bytes(10), 0, 1)).toThrow(InvalidArgumentError);
    expect(() => b.consume(1)).toThrow(InvalidArgumentError);
    b.insert(5, bytes(10), 0, 10);
    expect(() => b.oooRanges(new Uint32Array(1), 1)).toThrow(InvalidArgumentError);
  });

  it("reassembles the exact stream from segments in any order, overlapping and duplicated (property)", () => {
    const scenario = fc.record({
      length: fc.integer({ min: 1, max: 20_000 }),
      capacity: fc.integer({ min: 64, max: 16_000 }),
      maxRanges: fc.integer({ min: 1, max: 8 }),
      cuts: fc.array(fc.nat({ max: 20_000 }), { maxLength: 40 }),
      seed: fc.integer(),
      steps: fc.array(
        fc.record({
          pick: fc.nat(),
          stretchLeft: fc.nat({ max: 3000 }),
          stretchRight: fc.nat({ max: 3000 }),
          consume: fc.nat({ max: 25_000 }),
        }),
        { minLength: 1, maxLength: 80 },
      ),
    });
    fc.assert(
      fc.property(scenario, ({ length, capacity, maxRanges, cuts, seed, steps }) => {
        const stream = bytes(length, seed & 0xff);
        const bounds = [...new Set([0, length, ...cuts.filter((c) => c < length)])].sort((a, b) => a - b);
        const segments: Array<[number, number]> = [];
        for (let i = 1; i < bounds.length; i++) segments.push([bounds[i - 1]!, bounds[i]!]);

        const b = new ReceiveBuffer(capacity, maxRanges);
        const have = new Uint8Array(length); // model: which stream bytes are held or delivered
        const delivered = new Uint8Array(length);
        let deliveredBytes = 0;
        const out = new Uint32Array(2 * maxRanges);

        const check = () => {
          const rcvNxt = deliveredBytes + b.readable;
          expect(b.window).toBe(capacity - b.readable);
          // The contiguous data is exactly the model's run from the read position.
          let run = deliveredBytes;
          while (run < length && have[run]) run++;
          expect(rcvNxt).toBe(run);
          // The ranges are exactly the model's runs beyond it (all inside the window).
          const modelRuns: string[] = [];
          const windowEnd = Math.min(length, deliveredBytes + capacity);
          for (let i = run; i < windowEnd; ) {
            if (!have[i]) {
              i++;
              continue;
            }
            let j = i;
            while (j < windowEnd && have[j]) j++;
            modelRuns.push(`${i - rcvNxt}-${j - rcvNxt}`);
            i = j;
          }
          const n = b.oooRanges(out, maxRanges);
          expect(n).toBe(b.oooRangeCount);
          expect(n).toBeLessThanOrEqual(maxRanges);
          const got: string[] = [];
          for (let i = 0; i < n; i++) got.push(`${out[2 * i]}-${out[2 * i + 1]}`);
          expect(got.sort()).toEqual(modelRuns.sort());
        };

        const arrive = (start: number, end: number) => {
          const rcvNxt = deliveredBytes + b.readable;
          const result = b.insert(start - rcvNxt, stream, start, end - start);
          if (result === RECEIVE_REFUSED) return;
          const limit = Math.min(end, deliveredBytes + capacity);
          for (let i = Math.max(start, rcvNxt); i < limit; i++) have[i] = 1;
          expect(result).toBeGreaterThanOrEqual(0);
          if (start > rcvNxt && start < limit) {
            // RFC 2018 §4: the first block reported holds the segment just received.
            expect(b.oooRanges(out, 1)).toBe(1);
            expect(out[0]! <= start - rcvNxt && start - rcvNxt < out[1]!).toBe(true);
          }
        };

        const consume = (n: number) => {
          let left = Math.min(n, b.readable);
          while (left > 0) {
            const chunk = b.peekContiguous();
            const take = Math.min(left, chunk.length);
            delivered.set(chunk.subarray(0, take), deliveredBytes);
            deliveredBytes += take;
            b.consume(take);
            left -= take;
          }
        };

        // Random arrivals: any segment, sometimes widened so that it overlaps its neighbours.
        for (const step of steps) {
          const [s, e] = segments[step.pick % segments.length]!;
          arrive(Math.max(0, s - step.stretchLeft), Math.min(length, e + step.stretchRight));
          check();
          consume(step.consume);
          check();
        }
        // Then the sender retransmits from RCV.NXT until everything is through.
        for (let guard = 0; deliveredBytes < length && guard <= length; guard++) {
          const rcvNxt = deliveredBytes + b.readable;
          arrive(rcvNxt, Math.min(length, rcvNxt + 1460));
          check();
          consume(capacity);
        }
        expect(deliveredBytes).toBe(length);
        expect(Buffer.from(delivered).equals(Buffer.from(stream))).toBe(true);
        expect(b.capacityBytes).toBe(0);
        expect(b.hasOutOfOrder).toBe(false);
      }),
      { numRuns: 150 },
    );
  });

  describe("out-of-order data per flow, under a memory budget", () => {
    const LIMIT = 256 * 1024; // a flow's share: 32 KiB
    const share = LIMIT * FLOW_OUT_OF_ORDER_SHARE;

    it("grows for out-of-order data up to the flow's share of the budget, not past it; in-order data still grows", () => {
      const budget = new MemoryBudget(LIMIT);
      const b = new ReceiveBuffer(256 * 1024, 32, new StoragePool(0), budget);
      expect(b.insert(1, bytes(1000), 0, 1000)).toBe(0);
      expect(budget.of(2)).toBe(MIN_STORAGE_BYTES);
      // Up to exactly the share: the ring doubles to 32 KiB.
      expect(b.insert(share - 1000, bytes(1000), 0, 1000)).toBe(0);
      expect(b.capacityBytes).toBe(share);
      // One byte further needs 64 KiB: refused, nothing stored, the ranges as they were.
      expect(b.insert(share, bytes(1), 0, 1)).toBe(MEMORY_REFUSED);
      expect(b.capacityBytes).toBe(share);
      expect(ranges(b)).toEqual([
        [share - 1000, share],
        [1, 1001],
      ]);
      expect(budget.refused[2]).toBe(0); // refused by the share, before the budget was asked
      // In-order data is not held to the share: the hole fills and beyond it the ring grows.
      expect(b.insert(0, bytes(1), 0, 1)).toBe(1001);
      expect(b.insert(0, bytes(share), 0, share)).toBe(share);
      expect(b.readable).toBe(1001 + share);
      expect(b.capacityBytes).toBe(2 * share);
      expect(budget.of(2)).toBe(share);
      expect(budget.of(1)).toBe(share);
      b.clear();
      expect(budget.total).toBe(0);
    });

    it("one byte at the far edge of the window does not cost a whole window's storage", () => {
      const budget = new MemoryBudget(LIMIT);
      const b = new ReceiveBuffer(256 * 1024, 32, new StoragePool(0), budget);
      expect(b.insert(200_000, bytes(1), 0, 1)).toBe(MEMORY_REFUSED);
      expect(b.capacityBytes).toBe(0);
      expect(budget.total).toBe(0);
      // Without a budget it is held (the window allows it).
      const free = new ReceiveBuffer(256 * 1024, 32, new StoragePool(0), new MemoryBudget());
      expect(free.insert(200_000, bytes(1), 0, 1)).toBe(0);
      expect(free.capacityBytes).toBe(256 * 1024);
    });
  });
});
