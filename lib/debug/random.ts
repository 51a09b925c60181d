/**
 * A small, fast, seeded PRNG for fault injection and tests: xoshiro128** (Blackman and Vigna,
 * "Scrambled linear pseudorandom number generators", 2018), seeded through a 32-bit splitmix-style
 * mixer so that nearby seeds give unrelated streams. Not for cryptography.
 *
 * The same seed gives the same sequence on every platform: all arithmetic is 32-bit integer
 * (Math.imul, >>>), and `next()` is an exact multiple of 2^-32.
 */

import { InvalidArgumentError } from "../errors.js";

const TWO_POW_32 = 4294967296;

/** One round of the murmur3 finaliser over `x + golden ratio`: a 32-bit seed expander. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A seed for an independent stream derived from `seed` (e.g. one per link direction), so that
 * how many numbers one stream draws never shifts another.
 */
export function deriveSeed(seed: number, stream: number): number {
  return mix32((mix32(seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d)) >>> 0);
}

/**
 * A seed for a test run: `L3L4_SEED` from the environment if set (to replay a failure),
 * otherwise a fresh one. Print it with the test's failure message.
 */
export function pickSeed(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const fromEnv = env["L3L4_SEED"];
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_POW_32) {
      throw new InvalidArgumentError(`L3L4_SEED must be an integer in [0, 2^32): ${fromEnv}`);
    }
    return seed;
  }
  return Math.floor(Math.random() * TWO_POW_32);
}

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed`: any integer; only its low 32 bits and sign-free value matter (seed >>> 0). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new InvalidArgumentError(`seed must be a finite number: ${seed}`);
    const s = Math.trunc(seed) >>> 0;
    this.s0 = mix32(s);
    this.s1 = mix32(this.s0);
    this.s2 = mix32(this.s1);
    this.s3 = mix32(this.s2);
    // The all-zero state is the one state xoshiro cannot leave.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A generator at an exact xoshiro128** state (for reference vectors); not all zero. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Random {
    if (((s0 | s1 | s2 | s3) >>> 0) === 0) throw new InvalidArgumentError("xoshiro state must not be all zero");
    const r = new Random(0);
    r.s0 = s0 >>> 0;
    r.s1 = s1 >>> 0;
    r.s2 = s2 >>> 0;
    r.s3 = s3 >>> 0;
    return r;
  }

  /** The next 32 random bits, as an unsigned integer in [0, 2^32). */
  nextU32(): number {
    const s1 = this.s1;
    const rotated = Math.imul(s1, 5);
    const result = Math.imul((rotated << 7) | (rotated >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Uniform in [0, 1), in steps of 2^-32. */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n); n an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new InvalidArgumentError(`int(n) needs an integer n in [1, 2^32]: ${n}`);
    }
    return Math.floor(this.next() * n);
  }

  /** True with probability p (p <= 0: never, p >= 1: always). Draws one number either way. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}
