/**
 * V8 tuning for the `l3l4` command, imported first by main.ts so that it runs before any engine
 * module is evaluated, and only when main.js is the process's entry point (a library user's V8, and
 * the specs that import main.ts, are left alone).
 *
 * V8 optimizes a function once it has run through its interrupt budget of bytecode (default 132 KiB),
 * counted from when the function's closure is made (module evaluation for the engine's classes).
 * A translator at low packet rates (a ping every 10 ms, an interactive session) otherwise runs its
 * per-packet path unoptimized for as long as it stays that slow. Measured with
 * `node dist/spec/bench/profile-relay.js l3l4 ping 1500 3` (node option given to the proxy,
 * alternated with none, 4 rounds): median ping 0.142-0.195 ms at the default, 0.106-0.131 ms at
 * 2000 bytes; 8192 changed nothing (3 rounds).
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";

const INTERRUPT_BUDGET_BYTES = 2000;

/** main.js (next to this module) is what the process runs. */
function mainIsEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(new URL("./main.js", import.meta.url)));
  } catch {
    return false;
  }
}

if (mainIsEntryPoint()) setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET_BYTES}`);
