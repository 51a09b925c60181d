/**
 * A binary min-heap of timed items, earliest `at` first and, at equal times, lowest `order`
 * first (so items due together leave in the order they were queued). No allocation once the
 * backing array has grown to its working size.
 */

export interface Timed {
  /** When the item is due (ms). */
  at: number;
  /** Tie-break for equal `at`: unique and increasing in queueing order. */
  order: number;
}

function before(x: Timed, y: Timed): boolean {
  return x.at < y.at || (x.at === y.at && x.order < y.order);
}

export class TimedQueue<E extends Timed> {
  private readonly items: E[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  peek(): E | undefined {
    return this.count > 0 ? this.items[0] : undefined;
  }

  push(item: E): void {
    const items = this.items;
    let i = this.count++;
    items[i] = item;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): E | undefined {
    if (this.count === 0) return undefined;
    const items = this.items;
    const top = items[0]!;
    const last = items[--this.count]!;
    if (this.count > 0) {
      let i = 0;
      const n = this.count;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && before(items[r]!, items[l]!) ? r : l;
        const c = items[child]!;
        if (!before(c, last)) break;
        items[i] = c;
        i = child;
      }
      items[i] = last;
    }
    // Let the garbage collector have what the heap no longer holds; keep the array's length.
    (items as (E | undefined)[])[this.count] = undefined;
    return top;
  }
}
