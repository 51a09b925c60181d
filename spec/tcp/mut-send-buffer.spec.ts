/**
 * SendBuffer under the memory budget (lib/tcp/send-buffer.ts, lib/memory.ts): the ring is charged
 * exactly the storage it holds, at the point it grows; past the budget it takes what its storage
 * holds, an empty buffer falls back to the smallest page, and all is given back when the storage
 * goes back to the pool. The boundaries the mutation run found unpinned (issue 10).
 */
import { describe, expect, it } from "vitest";
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
