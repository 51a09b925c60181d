/** Network byte order (big-endian, RFC 791 Appendix B) reads and writes for the packet oracle. */

export function get16(b: Uint8Array, at: number): number {
  return b[at]! * 0x100 + b[at + 1]!;
}

export function get32(b: Uint8Array, at: number): number {
  return b[at]! * 0x100_0000 + b[at + 1]! * 0x1_0000 + b[at + 2]! * 0x100 + b[at + 3]!;
}

export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = Math.floor(v / 0x100) & 0xff;
  b[at + 1] = v & 0xff;
}

export function put32(b: Uint8Array, at: number, v: number): void {
  const u = ((v % 0x1_0000_0000) + 0x1_0000_0000) % 0x1_0000_0000;
  b[at] = Math.floor(u / 0x100_0000) & 0xff;
  b[at + 1] = Math.floor(u / 0x1_0000) & 0xff;
  b[at + 2] = Math.floor(u / 0x100) & 0xff;
  b[at + 3] = u & 0xff;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
