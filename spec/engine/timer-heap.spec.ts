import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimerHeap, type HeapItem } from "../../lib/timer-heap.js";

interface Item extends HeapItem {
  id: number;
}

function item(id: number, deadline: number): Item {
  return { id, deadline, heapIndex: -1 };
}

/** Every parent is no later than its children, and every heapIndex points at its own slot. */
function checkInvariant(heap: TimerHeap<Item>, items: Item[]): void {
  const inHeap = items.filter((i) => i.heapIndex >= 0);
  expect(heap.size).toBe(inHeap.length);
  const slots: Item[] = [];
  for (const i of inHeap) {
    expect(heap.has(i)).toBe(true);
    slots[i.heapIndex] = i;
  }
  for (let k = 1; k < slots.length; k++) {
    expect(slots[(k - 1) >> 1]!.deadline).toBeLessThanOrEqual(slots[k]!.deadline);
  }
}

describe("TimerHeap", () => {
  it("pops in deadline order", () => {
    const h = new TimerHeap<Item>();
    const xs = [5, 1, 9, 3, 7, 3, 0].map((d, i) => item(i, d));
    xs.forEach((x) => h.add(x));
    const out: number[] = [];
    for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x.deadline);
    expect(out).toEqual([0, 1, 3, 3, 5, 7, 9]);
    expect(xs.every((x) => x.heapIndex === -1)).toBe(true);
  });

  it("is empty: peek undefined, nextDeadline Infinity, pop undefined", () => {
    const h = new TimerHeap<Item>();
    expect(h.peek()).toBeUndefined();
    expect(h.nextDeadline).toBe(Infinity);
    expect(h.pop()).toBeUndefined();
  });

  it("update moves an item both ways; remove takes it out; both no-ops when it is out", () => {
    const h = new TimerHeap<Item>();
    const a = item(1, 10);
    const b = item(2, 20);
    const c = item(3, 30);
    [a, b, c].forEach((x) => h.add(x));
    c.deadline = 5;
    h.update(c);
    expect(h.peek()).toBe(c);
    c.deadline = 50;
    h.update(c);
    expect(h.peek()).toBe(a);
    h.remove(a);
    expect(a.heapIndex).toBe(-1);
    expect(h.peek()).toBe(b);
    h.remove(a); // not in: nothing happens
    expect(h.size).toBe(2);
    const d = item(4, 1);
    h.update(d); // not in: inserted
    expect(h.peek()).toBe(d);
    h.add(d); // already in: repositioned, not duplicated
    expect(h.size).toBe(3);
  });

  it("has() is false for an item of another heap sharing an index", () => {
    const h1 = new TimerHeap<Item>();
    const h2 = new TimerHeap<Item>();
    const a = item(1, 1);
    const b = item(2, 2);
    h1.add(a);
    h2.add(b);
    expect(h1.has(b)).toBe(false);
  });

  it("matches a sorted-list model under random add/update/remove/pop", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), id: fc.nat(30), d: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ kind: fc.constant("update" as const), id: fc.nat(30), d: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ kind: fc.constant("remove" as const), id: fc.nat(30) }),
      fc.record({ kind: fc.constant("pop" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const h = new TimerHeap<Item>();
        const items = Array.from({ length: 31 }, (_, i) => item(i, 0));
        const model = new Map<number, number>(); // id -> deadline
        for (const o of ops) {
          if (o.kind === "add" || o.kind === "update") {
            const x = items[o.id]!;
            x.deadline = o.d;
            if (o.kind === "add") h.add(x);
            else h.update(x);
            model.set(o.id, o.d);
          } else if (o.kind === "remove") {
            h.remove(items[o.id]!);
            model.delete(o.id);
          } else {
            const x = h.pop();
            if (model.size === 0) {
              expect(x).toBeUndefined();
            } else {
              const min = Math.min(...model.values());
              expect(x!.deadline).toBe(min);
              expect(model.get(x!.id)).toBe(min);
              model.delete(x!.id);
            }
          }
          const min = model.size === 0 ? Infinity : Math.min(...model.values());
          expect(h.nextDeadline).toBe(min);
        }
        checkInvariant(h, items);
      }),
      { numRuns: 300 },
    );
  });
});
