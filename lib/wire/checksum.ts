/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are kept unfolded in a JS number (safe: even 64 KiB of 0xffff words stays far below 2^53) and
 * folded once at the end, RFC 1071 §2 (B) "deferred carries". Words are big-endian, as on the wire;
 * long regions are read as native 32-bit words and byte-swapped once (RFC 1071 §2 (B), byte order
 * independence): spec/bench/wire.ts measured 3-4x the byte-pair loop's speed at 1500 bytes and up.
 */

import { SIMD_MAX, simdSum } from "./checksum-simd.js";

/**
 * Add `len` bytes of `bytes` starting at `off` to the running sum `sum`.
 * An odd trailing byte is padded with zero on the right (RFC 1071 §4.1), so only the last chunk of a
 * checksummed region may have an odd length.
 *
 * The result is not folded; it is congruent to the RFC 1071 sum modulo 0xffff and is zero only when
 * every byte is (so the fold of it, hence the checksum, is exactly the RFC 1071 one).
 */
export function checksumAdd(sum: number, bytes: Uint8Array, off: number, len: number): number {
  // A range past the view's end (a caller's bug) keeps the byte loop's reading: missing bytes count as 0.
  if (len < WORD_PATH_MIN || off < 0 || off + len > bytes.length) return sum + bytePairSum(bytes, off, len);
  // A view not much longer than the region (a packet, its checksummed part past the IP header):
  // copied whole into the SIMD module's memory (checksum-simd.ts). A region in a long buffer (a
  // segment framed in the caller's 64 KiB l3TxBuffer) stays with the JS loops: copying the rest costs more.
  if (simdSum !== null && bytes.length <= len + SIMD_SLACK && bytes.length <= SIMD_MAX) return sum + simdSum(bytes, off, len);
  if (!LITTLE_ENDIAN) return sum + bytePairSum(bytes, off, len);
  return sum + wordSum(bytes, off, len);
}

/** Bytes of a view outside the region that the SIMD path copies along with it: an IPv6 header and options. */
const SIMD_SLACK = 256;

/** Below this many bytes the byte-pair loop beats setting up the 32-bit path (measured: spec/bench). */
const WORD_PATH_MIN = 192;

/** Big-endian 16-bit words, unrolled by 8 bytes; each word < 2^16, so no precision is lost below 2^37 bytes. */
function bytePairSum(bytes: Uint8Array, off: number, len: number): number {
  let i = off;
  const end = off + len;
  const end8 = end - 7;
  let acc = 0;
  while (i < end8) {
    acc +=
      ((bytes[i]! << 8) | bytes[i + 1]!) +
      ((bytes[i + 2]! << 8) | bytes[i + 3]!) +
      ((bytes[i + 4]! << 8) | bytes[i + 5]!) +
      ((bytes[i + 6]! << 8) | bytes[i + 7]!);
    i += 8;
  }
  const end2 = end - 1;
  while (i < end2) {
    acc += (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
  }
  if (i < end) acc += bytes[i]! << 8;
  return acc;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// A Uint32Array over the whole ArrayBuffer of the last buffer summed: one view per buffer, not per call.
// The Uint8Array itself is remembered too: comparing it is cheaper than reading `.buffer`.
let cachedView: Uint8Array | null = null;
let cachedBuffer: ArrayBufferLike | null = null;
let cachedWords: Uint32Array = new Uint32Array(0);

/** 32-bit words over `bytes`' ArrayBuffer covering word index `lastWord`, or null if it cannot. */
function wordsOver(bytes: Uint8Array, lastWord: number): Uint32Array | null {
  if (bytes !== cachedView || lastWord >= cachedWords.length) {
    const buffer = bytes.buffer;
    if (buffer !== cachedBuffer || lastWord >= cachedWords.length) {
      // A new buffer, or one that grew (resizable ArrayBuffer) since the view was made.
      cachedBuffer = buffer;
      cachedWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    }
    cachedView = bytes;
    if (lastWord >= cachedWords.length) return null;
  }
  return cachedWords;
}

/** Words summed between folds: 2^20 words of < 2^32 stay below 2^52, exact in a double. */
const WORDS_PER_FOLD = 1 << 20;

/**
 * The same sum read as native little-endian 32-bit words, for any byteOffset: the bytes before the
 * first 4-byte-aligned address and after the last are added one by one with their big-endian weight.
 * A little-endian 32-bit word gives the byte at an even address weight 1 or 2^16 and at an odd address
 * 2^8 or 2^24, that is 1 and 256 modulo 0xffff (2^16 = 1). When the region starts at an even address its
 * even-indexed bytes should weigh 256: the folded word sum is then byte-swapped, which multiplies it by
 * 256 (RFC 1071 §2 (B), byte order independence).
 */
function wordSum(bytes: Uint8Array, off: number, len: number): number {
  const end = off + len;
  const base = bytes.byteOffset;
  let i = off;
  let edge = 0;
  // Head: up to 3 bytes to reach a 4-byte-aligned address; the relative index i - off gives the weight.
  while (((base + i) & 3) !== 0) {
    edge += ((i - off) & 1) === 0 ? bytes[i]! << 8 : bytes[i]!;
    i++;
  }
  const first = (base + i) >>> 2;
  const count = (end - i) >>> 2;
  const words = wordsOver(bytes, first + count - 1);
  if (words === null) return bytePairSum(bytes, off, len);
  let body = 0;
  let w = first;
  const wEnd = first + count;
  while (w < wEnd) {
    const stop = Math.min(wEnd, w + WORDS_PER_FOLD);
    // 16 words an iteration into two sums, each added as a tree: fewer loop turns and shorter chains
    // of dependent adds than 4 words into one sum did. 1480 bytes (spec/bench/ab-checksum.ts, against
    // the 4-word loop): 208 -> 197, 200 -> 194, 194 -> 186 ns.
    const stop16 = stop - 15;
    let a = 0;
    let b = 0;
    while (w < stop16) {
      a += words[w]! + words[w + 1]! + (words[w + 2]! + words[w + 3]!) + (words[w + 4]! + words[w + 5]! + (words[w + 6]! + words[w + 7]!));
      b += words[w + 8]! + words[w + 9]! + (words[w + 10]! + words[w + 11]!) + (words[w + 12]! + words[w + 13]! + (words[w + 14]! + words[w + 15]!));
      w += 16;
    }
    while (w < stop) a += words[w++]!;
    body = checksumFoldRaw(body + a + b);
  }
  if (((base + off) & 1) === 0) body = ((body & 0xff) << 8) | (body >>> 8);
  // Tail: the last 0..3 bytes.
  for (i += count * 4; i < end; i++) edge += ((i - off) & 1) === 0 ? bytes[i]! << 8 : bytes[i]!;
  return edge + body;
}

/** Add one 16-bit word. */
export function checksumAddWord(sum: number, word: number): number {
  return sum + (word & 0xffff);
}

/** Add one 32-bit value as two 16-bit words. */
export function checksumAddU32(sum: number, value: number): number {
  return sum + ((value >>> 16) & 0xffff) + (value & 0xffff);
}

/** Fold carries into 16 bits (RFC 1071 §4.1) without complementing. */
export function checksumFoldRaw(sum: number): number {
  // At most a few folds: sum < 2^53.
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value: one's complement of the folded sum. */
export function checksumFinish(sum: number): number {
  return ~checksumFoldRaw(sum) & 0xffff;
}

/** Checksum of a region on its own. */
export function checksum(bytes: Uint8Array, off: number, len: number): number {
  return checksumFinish(checksumAdd(0, bytes, off, len));
}

/**
 * Sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): source, destination, zero, protocol, length.
 * `ipOff` is where the IPv4 header starts in `bytes` (the addresses are read at +12 and +16).
 */
export function pseudoSum4(bytes: Uint8Array, ipOff: number, protocol: number, l4Length: number): number {
  const sum = checksumAdd(0, bytes, ipOff + 12, 8);
  return sum + protocol + l4Length;
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, upper-layer length (32 bits),
 * zero, next header. `ipOff` is where the IPv6 header starts (addresses at +8 and +24).
 */
export function pseudoSum6(bytes: Uint8Array, ipOff: number, protocol: number, l4Length: number): number {
  const sum = checksumAdd(0, bytes, ipOff + 8, 32);
  return checksumAddU32(sum, l4Length) + protocol;
}

/** The pseudo-header sum for the IP header at `ipOff`, by its version nibble. */
export function pseudoSum(bytes: Uint8Array, ipOff: number, protocol: number, l4Length: number): number {
  return bytes[ipOff]! >> 4 === 6
    ? pseudoSum6(bytes, ipOff, protocol, l4Length)
    : pseudoSum4(bytes, ipOff, protocol, l4Length);
}

/**
 * RFC 1624 §3 eqn. 3: HC' = ~(~HC + ~m + m'), the new checksum after one 16-bit word of the
 * checksummed data changes from `oldWord` to `newWord`.
 */
export function checksumUpdate(oldChecksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~checksumFoldRaw(sum) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address, a sequence number): two word updates. */
export function checksumUpdateU32(oldChecksum: number, oldValue: number, newValue: number): number {
  const sum =
    (~oldChecksum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  return ~checksumFoldRaw(sum) & 0xffff;
}
