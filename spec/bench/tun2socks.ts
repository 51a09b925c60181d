/**
 * tun2socks figures, measured in the same run as the direct proxy: the SOCKS5 path through dante
 * (tun-paths.ts) next to direct://.
 *
 * - iperf3 up and down (Gbit/s) through SOCKS5 at MTU 1500 and 65520 (direct's and the peers' are tun-table.ts's);
 * - new connections per second: wrk with `Connection: close` against nginx in S, direct and SOCKS5;
 * - RSS under churn: the process's resident set after a warm-up round of wrk through SOCKS5 and after
 *   two more, and how much it grew between them (flat is the target).
 *
 * The anchor (the issue, same machine): hev-socks5-tunnel through dante gave 3.4/3.4 Gbit/s up/down at
 * MTU 1500, 3.7/3.2 at 65520, and 240 new connections/s.
 *
 * iperf3 rows are medians of IPERF_RUNS runs with -O 1 (tun-paths.ts); conn/s the median of WRK_RUNS
 * wrk runs. Smoke: iperf3 8 MiB each way once, wrk once for 1 s with 4 connections and 1 s of churn.
 *
 * Needs root, the TUN addon, iperf3, danted, wrk and nginx; without them it says why and adds no rows.
 * Alone: `npx tsc -b && node --expose-gc dist/spec/bench/tun2socks.js [seconds]`.
 */
import { hasCommand } from "../support/privileges.js";
import { hasProxyServers } from "../integration/proxy-servers.js";
import { FULL, isMain, median, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";
import { onPath } from "./translators.js";
import { directPath, iperfThrough, MTUS, nginxServer, SECONDS, socksPath, tunBenchProblems, wrk, type BenchPath } from "./tun-paths.js";

export const WRK_RUNS = 3;
const CONNECTIONS = 64;
const SMOKE_CONNECTIONS = 4;
const SMOKE_SECONDS = 1;

function one(name: string, unit: string, value: number, method: string): Row {
  return { group: "tun", name, value, unit, runs: [value], method };
}

/** What the machine lacks for this bench ("" when nothing). */
export function tun2socksMissing(): string {
  return tunBenchProblems([hasProxyServers, onPath("wrk", "wrk"), hasCommand("nginx", ["-v"], "nginx-light")]).join("; ");
}

function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / (1024 * 1024);
}

/**
 * conn/s over `path` (made and closed here): WRK_RUNS wrk runs of `seconds` (smoke: one short run);
 * with `churnRounds`, the RSS after those runs and after `churnRounds` more, and the flows left after.
 */
async function connectionsThrough(make: () => Promise<BenchPath>, seconds: number, o: BenchOptions, churnRounds = 0): Promise<Row[]> {
  const runs = o.smoke ? 1 : WRK_RUNS;
  const connections = o.smoke ? SMOKE_CONNECTIONS : CONNECTIONS;
  const path = await make();
  try {
    await nginxServer(path);
    const rates: number[] = [];
    for (let r = 0; r < runs; r++) {
      const result = await wrk(path, seconds, connections);
      rates.push(result.requestsPerSecond);
      if (result.errors > 0) console.log(`wrk through ${path.name}: ${result.errors} errors in ${seconds} s`);
    }
    const method = o.smoke ? SMOKE_METHOD : `median of ${runs} wrk runs of ${seconds} s, ${connections} connections`;
    const name = `wrk ${path.name} new connections (Connection: close)`;
    const rows: Row[] = [{ group: "tun", name, value: median(rates), unit: "conn/s", runs: rates, method }];
    if (churnRounds > 0) {
      const churned = runs * seconds;
      const once = o.smoke ? SMOKE_METHOD : "one reading after the wrk runs above (process RSS after gc)";
      const warm = rssMiB();
      for (let round = 0; round < churnRounds; round++) await wrk(path, seconds, connections);
      const after = rssMiB();
      rows.push(one(`rss after ${churned} s of churn (${path.name})`, "MiB", warm, once));
      rows.push(one(`rss growth over ${churnRounds * seconds} s more churn (${path.name})`, "MiB", after - warm, once));
      // wrk's last connections close after it stops: give them 10 s, then count what is left.
      const engine = path.proxy.engine;
      for (let i = 0; i < 100 && engine.flowCount > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      rows.push(one(`flows left 10 s after churn (${path.name})`, "flows", engine.flowCount, once));
    }
    return rows;
  } finally {
    await path.close();
  }
}

export async function benchTun2socks(seconds = SECONDS, o: BenchOptions = FULL): Promise<Row[]> {
  const missing = tun2socksMissing();
  if (missing !== "") {
    console.log(`tun2socks bench skipped: missing ${missing}`);
    return [];
  }
  const rows: Row[] = [];
  for (const mtu of MTUS) rows.push(...(await iperfThrough(() => socksPath(mtu), mtu, seconds, "", o)));
  const wrkSeconds = o.smoke ? SMOKE_SECONDS : seconds;
  rows.push(...(await connectionsThrough(() => directPath(1500), wrkSeconds, o)));
  rows.push(...(await connectionsThrough(() => socksPath(1500), wrkSeconds, o, o.smoke ? 1 : 2)));
  return rows;
}

if (isMain(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? SECONDS);
  const rows = await benchTun2socks(seconds);
  for (const r of rows) console.log(`${r.name.padEnd(56)} ${r.value.toFixed(2).padStart(9)} ${r.unit}`);
  process.exit(0);
}
