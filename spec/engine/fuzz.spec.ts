/**
 * Random and corrupted packets into l3Rx: nothing throws, every packet is counted, the flow count
 * stays bounded, and the engine still works afterwards (spec/support/engine-fuzz.ts). A fixed seed
 * (spec/support/seeds.ts, printed on failure); spec/random-seed.spec.ts runs a fresh one.
 */
import { describe, expect, it } from "vitest";
import { fuzzEngine } from "../support/engine-fuzz.js";
import { specSeed } from "../support/seeds.js";

const PACKETS = Number(process.env.L3L4_FUZZ_PACKETS ?? 100_000);

describe("fuzz: l3Rx never throws", () => {
  it(`survives ${PACKETS} random and corrupt packets`, () => {
    const r = fuzzEngine(specSeed("engine fuzz"), PACKETS);
    // Both flow tables were full at some point (fuzzEngine fills them half way), and the engines
    // still worked at the end.
    expect(r.full).toEqual([true, true]);
  }, 120_000);
});
