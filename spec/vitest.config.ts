import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Kept under spec/ so the top level stays as the project lays it out; `npm test` points here.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("..", import.meta.url)),
    include: ["spec/**/*.spec.ts"],
    exclude: ["dist/**", "node_modules/**"],
    // Fixed seeds for fast-check (spec/support/seeds.ts).
    setupFiles: ["spec/support/setup.ts"],
    // Memory specs measure heap per flow with global.gc.
    execArgv: ["--expose-gc"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
