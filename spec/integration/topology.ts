/**
 * The proxy's three-namespace topology, shared by the proxy and fault specs and the iperf bench:
 *
 *   C (client): curl, iperf3 -c, node clients; routes the test prefix into the proxy's TUN device
 *   root (this process): the engine and the proxy, whose sockets connect to each flow's original
 *        destination v4(2)/v6(2) of that prefix, over a veth pair made for the test
 *   S (server): the upstream servers (fixtures/upstream.mjs, iperf3 -s) at v4(2)/v6(2)
 *
 * Nothing here registers vitest hooks: the caller cleans up (killChildren, deleteVeths, close the
 * proxy, destroy the namespaces).
 */
import { parseProxyArgs, startProxy, type ProxyServer } from "../../lib/cli/proxy.js";
import type { Netns } from "../support/netns.js";
import {
  FIXTURES,
  NODE,
  runIn,
  serverNamespace,
  spawnIn,
  testAddresses,
  tunInNamespace,
  waitForNoFlows,
  type Addresses,
} from "./harness.js";

export const HTTP_PORT = 8080;
export const UDP_PORT = 5353;
export const HASH_PORT = 7000;
export const IPERF_PORT = 5201;

export interface ProxyTopology {
  client: Netns;
  server: Netns;
  addresses: Addresses;
  proxy: ProxyServer;
  /** The veth pair: `root` in the root namespace, `inside` in S. */
  veth: { root: string; inside: string };
  /** Resolves when the engine has no flow left (after each flow-gone event). */
  noFlows(timeoutMs: number): Promise<void>;
}

/**
 * C with the proxy's TUN device, S with the upstream servers (serving `file` over HTTP), the veth
 * pair, and the proxy started with `args` (e.g. ["--upstream", "[v6]:port"]).
 */
export async function proxyTopology(
  netns: () => Netns,
  proxies: ProxyServer[],
  options: { args?: (addresses: Addresses) => string[]; file?: string; mtu?: number; faultSeed?: number; offload?: boolean } = {},
): Promise<ProxyTopology> {
  const client = netns();
  const server = netns();
  const addresses = testAddresses();
  const mtu = options.mtu ?? 1500;
  const veth = serverNamespace(server, addresses, mtu);
  const device = tunInNamespace(client, addresses, mtu, { offload: options.offload === true });
  const parsed = parseProxyArgs(["--quiet", "--udp-idle-timeout", "1", ...(options.args?.(addresses) ?? [])]);
  const proxy = startProxy(parsed.device, parsed.proxy, {
    device,
    log: () => {},
    ...(options.faultSeed === undefined ? {} : { faultSeed: options.faultSeed }),
  });
  proxies.push(proxy);
  await startUpstreams(server, options.file);
  const noFlows = (timeoutMs: number) =>
    waitForNoFlows(proxy.engine, proxy.app, () => proxy.app.relays.keys(), timeoutMs);
  return { client, server, addresses, proxy, veth, noFlows };
}

/** fixtures/upstream.mjs in `server`: HTTP (serving `file`), UDP echo and the hash server; resolves once they listen. */
export async function startUpstreams(server: Netns, file: string | undefined): Promise<void> {
  const upstream = spawnIn(
    server,
    [
      NODE,
      `${FIXTURES}upstream.mjs`,
      "--http",
      String(HTTP_PORT),
      "--udp",
      String(UDP_PORT),
      "--hash",
      String(HASH_PORT),
      ...(file === undefined ? [] : ["--file", file]),
    ],
    600_000,
  );
  await upstream.waitForOutput(/ready/, 10_000);
}

/** iperf3 -s in S (waits until it listens). */
export async function startIperfServer(server: Netns): Promise<void> {
  const iperf = spawnIn(server, ["iperf3", "-s", "-p", String(IPERF_PORT), "--forceflush"], 300_000);
  await iperf.waitForOutput(/Server listening/, 10_000);
}

/** How iperf() runs beyond its duration. */
export interface IperfHow {
  /** iperf3 -O: leave the first seconds (slow start, TCP's ramp-up) out of the figure. */
  omitSeconds?: number;
  /** iperf3 -n: send this many bytes instead of running for `seconds` (a smoke run). */
  bytes?: number;
}

/** iperf3 -c for `seconds` (reverse: server sends); its receiver's bits per second. */
export async function iperf(client: Netns, host: string, seconds: number, reverse: boolean, how: IperfHow = {}): Promise<number> {
  const length = how.bytes !== undefined ? ["-n", String(how.bytes)] : ["-t", String(seconds)];
  const omit = how.omitSeconds !== undefined && how.bytes === undefined ? ["-O", String(how.omitSeconds)] : [];
  const argv = ["iperf3", "-c", host, "-p", String(IPERF_PORT), ...length, ...omit, "-J", ...(reverse ? ["-R"] : [])];
  const result = await runIn(client, argv, (seconds + (how.omitSeconds ?? 0) + 20) * 1000);
  if (result.code !== 0) throw new Error(`iperf3 failed (${result.code}${result.timedOut ? ", timed out" : ""}): ${result.stdout.slice(-500)} ${result.stderr}`);
  const report = JSON.parse(result.stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number; bytes: number } } };
  // iperf3 -J can exit 0 with an error report (no end.sum_received): say what it said.
  const received = report.end?.sum_received;
  if (received === undefined) throw new Error(`iperf3 -c ${host}${reverse ? " -R" : ""} reported no result: ${report.error ?? result.stdout.slice(-500)}`);
  return received.bits_per_second;
}
