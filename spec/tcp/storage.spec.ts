import { describe, expect, it } from "vitest";
import { MIN_STORAGE_BYTES, StoragePool, grownSize } from "../../lib/tcp/storage.js";

describe("grownSize", () => {
  it("starts at 4 KiB and doubles until the need fits", () => {
    expect(grownSize(0, 1, 1 << 20)).toBe(MIN_STORAGE_BYTES);
    expect(grownSize(0, 4097, 1 << 20)).toBe(8192);
    expect(grownSize(8192, 8193, 1 << 20)).toBe(16384);
    expect(grownSize(8192, 100_000, 1 << 20)).toBe(131072);
    // A need of exactly a power of two fits in that size.
    expect(grownSize(0, 4096, 1 << 20)).toBe(4096);
    expect(grownSize(4096, 8192, 1 << 20)).toBe(8192);
  });

  it("never exceeds the limit rounded up to a power of two", () => {
    expect(grownSize(0, 10, 100)).toBe(128);
    expect(grownSize(0, 100, 100)).toBe(128);
    expect(grownSize(65536, 70_000, 80_000)).toBe(131072);
    expect(grownSize(0, 1, 1)).toBe(1);
    expect(grownSize(0, 2 ** 30, 2 ** 30)).toBe(2 ** 30);
  });
});

describe("StoragePool", () => {
  it("hands back the arrays it was given, by size", () => {
    const pool = new StoragePool();
    const a = new Uint8Array(4096);
    const b = new Uint8Array(8192);
    pool.give(a);
    pool.give(b);
    expect(pool.pooledBytes).toBe(12288);
    expect(pool.take(8192)).toBe(b);
    expect(pool.take(4096)).toBe(a);
    expect(pool.pooledBytes).toBe(0);
    const fresh = pool.take(4096);
    expect(fresh).not.toBe(a);
    expect(fresh.length).toBe(4096);
  });

  it("keeps no more than its cap", () => {
    const pool = new StoragePool(10_000);
    pool.give(new Uint8Array(8192));
    pool.give(new Uint8Array(4096));
    expect(pool.pooledBytes).toBe(8192);
    // The cap is inclusive: a pool of exactly one array's size keeps it.
    const exact = new StoragePool(4096);
    exact.give(new Uint8Array(4096));
    expect(exact.pooledBytes).toBe(4096);
    expect(new StoragePool(-1).maxPooledBytes).toBe(0);
    const off = new StoragePool(0);
    off.give(new Uint8Array(4096));
    expect(off.pooledBytes).toBe(0);
  });

  it("ignores arrays that are not a whole power-of-two buffer", () => {
    const pool = new StoragePool();
    pool.give(new Uint8Array(0));
    pool.give(new Uint8Array(5000));
    pool.give(new Uint8Array(8192).subarray(0, 4096));
    expect(pool.pooledBytes).toBe(0);
  });

  it("clear drops everything", () => {
    const pool = new StoragePool();
    const a = new Uint8Array(4096);
    pool.give(a);
    pool.clear();
    expect(pool.pooledBytes).toBe(0);
    expect(pool.take(4096)).not.toBe(a);
  });
});
