/**
 * Two engines joined in one process on the REAL clock, each driven by runTun's runner as it would be
 * by a TUN device: for node:http (or any stream code) on both ends of a connection in a test, an
 * example or a benchmark. MemoryLink is the other join: virtual time, seeded faults, nothing async.
 *
 * Each side's runner reads and writes one end of an in-memory device pair. A batch the runner writes
 * is copied into the other end's queue and read there in a later turn of the event loop
 * (setImmediate), in batches of up to the runner's rxSlots, as a TUN device's reads come. The queue
 * is bounded (`queue` packets): a full one answers the writer as a full device does (fewer written,
 * writability later), so nothing is dropped and memory stays fixed, however fast either side sends.
 *
 * The engines must run on the real clock (the builder's default): the runners' timers are real.
 */
import { InvalidArgumentError } from "../errors.js";
import { runTun, type EngineLike, type RunnerDevice, type RunTunOptions, type ShutdownOptions, type TunApp, type TunRunner } from "../tun/runner.js";
import { VNET_HEADER_ROOM } from "../tun/tun.js";

export interface MemoryDeviceOptions {
  /** The devices' MTU, at least the engines': the runners size their packet slots from it. Default 1500. */
  mtu?: number;
  /** Packets each end's queue holds before writes to it block. Default 1024 (a TUN device's txqueuelen is 500). */
  queue?: number;
}

export interface MemoryDeviceCounters {
  /** Packets written into the peer's queue, and read from this end's queue. */
  written: number;
  read: number;
  /** writeBatch calls that stopped at a full peer queue. */
  blocked: number;
  /** Packets written after the peer closed (dropped, as into a deleted device). */
  droppedClosed: number;
  /** Packets longer than the MTU (dropped; the runners never send one). */
  droppedOversize: number;
}

/** One end of an in-memory device pair (memoryDevicePair). */
export class MemoryDevice implements RunnerDevice {
  readonly mtu: number;
  readonly counters: MemoryDeviceCounters = { written: 0, read: 0, blocked: 0, droppedClosed: 0, droppedOversize: 0 };
  /** The other end: what this end writes lands in its queue. */
  peer: MemoryDevice | undefined;
  private readonly slotSize: number;
  private readonly capacity: number;
  /** The queue of packets to read: a ring of `capacity` slots. */
  private readonly ring: Uint8Array;
  private readonly lengths: Int32Array;
  private head = 0;
  private count = 0;
  private closed = false;
  private readableHandler: (() => void) | undefined;
  private writableHandler: (() => void) | undefined;
  private readablePending = false;
  private writablePending = false;
  /** The runner waits for writability (its last write stopped at the peer's full queue). */
  private wantWritable = false;

  constructor(mtu: number, queue: number) {
    this.mtu = mtu;
    this.slotSize = mtu + VNET_HEADER_ROOM;
    this.capacity = queue;
    this.ring = new Uint8Array(queue * this.slotSize);
    this.lengths = new Int32Array(queue);
  }

  /** Packets waiting to be read. */
  get queued(): number {
    return this.count;
  }

  readBatch(pool: Uint8Array, slotSize: number, maxCount: number, lengths: Int32Array): number {
    if (this.closed) return 0;
    let n = 0;
    while (n < maxCount && this.count > 0) {
      const slot = this.head;
      const length = Math.min(this.lengths[slot]!, slotSize);
      const start = slot * this.slotSize;
      pool.set(this.ring.subarray(start, start + length), n * slotSize);
      lengths[n++] = length;
      this.head = slot + 1 === this.capacity ? 0 : slot + 1;
      this.count--;
    }
    this.counters.read += n;
    // Level-triggered, as a device's poll: more waiting means readable again.
    if (this.count > 0) this.signalReadable();
    if (n > 0) this.peer?.signalWritable();
    return n;
  }

  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    const peer = this.peer;
    if (this.closed) return count;
    if (peer === undefined || peer.closed) {
      this.counters.droppedClosed += count;
      return count;
    }
    let n = 0;
    for (; n < count; n++) {
      const length = lengths[n]!;
      if (length > this.mtu + VNET_HEADER_ROOM) {
        this.counters.droppedOversize++;
        continue;
      }
      if (!peer.enqueue(pool, offsets[n]!, length)) break;
    }
    this.counters.written += n;
    if (n < count) this.counters.blocked++;
    if (n > 0) peer.signalReadable();
    return n;
  }

  onReadable(handler: () => void): void {
    this.readableHandler = handler;
    if (this.count > 0) this.signalReadable();
  }

  onWritable(handler: () => void): void {
    this.writableHandler = handler;
  }

  pollWritable(on: boolean): void {
    this.wantWritable = on;
    if (on && this.peer !== undefined && (this.peer.closed || this.peer.count < this.peer.capacity)) this.signalWritable();
  }

  /** Nothing here holds the event loop: the runner's timer does. */
  setRef(_on: boolean): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.count = 0;
    this.readableHandler = undefined;
    this.writableHandler = undefined;
    // A writer blocked on our queue: let it go on (its packets are dropped from now).
    this.peer?.signalWritable();
  }

  private enqueue(pool: Uint8Array, offset: number, length: number): boolean {
    if (this.count === this.capacity) return false;
    let slot = this.head + this.count;
    if (slot >= this.capacity) slot -= this.capacity;
    this.ring.set(pool.subarray(offset, offset + length), slot * this.slotSize);
    this.lengths[slot] = length;
    this.count++;
    return true;
  }

  private signalReadable(): void {
    if (this.readablePending || this.readableHandler === undefined) return;
    this.readablePending = true;
    setImmediate(this.fireReadable);
  }

  private signalWritable(): void {
    if (this.writablePending || !this.wantWritable || this.writableHandler === undefined) return;
    this.writablePending = true;
    setImmediate(this.fireWritable);
  }

  private readonly fireReadable = (): void => {
    this.readablePending = false;
    if (!this.closed && this.count > 0) this.readableHandler?.();
  };

  private readonly fireWritable = (): void => {
    this.writablePending = false;
    if (!this.closed && this.wantWritable) this.writableHandler?.();
  };
}

/** Two device ends: what one writes, the other reads. */
export function memoryDevicePair(options: MemoryDeviceOptions = {}): [MemoryDevice, MemoryDevice] {
  const mtu = options.mtu ?? 1500;
  const queue = options.queue ?? 1024;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidArgumentError(`mtu must be an integer in 68..65535: ${mtu}`);
  if (!Number.isInteger(queue) || queue < 1) throw new InvalidArgumentError(`queue must be a positive integer: ${queue}`);
  const a = new MemoryDevice(mtu, queue);
  const b = new MemoryDevice(mtu, queue);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export interface JoinOptions extends MemoryDeviceOptions {
  /** Passed to both runners (rxSlots, txSlots, onError). */
  runner?: Omit<RunTunOptions, "slotSize" | "handleSignals">;
}

export interface EnginePair {
  readonly a: TunRunner;
  readonly b: TunRunner;
  readonly devices: readonly [MemoryDevice, MemoryDevice];
  /** Both runners' shutdown (graceMs: let flows close first). */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /** Stop both runners at once. */
  stop(): void;
}

/**
 * Joins engine `a` (driven for `appA`) and engine `b` (for `appB`) over a memory device pair, each by
 * its own runTun runner. Returns the runners: flows opened with l4Connect by hand go through
 * `pair.a.callbacks`; a NetStack is attached by its runner.
 */
export function joinEngines(
  a: EngineLike<number>,
  appA: TunApp,
  b: EngineLike<number>,
  appB: TunApp,
  options: JoinOptions = {},
): EnginePair {
  if (a === b) throw new InvalidArgumentError("joinEngines needs two engines");
  const [deviceA, deviceB] = memoryDevicePair(options);
  const runnerA = runTun(a, deviceA, appA, options.runner);
  let runnerB: TunRunner;
  try {
    runnerB = runTun(b, deviceB, appB, options.runner);
  } catch (error) {
    runnerA.stop();
    throw error;
  }
  return {
    a: runnerA,
    b: runnerB,
    devices: [deviceA, deviceB],
    async shutdown(shutdownOptions?: ShutdownOptions): Promise<void> {
      await Promise.all([runnerA.shutdown(shutdownOptions), runnerB.shutdown(shutdownOptions)]);
    },
    stop(): void {
      runnerA.stop();
      runnerB.stop();
    },
  };
}
