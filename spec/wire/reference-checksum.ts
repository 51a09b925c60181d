/**
 * The plainest RFC 1071 checksum there is (one 16-bit big-endian word at a time, carries folded at the
 * end): the oracle the checksum specs compare lib/wire/checksum.ts against, and the bench's baseline.
 */
export function referenceSum(bytes: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) {
    const hi = bytes[off + i]!;
    const lo = i + 1 < len ? bytes[off + i + 1]! : 0;
    sum += (hi << 8) | lo;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

export function referenceChecksum(bytes: Uint8Array, off: number, len: number): number {
  return ~referenceSum(bytes, off, len) & 0xffff;
}
