/**
 * The paths the TUN benches measure, each set up in fresh namespaces and torn down after:
 *
 *   direct: netns C --TUN--> engine + ProxyApp (direct://) --veth--> netns S
 *   socks5: netns C --TUN--> engine + ProxyApp (socks5://) --veth--> netns P (danted or microsocks) --veth--> netns S
 *
 * and what runs over them: iperf3 (Gbit/s each way) and wrk with `Connection: close` against nginx
 * in S (new connections per second).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseProxyArgs, startProxy, type ProxyServer } from "../../lib/cli/proxy.js";
import { Netns } from "../support/netns.js";
import { deleteVeths, killChildren, runIn, serverNamespace, spawnIn, testAddresses, tunInNamespace } from "../integration/harness.js";
import { deletePLinks, removeNetnsFiles, SOCKS_PORT, startDante, startL3l4Proxy, testUser, tun2socksTopology } from "../integration/proxy-servers.js";
import { iperf, startIperfServer } from "../integration/topology.js";
import { canUseNetns, hasCommand, type Capability } from "../support/privileges.js";
import { addonBuilt } from "../integration/harness.js";
import { FULL, median, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";
import { reuseTimeWaitPorts } from "./translators.js";

export const SECONDS = 3;
export const IPERF_RUNS = 3;
export const OMIT_SECONDS = 1;
export const MTUS = [1500, 65520] as const;
export const SMOKE_BYTES = 8 << 20;

/** How the iperf3 rows are measured (the label under the table). */
export function iperfMethod(seconds: number, o: BenchOptions = FULL): string {
  if (o.smoke) return SMOKE_METHOD;
  return `median of ${IPERF_RUNS} iperf3 runs of ${seconds} s after ${OMIT_SECONDS} s omitted (-O ${OMIT_SECONDS}), receiver's rate`;
}

/** What the TUN benches need; an empty list when the machine has it all. */
export function tunBenchProblems(extra: readonly (() => Capability)[] = []): string[] {
  return [canUseNetns, addonBuilt, hasCommand("iperf3", ["--version"], "iperf3"), ...extra].map((check) => check()).filter((c) => !c.ok).map((c) => c.why);
}

export const NGINX_PORT = 8081;

export interface BenchPath {
  /** "proxy" (direct://), "socks5", "socks5 microsocks", "socks5 offload"... */
  readonly name: string;
  readonly client: Netns;
  readonly server: Netns;
  /** The destination's address in S, as C dials it. */
  readonly host: string;
  readonly proxy: ProxyServer;
  /** A SOCKS5 path's server, as a client in P reaches it (socksCeiling). */
  readonly socks?: { readonly ns: Netns; readonly host: string; readonly port: number; readonly user?: { name: string; password: string } };
  close(): Promise<void>;
}

/** The SOCKS5 servers the tun2socks bench measures: dante-server and microsocks (Debian packages). */
export type SocksServer = "dante" | "microsocks";

/** microsocks in `ns` on `address`:SOCKS_PORT; resolves once it listens. */
async function startMicrosocks(ns: Netns, address: string, user: { name: string; password: string } | undefined): Promise<void> {
  const auth = user === undefined ? [] : ["-u", user.name, "-P", user.password];
  spawnIn(ns, ["microsocks", "-i", address, "-p", String(SOCKS_PORT), ...auth], 600_000);
  for (let i = 0; i < 50; i++) {
    const listening = await runIn(ns, ["ss", "-Hltn", `sport = :${SOCKS_PORT}`], 3000);
    if (listening.stdout.includes(`:${SOCKS_PORT}`)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("microsocks did not listen");
}

/** A Gbit/s row from one run's or several runs' bits per second (the median); `method` says how. */
export function gbitRow(name: string, bitsPerSecond: number | readonly number[], method = "1 iperf3 run, receiver's rate"): Row {
  const runs = (typeof bitsPerSecond === "number" ? [bitsPerSecond] : bitsPerSecond).map((b) => b / 1e9);
  return { group: "tun", name, value: median(runs), unit: "Gbit/s", runs, method };
}

/** C -> TUN -> engine -> node:net -> veth -> S, with `extraArgs` for l3l4 proxy. */
export async function directPath(mtu: number, extraArgs: readonly string[] = []): Promise<BenchPath> {
  const client = Netns.create("l3l4-bench-c-");
  const server = Netns.create("l3l4-bench-s-");
  const addresses = testAddresses();
  serverNamespace(server, addresses, mtu);
  const device = tunInNamespace(client, addresses, mtu);
  reuseTimeWaitPorts(client);
  const parsed = parseProxyArgs(["--quiet", ...extraArgs]);
  const proxy = startProxy(parsed.device, parsed.proxy, { device, log: () => {} });
  return {
    name: "proxy",
    client,
    server,
    host: addresses.v4(2),
    proxy,
    async close() {
      killChildren();
      await proxy.close();
      deleteVeths();
      client.destroy();
      server.destroy();
    },
  };
}

/** How a SOCKS5 path is made (socksPath). */
export interface SocksPathOptions {
  /** dante (the default) or microsocks. */
  readonly server?: SocksServer;
  /** Username/password (the default): dante then checks a SHA-512 crypt hash per connection, which costs it more than the rest of the connection. */
  readonly auth?: boolean;
  /** The TUN offloads, as `l3l4 proxy --offload` (IFF_VNET_HDR: checksums, TSO, GSO super-packets). */
  readonly offload?: boolean;
  /** More arguments for l3l4 proxy. */
  readonly extraArgs?: readonly string[];
}

/** C -> TUN -> engine -> SOCKS5 -> dante (or microsocks) in P -> S. */
export async function socksPath(mtu: number, options: SocksPathOptions = {}): Promise<BenchPath> {
  const { server = "dante", auth = true, offload = false, extraArgs = [] } = options;
  const made: Netns[] = [];
  const topology = await tun2socksTopology(
    () => {
      const ns = Netns.create("l3l4-bench-t-");
      made.push(ns);
      return ns;
    },
    { mtu, offload },
  );
  reuseTimeWaitPorts(topology.client);
  const user = auth ? testUser() : undefined;
  if (server === "dante") await startDante(topology.proxyNs, { address: topology.proxyAddress, external: topology.external, ...(user === undefined ? {} : { user }) });
  else await startMicrosocks(topology.proxyNs, topology.proxyAddress, user);
  const url = `socks5://${user === undefined ? "" : `${user.name}:${user.password}@`}${topology.proxyAddress}:${SOCKS_PORT}`;
  const { proxy } = startL3l4Proxy(topology, ["--proxy", url, ...extraArgs], [], false);
  return {
    name: `${auth ? "socks5" : "socks5 no-auth"}${server === "dante" ? "" : ` ${server}`}${offload ? " offload" : ""}`,
    client: topology.client,
    server: topology.server,
    host: topology.addresses.v4(2),
    proxy,
    socks: { ns: topology.proxyNs, host: topology.proxyAddress, port: SOCKS_PORT, ...(user === undefined ? {} : { user }) },
    async close() {
      killChildren();
      await proxy.close();
      deletePLinks();
      for (const ns of made) ns.destroy();
      removeNetnsFiles();
    },
  };
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

/** iperf3 -s in S (once per path). */
export async function iperfServer(path: BenchPath): Promise<void> {
  await startIperfServer(path.server);
}

/** nginx in S answering every request with a few bytes; resolves once it answers. */
export async function nginxServer(path: BenchPath): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "l3l4-bench-nginx-"));
  writeFileSync(
    join(dir, "nginx.conf"),
    [
      "daemon off;",
      "master_process off;",
      "worker_processes 1;",
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log;`,
      "events { worker_connections 8192; }",
      "http {",
      "  access_log off;",
      `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
      `  server { listen ${path.host}:${NGINX_PORT} backlog=4096; location / { return 200 "ok\\n"; } }`,
      "}",
      "",
    ].join("\n"),
  );
  spawnIn(path.server, ["nginx", "-p", dir, "-c", join(dir, "nginx.conf")], 600_000);
  const close = path.close;
  (path as { close: () => Promise<void> }).close = async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 50; i++) {
    const probe = await runIn(path.server, ["curl", "-s", "--max-time", "1", `http://${path.host}:${NGINX_PORT}/`], 3000);
    if (probe.stdout === "ok\n") return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("nginx in S did not answer");
}

export interface WrkResult {
  requestsPerSecond: number;
  /** Socket errors and non-2xx answers wrk counted. */
  errors: number;
}

/** wrk in C for `seconds`, a new connection per request (Connection: close). */
export async function wrk(path: BenchPath, seconds: number, connections = 64): Promise<WrkResult> {
  const url = `http://${path.host}:${NGINX_PORT}/`;
  const result = await runIn(path.client, ["wrk", "-t", "2", "-c", String(connections), "-d", `${seconds}s`, "-H", "Connection: close", url], (seconds + 30) * 1000);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(result.stdout);
  if (result.code !== 0 || rate === null) throw new Error(`wrk failed (${result.code}): ${result.stdout} ${result.stderr}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(result.stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(result.stdout);
  const errors = (socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0)) + (non2xx === null ? 0 : Number(non2xx[1]));
  return { requestsPerSecond: Number(rate[1]), errors };
}
