/**
 * The send queue of one connection: bytes the application wrote and the peer has not yet
 * acknowledged (RFC 9293 §3.3.1: the octets from SND.UNA on, sent or not).
 *
 * A byte ring. Its front is always SND.UNA: the connection `consume`s what an ACK covers and reads
 * any byte by its offset from the front (`copyOut(sndNxt - sndUna, ...)` for new data,
 * `copyOut(0, ...)` to retransmit), straight into an outgoing packet.
 *
 * Memory follows the data held (storage.ts): nothing while empty, then 4 KiB doubling up to
 * `maxBytes` (rounded up to a power of two), handed back to the storage pool as soon as everything
 * is acknowledged.
 *
 * The memory budget (lib/memory.ts) is charged exactly the storage held, at the point it grows, and
 * given it all back when the storage goes back to the pool. Past the budget the ring does not grow and
 * `write` takes what fits in the storage it has; an empty buffer takes the smallest page if a larger
 * one does not fit, and nothing if that does not fit either. Nothing is charged past the budget. A
 * connection whose empty buffer could take nothing has nothing in flight whose ACK would bring
 * l4TxReady: it waits for the budget to have a page free again (MemoryBudget.wantRoom; core.ts).
 */
import { EMPTY } from "../wire/bytes.js";
import { checkInt, checkSpan, copyBytes, isIndex } from "./copy.js";
import { InvalidArgumentError } from "../errors.js";
import { grownSize, sharedStoragePool } from "./storage.js";
import type { StoragePool } from "./storage.js";
import { MemoryKind, type MemoryBudget } from "../memory.js";

/** The largest buffer: a TCP window can never exceed 2**30 octets (RFC 7323 §2.3). */
export const MAX_TCP_BUFFER_BYTES = 0x4000_0000;

/** The send queue of one connection, from SND.UNA: a growable byte ring (see the module comment). */
export class SendBuffer {
  /** The most bytes the buffer holds: `write` takes no more than `maxBytes - length`. */
  readonly maxBytes: number;
  private readonly pool: StoragePool;
  /** The ring; EMPTY (shared) while nothing is held. */
  private buf: Uint8Array = EMPTY;
  /** Index in `buf` of the front byte (SND.UNA). */
  private head = 0;
  /** Bytes held. */
  private held = 0;

  /**
   * @param maxBytes the send buffer size, an integer in [1, 2**30].
   * @param pool where storage comes from and goes back to (default: the process-wide pool).
   */
  constructor(
    maxBytes: number,
    pool: StoragePool = sharedStoragePool,
    private readonly budget: MemoryBudget | null = null,
  ) {
    checkInt(maxBytes, 1, MAX_TCP_BUFFER_BYTES, "SendBuffer maxBytes");
    this.maxBytes = maxBytes;
    this.pool = pool;
  }

  /** Bytes held: written and not yet consumed (acknowledged). */
  get length(): number {
    return this.held;
  }

  /** Bytes `write` would accept now: `maxBytes - length`. */
  get free(): number {
    return this.maxBytes - this.held;
  }

  /** The storage an empty buffer takes at least (the budget must have this much for a write to go in). */
  get firstPage(): number {
    return grownSize(0, 1, this.maxBytes);
  }

  /** Bytes of storage currently held (0 while empty): for memory accounting. */
  get capacityBytes(): number {
    return this.buf.length;
  }

  /**
   * Appends up to `free` bytes of `src[srcOff .. srcOff + len)` and returns how many were taken
   * (0..len). Throws InvalidArgumentError if the range is outside `src`.
   */
  write(src: Uint8Array, srcOff: number, len: number): number {
    checkSpan(src, srcOff, len, "SendBuffer.write");
    let n = len < this.maxBytes - this.held ? len : this.maxBytes - this.held;
    if (n === 0) return 0;
    if (this.held + n > this.buf.length) {
      // The budget may allow less growth than asked, or none: take what the storage holds then.
      this.grow(this.held + n);
      if (n > this.buf.length - this.held) n = this.buf.length - this.held;
      if (n === 0) return 0;
    }
    const needed = this.held + n;
    const buf = this.buf;
    const size = buf.length;
    let tail = this.head + this.held;
    if (tail >= size) tail -= size;
    const first = n < size - tail ? n : size - tail;
    copyBytes(buf, tail, src, srcOff, first);
    if (first < n) copyBytes(buf, 0, src, srcOff + first, n - first);
    this.held = needed;
    return n;
  }

  /**
   * Drops `n` bytes from the front: they were acknowledged (SND.UNA advanced by `n`). When the
   * buffer becomes empty its storage is released. Throws InvalidArgumentError if `n > length`.
   */
  consume(n: number): void {
    if (!isIndex(n) || n > this.held) {
      throw new InvalidArgumentError(`SendBuffer.consume(${n}) with ${this.held} bytes held`);
    }
    this.held -= n;
    if (this.held === 0) {
      this.release();
      return;
    }
    let head = this.head + n;
    if (head >= this.buf.length) head -= this.buf.length;
    this.head = head;
  }

  /**
   * Copies `len` bytes starting `offset` bytes after the front into `dst[dstOff..]`, across the
   * ring's wrap point if need be. Nothing is consumed. Throws InvalidArgumentError unless
   * `offset + len <= length` and the destination range fits in `dst`.
   */
  copyOut(offset: number, dst: Uint8Array, dstOff: number, len: number): void {
    checkSpan(dst, dstOff, len, "SendBuffer.copyOut destination");
    if (!isIndex(offset) || offset + len > this.held) {
      throw new InvalidArgumentError(`SendBuffer.copyOut: ${offset}+${len} is beyond the ${this.held} bytes held`);
    }
    if (len === 0) return;
    const buf = this.buf;
    const size = buf.length;
    let start = this.head + offset;
    if (start >= size) start -= size;
    const first = len < size - start ? len : size - start;
    copyBytes(dst, dstOff, buf, start, first);
    if (first < len) copyBytes(dst, dstOff + first, buf, 0, len - first);
  }

  /** Drops everything and releases the storage (e.g. on abort). */
  clear(): void {
    this.held = 0;
    this.release();
  }

  /**
   * Moves to storage of at least `needed` bytes, unwrapping the held bytes to index 0; under the
   * budget an empty buffer may get only the smallest page, and false (nothing changed) when the
   * budget refuses.
   */
  private grow(needed: number): boolean {
    const old = this.buf;
    let size = grownSize(old.length, needed, this.maxBytes);
    const budget = this.budget;
    if (budget !== null) {
      // An empty buffer: the smallest page, if the size asked does not fit (see the module comment).
      if (old.length === 0 && !budget.fits(size)) size = grownSize(0, 1, this.maxBytes);
      if (!budget.tryCharge(MemoryKind.SEND, size - old.length)) return false;
    }
    const next = this.pool.take(size);
    const held = this.held;
    if (held > 0) {
      const first = held < old.length - this.head ? held : old.length - this.head;
      copyBytes(next, 0, old, this.head, first);
      if (first < held) copyBytes(next, first, old, 0, held - first);
    }
    if (old !== EMPTY) this.pool.give(old);
    this.buf = next;
    this.head = 0;
    return true;
  }

  private release(): void {
    if (this.buf !== EMPTY) {
      this.budget?.release(MemoryKind.SEND, this.buf.length);
      this.pool.give(this.buf);
    }
    this.buf = EMPTY;
    this.head = 0;
  }
}
