/**
 * An indexed binary min-heap of timed objects, earliest `deadline` at the root.
 *
 * Each item carries its own position (`heapIndex`, -1 while it is not in the heap), so changing an
 * item's deadline or removing it is O(log n) with no search and no allocation: the engine keeps every
 * TCP connection, TIME-WAIT record, UDP flow and the fragment-reassembly sweeper in one of these, and
 * a connection's deadline moves on nearly every segment.
 */

/** What the heap orders. `heapIndex` belongs to the heap: set it to -1 when creating the object. */
export interface HeapItem {
  deadline: number;
  heapIndex: number;
}

export class TimerHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The item with the earliest deadline, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** The earliest deadline; Infinity when empty. */
  get nextDeadline(): number {
    const top = this.items[0];
    return top === undefined ? Infinity : top.deadline;
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item;
  }

  /** Insert `item`, or reposition it if it is already in (its deadline changed). */
  add(item: T): void {
    if (this.has(item)) {
      this.update(item);
      return;
    }
    const i = this.items.length;
    this.items.push(item);
    item.heapIndex = i;
    this.siftUp(i);
  }

  /** `item.deadline` changed: restore the order. Inserts it if it was not in. */
  update(item: T): void {
    if (!this.has(item)) {
      this.add(item);
      return;
    }
    const i = item.heapIndex;
    if (!this.siftUp(i)) this.siftDown(i);
  }

  /** Take `item` out (no-op if it is not in). */
  remove(item: T): void {
    if (!this.has(item)) return;
    const i = item.heapIndex;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[i] = last;
    last.heapIndex = i;
    if (!this.siftUp(i)) this.siftDown(i);
  }

  /** Remove and return the earliest item. */
  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Empty the heap, marking every item as out. */
  clear(): void {
    for (const item of this.items) item.heapIndex = -1;
    this.items.length = 0;
  }

  /** Move the item at `i` towards the root while it is earlier than its parent. True if it moved. */
  private siftUp(i: number): boolean {
    const items = this.items;
    const item = items[i]!;
    const d = item.deadline;
    const start = i;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!(d < parent.deadline)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    if (i === start) return false;
    items[i] = item;
    item.heapIndex = i;
    return true;
  }

  private siftDown(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    const d = item.deadline;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let cd = items[l]!.deadline;
      if (r < n) {
        const rd = items[r]!.deadline;
        if (rd < cd) {
          c = r;
          cd = rd;
        }
      }
      if (!(cd < d)) break;
      const child = items[c]!;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
