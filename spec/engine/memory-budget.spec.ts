/**
 * The memory budget (lib/memory.ts): charges by kind up to the limit and never past it, gives the
 * pressure levels in their order as the total grows, and releases exactly what was charged.
 */
import { describe, expect, it } from "vitest";
import { MemoryBudget, MemoryKind, MemoryPressure } from "../../lib/memory.js";

describe("MemoryBudget", () => {
  it("charges up to the limit, refuses past it (counted by kind) and releases", () => {
    const m = new MemoryBudget(1000);
    expect(m.tryCharge(MemoryKind.OUT_OF_ORDER, 600)).toBe(true);
    expect(m.tryCharge(MemoryKind.FRAGMENTS, 400)).toBe(true);
    expect(m.tryCharge(MemoryKind.FRAGMENTS, 1)).toBe(false);
    expect(m.refused[MemoryKind.FRAGMENTS]).toBe(1);
    expect(m.total).toBe(1000);
    expect(m.available).toBe(0);
    m.release(MemoryKind.OUT_OF_ORDER, 600);
    expect(m.snapshot()).toEqual({ send: 0, receive: 0, outOfOrder: 0, fragments: 400, halfOpen: 0, timeWait: 0, udpQueue: 0 });
    expect(m.available).toBe(600);
  });

  it("moves through SHRINK, PRUNE and REFUSE as the total reaches 50, 75 and 90 %", () => {
    const m = new MemoryBudget(100);
    const levels: number[] = [];
    for (let i = 0; i < 100; i++) {
      m.tryCharge(MemoryKind.RECEIVE, 1);
      levels.push(m.pressure);
    }
    expect(levels.indexOf(MemoryPressure.SHRINK)).toBe(49);
    expect(levels.indexOf(MemoryPressure.PRUNE)).toBe(74);
    expect(levels.indexOf(MemoryPressure.REFUSE)).toBe(89);
  });

  it("counts without refusing when unbounded, and rejects a limit that is not positive", () => {
    const m = new MemoryBudget();
    expect(m.tryCharge(MemoryKind.SEND, 2 ** 40)).toBe(true);
    expect(m.pressure).toBe(MemoryPressure.NONE);
    expect(() => new MemoryBudget(0)).toThrow(/positive/);
    expect(() => new MemoryBudget(NaN)).toThrow(/positive/);
  });
});
