/**
 * A million random and mutated byte strings through every parser and describe(): nothing throws,
 * every result is Drop.OK or a reason, after OK every getter gives a finite integer within the
 * packet's bounds, and no parser (nor describe) reads outside the bytes it was given: each case is run
 * a second time (every other case) with different canary bytes around the packet and must give
 * identical results.
 *
 * The machinery is in robustness.ts. The seed is fixed (spec/support/seeds.ts: L3L4_SEED=<n> for
 * another, printed on failure; spec/random-seed.spec.ts runs a fresh one); WIRE_FUZZ_CASES=<n>
 * changes the count.
 */
import { describe, expect, it } from "vitest";
import { specSeed } from "../support/seeds.js";
import { expectEveryLayerReached, robustnessRun } from "./robustness.js";

const CASES = Number(process.env.WIRE_FUZZ_CASES ?? 1_000_000);

describe("robustness: random and mutated bytes", () => {
  it(
    `${CASES} cases through every parser and describe(): no throw, reasons only, no reads out of bounds`,
    () => {
      const seed = specSeed("wire robustness");
      const r = robustnessRun(seed, CASES);
      console.log(`wire robustness: seed ${seed}, ${CASES} cases in ${r.seconds.toFixed(1)} s; Drop.OK reached per layer: ${JSON.stringify(r.reached)}`);
      expect(r.failures, `seed ${seed}`).toEqual([]);
      expectEveryLayerReached(r.reached, CASES);
    },
    180_000,
  );
});
