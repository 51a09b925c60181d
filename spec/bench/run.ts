/**
 * `npm run bench` (tsc, then node --expose-gc dist/spec/bench/run.js [filter] [--baseline FILE]
 * [--save FILE]): runs every bench and prints one table. Each figure is the median of 5 runs after a
 * warm-up; the spread column is min..max of the runs.
 *
 *   filter           run only the benches whose group name contains it ("wire", "engine"); "soak"
 *                    (10 minutes) runs only when named
 *   --save FILE      write the figures to FILE (JSON) to compare against later
 *   --baseline FILE  print FILE's figures next to these, with the change in percent
 *
 * Add a bench: export `async function benchX(): Promise<Row[]>` from spec/bench/x.ts and list it below.
 */
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { benchEngine } from "./engine.js";
import { benchFlood } from "./flood.js";
import type { Row } from "./harness.js";
import { benchSoak } from "./soak.js";
import { benchStream } from "./stream.js";
import { benchTunIperf } from "./tun-iperf.js";
import { benchTun2socks } from "./tun2socks.js";
import { benchWire } from "./wire.js";

const BENCHES: ReadonlyArray<readonly [string, () => Promise<Row[]>]> = [
  ["wire", benchWire],
  ["engine", benchEngine],
  // A million SYNs from random sources: heap, SYN rate, a legitimate client, a bulk flow during it.
  ["flood", () => benchFlood()],
  // NetStack next to raw callbacks, both over joinEngines on the real clock. About 20 s.
  ["stream", benchStream],
  // Root only (netns, TUN); without root it says why and adds no rows. About 50 s.
  ["tun", () => benchTunIperf()],
  // Root, danted, wrk and nginx: SOCKS5 through dante next to direct, new connections/s, RSS under churn.
  ["tun2socks", () => benchTun2socks()],
  // Only when named (`npm run bench -- soak`): 10,000 flows through `l3l4 proxy` for 10 minutes.
  ["soak", () => benchSoak()],
];

/** Benches that run only when the filter names them. */
const ON_REQUEST = new Set(["soak"]);

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
      options: { baseline: { type: "string" }, save: { type: "string" } },
    });
  } catch (error) {
    throw new BenchUsageError(`${(error as Error).message} (usage: run.js [filter] [--baseline FILE] [--save FILE])`);
  }
  const { values, positionals } = parsed;
  const filter = positionals[0];
  const cpu = os.cpus()[0]?.model ?? "unknown cpu";
  const baseline = values.baseline === undefined ? undefined : readBaseline(values.baseline);
  console.log(`l3l4 bench: node ${process.version}, ${cpu}, ${os.cpus().length} cpus; median of 5 runs after warm-up`);
  if (baseline !== undefined) console.log(baseline.about);
  const rows: Row[] = [];
  for (const [name, bench] of BENCHES) {
    if (filter === undefined ? ON_REQUEST.has(name) : !name.includes(filter)) continue;
    rows.push(...(await bench()));
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

/** A mistake on the command line or an unreadable baseline: one line, no stack. */
class BenchUsageError extends Error {}

try {
  await main();
} catch (error) {
  if (!(error instanceof BenchUsageError)) throw error;
  console.error(`bench: ${error.message}`);
  process.exitCode = 2;
}
