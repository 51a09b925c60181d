/**
 * Throughput of the transparent proxy (examples/proxy_server.ts) against the Linux stack, next to a
 * plain veth pair measured in the same run: iperf3 -c for SECONDS each way (-R for down), at MTU 1500
 * and 65520. Needs root, /dev/net/tun, the TUN addon and iperf3; without them it prints why and
 * returns no rows.
 *
 *   veth:  netns A (iperf3 -c) --veth-- netns B (iperf3 -s)
 *   proxy: netns C (iperf3 -c) --TUN--> engine + proxy (this process) --veth-- netns S (iperf3 -s)
 *
 * Run alone: `npx tsc -p . && node dist/spec/bench/tun-iperf.js [seconds]`, or from `npm run bench`.
 * Each figure is the median of IPERF_RUNS runs of `seconds` after 1 s left out (iperf3 -O 1: slow
 * start is not the steady state), the receiver's rate as iperf3 reports it, in Gbit/s; up and down
 * alternate, so a slow moment of the machine does not land on one direction only. Smoke: one run of
 * 8 MiB each way (iperf3 -n; with less, iperf3 may report a rate of 0).
 */
import { PROXY_SPEC, startProxy, type ProxyServer } from "../../examples/proxy_server.js";
import { isMain, parseExampleArgs } from "../../examples/utils.js";
import { Netns, run, uniqueInterfaceName } from "../support/netns.js";
import { canUseNetns, hasCommand } from "../support/privileges.js";
import { addonBuilt, deleteVeths, killChildren, serverNamespace, testAddresses, tunInNamespace } from "../integration/harness.js";
import { iperf, startIperfServer } from "../integration/topology.js";
import { FULL, median, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";

export const SECONDS = 3;
export const IPERF_RUNS = 3;
export const OMIT_SECONDS = 1;
export const MTUS = [1500, 65520] as const;
const SMOKE_BYTES = 8 << 20;

export const IPERF_METHOD = `median of ${IPERF_RUNS} iperf3 runs of ${SECONDS} s after ${OMIT_SECONDS} s omitted (-O ${OMIT_SECONDS}), receiver's rate`;

function row(name: string, bitsPerSecond: number[], o: BenchOptions): Row {
  const runs = bitsPerSecond.map((b) => b / 1e9);
  return { group: "tun", name, value: median(runs), unit: "Gbit/s", runs, method: o.smoke ? SMOKE_METHOD : IPERF_METHOD };
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
    return [row(`iperf3 veth mtu ${mtu} up`, up, o), row(`iperf3 veth mtu ${mtu} down (-R)`, down, o)];
  } finally {
    killChildren();
    a.destroy();
    b.destroy();
  }
}

/** iperf3 up and down through the proxy: C -> TUN (mtu) -> engine -> node:net -> veth (mtu) -> S. */
async function throughProxy(mtu: number, seconds: number, o: BenchOptions, extraArgs: readonly string[] = []): Promise<Row[]> {
  const client = Netns.create("l3l4-bench-c-");
  const server = Netns.create("l3l4-bench-s-");
  let proxy: ProxyServer | undefined;
  try {
    const addresses = testAddresses();
    serverNamespace(server, addresses, mtu);
    const device = tunInNamespace(client, addresses, mtu);
    proxy = startProxy(parseExampleArgs(["--quiet", ...extraArgs], PROXY_SPEC), { device, log: () => {} });
    await startIperfServer(server);
    const [up, down] = await upAndDown(client, addresses.v4(2), seconds, o);
    const suffix = extraArgs.length > 0 ? ` ${extraArgs.join(" ")}` : "";
    return [row(`iperf3 proxy mtu ${mtu}${suffix} up`, up, o), row(`iperf3 proxy mtu ${mtu}${suffix} down (-R)`, down, o)];
  } finally {
    killChildren();
    await proxy?.close();
    deleteVeths();
    client.destroy();
    server.destroy();
  }
}

/** What the machine lacks for this bench ("" when nothing). */
export function tunIperfMissing(): string {
  const problems = [canUseNetns(), addonBuilt(), hasCommand("iperf3", ["--version"], "iperf3")()].filter((c) => !c.ok);
  return problems.map((p) => p.why).join("; ");
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
    rows.push(...(await throughProxy(mtu, seconds, o)));
  }
  // The engine's default TCP buffer (256 KiB) is four 64 KiB segments: a larger one at the large MTU.
  rows.push(...(await throughProxy(65520, seconds, o, ["--tcp-buffer", String(4 << 20)])));
  return rows;
}

if (isMain(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? SECONDS);
  const rows = await benchTunIperf(seconds);
  for (const r of rows) console.log(`${r.name.padEnd(48)} ${r.value.toFixed(2).padStart(6)} ${r.unit}`);
  process.exit(0);
}
