/**
 * The fuzz targets (spec/fuzz/targets) over their committed inputs: the seed corpus must be what
 * spec/fuzz/seed-corpus.ts builds from the fixtures, and every seed and every regression input (a
 * crash the fuzzer once found, spec/fuzz/regressions/<target>/) must pass its target's checks.
 * The fuzzing itself is `npm run fuzz` (spec/fuzz/run.ts); CI runs it for 60 s after npm test.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TARGETS, seedCorpus, type TargetName } from "./seed-corpus.js";
import { fuzz as fuzzEngine } from "./targets/engine.js";
import { fuzz as fuzzPair } from "./targets/pair.js";
import { fuzz as fuzzWire } from "./targets/wire.js";

const TARGET_FNS: Record<TargetName, (input: Uint8Array) => void> = { wire: fuzzWire, engine: fuzzEngine, pair: fuzzPair };

function files(dir: string): [string, Uint8Array][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((name) => [name, new Uint8Array(readFileSync(join(dir, name)))]);
}

describe.each(TARGETS)("fuzz target %s", (target) => {
  const seeds = files(join("spec/fuzz/corpus", target));
  const regressions = files(join("spec/fuzz/regressions", target));

  it("has the seed corpus seed-corpus.ts builds (npm run fuzz -- --write-corpus)", () => {
    const built = seedCorpus(target);
    expect(seeds.map(([name]) => name)).toEqual([...built.keys()].sort());
    for (const [name, bytes] of seeds) expect(bytes, name).toEqual(built.get(name));
  });

  it.each(seeds.length > 0 ? seeds : [["(none)", new Uint8Array(0)] as [string, Uint8Array]])("passes seed %s", (_name, bytes) => {
    TARGET_FNS[target](bytes);
  });

  if (regressions.length > 0) {
    it.each(regressions)("passes regression %s", (_name, bytes) => {
      TARGET_FNS[target](bytes);
    });
  }
});
