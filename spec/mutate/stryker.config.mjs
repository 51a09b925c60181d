// Stryker (mutation testing) for lib/tcp, lib/ip and lib/udp: `npm run mutate [-- GLOB...]`
// (spec/mutate/run.mjs, which narrows `mutate` to the globs given and prints a score per directory).
// Globs, not file lists, so files that a restructure adds are mutated too.
// The specs run against each mutant: spec/mutate/vitest.config.ts (CI subset: vitest.ci.config.ts).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  // run.mjs --ci sets L3L4_MUTATE_CI: the CI subset runs only the mutated modules' unit specs.
  vitest: { configFile: process.env.L3L4_MUTATE_CI ? "spec/mutate/vitest.ci.config.ts" : "spec/mutate/vitest.config.ts", related: false },
  checkers: ["typescript"],
  tsconfigFile: "spec/mutate/tsconfig.checker.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: ["lib/tcp/**/*.ts", "lib/ip/**/*.ts", "lib/udp/**/*.ts"],
  coverageAnalysis: "perTest",
  // Two cores on the build machine, shared: one runner plus the checker by default (--concurrency N).
  concurrency: 1,
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  reporters: ["progress", "clear-text", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  tempDirName: ".stryker-tmp",
  // Not copied into the sandbox: build output (tsc's dist/) is not what the specs run.
  ignorePatterns: ["/dist"],
  // Added to 1.5 x the covering specs' own time: a mutant that loops on the virtual clock is
  // stopped 5 s late rather than 10 (each timeout also restarts the test runner).
  timeoutMS: 5_000,
  // run.mjs --ci sets L3L4_MUTATE_BREAK: below that score Stryker exits non-zero.
  thresholds: { high: 90, low: 85, break: process.env.L3L4_MUTATE_BREAK ? Number(process.env.L3L4_MUTATE_BREAK) : null },
};
