import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  SEQ_SPACE,
  seq,
  seqAdd,
  seqGe,
  seqGt,
  seqInRange,
  seqInWindow,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
  seqSub,
} from "../../lib/tcp/seq.js";

const MAX = 0xffff_ffff;
const u32 = fc.integer({ min: 0, max: MAX }).map(seq);
/** A distance that keeps two sequence numbers comparable: |d| < 2**31. */
const distance = fc.integer({ min: -(2 ** 31 - 1), max: 2 ** 31 - 1 });

describe("seq", () => {
  it("normalises to uint32", () => {
    expect(seq(0)).toBe(0);
    expect(seq(-1)).toBe(MAX);
    expect(seq(SEQ_SPACE)).toBe(0);
    expect(seq(SEQ_SPACE + 5)).toBe(5);
    expect(seq(0x8000_0000)).toBe(0x8000_0000);
  });

  it("adds modulo 2**32, forwards and backwards", () => {
    expect(seqAdd(seq(MAX), 1)).toBe(0);
    expect(seqAdd(seq(MAX - 1), 10)).toBe(8);
    expect(seqAdd(seq(3), -5)).toBe(MAX - 1);
    expect(seqAdd(seq(7), 0)).toBe(7);
    expect(seqAdd(seq(1), SEQ_SPACE - 1)).toBe(0);
  });

  it("gives the signed distance across the wrap", () => {
    expect(seqSub(seq(5), seq(MAX - 1))).toBe(7);
    expect(seqSub(seq(MAX - 1), seq(5))).toBe(-7);
    expect(seqSub(seq(100), seq(100))).toBe(0);
    expect(seqSub(seq(0x8000_0000), seq(0))).toBe(-(2 ** 31));
  });

  it("compares across the wrap at 2**32", () => {
    const before = seq(MAX - 10);
    const after = seq(10);
    expect(seqLt(before, after)).toBe(true);
    expect(seqLe(before, after)).toBe(true);
    expect(seqGt(after, before)).toBe(true);
    expect(seqGe(after, before)).toBe(true);
    expect(seqLt(after, before)).toBe(false);
    expect(seqGt(before, after)).toBe(false);
    expect(seqLe(after, after)).toBe(true);
    expect(seqGe(after, after)).toBe(true);
    expect(seqLt(after, after)).toBe(false);
    expect(seqGt(after, after)).toBe(false);
    expect(seqMax(before, after)).toBe(after);
    expect(seqMax(after, before)).toBe(after);
    expect(seqMin(before, after)).toBe(before);
    expect(seqMin(after, before)).toBe(before);
  });

  it("orders a + d after a exactly when d > 0 (|d| < 2**31), for any a", () => {
    fc.assert(
      fc.property(u32, distance, (a, d) => {
        const b = seqAdd(a, d);
        expect(seqSub(b, a)).toBe(d);
        expect(seqGt(b, a)).toBe(d > 0);
        expect(seqLt(b, a)).toBe(d < 0);
        expect(seqGe(b, a)).toBe(d >= 0);
        expect(seqLe(b, a)).toBe(d <= 0);
        expect(seqMax(a, b)).toBe(d >= 0 ? b : a);
        expect(seqMin(a, b)).toBe(d >= 0 ? a : b);
      }),
    );
  });

  it("results are always uint32", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: -MAX, max: MAX }), (a, n) => {
        const r = seqAdd(a, n);
        expect(Number.isInteger(r) && r >= 0 && r <= MAX).toBe(true);
      }),
    );
  });
});

describe("seqInWindow", () => {
  it("is start =< x < start + len", () => {
    expect(seqInWindow(seq(100), seq(100), 10)).toBe(true);
    expect(seqInWindow(seq(109), seq(100), 10)).toBe(true);
    expect(seqInWindow(seq(110), seq(100), 10)).toBe(false);
    expect(seqInWindow(seq(99), seq(100), 10)).toBe(false);
  });

  it("holds nothing when len is 0", () => {
    expect(seqInWindow(seq(100), seq(100), 0)).toBe(false);
    expect(seqInWindow(seq(0), seq(0), 0)).toBe(false);
  });

  it("works across the wrap", () => {
    const start = seq(MAX - 4);
    expect(seqInWindow(seq(MAX), start, 10)).toBe(true);
    expect(seqInWindow(seq(0), start, 10)).toBe(true);
    expect(seqInWindow(seq(4), start, 10)).toBe(true);
    expect(seqInWindow(seq(5), start, 10)).toBe(false);
    expect(seqInWindow(seq(MAX - 5), start, 10)).toBe(false);
  });

  it("is exact for windows of 2**31 and more", () => {
    const start = seq(10);
    expect(seqInWindow(seqAdd(start, 2 ** 31 + 5), start, 2 ** 31 + 6)).toBe(true);
    expect(seqInWindow(seqAdd(start, 2 ** 31 + 6), start, 2 ** 31 + 6)).toBe(false);
  });

  it("agrees with the offset definition for any start and length", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: 2 ** 30 }), (start, off, len) => {
        expect(seqInWindow(seqAdd(start, off), start, len)).toBe(off < len);
      }),
    );
  });
});

describe("seqInRange", () => {
  it("includes both ends", () => {
    expect(seqInRange(seq(10), seq(10), seq(20))).toBe(true);
    expect(seqInRange(seq(20), seq(10), seq(20))).toBe(true);
    expect(seqInRange(seq(15), seq(10), seq(20))).toBe(true);
    expect(seqInRange(seq(9), seq(10), seq(20))).toBe(false);
    expect(seqInRange(seq(21), seq(10), seq(20))).toBe(false);
  });

  it("is the single point lo when hi === lo", () => {
    expect(seqInRange(seq(7), seq(7), seq(7))).toBe(true);
    expect(seqInRange(seq(8), seq(7), seq(7))).toBe(false);
    expect(seqInRange(seq(6), seq(7), seq(7))).toBe(false);
  });

  it("works across the wrap (SND.UNA =< SEG.ACK =< SND.NXT)", () => {
    const sndUna = seq(MAX - 100);
    const sndNxt = seq(200);
    expect(seqInRange(seq(0), sndUna, sndNxt)).toBe(true);
    expect(seqInRange(seq(MAX), sndUna, sndNxt)).toBe(true);
    expect(seqInRange(seq(200), sndUna, sndNxt)).toBe(true);
    expect(seqInRange(seq(201), sndUna, sndNxt)).toBe(false);
    expect(seqInRange(seq(MAX - 101), sndUna, sndNxt)).toBe(false);
  });

  it("agrees with the offset definition", () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: MAX }), (lo, off, span) => {
        expect(seqInRange(seqAdd(lo, off), lo, seqAdd(lo, span))).toBe(off <= span);
      }),
    );
  });
});
