/**
 * `npm run bench` (tsc, then node --expose-gc dist/spec/bench/run.js [filter] [--baseline FILE]
 * [--save FILE] [tun options]): runs every bench and prints one table. Each figure is the median of
 * 5 runs after a warm-up (the tun bench: of --repeat runs); the spread column is min..max of the runs.
 *
 *   filter           run only the bench of that name ("wire", "engine", "flow", "tun"), or else the benches
 *                    whose name contains it
 *   --save FILE      write the figures to FILE (JSON) to compare against later
 *   --baseline FILE  print FILE's figures next to these, with the change in percent
 *
 * The tun bench (root: translators next to each other, tun-table.ts) also takes
 *   --translators A,B  of veth, pasta, slirp4netns, l3l4, l3l4-offload (default: all there are)
 *   --mtus 1500,65520  --repeat 3  --seconds 5 (per measurement)  --churn 8 (wrk runs back to back)
 *
 * Add a bench: export `async function benchX(): Promise<Row[]>` from spec/bench/x.ts and list it below.
 */
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { benchEngine } from "./engine.js";
import { benchFlow } from "./flow.js";
import type { Row } from "./harness.js";
import { benchStream } from "./stream.js";
import { benchTun2socks } from "./tun2socks.js";
import { benchTunTable, type TunTableOptions } from "./tun-table.js";
import { benchWire } from "./wire.js";

const BENCHES: ReadonlyArray<readonly [string, (tun: TunTableOptions) => Promise<Row[]>]> = [
  ["wire", benchWire],
  ["engine", benchEngine],
  // Flow table lookups after millions of inserts and removes, next to a fresh table. About 15 s.
  ["flow", benchFlow],
  // NetStack next to raw callbacks, both over joinEngines on the real clock. About 20 s.
  ["stream", benchStream],
  // Root only (netns, TUN); without root it says why and adds no rows. About 25 minutes with every
  // translator, both MTUs and 3 repeats.
  ["tun", (tun) => benchTunTable(tun)],
  // Root, danted, wrk and nginx: SOCKS5 through dante next to direct, new connections/s, RSS under churn.
  ["tun2socks", () => benchTun2socks()],
];

/** What --save writes and --baseline reads. */
interface SavedFigures {
  format: "l3l4-bench/1";
  date: string;
  node: string;
  cpu: string;
  figures: { group: string; name: string; unit: string; value: number }[];
}

/** Units where smaller is better; for the rest (throughputs, rates) larger is. */
const LOWER_IS_BETTER = new Set(["ns/pkt", "ns/op", "B/flow", "ms", "MiB", "flows"]);

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function key(group: string, name: string): string {
  return `${group}\u0000${name}`;
}

function readBaseline(file: string): { about: string; figures: Map<string, { unit: string; value: number }> } {
  let saved: SavedFigures;
  try {
    saved = JSON.parse(readFileSync(file, "utf8")) as SavedFigures;
  } catch (error) {
    throw new BenchUsageError(`--baseline ${file}: ${(error as Error).message}`);
  }
  if (saved.format !== "l3l4-bench/1" || !Array.isArray(saved.figures)) {
    throw new BenchUsageError(`--baseline ${file}: not a file written by --save`);
  }
  const figures = new Map<string, { unit: string; value: number }>();
  for (const f of saved.figures) figures.set(key(f.group, f.name), { unit: f.unit, value: f.value });
  return { about: `baseline: ${file} (${saved.date}, node ${saved.node}, ${saved.cpu})`, figures };
}

/** "+12.3% better", "-4.0% worse", "" when not comparable. */
function delta(r: Row, base: { unit: string; value: number } | undefined): string {
  if (base === undefined || base.unit !== r.unit || !(base.value !== 0)) return "";
  const pct = ((r.value - base.value) / Math.abs(base.value)) * 100;
  const better = LOWER_IS_BETTER.has(r.unit) ? pct < 0 : pct > 0;
  const sign = pct >= 0 ? "+" : "";
  return `${sign}${pct.toFixed(1)}%${Math.abs(pct) < 0.05 ? "" : better ? " better" : " worse"}`;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        baseline: { type: "string" },
        save: { type: "string" },
        translators: { type: "string" },
        mtus: { type: "string" },
        repeat: { type: "string" },
        seconds: { type: "string" },
        churn: { type: "string" },
      },
    });
  } catch (error) {
    throw new BenchUsageError(`${(error as Error).message} (usage: run.js [filter] [--baseline FILE] [--save FILE] [tun options])`);
  }
  const { values, positionals } = parsed;
  const filter = positionals[0];
  const tun = tunOptions(values);
  const cpu = os.cpus()[0]?.model ?? "unknown cpu";
  const baseline = values.baseline === undefined ? undefined : readBaseline(values.baseline);
  console.log(`l3l4 bench: node ${process.version}, ${cpu}, ${os.cpus().length} cpus; median of 5 runs after warm-up`);
  if (baseline !== undefined) console.log(baseline.about);
  const rows: Row[] = [];
  const exact = BENCHES.some(([name]) => name === filter);
  for (const [name, bench] of BENCHES) {
    if (filter !== undefined && (exact ? name !== filter : !name.includes(filter))) continue;
    rows.push(...(await bench(tun)));
  }
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  const b = baseline === undefined ? "" : ` ${"baseline".padStart(9)} ${"change".padEnd(15)}`;
  console.log(`${"group".padEnd(6)} ${"bench".padEnd(w)} ${"median".padStart(9)} ${"unit".padEnd(7)}${b} spread (min..max)`);
  for (const r of rows) {
    const lo = Math.min(...r.runs);
    const hi = Math.max(...r.runs);
    let cmp = "";
    if (baseline !== undefined) {
      const base = baseline.figures.get(key(r.group, r.name));
      cmp = ` ${(base === undefined ? "-" : fmt(base.value)).padStart(9)} ${delta(r, base).padEnd(15)}`;
    }
    console.log(`${r.group.padEnd(6)} ${r.name.padEnd(w)} ${fmt(r.value).padStart(9)} ${r.unit.padEnd(7)}${cmp} ${fmt(lo)}..${fmt(hi)}`);
  }
  if (values.save !== undefined) {
    const saved: SavedFigures = {
      format: "l3l4-bench/1",
      date: new Date().toISOString(),
      node: process.version,
      cpu,
      figures: rows.map((r) => ({ group: r.group, name: r.name, unit: r.unit, value: r.value })),
    };
    writeFileSync(values.save, `${JSON.stringify(saved, null, 2)}\n`);
    console.log(`saved ${rows.length} figures to ${values.save}`);
  }
}

function count(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new BenchUsageError(`--${name} must be an integer >= ${min}: ${text}`);
  return n;
}

/** The tun bench's options out of the command line. */
function tunOptions(values: Record<string, string | boolean | undefined>): TunTableOptions {
  const text = (name: string) => values[name] as string | undefined;
  const options: TunTableOptions = {};
  if (text("translators") !== undefined) options.translators = text("translators")!.split(",").map((s) => s.trim());
  if (text("mtus") !== undefined) options.mtus = text("mtus")!.split(",").map((s) => count("mtus", s.trim(), 576)!);
  const repeat = count("repeat", text("repeat"), 1);
  const seconds = count("seconds", text("seconds"), 2);
  const churn = count("churn", text("churn"), 0);
  if (repeat !== undefined) options.repeat = repeat;
  if (seconds !== undefined) options.seconds = seconds;
  if (churn !== undefined) options.churn = churn;
  return options;
}

/** A mistake on the command line or an unreadable baseline: one line, no stack. */
class BenchUsageError extends Error {}

try {
  await main();
} catch (error) {
  if (!(error instanceof BenchUsageError)) throw error;
  console.error(`bench: ${error.message}`);
  process.exitCode = 2;
}
