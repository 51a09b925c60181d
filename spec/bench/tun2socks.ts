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
 * Needs root, the TUN addon, iperf3, danted, wrk and nginx; without them it says why and adds no rows.
 * Alone: `npx tsc -b && node --expose-gc dist/spec/bench/tun2socks.js [seconds]`.
 */
import { hasCommand } from "../support/privileges.js";
import { hasProxyServers } from "../integration/proxy-servers.js";
import { isMain, type Row } from "./harness.js";
import { onPath } from "./translators.js";
import { directPath, iperfThrough, MTUS, nginxServer, SECONDS, socksPath, tunBenchProblems, wrk, type BenchPath } from "./tun-paths.js";

function one(name: string, unit: string, value: number): Row {
  return { group: "tun", name, value, unit, runs: [value] };
}

function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / (1024 * 1024);
}

/** conn/s over `path` (made and closed here); with `churnRounds`, RSS after the first and the last round. */
async function connectionsThrough(make: () => Promise<BenchPath>, seconds: number, churnRounds = 0): Promise<Row[]> {
  const path = await make();
  try {
    await nginxServer(path);
    const first = await wrk(path, seconds);
    const rows = [one(`wrk ${path.name} new connections (Connection: close)`, "conn/s", first.requestsPerSecond)];
    if (first.errors > 0) console.log(`wrk through ${path.name}: ${first.errors} errors in ${seconds} s`);
    if (churnRounds > 0) {
      const warm = rssMiB();
      for (let round = 0; round < churnRounds; round++) await wrk(path, seconds);
      const after = rssMiB();
      rows.push(one(`rss after ${seconds} s of churn (${path.name})`, "MiB", warm));
      rows.push(one(`rss growth over ${churnRounds * seconds} s more churn (${path.name})`, "MiB", after - warm));
      // wrk's last connections close after it stops: give them 10 s, then count what is left.
      const engine = path.proxy.engine;
      for (let i = 0; i < 100 && engine.flowCount > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
      rows.push(one(`flows left 10 s after churn (${path.name})`, "flows", engine.flowCount));
    }
    return rows;
  } finally {
    await path.close();
  }
}

export async function benchTun2socks(seconds = SECONDS): Promise<Row[]> {
  const problems = tunBenchProblems([hasProxyServers, onPath("wrk", "wrk"), hasCommand("nginx", ["-v"], "nginx-light")]);
  if (problems.length > 0) {
    console.log(`tun2socks bench skipped: missing ${problems.join("; ")}`);
    return [];
  }
  const rows: Row[] = [];
  for (const mtu of MTUS) rows.push(...(await iperfThrough(() => socksPath(mtu), mtu, seconds)));
  rows.push(...(await connectionsThrough(() => directPath(1500), seconds)));
  rows.push(...(await connectionsThrough(() => socksPath(1500), seconds, 2)));
  return rows;
}

if (isMain(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? SECONDS);
  const rows = await benchTun2socks(seconds);
  for (const r of rows) console.log(`${r.name.padEnd(56)} ${r.value.toFixed(2).padStart(9)} ${r.unit}`);
  process.exit(0);
}
