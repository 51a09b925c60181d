/**
 * A fixed number of transmit buffers, named by index: the `T` of `Callbacks<number>` for a
 * simulated device. All slots are preallocated in one ArrayBuffer at `slotSize` bytes; a request
 * for more than that grows that one slot once (its larger buffer is then kept), so a big packet
 * never stalls the sender. When every slot is taken, `acquire` returns undefined: the device
 * pushing back, as a full transmit ring would.
 */

import { InvalidArgumentError } from "../errors.js";

export class SlotPool {
  readonly slots: number;
  readonly slotSize: number;
  readonly maxSize: number;
  private readonly views: Uint8Array[] = [];
  private readonly freeList: Int32Array;
  private freeCount: number;
  private readonly inUse: Uint8Array;
  /** Requests refused because every slot was taken. */
  exhausted = 0;
  /** Slots that had to grow past slotSize (each a one-time allocation). */
  grown = 0;

  constructor(slots: number, slotSize: number, maxSize: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new InvalidArgumentError(`slots must be an integer >= 1: ${slots}`);
    if (!Number.isInteger(slotSize) || slotSize < 1) {
      throw new InvalidArgumentError(`slotSize must be an integer >= 1: ${slotSize}`);
    }
    if (!Number.isInteger(maxSize) || maxSize < slotSize) {
      throw new InvalidArgumentError(`maxPacketSize must be an integer >= slotSize: ${maxSize}`);
    }
    this.slots = slots;
    this.slotSize = slotSize;
    this.maxSize = maxSize;
    const backing = new ArrayBuffer(slots * slotSize);
    for (let i = 0; i < slots; i++) this.views.push(new Uint8Array(backing, i * slotSize, slotSize));
    this.freeList = new Int32Array(slots);
    // Hand out low indices first: slot 0, 1, 2... (easier to read in traces).
    for (let i = 0; i < slots; i++) this.freeList[i] = slots - 1 - i;
    this.freeCount = slots;
    this.inUse = new Uint8Array(slots);
  }

  /** Slots free now. */
  get free(): number {
    return this.freeCount;
  }

  /** A slot with room for `size` bytes, or undefined when all are taken. */
  acquire(size: number): number | undefined {
    if (!Number.isInteger(size) || size < 0 || size > this.maxSize) {
      throw new InvalidArgumentError(`packet size must be an integer in [0, ${this.maxSize}]: ${size}`);
    }
    if (this.freeCount === 0) {
      this.exhausted++;
      return undefined;
    }
    const slot = this.freeList[--this.freeCount]!;
    this.inUse[slot] = 1;
    if (this.views[slot]!.length < size) {
      this.views[slot] = new Uint8Array(size);
      this.grown++;
    }
    return slot;
  }

  /** The bytes of a slot that is in use; the same view every time for the same slot. */
  bytes(slot: number): Uint8Array {
    if (this.inUse[slot] !== 1) throw new InvalidArgumentError(`buffer ${slot} is not an acquired slot`);
    return this.views[slot]!;
  }

  release(slot: number): void {
    if (this.inUse[slot] !== 1) throw new InvalidArgumentError(`buffer ${slot} is not an acquired slot`);
    this.inUse[slot] = 0;
    this.freeList[this.freeCount++] = slot;
  }
}
