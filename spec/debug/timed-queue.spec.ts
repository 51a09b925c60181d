import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { TimedQueue } from "../../lib/debug/timed-queue.js";

describe("TimedQueue", () => {
  it("pops by time, then by order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const q = new TimedQueue<{ at: number; order: number }>();
        times.forEach((at, order) => q.push({ at, order }));
        expect(q.size).toBe(times.length);
        const out: { at: number; order: number }[] = [];
        for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e);
        const expected = times.map((at, order) => ({ at, order })).sort((x, y) => x.at - y.at || x.order - y.order);
        expect(out).toEqual(expected);
        expect(q.peek()).toBeUndefined();
      }),
    );
  });

  it("interleaves pushes and pops correctly", () => {
    const q = new TimedQueue<{ at: number; order: number }>();
    q.push({ at: 5, order: 0 });
    q.push({ at: 1, order: 1 });
    expect(q.pop()?.at).toBe(1);
    q.push({ at: 3, order: 2 });
    q.push({ at: 5, order: 3 });
    expect(q.pop()).toEqual({ at: 3, order: 2 });
    expect(q.pop()).toEqual({ at: 5, order: 0 });
    expect(q.pop()).toEqual({ at: 5, order: 3 });
    expect(q.size).toBe(0);
  });
});
