/**
 * What the integration specs share: the topology (the engine's TUN device in a client namespace
 * "C" that routes a whole test prefix into it; upstream servers in a namespace "S" joined to the
 * root namespace by a veth pair), child processes that are always killed, random payload files,
 * and waits on the engine's events.
 *
 * Addresses: every test picks random 10.a.b.0/24 subnets and fdxx ULA /64s (randomSubnet), used only
 * on devices inside namespaces the test made, and on the root end of its own veth pair.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach } from "vitest";
import { startEchoServer, type EchoServer } from "../../lib/cli/echo.js";
import { DEVICE_OPTIONS, deviceOptions, parseCommandLine } from "../../lib/cli/options.js";
import type { Flow } from "../../lib/api.js";
import type { L3L4 } from "../../lib/engine.js";
import { openTun, tunAddonAvailable, type OpenTunOptions, type TunDevice } from "../../lib/tun/tun.js";
import { destroyAllNetns, randomSubnet, run, uniqueInterfaceName, type CommandResult, type Netns } from "../support/netns.js";
import type { Capability } from "../support/privileges.js";

export const NODE = process.execPath;
/** spec/integration/fixtures/ (also when this runs compiled, from dist/spec/integration: the benches). */
export const FIXTURES = ((): string => {
  const here = fileURLToPath(new URL("./fixtures/", import.meta.url));
  return existsSync(here) ? here : fileURLToPath(new URL("../../../spec/integration/fixtures/", import.meta.url));
})();

export function addonBuilt(): Capability {
  return tunAddonAvailable()
    ? { ok: true, why: "" }
    : { ok: false, why: "the TUN addon (build it: npx node-gyp rebuild -C lib/tun)" };
}

// ---------------------------------------------------------------------------------------------
// Child processes: each in its own process group (so a shell pipeline dies whole), with a timeout,
// and killed by afterEach whatever happened.

export interface Spawned {
  readonly child: ChildProcess;
  readonly exited: Promise<CommandResult>;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout matches `pattern`; rejects when the process exits first or after timeoutMs. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void>;
}

const children = new Set<ChildProcess>();
const OUTPUT_LIMIT = 1 << 20;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Kills every child process (group) still running; afterEach does this. */
export function killChildren(): void {
  for (const child of children) killGroup(child);
  children.clear();
}

/** `argv` in namespace `ns` (undefined: here), killed after timeoutMs. */
export function spawnIn(ns: Netns | undefined, argv: readonly string[], timeoutMs: number): Spawned {
  const full = ns === undefined ? [...argv] : ["ip", "netns", "exec", ns.name, ...argv];
  const child = spawn(full[0]!, full.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: true });
  children.add(child);
  let stdout = "";
  let stderr = "";
  let timedOut = false;
  const watchers = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    if (stdout.length < OUTPUT_LIMIT) stdout += chunk;
    for (const watcher of watchers) watcher();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    if (stderr.length < OUTPUT_LIMIT) stderr += chunk;
  });
  const killer = setTimeout(() => {
    timedOut = true;
    killGroup(child);
  }, timeoutMs);
  const exited = new Promise<CommandResult>((resolve, reject) => {
    child.on("error", (error) => {
      clearTimeout(killer);
      children.delete(child);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      children.delete(child);
      for (const watcher of watchers) watcher();
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  exited.catch(() => {}); // observed by whoever awaits it
  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForOutput(pattern, waitMs) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(stdout)) finish();
          else if (child.exitCode !== null || child.signalCode !== null) {
            finish(new Error(`${full.join(" ")} exited (${child.exitCode ?? child.signalCode}) before ${pattern}: ${stderr.trim()}`));
          }
        };
        const timer = setTimeout(() => finish(new Error(`no ${pattern} from ${full.join(" ")} in ${waitMs} ms: ${stderr.trim()}`)), waitMs);
        const finish = (error?: Error): void => {
          clearTimeout(timer);
          watchers.delete(check);
          if (error === undefined) resolve();
          else reject(error);
        };
        watchers.add(check);
        check();
      });
    },
  };
}

/** Runs to completion (killed after timeoutMs). */
export function runIn(ns: Netns | undefined, argv: readonly string[], timeoutMs: number): Promise<CommandResult> {
  return spawnIn(ns, argv, timeoutMs).exited;
}

/** A shell command line in the namespace (for pipelines such as `curl ... | sha256sum`). */
export function shellIn(ns: Netns, script: string, timeoutMs: number): Promise<CommandResult> {
  return runIn(ns, ["sh", "-c", script], timeoutMs);
}

/** Runs a fixture script (spec/integration/fixtures/NAME.mjs) with one JSON argument; parses its JSON line. */
export async function fixture<R>(ns: Netns, name: string, spec: unknown, timeoutMs: number): Promise<R> {
  const result = await runIn(ns, [NODE, join(FIXTURES, `${name}.mjs`), JSON.stringify(spec)], timeoutMs);
  const line = result.stdout.trim().split("\n").pop() ?? "";
  if (result.code !== 0 || line === "") {
    throw new Error(
      `${name}.mjs failed (code ${result.code}, signal ${result.signal}${result.timedOut ? ", timed out" : ""}): ${result.stderr.trim()}`,
    );
  }
  return JSON.parse(line) as R;
}

// ---------------------------------------------------------------------------------------------
// Addresses and topology

export interface Addresses {
  /** The kernel's own address on the TUN device in C (IPv4 /24, IPv6 /64). */
  readonly tunV4: string;
  readonly tunV6: string;
  /** The prefix C routes into the TUN: v4(n) = "10.c.d.n", v6(n) = "fdxx:...:1::n". */
  v4(host: number): string;
  v6(host: number): string;
  readonly routedV4: string;
  readonly routedV6: string;
}

/** The /24s ("10.a.b") and IPv6 /64 prefixes the root namespace already routes: never picked. */
function prefixesInUse(): string {
  try {
    return run("ip", ["-4", "route", "show", "table", "all"]) + run("ip", ["-6", "route", "show", "table", "all"]);
  } catch {
    return "";
  }
}

/**
 * Two random IPv4 /24s (one on the device, one routed through it) and two IPv6 /64s in a random ULA
 * /48 (never fd00::/16, never a prefix the root namespace routes already).
 */
export function testAddresses(): Addresses {
  const inUse = prefixesInUse();
  const free = (prefix: string) => !inUse.includes(prefix);
  let onDevice = randomSubnet();
  let routed = randomSubnet();
  for (let tries = 0; tries < 100 && !(free(`${onDevice.prefix}.`) && free(`${routed.prefix}.`) && routed.prefix !== onDevice.prefix); tries++) {
    onDevice = randomSubnet();
    routed = randomSubnet();
  }
  const hex = (min: number, max: number) => randomInt(min, max).toString(16);
  let ula = `fd${hex(1, 256).padStart(2, "0")}:${hex(1, 0x10000)}:${hex(1, 0x10000)}`;
  for (let tries = 0; tries < 100 && !free(`${ula}:`); tries++) ula = `fd${hex(1, 256).padStart(2, "0")}:${hex(1, 0x10000)}:${hex(1, 0x10000)}`;
  return {
    tunV4: `${onDevice.prefix}.1`,
    tunV6: `${ula}:0::1`,
    routedV4: `${routed.prefix}.0/24`,
    routedV6: `${ula}:1::/64`,
    v4: (host) => `${routed.prefix}.${host}`,
    v6: (host) => `${ula}:1::${host.toString(16)}`,
  };
}

/**
 * A new TUN device moved into `ns` with the test's addresses, up, and the routed prefixes going
 * into it: the kernel in `ns` sends everything for those prefixes to the engine.
 */
export function tunInNamespace(ns: Netns, addresses: Addresses, mtu = 1500, open: Pick<OpenTunOptions, "offload" | "txQueueLength"> = {}): TunDevice {
  const name = uniqueInterfaceName();
  const device = openTun({ name, mtu, ...open });
  try {
    moveTunInto(ns, name, addresses, mtu);
  } catch (error) {
    device.close();
    throw error;
  }
  return device;
}

/**
 * The TUN device `name` (open in some process of this namespace: the fd keeps working after the
 * move) moved into `ns` with the test's addresses, up, the routed prefixes going into it.
 */
export function moveTunInto(ns: Netns, name: string, addresses: Addresses, mtu = 1500): void {
  ns.adoptLink(name);
  ns.ip(["link", "set", "dev", name, "mtu", String(mtu)]);
  ns.ip(["addr", "add", `${addresses.tunV4}/24`, "dev", name]);
  ns.ip(["-6", "addr", "add", `${addresses.tunV6}/64`, "dev", name, "nodad"]);
  ns.ip(["link", "set", "dev", name, "up"]);
  ns.ip(["route", "add", addresses.routedV4, "dev", name]);
  ns.ip(["-6", "route", "add", addresses.routedV6, "dev", name]);
}

/** The userspace faults of the integration tests (`--faults`, lib/debug/fault-device.ts), both ways. */
export const INTEGRATION_FAULTS = "loss=0.02,reorder=0.05,duplicate=0.01,delay=5";

const veths = new Set<string>();

/**
 * The server namespace: a veth pair from the root namespace into `ns`, the root end holding
 * v4(1)/v6(1) and the namespace end v4(2)/v6(2) of the routed prefix. So a connection the proxy
 * (in the root namespace) makes to a flow's original destination v4(2)/v6(2) reaches `ns`.
 * Returns the device names. Deleting `ns` deletes the pair; afterEach also deletes the root end.
 */
export function serverNamespace(ns: Netns, addresses: Addresses, mtu = 1500): { root: string; inside: string } {
  const root = uniqueInterfaceName("l3v");
  const inside = uniqueInterfaceName("l3s");
  run("ip", ["link", "add", root, "mtu", String(mtu), "type", "veth", "peer", "name", inside, "mtu", String(mtu)]);
  veths.add(root);
  ns.adoptLink(inside);
  run("ip", ["addr", "add", `${addresses.v4(1)}/24`, "dev", root]);
  run("ip", ["-6", "addr", "add", `${addresses.v6(1)}/64`, "dev", root, "nodad"]);
  run("ip", ["link", "set", "dev", root, "up"]);
  ns.ip(["addr", "add", `${addresses.v4(2)}/24`, "dev", inside]);
  ns.ip(["-6", "addr", "add", `${addresses.v6(2)}/64`, "dev", inside, "nodad"]);
  ns.ip(["link", "set", "dev", inside, "up"]);
  return { root, inside };
}

/** Deletes the root ends of veth pairs made by serverNamespace (if their namespace did not take them). */
export function deleteVeths(): void {
  for (const name of veths) {
    try {
      run("ip", ["link", "del", "dev", name]);
    } catch {
      // gone with its peer's namespace
    }
  }
  veths.clear();
}

let signalTeardown: ((signal: NodeJS.Signals) => void) | undefined;

/**
 * For a bench run outside vitest (no afterEach): on SIGINT or SIGTERM, kill every child (nginx,
 * iperf3, pasta, slirp4netns, the proxy), delete the veths and every namespace this process made, and
 * exit 130. Without it an interrupted `run.js tun` left its l3l4-bt-* namespaces and servers behind.
 * Installed once; `process.on("exit")` already deletes the namespaces on a normal exit.
 */
export function teardownOnSignal(): void {
  if (signalTeardown !== undefined) return;
  signalTeardown = (signal) => {
    console.error(`${signal}: tearing down the bench's processes and namespaces`);
    killChildren();
    deleteVeths();
    destroyAllNetns();
    process.exit(130);
  };
  process.once("SIGINT", signalTeardown).once("SIGTERM", signalTeardown);
}

/** afterEach: kill children, delete veths. (Namespaces: useNetns; devices: close the servers.) */
export function useCleanup(): void {
  afterEach(() => {
    killChildren();
    deleteVeths();
  });
}

/** Whether this kernel has sch_netem (tc qdisc ... netem); probed once in a throwaway namespace. */
let netemProbe: boolean | undefined;
export function netemAvailable(ns: Netns): boolean {
  if (netemProbe !== undefined) return netemProbe;
  try {
    ns.exec(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]);
    ns.exec(["tc", "qdisc", "del", "dev", "lo", "root"]);
    netemProbe = true;
  } catch {
    netemProbe = false;
  }
  return netemProbe;
}

// ---------------------------------------------------------------------------------------------
// Payload files

let fileDir: string | undefined;
const files = new Map<number, { path: string; sha256: string }>();

/** A file of `bytes` random bytes in a temporary directory (made once per size; removed afterAll). */
export function randomFile(bytes: number): { path: string; sha256: string } {
  const cached = files.get(bytes);
  if (cached !== undefined) return cached;
  fileDir ??= mkdtempSync(join(tmpdir(), "l3l4-it-"));
  const path = join(fileDir, `random-${bytes}.bin`);
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  try {
    const chunk = 1 << 20;
    for (let done = 0; done < bytes; ) {
      const block = randomBytes(Math.min(chunk, bytes - done));
      hash.update(block);
      writeSync(fd, block);
      done += block.length;
    }
  } finally {
    closeSync(fd);
  }
  const file = { path, sha256: hash.digest("hex") };
  files.set(bytes, file);
  return file;
}

export function useRandomFiles(): void {
  afterAll(() => {
    if (fileDir !== undefined) rmSync(fileDir, { recursive: true, force: true });
    fileDir = undefined;
    files.clear();
  });
}

/** The hex digest in `sha256sum` output. */
export function sha256sumOutput(stdout: string): string {
  return stdout.trim().split(/\s+/)[0] ?? "";
}

// ---------------------------------------------------------------------------------------------
// Waiting on the engine

export interface FlowEvents {
  onFlowGone: ((flow: Flow) => void) | undefined;
}

/**
 * Resolves when the engine has no flow, checking after each flow-gone event (no polling); rejects
 * after timeoutMs naming the flows left and their states.
 */
export function waitForNoFlows(engine: L3L4<number>, app: FlowEvents, flows: () => Iterable<Flow>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (engine.flowCount === 0) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      app.onFlowGone = undefined;
      const left = Array.from(flows(), (flow) => `${flow.protocol} ${flow.srcIp}:${flow.srcPort} > ${flow.dstIp}:${flow.dstPort} ${engine.l4State(flow)}`);
      reject(new Error(`engine still has ${engine.flowCount} flows after ${timeoutMs} ms: ${left.slice(0, 10).join("; ")}`));
    }, timeoutMs);
    app.onFlowGone = () => {
      if (engine.flowCount !== 0) return;
      clearTimeout(timer);
      app.onFlowGone = undefined;
      resolve();
    };
  });
}

/** What fixtures/tcp-clients.mjs prints. */
export interface TcpClientsResult {
  ok: number;
  failed: number;
  errors: string[];
  bytesSent: number;
  bytesReceived: number;
  ms: number;
}

/** What fixtures/udp-client.mjs prints. */
export interface UdpClientResult {
  ok: number;
  failed: number;
  errors: string[];
  sent: number;
}

/**
 * The echo example on `device` (UDP flows forgotten after 1 s idle), pushed onto `servers` for the
 * caller's afterEach to close. `noFlows` waits until every flow the server saw is gone.
 */
export function startEchoOn(device: TunDevice, servers: EchoServer[], extraArgs: string[] = [], faultSeed?: number) {
  const options = deviceOptions(parseCommandLine(["--quiet", "--udp-idle-timeout", "1", ...extraArgs], DEVICE_OPTIONS));
  const server = startEchoServer(options, faultSeed === undefined ? { device, log: () => {} } : { device, log: () => {}, faultSeed });
  servers.push(server);
  const noFlows = (timeoutMs: number) => waitForNoFlows(server.engine, server.app, () => server.app.flows, timeoutMs);
  return { server, noFlows };
}
