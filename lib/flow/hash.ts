/**
 * The keyed hash of the engine's open-addressing tables (flow/table.ts, flow/sources.ts): Murmur3's
 * x86_32 body and finaliser over 32-bit words, seeded at random per table so that a peer cannot aim
 * keys at one probe run.
 */

const C1 = 0xcc9e2d51 | 0;
const C2 = 0x1b873593 | 0;

/** A fresh 32-bit seed from the system's CSPRNG. */
export function randomSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0]! | 0;
}

/** Murmur3 (x86_32) of the first `words` words of `k` under `seed`. */
export function hashWords(k: Int32Array, words: number, seed: number): number {
  let h = seed;
  for (let i = 0; i < words; i++) {
    let w = Math.imul(k[i]!, C1);
    w = (w << 15) | (w >>> 17);
    w = Math.imul(w, C2);
    h ^= w;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
