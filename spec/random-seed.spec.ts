/**
 * RANDOM SEEDS: an extra run, different on every run. Every other seeded spec uses a fixed seed
 * (spec/support/seeds.ts) so that CI checks the same cases each time; this one runs a smaller dose of
 * the same scenarios with fresh seeds, to find what the fixed ones miss. Each test prints its seed
 * first; replay a failure with L3L4_RANDOM_SEED=<seed> npx vitest run --config spec/vitest.config.ts
 * spec/random-seed.spec.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { echoEndToEnd, LOSSY } from "./support/echo-end-to-end.js";
import { fuzzEngine } from "./support/engine-fuzz.js";
import { report, transfer } from "./support/lossy-transfer.js";
import { randomSeed } from "./support/seeds.js";
import { run, step } from "./support/tcp-fuzz.js";
import { expectEveryLayerReached, robustnessRun } from "./wire/robustness.js";

describe("random seeds (extra run: a fresh seed each time, printed)", () => {
  it("two engines over the lossy link: 4 flows of 2 MB echoed byte-exact, IPv4 and IPv6", () => {
    const seed = randomSeed("two engines, lossy link");
    for (const family of [4, 6] as const) echoEndToEnd({ flows: 4, bytesPerFlow: 2_000_000, family, seed, faults: LOSSY });
  }, 120_000);

  it("the engine against the reference TCP over the lossy link, both ways at once (2 MB each)", () => {
    const seed = randomSeed("lossy link, reference TCP");
    report("random seed, both ways", transfer(4, 2 * 1024 * 1024, 2 * 1024 * 1024, seed));
  }, 120_000);

  it("engine fuzz: 20,000 random and corrupt packets", () => {
    const r = fuzzEngine(randomSeed("engine fuzz"), 20_000);
    expect(r.full).toEqual([true, true]);
  }, 120_000);

  it("TCP property: 100 random scripts, IPv4 and IPv6", () => {
    const seed = randomSeed("TCP property (fast-check seed)") | 0;
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => run(steps, 4)), { numRuns: 50, seed });
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => run(steps, 6)), { numRuns: 50, seed });
  }, 120_000);

  it("wire robustness: 100,000 random and mutated byte strings", () => {
    const cases = 100_000;
    const r = robustnessRun(randomSeed("wire robustness"), cases);
    expect(r.failures).toEqual([]);
    expectEveryLayerReached(r.reached, cases);
  }, 120_000);
});
