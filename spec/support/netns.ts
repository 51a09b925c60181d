/**
 * Network namespaces for integration tests: a uniquely named namespace per test, devices moved
 * into it, commands run in it (ip netns exec), and cleanup that runs even when the test fails.
 * Traffic stays inside namespaces the test made. Every spawned command has a bounded timeout.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { afterEach } from "vitest";
import { COMMAND_TIMEOUT_MS } from "./privileges.js";

export interface CommandResult {
  /** Exit code; null when killed (signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Killed because the timeout passed. */
  timedOut: boolean;
}

/** Runs a command to completion (at most timeoutMs); returns stdout; throws with stderr on failure. */
export function run(file: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

const OUTPUT_LIMIT = 1 << 20;

/** Starts a command without blocking the event loop; resolves when it exits or is killed at timeoutMs. */
export function runAsync(file: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += chunk;
    });
    const killer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A name no other test run uses: prefix + random hex, at most maxLength characters. */
export function uniqueName(prefix: string, maxLength = 32): string {
  const name = `${prefix}${randomBytes(8).toString("hex")}`;
  return name.slice(0, maxLength);
}

/** An interface name that fits IFNAMSIZ: "l3t" + 8 hex digits. */
export function uniqueInterfaceName(prefix = "l3t"): string {
  return uniqueName(prefix, Math.min(15, prefix.length + 8));
}

export interface Subnet {
  /** "10.a.b" */
  prefix: string;
  /** 10.a.b.1: the kernel's side in the namespace. */
  local: string;
  /** 10.a.b.2: the peer the test plays. */
  peer: string;
  /** 24 */
  length: number;
}

/** A random 10.a.b.0/24 (used only inside a namespace the test made). */
export function randomSubnet(): Subnet {
  const prefix = `10.${randomInt(64, 255)}.${randomInt(1, 255)}`;
  return { prefix, local: `${prefix}.1`, peer: `${prefix}.2`, length: 24 };
}

const live = new Set<Netns>();
let exitHookInstalled = false;

/** A network namespace this process made; destroy() deletes it (idempotent). */
export class Netns {
  readonly name: string;
  private destroyed = false;

  private constructor(name: string) {
    this.name = name;
  }

  /** `ip netns add` a uniquely named namespace, with its loopback up. */
  static create(prefix = "l3l4-"): Netns {
    const ns = new Netns(uniqueName(`${prefix}${process.pid}-`, 48));
    run("ip", ["netns", "add", ns.name]);
    live.add(ns);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", destroyAllNetns);
    }
    try {
      ns.ip(["link", "set", "lo", "up"]);
    } catch (error) {
      ns.destroy();
      throw error;
    }
    return ns;
  }

  /** `ip -n NAME ...args`; returns stdout. */
  ip(args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): string {
    return run("ip", ["-n", this.name, ...args], timeoutMs);
  }

  /** `ip netns exec NAME ...command`, to completion; returns stdout. */
  exec(command: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): string {
    return run("ip", ["netns", "exec", this.name, ...command], timeoutMs);
  }

  /** `ip netns exec NAME ...command` without blocking the event loop (the test can answer packets meanwhile). */
  execAsync(command: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
    return runAsync("ip", ["netns", "exec", this.name, ...command], timeoutMs);
  }

  /**
   * The namespace's SNMP counters from /proc/net/snmp: counters.Icmp.InEchoReps,
   * counters.Icmp.InCsumErrors, counters.Ip.InHdrErrors, ...
   */
  snmpCounters(): Record<string, Record<string, number>> {
    const counters: Record<string, Record<string, number>> = {};
    const lines = this.exec(["cat", "/proc/net/snmp"]).trim().split("\n");
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/);
      const values = lines[i + 1]!.split(/\s+/);
      const group = names[0]!.replace(/:$/, "");
      const table: Record<string, number> = {};
      for (let j = 1; j < names.length; j++) table[names[j]!] = Number(values[j]);
      counters[group] = table;
    }
    return counters;
  }

  /** Moves a device of the current namespace into this one (it arrives down). */
  adoptLink(device: string): void {
    run("ip", ["link", "set", "dev", device, "netns", this.name]);
  }

  /**
   * Inside the namespace: `subnet.local`/length on `device`, the link up, and the subnet's route
   * through it (the route the address makes, set again explicitly).
   */
  configureLink(device: string, subnet: Subnet, mtu?: number): void {
    if (mtu !== undefined) this.ip(["link", "set", "dev", device, "mtu", String(mtu)]);
    this.ip(["addr", "add", `${subnet.local}/${subnet.length}`, "dev", device]);
    this.ip(["link", "set", "dev", device, "up"]);
    this.ip(["route", "replace", `${subnet.prefix}.0/${subnet.length}`, "dev", device, "src", subnet.local]);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    try {
      run("ip", ["netns", "delete", this.name]);
    } catch {
      // Already gone.
    }
  }
}

/** Deletes every namespace this process made and has not deleted yet. */
export function destroyAllNetns(): void {
  for (const ns of Array.from(live)) ns.destroy();
}

/**
 * For a describe block: `const netns = useNetns();` then `netns()` in a test makes a namespace
 * that afterEach deletes, pass or fail.
 */
export function useNetns(prefix?: string): () => Netns {
  const made: Netns[] = [];
  afterEach(() => {
    for (const ns of made.splice(0)) ns.destroy();
  });
  return () => {
    const ns = Netns.create(prefix);
    made.push(ns);
    return ns;
  };
}
