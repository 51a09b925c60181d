/**
 * `npm run bench` (tsc, then node dist/spec/bench/run.js [filter]): runs every bench and prints one
 * table. Each figure is the median of 5 runs after a warm-up; the spread column is min..max of the runs.
 * Add a bench: export `async function benchX(): Promise<Row[]>` from spec/bench/x.ts and list it below.
 */
import os from "node:os";
import type { Row } from "./harness.js";
import { benchWire } from "./wire.js";

const BENCHES: ReadonlyArray<readonly [string, () => Promise<Row[]>]> = [["wire", benchWire]];

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

async function main(): Promise<void> {
  const filter = process.argv[2];
  const cpu = os.cpus()[0]?.model ?? "unknown cpu";
  console.log(`l3l4 bench: node ${process.version}, ${cpu}, ${os.cpus().length} cpus; median of 5 runs after warm-up`);
  const rows: Row[] = [];
  for (const [name, bench] of BENCHES) {
    if (filter !== undefined && !name.includes(filter)) continue;
    rows.push(...(await bench()));
  }
  const w = Math.max(...rows.map((r) => r.name.length), 10);
  console.log(`${"group".padEnd(6)} ${"bench".padEnd(w)} ${"median".padStart(9)} ${"unit".padEnd(7)} spread (min..max)`);
  for (const r of rows) {
    const lo = Math.min(...r.runs);
    const hi = Math.max(...r.runs);
    console.log(`${r.group.padEnd(6)} ${r.name.padEnd(w)} ${fmt(r.value).padStart(9)} ${r.unit.padEnd(7)} ${fmt(lo)}..${fmt(hi)}`);
  }
}

await main();
