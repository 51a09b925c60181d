/**
 * The memory budget (lib/memory.ts): charges by kind up to the limit and never past it, gives the
 * pressure levels in their order as the total grows, and releases exactly what was charged.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
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

  it("wantRoom: onRoom is called once, from the release after which the largest amount asked fits", () => {
    const m = new MemoryBudget(1000);
    let calls = 0;
    m.onRoom = () => calls++;
    m.tryCharge(MemoryKind.RECEIVE, 1000);
    m.wantRoom(100);
    m.wantRoom(300);
    m.wantRoom(200);
    m.release(MemoryKind.RECEIVE, 299);
    expect(calls).toBe(0);
    m.release(MemoryKind.RECEIVE, 1);
    expect(calls).toBe(1);
    m.release(MemoryKind.RECEIVE, 100);
    expect(calls).toBe(1);
    // Asked for again (a write refused again), heard again.
    m.tryCharge(MemoryKind.RECEIVE, 400);
    m.wantRoom(100);
    m.release(MemoryKind.RECEIVE, 100);
    expect(calls).toBe(2);
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

  it("takes a charge of exactly what is left; a refused charge changes nothing but its kind's refusal count", () => {
    const m = new MemoryBudget(1000);
    expect(m.tryCharge(MemoryKind.SEND, 999)).toBe(true);
    expect(m.tryCharge(MemoryKind.HALF_OPEN, 2)).toBe(false);
    expect(m.tryCharge(MemoryKind.TIME_WAIT, 2)).toBe(false);
    expect(m.tryCharge(MemoryKind.TIME_WAIT, 2)).toBe(false);
    expect(m.total).toBe(999);
    expect(m.of(MemoryKind.HALF_OPEN)).toBe(0);
    expect([...m.refused]).toEqual([0, 0, 0, 0, 1, 2, 0]);
    expect(m.tryCharge(MemoryKind.UDP_QUEUE, 1)).toBe(true);
    expect(m.total).toBe(1000);
    expect(m.available).toBe(0);
  });

  it("keeps each kind apart in of() and snapshot(), and the total their sum", () => {
    const m = new MemoryBudget(1 << 20);
    const kinds = Object.values(MemoryKind);
    kinds.forEach((k, i) => expect(m.tryCharge(k, 10 * (i + 1))).toBe(true));
    kinds.forEach((k, i) => expect(m.of(k)).toBe(10 * (i + 1)));
    expect(m.snapshot()).toEqual({ send: 10, receive: 20, outOfOrder: 30, fragments: 40, halfOpen: 50, timeWait: 60, udpQueue: 70 });
    expect(m.total).toBe(280);
    for (const k of kinds) m.release(k, m.of(k));
    expect(m.total).toBe(0);
    expect(m.pressure).toBe(MemoryPressure.NONE);
  });

  it("comes back down through the levels as memory is released, at the same thresholds (no hysteresis)", () => {
    const m = new MemoryBudget(100);
    m.tryCharge(MemoryKind.FRAGMENTS, 100);
    const levels: number[] = [];
    for (let i = 0; i < 100; i++) {
      m.release(MemoryKind.FRAGMENTS, 1);
      levels.push(m.pressure);
    }
    // After i + 1 releases, 99 - i bytes are held: REFUSE down to 90, PRUNE to 75, SHRINK to 50.
    expect(levels.lastIndexOf(MemoryPressure.REFUSE)).toBe(9);
    expect(levels.lastIndexOf(MemoryPressure.PRUNE)).toBe(24);
    expect(levels.lastIndexOf(MemoryPressure.SHRINK)).toBe(49);
    expect(levels.at(-1)).toBe(MemoryPressure.NONE);
  });

  it("counts without refusing when unbounded, and rejects a limit that is not positive", () => {
    const m = new MemoryBudget();
    expect(m.tryCharge(MemoryKind.SEND, 2 ** 40)).toBe(true);
    expect(m.pressure).toBe(MemoryPressure.NONE);
    expect(() => new MemoryBudget(0)).toThrow(/positive/);
    expect(() => new MemoryBudget(NaN)).toThrow(/positive/);
    expect(() => new MemoryBudget(-1)).toThrow(InvalidArgumentError);
    expect(() => new MemoryBudget(-Infinity)).toThrow(InvalidArgumentError);
    expect(new MemoryBudget(Infinity).available).toBe(Infinity);
  });
});
