/**
 * SYN cookies (RFC 4987 §3.6), in the Linux manner (net/ipv4/syncookies.c): when the SYN backlog is
 * full, the SYN-ACK's ISS carries what the connection needs, and no state is kept until the ACK that
 * completes the handshake comes back with it (ISS + 1 in its ACK field); that ACK rebuilds the
 * connection.
 *
 *   ISS = Hhi + ((t mod 256) << 24) + ((Hlo + mssIndex) mod 2**24),  H = H(4-tuple, t, client ISN)
 *
 * H is SipHash-2-4 under the engine's secret (the RFC 6528 keyed hash), one 64-bit hash whose two
 * halves play the parts of Linux's two (net/ipv4/syncookies.c secure_tcp_syn_cookie: H1 over the
 * 4-tuple, H2 over it and t): Hhi hides the counter and the rest, Hlo keys the MSS index. (Its
 * message, two words longer than the 4-tuple alone, keeps it apart from the ISN's F under the same
 * key: SipHash hashes the length.) t is a
 * counter that steps every 64 s (RFC 4987 §3.6: "t is a slowly incrementing timer"): the secret in
 * effect rotates with t, and a cookie is accepted for t and t - 1 only (Linux's MAX_SYNCOOKIE_AGE
 * 2), so it lives 64 to 128 s. Making a cookie takes one hash (a SYN flood's every SYN makes one);
 * checking it one per period it may come from, two at most, each confirming its counter's 8 bits
 * and then its index, so a guess passes with odds of 2 * 4 / 2**32, as on Linux. The
 * client's ISN makes a cookie good for that SYN only; the hash covers all of t, so a cookie 256
 * periods old does not come back to life. The MSS is an index into a small table (Linux's msstab),
 * rounded down to an entry the peer's MSS reaches.
 *
 * The options a SYN-ACK agreed and the cookie cannot hold go into the low 6 bits of its TSval when
 * the peer sent timestamps (Linux's cookie_init_timestamp): window scale (4 bits, 0xf = none),
 * SACK-permitted, ECN. The peer echoes them in the TSecr of its ACK. Without timestamps the rebuilt
 * connection has neither window scaling nor SACK, as on Linux.
 *
 * Allocation-free: the hashes run over a preallocated word buffer.
 */
import { SipHash24, fourTupleWords } from "./isn.js";
import { seq, seqAdd, type Seq } from "./seq.js";

/** Linux msstab (IPv4): the MSS values a cookie can carry. */
export const COOKIE_MSS_V4: readonly number[] = [536, 1300, 1440, 1460];
/** Linux msstab6 (IPv6): 1280, 1480, 1500 and 9000-byte paths less the 60 bytes of IPv6 + TCP headers. */
export const COOKIE_MSS_V6: readonly number[] = [1220, 1420, 1440, 8940];

/** Bits of the hashed part (Linux COOKIEBITS); t sits above them. */
const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;
/** RFC 4987 §3.6 steps t every 64 seconds. */
export const COOKIE_PERIOD_MS = 64_000;
/** A cookie is good for the period it was made in and the next (Linux MAX_SYNCOOKIE_AGE). */
const MAX_AGE = 2;
/**
 * How long a cookie sent may come back: while one went out this recently, an ACK for no flow is
 * checked for one (Linux's tcp_synq_no_recent_overflow).
 */
export const COOKIE_LIFETIME_MS = MAX_AGE * COOKIE_PERIOD_MS;

/** TSval low bits (Linux TSBITS): window scale 0-3, SACK 4, ECN 5. */
export const COOKIE_TS_BITS = 6;
const TS_MASK = (1 << COOKIE_TS_BITS) - 1;
const TS_WSCALE_NONE = 0xf;
const TS_SACK = 1 << 4;
const TS_ECN = 1 << 5;

/** What a cookie's TSecr carried back (decodeTimestamp). */
export interface CookieOptions {
  /** Our peer's window scale shift (RFC 7323 §2.2), or -1: none. */
  windowScale: number;
  sackPermitted: boolean;
  ecn: boolean;
}

/** The largest table index whose MSS the peer's (or the default 536 when it sent none) reaches. */
export function cookieMssIndex(peerMss: number, family: 4 | 6): number {
  const table = family === 4 ? COOKIE_MSS_V4 : COOKIE_MSS_V6;
  let i = table.length - 1;
  while (i > 0 && table[i]! > peerMss) i--;
  return i;
}

export class SynCookies {
  /** The 4-tuple words, then t and the client's ISN. */
  private readonly words = new Uint32Array(11);
  private tupleWords = 0;

  constructor(private readonly hash: SipHash24) {}

  /** t for a time on the engine clock. */
  static counter(nowMs: number): number {
    return Math.floor(nowMs / COOKIE_PERIOD_MS) >>> 0;
  }

  /**
   * Sets the connection the next `make`/`check` is about (as fourTupleWords takes it: the engine's
   * end first).
   */
  tuple(local: Uint8Array, localOff: number, remote: Uint8Array, remoteOff: number, addrLen: 4 | 16, localPort: number, remotePort: number): this {
    this.tupleWords = fourTupleWords(this.words, local, localOff, remote, remoteOff, addrLen, localPort, remotePort);
    return this;
  }

  /** H(4-tuple, t, client ISN): the low half returned, the high half in `hash.hi`. */
  private h(t: number, clientIsn: number): number {
    const n = this.tupleWords;
    this.words[n] = t;
    this.words[n + 1] = clientIsn;
    return this.hash.hashWords(this.words, n + 2);
  }

  /** The ISS of a SYN-ACK answering a SYN whose sequence number was `clientIsn`, carrying `mssIndex`. */
  make(clientIsn: Seq, mssIndex: number, nowMs: number): Seq {
    const t = SynCookies.counter(nowMs);
    const lo = this.h(t, clientIsn);
    return seq(this.hash.hi + (((t << COOKIE_BITS) | ((lo + mssIndex) & COOKIE_MASK)) >>> 0));
  }

  /**
   * Checks the ACK completing a cookie handshake: `ack` is its ACK field (our ISS + 1), `segSeq` its
   * sequence number (the client's ISN + 1). Returns the MSS table index the cookie carried, or -1 when
   * it is not one of ours, or too old.
   */
  check(ack: Seq, segSeq: Seq, nowMs: number, tableSize: number): number {
    const iss = seqAdd(ack, -1);
    const clientIsn = seqAdd(segSeq, -1);
    const now = SynCookies.counter(nowMs);
    for (let age = 0; age < MAX_AGE; age++) {
      const t = (now - age) >>> 0;
      const lo = this.h(t, clientIsn);
      const cookie = (iss - this.hash.hi) >>> 0;
      if (cookie >>> COOKIE_BITS !== (t & 0xff)) continue;
      const index = ((cookie & COOKIE_MASK) - lo) & COOKIE_MASK;
      if (index < tableSize) return index;
    }
    return -1;
  }
}

/**
 * Our SYN-ACK's TSval with the options folded into its low bits, never later than `tsval` itself (a
 * clock must not run ahead: Linux steps back one 64-tick unit when the bits would make it larger).
 */
export function encodeTimestamp(tsval: number, options: CookieOptions): number {
  let bits = options.windowScale < 0 ? TS_WSCALE_NONE : Math.min(options.windowScale, 14);
  if (options.sackPermitted) bits |= TS_SACK;
  if (options.ecn) bits |= TS_ECN;
  let ts = ((tsval & ~TS_MASK) | bits) >>> 0;
  if (((ts - tsval) | 0) > 0) ts = (ts - (1 << COOKIE_TS_BITS)) >>> 0;
  return ts;
}

/** The options an ACK's TSecr brings back from encodeTimestamp, into `out` (allocation-free). */
export function decodeTimestamp(tsecr: number, out: CookieOptions): void {
  const wscale = tsecr & 0xf;
  out.windowScale = wscale === TS_WSCALE_NONE ? -1 : wscale;
  out.sackPermitted = (tsecr & TS_SACK) !== 0;
  out.ecn = (tsecr & TS_ECN) !== 0;
}
