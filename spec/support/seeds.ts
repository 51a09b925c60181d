/**
 * Seeds for the seeded specs (two engines, lossy link, fuzzers, fast-check properties, fault
 * injection): FIXED by default, so CI runs the same cases on every run and a failure reproduces.
 * L3L4_SEED=<n> replays another seed in every seeded spec. Fresh random seeds run only in
 * spec/random-seed.spec.ts, an extra run that prints its seed.
 *
 * A seed is derived from the base seed and the spec's label, so two specs do not share a stream.
 */
import { onTestFailed } from "vitest";
import { deriveSeed } from "../../lib/debug/random.js";

/** The base seed when L3L4_SEED is not set. */
export const DEFAULT_SEED = 20261;

/** The base seed: L3L4_SEED (an integer in [0, 2^32)) or DEFAULT_SEED. */
export function baseSeed(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const text = env["L3L4_SEED"];
  if (text === undefined || text === "") return DEFAULT_SEED;
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`L3L4_SEED must be an integer in [0, 2^32): ${text}`);
  return seed;
}

/** FNV-1a over the label: a stable number per spec. */
function labelHash(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The seed for one seeded spec (fixed unless L3L4_SEED is set). Inside a test, a failure prints the
 * seed and how to replay it.
 */
export function specSeed(label: string): number {
  const base = baseSeed();
  const seed = deriveSeed(base, labelHash(label));
  try {
    onTestFailed(() => {
      console.error(`${label}: seed ${seed} (base seed ${base}; replay with L3L4_SEED=${base})`);
    });
  } catch {
    // Outside a test (at collection time): nothing to hook.
  }
  return seed;
}

/**
 * A fresh random seed for the random-seed spec, printed at once so a failure can be replayed
 * (L3L4_RANDOM_SEED=<n> gives that seed to every scenario of the spec).
 */
export function randomSeed(label: string): number {
  const given = process.env["L3L4_RANDOM_SEED"];
  const seed = given !== undefined && given !== "" ? Number(given) >>> 0 : Math.floor(Math.random() * 2 ** 32) >>> 0;
  console.log(`[random seed] ${label}: seed ${seed} (replay: L3L4_RANDOM_SEED=${seed} npx vitest run --config spec/vitest.config.ts spec/random-seed.spec.ts)`);
  return seed;
}
