/**
 * A tiny benchmark harness. Micro benches (`nsPerOp`): each figure is the median of RUNS timed runs
 * of about 60 ms after a warm-up and calibration, timed with process.hrtime.bigint(). Macro benches
 * (`figure`): the median of RUNS whole runs after one warm-up run. Every row keeps each run's figure
 * (for the spread and the noise threshold, spec/bench/compare.ts) and says how it was measured.
 * Benches return rows; spec/bench/run.ts prints them as one table.
 *
 * With `smoke` (BenchOptions) every bench runs once on tiny sizes, untimed in spirit: the figures
 * mean nothing, the point is that the bench still runs (spec/bench/smoke.spec.ts, in npm test).
 */

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

import type { TunTableOptions } from "./tun-table.js";

export interface Row {
  /** Which bench file produced it ("wire", "engine", "tun"). */
  group: string;
  name: string;
  /** The median figure. */
  value: number;
  unit: string;
  /** Every run's figure, for the spread. */
  runs: number[];
  /** How the figure was measured, e.g. "median of 5 timed runs after warm-up". */
  method: string;
}

export interface BenchOptions {
  /** Every bench once, tiny sizes, one run, no warm-up (the figures mean nothing). */
  smoke: boolean;
  /** The tun group's options from the command line (translators, MTUs, repeats, seconds, churn runs). */
  tun?: TunTableOptions;
}

export const FULL: BenchOptions = { smoke: false };
export const SMOKE: BenchOptions = { smoke: true };

export const RUNS = 5;

export const MICRO_METHOD = `median of ${RUNS} timed runs of ~60 ms after a warm-up`;
export const MACRO_METHOD = `median of ${RUNS} runs after 1 warm-up run`;
export const SMOKE_METHOD = "smoke: 1 tiny run, not a measurement";

/** A measurement: the median and every run. */
export interface Measured {
  median: number;
  runs: number[];
}

/** Swallows results so the JIT cannot drop the work being timed. */
export let sink = 0;
export function consume(v: number): void {
  sink = (sink + v) | 0;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Nanoseconds per call of `op` (given the iteration index): calibrated so one run takes about
 * `targetMs`, warmed up, then RUNS runs; returns the per-run figures and their median. Smoke: 4 calls.
 */
export function nsPerOp(op: (i: number) => void, targetMs = 60, options: BenchOptions = FULL): Measured {
  // A fresh loop function per measurement, so its call of `op` stays monomorphic (a shared loop would
  // see every bench's closure and stop inlining them: later benches would look slower than they are).
  const loop = new Function("op", "n", "for (let i = 0; i < n; i++) op(i);") as (op: (i: number) => void, n: number) => void;
  if (options.smoke) {
    const t0 = process.hrtime.bigint();
    loop(op, 4);
    const ns = Number(process.hrtime.bigint() - t0) / 4;
    return { median: ns, runs: [ns] };
  }
  // Warm-up and calibration: double the count until a run takes long enough.
  let n = 64;
  for (let k = 0; k < 30; k++) {
    const t0 = process.hrtime.bigint();
    loop(op, n);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms >= targetMs / 4) {
      n = Math.max(1, Math.round((n * targetMs) / ms));
      break;
    }
    n *= 2;
  }
  loop(op, n); // one more warm-up at full size
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    loop(op, n);
    runs.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return { median: median(runs), runs };
}

/** `once()` returns one run's figure: one warm-up, then RUNS runs (smoke: one run). */
export function figure(once: () => number, options: BenchOptions = FULL): Measured {
  if (options.smoke) {
    const v = once();
    return { median: v, runs: [v] };
  }
  once();
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(once());
  return { median: median(runs), runs };
}

export function row(group: string, name: string, unit: string, m: Measured, method: string): Row {
  return { group, name, value: m.median, unit, runs: m.runs, method };
}

/** The same measurement as throughput: `bytes` per op, in GB/s (bytes per nanosecond). */
export function gbPerS(bytes: number, m: Measured): Measured {
  return { median: bytes / m.median, runs: m.runs.map((ns) => bytes / ns) };
}

/** Whether the module at `importMetaUrl` is the script node was started with (a bench run alone). */
export function isMain(importMetaUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}
