/**
 * `npm run bench` (tsc, then node --expose-gc dist/spec/bench/run.js [filter] [options]): runs every
 * bench and prints one table: the median of each figure, the number of runs behind it, their spread
 * (min..max), and how it was measured (a legend per method under the table).
 *
 *   filter           run only the benches whose group name contains it ("wire", "engine", "flood",
 *                    "stream", "tun", "tun2socks"); "soak" (10 minutes) runs only when named
 *   --against REF    build and run a second checkout of the git ref REF (a commit, branch or tag) in
 *                    a temporary directory, in the same run (group by group, REF first), and compare
 *   --baseline FILE  compare against figures saved earlier with --save
 *   --save FILE      write the figures (every run of each) to FILE
 *   --smoke          every bench once on tiny sizes (what spec/bench/smoke.spec.ts checks; the
 *                    figures mean nothing)
 *
 * A comparison prints the change and calls it better or worse only beyond the noise: the larger
 * spread of the two sides' runs ((max - min) / median, at least 1%); below it, "same"
 * (spec/bench/compare.ts).
 *
 * Add a bench: export `async function benchX(o: BenchOptions): Promise<Row[]>` from spec/bench/x.ts
 * and list it below.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";
import { parseArgs } from "node:util";
import { benchAgainst, type RefRun } from "./against.js";
import { BenchUsageError, figureKey, readSaved, verdict, writeSaved, type Baseline } from "./compare.js";
import { benchEngine } from "./engine.js";
import { benchFlood } from "./flood.js";
import { FULL, isMain, SMOKE, type BenchOptions, type Row } from "./harness.js";
import { benchSoak } from "./soak.js";
import { benchStream } from "./stream.js";
import { benchTunIperf, SECONDS } from "./tun-iperf.js";
import { benchTun2socks } from "./tun2socks.js";
import { benchWire } from "./wire.js";

export const BENCHES: ReadonlyArray<readonly [string, (o: BenchOptions) => Promise<Row[]>]> = [
  ["wire", benchWire],
  ["engine", benchEngine],
  // A million SYNs from random sources: heap, SYN rate, a legitimate client, a bulk flow during it. About 40 s.
  ["flood", (o) => benchFlood(o)],
  // NetStack next to raw callbacks, both over joinEngines on the real clock. About 20 s.
  ["stream", benchStream],
  // Root only (netns, TUN); without root it says why and adds no rows. About 3 minutes.
  ["tun", (o) => benchTunIperf(SECONDS, o)],
  // Root, danted, wrk and nginx: SOCKS5 through dante next to direct, new connections/s, RSS under churn.
  ["tun2socks", (o) => benchTun2socks(SECONDS, o)],
  // Only when named (`npm run bench -- soak`, root): 10,000 flows through `l3l4 proxy` for 10 minutes.
  ["soak", (o) => benchSoak(o)],
];

/** Benches that run only when the filter names them. */
const ON_REQUEST = new Set(["soak"]);

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function currentCommit(): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

/** The table: one line per row, with the comparison when there is a baseline; then the legend. */
export function table(rows: readonly Row[], baseline: Baseline | undefined, compareLabel = "baseline"): string {
  const lines: string[] = [];
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  const b = baseline === undefined ? "" : ` ${compareLabel.padStart(9)} ${"change".padEnd(30)}`;
  lines.push(`${"group".padEnd(6)} ${"bench".padEnd(w)} ${"median".padStart(9)} ${"unit".padEnd(7)}${b}  n  spread (min..max)`);
  for (const r of rows) {
    let cmp = "";
    if (baseline !== undefined) {
      const base = baseline.figures.get(figureKey(r.group, r.name));
      const v = verdict(r, base);
      cmp = ` ${(base === undefined ? "-" : fmt(base.value)).padStart(9)} ${(v?.text ?? "").padEnd(30)}`;
    }
    const spread = `${fmt(Math.min(...r.runs))}..${fmt(Math.max(...r.runs))}`;
    lines.push(`${r.group.padEnd(6)} ${r.name.padEnd(w)} ${fmt(r.value).padStart(9)} ${r.unit.padEnd(7)}${cmp} ${String(r.runs.length).padStart(2)}  ${spread}`);
  }
  const methods = new Map<string, Set<string>>();
  for (const r of rows) methods.set(r.method, (methods.get(r.method) ?? new Set()).add(r.group));
  lines.push("");
  for (const [method, groups] of methods) lines.push(`  ${[...groups].join(", ")}: ${method}`);
  if (baseline !== undefined) lines.push("  change: better / worse only beyond the noise (the larger spread of the two sides' runs, at least 1%); else same");
  return lines.join("\n");
}

interface Parsed {
  filter: string | undefined;
  against: string | undefined;
  baseline: string | undefined;
  save: string | undefined;
  smoke: boolean;
}

export function parseBenchArgs(argv: readonly string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { against: { type: "string" }, baseline: { type: "string" }, save: { type: "string" }, smoke: { type: "boolean" } },
    });
  } catch (error) {
    throw new BenchUsageError(`${(error as Error).message} (usage: run.js [filter] [--against REF] [--baseline FILE] [--save FILE] [--smoke])`);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new BenchUsageError(`one filter at most, got ${positionals.join(" ")}`);
  if (values.against !== undefined && values.baseline !== undefined) throw new BenchUsageError("--against and --baseline: choose one");
  return { filter: positionals[0], against: values.against, baseline: values.baseline, save: values.save, smoke: values.smoke ?? false };
}

export async function main(argv: readonly string[]): Promise<void> {
  const args = parseBenchArgs(argv);
  const o = args.smoke ? SMOKE : FULL;
  const cpu = os.cpus()[0]?.model ?? "unknown cpu";
  console.log(`l3l4 bench: node ${process.version}, ${cpu}, ${os.cpus().length} cpus${args.smoke ? " (smoke: tiny sizes, one run, not a measurement)" : ""}`);
  let baseline = args.baseline === undefined ? undefined : readSaved(args.baseline);
  const groups = BENCHES.filter(([name]) => (args.filter === undefined ? !ON_REQUEST.has(name) : name.includes(args.filter)));
  let ref: RefRun | undefined;
  if (args.against !== undefined) ref = await benchAgainst(args.against, args.smoke);
  if (baseline !== undefined) console.log(baseline.about);
  const rows: Row[] = [];
  const refFigures: Baseline = { about: "", figures: new Map() };
  for (const [name, bench] of groups) {
    if (ref !== undefined) {
      // REF's figures for this group first, then this tree's: both close together in time.
      const theirs = ref.runGroup(name);
      for (const [k, f] of theirs.figures) refFigures.figures.set(k, f);
      refFigures.about = theirs.about;
    }
    rows.push(...(await bench(o)));
  }
  if (ref !== undefined) {
    baseline = refFigures;
    console.log(`against: ${ref.describe}`);
    ref.dispose();
  }
  console.log(table(rows, baseline, ref === undefined ? "baseline" : "against"));
  if (args.save !== undefined) {
    const commit = currentCommit();
    writeSaved(args.save, rows, { node: process.version, cpu, ...(commit === undefined ? {} : { commit }) });
    console.log(`saved ${rows.length} figures to ${args.save}`);
  }
}

if (isMain(import.meta.url)) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exitCode = 2;
  }
}
