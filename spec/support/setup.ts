/**
 * Runs before every spec file (spec/vitest.config.ts setupFiles): fast-check properties use a fixed
 * seed (spec/support/seeds.ts), so CI checks the same cases every run; fast-check prints the seed
 * and the counterexample's path when a property fails.
 */
import fc from "fast-check";
import { specSeed } from "./seeds.js";

fc.configureGlobal({ seed: specSeed("fast-check") | 0 });
