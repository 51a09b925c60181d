/**
 * A fault injector between a TUN device and the runner (smoltcp's phy/fault_injector.rs, plus
 * netem's delay and reordering), for kernels without sch_netem and for the engine's own sending
 * direction: packets read from the device (kernel -> engine, "rx") and written to it (engine ->
 * kernel, "tx") are lost, duplicated, corrupted, reordered or delayed as `Faults` say, with a
 * seeded generator.
 *
 * Delayed and reordered packets are copied and wait on a wall-clock timer (this is debug
 * middleware, not the data path: it allocates per held packet). Reordering holds a packet for
 * `reorderMs` beyond the delay, so those behind it overtake it. Rate and queue limits are not
 * modelled here. Writes never push back: what the device does not take when a held packet is due
 * is dropped, as a full queue would.
 */
import { InvalidArgumentError } from "../errors.js";
import type { Faults } from "./faults.js";
import { Random, deriveSeed } from "./random.js";
import { TimedQueue, type Timed } from "./timed-queue.js";
import type { RunnerDevice } from "../tun/runner.js";

export interface FaultCounters {
  passed: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
  delayed: number;
  /** Held packets dropped: the runner's pool was full (rx) or the device refused (tx). */
  overflow: number;
}

function counters(): FaultCounters {
  return { passed: 0, lost: 0, duplicated: 0, corrupted: 0, reordered: 0, delayed: 0, overflow: 0 };
}

interface Held extends Timed {
  packet: Uint8Array;
}

/** The device FaultyDevice wraps: a TunDevice. */
export interface InnerDevice extends RunnerDevice {
  readonly name: string;
  close(): void;
}

/** At most this many packets wait in each direction; beyond, new ones are dropped (overflow). */
export const MAX_HELD_PACKETS = 4096;

export class FaultyDevice implements RunnerDevice {
  readonly mtu: number;
  readonly name: string;
  readonly rxCounters = counters();
  readonly txCounters = counters();

  private readonly inner: InnerDevice;
  private readonly rxFaults: Faults;
  private readonly txFaults: Faults;
  private readonly rxRandom: Random;
  private readonly txRandom: Random;
  private readonly rxHeld = new TimedQueue<Held>();
  private readonly txHeld = new TimedQueue<Held>();
  private order = 0;
  private rxTimer: NodeJS.Timeout | undefined;
  private txTimer: NodeJS.Timeout | undefined;
  private readableHandler: (() => void) | undefined;
  private stopped = false;

  // Scratch for reading from the inner device, and for the batch handed to it.
  private readonly scratch: Uint8Array;
  private readonly scratchLengths: Int32Array;
  private readonly slotSize: number;
  private readonly scratchSlots = 64;
  private txOffsets = new Int32Array(64);
  private txLengths = new Int32Array(64);
  private readonly heldTx = { pool: new Uint8Array(0), offsets: new Int32Array(1), lengths: new Int32Array(1) };

  /** Throws InvalidArgumentError for a device with a virtio-net header: the faults work on plain IP packets. */
  constructor(inner: InnerDevice, rxFaults: Faults, txFaults: Faults, seed: number) {
    if (inner.vnetHeader === true) {
      throw new InvalidArgumentError(`FaultyDevice: ${inner.name} has a virtio-net header (offloads); faults work on plain IP packets: open it without offloads`);
    }
    this.inner = inner;
    this.mtu = inner.mtu;
    this.name = inner.name;
    this.rxFaults = rxFaults;
    this.txFaults = txFaults;
    this.rxRandom = new Random(deriveSeed(seed, 0));
    this.txRandom = new Random(deriveSeed(seed, 1));
    this.slotSize = inner.mtu + 64;
    this.scratch = new Uint8Array(this.scratchSlots * this.slotSize);
    this.scratchLengths = new Int32Array(this.scratchSlots);
  }

  // ------------------------------------------------------------------ kernel -> engine

  readBatch(pool: Uint8Array, slotSize: number, maxCount: number, lengths: Int32Array): number {
    let count = 0;
    const now = performance.now();
    // Held packets that are due go first: they were read earlier.
    for (let held = this.rxHeld.peek(); held !== undefined && held.at <= now && count < maxCount; held = this.rxHeld.peek()) {
      this.rxHeld.pop();
      count = this.put(pool, slotSize, lengths, count, held.packet, 0, held.packet.length);
    }
    const room = Math.min(maxCount - count, this.scratchSlots);
    const read = room > 0 ? this.inner.readBatch(this.scratch, this.slotSize, room, this.scratchLengths) : 0;
    const f = this.rxFaults;
    const c = this.rxCounters;
    const random = this.rxRandom;
    for (let i = 0; i < read; i++) {
      const start = i * this.slotSize;
      const length = this.scratchLengths[i]!;
      if (random.chance(f.loss) || length > f.mtu) {
        c.lost++;
        continue;
      }
      if (random.chance(f.corrupt)) {
        c.corrupted++;
        this.scratch[start + random.int(length)]! ^= 1 << random.int(8);
      }
      const copies = random.chance(f.duplicate) ? 2 : 1;
      if (copies === 2) c.duplicated++;
      const delay = this.delayFor(f, random, c);
      for (let k = 0; k < copies; k++) {
        if (delay === 0 && count < maxCount) {
          count = this.put(pool, slotSize, lengths, count, this.scratch, start, length);
          c.passed++;
        } else {
          this.hold(this.rxHeld, now + delay, this.scratch.subarray(start, start + length), c);
        }
      }
    }
    this.armRx();
    return count;
  }

  private put(pool: Uint8Array, slotSize: number, lengths: Int32Array, count: number, src: Uint8Array, start: number, length: number): number {
    pool.set(src.subarray(start, start + length), count * slotSize);
    lengths[count] = length;
    return count + 1;
  }

  // ------------------------------------------------------------------ engine -> kernel

  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    if (this.txOffsets.length < 2 * count) {
      this.txOffsets = new Int32Array(2 * count);
      this.txLengths = new Int32Array(2 * count);
    }
    const f = this.txFaults;
    const c = this.txCounters;
    const random = this.txRandom;
    const now = performance.now();
    let staged = 0;
    for (let i = 0; i < count; i++) {
      const offset = offsets[i]!;
      const length = lengths[i]!;
      if (random.chance(f.loss) || length > f.mtu) {
        c.lost++;
        continue;
      }
      if (random.chance(f.corrupt)) {
        c.corrupted++;
        pool[offset + random.int(length)]! ^= 1 << random.int(8);
      }
      const copies = random.chance(f.duplicate) ? 2 : 1;
      if (copies === 2) c.duplicated++;
      const delay = this.delayFor(f, random, c);
      for (let k = 0; k < copies; k++) {
        if (delay === 0) {
          this.txOffsets[staged] = offset;
          this.txLengths[staged] = length;
          staged++;
          c.passed++;
        } else {
          this.hold(this.txHeld, now + delay, pool.subarray(offset, offset + length), c);
        }
      }
    }
    if (staged > 0) {
      const written = this.inner.writeBatch(pool, this.txOffsets, this.txLengths, staged);
      c.overflow += staged - written;
    }
    this.armTx();
    return count;
  }

  private flushTx(): void {
    this.txTimer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    const h = this.heldTx;
    for (let held = this.txHeld.peek(); held !== undefined && held.at <= now; held = this.txHeld.peek()) {
      this.txHeld.pop();
      h.lengths[0] = held.packet.length;
      if (this.inner.writeBatch(held.packet, h.offsets, h.lengths, 1) !== 1) this.txCounters.overflow++;
    }
    this.armTx();
  }

  // ------------------------------------------------------------------ common

  /** 0, or how long this packet waits: the delay plus jitter, plus the hold when it is reordered. */
  private delayFor(f: Faults, random: Random, c: FaultCounters): number {
    let delay = f.delayMs;
    if (f.jitterMs > 0) delay += random.next() * f.jitterMs;
    if (random.chance(f.reorder)) {
      delay += f.reorderMs;
      c.reordered++;
    } else if (delay > 0) {
      c.delayed++;
    }
    return delay;
  }

  private hold(queue: TimedQueue<Held>, at: number, packet: Uint8Array, c: FaultCounters): void {
    if (queue.size >= MAX_HELD_PACKETS) {
      c.overflow++;
      return;
    }
    queue.push({ at, order: this.order++, packet: packet.slice() });
  }

  private armRx(): void {
    if (this.rxTimer !== undefined || this.stopped) return;
    const next = this.rxHeld.peek();
    if (next === undefined) return;
    this.rxTimer = setTimeout(() => {
      this.rxTimer = undefined;
      if (!this.stopped) this.readableHandler?.();
      this.armRx();
    }, Math.max(0, next.at - performance.now()));
  }

  private armTx(): void {
    if (this.txTimer !== undefined || this.stopped) return;
    const next = this.txHeld.peek();
    if (next === undefined) return;
    this.txTimer = setTimeout(() => this.flushTx(), Math.max(0, next.at - performance.now()));
  }

  onReadable(handler: () => void): void {
    this.readableHandler = handler;
    this.inner.onReadable(handler);
  }

  onWritable(handler: () => void): void {
    this.inner.onWritable(handler);
  }

  pollWritable(on: boolean): void {
    this.inner.pollWritable(on);
  }

  onError(handler: (error: unknown) => void): void {
    this.inner.onError?.(handler);
  }

  /** Drops what is held and stops the timers (the runner closes the inner device). */
  stop(): void {
    this.stopped = true;
    if (this.rxTimer !== undefined) clearTimeout(this.rxTimer);
    if (this.txTimer !== undefined) clearTimeout(this.txTimer);
    this.rxTimer = undefined;
    this.txTimer = undefined;
    while (this.rxHeld.pop() !== undefined);
    while (this.txHeld.pop() !== undefined);
  }

  close(): void {
    this.stop();
    this.inner.close();
  }
}
