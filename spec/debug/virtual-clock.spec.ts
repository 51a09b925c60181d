import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";

describe("VirtualClock", () => {
  it("moves only when told, and now can be detached", () => {
    const clock = new VirtualClock(5);
    const now = clock.now;
    expect(now()).toBe(5);
    expect(clock.advance(10)).toBe(15);
    expect(now()).toBe(15);
    clock.set(20.5);
    expect(now()).toBe(20.5);
    clock.set(20.5);
    expect(now()).toBe(20.5);
  });

  it("never goes backwards", () => {
    const clock = new VirtualClock(100);
    expect(() => clock.set(99)).toThrow(InvalidArgumentError);
    expect(() => clock.advance(-1)).toThrow(InvalidArgumentError);
    expect(() => clock.advance(NaN)).toThrow(InvalidArgumentError);
    expect(() => clock.set(Infinity)).toThrow(InvalidArgumentError);
    expect(clock.now()).toBe(100);
  });
});
