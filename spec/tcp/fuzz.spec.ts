/**
 * Property test (spec/support/tcp-fuzz.ts): whatever a peer sends and whatever the application does,
 * the engine keeps TCP's invariants. fast-check's seed is fixed (spec/support/setup.ts); fast-check
 * prints it with a counterexample. spec/random-seed.spec.ts runs the property with a fresh seed.
 */
import fc from "fast-check";
import { describe, it } from "vitest";
import { run, step } from "../support/tcp-fuzz.js";

describe("TCP under arbitrary input (property)", () => {
  it("IPv4: invariants hold for random segments, application calls and time", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => run(steps, 4)),
      { numRuns: Number(process.env.L3L4_FUZZ_RUNS ?? 300) },
    );
  });

  it("IPv6: invariants hold for random segments, application calls and time", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => run(steps, 6)),
      { numRuns: Number(process.env.L3L4_FUZZ_RUNS ?? 100) },
    );
  });
});
