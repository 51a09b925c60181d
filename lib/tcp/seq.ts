/**
 * 32-bit sequence-number arithmetic (RFC 9293 §3.4).
 *
 * "It is essential to remember that the actual sequence number space is finite, though very large.
 * This space ranges from 0 to 2**32 - 1. Since the space is finite, all arithmetic dealing with
 * sequence numbers must be performed modulo 2**32." (RFC 9293 §3.4)
 *
 * Comparisons use the signed 32-bit distance (serial-number arithmetic, as RFC 1982 and every stack
 * do): `a` is before `b` when `(a - b)` taken as an int32 is negative. That answer is meaningful only
 * while the two numbers are less than 2**31 apart, which TCP guarantees for everything it compares
 * (windows are at most 2**30, RFC 7323 §2.3).
 *
 * A `Seq` is a plain number at run time (no object, no cost); the brand only keeps sequence numbers
 * and byte counts apart at compile time. Every function here returns a normalised uint32.
 */

/** A TCP sequence number: an integer in [0, 2**32). Make one with {@link seq}. */
export type Seq = number & { readonly __seq: unique symbol };

/** 2**32: the size of the sequence space. */
export const SEQ_SPACE = 0x1_0000_0000;

/**
 * The starting value of a field that holds a uint32 (a sequence number, a timestamp) in an object made
 * per connection: zero, as a double. Half of all such values are 2**31 or more, which V8 cannot keep
 * as small integers; a field that starts as the small integer 0 must change to a double the first
 * time it holds one, and that deprecates the hidden class of every object of the class and
 * deoptimises each function that has seen it: a round of deopts per field, all through the hot
 * path (the handshake bench ran at half speed). A field that starts as a double never changes. It
 * is -0 because a literal +0 is a small integer; -0 === 0, and arithmetic on it gives +0.
 * A double field costs a 16-byte box per object: only the fields that every connection fills with a
 * random 32-bit value at its handshake (ISS, IRS and those that follow them, the timestamps) start
 * this way. Those that only some connections use (finSeq, rttSeq, the SACK scoreboard's) start as
 * seq(0) and stay small integers, and boxless, until a connection needs them.
 */
export const UINT32_FIELD_ZERO = -0;
/** UINT32_FIELD_ZERO as a sequence number. */
export const SEQ_ZERO = UINT32_FIELD_ZERO as Seq;

/** Brands `n` as a sequence number, reduced modulo 2**32 (so `seq(-1)` is 0xffffffff). */
export function seq(n: number): Seq {
  return (n >>> 0) as Seq;
}

/** `a + n` modulo 2**32. `n` may be negative (|n| < 2**32). */
export function seqAdd(a: Seq, n: number): Seq {
  return ((a + n) >>> 0) as Seq;
}

/**
 * The signed distance `a - b` as an int32: positive when `a` is after `b`.
 * E.g. `seqSub(seq(5), seq(0xfffffffe)) === 7`.
 */
export function seqSub(a: Seq, b: Seq): number {
  return (a - b) | 0;
}

/** `a < b` in sequence space (RFC 9293 §3.4 "<"). */
export function seqLt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) < 0;
}

/** `a =< b` in sequence space. */
export function seqLe(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a > b` in sequence space. */
export function seqGt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) > 0;
}

/** `a >= b` in sequence space. */
export function seqGe(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of `a` and `b` in sequence space. */
export function seqMax(a: Seq, b: Seq): Seq {
  return ((a - b) | 0) >= 0 ? a : b;
}

/** The earlier of `a` and `b` in sequence space. */
export function seqMin(a: Seq, b: Seq): Seq {
  return ((a - b) | 0) <= 0 ? a : b;
}

/**
 * `start =< x < start + len`: is `x` inside the window of `len` octets that begins at `start`?
 * A zero-length window holds nothing (RFC 9293 §3.10.7.4's acceptability table treats RCV.WND = 0
 * separately: the caller tests `x === RCV.NXT` there). `len` is a byte count in [0, 2**32).
 *
 * Computed as the unsigned offset of `x` from `start`, so it is exact for any window below 2**32,
 * not only below 2**31.
 */
export function seqInWindow(x: Seq, start: Seq, len: number): boolean {
  return ((x - start) >>> 0) < len;
}

/**
 * `lo =< x =< hi` (both ends included), walking forward from `lo` to `hi`: e.g. the ACK test
 * "SND.UNA =< SEG.ACK =< SND.NXT" (RFC 9293 §3.10.7.4). `hi` is taken to be at or after `lo`;
 * when `hi === lo` only `x === lo` is inside.
 */
export function seqInRange(x: Seq, lo: Seq, hi: Seq): boolean {
  return ((x - lo) >>> 0) <= ((hi - lo) >>> 0);
}
