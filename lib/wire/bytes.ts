/** Big-endian field access over Uint8Array: no DataView, no allocation. */

export function read16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function read32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** The shared empty view: returned wherever "no bytes" must be a Uint8Array. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Does `[offset, offset + length)` lie inside `b`? Views call this in `check()` so a caller's wrong
 * `length` (or offset) is a drop, never a read past the buffer.
 */
export function fitsIn(b: Uint8Array, offset: number, length: number): boolean {
  return offset >= 0 && length >= 0 && offset + length <= b.length;
}
