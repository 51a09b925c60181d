import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "../../lib/errors.js";
import { Random, deriveSeed, pickSeed } from "../../lib/debug/random.js";

/** xoshiro128** in BigInt, written straight from the paper's definition: the reference. */
function referenceXoshiro128ss(state: [number, number, number, number], count: number): number[] {
  const M = (1n << 32n) - 1n;
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M;
  let [s0, s1, s2, s3] = state.map((v) => BigInt(v >>> 0)) as [bigint, bigint, bigint, bigint];
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number((rotl((s1 * 5n) & M, 7n) * 9n) & M));
    const t = (s1 << 9n) & M;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11n);
  }
  return out;
}

describe("Random (xoshiro128**)", () => {
  it("matches the published xoshiro128** outputs for state {1, 2, 3, 4}", () => {
    const r = Random.fromState(1, 2, 3, 4);
    const got = Array.from({ length: 10 }, () => r.nextU32());
    expect(got).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it("matches the BigInt reference from any state", () => {
    fc.assert(
      fc.property(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 0xffffffff })), (s) => {
        const r = Random.fromState(...s);
        const got = Array.from({ length: 50 }, () => r.nextU32());
        expect(got).toEqual(referenceXoshiro128ss(s, 50));
      }),
    );
  });

  it("is deterministic for a seed and differs between seeds", () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const sa = Array.from({ length: 100 }, () => a.nextU32());
    const sb = Array.from({ length: 100 }, () => b.nextU32());
    const sc = Array.from({ length: 100 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it("seed 0 works (the all-zero state is never reached)", () => {
    const r = new Random(0);
    const values = new Set(Array.from({ length: 20 }, () => r.nextU32()));
    expect(values.size).toBeGreaterThan(15);
  });

  it("next() stays in [0, 1) and int(n) in [0, n)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 1000 }), (seed, n) => {
        const r = new Random(seed);
        for (let i = 0; i < 100; i++) {
          const x = r.next();
          expect(x >= 0 && x < 1).toBe(true);
          const k = r.int(n);
          expect(Number.isInteger(k) && k >= 0 && k < n).toBe(true);
        }
      }),
    );
  });

  it("int(n) is roughly uniform", () => {
    const r = new Random(7);
    const n = 10;
    const draws = 100_000;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < draws; i++) counts[r.int(n)]!++;
    // Expected 10,000 each; sd ~95. 6 sd either way.
    for (const c of counts) expect(Math.abs(c - draws / n)).toBeLessThan(600);
  });

  it("rejects bad arguments with typed errors", () => {
    const r = new Random(1);
    for (const n of [0, -1, 1.5, NaN, 2 ** 32 + 1]) expect(() => r.int(n)).toThrow(InvalidArgumentError);
    expect(() => new Random(NaN)).toThrow(InvalidArgumentError);
    expect(() => Random.fromState(0, 0, 0, 0)).toThrow(InvalidArgumentError);
  });

  it("derived seeds give independent streams", () => {
    const seeds = new Set([0, 1, 2, 3].map((s) => deriveSeed(99, s)));
    expect(seeds.size).toBe(4);
    expect(deriveSeed(99, 0)).toBe(deriveSeed(99, 0));
  });

  it("pickSeed reads L3L4_SEED, and rejects a bad one", () => {
    expect(pickSeed({ L3L4_SEED: "1234" })).toBe(1234);
    const fresh = pickSeed({});
    expect(Number.isInteger(fresh) && fresh >= 0 && fresh < 2 ** 32).toBe(true);
    expect(() => pickSeed({ L3L4_SEED: "x" })).toThrow(InvalidArgumentError);
    expect(() => pickSeed({ L3L4_SEED: "-1" })).toThrow(InvalidArgumentError);
  });
});
