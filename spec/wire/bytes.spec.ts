import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY, fitsIn, read16, read32, write16, write32 } from "../../lib/wire/bytes.js";

describe("big-endian access", () => {
  it("reads and writes 16 and 32 bits in network order", () => {
    const b = new Uint8Array(6);
    write16(b, 0, 0x1234);
    write32(b, 2, 0xdeadbeef);
    expect(Array.from(b)).toEqual([0x12, 0x34, 0xde, 0xad, 0xbe, 0xef]);
    expect(read16(b, 0)).toBe(0x1234);
    expect(read32(b, 2)).toBe(0xdeadbeef); // unsigned, not negative
  });

  it("round-trips any value at any offset, truncating to the field width", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.nat(4), (v, o) => {
        const b = new Uint8Array(8);
        write32(b, o, v);
        expect(read32(b, o)).toBe(v);
        write16(b, o, v);
        expect(read16(b, o)).toBe(v & 0xffff);
      }),
    );
  });

  it("fitsIn says whether a range lies inside the view", () => {
    const b = new Uint8Array(10);
    expect([fitsIn(b, 0, 10), fitsIn(b, 10, 0), fitsIn(b, 5, 5), fitsIn(b, 5, 6), fitsIn(b, -1, 2), fitsIn(b, 0, -1), fitsIn(b, 11, 0)]).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect(EMPTY.length).toBe(0);
  });
});
