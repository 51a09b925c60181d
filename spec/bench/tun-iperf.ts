/**
 * Throughput of the transparent proxy (lib/proxy, direct://) against the Linux stack, next to a
 * plain veth pair measured in the same run: iperf3 -c for SECONDS each way (-R for down), at MTU 1500
 * and 65520. Needs root, /dev/net/tun, the TUN addon and iperf3; without them it prints why and
 * returns no rows.
 *
 *   veth:  netns A (iperf3 -c) --veth-- netns B (iperf3 -s)
 *   proxy: netns C (iperf3 -c) --TUN--> engine + proxy (this process) --veth-- netns S (iperf3 -s)
 *
 * Run alone: `npx tsc -p . && node dist/spec/bench/tun-iperf.js [seconds]`, or from `npm run bench`.
 * Each figure is one run (the receiver's rate, as iperf3 reports it), in Gbit/s.
 */
import { parseProxyArgs, startProxy, type ProxyServer } from "../../lib/cli/proxy.js";
import { Netns, run, uniqueInterfaceName } from "../support/netns.js";
import { canUseNetns, hasCommand } from "../support/privileges.js";
import { addonBuilt, deleteVeths, killChildren, serverNamespace, testAddresses, tunInNamespace } from "../integration/harness.js";
import { iperf, startIperfServer } from "../integration/topology.js";
import { isMain, type Row } from "./harness.js";

export const SECONDS = 5;
export const MTUS = [1500, 65520] as const;

function row(name: string, bitsPerSecond: number): Row {
  const gbits = bitsPerSecond / 1e9;
  return { group: "tun", name, value: gbits, unit: "Gbit/s", runs: [gbits] };
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
    return [row(`iperf3 veth mtu ${mtu} up`, up), row(`iperf3 veth mtu ${mtu} down (-R)`, down)];
  } finally {
    killChildren();
    a.destroy();
    b.destroy();
  }
}

/** iperf3 up and down through the proxy: C -> TUN (mtu) -> engine -> node:net -> veth (mtu) -> S. */
async function throughProxy(mtu: number, seconds: number, extraArgs: readonly string[] = []): Promise<Row[]> {
  const client = Netns.create("l3l4-bench-c-");
  const server = Netns.create("l3l4-bench-s-");
  let proxy: ProxyServer | undefined;
  try {
    const addresses = testAddresses();
    serverNamespace(server, addresses, mtu);
    const device = tunInNamespace(client, addresses, mtu);
    const parsed = parseProxyArgs(["--quiet", ...extraArgs]);
    proxy = startProxy(parsed.device, parsed.proxy, { device, log: () => {} });
    await startIperfServer(server);
    const up = await iperf(client, addresses.v4(2), seconds, false);
    const down = await iperf(client, addresses.v4(2), seconds, true);
    const suffix = extraArgs.length > 0 ? ` ${extraArgs.join(" ")}` : "";
    return [row(`iperf3 proxy mtu ${mtu}${suffix} up`, up), row(`iperf3 proxy mtu ${mtu}${suffix} down (-R)`, down)];
  } finally {
    killChildren();
    await proxy?.close();
    deleteVeths();
    client.destroy();
    server.destroy();
  }
}

/** Every row, or none (with a message) when the machine cannot run it. */
export async function benchTunIperf(seconds = SECONDS): Promise<Row[]> {
  const problems = [canUseNetns(), addonBuilt(), hasCommand("iperf3", ["--version"], "iperf3")()].filter((c) => !c.ok);
  if (problems.length > 0) {
    console.log(`tun-iperf skipped: missing ${problems.map((p) => p.why).join("; ")}`);
    return [];
  }
  const rows: Row[] = [];
  for (const mtu of MTUS) {
    rows.push(...(await vethPair(mtu, seconds)));
    rows.push(...(await throughProxy(mtu, seconds)));
  }
  // The engine's default TCP buffer (256 KiB) is four 64 KiB segments: a larger one at the large MTU.
  rows.push(...(await throughProxy(65520, seconds, ["--tcp-buffer", String(4 << 20)])));
  return rows;
}

if (isMain(import.meta.url)) {
  const seconds = Number(process.argv[2] ?? SECONDS);
  const rows = await benchTunIperf(seconds);
  for (const r of rows) console.log(`${r.name.padEnd(48)} ${r.value.toFixed(2).padStart(6)} ${r.unit}`);
  process.exit(0);
}
