/**
 * A tiny benchmark harness: each figure is the median of RUNS timed runs after a warm-up, timed with
 * process.hrtime.bigint(). Benches return rows; spec/bench/run.ts prints them as one table.
 */

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Row {
  /** Which bench file produced it ("wire", "flow", ...). */
  group: string;
  name: string;
  /** The median figure. */
  value: number;
  unit: string;
  /** Every run's figure, for the spread. */
  runs: number[];
}

export const RUNS = 5;

/** Swallows results so the JIT cannot drop the work being timed. */
export let sink = 0;
export function consume(v: number): void {
  sink = (sink + v) | 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Nanoseconds per call of `op` (given the iteration index): calibrated so one run takes about
 * `targetMs`, warmed up, then RUNS runs; returns the per-run figures and their median.
 */
export function nsPerOp(op: (i: number) => void, targetMs = 60): { median: number; runs: number[] } {
  // A fresh loop function per measurement, so its call of `op` stays monomorphic (a shared loop would
  // see every bench's closure and stop inlining them: later benches would look slower than they are).
  const loop = new Function("op", "n", "for (let i = 0; i < n; i++) op(i);") as (op: (i: number) => void, n: number) => void;
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

export function row(group: string, name: string, unit: string, m: { median: number; runs: number[] }): Row {
  return { group, name, value: m.median, unit, runs: m.runs };
}

/** The same measurement as throughput: `bytes` per op, in GB/s (bytes per nanosecond). */
export function gbPerS(bytes: number, m: { median: number; runs: number[] }): { median: number; runs: number[] } {
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
