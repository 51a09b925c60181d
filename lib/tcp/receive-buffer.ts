/**
 * The receive side of one connection: in-order bytes not yet delivered to the application, and
 * out-of-order data beyond them (RFC 9293 §3.10.7.4: "Segments with higher beginning sequence
 * numbers SHOULD be held for later processing"; "seventh, process the segment text").
 *
 * Everything is addressed by offset from RCV.NXT, the end of the contiguous data:
 *
 *     read position        RCV.NXT (contiguous end)               read position + capacity
 *          |<-- readable -->|<--------------- window --------------------->|
 *          [ in order ......][ hole ][ ooo range ][ hole ][ ooo range ]     |
 *
 * The right edge, read position + capacity, never moves left, so the window offered is never
 * shrunk (RFC 9293 §3.8.6: shrinking the window "is strongly discouraged"); it only closes as
 * undelivered bytes pile up (delivery paused).
 *
 * Storage is one byte ring covering `capacity` bytes from the read position; it grows with the data
 * held (storage.ts) and goes back to the storage pool when nothing is held.
 *
 * The fast path is the caller's: when nothing is readable or out of order and delivery is not
 * paused, an in-order segment can be handed to the application straight from the packet, without
 * passing through here at all (the buffer addresses everything from RCV.NXT, so it needs no
 * notice). Only data that must wait is copied in.
 *
 * Out-of-order data is tracked as a sorted list of at most `maxRanges` disjoint, non-adjacent
 * ranges, so a peer cannot make us track an unbounded number of holes. Overlapping and duplicate
 * data is stored once and the first copy of a byte wins: RFC 9293 §3.10.7.4 processes "only the
 * new parts" of a segment, and we apply the same rule to data held out of order, so a later
 * retransmission carrying different bytes cannot rewrite what was accepted.
 *
 * The memory budget (lib/memory.ts) is charged exactly the storage the ring holds, at the point it
 * grows: as out-of-order data when an out-of-order segment made it grow, else as receive data; all of
 * it is given back when the storage goes back to the pool. Growth the budget refuses stores nothing
 * (MEMORY_REFUSED). From PRUNE pressure on, an out-of-order segment that would need the ring to grow
 * is refused before anything else is (issue 13's order: out-of-order data goes first). Per flow, the
 * growth out-of-order data causes may not pass FLOW_OUT_OF_ORDER_SHARE of the budget (lib/memory.ts),
 * so one flow cannot take the budget with a few bytes far beyond a hole; with `maxRanges`, that is
 * the per-flow cap on out-of-order data (segments themselves cost nothing apart: they are copied into
 * the ring, and adjacent ones join one range). Data already held, and SACKed, is never thrown away:
 * RFC 2018 §8 allows the receiver to discard SACKed data ("reneging") when it runs out of buffer
 * space but discourages it, since the sender must then keep and retransmit it all; Linux's
 * tcp_prune_ofo_queue does it as a last resort, dropping from the far end. We refuse new data instead.
 */
import { EMPTY } from "../wire/bytes.js";
import { InvalidArgumentError } from "../errors.js";
import { checkInt, checkSpan, copyBytes, isIndex } from "./copy.js";
import { MAX_TCP_BUFFER_BYTES } from "./send-buffer.js";
import { grownSize, sharedStoragePool } from "./storage.js";
import type { StoragePool } from "./storage.js";
import { FLOW_OUT_OF_ORDER_SHARE, MemoryKind, MemoryPressure, type MemoryBudget } from "../memory.js";

/** `insert` result: the segment needed a new out-of-order range and `maxRanges` are in use. Nothing was stored. */
export const RECEIVE_REFUSED = -1;
/** `insert` result: the ring would have had to grow and the memory budget refused. Nothing was stored. */
export const MEMORY_REFUSED = -2;

/** Default bound on out-of-order ranges (config.ts tcpMaxReassemblyRanges). */
export const DEFAULT_MAX_OOO_RANGES = 32;

/** Largest `maxRanges` accepted: far beyond what SACK (at most 4 blocks, RFC 2018 §3) can describe. */
export const MAX_OOO_RANGES = 4096;

/** Layout of one range in `ranges`: [start, end, stamp]. */
const START = 0;
const END = 1;
const STAMP = 2;
const STRIDE = 3;

/** Receive data of one connection, addressed from RCV.NXT: in order, then out of order (see the module comment). */
export class ReceiveBuffer {
  /** Bytes held at most, counted from the read position: readable + holes + out of order. */
  readonly capacity: number;
  /** Most out-of-order ranges tracked at once. */
  readonly maxRanges: number;
  private readonly pool: StoragePool;

  /** The ring; EMPTY while nothing is held, else a power of two up to `capacity` rounded up. */
  private buf: Uint8Array = EMPTY;
  /** Index in `buf` of the read position. */
  private head = 0;
  /** Contiguous bytes not yet consumed. */
  private contiguous = 0;
  /** Stream position (bytes consumed so far) of the read position: the origin of `ranges`. */
  private base = 0;
  /**
   * Out-of-order ranges as absolute stream positions, sorted by start, disjoint and non-adjacent,
   * all starting after the contiguous end. Allocated on first use, released with the storage.
   */
  private ranges: Float64Array | null = null;
  private rangeCount = 0;
  /** Bytes in out-of-order ranges. */
  private oooHeld = 0;
  /** Last update stamp given to a range (recency order for SACK). */
  private clock = 0;
  /** Of `buf.length`, what the budget was charged as out-of-order data (the rest as receive data). */
  private oooCharged = 0;

  /**
   * @param capacity receive buffer size in bytes, an integer in [1, 2**30]: the largest window
   *   this buffer can offer.
   * @param maxRanges bound on out-of-order ranges (default 32), an integer in [1, 4096].
   * @param pool where storage comes from and goes back to (default: the process-wide pool).
   */
  constructor(
    capacity: number,
    maxRanges: number = DEFAULT_MAX_OOO_RANGES,
    pool: StoragePool = sharedStoragePool,
    private readonly budget: MemoryBudget | null = null,
  ) {
    checkInt(capacity, 1, MAX_TCP_BUFFER_BYTES, "ReceiveBuffer capacity");
    checkInt(maxRanges, 1, MAX_OOO_RANGES, "ReceiveBuffer maxRanges");
    this.capacity = capacity;
    this.maxRanges = maxRanges;
    this.pool = pool;
  }

  /** In-order bytes not yet consumed by the application. */
  get readable(): number {
    return this.contiguous;
  }

  /**
   * The space the receive window may offer: `capacity - readable`. Out-of-order data lies inside
   * this window and does not reduce it. Receiver-side silly window avoidance (RFC 9293 §3.8.6.2.2)
   * is the caller's: it decides when an opening is worth advertising.
   */
  get window(): number {
    return this.capacity - this.contiguous;
  }

  /** True when out-of-order data is held (beyond a hole). */
  get hasOutOfOrder(): boolean {
    return this.rangeCount > 0;
  }

  /** Number of out-of-order ranges held (at most `maxRanges`). */
  get oooRangeCount(): number {
    return this.rangeCount;
  }

  /** Bytes held out of order. */
  get oooBytes(): number {
    return this.oooHeld;
  }

  /** Bytes of storage currently held (0 while empty): for memory accounting. */
  get capacityBytes(): number {
    return this.buf.length;
  }

  /**
   * Stores the segment text `src[srcOff .. srcOff + len)` whose first byte is `offset` bytes after
   * RCV.NXT: 0 = in order, > 0 = out of order, < 0 = starts with bytes already received (they are
   * skipped). Bytes beyond `capacity` from the read position are trimmed; bytes already held are kept
   * as they are (first copy wins).
   *
   * Returns how many bytes the contiguous data grew by (RCV.NXT advances by this much): the
   * segment's new bytes plus any out-of-order ranges it joined up; 0 if nothing became contiguous
   * (out of order, duplicate, or entirely outside the window); or RECEIVE_REFUSED (< 0) when the
   * segment would need a new out-of-order range and `maxRanges` are already in use: nothing was
   * stored and the caller counts the drop.
   *
   * Throws InvalidArgumentError if the range is outside `src` or `offset` is not an integer.
   */
  insert(offset: number, src: Uint8Array, srcOff: number, len: number): number {
    checkSpan(src, srcOff, len, "ReceiveBuffer.insert");
    if (!Number.isInteger(offset)) throw new InvalidArgumentError(`ReceiveBuffer.insert offset ${offset}`);
    const rcvEnd = this.base + this.contiguous;
    let start = rcvEnd + offset;
    let end = start + len;
    if (start < rcvEnd) {
      srcOff += rcvEnd - start;
      start = rcvEnd;
    }
    const limit = this.base + this.capacity;
    if (end > limit) end = limit;
    if (end <= start) return 0;

    // Ranges i..j-1 overlap or touch [start, end).
    const n = this.rangeCount;
    const r = this.ranges;
    let i = 0;
    let j = 0;
    if (r !== null) {
      while (i < n && r[i * STRIDE + END]! < start) i++;
      j = i;
      while (j < n && r[j * STRIDE + START]! <= end) j++;
    }
    if (i === j && start > rcvEnd && n === this.maxRanges) return RECEIVE_REFUSED;

    if (!this.reserve(end - this.base, start > rcvEnd)) return MEMORY_REFUSED;
    // Copy only the bytes not already held: the gaps between ranges i..j-1 inside [start, end).
    let pos = start;
    for (let k = i; k < j; k++) {
      const s = r![k * STRIDE + START]!;
      if (s > pos) this.put(pos, s, src, srcOff + (pos - start));
      const e = r![k * STRIDE + END]!;
      if (e > pos) pos = e;
    }
    if (pos < end) this.put(pos, end, src, srcOff + (pos - start));

    let mergedStart = start;
    let mergedEnd = end;
    let mergedBytes = 0;
    if (i < j) {
      const s = r![i * STRIDE + START]!;
      const e = r![(j - 1) * STRIDE + END]!;
      if (s < mergedStart) mergedStart = s;
      if (e > mergedEnd) mergedEnd = e;
      for (let k = i; k < j; k++) mergedBytes += r![k * STRIDE + END]! - r![k * STRIDE + START]!;
    }

    if (mergedStart === rcvEnd) {
      // In order (i is 0 here): the segment and every range it reached join the contiguous data.
      this.removeRanges(0, j);
      this.oooHeld -= mergedBytes;
      const grown = mergedEnd - rcvEnd;
      this.contiguous += grown;
      return grown;
    }
    this.replaceRanges(i, j, mergedStart, mergedEnd);
    this.oooHeld += mergedEnd - mergedStart - mergedBytes;
    return 0;
  }

  /**
   * A view (no copy) of the first contiguous chunk of readable bytes: all of them unless the ring
   * wraps, in which case only those up to the wrap point; deliver it, `consume` it, call again.
   * Empty when nothing is readable. The view is valid until the next `insert`, `consume` or
   * `clear`: after that its storage may be reused, by this connection or (pooled) another one.
   */
  peekContiguous(): Uint8Array {
    const n = this.contiguous;
    if (n === 0) return EMPTY;
    const toWrap = this.buf.length - this.head;
    return this.buf.subarray(this.head, this.head + (n < toWrap ? n : toWrap));
  }

  /**
   * The application took `n` readable bytes: the read position (and the window's right edge)
   * advance by `n`. Storage is released once nothing is held. Throws InvalidArgumentError if
   * `n > readable`.
   */
  consume(n: number): void {
    if (!isIndex(n) || n > this.contiguous) {
      throw new InvalidArgumentError(`ReceiveBuffer.consume(${n}) with ${this.contiguous} bytes readable`);
    }
    if (n === 0) return;
    this.contiguous -= n;
    this.base += n;
    if (this.contiguous === 0 && this.rangeCount === 0) {
      this.release();
      return;
    }
    let head = this.head + n;
    if (head >= this.buf.length) head -= this.buf.length;
    this.head = head;
  }

  /**
   * Writes up to `maxRanges` out-of-order ranges into `out` as [start, end) pairs of offsets from
   * RCV.NXT (so the SACK block edges are RCV.NXT + start, RCV.NXT + end; RFC 2018 §3), and returns
   * how many were written. Order, per RFC 2018 §4: the range holding the most recently received
   * segment first, then the others from most to least recently updated, so that blocks reported
   * earlier are repeated. (RFC 2018 §4 exempts a segment that advanced RCV.NXT: it is in no range.)
   * `out` must hold `2 * maxRanges` numbers.
   */
  oooRanges(out: Uint32Array, maxRanges: number): number {
    const count = maxRanges < this.rangeCount ? maxRanges : this.rangeCount;
    if (!isIndex(count) || out.length < 2 * count) {
      throw new InvalidArgumentError(`ReceiveBuffer.oooRanges: room for ${out.length >> 1} ranges, ${count} asked`);
    }
    const r = this.ranges;
    if (r === null) return 0;
    const rcvEnd = this.base + this.contiguous;
    let below = Infinity;
    for (let b = 0; b < count; b++) {
      // The most recently stamped range not yet written (stamps are unique).
      let best = -1;
      let bestStamp = -1;
      for (let k = 0; k < this.rangeCount; k++) {
        const stamp = r[k * STRIDE + STAMP]!;
        if (stamp < below && stamp > bestStamp) {
          bestStamp = stamp;
          best = k;
        }
      }
      out[2 * b] = r[best * STRIDE + START]! - rcvEnd;
      out[2 * b + 1] = r[best * STRIDE + END]! - rcvEnd;
      below = bestStamp;
    }
    return count;
  }

  /** Drops everything held and releases the storage (e.g. on abort). */
  clear(): void {
    this.base += this.contiguous;
    this.contiguous = 0;
    this.rangeCount = 0;
    this.oooHeld = 0;
    this.release();
  }

  /**
   * Makes the ring at least `extent` bytes long (extent <= capacity), keeping what is held; false
   * (nothing changed) when the memory budget refuses the growth. `outOfOrder`: the growth is for data
   * beyond a hole.
   */
  private reserve(extent: number, outOfOrder: boolean): boolean {
    const old = this.buf;
    if (extent <= old.length) return true;
    const size = grownSize(old.length, extent, this.capacity);
    const budget = this.budget;
    if (budget !== null) {
      const grow = size - old.length;
      if (outOfOrder) {
        if (budget.pressure >= MemoryPressure.PRUNE) return false;
        if (this.oooCharged + grow > budget.limit * FLOW_OUT_OF_ORDER_SHARE) return false;
        if (!budget.tryCharge(MemoryKind.OUT_OF_ORDER, grow)) return false;
        this.oooCharged += grow;
      } else if (!budget.tryCharge(MemoryKind.RECEIVE, grow)) {
        return false;
      }
    }
    const next = this.pool.take(size);
    // Everything held lies within [read position, held end): copy that much, holes included.
    const held = this.rangeCount > 0 ? this.ranges![(this.rangeCount - 1) * STRIDE + END]! - this.base : this.contiguous;
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

  /** Copies bytes for stream positions [from, to) from `src[srcOff..]` into the ring. */
  private put(from: number, to: number, src: Uint8Array, srcOff: number): void {
    const buf = this.buf;
    const size = buf.length;
    let at = this.head + (from - this.base);
    if (at >= size) at -= size;
    const len = to - from;
    const first = len < size - at ? len : size - at;
    copyBytes(buf, at, src, srcOff, first);
    if (first < len) copyBytes(buf, 0, src, srcOff + first, len - first);
  }

  /** Replaces ranges i..j-1 (possibly none: an insertion at i) by [start, end), stamped now. */
  private replaceRanges(i: number, j: number, start: number, end: number): void {
    let r = this.ranges;
    if (r === null) r = this.ranges = new Float64Array(this.maxRanges * STRIDE);
    const n = this.rangeCount;
    if (j !== i + 1) r.copyWithin((i + 1) * STRIDE, j * STRIDE, n * STRIDE);
    this.rangeCount = n - (j - i) + 1;
    r[i * STRIDE + START] = start;
    r[i * STRIDE + END] = end;
    r[i * STRIDE + STAMP] = ++this.clock;
  }

  /** Removes ranges i..j-1. */
  private removeRanges(i: number, j: number): void {
    if (i === j) return;
    const r = this.ranges!;
    r.copyWithin(i * STRIDE, j * STRIDE, this.rangeCount * STRIDE);
    this.rangeCount -= j - i;
  }

  private release(): void {
    if (this.buf !== EMPTY) {
      const budget = this.budget;
      if (budget !== null) {
        budget.release(MemoryKind.OUT_OF_ORDER, this.oooCharged);
        budget.release(MemoryKind.RECEIVE, this.buf.length - this.oooCharged);
      }
      this.oooCharged = 0;
      this.pool.give(this.buf);
    }
    this.buf = EMPTY;
    this.head = 0;
    this.ranges = null;
  }
}
