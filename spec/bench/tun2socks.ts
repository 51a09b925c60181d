/**
 * tun2socks figures, measured in the same run as the direct proxy: the SOCKS5 path through dante and
 * through microsocks (tun-paths.ts) next to direct://, each without and with the TUN offloads
 * ("offload" rows: `l3l4 proxy --offload`, as tun-table.ts's l3l4-offload).
 *
 * - iperf3 up and down (Gbit/s) through SOCKS5 at MTU 1500 and 65520 (direct's and the peers' are
 *   tun-table.ts's), and this process's CPU time (process.cpuUsage: the engine and the relay, and
 *   the bench's own few timers) per Gbit carried, each way;
 * - new connections per second: wrk with `Connection: close` against nginx in S, direct and SOCKS5
 *   (without and with the offloads), with this process's CPU time per connection;
 * - each SOCKS5 server's own ceiling: a client in P, where the server runs, making the same requests
 *   through it to nginx in S with no l3l4 in between (fixtures/socks-churn.mjs, hand-written SOCKS5,
 *   the same concurrency as wrk): how much of the gap to direct is the SOCKS server's;
 * - RSS under churn: the process's resident set after a warm-up round of wrk through SOCKS5 (dante)
 *   and after two more, and how much it grew between them (flat is the target).
 *
 * The anchor (the issue, same machine): hev-socks5-tunnel through dante gave 3.4/3.4 Gbit/s up/down at
 * MTU 1500, 3.7/3.2 at 65520, and 240 new connections/s.
 *
 * iperf3 rows are medians of IPERF_RUNS runs with -O 1 (tun-paths.ts); their CPU rows count the
 * omitted second too, as carrying the run's rate. conn/s the median of WRK_RUNS wrk runs. Smoke:
 * iperf3 8 MiB each way once, wrk once for 1 s with 4 connections and 1 s of churn.
 *
 * Needs root, the TUN addon, iperf3, danted, wrk and nginx (microsocks for its rows); without them it
 * says why and adds no rows.
 * Alone: `npx tsc -b && node --expose-gc dist/spec/bench/tun2socks.js [seconds]`.
 */
import { hasCommand } from "../support/privileges.js";
import { hasProxyServers } from "../integration/proxy-servers.js";
import { FULL, isMain, median, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";
import { onPath } from "./translators.js";
import { fixture } from "../integration/harness.js";
import { iperf } from "../integration/topology.js";
import {
  directPath,
  gbitRow,
  iperfMethod,
  iperfServer,
  IPERF_RUNS,
  MTUS,
  nginxServer,
  NGINX_PORT,
  OMIT_SECONDS,
  SECONDS,
  SMOKE_BYTES,
  socksPath,
  tunBenchProblems,
  wrk,
  type BenchPath,
  type SocksServer,
} from "./tun-paths.js";

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

/** This process's CPU time (user + system) in ms since `from` (a process.cpuUsage() reading). */
function cpuMsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

/**
 * iperf3 up and down over `path` (made and closed here), IPERF_RUNS times each, alternating, with
 * this process's CPU time per Gbit each way.
 */
async function iperfWithCpu(make: () => Promise<BenchPath>, mtu: number, seconds: number, o: BenchOptions): Promise<Row[]> {
  const path = await make();
  try {
    await iperfServer(path);
    const how = o.smoke ? { bytes: SMOKE_BYTES } : { omitSeconds: OMIT_SECONDS };
    const rates: [number[], number[]] = [[], []];
    const cpu: [number[], number[]] = [[], []];
    for (let r = 0; r < (o.smoke ? 1 : IPERF_RUNS); r++) {
      for (const reverse of [false, true]) {
        const from = process.cpuUsage();
        const bps = await iperf(path.client, path.host, seconds, reverse, how);
        const ms = cpuMsSince(from);
        const gbit = o.smoke ? (SMOKE_BYTES * 8) / 1e9 : (bps * (seconds + OMIT_SECONDS)) / 1e9;
        rates[+reverse]!.push(bps);
        cpu[+reverse]!.push(ms / gbit);
      }
    }
    const name = `iperf3 ${path.name} mtu ${mtu}`;
    const method = iperfMethod(seconds, o);
    const cpuMethod = o.smoke ? SMOKE_METHOD : `${method}; process CPU over the whole run (omitted second included) per Gbit`;
    const cpuRow = (dir: string, runs: number[]): Row => ({ group: "tun", name: `cpu ${path.name} mtu ${mtu} ${dir}`, value: median(runs), unit: "ms/Gbit", runs, method: cpuMethod });
    return [gbitRow(`${name} up`, rates[0], method), gbitRow(`${name} down (-R)`, rates[1], method), cpuRow("up", cpu[0]), cpuRow("down", cpu[1])];
  } finally {
    await path.close();
  }
}

/** The SOCKS5 server of `path` alone: a client in P through it to nginx in S (no l3l4). */
async function socksCeiling(path: BenchPath, seconds: number, connections: number): Promise<{ requestsPerSecond: number; errors: number }> {
  const socks = path.socks!;
  const proxy = { host: socks.host, port: socks.port, ...(socks.user === undefined ? {} : { user: socks.user.name, password: socks.user.password }) };
  return fixture(socks.ns, "socks-churn", { proxy, target: { host: path.host, port: NGINX_PORT }, seconds, connections }, (seconds + 30) * 1000);
}

function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / (1024 * 1024);
}

/**
 * conn/s over `path` (made and closed here): WRK_RUNS wrk runs of `seconds` (smoke: one short run),
 * each followed by a run of the path's SOCKS5 server alone (unless not `ceilingToo`: the same server
 * measured on another path of the run); with `churnRounds`, the RSS after those runs and after
 * `churnRounds` more, and the flows left after.
 */
async function connectionsThrough(make: () => Promise<BenchPath>, seconds: number, o: BenchOptions, churnRounds = 0, ceilingToo = true): Promise<Row[]> {
  const runs = o.smoke ? 1 : WRK_RUNS;
  const connections = o.smoke ? SMOKE_CONNECTIONS : CONNECTIONS;
  const path = await make();
  try {
    await nginxServer(path);
    const rates: number[] = [];
    const cpu: number[] = [];
    const ceiling: number[] = [];
    for (let r = 0; r < runs; r++) {
      const from = process.cpuUsage();
      const result = await wrk(path, seconds, connections);
      cpu.push((cpuMsSince(from) * 1000) / Math.max(1, result.requestsPerSecond * seconds));
      rates.push(result.requestsPerSecond);
      if (result.errors > 0) console.log(`wrk through ${path.name}: ${result.errors} errors in ${seconds} s`);
      if (path.socks !== undefined && ceilingToo) {
        const alone = await socksCeiling(path, seconds, connections);
        ceiling.push(alone.requestsPerSecond);
        if (alone.errors > 0) console.log(`${path.name} server alone: ${alone.errors} errors in ${seconds} s`);
      }
    }
    const method = o.smoke ? SMOKE_METHOD : `median of ${runs} wrk runs of ${seconds} s, ${connections} connections`;
    const name = `wrk ${path.name} new connections (Connection: close)`;
    const rows: Row[] = [
      { group: "tun", name, value: median(rates), unit: "conn/s", runs: rates, method },
      { group: "tun", name: `cpu ${path.name} per new connection`, value: median(cpu), unit: "µs/conn", runs: cpu, method: o.smoke ? SMOKE_METHOD : `${method}; process CPU per connection` },
    ];
    if (ceiling.length > 0) {
      const how = o.smoke ? SMOKE_METHOD : `median of ${runs} runs of ${seconds} s, ${connections} connections, a client in P (spec/integration/fixtures/socks-churn.mjs)`;
      rows.push({ group: "tun", name: `${path.name} server alone new connections (no l3l4)`, value: median(ceiling), unit: "conn/s", runs: ceiling, method: how });
    }
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
  const servers: SocksServer[] = ["dante"];
  if (onPath("microsocks", "microsocks")().ok) servers.push("microsocks");
  else console.log("tun2socks bench: no microsocks rows (apt-get install microsocks)");
  const rows: Row[] = [];
  for (const server of servers) {
    for (const mtu of MTUS) {
      for (const offload of [false, true]) rows.push(...(await iperfWithCpu(() => socksPath(mtu, { server, offload }), mtu, seconds, o)));
    }
  }
  const wrkSeconds = o.smoke ? SMOKE_SECONDS : seconds;
  rows.push(...(await connectionsThrough(() => directPath(1500), wrkSeconds, o)));
  for (const server of servers) {
    // dante's path (the first) also measures RSS under churn; the server alone is measured on the path without offloads.
    const churn = server === "dante" ? (o.smoke ? 1 : 2) : 0;
    rows.push(...(await connectionsThrough(() => socksPath(1500, { server }), wrkSeconds, o, churn)));
    rows.push(...(await connectionsThrough(() => socksPath(1500, { server, offload: true }), wrkSeconds, o, 0, false)));
  }
  return rows;
}

if (isMain(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? SECONDS);
  const rows = await benchTun2socks(seconds);
  for (const r of rows) console.log(`${r.name.padEnd(56)} ${r.value.toFixed(2).padStart(9)} ${r.unit}`);
  process.exit(0);
}
