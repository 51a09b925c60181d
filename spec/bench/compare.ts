/**
 * Comparing bench figures with a baseline honestly: a difference smaller than the noise of the
 * runs is "same". The noise of a figure is the spread of its runs, (max - min) / median; the
 * threshold for a comparison is the larger noise of the two sides (of this side alone when the
 * baseline kept no runs), and never below MIN_NOISE.
 *
 * Also the file that `npm run bench -- --save FILE` writes and `--baseline FILE` reads.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Row } from "./harness.js";

/** Units where smaller is better; for the rest (throughputs, rates) larger is. */
export const LOWER_IS_BETTER = new Set(["ns/pkt", "ns/op", "B/flow", "ms", "MiB", "flows"]);

/** The least threshold: differences under 1% are never called better or worse. */
export const MIN_NOISE = 0.01;

/** A figure to compare against: its value and, when known, each run's figure. */
export interface Figure {
  unit: string;
  value: number;
  runs?: readonly number[];
}

/** (max - min) / median of the runs; 0 for fewer than two runs. */
export function noise(runs: readonly number[] | undefined, value: number): number {
  if (runs === undefined || runs.length < 2 || !(value !== 0)) return 0;
  return (Math.max(...runs) - Math.min(...runs)) / Math.abs(value);
}

export interface Verdict {
  /** (current - base) / |base|. */
  change: number;
  /** The threshold used. */
  threshold: number;
  word: "better" | "worse" | "same" | "one run";
  /** e.g. "+12.3% better (noise 8.1%)". */
  text: string;
}

/** `cur` against `base`; undefined when they cannot be compared (no base, other unit, zero). */
export function verdict(cur: Figure, base: Figure | undefined): Verdict | undefined {
  if (base === undefined || base.unit !== cur.unit || !(base.value !== 0) || !Number.isFinite(base.value)) return undefined;
  const change = (cur.value - base.value) / Math.abs(base.value);
  const runsKnown = (cur.runs?.length ?? 0) >= 2;
  const threshold = Math.max(noise(cur.runs, cur.value), noise(base.runs, base.value), MIN_NOISE);
  const pct = `${change >= 0 ? "+" : ""}${(change * 100).toFixed(1)}%`;
  if (!runsKnown) return { change, threshold, word: "one run", text: `${pct} (one run: no noise figure)` };
  let word: Verdict["word"] = "same";
  if (Math.abs(change) >= threshold) word = LOWER_IS_BETTER.has(cur.unit) === change < 0 ? "better" : "worse";
  return { change, threshold, word, text: `${pct} ${word} (noise ${(threshold * 100).toFixed(1)}%)` };
}

// ------------------------------------------------------------------------------------------------
// Saved figures
// ------------------------------------------------------------------------------------------------

/** What --save writes: format 2 keeps every run (format 1, read too, kept only the median). */
export interface SavedFigures {
  format: "l3l4-bench/1" | "l3l4-bench/2";
  date: string;
  node: string;
  cpu: string;
  /** The git commit measured, when known. */
  commit?: string;
  figures: { group: string; name: string; unit: string; value: number; runs?: number[]; method?: string }[];
}

export function figureKey(group: string, name: string): string {
  return `${group}\u0000${name}`;
}

export interface Baseline {
  about: string;
  figures: Map<string, Figure>;
}

/** A mistake on the command line or an unreadable baseline: one line, no stack. */
export class BenchUsageError extends Error {}

export function readSaved(file: string, label = `baseline: ${file}`): Baseline {
  let saved: SavedFigures;
  try {
    saved = JSON.parse(readFileSync(file, "utf8")) as SavedFigures;
  } catch (error) {
    throw new BenchUsageError(`${file}: ${(error as Error).message}`);
  }
  if ((saved.format !== "l3l4-bench/1" && saved.format !== "l3l4-bench/2") || !Array.isArray(saved.figures)) {
    throw new BenchUsageError(`${file}: not a file written by --save`);
  }
  const figures = new Map<string, Figure>();
  for (const f of saved.figures) figures.set(figureKey(f.group, f.name), { unit: f.unit, value: f.value, ...(f.runs === undefined ? {} : { runs: f.runs }) });
  const commit = saved.commit === undefined ? "" : `, commit ${saved.commit.slice(0, 12)}`;
  return { about: `${label} (${saved.date}, node ${saved.node}, ${saved.cpu}${commit})`, figures };
}

export function writeSaved(file: string, rows: readonly Row[], about: { node: string; cpu: string; commit?: string }): void {
  const saved: SavedFigures = {
    format: "l3l4-bench/2",
    date: new Date().toISOString(),
    node: about.node,
    cpu: about.cpu,
    ...(about.commit === undefined ? {} : { commit: about.commit }),
    figures: rows.map((r) => ({ group: r.group, name: r.name, unit: r.unit, value: r.value, runs: r.runs, method: r.method })),
  };
  writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);
}
