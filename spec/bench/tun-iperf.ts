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
 * Each figure is one run (the receiver's rate, as iperf3 reports it), in Gbit/s.
 */
import { Netns, run, uniqueInterfaceName } from "../support/netns.js";
import { canUseNetns, hasCommand, type Capability } from "../support/privileges.js";
import { addonBuilt, killChildren, testAddresses } from "../integration/harness.js";
import { iperf, startIperfServer } from "../integration/topology.js";
import { isMain, type Row } from "./harness.js";
import { directPath, gbitRow, iperfServer, type BenchPath } from "./tun-paths.js";

export const SECONDS = 5;
export const MTUS = [1500, 65520] as const;

/** What the TUN benches need; an empty list when the machine has it all. */
export function tunBenchProblems(extra: readonly (() => Capability)[] = []): string[] {
  return [canUseNetns, addonBuilt, hasCommand("iperf3", ["--version"], "iperf3"), ...extra].map((check) => check()).filter((c) => !c.ok).map((c) => c.why);
}

/** iperf3 up and down over a veth pair between two fresh namespaces. */
async function vethPair(mtu: number, seconds: number): Promise<Row[]> {
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
    const up = await iperf(a, addresses.v4(2), seconds, false);
    const down = await iperf(a, addresses.v4(2), seconds, true);
    return [gbitRow(`iperf3 veth mtu ${mtu} up`, up), gbitRow(`iperf3 veth mtu ${mtu} down (-R)`, down)];
  } finally {
    killChildren();
    a.destroy();
    b.destroy();
  }
}

/** iperf3 up and down over `path` (made and closed here); rows named "iperf3 NAME mtu M[ label] up". */
export async function iperfThrough(make: () => Promise<BenchPath>, mtu: number, seconds: number, label = ""): Promise<Row[]> {
  const path = await make();
  try {
    await iperfServer(path);
    const up = await iperf(path.client, path.host, seconds, false);
    const down = await iperf(path.client, path.host, seconds, true);
    const name = `iperf3 ${path.name} mtu ${mtu}${label}`;
    return [gbitRow(`${name} up`, up), gbitRow(`${name} down (-R)`, down)];
  } finally {
    await path.close();
  }
}

/** Every row, or none (with a message) when the machine cannot run it. */
export async function benchTunIperf(seconds = SECONDS): Promise<Row[]> {
  const problems = tunBenchProblems();
  if (problems.length > 0) {
    console.log(`tun-iperf skipped: missing ${problems.join("; ")}`);
    return [];
  }
  const rows: Row[] = [];
  for (const mtu of MTUS) {
    rows.push(...(await vethPair(mtu, seconds)));
    rows.push(...(await iperfThrough(() => directPath(mtu), mtu, seconds)));
  }
  // The engine's default TCP buffer (256 KiB) is four 64 KiB segments: a larger one at the large MTU.
  const big = ["--tcp-buffer", String(4 << 20)];
  rows.push(...(await iperfThrough(() => directPath(65520, big), 65520, seconds, ` ${big.join(" ")}`)));
  return rows;
}

if (isMain(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? SECONDS);
  const rows = await benchTunIperf(seconds);
  for (const r of rows) console.log(`${r.name.padEnd(48)} ${r.value.toFixed(2).padStart(6)} ${r.unit}`);
  process.exit(0);
}
