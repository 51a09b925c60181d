/**
 * Development aid: two translators measured at the same time, so that the load other processes put
 * on the machine falls on both alike (an A/B of two builds: L3L4_BENCH_BASELINE names the other):
 *
 *   node dist/spec/bench/ab-pair.js l3l4-base l3l4 conn 1500 8 5
 *
 * (A, B, what: conn or down or up, MTU, seconds, rounds). Prints each round and the medians.
 */
import { allTranslators, measure, type Measurement } from "./tun-table.js";
import { buildPath, cpuSplit } from "./translators.js";

const [a = "l3l4-base", b = "l3l4", what = "conn", mtu = "1500", seconds = "8", rounds = "5"] = process.argv.slice(2);
const pick = (name: string) => {
  const t = allTranslators().find((x) => x.name === name);
  if (t === undefined) throw new Error(`unknown translator ${name}`);
  return t;
};
const paths = [await buildPath(pick(a), Number(mtu)), await buildPath(pick(b), Number(mtu))];
const figures: Record<string, { rate: number[]; user: number[]; system: number[] }> = { [a]: { rate: [], user: [], system: [] }, [b]: { rate: [], user: [], system: [] } };
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
try {
  await Promise.all(paths.map((p) => measure(p, what as Measurement, 3)));
  for (let r = 0; r < Number(rounds); r++) {
    const cpu0 = paths.map((p) => cpuSplit(p.pid));
    const results = (await Promise.all(paths.map((p) => measure(p, what as Measurement, Number(seconds))))) as Record<string, number>[];
    const line: string[] = [];
    paths.forEach((p, i) => {
      const cpu = cpuSplit(p.pid);
      const res = results[i]!;
      const units = what === "conn" ? res["connPerSecond"]! * Number(seconds) : (res["gbits"]! * Number(seconds));
      const f = figures[p.translator.name]!;
      const rate = what === "conn" ? res["connPerSecond"]! : res["gbits"]!;
      f.rate.push(rate);
      f.user.push(((cpu.user - cpu0[i]!.user) * (what === "conn" ? 1000 : 1)) / units);
      f.system.push(((cpu.system - cpu0[i]!.system) * (what === "conn" ? 1000 : 1)) / units);
      line.push(`${p.translator.name} ${rate.toFixed(what === "conn" ? 0 : 2)} user ${f.user.at(-1)!.toFixed(0)} sys ${f.system.at(-1)!.toFixed(0)}`);
    });
    console.log(`round ${r + 1}: ${line.join(" | ")}`);
  }
  const unit = what === "conn" ? "µs/conn" : "ms/Gbit";
  for (const name of [a, b]) {
    const f = figures[name]!;
    console.log(`${name}: median ${median(f.rate).toFixed(what === "conn" ? 0 : 2)} ${what === "conn" ? "conn/s" : "Gbit/s"}, user ${median(f.user).toFixed(0)} + system ${median(f.system).toFixed(0)} ${unit}`);
  }
} finally {
  for (const p of paths) await p.close();
}
process.exit(0);
