import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The specs for CI's bounded mutation run (`npm run mutate -- --ci`, in .ci/run): the unit specs of
 * the modules it mutates (spec/mutate/run.mjs CI_GLOBS), so that each mutant costs a fraction of a
 * second. It asks that these small modules' own specs catch their mutants; the full run
 * (spec/mutate/vitest.config.ts) also counts what the packet-level specs catch.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["spec/tcp/seq.spec.ts", "spec/tcp/rtt.spec.ts", "spec/tcp/congestion/*.spec.ts"],
    setupFiles: ["spec/support/setup.ts"],
    testTimeout: 60_000,
  },
});
