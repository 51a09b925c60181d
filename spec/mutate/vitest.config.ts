import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The specs Stryker runs against each mutant (spec/mutate/stryker.config.mjs): every spec that drives
 * lib/tcp, lib/ip or lib/udp through the engine or unit by unit. Left out, so that a mutant costs
 * seconds rather than minutes:
 * - the integration and TUN device specs (root, namespaces, real peers: minutes per run, and not
 *   reproducible enough to tell one mutant from another);
 * - the long transfers (two engines, lossy link: 100 MB through faults) and the random-seed run;
 * - the wire specs (lib/wire is not mutated here), the heap measurement (instrumented code
 *   allocates differently), the bench smoke test;
 * - the stream and CLI specs (lib/stream over the engine, on real timers; stream/http and cli/**
 *   push megabytes: seconds each, run in full for every mutant that survives; what they check of
 *   lib/tcp the packet-level specs check segment by segment), and
 *   specs that run no lib/tcp code but cost the initial run seconds (tun/offload's GSO property,
 *   flow/table's 2 million inserts).
 * One module graph for all spec files (isolate: false): a mutant's run otherwise spends most of its
 * time importing lib/ again for each spec file it runs (spec/tcp and engine: 29 s -> 9 s). The
 * specs keep no state between files (the full suite passes so too).
 * The fuzzers run a smaller dose (L3L4_FUZZ_RUNS, L3L4_FUZZ_PACKETS). So the score measures the
 * packet-level and unit specs: what a mutant survives here, only a long run might catch.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["spec/**/*.spec.ts"],
    exclude: [
      "dist/**",
      "node_modules/**",
      "spec/integration/**",
      "spec/tun/tun.spec.ts",
      "spec/wire/**",
      "spec/bench/**",
      "spec/engine/two-engines.spec.ts",
      "spec/tcp/lossy-link.spec.ts",
      "spec/tcp/memory.spec.ts",
      "spec/random-seed.spec.ts",
      "spec/mutate/**",
      "spec/stream/**",
      "spec/cli/**",
      "spec/tun/offload.spec.ts",
      "spec/flow/table.spec.ts",
    ],
    isolate: false,
    setupFiles: ["spec/support/setup.ts"],
    env: { L3L4_FUZZ_RUNS: "60", L3L4_FUZZ_PACKETS: "10000" },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
