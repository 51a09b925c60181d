/**
 * The soak: FLOWS concurrent TCP flows through the `l3l4 proxy` command (a process of its own, as a
 * user runs it) over a real TUN device for SECONDS, with the integration tests' userspace faults
 * (--faults loss=0.02,reorder=0.05,duplicate=0.01,delay=5), every byte verified:
 *
 *   netns C: soak-clients.mjs --TUN--> l3l4 proxy (root namespace) --veth--> netns S: echo servers
 *
 * Each client connection does rounds of a chunk out and its echo back (compared byte for byte),
 * pausing between rounds, and after a few dozen rounds closes and is replaced, so the flow table
 * churns while FLOWS stay open. Every 30 s (a shorter soak: often enough for 8 samples) it prints the proxy's RSS, open fds (/proc/PID/fd), the
 * engine's flowCount and the proxy's flow table (--api /stats), and the clients' counts. At the end:
 * the RSS must have plateaued (the second half's median within 10% + 16 MiB of the first half's: the
 * garbage collector's sawtooth moves single samples by tens of MiB, memory kept moves the median;
 * both halves' peaks are reported beside it), no
 * byte may have gone wrong, flowCount and the flow table must be back to 0 and the fds back to where
 * they were before the first flow. A bench, not a test: it prints figures and verdicts.
 *
 * Needs root, /dev/net/tun and the TUN addon. Bounded: the clients stop at SECONDS (+ a drain), and
 * everything (processes, namespaces, veths) is torn down after, whatever happened.
 *   npm run bench -- soak
 *   npx tsc -b && node dist/spec/bench/soak.js [--seconds 600] [--flows 10000] [--txqueuelen N]
 *
 * Debugging a stall: SOAK_ROUND_TIMEOUT_MS=15000 fails a round sooner than the default 90 s;
 * SOAK_STALL_HOLD_MS=30000 makes a client report its stall at once and keep the socket open that much
 * longer (a round that completes meanwhile is no failure), and this process writes the proxy's /flows
 * rows for that client port and /stats to /tmp/soak-stall-PORT.json. SOAK_PCAP=FILE captures the client
 * side of the TUN (tcpdump, headers only) into FILE for the whole run. SIGINT or SIGTERM stops the soak
 * and tears everything down as the end does.
 *
 * The "TUN drops" column is the kernel's tx_dropped on the TUN in the client namespace: packets
 * heading for the proxy that found the device's queue (txqueuelen) full.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Netns, uniqueInterfaceName } from "../support/netns.js";
import { canUseNetns } from "../support/privileges.js";
import {
  addonBuilt,
  deleteVeths,
  FIXTURES,
  INTEGRATION_FAULTS,
  killChildren,
  moveTunInto,
  NODE,
  serverNamespace,
  spawnIn,
  teardownOnSignal,
  testAddresses,
  type Spawned,
} from "../integration/harness.js";
import { DEFAULT_TX_QUEUE_LENGTH } from "../../lib/tun/tun.js";
import { FULL, isMain, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";

export const SOAK_SECONDS = 600;
export const SOAK_FLOWS = 10_000;
/** Smoke (spec/bench/smoke.spec.ts): a few seconds and a few dozen flows, to show the soak still runs. */
const SMOKE_SECONDS = 6;
const SMOKE_FLOWS = 40;
/** A sample every 30 s; a shorter soak samples so that it has at least 8. */
const SAMPLE_MS = 30_000;
const ECHO_PORT = 7100;
/**
 * The TUN's queue the soak gives the proxy, per flow: the engine's receive budget is half the queue
 * and each flow keeps at least two segments of window (lib/tcp/receive-budget.ts), so two packets a
 * flow of data, and as many again for the ACKs of what the proxy sends. With less, the kernel drops
 * at the queue whenever the flows' windows add up past it (issue 13's stalls: a third of the packets
 * heading for the proxy, RTO backoffs past the 90 s round timeout, handshakes timing out).
 */
const QUEUE_PER_FLOW = 4;
const ECHO_PORTS = 16;
/**
 * The `l3l4` command as a user runs it: dist/lib/cli/main.js, beside this file when it runs compiled
 * (npm run bench), else from the root (vitest runs the sources; spec/bench/smoke.spec.ts
 * builds dist first).
 */
export const MAIN = ((): string => {
  const compiled = fileURLToPath(new URL("../../lib/cli/main.js", import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL("../../dist/lib/cli/main.js", import.meta.url));
})();
/** Each process may hold a socket per flow: raise the fd limit as far as root may. */
const WITH_FDS = 'ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';

interface ClientReport {
  t: number;
  open: number;
  opened: number;
  completed: number;
  failed: number;
  bytesVerified: number;
  errors: string[];
  final?: true;
}

interface ProxyStats {
  flows: number;
  engine: { flows: number; tcpRetransmits: number; dropped: number; receiveWindowPromised: number; receiveBudget: number | null };
  totals: Record<string, number>;
  failures: number;
}

interface Sample {
  t: number;
  rssMiB: number;
  fds: number;
  flowCount: number;
  flowTable: number;
  tunDrops: number;
  client: ClientReport | undefined;
}

/** Debugging (SOAK_STALL_HOLD_MS): the proxy's /flows and /stats when a client reports a stall, to /tmp/soak-stall-PORT.json. */
async function dumpStalls(api: string, clients: Spawned, dumped: Set<number>): Promise<void> {
  for (const m of clients.stdout().matchAll(/\{"stall":(\d+)[^\n]*/g)) {
    const port = Number(m[1]);
    if (dumped.has(port)) continue;
    dumped.add(port);
    const get = async (path: string): Promise<unknown> => (await fetch(`${api}${path}`, { headers: { connection: "close" } })).json();
    const flows = (await get("/flows")) as unknown;
    const text = JSON.stringify(flows);
    const mine = (Array.isArray(flows) ? flows : ((flows as { flows?: unknown[] }).flows ?? [])).filter((f) => JSON.stringify(f).includes(`${port}`));
    writeFileSync(`/tmp/soak-stall-${port}.json`, JSON.stringify({ stall: m[0], mine, stats: await get("/stats"), all: text.length }, null, 1));
    console.log(`soak: stall on port ${port} dumped to /tmp/soak-stall-${port}.json`);
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? NaN : Number(m[1]) / 1024;
}

/** Packets the kernel dropped at the TUN's queue towards the proxy (tx_dropped in the client namespace). */
function tunDrops(ns: Netns, tun: string): number {
  try {
    return Number(ns.exec(["cat", `/sys/class/net/${tun}/statistics/tx_dropped`]).trim());
  } catch {
    return NaN;
  }
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function proxyStats(api: string): Promise<ProxyStats> {
  // Connection: close, so the API's own socket is not among the fds counted.
  const res = await fetch(`${api}/stats`, { headers: { connection: "close" } });
  return (await res.json()) as ProxyStats;
}

function lastReport(client: Spawned): ClientReport | undefined {
  const lines = client.stdout().trim().split("\n").filter((l) => l.startsWith('{"t":'));
  const last = lines.at(-1);
  return last === undefined ? undefined : (JSON.parse(last) as ClientReport);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


/** What this machine lacks for the soak ("" when nothing). */
export function soakMissing(): string {
  return [canUseNetns, addonBuilt]
    .map((check) => check())
    .filter((c) => !c.ok)
    .map((c) => c.why)
    .join("; ");
}

/**
 * `smoke`: SMOKE_FLOWS flows for SMOKE_SECONDS with short rounds and pauses (the figures mean little;
 * the verdicts still hold: exact bytes, back to 0, no fd leak).
 */
export async function benchSoak(
  o: BenchOptions = FULL,
  seconds = o.smoke ? SMOKE_SECONDS : SOAK_SECONDS,
  flows = o.smoke ? SMOKE_FLOWS : SOAK_FLOWS,
  /** The proxy's --txqueuelen; default QUEUE_PER_FLOW per flow (at least the proxy's own default). */
  txQueueLength = Math.max(DEFAULT_TX_QUEUE_LENGTH, QUEUE_PER_FLOW * flows),
): Promise<Row[]> {
  const sampleMs = Math.max(1000, Math.min(SAMPLE_MS, Math.floor((seconds * 1000) / 8)));
  const method = o.smoke ? SMOKE_METHOD : `1 run of ${seconds} s, sampled every ${sampleMs / 1000} s`;
  const one = (name: string, unit: string, value: number): Row => ({ group: "soak", name, value, unit, runs: [value], method });
  const missing = soakMissing();
  if (missing !== "") {
    console.log(`soak bench skipped: missing ${missing}`);
    return [];
  }
  const client = Netns.create("l3l4-soak-c-");
  const server = Netns.create("l3l4-soak-s-");
  const teardown = (): void => {
    killChildren();
    deleteVeths();
    client.destroy();
    server.destroy();
  };
  teardownOnSignal();
  try {
    const addresses = testAddresses();
    serverNamespace(server, addresses);
    const limit = (seconds + 600) * 1000;
    const echo = spawnIn(server, ["sh", "-c", WITH_FDS, "sh", NODE, `${FIXTURES}upstream.mjs`, "--echo", String(ECHO_PORT), "--echo-ports", String(ECHO_PORTS)], limit);
    await echo.waitForOutput(/ready/, 10_000);
    const tun = uniqueInterfaceName("l3soak");
    const proxy = spawnIn(
      undefined,
      [
        ...["sh", "-c", WITH_FDS, "sh", NODE, MAIN, "proxy", "--tun", tun, "--faults", INTEGRATION_FAULTS, "--api", "127.0.0.1:0", "--quiet"],
        ...["--txqueuelen", String(txQueueLength)],
      ],
      limit,
    );
    await proxy.waitForOutput(/api on (http:\/\/\S+)\/flows/, 20_000);
    const api = /api on (http:\/\/\S+)\/flows/.exec(proxy.stdout())![1]!;
    const pid = proxy.child.pid!;
    console.log(`soak: proxy api ${api}`);
    moveTunInto(client, tun, addresses);
    if (process.env.SOAK_PCAP !== undefined) {
      spawnIn(client, ["tcpdump", "-i", tun, "-s", "96", "-n", "-w", process.env.SOAK_PCAP], limit);
      console.log(`soak: capturing the TUN's client side into ${process.env.SOAK_PCAP}`);
    }
    await sleep(1000);
    const fdsBefore = fdCount(pid);
    const rssBefore = rssMiB(pid);
    console.log(
      `soak: ${flows} flows for ${seconds} s through l3l4 proxy (pid ${pid}) --faults ${INTEGRATION_FAULTS} --txqueuelen ${txQueueLength}; ` +
        `before: RSS ${rssBefore.toFixed(1)} MiB, ${fdsBefore} fds`,
    );
    const targets = Array.from({ length: ECHO_PORTS }, (_, i) => ({ host: i % 4 === 3 ? addresses.v6(2) : addresses.v4(2), port: ECHO_PORT + i }));
    const clientSpec = {
      targets,
      connections: flows,
      seconds,
      rampPerSecond: 500,
      chunkMax: 8192,
      pauseMs: o.smoke ? [50, 300] : [500, 2500],
      rounds: o.smoke ? [2, 6] : [5, 40],
      reportMs: Math.min(5000, sampleMs),
      // SOAK_ROUND_TIMEOUT_MS (debugging): detect a stall sooner; SOAK_STALL_HOLD_MS keeps it open to be looked at.
      roundTimeoutMs: Number(process.env.SOAK_ROUND_TIMEOUT_MS ?? (o.smoke ? 60_000 : 90_000)),
      stallHoldMs: Number(process.env.SOAK_STALL_HOLD_MS ?? 0),
      drainMs: o.smoke ? 90_000 : 180_000,
    };
    const clients = spawnIn(client, ["sh", "-c", WITH_FDS, "sh", NODE, `${FIXTURES}soak-clients.mjs`, JSON.stringify(clientSpec)], limit);
    const samples: Sample[] = [];
    const started = performance.now();
    console.log("    t   RSS MiB    fds  flowCount  flow table   open clients  completed  failed  MB verified  retransmits  TUN drops");
    const sample = async (): Promise<Sample> => {
      const stats = await proxyStats(api);
      const s: Sample = {
        t: Math.round((performance.now() - started) / 1000),
        rssMiB: rssMiB(pid),
        fds: fdCount(pid),
        flowCount: stats.engine.flows,
        flowTable: stats.flows,
        tunDrops: tunDrops(client, tun),
        client: lastReport(clients),
      };
      const c = s.client;
      console.log(
        `${String(s.t).padStart(5)} ${s.rssMiB.toFixed(1).padStart(9)} ${String(s.fds).padStart(6)} ${String(s.flowCount).padStart(10)} ${String(s.flowTable).padStart(11)} ` +
          `${String(c?.open ?? 0).padStart(14)} ${String(c?.completed ?? 0).padStart(10)} ${String(c?.failed ?? 0).padStart(7)} ` +
          `${((c?.bytesVerified ?? 0) / 1e6).toFixed(0).padStart(12)} ${String(stats.engine.tcpRetransmits).padStart(12)} ${String(s.tunDrops).padStart(10)}`,
      );
      return s;
    };
    let done = false;
    const dumped = new Set<number>();
    void clients.exited.then(() => (done = true));
    while (!done) {
      const waitUntil = performance.now() + sampleMs;
      while (!done && performance.now() < waitUntil) {
        await sleep(250);
        if (process.env.SOAK_STALL_HOLD_MS !== undefined) await dumpStalls(api, clients, dumped);
      }
      if (proxy.child.exitCode !== null) throw new Error(`the proxy exited (${proxy.child.exitCode}): ${proxy.stderr().slice(-2000)}`);
      samples.push(await sample());
    }
    const final = lastReport(clients);
    // The last flows close through the faults: wait for the engine and the flow table to empty.
    let after = samples.at(-1)!;
    for (let i = 0; i < 24 && (after.flowCount > 0 || after.flowTable > 0 || after.fds > fdsBefore); i++) {
      await sleep(o.smoke ? 1000 : 5000);
      after = await sample();
    }
    const end = await proxyStats(api);
    const during = samples.filter((s) => s.t <= seconds);
    const half = Math.floor(during.length / 2);
    const peak = (xs: Sample[]) => Math.max(...xs.map((s) => s.rssMiB));
    const median = (xs: Sample[]) => {
      const sorted = xs.map((s) => s.rssMiB).sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)]!;
    };
    const firstHalf = during.slice(0, Math.max(1, half));
    const secondHalf = during.slice(half);
    const firstPeak = peak(firstHalf);
    const secondPeak = peak(secondHalf);
    const firstMedian = median(firstHalf);
    const secondMedian = median(secondHalf);
    const plateau = secondMedian <= firstMedian * 1.1 + 16;
    const exact = final !== undefined && final.final === true && final.failed === 0;
    console.log(
      `soak verdicts: bytes ${exact ? "exact" : `NOT exact (${final?.failed ?? "?"} failed: ${final?.errors.join("; ") ?? "no final report"})`}; ` +
        `RSS ${plateau ? "plateaued" : "GREW"} (median ${firstMedian.toFixed(1)} MiB in the first half, ${secondMedian.toFixed(1)} MiB in the second; ` +
        `peaks ${firstPeak.toFixed(1)} and ${secondPeak.toFixed(1)} MiB); ` +
        `flowCount ${after.flowCount}, flow table ${after.flowTable}, receive window promised ${end.engine.receiveWindowPromised} B at the end; TUN drops ${after.tunDrops}; fds ${after.fds} (${fdsBefore} before: ${after.fds <= fdsBefore ? "no leak" : `${after.fds - fdsBefore} LEAKED`})`,
    );
    return [
      // Units as compare.ts reads them: "flows" and "fds" lower is better, "conn" higher.
      one(`flows completed (${flows} at once, ${seconds} s)`, "conn", final?.completed ?? 0),
      one("flows failed", "flows", final?.failed ?? NaN),
      one("bytes verified", "MB", (final?.bytesVerified ?? 0) / 1e6),
      one("proxy RSS median, first half", "MiB", firstMedian),
      one("proxy RSS median, second half", "MiB", secondMedian),
      one("proxy RSS peak, first half", "MiB", firstPeak),
      one("proxy RSS peak, second half", "MiB", secondPeak),
      one("flows left at the end (flowCount)", "flows", after.flowCount),
      one("flow table left at the end", "flows", after.flowTable),
      one("fds leaked", "fds", after.fds - fdsBefore),
    ];
  } finally {
    teardown();
  }
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { seconds: { type: "string" }, flows: { type: "string" }, txqueuelen: { type: "string" } } });
  const queue = values.txqueuelen === undefined ? undefined : Number(values.txqueuelen);
  const rows = await benchSoak(FULL, Number(values.seconds ?? SOAK_SECONDS), Number(values.flows ?? SOAK_FLOWS), queue);
  for (const r of rows) console.log(`${r.name}: ${r.value} ${r.unit}`);
}
