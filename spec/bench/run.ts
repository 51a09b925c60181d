/**
 * `npm run bench` (tsc, then node --expose-gc dist/spec/bench/run.js [filter] [options]): runs every
 * bench and prints one table: the median of each figure, the number of runs behind it, their spread
 * (min..max), and how it was measured (a legend per method under the table).
 *
 *   filter           run only the benches whose group name contains it ("wire", "engine", "flood",
 *                    "flow", "stream", "tun", "tun2socks"), or the one it names exactly ("tun": the
 *                    translator table alone); "soak" (10 minutes) runs only when named
 *   --against REF    build and run a second checkout of the git ref REF (a commit, branch or tag) in
 *                    a temporary directory, in the same run (group by group, REF first), and compare
 *   --baseline FILE  compare against figures saved earlier with --save
 *   --save FILE      write the figures (every run of each) to FILE
 *   --smoke          every bench once on tiny sizes (what spec/bench/smoke.spec.ts checks; the
 *                    figures mean nothing)
 *
 * The tun group (root: the proxy next to pasta, slirp4netns and a veth, tun-table.ts) also takes
 *   --translators A,B  of veth, pasta, slirp4netns, l3l4, l3l4-offload (default: all there are)
 *   --mtus 1500,65520  --repeat 3  --seconds 5 (per measurement)  --churn 8 (wrk runs back to back)
 *   --measure up,down,up4,conn,ping,udp,udp-down  (the measurements of each repeat; default: all)
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
import { benchFlow } from "./flow.js";
import { FULL, isMain, SMOKE, type BenchOptions, type Row } from "./harness.js";
import { benchSoak } from "./soak.js";
import { benchStream } from "./stream.js";
import { teardownOnSignal } from "../integration/harness.js";
import { SECONDS } from "./tun-paths.js";
import { benchTun2socks } from "./tun2socks.js";
import { benchTunTable, type TunTableOptions } from "./tun-table.js";
import { benchWire } from "./wire.js";

export const BENCHES: ReadonlyArray<readonly [string, (o: BenchOptions) => Promise<Row[]>]> = [
  ["wire", benchWire],
  ["engine", benchEngine],
  // A million SYNs from random sources: heap, SYN rate, a legitimate client, a bulk flow during it. About 40 s.
  ["flood", (o) => benchFlood(o)],
  // Flow table lookups after millions of inserts and removes, next to a fresh table. About 15 s.
  ["flow", benchFlow],
  // NetStack next to raw callbacks, both over joinEngines on the real clock. About 20 s.
  ["stream", benchStream],
  // Root only (netns, TUN, pasta, slirp4netns, nginx, wrk, iperf3): the translator table; without
  // them it says why and adds no rows. About 25 minutes with every translator, both MTUs, 3 repeats.
  ["tun", benchTunTable],
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
  /** The tun group's options. */
  tun: TunTableOptions;
  /** The tun group's options as they were given, for REF's runner under --against. */
  tunArgv: string[];
}

export function parseBenchArgs(argv: readonly string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        against: { type: "string" },
        baseline: { type: "string" },
        save: { type: "string" },
        smoke: { type: "boolean" },
        translators: { type: "string" },
        mtus: { type: "string" },
        repeat: { type: "string" },
        seconds: { type: "string" },
        churn: { type: "string" },
        measure: { type: "string" },
      },
    });
  } catch (error) {
    throw new BenchUsageError(
      `${(error as Error).message} (usage: run.js [filter] [--against REF] [--baseline FILE] [--save FILE] [--smoke] [tun options])`,
    );
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new BenchUsageError(`one filter at most, got ${positionals.join(" ")}`);
  if (values.against !== undefined && values.baseline !== undefined) throw new BenchUsageError("--against and --baseline: choose one");
  return {
    filter: positionals[0],
    against: values.against,
    baseline: values.baseline,
    save: values.save,
    smoke: values.smoke ?? false,
    tun: tunOptions(values),
    tunArgv: TUN_OPTIONS.flatMap((name) => (values[name] === undefined ? [] : [`--${name}`, values[name] as string])),
  };
}

/** The options of the tun group, which --against hands on to REF's runner. */
const TUN_OPTIONS = ["translators", "mtus", "repeat", "seconds", "churn", "measure"] as const;

function count(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new BenchUsageError(`--${name} must be an integer >= ${min}: ${text}`);
  return n;
}

/** The tun group's options out of the command line. */
function tunOptions(values: Record<string, string | boolean | undefined>): TunTableOptions {
  const text = (name: string) => values[name] as string | undefined;
  const options: TunTableOptions = {};
  if (text("translators") !== undefined) options.translators = text("translators")!.split(",").map((s) => s.trim());
  if (text("measure") !== undefined) options.measure = text("measure")!.split(",").map((s) => s.trim());
  if (text("mtus") !== undefined) options.mtus = text("mtus")!.split(",").map((s) => count("mtus", s.trim(), 576)!);
  const repeat = count("repeat", text("repeat"), 1);
  const seconds = count("seconds", text("seconds"), 2);
  const churn = count("churn", text("churn"), 0);
  if (repeat !== undefined) options.repeat = repeat;
  if (seconds !== undefined) options.seconds = seconds;
  if (churn !== undefined) options.churn = churn;
  return options;
}

export async function main(argv: readonly string[]): Promise<void> {
  const args = parseBenchArgs(argv);
  const o: BenchOptions = { ...(args.smoke ? SMOKE : FULL), tun: args.tun };
  const cpu = os.cpus()[0]?.model ?? "unknown cpu";
  console.log(`l3l4 bench: node ${process.version}, ${cpu}, ${os.cpus().length} cpus${args.smoke ? " (smoke: tiny sizes, one run, not a measurement)" : ""}`);
  let baseline = args.baseline === undefined ? undefined : readSaved(args.baseline);
  // A filter that names a group exactly runs that group alone ("tun": not tun2socks too).
  const exact = BENCHES.filter(([name]) => name === args.filter);
  const groups = exact.length > 0 ? exact : BENCHES.filter(([name]) => (args.filter === undefined ? !ON_REQUEST.has(name) : name.includes(args.filter)));
  let ref: RefRun | undefined;
  if (args.against !== undefined) ref = await benchAgainst(args.against, args.smoke, args.tunArgv);
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
  teardownOnSignal();
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exitCode = 2;
  }
}
