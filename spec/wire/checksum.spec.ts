import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checksum,
  checksumAdd,
  checksumAddU32,
  checksumAddWord,
  checksumFinish,
  checksumFoldRaw,
  checksumUpdate,
  checksumUpdateU32,
  pseudoSum,
  pseudoSum4,
  pseudoSum6,
} from "../../lib/wire/checksum.js";
import { SIMD_MAX, simdSum } from "../../lib/wire/checksum-simd.js";
import { read16, read32 } from "../../lib/wire/bytes.js";
import { data4, syn4, syn6, udp6 } from "./fixtures/linux-captures.js";
import { referenceChecksum, referenceSum } from "./reference-checksum.js";

describe("RFC 1071 checksum", () => {
  it("sums the RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 -> ddf2", () => {
    const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(checksumFoldRaw(checksumAdd(0, b, 0, 8))).toBe(0xddf2);
    expect(checksum(b, 0, 8)).toBe(0x220d);
  });

  it("pads an odd trailing byte with zero on the right (RFC 1071 §4.1)", () => {
    expect(checksumFoldRaw(checksumAdd(0, Uint8Array.of(0xab), 0, 1))).toBe(0xab00);
    expect(checksumFoldRaw(checksumAdd(0, Uint8Array.of(0x12, 0x34, 0x56), 0, 3))).toBe(0x1234 + 0x5600);
    expect(checksum(Uint8Array.of(0x00, 0x01, 0xf2), 0, 3)).toBe(~(0x0001 + 0xf200) & 0xffff);
  });

  it("gives 0xffff for no bytes or all-zero bytes and 0 for all-ones bytes", () => {
    expect(checksum(new Uint8Array(0), 0, 0)).toBe(0xffff);
    expect(checksum(new Uint8Array(3000), 0, 3000)).toBe(0xffff);
    expect(checksum(new Uint8Array(3000).fill(0xff), 0, 3000)).toBe(0);
    expect(checksum(new Uint8Array(3001).fill(0xff), 1, 2999)).toBe(0x00ff);
  });

  it("verifies to zero over a header that carries its own checksum (RFC 1071 §1 (4))", () => {
    expect(checksum(syn4, 0, 20)).toBe(0);
    expect(checksum(data4, 0, 20)).toBe(0);
  });

  it("equals the plain reference loop at every length 0..600 and every start offset 0..7", () => {
    const buf = new Uint8Array(1024);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 151 + 7) ^ (i >> 3);
    for (let off = 0; off < 8; off++) {
      for (let len = 0; len <= 600; len++) {
        expect(checksum(buf, off, len)).toBe(referenceChecksum(buf, off, len));
      }
    }
  });

  it("equals the reference for random data, lengths and byteOffsets (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 4000 }),
        fc.nat(7),
        fc.nat(7),
        (data, viewOffset, start) => {
          // The view starts at any byteOffset of its ArrayBuffer, the region at any offset of the view.
          const backing = new Uint8Array(viewOffset + start + data.length);
          backing.set(data, viewOffset + start);
          const view = backing.subarray(viewOffset);
          expect(checksum(view, start, data.length)).toBe(referenceChecksum(data, 0, data.length));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("takes the WebAssembly SIMD path on this Node, which equals the reference up to its 128 KiB and at the edges", () => {
    expect(simdSum).not.toBeNull();
    const sum = simdSum!;
    const fold = (s: number) => checksumFoldRaw(s);
    const ones = new Uint8Array(SIMD_MAX).fill(0xff);
    expect(sum(ones, 0, SIMD_MAX)).toBe(fold(referenceSum(ones, 0, SIMD_MAX)));
    const zeros = new Uint8Array(3000);
    expect(sum(zeros, 1, 2999)).toBe(0); // zero only when every byte is
    zeros[2999] = 1;
    expect(sum(zeros, 1, 2999)).toBe(fold(referenceSum(zeros, 1, 2999)));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 70000 }), fc.nat(63), (data, start) => {
        const b = new Uint8Array(start + data.length);
        b.set(data, start);
        expect(sum(b, start, data.length)).toBe(fold(referenceSum(b, start, data.length)));
      }),
      { numRuns: 300 },
    );
    // A view past SIMD_MAX takes the JS loops and agrees with it.
    const long = new Uint8Array(SIMD_MAX + 10).map((_, i) => i * 31);
    expect(checksum(long, 5, SIMD_MAX)).toBe(referenceChecksum(long, 5, SIMD_MAX));
  });

  it("equals the reference for bytes skewed to 0x00 and 0xff (carry-heavy sums)", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0x00, 0xff, 0xfe, 0x01), { minLength: 190, maxLength: 3000 }), fc.nat(3), (xs, start) => {
        const b = new Uint8Array(start + xs.length);
        b.set(xs, start);
        expect(checksum(b, start, xs.length)).toBe(referenceChecksum(b, start, xs.length));
      }),
      { numRuns: 500 },
    );
  });

  it("folds correctly past the 32-bit path's fold interval (6 MiB of 0xff and of random bytes)", () => {
    const ones = new Uint8Array(6 << 20).fill(0xff);
    expect(checksum(ones, 1, ones.length - 1)).toBe(referenceChecksum(ones, 1, ones.length - 1));
    const rnd = new Uint8Array(6 << 20);
    let x = 0x9e3779b9;
    for (let i = 0; i < rnd.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      rnd[i] = x;
    }
    expect(checksum(rnd, 3, rnd.length - 5)).toBe(referenceChecksum(rnd, 3, rnd.length - 5));
  });

  it("stays correct when one view's buffer alternates with another's and when a resizable buffer grows", () => {
    const a = new Uint8Array(1000).fill(0x11);
    const b = new Uint8Array(3000).fill(0x22);
    for (let k = 0; k < 4; k++) {
      expect(checksum(a, 1, 999)).toBe(referenceChecksum(a, 1, 999));
      expect(checksum(b, 2, 2998)).toBe(referenceChecksum(b, 2, 2998));
    }
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & {
      resize(n: number): void;
    };
    const rb = new Resizable(512, { maxByteLength: 8192 });
    const view = new Uint8Array(rb); // length-tracking
    view.fill(0x33);
    expect(checksum(view, 0, 512)).toBe(referenceChecksum(view, 0, 512));
    rb.resize(8192);
    view.fill(0x44);
    expect(checksum(view, 0, 8192)).toBe(referenceChecksum(view, 0, 8192));
    expect(checksum(view, 5, 8000)).toBe(referenceChecksum(view, 5, 8000));
  });

  it("works over a SharedArrayBuffer", () => {
    const v = new Uint8Array(new SharedArrayBuffer(2048));
    for (let i = 0; i < v.length; i++) v[i] = i * 3;
    expect(checksum(v, 1, 2000)).toBe(referenceChecksum(v, 1, 2000));
  });

  it("treats a range past the view's end as zero bytes, reading nothing beyond the view", () => {
    const backing = new Uint8Array(600).fill(0xff);
    const view = backing.subarray(0, 300);
    const inView = new Uint8Array(600);
    inView.set(view);
    expect(checksum(view, 0, 600)).toBe(referenceChecksum(inView, 0, 600));
  });

  it("chains: summing in even-length pieces equals summing at once", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(2000), (data, cut) => {
        const c = Math.min(cut & ~1, data.length);
        const s = checksumAdd(checksumAdd(0, data, 0, c), data, c, data.length - c);
        expect(checksumFinish(s)).toBe(referenceChecksum(data, 0, data.length));
      }),
    );
  });

  it("adds words and 32-bit values as big-endian 16-bit words", () => {
    expect(checksumFoldRaw(checksumAddWord(0, 0x1_2345))).toBe(0x2345);
    expect(checksumFoldRaw(checksumAddU32(0, 0xffff0001))).toBe(0x0001);
    expect(checksumFoldRaw(checksumAddU32(0, 0x12345678))).toBe(0x1234 + 0x5678);
    expect(checksumFoldRaw(0x1_fffe)).toBe(0xffff);
    expect(checksumFoldRaw(2 ** 40 + 5)).toBe(checksumFoldRaw(referenceSumOf([0x0100, 0x0000, 0x0005])));
  });
});

function referenceSumOf(words: number[]): number {
  const b = new Uint8Array(words.length * 2);
  words.forEach((w, i) => {
    b[2 * i] = w >> 8;
    b[2 * i + 1] = w;
  });
  return referenceSum(b, 0, b.length);
}

describe("pseudo-header sums", () => {
  it("IPv4 (RFC 9293 §3.1): source, destination, zero, protocol, TCP length", () => {
    const expected = referenceSumOf([0x0a00, 0x0002, 0xc000, 0x0207, 6, 40]);
    expect(checksumFoldRaw(pseudoSum4(syn4, 0, 6, 40))).toBe(expected);
    expect(checksumFoldRaw(pseudoSum(syn4, 0, 6, 40))).toBe(expected);
    // The captured SYN verifies with it.
    expect(checksumFinish(checksumAdd(pseudoSum4(syn4, 0, 6, 40), syn4, 20, 40))).toBe(0);
  });

  it("IPv6 (RFC 8200 §8.1): addresses, 32-bit length, zeros, next header", () => {
    const words: number[] = [];
    for (let i = 8; i < 40; i += 2) words.push(read16(syn6, i));
    const expected = referenceSumOf([...words, 0, 40, 0, 6]);
    expect(checksumFoldRaw(pseudoSum6(syn6, 0, 6, 40))).toBe(expected);
    expect(checksumFoldRaw(pseudoSum(syn6, 0, 6, 40))).toBe(expected);
    expect(checksumFinish(checksumAdd(pseudoSum6(syn6, 0, 6, 40), syn6, 40, 40))).toBe(0);
    expect(checksumFinish(checksumAdd(pseudoSum6(udp6, 0, 17, 40), udp6, 40, 40))).toBe(0);
    // A length above 16 bits counts both halves.
    expect(checksumFoldRaw(pseudoSum6(syn6, 0, 6, 0x10028))).toBe(checksumFoldRaw(pseudoSum6(syn6, 0, 6, 40) + 1));
  });
});

describe("RFC 1624 incremental update", () => {
  it("reproduces RFC 1624 §4's example: HC 0xdd2f, m 0x5555 -> m' 0x3285 gives 0x0000", () => {
    expect(checksumUpdate(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it("equals recomputing after a random 16-bit word changes (data with one non-zero word, as every header has)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 200 }), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (raw, pick, word) => {
        const data = new Uint8Array(raw.length & ~1);
        data.set(raw.subarray(0, data.length));
        data[0] = 0x45; // like a version/IHL byte: never all zero (see the note on ±0 below)
        const at = 2 + 2 * (pick % ((data.length - 2) / 2));
        const before = checksum(data, 0, data.length);
        const oldWord = read16(data, at);
        data[at] = word >> 8;
        data[at + 1] = word;
        expect(checksumUpdate(before, oldWord, word)).toBe(checksum(data, 0, data.length));
      }),
      { numRuns: 3000 },
    );
  });

  it("equals recomputing after a random 32-bit field changes (address, sequence number)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 200 }), fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), (raw, pick, value) => {
        const data = new Uint8Array(raw.length & ~1);
        data.set(raw.subarray(0, data.length));
        data[0] = 0x45;
        const at = 2 + 2 * (pick % ((data.length - 6) / 2 + 1));
        const before = checksum(data, 0, data.length);
        const oldValue = read32(data, at);
        data[at] = value >>> 24;
        data[at + 1] = value >>> 16;
        data[at + 2] = value >>> 8;
        data[at + 3] = value;
        expect(checksumUpdateU32(before, oldValue, value)).toBe(checksum(data, 0, data.length));
      }),
      { numRuns: 3000 },
    );
  });

  it("updates a real IPv4 header's checksum after a TTL decrement exactly as recomputing does", () => {
    const h = data4.slice(0, 20);
    const before = read16(h, 10);
    const oldWord = read16(h, 8);
    h[8] = h[8]! - 1;
    const updated = checksumUpdate(before, oldWord, read16(h, 8));
    h[10] = 0;
    h[11] = 0;
    expect(updated).toBe(checksum(h, 0, 20));
  });

  it("differs from recomputing only in the sign of zero when the data becomes all zero (RFC 1624 §3)", () => {
    // Two words 0x0000 0x0001: checksum 0xfffe. Change 0x0001 -> 0x0000: recompute gives 0xffff (+0
    // complemented); eqn. 3 gives 0x0000 (-0). Both are "zero" in one's complement. No real header is all zero.
    expect(checksumUpdate(0xfffe, 0x0001, 0x0000)).toBe(0x0000);
    expect(checksum(new Uint8Array(4), 0, 4)).toBe(0xffff);
  });
});
