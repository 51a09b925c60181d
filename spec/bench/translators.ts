/**
 * The topology of the translator bench (tun-table.ts), one per translator and MTU, each in two fresh
 * namespaces:
 *
 *   C (client: iperf3 -c, wrk, ping) ==[translator]==> S (servers: iperf3 -s, nginx)
 *
 * The translator runs in S and carries C's traffic to the servers over S's own sockets, as pasta and
 * slirp4netns carry a container's traffic to the host:
 *
 * - veth: no translator; C and S joined by a veth pair of the MTU (the kernel's ceiling).
 * - pasta: `pasta --netns C` started in S (Debian's passt package); C gets a tap device with a
 *   default route, pasta's sockets are S's.
 * - slirp4netns: `slirp4netns --configure --netns-type=path C` started in S.
 * - l3l4, l3l4 offload: `l3l4 proxy --tun NAME` started in S (its device is created in S, then moved
 *   into C and given the default route): the engine terminates C's connections, node:net dials
 *   the servers. "l3l4" runs with --no-offload, "offload" with --offload, the TUN offloads
 *   (IFF_VNET_HDR: checksum, TSO, GSO super-packets; the proxy's default).
 *
 * In S the servers listen on an address of an otherwise unused veth pair (both ends in S, a default
 * route through it), which pasta needs as its template interface; to the translator the servers are
 * local, over S's loopback. Every translator is a process whose CPU time and RSS the bench reads from
 * /proc. Everything here is torn down by close(): the processes (by process group) and the namespaces.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runIn, spawnIn, type Spawned } from "../integration/harness.js";
import { Netns, randomSubnet, run, uniqueInterfaceName, type Subnet } from "../support/netns.js";
import { hasCommand, type Capability } from "../support/privileges.js";

export const IPERF_PORT = 5201;
export const NGINX_PORT = 8081;

/** Which column a translator's figures go in: the ceiling, a peer to beat, or ours. */
export type Role = "ceiling" | "peer" | "ours";

export interface Translator {
  readonly name: string;
  readonly role: Role;
  /** What the machine lacks to run it (empty: nothing). */
  problems(): string[];
  /** Starts it between `client` and `server`; resolves once C can reach `serverAddress`. */
  start(path: PathSides, mtu: number): Promise<Running>;
}

export interface PathSides {
  readonly client: Netns;
  readonly server: Netns;
  /** The servers' address in S, as C dials it. */
  readonly serverAddress: string;
  /** A subnet for C's side of the translator's device. */
  readonly clientSubnet: Subnet;
}

export interface Running {
  /** The translator's process (undefined for the veth). */
  readonly pid: number | undefined;
  /** Stops the translator's process: SIGTERM, then SIGKILL after 5 s (a profile needs a clean exit). */
  stop(): Promise<void>;
}

/** One translator between fresh namespaces, with iperf3 and nginx running in S. */
export interface BenchPath extends PathSides {
  readonly translator: Translator;
  readonly mtu: number;
  readonly pid: number | undefined;
  close(): Promise<void>;
}

/**
 * The compiled `l3l4` command: next to this module when it runs compiled (dist/spec/bench), else the
 * package's dist/ (the smoke spec runs from spec/bench; `npm ci` and `npm run bench` build dist/).
 */
export const MAIN_JS = ((): string => {
  const compiled = fileURLToPath(new URL("../../lib/cli/main.js", import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL("../../dist/lib/cli/main.js", import.meta.url));
})();

/** Polls `ready` every 50 ms, at most `ms`; throws `what` when it never holds. */
async function waitFor(ready: () => boolean, ms: number, what: () => string): Promise<void> {
  for (let waited = 0; ; waited += 50) {
    if (ready()) return;
    if (waited >= ms) throw new Error(what());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function hasAddress(ns: Netns, device: string): boolean {
  try {
    return /inet \d/.test(ns.ip(["-4", "addr", "show", "dev", device]));
  } catch {
    return false;
  }
}

function processRunning(child: Spawned): Running {
  const kill = (signal: NodeJS.Signals): void => {
    const pid = child.child.pid;
    if (pid === undefined || child.child.exitCode !== null || child.child.signalCode !== null) return;
    try {
      process.kill(signal === "SIGKILL" ? -pid : pid, signal);
    } catch {
      // gone already
    }
  };
  return {
    pid: child.child.pid,
    async stop() {
      kill("SIGTERM");
      const timer = new Promise((resolve) => setTimeout(resolve, 5000).unref());
      await Promise.race([child.exited.catch(() => {}), timer]);
      kill("SIGKILL");
    },
  };
}

/** `onPath("wrk")`: the command is on PATH (for tools without a --version that exits 0). */
export function onPath(command: string, debianPackage: string): () => Capability {
  return () => {
    const found = (process.env["PATH"] ?? "").split(":").some((dir) => dir !== "" && existsSync(join(dir, command)));
    return found ? { ok: true, why: "" } : { ok: false, why: `the ${command} command (apt-get install ${debianPackage})` };
  };
}

function missing(checks: readonly (() => Capability)[]): string[] {
  return checks.map((check) => check()).filter((c) => !c.ok).map((c) => c.why);
}

export const VETH: Translator = {
  name: "veth",
  role: "ceiling",
  problems: () => [],
  start: () => Promise.resolve({ pid: undefined, stop: () => Promise.resolve() }),
};

export const PASTA: Translator = {
  name: "pasta",
  role: "peer",
  problems: () => missing([onPath("pasta", "passt")]),
  async start(path, mtu) {
    const tap = "l3tap";
    const c = path.clientSubnet;
    // Root drops to nobody by default, which then cannot enter C: stay root. No port forwarding
    // (its default scans for listening ports every second), -f: stay in the foreground.
    const argv = [
      "pasta", "-f", "-q", "--runas", "0:0", "--config-net", "-m", String(mtu), "-I", tap,
      "-a", c.peer, "-n", "24", "-g", c.local, "--no-map-gw",
      "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--netns", `/run/netns/${path.client.name}`,
    ];
    const child = spawnIn(path.server, argv, 3_600_000);
    await waitFor(() => hasAddress(path.client, tap), 10_000, () => `pasta did not configure ${tap} in C: ${child.stderr().trim()}`);
    return processRunning(child);
  },
};

export const SLIRP4NETNS: Translator = {
  name: "slirp4netns",
  role: "peer",
  problems: () => missing([onPath("slirp4netns", "slirp4netns")]),
  async start(path, mtu) {
    const tap = "l3tap";
    // 10.0.2.100/24 in C, default route via 10.0.2.2; C's loopback stays C's own.
    const argv = [
      "slirp4netns", "--configure", `--mtu=${Math.min(mtu, 65521)}`, "--disable-host-loopback",
      "--netns-type=path", `/run/netns/${path.client.name}`, tap,
    ];
    const child = spawnIn(path.server, argv, 3_600_000);
    await waitFor(() => hasAddress(path.client, tap), 10_000, () => `slirp4netns did not configure ${tap} in C: ${child.stderr().trim()}`);
    return processRunning(child);
  },
};

/**
 * `l3l4 proxy` in S with `extraArgs`, its device moved into C. `mainJs`: another build's
 * dist/lib/cli/main.js (a baseline measured in the same run).
 */
export function l3l4(name: string, extraArgs: readonly string[] = [], mainJs = MAIN_JS): Translator {
  return {
    name,
    role: "ours",
    problems: () => (existsSync(mainJs) ? [] : [`${mainJs} (npx tsc -b)`]),
    async start(path, mtu) {
      const device = uniqueInterfaceName("l3p");
      const argv = [process.execPath, ...(process.env["L3L4_BENCH_NODE_OPTIONS"] ?? "").split(" ").filter((s) => s !== ""), mainJs, "proxy", "--tun", device, "--mtu", String(mtu), "--quiet", ...extraArgs, ...proxyArgs()];
      const child = spawnIn(path.server, argv, 3_600_000);
      // The device is moved only once the proxy has it open and set up (else its ioctls miss it).
      await child.waitForOutput(/l3l4 proxy: /, 20_000);
      const c = path.client;
      path.server.ip(["link", "set", "dev", device, "netns", c.name]);
      c.ip(["link", "set", "dev", device, "mtu", String(mtu)]);
      c.ip(["addr", "add", `${path.clientSubnet.peer}/24`, "dev", device]);
      c.ip(["link", "set", "dev", device, "up"]);
      c.ip(["route", "add", "default", "dev", device]);
      return processRunning(child);
    },
  };
}

/** L3L4_BENCH_PROXY_ARGS="--txqueuelen 500 --tcp-buffer 4194304": more arguments for every proxy of ours (both sides of an A/B). */
function proxyArgs(): string[] {
  return (process.env["L3L4_BENCH_PROXY_ARGS"] ?? "").split(" ").filter((s) => s !== "");
}

/**
 * Whether `l3l4 proxy` (of `mainJs`: this build, or a baseline's) takes `option` (a build without it
 * has no such row). `--help` gets a minute: with the default 5 s, a loaded machine (node's start-up
 * alone took 5 s there) silently dropped the l3l4-offload row. A proxy that cannot print its help at all is an error, not a missing option.
 */
export function proxyTakes(option: string, mainJs = MAIN_JS): boolean {
  return run(process.execPath, [mainJs, "proxy", "--help"], 60_000).includes(option);
}

/** What every path needs: iperf3, nginx, wrk, ping. */
export function serverProblems(): string[] {
  return missing([
    hasCommand("iperf3", ["--version"], "iperf3"),
    hasCommand("nginx", ["-v"], "nginx-light"),
    onPath("wrk", "wrk"),
    onPath("ping", "iputils-ping"),
  ]);
}

/**
 * Whoever closes a connection first keeps a TIME-WAIT socket for 60 s. When that is wrk (its close
 * races the FIN the translator or proxy relays from nginx), C keeps one per connection, all to the one
 * nginx address and port, and runs out of its 28k ephemeral ports within seconds of churn. Before that,
 * Linux's connect() takes ephemeral ports of one parity first (__inet_hash_connect): once the 14,116
 * even ports of the default 32768-60999 range are in TIME-WAIT (one 3 s wrk run at ~5k conn/s), every
 * connect() walks them all before an odd one, in wrk's kernel time, and a conn/s row fell from ~5k to
 * ~750 with the proxy mostly idle. So `ns` reuses TIME-WAIT ports for new connections (safe with
 * timestamps, RFC 6191) from a wider range. Only for namespaces a bench made, never the host's.
 *
 * The reuse needs TCP timestamps on the TIME-WAIT connection (Linux: tcp_twsk_unique), and neither
 * pasta nor slirp4netns negotiates them: their SYN-ACK to C carries no TS option (tcpdump in C;
 * Debian's passt 0.0~git20230309 and slirp4netns 1.2.0). Both also send nginx's FIN in a segment of
 * its own after the answer, so wrk has the whole answer and closes first, and C keeps a TIME-WAIT it
 * cannot reuse for every connection. Their churn rows fall from ~5k to ~100 conn/s once ~30k of those
 * fill the even ports of this range (measured: 5.5k, 1.6k, 86, 83 conn/s in four 3 s runs through
 * pasta, with 32k TIME-WAIT sockets in C). That is their behaviour towards one server address and
 * port, not this bench's: our proxy answers with timestamps and sends the FIN with the answer
 * (tcp-relay.ts, HOLD_MAX_BYTES), so wrk's close is the passive one.
 */
export function reuseTimeWaitPorts(ns: Netns): void {
  ns.exec(["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65535"]);
}

function nginxConfig(dir: string, address: string): string {
  return [
    "daemon off;",
    "master_process off;",
    "worker_processes 1;",
    "worker_rlimit_nofile 65536;",
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log crit;`,
    "events { worker_connections 16384; }",
    "http {",
    "  access_log off;",
    `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
    `  server { listen ${address}:${NGINX_PORT} backlog=4096; location / { return 200 "ok\\n"; } }`,
    "}",
    "",
  ].join("\n");
}

/**
 * The live paths' nginx directories, removed on exit too (teardownOnSignal exits, which runs "exit"
 * listeners): one listener for all of them, not one per path (a table run holds 14 paths at once).
 */
const pathDirs = new Set<() => void>();
process.once("exit", () => {
  for (const remove of [...pathDirs]) remove();
});

/**
 * C and S, the servers in S, and `translator` between them at `mtu`. On failure everything made so
 * far is torn down before the error propagates.
 */
export async function buildPath(translator: Translator, mtu: number): Promise<BenchPath> {
  const client = Netns.create("l3l4-bt-c-");
  const server = Netns.create("l3l4-bt-s-");
  const children: Spawned[] = [];
  let running: Running | undefined;
  const dir = mkdtempSync(join(tmpdir(), "l3l4-bench-nginx-"));
  const removeDir = (): void => {
    rmSync(dir, { recursive: true, force: true });
    pathDirs.delete(removeDir);
  };
  pathDirs.add(removeDir);
  const close = async (): Promise<void> => {
    await running?.stop();
    for (const child of children) await processRunning(child).stop();
    client.destroy();
    server.destroy();
    removeDir();
  };
  try {
    const s = randomSubnet();
    let clientSubnet = randomSubnet();
    while (clientSubnet.prefix === s.prefix) clientSubnet = randomSubnet();
    const serverAddress = s.peer;
    const left = uniqueInterfaceName("l3b");
    const right = uniqueInterfaceName("l3b");
    run("ip", ["link", "add", left, "mtu", String(mtu), "type", "veth", "peer", "name", right, "mtu", String(mtu)]);
    server.adoptLink(right);
    if (translator === VETH) {
      client.adoptLink(left);
      client.ip(["addr", "add", `${s.local}/24`, "dev", left]);
      client.ip(["link", "set", "dev", left, "up"]);
    } else {
      // Both ends in S: an address for the servers and a default route for pasta to copy.
      server.adoptLink(left);
      server.ip(["link", "set", "dev", left, "up"]);
    }
    server.ip(["addr", "add", `${serverAddress}/24`, "dev", right]);
    server.ip(["link", "set", "dev", right, "up"]);
    if (translator !== VETH) server.ip(["route", "add", "default", "via", `${s.prefix}.254`, "dev", right, "onlink"]);
    // pasta and slirp4netns answer ping through ICMP echo sockets: let root's group open them in S.
    server.exec(["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 2147483647"]);
    // The churn runs open 200k connections in 40 s: both sides reuse TIME-WAIT ports (reuseTimeWaitPorts).
    for (const ns of [client, server]) reuseTimeWaitPorts(ns);
    const iperf = spawnIn(server, ["iperf3", "-s", "-B", serverAddress, "-p", String(IPERF_PORT), "--forceflush"], 3_600_000);
    children.push(iperf);
    writeFileSync(join(dir, "nginx.conf"), nginxConfig(dir, serverAddress));
    children.push(spawnIn(server, ["nginx", "-p", dir, "-c", join(dir, "nginx.conf")], 3_600_000));
    await iperf.waitForOutput(/Server listening/, 10_000);
    const sides: PathSides = { client, server, serverAddress, clientSubnet };
    running = await translator.start(sides, mtu);
    // Reachable through the translator: nginx answers from C.
    for (let i = 0; ; i++) {
      const probe = await runIn(client, ["curl", "-s", "--max-time", "2", `http://${serverAddress}:${NGINX_PORT}/`], 5000);
      if (probe.stdout === "ok\n") break;
      if (i >= 30) throw new Error(`${translator.name} mtu ${mtu}: nginx in S does not answer from C (${probe.stderr.trim()})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return { ...sides, translator, mtu, pid: running.pid, close };
  } catch (error) {
    await close();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// A process as /proc shows it

const CLOCK_TICKS = 100; // USER_HZ: /proc's unit for utime and stime on Linux

/** CPU time of `pid` (all threads) in ms, user and system; zeros without a pid. */
export function cpuSplit(pid: number | undefined): { user: number; system: number } {
  if (pid === undefined) return { user: 0, system: 0 };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return { user: (Number(fields[11]) * 1000) / CLOCK_TICKS, system: (Number(fields[12]) * 1000) / CLOCK_TICKS };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/**
 * CPU time of `pid` in ms, all its threads, to the nanosecond (the first field of each thread's
 * /proc/PID/task/TID/schedstat; /proc/PID/stat counts in 10 ms ticks); 0 without a pid.
 */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
    return ns / 1e6;
  } catch {
    return Number.NaN;
  }
}

/** Resident set of `pid` in MiB (NaN without one). */
export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match === null ? Number.NaN : Number(match[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}
