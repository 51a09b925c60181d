import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { SlotPool } from "../../lib/debug/slot-pool.js";

describe("SlotPool", () => {
  it("hands out every slot once, then undefined, and reuses released ones", () => {
    const pool = new SlotPool(3, 100, 1000);
    const got = [pool.acquire(10), pool.acquire(100), pool.acquire(0)];
    expect(got).toEqual([0, 1, 2]);
    expect(pool.free).toBe(0);
    expect(pool.acquire(10)).toBeUndefined();
    expect(pool.exhausted).toBe(1);
    pool.release(1);
    expect(pool.acquire(50)).toBe(1);
  });

  it("gives the same preallocated view for a slot, growing it once for a big request", () => {
    const pool = new SlotPool(2, 100, 1000);
    const s = pool.acquire(100)!;
    const view = pool.bytes(s);
    expect(view.length).toBe(100);
    expect(pool.bytes(s)).toBe(view);
    pool.release(s);
    const big = pool.acquire(700)!;
    expect(big).toBe(s);
    expect(pool.bytes(big).length).toBeGreaterThanOrEqual(700);
    expect(pool.grown).toBe(1);
    const bigView = pool.bytes(big);
    pool.release(big);
    expect(pool.bytes(pool.acquire(10)!)).toBe(bigView);
  });

  it("rejects misuse with typed errors", () => {
    const pool = new SlotPool(2, 100, 1000);
    expect(() => pool.acquire(1001)).toThrow(InvalidArgumentError);
    expect(() => pool.acquire(-1)).toThrow(InvalidArgumentError);
    expect(() => pool.bytes(0)).toThrow(InvalidArgumentError);
    expect(() => pool.release(0)).toThrow(InvalidArgumentError);
    const s = pool.acquire(1)!;
    pool.release(s);
    expect(() => pool.release(s)).toThrow(InvalidArgumentError);
    expect(() => pool.bytes(7)).toThrow(InvalidArgumentError);
    expect(() => new SlotPool(0, 100, 100)).toThrow(InvalidArgumentError);
    expect(() => new SlotPool(1, 100, 50)).toThrow(InvalidArgumentError);
  });
});
