import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { MemoryBudget, MemoryKind } from "../../lib/memory.js";
import { SendBuffer } from "../../lib/tcp/send-buffer.js";
import { MIN_STORAGE_BYTES, StoragePool } from "../../lib/tcp/storage.js";

function bytes(n: number, from = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
}

function contents(b: SendBuffer): number[] {
  const out = new Uint8Array(b.length);
  b.copyOut(0, out, 0, b.length);
  return Array.from(out);
}

describe("SendBuffer", () => {
  it("starts empty with no storage", () => {
    const b = new SendBuffer(65536);
    expect(b.length).toBe(0);
    expect(b.free).toBe(65536);
    expect(b.capacityBytes).toBe(0);
  });

  it("writes, reads at an offset and consumes", () => {
    const b = new SendBuffer(1000);
    expect(b.write(bytes(10), 0, 10)).toBe(10);
    expect(b.write(bytes(10, 10), 2, 5)).toBe(5);
    expect(b.length).toBe(15);
    expect(contents(b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16]);
    const out = new Uint8Array(6).fill(0xee);
    b.copyOut(8, out, 1, 4);
    expect(Array.from(out)).toEqual([0xee, 8, 9, 12, 13, 0xee]);
    b.consume(9);
    expect(contents(b)).toEqual([9, 12, 13, 14, 15, 16]);
  });

  it("takes at most `free` bytes and reports how many", () => {
    const b = new SendBuffer(100);
    expect(b.write(bytes(60), 0, 60)).toBe(60);
    expect(b.write(bytes(60), 0, 60)).toBe(40);
    expect(b.free).toBe(0);
    expect(b.write(bytes(1), 0, 1)).toBe(0);
    b.consume(30);
    expect(b.write(bytes(60, 100), 0, 60)).toBe(30);
    expect(b.length).toBe(100);
  });

  it("grows by doubling from 4 KiB, up to maxBytes rounded up to a power of two", () => {
    const b = new SendBuffer(20_000);
    b.write(bytes(1), 0, 1);
    expect(b.capacityBytes).toBe(MIN_STORAGE_BYTES);
    b.write(bytes(5000), 0, 5000);
    expect(b.capacityBytes).toBe(8192);
    b.write(bytes(5000), 0, 5000);
    expect(b.capacityBytes).toBe(16384);
    expect(b.write(bytes(10_000), 0, 10_000)).toBe(9999);
    expect(b.capacityBytes).toBe(32768);
    expect(b.length).toBe(20_000);
  });

  it("takes less than 4 KiB when maxBytes is smaller", () => {
    const b = new SendBuffer(100);
    b.write(bytes(3), 0, 3);
    expect(b.capacityBytes).toBe(128);
  });

  it("returns its storage to the pool when empty and reuses it", () => {
    const pool = new StoragePool();
    const b = new SendBuffer(1 << 20, pool);
    b.write(bytes(10_000), 0, 10_000);
    expect(pool.pooledBytes).toBe(0);
    b.consume(10_000);
    expect(pool.pooledBytes).toBe(16384);
    b.write(bytes(10_000), 0, 10_000);
    expect(pool.pooledBytes).toBe(0);
    // Growing gives the smaller storage back.
    b.write(bytes(10_000), 0, 10_000);
    expect(b.capacityBytes).toBe(32768);
    expect(pool.pooledBytes).toBe(16384);
  });

  it("allocates enough for a large first write at once", () => {
    const b = new SendBuffer(1 << 20);
    b.write(bytes(100_000), 0, 100_000);
    expect(b.capacityBytes).toBe(131072);
  });

  it("releases its storage when everything is acknowledged", () => {
    const b = new SendBuffer(10_000);
    b.write(bytes(5000), 0, 5000);
    b.consume(4999);
    expect(b.capacityBytes).toBe(8192);
    b.consume(1);
    expect(b.capacityBytes).toBe(0);
    expect(b.length).toBe(0);
    b.write(bytes(10), 0, 10);
    expect(contents(b)).toEqual(Array.from(bytes(10)));
  });

  it("keeps the bytes in order across the ring's wrap point and through growth", () => {
    const b = new SendBuffer(1 << 16);
    b.write(bytes(4000), 0, 4000);
    b.consume(3000); // head near the end of the 4 KiB ring
    b.write(bytes(2000, 4000), 0, 2000); // wraps
    expect(b.capacityBytes).toBe(4096);
    expect(contents(b)).toEqual(Array.from(bytes(3000, 3000)));
    const out = new Uint8Array(200);
    b.copyOut(1000, out, 0, 200); // straddles the wrap
    expect(Array.from(out)).toEqual(Array.from(bytes(200, 4000)));
    b.write(bytes(3000, 6000), 0, 3000); // grows while wrapped
    expect(b.capacityBytes).toBe(8192);
    expect(contents(b)).toEqual(Array.from(bytes(6000, 3000)));
  });

  it("clear drops everything and releases storage", () => {
    const b = new SendBuffer(10_000);
    b.write(bytes(100), 0, 100);
    b.clear();
    expect(b.length).toBe(0);
    expect(b.capacityBytes).toBe(0);
  });

  it("rejects misuse with InvalidArgumentError", () => {
    expect(() => new SendBuffer(0)).toThrow(InvalidArgumentError);
    expect(() => new SendBuffer(1.5)).toThrow(InvalidArgumentError);
    expect(() => new SendBuffer(2 ** 30 + 1)).toThrow(InvalidArgumentError);
    const b = new SendBuffer(100);
    b.write(bytes(10), 0, 10);
    expect(() => b.write(bytes(10), 5, 6)).toThrow(InvalidArgumentError);
    expect(() => b.write(bytes(10), -1, 1)).toThrow(InvalidArgumentError);
    expect(() => b.consume(11)).toThrow(InvalidArgumentError);
    expect(() => b.consume(-1)).toThrow(InvalidArgumentError);
    expect(() => b.copyOut(5, new Uint8Array(10), 0, 6)).toThrow(InvalidArgumentError);
    expect(() => b.copyOut(0, new Uint8Array(4), 0, 5)).toThrow(InvalidArgumentError);
    expect(b.length).toBe(10);
  });

  it("behaves like a plain array (property)", () => {
    type Op =
      | { kind: "write"; data: Uint8Array; off: number; len: number }
      | { kind: "consume"; n: number }
      | { kind: "read"; offset: number; len: number };
    // Lengths are drawn explicitly: fast-check's default size would keep generated arrays tiny,
    // and the point is to cross the ring's wrap and the storage's growth steps.
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc
        .record({ len: fc.integer({ min: 0, max: 9000 }), off: fc.nat({ max: 16 }), seed: fc.nat({ max: 255 }) })
        .map(({ len, off, seed }) => ({ kind: "write" as const, data: bytes(off + len + 3, seed), off, len })),
      fc.nat({ max: 1 << 16 }).map((n) => ({ kind: "consume" as const, n })),
      fc.record({ kind: fc.constant("read" as const), offset: fc.nat({ max: 1 << 16 }), len: fc.nat({ max: 3000 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40_000 }), fc.array(op, { maxLength: 60 }), (maxBytes, ops) => {
        const b = new SendBuffer(maxBytes);
        let model: number[] = [];
        for (const o of ops) {
          if (o.kind === "write") {
            const taken = b.write(o.data, o.off, o.len);
            expect(taken).toBe(Math.min(o.len, maxBytes - model.length));
            model = model.concat(Array.from(o.data.subarray(o.off, o.off + taken)));
          } else if (o.kind === "consume") {
            const n = model.length === 0 ? 0 : o.n % (model.length + 1);
            b.consume(n);
            model = model.slice(n);
          } else if (model.length > 0) {
            const offset = o.offset % model.length;
            const len = Math.min(o.len, model.length - offset);
            const out = new Uint8Array(len + 2);
            b.copyOut(offset, out, 1, len);
            expect(Array.from(out.subarray(1, 1 + len))).toEqual(model.slice(offset, offset + len));
          }
          expect(b.length).toBe(model.length);
          expect(b.free).toBe(maxBytes - model.length);
          expect(b.capacityBytes).toBeLessThan(2 * maxBytes);
          expect(b.capacityBytes).toBeGreaterThanOrEqual(model.length);
          if (model.length === 0) expect(b.capacityBytes).toBe(0);
        }
        expect(contents(b)).toEqual(model);
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * Under the memory budget (lib/memory.ts): the ring is charged exactly the storage it holds, at the
 * point it grows; past the budget it takes what its storage holds, an empty buffer falls back to the
 * smallest page, and all is given back when the storage goes back to the pool (issue 10).
 */
describe("SendBuffer under the memory budget", () => {
  it("charges the storage it takes as it grows, and gives it all back once everything is acknowledged", () => {
    const budget = new MemoryBudget(1 << 20);
    const b = new SendBuffer(1 << 20, new StoragePool(), budget);
    expect(b.write(bytes(100), 0, 100)).toBe(100);
    expect(budget.of(MemoryKind.SEND)).toBe(MIN_STORAGE_BYTES);
    // Growth charges the difference only: 4 KiB -> 16 KiB is 12 KiB more.
    expect(b.write(bytes(10_000), 0, 10_000)).toBe(10_000);
    expect(b.capacityBytes).toBe(16384);
    expect(budget.of(MemoryKind.SEND)).toBe(16384);
    expect(budget.total).toBe(16384);
    b.consume(5000);
    expect(budget.of(MemoryKind.SEND)).toBe(16384); // still held
    b.consume(b.length);
    expect(budget.of(MemoryKind.SEND)).toBe(0);
    expect(budget.total).toBe(0);
  });

  it("clear gives the storage back to the budget", () => {
    const budget = new MemoryBudget(1 << 20);
    const b = new SendBuffer(1 << 20, new StoragePool(), budget);
    b.write(bytes(5000), 0, 5000);
    expect(budget.of(MemoryKind.SEND)).toBe(8192);
    b.clear();
    expect(budget.of(MemoryKind.SEND)).toBe(0);
    // A cleared buffer releases nothing twice.
    b.clear();
    expect(budget.total).toBe(0);
  });

  it("an empty buffer whose first write does not fit takes the smallest page and what fits in it", () => {
    // 100 000 bytes would want 128 KiB; the budget has 6 KiB: one 4 KiB page.
    const budget = new MemoryBudget(6144);
    const b = new SendBuffer(1 << 20, new StoragePool(), budget);
    expect(b.write(bytes(100_000), 0, 100_000)).toBe(MIN_STORAGE_BYTES);
    expect(b.capacityBytes).toBe(MIN_STORAGE_BYTES);
    expect(b.length).toBe(MIN_STORAGE_BYTES);
    expect(budget.of(MemoryKind.SEND)).toBe(MIN_STORAGE_BYTES);
    expect(contents(b)).toEqual(Array.from(bytes(MIN_STORAGE_BYTES)));
    // Full storage, no growth allowed: nothing more goes in, nothing is charged, the refusal counted.
    const refusedBefore = budget.refused[MemoryKind.SEND]!;
    expect(b.write(bytes(10), 0, 10)).toBe(0);
    expect(b.length).toBe(MIN_STORAGE_BYTES);
    expect(b.capacityBytes).toBe(MIN_STORAGE_BYTES);
    expect(budget.refused[MemoryKind.SEND]).toBe(refusedBefore + 1);
    expect(budget.of(MemoryKind.SEND)).toBe(MIN_STORAGE_BYTES);
  });

  it("an empty buffer takes nothing when not even the smallest page fits, and charges nothing", () => {
    const budget = new MemoryBudget(4000);
    const b = new SendBuffer(1 << 20, new StoragePool(), budget);
    expect(b.firstPage).toBe(MIN_STORAGE_BYTES);
    expect(b.write(bytes(10), 0, 10)).toBe(0);
    expect(b.length).toBe(0);
    expect(b.capacityBytes).toBe(0);
    expect(budget.total).toBe(0);
    expect(budget.refused[MemoryKind.SEND]).toBe(1);
  });

  it("a first write that fits the budget whole gets the size it asks for, not the smallest page", () => {
    const budget = new MemoryBudget(32768);
    const b = new SendBuffer(1 << 20, new StoragePool(), budget);
    expect(b.write(bytes(20_000), 0, 20_000)).toBe(20_000);
    expect(b.capacityBytes).toBe(32768);
    expect(budget.of(MemoryKind.SEND)).toBe(32768);
  });

  it("a held buffer refused growth takes what its storage still has room for, in order", () => {
    const budget = new MemoryBudget(6000);
    const b = new SendBuffer(1 << 20, new StoragePool(), budget);
    expect(b.write(bytes(4000), 0, 4000)).toBe(4000);
    // 4096 - 4000 = 96 bytes of room; growing to 8 KiB would pass the budget.
    expect(b.write(bytes(500, 4000), 0, 500)).toBe(96);
    expect(b.length).toBe(4096);
    expect(b.capacityBytes).toBe(MIN_STORAGE_BYTES);
    expect(contents(b)).toEqual(Array.from(bytes(4096)));
    // Once acknowledged, the room is there again without growing.
    b.consume(1000);
    expect(b.write(bytes(1500, 4096), 0, 1500)).toBe(1000);
    expect(contents(b)).toEqual(Array.from(bytes(4096, 1000)));
    expect(budget.of(MemoryKind.SEND)).toBe(MIN_STORAGE_BYTES);
  });

  it("firstPage is the smallest page an empty buffer takes: 4 KiB, or maxBytes rounded up to a power of two when smaller", () => {
    expect(new SendBuffer(1 << 20).firstPage).toBe(MIN_STORAGE_BYTES);
    expect(new SendBuffer(100).firstPage).toBe(128);
    expect(new SendBuffer(1).firstPage).toBe(1);
  });

  it("a write that fills exactly the free space is taken whole", () => {
    const b = new SendBuffer(100);
    expect(b.write(bytes(100), 0, 100)).toBe(100);
    expect(b.free).toBe(0);
    expect(b.write(bytes(0), 0, 0)).toBe(0);
    expect(b.capacityBytes).toBe(128);
  });

  it("wraps at exactly the end of the storage: a write ending there, then the next from index 0", () => {
    const b = new SendBuffer(1 << 16, new StoragePool());
    b.write(bytes(4096), 0, 4096); // fills the 4 KiB ring exactly
    b.consume(4000);
    expect(b.write(bytes(100, 4096), 0, 100)).toBe(100); // starts at index 0
    expect(b.capacityBytes).toBe(MIN_STORAGE_BYTES);
    expect(contents(b)).toEqual(Array.from(bytes(196, 4000)));
    const out = new Uint8Array(96);
    b.copyOut(0, out, 0, 96); // ends exactly at the wrap point
    expect(Array.from(out)).toEqual(Array.from(bytes(96, 4000)));
    const out2 = new Uint8Array(100);
    b.copyOut(96, out2, 0, 100); // starts exactly at it
    expect(Array.from(out2)).toEqual(Array.from(bytes(100, 4096)));
  });
});
