/**
 * Profiling aid: one measurement of the translator bench through one path, e.g.
 *
 *   L3L4_BENCH_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" \
 *     node dist/spec/bench/profile-relay.js l3l4 conn 1500 10
 *
 * (translator: a name of tun-table.ts; what: one of tun-table.ts's MEASUREMENTS: up, down, up4, conn, ping, udp
 * (iperf3 -u -b 0 -l 1400), udp-down). Prints the figure and the
 * translator's CPU time (after a 3 s warm-up of the same measurement); with --cpu-prof in L3L4_BENCH_NODE_OPTIONS the proxy writes a profile of
 * just this measurement when the path closes.
 */
import { measure, allTranslators, type Measurement } from "./tun-table.js";
import { readdirSync, readFileSync } from "node:fs";
import { buildPath, cpuMs, cpuSplit } from "./translators.js";

/** CPU ms per thread name of `pid`. */
function threadCpu(pid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (pid === undefined) return out;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(`${name}#${tid}`, (Number(f[11]) + Number(f[12])) * 10);
    } catch {}
  }
  return out;
}

const [which = "l3l4", what = "conn", mtu = "1500", seconds = "10"] = process.argv.slice(2);
const translator = allTranslators().find((t) => t.name === which);
if (translator === undefined) throw new Error(`unknown translator ${which}`);
const path = await buildPath(translator, Number(mtu));
try {
  await measure(path, what as Measurement, 3); // warm-up: the JIT, the pools
  const cpu0 = cpuSplit(path.pid);
  const exact0 = cpuMs(path.pid);
  const threads0 = threadCpu(path.pid);
  const figure = await measure(path, what as Measurement, Number(seconds));
  const cpu = cpuSplit(path.pid);
  const exact = cpuMs(path.pid) - exact0;
  const threads = threadCpu(path.pid);
  console.log([...threads].map(([name, ms]) => `${name} ${ms - (threads0.get(name) ?? 0)} ms`).join(", "));
  const user = cpu.user - cpu0.user;
  const system = cpu.system - cpu0.system;
  console.log(`${which} ${what} mtu ${mtu}: ${JSON.stringify(figure)}; translator cpu ${exact.toFixed(1)} ms (ticks: user ${user.toFixed(0)}, system ${system.toFixed(0)})`);
} finally {
  await path.close();
}
process.exit(0);
