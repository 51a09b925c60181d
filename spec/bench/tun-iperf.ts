/**
 * Throughput of the transparent proxy (lib/proxy, direct://) against the Linux stack, next to a
 * plain veth pair measured in the same run: iperf3 -c for SECONDS each way (-R for down), at MTU 1500
 * and 65520. Needs root, /dev/net/tun, the TUN addon and iperf3; without them it prints why and
 * returns no rows. tun2socks.ts adds the SOCKS5 path and new connections per second.
 *
 *   veth:  netns A (iperf3 -c) --veth-- netns B (iperf3 -s)
 *   proxy: netns C (iperf3 -c) --TUN--> engine + proxy (this process) --veth-- netns S (iperf3 -s)
 *
 * Run alone: `npx tsc -b && node dist/spec/bench/tun-iperf.js [seconds]`, or from `npm run bench`.
 * Each figure is the median of IPERF_RUNS runs of `seconds` after 1 s left out (iperf3 -O 1: slow
 * start is not the steady state), the receiver's rate as iperf3 reports it, in Gbit/s; up and down
 * alternate, so a slow moment of the machine does not land on one direction only. Smoke: one run of
 * 8 MiB each way (iperf3 -n; with less, iperf3 may report a rate of 0).
 */
import { Netns, run, uniqueInterfaceName } from "../support/netns.js";
import { canUseNetns, hasCommand, type Capability } from "../support/privileges.js";
import { addonBuilt, killChildren, testAddresses } from "../integration/harness.js";
import { iperf, startIperfServer } from "../integration/topology.js";
import { FULL, isMain, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";
import { directPath, gbitRow, iperfServer, type BenchPath } from "./tun-paths.js";

export const SECONDS = 3;
export const IPERF_RUNS = 3;
export const OMIT_SECONDS = 1;
export const MTUS = [1500, 65520] as const;
const SMOKE_BYTES = 8 << 20;

/** How the iperf3 rows are measured (the label under the table). */
export function iperfMethod(seconds: number, o: BenchOptions = FULL): string {
  if (o.smoke) return SMOKE_METHOD;
  return `median of ${IPERF_RUNS} iperf3 runs of ${seconds} s after ${OMIT_SECONDS} s omitted (-O ${OMIT_SECONDS}), receiver's rate`;
}

export const IPERF_METHOD = iperfMethod(SECONDS);

/** What the TUN benches need; an empty list when the machine has it all. */
export function tunBenchProblems(extra: readonly (() => Capability)[] = []): string[] {
  return [canUseNetns, addonBuilt, hasCommand("iperf3", ["--version"], "iperf3"), ...extra].map((check) => check()).filter((c) => !c.ok).map((c) => c.why);
}

/** What the machine lacks for this bench ("" when nothing). */
export function tunIperfMissing(): string {
  return tunBenchProblems().join("; ");
}

/** iperf3 up and down, IPERF_RUNS times each, alternating: [up runs, down runs] in bits/s. */
async function upAndDown(client: Netns, host: string, seconds: number, o: BenchOptions): Promise<[number[], number[]]> {
  const how = o.smoke ? { bytes: SMOKE_BYTES } : { omitSeconds: OMIT_SECONDS };
  const up: number[] = [];
  const down: number[] = [];
  for (let r = 0; r < (o.smoke ? 1 : IPERF_RUNS); r++) {
    up.push(await iperf(client, host, seconds, false, how));
    down.push(await iperf(client, host, seconds, true, how));
  }
  return [up, down];
}

/** iperf3 up and down over a veth pair between two fresh namespaces. */
async function vethPair(mtu: number, seconds: number, o: BenchOptions): Promise<Row[]> {
  const a = Netns.create("l3l4-bench-a-");
  const b = Netns.create("l3l4-bench-b-");
  try {
    const left = uniqueInterfaceName("l3b");
    const right = uniqueInterfaceName("l3b");
    run("ip", ["link", "add", left, "mtu", String(mtu), "type", "veth", "peer", "name", right, "mtu", String(mtu)]);
    a.adoptLink(left);
    b.adoptLink(right);
    const addresses = testAddresses();
    a.ip(["addr", "add", `${addresses.v4(1)}/24`, "dev", left]);
    b.ip(["addr", "add", `${addresses.v4(2)}/24`, "dev", right]);
    a.ip(["link", "set", "dev", left, "up"]);
    b.ip(["link", "set", "dev", right, "up"]);
    await startIperfServer(b);
    const [up, down] = await upAndDown(a, addresses.v4(2), seconds, o);
    const method = iperfMethod(seconds, o);
    return [gbitRow(`iperf3 veth mtu ${mtu} up`, up, method), gbitRow(`iperf3 veth mtu ${mtu} down (-R)`, down, method)];
  } finally {
    killChildren();
    a.destroy();
    b.destroy();
  }
}

/** iperf3 up and down over `path` (made and closed here); rows named "iperf3 NAME mtu M[ label] up". */
export async function iperfThrough(make: () => Promise<BenchPath>, mtu: number, seconds: number, label = "", o: BenchOptions = FULL): Promise<Row[]> {
  const path = await make();
  try {
    await iperfServer(path);
    const [up, down] = await upAndDown(path.client, path.host, seconds, o);
    const name = `iperf3 ${path.name} mtu ${mtu}${label}`;
    const method = iperfMethod(seconds, o);
    return [gbitRow(`${name} up`, up, method), gbitRow(`${name} down (-R)`, down, method)];
  } finally {
    await path.close();
  }
}

/** Every row, or none (with a message) when the machine cannot run it. */
export async function benchTunIperf(seconds = SECONDS, o: BenchOptions = FULL): Promise<Row[]> {
  const missing = tunIperfMissing();
  if (missing !== "") {
    console.log(`tun-iperf skipped: missing ${missing}`);
    return [];
  }
  const rows: Row[] = [];
  for (const mtu of MTUS) {
    rows.push(...(await vethPair(mtu, seconds, o)));
    rows.push(...(await iperfThrough(() => directPath(mtu), mtu, seconds, "", o)));
  }
  // The engine's default TCP buffer (256 KiB) is four 64 KiB segments: a larger one at the large MTU.
  const big = ["--tcp-buffer", String(4 << 20)];
  rows.push(...(await iperfThrough(() => directPath(65520, big), 65520, seconds, ` ${big.join(" ")}`, o)));
  return rows;
}

if (isMain(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? SECONDS);
  const rows = await benchTunIperf(seconds);
  for (const r of rows) console.log(`${r.name.padEnd(48)} ${r.value.toFixed(2).padStart(6)} ${r.unit}`);
  process.exit(0);
}
