/**
 * `npm run bench -- tun` (root): our proxy on a TUN device next to pasta, slirp4netns and a plain veth,
 * in the topology of translators.ts, all in one invocation, at MTU 1500 and 65520. For each translator
 * and MTU:
 *
 *   tcp up / down     iperf3 -c, 1 stream, SECONDS s with -O 1 (-R for down): the receiver's Gbit/s
 *   4 streams up      iperf3 -P 4: Gbit/s, and the sender's retransmissions as % of segments sent
 *   udp up / down     iperf3 -u -l 1400 -b 0, 1 stream, SECONDS s without -O (-R for down): the
 *                     receiver's Gbit/s (end.sum_received), the datagrams lost between sender and
 *                     receiver in % (udpRun), the translator's CPU ms per Gbit received, and
 *                     "carried": the Gbit/s that reached the receiver's UDP layer (read or
 *                     dropped by the receiving socket: iperf3's receiver is often the limit)
 *   new conn/s        wrk -t1 -c50 with `Connection: close` against nginx for SECONDS s
 *   churn             CHURN runs of wrk back to back: the last run's rate over the first's, and the
 *                     translator's RSS after the first run and after the last
 *   ping              median round trip of 100 pings 10 ms apart
 *   cpu ms/Gbit down  the translator process's CPU time (all threads, /proc) during the down run,
 *                     per Gbit carried; cpu µs/conn the same during the wrk runs, per connection
 *
 * Each measurement is repeated REPEAT times, the paths taken in turn within a repeat (so that the
 * load other processes put on the machine falls on every translator alike); a figure is the median
 * and the spread min..max. The table gives each figure and its ratio to the best peer (pasta or
 * slirp4netns) measured in this run. Every path has its own namespaces, removed at the end.
 *
 * Options (through spec/bench/run.ts): --translators veth,pasta,slirp4netns,l3l4,l3l4-offload
 * --mtus 1500,65520 --repeat 3 --seconds 5 --churn 8 --measure up,down,up4,conn,ping,udp,udp-down
 * (default: all; --churn 0 leaves the churn runs out). Smoke (--smoke, spec/bench/smoke.spec.ts): MTU
 * 1500 only, one repeat of 2 s, 2 churn runs. L3L4_BENCH_NODE_OPTIONS="--cpu-prof
 * --cpu-prof-dir=DIR" runs our proxies under those node options (a profile per proxy process).
 */
import { runIn } from "../integration/harness.js";
import type { Netns } from "../support/netns.js";
import { canUseNetns } from "../support/privileges.js";
import { addonBuilt } from "../integration/harness.js";
import { FULL, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";
import {
  buildPath,
  cpuMs,
  IPERF_PORT,
  l3l4,
  MAIN_JS,
  NGINX_PORT,
  PASTA,
  proxyTakes,
  rssMiB,
  serverProblems,
  SLIRP4NETNS,
  VETH,
  type BenchPath,
  type Translator,
} from "./translators.js";

export interface TunTableOptions {
  translators?: readonly string[];
  mtus?: readonly number[];
  /** The measurements of each repeat (default: all of MEASUREMENTS). */
  measure?: readonly string[];
  repeat?: number;
  seconds?: number;
  churn?: number;
}

/**
 * Every translator the bench knows, in table order. L3L4_BENCH_BASELINE=DIR/dist/lib/cli/main.js adds
 * "l3l4-base" and "l3l4-base-offload": another build of the proxy (say, main's), measured in the same run.
 */
export function allTranslators(): Translator[] {
  const list = [VETH, PASTA, SLIRP4NETNS];
  const base = process.env["L3L4_BENCH_BASELINE"];
  const builds: [string, string][] = base !== undefined && base !== "" ? [["l3l4-base", base], ["l3l4", MAIN_JS]] : [["l3l4", MAIN_JS]];
  // "l3l4": no offloads (--no-offload where the build has offloads on by default); "-offload": --offload.
  for (const [name, mainJs] of builds) list.push(l3l4(name, proxyTakes("--no-offload", mainJs) ? ["--no-offload"] : [], mainJs));
  for (const [name, mainJs] of builds) if (proxyTakes("--offload", mainJs)) list.push(l3l4(`${name}-offload`, ["--offload"], mainJs));
  return list;
}

// ---------------------------------------------------------------------------------------------
// One measurement

interface IperfReport {
  start: { tcp_mss_default?: number };
  intervals: { sum: { bytes: number } }[];
  end: { sum_received: { bits_per_second: number }; sum_sent: { bytes: number; retransmits?: number } };
}

async function iperfJson(path: BenchPath, seconds: number, extra: readonly string[]): Promise<IperfReport> {
  const argv = ["iperf3", "-c", path.serverAddress, "-p", String(IPERF_PORT), "-t", String(seconds), "-O", "1", "-J", ...extra];
  const result = await runIn(path.client, argv, (seconds + 30) * 1000);
  if (result.code !== 0) {
    throw new Error(`${path.translator.name} mtu ${path.mtu}: iperf3 ${extra.join(" ")} failed: ${result.stdout.slice(-400)} ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as IperfReport;
}

/** iperf3 `extra` through `path`: Gbit/s received, retransmitted % of segments, translator ms per Gbit. */
async function iperfRun(path: BenchPath, seconds: number, extra: readonly string[]) {
  const cpu0 = cpuMs(path.pid);
  const report = await iperfJson(path, seconds, extra);
  const cpu = cpuMs(path.pid) - cpu0;
  // Every interval (the omitted first second too) against the CPU time of the whole run.
  const bytes = report.intervals.reduce((sum, i) => sum + i.sum.bytes, 0);
  const mss = report.start.tcp_mss_default ?? 1448;
  const sent = report.end.sum_sent;
  return {
    gbits: report.end.sum_received.bits_per_second / 1e9,
    retransmitPercent: sent.retransmits === undefined ? Number.NaN : (100 * sent.retransmits) / Math.max(1, sent.bytes / mss),
    cpuMsPerGbit: path.pid === undefined ? Number.NaN : cpu / ((bytes * 8) / 1e9),
  };
}

/** iperf3's UDP report (-u -J, 3.x): the sender's and the receiver's sums (the receiver's from the server). */
interface IperfUdpReport {
  end: { sum_sent: { bytes: number }; sum_received: { bytes: number; bits_per_second: number } };
}

/** The datagram size of the UDP rows (`-l`): 1400 bytes of payload, under MTU 1500 with room to spare. */
export const UDP_DATAGRAM = 1400;

/**
 * iperf3 -u through `path` (`reverse`: -R, S sends): the receiver's Gbit/s, the datagrams lost in %, and
 * the translator's CPU ms per Gbit received.
 *
 * - `-b 0`: iperf3 3.x's "unlimited" for UDP (its default is 1 Mbit/s); the sender writes as fast as its
 *   socket takes datagrams, so the offered load saturates the slowest stage, and what the receiver gets
 *   is that stage's rate. A fixed high rate would add iperf3's pacing timer and, above what the sender
 *   can do, mean the same thing.
 * - No -O: it is there for TCP's slow start, which UDP has none of, and iperf3 3.12 counts the omitted
 *   second's datagrams as lost on the server (a loss of 119% in a probe). Without it the sender's and
 *   the receiver's sums cover the same datagrams.
 * - Loss from bytes: 1 - received bytes / sent bytes (sum_received / sum_sent; both cover the whole run,
 *   and every datagram is UDP_DATAGRAM bytes), which is iperf3's lost_percent without -O.
 */
/**
 * The UDP datagrams that reached `ns`'s UDP layer so far: delivered to a socket (InDatagrams) or
 * dropped there (InErrors: a full receive buffer, RcvbufErrors, is the usual one), from /proc/net/snmp.
 */
function udpArrived(ns: Netns): number {
  const lines = ns.exec(["cat", "/proc/net/snmp"]).split("\n").filter((l) => l.startsWith("Udp:"));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf("InDatagrams")]) + Number(values[names.indexOf("InErrors")]);
}

/** The two UDP measurements: which (--measure), reversed (-R), and the table's figures they fill. */
const UDP_ROWS = [
  ["udp", false, { gbits: "udpUp", loss: "udpUpLoss", cpu: "cpuUdp", carried: "udpUpCarried" }],
  ["udp-down", true, { gbits: "udpDown", loss: "udpDownLoss", cpu: "cpuUdpDown", carried: "udpDownCarried" }],
] as const;

async function udpRun(path: BenchPath, seconds: number, reverse: boolean) {
  const argv = ["iperf3", "-c", path.serverAddress, "-p", String(IPERF_PORT), "-u", "-b", "0", "-l", String(UDP_DATAGRAM), "-t", String(seconds), "-J"];
  if (reverse) argv.push("-R");
  const receiver = reverse ? path.client : path.server;
  const arrived0 = udpArrived(receiver);
  const cpu0 = cpuMs(path.pid);
  const result = await runIn(path.client, argv, (seconds + 30) * 1000);
  const cpu = cpuMs(path.pid) - cpu0;
  const arrived = udpArrived(receiver) - arrived0;
  const report = JSON.parse(result.stdout || "{}") as Partial<IperfUdpReport> & { error?: string };
  const end = report.end;
  if (result.code !== 0 || end?.sum_received === undefined || end.sum_sent === undefined) {
    throw new Error(`${path.translator.name} mtu ${path.mtu}: iperf3 -u${reverse ? " -R" : ""} failed: ${report.error ?? result.stdout.slice(-400)} ${result.stderr}`);
  }
  const received = end.sum_received.bytes;
  return {
    gbits: end.sum_received.bits_per_second / 1e9,
    lossPercent: 100 * (1 - received / Math.max(1, end.sum_sent.bytes)),
    // What the translator carried: every datagram that reached the receiver's UDP layer, whether
    // iperf3 read it or its socket buffer overflowed (on 2 shared cores the receiving iperf3 is
    // often the slowest stage, and its rate is then not the translator's).
    carriedGbits: (arrived * UDP_DATAGRAM * 8) / seconds / 1e9,
    cpuMsPerGbit: path.pid === undefined || received === 0 ? Number.NaN : cpu / ((received * 8) / 1e9),
  };
}

/** wrk with Connection: close through `path`: connections/s and translator µs per connection. */
async function wrkRun(path: BenchPath, seconds: number) {
  const url = `http://${path.serverAddress}:${NGINX_PORT}/`;
  const cpu0 = cpuMs(path.pid);
  const result = await runIn(path.client, ["wrk", "-t1", "-c50", `-d${seconds}s`, "-H", "Connection: close", url], (seconds + 30) * 1000);
  const cpu = cpuMs(path.pid) - cpu0;
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(result.stdout);
  const total = /(\d+) requests in/.exec(result.stdout);
  if (result.code !== 0 || rate === null || total === null) {
    throw new Error(`${path.translator.name} mtu ${path.mtu}: wrk failed (${result.code}): ${result.stdout} ${result.stderr}`);
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(result.stdout);
  const errors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  return {
    connPerSecond: Number(rate[1]),
    cpuUsPerConn: path.pid === undefined ? Number.NaN : (cpu * 1000) / Math.max(1, Number(total[1])),
    errors,
  };
}

/** Median round trip of 100 pings 10 ms apart, in ms. */
async function pingRun(path: BenchPath): Promise<number> {
  const result = await runIn(path.client, ["ping", "-n", "-c", "100", "-i", "0.01", "-W", "1", path.serverAddress], 30_000);
  const times = [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length < 50) throw new Error(`${path.translator.name} mtu ${path.mtu}: ping: ${times.length} of 100 answered`);
  return median(times);
}

/** The measurements of a repeat, in the order they run. */
export const MEASUREMENTS = ["up", "down", "up4", "conn", "ping", "udp", "udp-down"] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

/** One measurement through `path` (for profile-relay.ts). */
export function measure(path: BenchPath, what: Measurement, seconds: number): Promise<unknown> {
  switch (what) {
    case "up":
      return iperfRun(path, seconds, []);
    case "down":
      return iperfRun(path, seconds, ["-R"]);
    case "up4":
      return iperfRun(path, seconds, ["-P", "4"]);
    case "conn":
      return wrkRun(path, seconds);
    case "ping":
      return pingRun(path);
    case "udp":
      return udpRun(path, seconds, false);
    case "udp-down":
      return udpRun(path, seconds, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

/** A figure of the table: its key, heading, unit, and which way is better. */
interface Figure {
  key: string;
  heading: string;
  unit: string;
  higherIsBetter: boolean;
}

const FIGURES: readonly Figure[] = [
  { key: "up", heading: "TCP up", unit: "Gbit/s", higherIsBetter: true },
  { key: "down", heading: "TCP down", unit: "Gbit/s", higherIsBetter: true },
  { key: "up4", heading: "4 up", unit: "Gbit/s", higherIsBetter: true },
  { key: "retx4", heading: "4 up retx", unit: "%", higherIsBetter: false },
  { key: "conn", heading: "new conn/s", unit: "conn/s", higherIsBetter: true },
  { key: "churn", heading: "churn last/first", unit: "ratio", higherIsBetter: true },
  { key: "rss", heading: "RSS first->last", unit: "MiB", higherIsBetter: false },
  { key: "ping", heading: "ping", unit: "ms", higherIsBetter: false },
  { key: "udpUp", heading: "UDP up", unit: "Gbit/s", higherIsBetter: true },
  { key: "udpUpLoss", heading: "UDP up loss", unit: "%", higherIsBetter: false },
  { key: "udpUpCarried", heading: "UDP up carried", unit: "Gbit/s", higherIsBetter: true },
  { key: "udpDown", heading: "UDP down", unit: "Gbit/s", higherIsBetter: true },
  { key: "udpDownLoss", heading: "UDP down loss", unit: "%", higherIsBetter: false },
  { key: "udpDownCarried", heading: "UDP down carried", unit: "Gbit/s", higherIsBetter: true },
  { key: "cpuGbit", heading: "CPU ms/Gbit down", unit: "ms/Gbit", higherIsBetter: false },
  { key: "cpuUdp", heading: "CPU ms/Gbit UDP up", unit: "ms/Gbit", higherIsBetter: false },
  { key: "cpuUdpDown", heading: "CPU ms/Gbit UDP down", unit: "ms/Gbit", higherIsBetter: false },
  { key: "cpuConn", heading: "CPU µs/conn", unit: "µs/conn", higherIsBetter: false },
];

function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Per path: each figure's runs. */
class Results {
  private readonly runs = new Map<string, number[]>();
  /** The churn runs' rates and RSS, for the detail lines. */
  readonly churn = new Map<string, { rates: number[]; rss: number[] }>();

  add(path: BenchPath, figure: string, value: number): void {
    const key = `${path.translator.name}\u0000${path.mtu}\u0000${figure}`;
    let list = this.runs.get(key);
    if (list === undefined) this.runs.set(key, (list = []));
    list.push(value);
  }

  get(name: string, mtu: number, figure: string): number[] {
    return this.runs.get(`${name}\u0000${mtu}\u0000${figure}`) ?? [];
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  return a >= 1000 ? `${(v / 1000).toFixed(1)}k` : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** The value a cell shows (RSS: first -> last; others: the median). */
function cellValue(results: Results, name: string, mtu: number, figure: Figure): { text: string; value: number } {
  if (figure.key === "rss") {
    const rss = results.churn.get(`${name}\u0000${mtu}`)?.rss ?? [];
    if (rss.length === 0 || rss.every((x) => Number.isNaN(x))) return { text: "–", value: Number.NaN };
    const growth = rss[rss.length - 1]! - rss[0]!;
    return { text: `${rss[0]!.toFixed(0)}->${rss[rss.length - 1]!.toFixed(0)}`, value: growth };
  }
  const value = median(results.get(name, mtu, figure.key));
  return { text: fmt(value), value };
}

/** Prints one table per MTU: each figure, and in brackets its ratio to the best peer. */
function printTables(results: Results, translators: readonly Translator[], mtus: readonly number[]): void {
  const peers = translators.filter((t) => t.role === "peer");
  for (const mtu of mtus) {
    console.log(`\ntranslators at MTU ${mtu} (x: ratio to the best peer, ${peers.map((p) => p.name).join(" or ")}; medians)`);
    // Only the figures this run measured (--measure, --churn 0 leave some out).
    const figures = FIGURES.filter((f) => translators.some((t) => Number.isFinite(cellValue(results, t.name, mtu, f).value)));
    const head = ["translator", ...figures.map((f) => `${f.heading} ${f.unit === "ratio" ? "" : `(${f.unit})`}`.trim())];
    const lines: string[][] = [head];
    for (const t of translators) {
      const cells = [t.name];
      for (const f of figures) {
        const { text, value } = cellValue(results, t.name, mtu, f);
        const peerValues = peers.map((p) => cellValue(results, p.name, mtu, f).value).filter((v) => Number.isFinite(v) && v > 0);
        const best = peerValues.length === 0 ? Number.NaN : f.higherIsBetter ? Math.max(...peerValues) : Math.min(...peerValues);
        const ratio = value / best;
        cells.push(f.key === "rss" || !Number.isFinite(ratio) ? text : `${text} ${ratio.toFixed(2)}x`);
      }
      lines.push(cells);
    }
    const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
    for (const l of lines) console.log(l.map((c, i) => c.padEnd(widths[i]!)).join("  "));
    for (const t of translators) {
      const churn = results.churn.get(`${t.name}\u0000${mtu}`);
      if (churn === undefined) continue;
      const rss = churn.rss.every((x) => Number.isNaN(x)) ? "" : `; RSS ${churn.rss.map((x) => x.toFixed(0)).join(" ")} MiB`;
      console.log(`  churn ${t.name}: ${churn.rates.map((r) => fmt(r)).join(" ")} conn/s${rss}`);
    }
  }
}

function toRows(results: Results, translators: readonly Translator[], mtus: readonly number[], method: string): Row[] {
  const rows: Row[] = [];
  for (const mtu of mtus) {
    for (const t of translators) {
      for (const f of FIGURES) {
        if (f.key === "rss") continue;
        const runs = results.get(t.name, mtu, f.key).filter((x) => !Number.isNaN(x));
        if (runs.length === 0) continue;
        rows.push({ group: "tun", name: `${t.name} mtu ${mtu} ${f.heading}`, value: median(runs), unit: f.unit, runs, method });
      }
      const churn = results.churn.get(`${t.name}\u0000${mtu}`);
      if (churn !== undefined && churn.rss.length > 1 && !Number.isNaN(churn.rss[0]!)) {
        const growth = churn.rss[churn.rss.length - 1]! - churn.rss[0]!;
        rows.push({ group: "tun", name: `${t.name} mtu ${mtu} RSS growth under churn`, value: growth, unit: "MiB", runs: [growth], method });
      }
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// The bench

export function tunTableProblems(): string[] {
  return [canUseNetns(), addonBuilt()].filter((c) => !c.ok).map((c) => c.why).concat(serverProblems());
}

/** `run()`, or undefined (logged) when it fails: one failed measurement leaves a gap, not a dead bench. */
async function attempt<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    console.log(`tun bench: ${what}: ${(error as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

/** The options a run uses: the command line's, or under smoke MTU 1500, one repeat of 2 s, 2 churn runs. */
function effectiveOptions(o: BenchOptions): TunTableOptions {
  const given = o.tun ?? {};
  return o.smoke ? { mtus: [1500], repeat: 1, seconds: 2, churn: 2, ...(given.translators === undefined ? {} : { translators: given.translators }), ...(given.measure === undefined ? {} : { measure: given.measure }) } : given;
}

export async function benchTunTable(o: BenchOptions = FULL): Promise<Row[]> {
  const options = effectiveOptions(o);
  const problems = tunTableProblems();
  if (problems.length > 0) {
    console.log(`tun bench skipped: missing ${problems.join("; ")}`);
    return [];
  }
  const seconds = options.seconds ?? 5;
  const repeat = options.repeat ?? 3;
  const churnRuns = options.churn ?? 8;
  const mtus = options.mtus ?? [1500, 65520];
  const unknownMeasure = (options.measure ?? []).filter((m) => !(MEASUREMENTS as readonly string[]).includes(m));
  if (unknownMeasure.length > 0) throw new Error(`--measure: unknown ${unknownMeasure.join(", ")} (known: ${MEASUREMENTS.join(", ")})`);
  const measure = new Set<string>(options.measure ?? MEASUREMENTS);
  let translators = allTranslators();
  if (options.translators !== undefined) {
    const unknown = options.translators.filter((n) => !translators.some((t) => t.name === n));
    if (unknown.length > 0) throw new Error(`--translators: unknown ${unknown.join(", ")} (known: ${translators.map((t) => t.name).join(", ")})`);
    translators = translators.filter((t) => options.translators!.includes(t.name));
  }
  translators = translators.filter((t) => {
    const why = t.problems();
    if (why.length > 0) console.log(`tun bench: no ${t.name} rows: missing ${why.join("; ")}`);
    return why.length === 0;
  });

  const results = new Results();
  const paths: BenchPath[] = [];
  const log = (line: string) => console.log(`tun bench: ${line}`);
  try {
    for (const mtu of mtus) for (const t of translators) paths.push(await buildPath(t, mtu));
    log(`${paths.length} paths up (${translators.map((t) => t.name).join(", ")} at MTU ${mtus.join(", ")}); ${repeat} repeats of ${seconds} s`);
    for (let r = 0; r < repeat; r++) {
      for (const path of paths) {
        const name = `${path.translator.name} mtu ${path.mtu}`;
        const line: string[] = [];
        if (measure.has("up")) {
          const up = await attempt(`${name} up`, () => iperfRun(path, seconds, []));
          results.add(path, "up", up?.gbits ?? Number.NaN);
          line.push(`up ${fmt(up?.gbits ?? NaN)}`);
        }
        if (measure.has("down")) {
          const down = await attempt(`${name} down`, () => iperfRun(path, seconds, ["-R"]));
          results.add(path, "down", down?.gbits ?? Number.NaN);
          results.add(path, "cpuGbit", down?.cpuMsPerGbit ?? Number.NaN);
          line.push(`down ${fmt(down?.gbits ?? NaN)}`);
        }
        if (measure.has("up4")) {
          const up4 = await attempt(`${name} 4 streams`, () => iperfRun(path, seconds, ["-P", "4"]));
          results.add(path, "up4", up4?.gbits ?? Number.NaN);
          results.add(path, "retx4", up4?.retransmitPercent ?? Number.NaN);
          line.push(`4up ${fmt(up4?.gbits ?? NaN)}`);
        }
        if (measure.has("conn")) {
          const wrk = await attempt(`${name} wrk`, () => wrkRun(path, seconds));
          results.add(path, "conn", wrk?.connPerSecond ?? Number.NaN);
          results.add(path, "cpuConn", wrk?.cpuUsPerConn ?? Number.NaN);
          if (wrk !== undefined && wrk.errors > 0) log(`${name}: wrk counted ${wrk.errors} socket errors`);
          line.push(`conn/s ${fmt(wrk?.connPerSecond ?? NaN)}`);
        }
        if (measure.has("ping")) results.add(path, "ping", (await attempt(`${name} ping`, () => pingRun(path))) ?? Number.NaN);
        for (const [which, down, keys] of UDP_ROWS) {
          if (!measure.has(which)) continue;
          const udp = await attempt(`${name} ${which === "udp" ? "udp up" : "udp down"}`, () => udpRun(path, seconds, down));
          results.add(path, keys.gbits, udp?.gbits ?? Number.NaN);
          results.add(path, keys.loss, udp?.lossPercent ?? Number.NaN);
          results.add(path, keys.cpu, udp?.cpuMsPerGbit ?? Number.NaN);
          results.add(path, keys.carried, udp?.carriedGbits ?? Number.NaN);
          line.push(`${down ? "udp down" : "udp up"} ${fmt(udp?.gbits ?? NaN)} (loss ${fmt(udp?.lossPercent ?? NaN)}%, carried ${fmt(udp?.carriedGbits ?? NaN)})`);
        }
        log(`repeat ${r + 1}: ${name}: ${line.join(" ")}`);
      }
    }
    if (churnRuns > 0) {
      for (const path of paths) {
        const name = `${path.translator.name} mtu ${path.mtu}`;
        const churn = { rates: [] as number[], rss: [] as number[] };
        results.churn.set(`${path.translator.name}\u0000${path.mtu}`, churn);
        for (let i = 0; i < churnRuns; i++) {
          const wrk = await attempt(`${name} churn ${i + 1}`, () => wrkRun(path, seconds));
          churn.rates.push(wrk?.connPerSecond ?? Number.NaN);
          churn.rss.push(rssMiB(path.pid));
        }
        results.add(path, "churn", churn.rates[churn.rates.length - 1]! / churn.rates[0]!);
        log(`churn ${name}: ${churn.rates.map(fmt).join(" ")}`);
      }
    }
  } finally {
    for (const path of paths) await path.close();
  }
  printTables(results, translators, mtus);
  const method = o.smoke
    ? SMOKE_METHOD
    : `median of ${repeat} repeats, translators in turn: iperf3 ${seconds} s -O 1 (UDP: -u -b 0 -l ${UDP_DATAGRAM}, no -O), wrk -t1 -c50 Connection: close ${seconds} s, 100 pings; churn: ${churnRuns} wrk runs back to back, RSS from /proc`;
  return toRows(results, translators, mtus, method);
}
