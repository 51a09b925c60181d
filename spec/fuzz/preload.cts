/**
 * Loaded into jsfuzz's worker before its require hook is installed (run.ts passes NODE_OPTIONS=
 * --require ...). The hook instruments every CommonJS file required after it, its own instrumenter's
 * lazily loaded Babel modules and our dependencies included: a slow start, errors from half-loaded
 * Babel, and a coverage map (which the worker walks after every input) many times the size of lib/.
 * Loading them here first keeps them out of it; lib/ is instrumented ahead of time (run.ts).
 */
const instrument = require("istanbul-lib-instrument") as { createInstrumenter(o: object): { instrumentSync(code: string, file: string): string } };
instrument.createInstrumenter({ compact: true }).instrumentSync("var x = 1; if (x) x++; function f() { return x ? 1 : 2; }", "warm-up.js");
require("mnemonist");
