/**
 * Real proxy servers for the tun2socks specs and bench, from Debian, configured in a temporary
 * directory and started inside the test's proxy-server namespace P:
 *
 * - dante (`danted`): SOCKS5 with no authentication or username/password (RFC 1929). Dante checks a
 *   user name and password against the system password file; the user exists only for the test: an
 *   /etc/netns/P/passwd and /etc/netns/P/shadow (copies plus one line each), which `ip netns exec`
 *   bind-mounts over /etc/passwd and /etc/shadow for the processes it starts in P. Nothing of the
 *   host's own user database changes.
 * - tinyproxy: HTTP CONNECT with Basic authentication.
 *
 * The four-namespace topology (tun2socksTopology):
 *
 *   C (client) --TUN--> engine + ProxyApp (this process) --veth "P link"--> P (danted, tinyproxy)
 *                                                                              |
 *                                                              veth "S link" (the routed prefix)
 *                                                                              |
 *                                                               S (upstream.mjs, iperf3 -s)
 *
 * The root namespace (where the proxy's sockets live) has a route to P only; S is reachable from P
 * alone. A flow from C to S gets there only through the proxy server in P: a direct connection from
 * this process would fail with "network unreachable".
 *
 * Per-namespace files (/etc/netns/NAME/...) are removed by removeNetnsFiles (useProxyServerCleanup).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, onTestFailed } from "vitest";
import { parseProxyArgs, startProxy, type ProxyServer } from "../../lib/cli/proxy.js";
import { randomSubnet, run, uniqueInterfaceName, uniqueName, type Netns } from "../support/netns.js";
import { COMMAND_TIMEOUT_MS, type Capability } from "../support/privileges.js";
import { spawnIn, testAddresses, tunInNamespace, waitForNoFlows, type Addresses, type Spawned } from "./harness.js";
import { startUpstreams } from "./topology.js";

export const SOCKS_PORT = 1080;
export const HTTP_PROXY_PORT = 8888;

// ---------------------------------------------------------------------------------------------
// Files under /etc/netns and temporary directories, removed after each test

const netnsDirs = new Set<string>();
const tempDirs = new Set<string>();

/** /etc/netns/NAME/FILE with `text` (ip netns exec bind-mounts it over /etc/FILE in NAME). */
export function netnsFile(ns: Netns, file: string, text: string): void {
  const dir = join("/etc/netns", ns.name);
  mkdirSync(dir, { recursive: true });
  netnsDirs.add(dir);
  writeFileSync(join(dir, file), text, { mode: file === "shadow" ? 0o640 : 0o644 });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "l3l4-proxy-servers-"));
  tempDirs.add(dir);
  return dir;
}

export function removeNetnsFiles(): void {
  for (const dir of [...netnsDirs, ...tempDirs]) rmSync(dir, { recursive: true, force: true });
  netnsDirs.clear();
  tempDirs.clear();
}

/** afterEach: remove /etc/netns/NAME directories and configuration directories. */
export function useProxyServerCleanup(): void {
  afterEach(removeNetnsFiles);
}

// ---------------------------------------------------------------------------------------------
// The servers

export interface User {
  readonly name: string;
  readonly password: string;
}

/** A user name no other run uses, and a password. */
export function testUser(): User {
  return { name: uniqueName("l3u", 16), password: uniqueName("pw", 18) };
}

/** Lets dante in `ns` know `user` (and only there): passwd and shadow copies with one more line each. */
function addUser(ns: Netns, user: User): void {
  // MD5-crypt ($1$): glibc's crypt checks it in a fraction of SHA-512-crypt's 5000 rounds, so dante's
  // per-connection password check does not dominate the specs that open many connections.
  const hash = execFileSync("openssl", ["passwd", "-1", user.password], { encoding: "utf8", timeout: COMMAND_TIMEOUT_MS }).trim();
  const passwd = readFileSync("/etc/passwd", "utf8").trimEnd();
  const shadow = readFileSync("/etc/shadow", "utf8").trimEnd();
  netnsFile(ns, "passwd", `${passwd}\n${user.name}:x:64999:65534::/nonexistent:/usr/sbin/nologin\n`);
  netnsFile(ns, "shadow", `${shadow}\n${user.name}:${hash}:19000:0:99999:7:::\n`);
}

export interface DanteOptions {
  /** The address it listens on (port SOCKS_PORT). */
  readonly address: string;
  /** The interface towards the destinations (S). */
  readonly external: string;
  /** Username/password required (RFC 1929); none: no authentication. */
  readonly user?: User;
}

/** danted in `ns`; resolves once it runs. Killed by the harness's afterEach (killChildren). */
export async function startDante(ns: Netns, options: DanteOptions): Promise<Spawned> {
  if (options.user !== undefined) addUser(ns, options.user);
  const dir = tempDir();
  const config = join(dir, "danted.conf");
  writeFileSync(
    config,
    [
      "logoutput: stdout",
      `internal: ${options.address} port = ${SOCKS_PORT}`,
      `external: ${options.external}`,
      `socksmethod: ${options.user === undefined ? "none" : "username"}`,
      "clientmethod: none",
      "user.privileged: root",
      "user.unprivileged: nobody",
      "timeout.negotiate: 60",
      "client pass { from: 0/0 to: 0/0 }",
      "socks pass { from: 0/0 to: 0/0 command: connect udpassociate udpreply }",
      "",
    ].join("\n"),
  );
  const dante = spawnIn(ns, ["danted", "-f", config, "-N", "2", "-d", "0"], 600_000);
  await dante.waitForOutput(/Dante\/server\[\d+\/\d+\] v[\d.]+ running/, 10_000);
  return dante;
}

export interface TinyproxyOptions {
  readonly address: string;
  /** Basic authentication required; none: no authentication. */
  readonly user?: User;
}

/** tinyproxy in `ns`; resolves once it listens. */
export async function startTinyproxy(ns: Netns, options: TinyproxyOptions): Promise<Spawned> {
  const dir = tempDir();
  const config = join(dir, "tinyproxy.conf");
  writeFileSync(
    config,
    [
      "User nobody",
      "Group nogroup",
      `Port ${HTTP_PROXY_PORT}`,
      `Listen ${options.address}`,
      "Timeout 600",
      "MaxClients 2048",
      "LogLevel Info",
      "DisableViaHeader Yes",
      // No ConnectPort line: CONNECT to any port.
      ...(options.user === undefined ? [] : [`BasicAuth ${options.user.name} ${options.user.password}`]),
      "",
    ].join("\n"),
  );
  const tinyproxy = spawnIn(ns, ["sh", "-c", `exec tinyproxy -d -c ${config} 2>&1`], 600_000);
  await tinyproxy.waitForOutput(/listening on|Listening on/, 10_000);
  return tinyproxy;
}

/** The Debian packages these need. */
export function hasProxyServers(): Capability {
  const missing: string[] = [];
  for (const [command, pkg] of [
    ["danted", "dante-server"],
    ["tinyproxy", "tinyproxy"],
    ["openssl", "openssl"],
  ] as const) {
    try {
      execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore", timeout: COMMAND_TIMEOUT_MS });
    } catch {
      missing.push(`${command} (apt-get install ${pkg})`);
    }
  }
  return { ok: missing.length === 0, why: missing.join(", ") };
}

// ---------------------------------------------------------------------------------------------
// The topology

export interface Tun2socksTopology {
  client: Netns;
  /** Where the proxy servers run. */
  proxyNs: Netns;
  server: Netns;
  /** The routed prefix: C routes it into the TUN device; S has v4(2)/v6(2), P v4(1)/v6(1). */
  addresses: Addresses;
  /** P's address on the root link: where the proxy servers listen. */
  proxyAddress: string;
  /** P's interface towards S (dante's external). */
  external: string;
  device: ReturnType<typeof tunInNamespace>;
}

const pLinks = new Set<string>();

/** Deletes the root ends of the P links (when their namespace did not take them). */
export function deletePLinks(): void {
  for (const name of pLinks) {
    try {
      run("ip", ["link", "del", "dev", name]);
    } catch {
      // gone with P
    }
  }
  pLinks.clear();
}

/** C with the TUN device (with the offloads: `offload`), P and S with their links, and S's servers (serving `file` over HTTP). */
export async function tun2socksTopology(netns: () => Netns, options: { file?: string; mtu?: number; offload?: boolean } = {}): Promise<Tun2socksTopology> {
  const client = netns();
  const proxyNs = netns();
  const server = netns();
  const mtu = options.mtu ?? 1500;
  const addresses = testAddresses();
  let pSubnet = randomSubnet();
  while (`${pSubnet.prefix}.0/24` === addresses.routedV4 || addresses.tunV4.startsWith(`${pSubnet.prefix}.`)) pSubnet = randomSubnet();
  // root <-> P
  const rootEnd = uniqueInterfaceName("l3r");
  const pEnd = uniqueInterfaceName("l3p");
  run("ip", ["link", "add", rootEnd, "mtu", String(mtu), "type", "veth", "peer", "name", pEnd, "mtu", String(mtu)]);
  pLinks.add(rootEnd);
  proxyNs.adoptLink(pEnd);
  run("ip", ["addr", "add", `${pSubnet.local}/24`, "dev", rootEnd]);
  run("ip", ["link", "set", "dev", rootEnd, "up"]);
  proxyNs.ip(["addr", "add", `${pSubnet.peer}/24`, "dev", pEnd]);
  proxyNs.ip(["link", "set", "dev", pEnd, "up"]);
  // P <-> S: the routed prefix
  const external = uniqueInterfaceName("l3e");
  const sEnd = uniqueInterfaceName("l3s");
  proxyNs.ip(["link", "add", external, "mtu", String(mtu), "type", "veth", "peer", "name", sEnd, "mtu", String(mtu)]);
  proxyNs.ip(["link", "set", "dev", sEnd, "netns", server.name]);
  proxyNs.ip(["addr", "add", `${addresses.v4(1)}/24`, "dev", external]);
  proxyNs.ip(["-6", "addr", "add", `${addresses.v6(1)}/64`, "dev", external, "nodad"]);
  proxyNs.ip(["link", "set", "dev", external, "up"]);
  server.ip(["addr", "add", `${addresses.v4(2)}/24`, "dev", sEnd]);
  server.ip(["-6", "addr", "add", `${addresses.v6(2)}/64`, "dev", sEnd, "nodad"]);
  server.ip(["link", "set", "dev", sEnd, "up"]);
  const device = tunInNamespace(client, addresses, mtu, { offload: options.offload === true });
  await startUpstreams(server, options.file);
  return { client, proxyNs, server, addresses, proxyAddress: pSubnet.peer, external, device };
}

export interface RunningTun2socks {
  proxy: ProxyServer;
  /** Lines the proxy logged (failures, udp policy). */
  log: string[];
  /** Resolves when the engine has no flow left (after each flow-gone event). */
  noFlows(timeoutMs: number): Promise<void>;
}

/**
 * `l3l4 proxy` on the topology's device with `args` (e.g. ["--proxy", "socks5://..."]); pushed onto
 * `proxies`. Inside a test, a failure prints what the proxy logged.
 */
export function startL3l4Proxy(topology: Tun2socksTopology, args: readonly string[], proxies: ProxyServer[], inTest = true): RunningTun2socks {
  const parsed = parseProxyArgs(["--quiet", "--udp-idle-timeout", "1", ...args]);
  const log: string[] = [];
  const proxy = startProxy(parsed.device, parsed.proxy, { device: topology.device, log: (line) => log.push(line) });
  proxies.push(proxy);
  if (inTest) onTestFailed(() => console.error(`l3l4 proxy ${args.join(" ")} logged:\n  ${log.join("\n  ")}`));
  const noFlows = (timeoutMs: number) => waitForNoFlows(proxy.engine, proxy.app, () => proxy.app.relays.keys(), timeoutMs);
  return { proxy, log, noFlows };
}
