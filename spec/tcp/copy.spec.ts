import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { SHORT_COPY_BYTES, checkInt, checkSpan, copyBytes, isIndex } from "../../lib/tcp/copy.js";

describe("copyBytes", () => {
  const src = Uint8Array.from({ length: 200 }, (_, i) => i);

  it.each([
    ["a short copy (loop)", 5, SHORT_COPY_BYTES - 1],
    ["a copy of exactly the short-copy bound", 5, SHORT_COPY_BYTES],
    ["a long copy from the start of the source, not all of it", 0, 150],
    ["a long copy that ends at the end of the source, not all of it", 50, 150],
    ["a long copy of part of the source (view + set)", 3, 150],
    ["the whole source (set)", 0, 200],
  ])("copies %s", (_name, srcOff, len) => {
    const dst = new Uint8Array(260).fill(0xee);
    copyBytes(dst, 7, src, srcOff, len);
    expect(Array.from(dst.subarray(7, 7 + len))).toEqual(Array.from(src.subarray(srcOff, srcOff + len)));
    expect(dst[6]).toBe(0xee);
    expect(dst[7 + len]).toBe(0xee);
  });

  it("copies nothing for length 0", () => {
    const dst = new Uint8Array(4);
    copyBytes(dst, 4, src, 200, 0);
    expect(Array.from(dst)).toEqual([0, 0, 0, 0]);
  });
});

describe("argument checks", () => {
  it("isIndex accepts non-negative int32 integers only", () => {
    expect(isIndex(0)).toBe(true);
    expect(isIndex(2 ** 31 - 1)).toBe(true);
    expect(isIndex(-1)).toBe(false);
    expect(isIndex(1.5)).toBe(false);
    expect(isIndex(Number.NaN)).toBe(false);
    expect(isIndex(2 ** 31)).toBe(false);
  });

  it("checkSpan and checkInt throw InvalidArgumentError", () => {
    const b = new Uint8Array(10);
    expect(() => checkSpan(b, 0, 10, "x")).not.toThrow();
    expect(() => checkSpan(b, 10, 0, "x")).not.toThrow();
    expect(() => checkSpan(b, 5, 6, "x")).toThrow(InvalidArgumentError);
    expect(() => checkSpan(b, -1, 1, "x")).toThrow(InvalidArgumentError);
    expect(() => checkInt(5, 1, 10, "x")).not.toThrow();
    expect(() => checkInt(11, 1, 10, "x")).toThrow(InvalidArgumentError);
    expect(() => checkInt(2.5, 1, 10, "x")).toThrow(InvalidArgumentError);
    // Both bounds are inclusive.
    expect(() => checkInt(1, 1, 10, "x")).not.toThrow();
    expect(() => checkInt(10, 1, 10, "x")).not.toThrow();
    expect(() => checkInt(0, 1, 10, "x")).toThrow(InvalidArgumentError);
    expect(() => checkSpan(b, 0, 11, "x")).toThrow(InvalidArgumentError);
    expect(() => checkSpan(b, 0, -1, "x")).toThrow(InvalidArgumentError);
  });
});
