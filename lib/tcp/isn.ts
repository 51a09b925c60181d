/**
 * Initial sequence numbers, RFC 6528 ("Defending against Sequence Number Attacks") §3:
 *
 *     ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * M is a timer ticking every 4 microseconds (so consecutive incarnations of one 4-tuple get
 * increasing ISNs, RFC 9293 §3.4.1), F a keyed hash that an off-path attacker cannot compute.
 * F is SipHash-2-4 (Aumasson & Bernstein, 2012), a keyed PRF fast on short inputs; Linux uses
 * SipHash for its ISNs too (secure_tcp_seq). The same keyed hash, under a key derived from the
 * ISN secret, gives each connection its timestamp offset (RFC 7323 §5.4: TSval need not reveal a
 * clock shared across connections), and is exported for SYN cookies.
 *
 * 64-bit SipHash arithmetic is done on pairs of 32-bit halves, in int32 locals for the whole hash.
 * Hashing allocates nothing.
 */
import { randomBytes } from "node:crypto";
import { InvalidArgumentError } from "../errors.js";
import { isIndex } from "./copy.js";
import { seq } from "./seq.js";
import type { Seq } from "./seq.js";

/** SipHash key length in bytes (128 bits). */
export const SIPHASH_KEY_BYTES = 16;

/** RFC 6528 §3: M "is a 4-microsecond timer": 250 ticks per millisecond. */
const TICKS_PER_MS = 250;

/** SipHash-2-4: 2 compression rounds per message block, 4 finalization rounds. */
const C_ROUNDS = 2;
const D_ROUNDS = 4;

/**
 * SipHash-2-4 (the SipHash paper, §2) of a message given as 8-byte blocks: `blocks` full blocks
 * from `m` (block i is m[2i] low, m[2i + 1] high: the bytes little-endian), then the last block
 * `lastHi`:`lastLo` (the tail and the length byte). `k` is the key as [k0 hi, k0 lo, k1 hi, k1 lo];
 * the result goes to out[0] (hi), out[1] (lo).
 *
 * The whole hash runs in int32 locals: each lane's halves for every round, block and the
 * finalisation, so the state never goes through memory. One loop does it: one pass per block (v3 ^=
 * m, C_ROUNDS rounds, v0 ^= m), then one more for the finalisation (v2 ^= 0xff, D_ROUNDS rounds).
 * A 64-bit addition is the two 32-bit ones with the low half's carry (an unsigned sum that wrapped
 * is below its first operand); a rotation by n < 32 moves bits across the halves; by 32 it swaps them.
 */
function sipHash(k: Uint32Array, m: Uint32Array, blocks: number, lastHi: number, lastLo: number, out: Uint32Array): void {
  // "somepseudorandomlygeneratedbytes", XORed with the key.
  let v0h = k[0]! ^ 0x736f6d65;
  let v0l = k[1]! ^ 0x70736575;
  let v1h = k[2]! ^ 0x646f7261;
  let v1l = k[3]! ^ 0x6e646f6d;
  let v2h = k[0]! ^ 0x6c796765;
  let v2l = k[1]! ^ 0x6e657261;
  let v3h = k[2]! ^ 0x74656462;
  let v3l = k[3]! ^ 0x79746573;
  let t = 0;
  for (let b = 0; b <= blocks + 1; b++) {
    let mh = 0;
    let ml = 0;
    let rounds = C_ROUNDS;
    if (b < blocks) {
      mh = m[2 * b + 1]! | 0;
      ml = m[2 * b]! | 0;
    } else if (b === blocks) {
      mh = lastHi | 0;
      ml = lastLo | 0;
    } else {
      v2l ^= 0xff;
      rounds = D_ROUNDS;
    }
    v3h ^= mh;
    v3l ^= ml;
    for (let r = 0; r < rounds; r++) {
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      t = (v0l + v1l) | 0;
      v0h = (v0h + v1h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
      v0l = t;
      t = v1h;
      v1h = (t << 13) | (v1l >>> 19);
      v1l = (v1l << 13) | (t >>> 19);
      v1h ^= v0h;
      v1l ^= v0l;
      t = v0h;
      v0h = v0l;
      v0l = t;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      t = (v2l + v3l) | 0;
      v2h = (v2h + v3h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
      v2l = t;
      t = v3h;
      v3h = (t << 16) | (v3l >>> 16);
      v3l = (v3l << 16) | (t >>> 16);
      v3h ^= v2h;
      v3l ^= v2l;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      t = (v0l + v3l) | 0;
      v0h = (v0h + v3h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0;
      v0l = t;
      t = v3h;
      v3h = (t << 21) | (v3l >>> 11);
      v3l = (v3l << 21) | (t >>> 11);
      v3h ^= v0h;
      v3l ^= v0l;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      t = (v2l + v1l) | 0;
      v2h = (v2h + v1h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
      v2l = t;
      t = v1h;
      v1h = (t << 17) | (v1l >>> 15);
      v1l = (v1l << 17) | (t >>> 15);
      v1h ^= v2h;
      v1l ^= v2l;
      t = v2h;
      v2h = v2l;
      v2l = t;
    }
    v0h ^= mh;
    v0l ^= ml;
  }
  out[0] = v0h ^ v1h ^ v2h ^ v3h;
  out[1] = v0l ^ v1l ^ v2l ^ v3l;
}

/** Little-endian 32-bit read. */
function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/**
 * SipHash-2-4 under one 128-bit key, 64-bit output. Each call leaves the result in `hi` / `lo`
 * (two uint32 halves) and returns `lo`. Reuses its own scratch: not reentrant, allocation-free.
 */
export class SipHash24 {
  private readonly k = new Uint32Array(4); // k0 hi, k0 lo, k1 hi, k1 lo
  /** The last result: hi, lo. */
  private readonly result = new Uint32Array(2);
  /** hashBytes's message as words; grown (off the hot path: only tests hash bytes). */
  private byteWords = new Uint32Array(16);

  /** @param key 16 bytes; k0 and k1 are read little-endian as the reference implementation does. */
  constructor(key: Uint8Array) {
    if (key.length !== SIPHASH_KEY_BYTES) {
      throw new InvalidArgumentError(`SipHash key must be ${SIPHASH_KEY_BYTES} bytes, got ${key.length}`);
    }
    this.k[0] = le32(key, 4);
    this.k[1] = le32(key, 0);
    this.k[2] = le32(key, 12);
    this.k[3] = le32(key, 8);
  }

  /** High 32 bits of the last result. */
  get hi(): number {
    return this.result[0]!;
  }

  /** Low 32 bits of the last result. */
  get lo(): number {
    return this.result[1]!;
  }

  /**
   * Hashes the message `words[0 .. count)`, each word taken as its 4 bytes little-endian (so the
   * result equals `hashBytes` over that byte serialisation). Returns the low 32 bits.
   */
  hashWords(words: Uint32Array, count: number): number {
    if (!isIndex(count) || count > words.length) {
      throw new InvalidArgumentError(`SipHash24.hashWords: ${count} words of ${words.length}`);
    }
    // Last block: the remaining word (if any) and the message length in bytes, mod 256, on top.
    const lastLo = count & 1 ? words[count - 1]! : 0;
    sipHash(this.k, words, count >>> 1, ((count * 4) & 0xff) << 24, lastLo, this.result);
    return this.result[1]!;
  }

  /** Hashes `data[off .. off + len)`. Returns the low 32 bits. */
  hashBytes(data: Uint8Array, off: number, len: number): number {
    if (!isIndex(off) || !isIndex(len) || off + len > data.length) {
      throw new InvalidArgumentError(`SipHash24.hashBytes: ${off}+${len} outside ${data.length} bytes`);
    }
    const blocks = len >>> 3;
    if (this.byteWords.length < 2 * blocks) this.byteWords = new Uint32Array(2 * blocks);
    const m = this.byteWords;
    for (let i = 0; i < 2 * blocks; i++) m[i] = le32(data, off + 4 * i);
    const p = off + 8 * blocks;
    let hi = (len & 0xff) << 24;
    let lo = 0;
    for (let i = 0; p + i < off + len; i++) {
      const byte = data[p + i]!;
      if (i < 4) lo |= byte << (8 * i);
      else hi |= byte << (8 * (i - 4));
    }
    sipHash(this.k, m, blocks, hi, lo, this.result);
    return this.result[1]!;
  }
}

/**
 * Writes a connection's 4-tuple into `out` as 32-bit words for `IsnGenerator`: the local address,
 * the remote address (each 1 word for IPv4, 4 for IPv6, big-endian, read from `addrLen` bytes at
 * the given offsets), then (localPort << 16) | remotePort. Returns the word count (3 or 9).
 * `out` needs room for 9 words.
 */
export function fourTupleWords(
  out: Uint32Array,
  local: Uint8Array,
  localOff: number,
  remote: Uint8Array,
  remoteOff: number,
  addrLen: 4 | 16,
  localPort: number,
  remotePort: number,
): number {
  const addrWords = addrLen >>> 2;
  const count = 2 * addrWords + 1;
  if (
    (addrLen !== 4 && addrLen !== 16) ||
    out.length < count ||
    !isIndex(localOff) ||
    !isIndex(remoteOff) ||
    localOff + addrLen > local.length ||
    remoteOff + addrLen > remote.length
  ) {
    throw new InvalidArgumentError("fourTupleWords: address length must be 4 or 16 and every range in bounds");
  }
  for (let i = 0; i < addrWords; i++) {
    out[i] = be32(local, localOff + 4 * i);
    out[addrWords + i] = be32(remote, remoteOff + 4 * i);
  }
  out[2 * addrWords] = ((localPort & 0xffff) << 16) | (remotePort & 0xffff);
  return count;
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * RFC 6528 ISN generator, and per-connection timestamp offsets, for one engine. The secret is
 * drawn once (node:crypto) and never leaves the object. It is kept for the engine's life, as Linux
 * keeps its secret for the boot: a new key would make a 4-tuple's ISN jump arbitrarily, which is
 * what the clock component M exists to prevent (RFC 9293 §3.4.1).
 */
export class IsnGenerator {
  /** F() of RFC 6528: SipHash-2-4 under the ISN secret; reusable for SYN cookies. */
  readonly keyedHash: SipHash24;
  /** SipHash-2-4 under a key derived from the secret, for timestamp offsets. */
  private readonly tsHash: SipHash24;

  /**
   * @param key 16-byte secret; by default 16 random bytes from node:crypto. Pass one only for
   *   deterministic tests.
   */
  constructor(key: Uint8Array = randomBytes(SIPHASH_KEY_BYTES)) {
    this.keyedHash = new SipHash24(key);
    // Derive the timestamp key: two hashes of fixed labels under the secret (domain separation,
    // so an ISN and a timestamp offset of one tuple are unrelated).
    const label = new Uint32Array([0x54534f46 /* "TSOF" */, 0]);
    const tsKey = new Uint8Array(SIPHASH_KEY_BYTES);
    const view = new DataView(tsKey.buffer);
    for (let i = 0; i < 2; i++) {
      label[1] = i;
      this.keyedHash.hashWords(label, 2);
      view.setUint32(8 * i, this.keyedHash.lo, true);
      view.setUint32(8 * i + 4, this.keyedHash.hi, true);
    }
    this.tsHash = new SipHash24(tsKey);
  }

  /**
   * RFC 6528 §3: ISN = M + F(4-tuple, secret) mod 2**32, M = `nowMs` in 4-µs ticks.
   * @param nowMs the engine clock in milliseconds (fractions count).
   * @param words the connection's 4-tuple as `count` words (see `fourTupleWords`).
   */
  isn(nowMs: number, words: Uint32Array, count: number): Seq {
    const f = this.keyedHash.hashWords(words, count);
    const m = Math.floor(nowMs * TICKS_PER_MS) >>> 0;
    return seq(m + f);
  }

  /**
   * A per-connection offset (uint32) to add to our TSval clock (RFC 7323 §5.4): timestamps then
   * reveal neither the engine's clock nor a relation between connections.
   */
  tsOffset(words: Uint32Array, count: number): number {
    return this.tsHash.hashWords(words, count);
  }
}
