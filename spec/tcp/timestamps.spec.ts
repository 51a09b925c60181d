import { describe, expect, it } from "vitest";
import { tsClock, tsRttSample } from "../../lib/tcp/timestamps.js";

// RFC 7323 §5.4: TSval is a millisecond clock plus a per-connection offset, a 32-bit number that
// wraps; §4.1: an echoed TSval (TSecr) gives an RTT sample of (our clock now - TSecr).
describe("the timestamp clock (RFC 7323 §5.4)", () => {
  it("is whole milliseconds plus the connection's offset", () => {
    expect(tsClock(0, 0)).toBe(0);
    expect(tsClock(1234, 0)).toBe(1234);
    expect(tsClock(1234, 1000)).toBe(2234);
    expect(tsClock(1234.9, 1000)).toBe(2234);
  });

  it("wraps at 2^32 and is never negative", () => {
    expect(tsClock(1, 0xffff_ffff)).toBe(0);
    expect(tsClock(10, 0xffff_fff0)).toBe(0xffff_fffa);
    expect(tsClock(0x20, 0xffff_fff0)).toBe(0x10);
    expect(tsClock(5, 0x8000_0000)).toBe(0x8000_0005);
  });
});

describe("the RTT sample of an echoed TSval (RFC 7323 §4.1)", () => {
  it("is our clock now minus the echoed value", () => {
    expect(tsRttSample(1000, 0, 900)).toBe(100);
    expect(tsRttSample(1000, 500, 1400)).toBe(100);
    expect(tsRttSample(1000.7, 0, 900)).toBe(100);
  });

  it("is 0 for an echo of the value we send now (a valid sample)", () => {
    expect(tsRttSample(1000, 0, 1000)).toBe(0);
    expect(tsRttSample(1000, 7, 1007)).toBe(0);
  });

  it("is measured across the 32-bit wrap of the clock", () => {
    // Sent at TSval 0xffff_fff0, echoed back when our clock reads 0x10: 32 ms.
    expect(tsRttSample(0x20, 0xffff_fff0, 0xffff_fff0)).toBe(0x20);
    expect(tsRttSample(10, 0xffff_fff0, 0xffff_fffa)).toBe(0);
  });

  it("is no sample for an echo ahead of our clock (a bogus echo)", () => {
    expect(tsRttSample(1000, 0, 1001)).toBe(-1);
    expect(tsRttSample(1000, 0, 2000)).toBe(-1);
    expect(tsRttSample(0x10, 0xffff_fff0, 0x10)).toBe(-1);
  });

  it("is no sample for an echo ten minutes old or more, and a sample just under that", () => {
    expect(tsRttSample(600_000, 0, 0)).toBe(-1);
    expect(tsRttSample(600_001, 0, 0)).toBe(-1);
    expect(tsRttSample(599_999, 0, 0)).toBe(599_999);
    // Far in the past (half the number space): no sample either way.
    expect(tsRttSample(0x8000_0000, 0, 0)).toBe(-1);
    expect(tsRttSample(0x7fff_ffff, 0, 0)).toBe(-1);
  });
});
