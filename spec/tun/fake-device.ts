/**
 * Test support: a device for runTun with no kernel behind it. Packets to read are queued by the
 * test; writes go into `written` until `capacity` says the queue is full (EAGAIN).
 */
import type { RunnerDevice } from "../../lib/tun/runner.js";

export class FakeDevice implements RunnerDevice {
  readonly mtu: number;
  /** Packets waiting to be read. */
  readonly inbound: Uint8Array[] = [];
  /** Copies of the packets written, in order. */
  readonly written: Uint8Array[] = [];
  /** The `count` of every writeBatch call. */
  readonly writeCalls: number[] = [];
  /** The maxCount of every readBatch call. */
  readonly readCalls: number[] = [];
  /** Packets the device takes before it answers EAGAIN; Infinity: never full. */
  capacity = Number.POSITIVE_INFINITY;
  /** Thrown by the next readBatch. */
  readError: Error | undefined;
  writablePolled = false;
  closed = false;
  /** Every setRef call's argument. */
  readonly refCalls: boolean[] = [];
  private readableHandler: (() => void) | undefined;
  private writableHandler: (() => void) | undefined;

  /** As a device opened with offloads: a virtio-net header before every packet (the test writes it). */
  readonly vnetHeader: boolean;
  readonly offloads: readonly string[];

  constructor(mtu = 1500, offloads?: readonly string[]) {
    this.mtu = mtu;
    this.vnetHeader = offloads !== undefined;
    this.offloads = offloads ?? [];
  }

  /** The slotSize of the last readBatch call. */
  lastSlotSize = 0;

  readBatch(pool: Uint8Array, slotSize: number, maxCount: number, lengths: Int32Array): number {
    this.readCalls.push(maxCount);
    this.lastSlotSize = slotSize;
    if (this.readError !== undefined) throw this.readError;
    let count = 0;
    while (count < maxCount && this.inbound.length > 0) {
      const packet = this.inbound.shift()!;
      const length = Math.min(packet.length, slotSize);
      pool.set(packet.subarray(0, length), count * slotSize);
      lengths[count++] = length;
    }
    return count;
  }

  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    this.writeCalls.push(count);
    let done = 0;
    while (done < count && this.capacity > 0) {
      const offset = offsets[done]!;
      this.written.push(pool.slice(offset, offset + lengths[done]!));
      this.capacity--;
      done++;
    }
    return done;
  }

  onReadable(handler: () => void): void {
    this.readableHandler = handler;
  }

  onWritable(handler: () => void): void {
    this.writableHandler = handler;
  }

  errorHandler: ((error: unknown) => void) | undefined;
  onError(handler: (error: unknown) => void): void {
    this.errorHandler = handler;
  }

  pollWritable(on: boolean): void {
    this.writablePolled = on;
  }

  setRef(on: boolean): void {
    this.refCalls.push(on);
  }

  close(): void {
    this.closed = true;
  }

  /** Queue packets and signal readability, as the poll callback would. */
  receive(...packets: Uint8Array[]): void {
    this.inbound.push(...packets);
    this.readableHandler?.();
  }

  /** Make room for `room` more packets and signal writability (if it was asked for). */
  drain(room = Number.POSITIVE_INFINITY): void {
    this.capacity = room;
    if (this.writablePolled) this.writableHandler?.();
  }
}
