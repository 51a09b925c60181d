import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import {
  RTO_AFTER_SYN_TIMEOUT_MS,
  RTO_INITIAL_MS,
  RTO_MAX_MS,
  RTO_MIN_MS,
  RttEstimator,
} from "../../lib/tcp/rtt.js";

describe("RttEstimator (RFC 6298)", () => {
  it("starts at RTO = 1 s with no sample (§2.1)", () => {
    const r = new RttEstimator();
    expect(r.rto).toBe(RTO_INITIAL_MS);
    expect(r.rto).toBe(1000);
    expect(r.hasSample).toBe(false);
    expect(r.srtt).toBe(0);
    expect(r.rttvar).toBe(0);
  });

  it("first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR) (§2.2)", () => {
    const r = new RttEstimator();
    expect(r.sample(400)).toBe(true);
    expect(r.hasSample).toBe(true);
    expect(r.srtt).toBe(400);
    expect(r.rttvar).toBe(200);
    expect(r.rto).toBe(400 + 4 * 200);
  });

  it("subsequent samples: RTTVAR then SRTT with alpha 1/8, beta 1/4 (§2.3)", () => {
    const r = new RttEstimator();
    r.sample(400);
    r.sample(200);
    // RTTVAR = 3/4 * 200 + 1/4 * |400 - 200| = 200; SRTT = 7/8 * 400 + 1/8 * 200 = 375.
    expect(r.rttvar).toBe(200);
    expect(r.srtt).toBe(375);
    expect(r.rto).toBe(375 + 800);
    r.sample(375);
    // RTTVAR = 3/4 * 200 + 0 = 150; SRTT unchanged.
    expect(r.rttvar).toBe(150);
    expect(r.srtt).toBe(375);
    expect(r.rto).toBe(375 + 600);
  });

  it("uses the clock granularity G when 4*RTTVAR is smaller", () => {
    const r = new RttEstimator(100, 1, RTO_MAX_MS);
    r.sample(1000);
    for (let i = 0; i < 200; i++) r.sample(1000);
    expect(r.rttvar).toBeLessThan(1);
    expect(r.rto).toBeCloseTo(1000 + 100, 6);
  });

  it("clamps to the 200 ms minimum (Linux, not the RFC's 1 s) and the 120 s maximum", () => {
    const r = new RttEstimator();
    for (let i = 0; i < 100; i++) r.sample(1);
    expect(r.rto).toBe(RTO_MIN_MS);
    expect(RTO_MIN_MS).toBe(200);
    const slow = new RttEstimator();
    slow.sample(500_000);
    expect(slow.rto).toBe(RTO_MAX_MS);
    expect(RTO_MAX_MS).toBe(120_000);
  });

  it("backs off by doubling up to the maximum (§5.5), until the next sample", () => {
    const r = new RttEstimator();
    r.backoff();
    expect(r.rto).toBe(2000);
    r.backoff();
    expect(r.rto).toBe(4000);
    for (let i = 0; i < 20; i++) r.backoff();
    expect(r.rto).toBe(RTO_MAX_MS);
    r.sample(100);
    expect(r.rto).toBe(300);
  });

  it("ignores samples that are negative or not finite", () => {
    const r = new RttEstimator();
    r.sample(100);
    for (const bad of [-1, Number.NaN, Infinity, -Infinity]) expect(r.sample(bad)).toBe(false);
    expect(r.srtt).toBe(100);
    expect(r.rttvar).toBe(50);
    const fresh = new RttEstimator();
    expect(fresh.sample(Number.NaN)).toBe(false);
    expect(fresh.hasSample).toBe(false);
  });

  it("accepts a zero sample (loopback)", () => {
    const r = new RttEstimator();
    expect(r.sample(0)).toBe(true);
    expect(r.rto).toBe(RTO_MIN_MS);
  });

  it("divides the gains by the expected samples per RTT (RFC 7323 Appendix G)", () => {
    const r = new RttEstimator();
    r.sample(400);
    r.sample(200, 4);
    // beta' = 1/16: RTTVAR = 15/16 * 200 + 1/16 * 200 = 200; alpha' = 1/32: SRTT = 31/32 * 400 + 200/32.
    expect(r.rttvar).toBe(200);
    expect(r.srtt).toBe(393.75);
    // A sample further from SRTT shows beta' apart from beta: RTTVAR = 15/16 * 200 + 1/16 * 300.
    const s = new RttEstimator();
    s.sample(400);
    s.sample(100, 4);
    expect(s.rttvar).toBe(206.25);
    expect(s.srtt).toBe(390.625);
    // Fewer than one expected sample per RTT is one: the plain gains (alpha 1/8, beta 1/4).
    for (const few of [0.5, 0, -3]) {
      const t = new RttEstimator();
      t.sample(400);
      t.sample(100, few);
      expect([t.srtt, t.rttvar]).toEqual([362.5, 225]);
    }
  });

  it("re-initialises the RTO to 3 s after a SYN timeout without a sample (§5.7)", () => {
    const r = new RttEstimator();
    r.backoff();
    r.restartAfterSynTimeout();
    expect(r.rto).toBe(RTO_AFTER_SYN_TIMEOUT_MS);
    const sampled = new RttEstimator();
    sampled.sample(50);
    sampled.restartAfterSynTimeout();
    expect(sampled.rto).toBe(RTO_MIN_MS);
  });

  it("honours custom bounds", () => {
    const r = new RttEstimator(1, 1000, 60_000);
    r.sample(10);
    expect(r.rto).toBe(1000);
    const tight = new RttEstimator(1, 100, 500);
    expect(tight.rto).toBe(500); // the initial 1 s, clamped
    // A fixed RTO: minimum and maximum may be equal.
    const fixed = new RttEstimator(1, 700, 700);
    fixed.sample(5);
    expect(fixed.rto).toBe(700);
    fixed.backoff();
    expect(fixed.rto).toBe(700);
  });

  it("rejects bad parameters", () => {
    expect(() => new RttEstimator(0)).toThrow(InvalidArgumentError);
    expect(() => new RttEstimator(Number.NaN)).toThrow(InvalidArgumentError);
    expect(() => new RttEstimator(1, 500, 100)).toThrow(InvalidArgumentError);
    expect(() => new RttEstimator(1, 0, 100)).toThrow(InvalidArgumentError);
    expect(() => new RttEstimator(Infinity)).toThrow(/granularity must be a positive number of ms, got Infinity/);
    expect(() => new RttEstimator(1, 200, Infinity)).toThrow(/needs 0 < minRtoMs <= maxRtoMs, got 200, Infinity/);
    expect(() => new RttEstimator(1, 500, 100)).toThrow(/got 500, 100/);
  });

  it("keeps the RTO within bounds and SRTT within the samples' range for any samples (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 }), (samples) => {
        const r = new RttEstimator();
        for (const s of samples) r.sample(s);
        expect(r.rto).toBeGreaterThanOrEqual(RTO_MIN_MS);
        expect(r.rto).toBeLessThanOrEqual(RTO_MAX_MS);
        expect(r.srtt).toBeGreaterThanOrEqual(Math.min(...samples) - 1e-6);
        expect(r.srtt).toBeLessThanOrEqual(Math.max(...samples) + 1e-6);
        expect(r.rttvar).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});
