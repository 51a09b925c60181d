/**
 * What the examples share (as smoltcp's examples/utils.rs): command-line options, opening the TUN
 * device with a message that says what to do when it cannot be opened, the engine built for the
 * device's MTU, and the middleware of the packet path: a pcap file, a trace line per packet, and
 * injected faults.
 *
 *   --tun NAME        TUN device to create, or to attach to if it exists (default: the kernel picks tunN)
 *   --mtu N           set the device's MTU (default: keep it; 1500 for a new device)
 *   --pcap FILE       write every packet read and sent to FILE (pcap, LINKTYPE_RAW: IPv4 and IPv6)
 *   --trace           print a one-line description of every packet
 *   --faults SPEC     inject faults between device and engine, both ways: "loss=0.02,reorder=0.05,delay=5"
 *   --tcp-buffer N    bytes buffered per TCP flow each way (default: the engine's)
 *   --udp-idle-timeout S   forget a UDP flow after S seconds without a datagram (default: the engine's)
 *   --quiet           no status lines
 *   --upstream H:P    (proxy) send every flow to H:P instead of its original destination
 *
 * The engine needs no addresses: it answers whatever destination the kernel routes into the
 * device. The device may be moved into another network namespace while the example runs (root:
 * `ip link set dev NAME netns NS`, then address it and bring it up there): the open file descriptor
 * keeps working, so nothing here depends on the namespace.
 */
import { realpathSync } from "node:fs";
import { isIP } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Flow } from "../lib/api.js";
import { L3L4Builder } from "../lib/builder.js";
import { parseFaults, type Faults } from "../lib/debug/faults.js";
import { PcapWriter } from "../lib/debug/pcap.js";
import type { L3L4 } from "../lib/engine.js";
import { runTun, type PacketDirection, type RunnerDevice, type TunApp, type TunRunner } from "../lib/tun/runner.js";
import { openTun, TunError, type TunDevice } from "../lib/tun/tun.js";
import { describe } from "../lib/wire/describe.js";
import { FaultyDevice } from "./fault-device.js";

/** A mistake on the command line: the message, then the usage. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface HostPort {
  host: string;
  port: number;
}

export interface ExampleOptions {
  /** Device name; "" lets the kernel choose (tunN). */
  tun: string;
  mtu: number | undefined;
  pcap: string | undefined;
  trace: boolean;
  faults: Faults | undefined;
  tcpBufferSize: number | undefined;
  udpIdleTimeout: number | undefined;
  quiet: boolean;
  upstream: HostPort | undefined;
  help: boolean;
}

export interface ExampleSpec {
  /** "echo_server" */
  name: string;
  /** One paragraph on what it does. */
  summary: string;
  /** Whether --upstream is an option. */
  upstream: boolean;
}

/** Smallest MTU the engine takes (RFC 791's 576). */
export const MIN_EXAMPLE_MTU = 576;

export function usage(spec: ExampleSpec): string {
  return [
    `usage: ${spec.name} [--tun NAME] [--mtu N] [--pcap FILE] [--trace] [--faults SPEC] [--tcp-buffer N] [--udp-idle-timeout S] [--quiet]` +
      (spec.upstream ? " [--upstream HOST:PORT]" : ""),
    "",
    spec.summary,
    "",
    "  --tun NAME        TUN device to create, or to attach to if it exists (default: the kernel picks tunN)",
    `  --mtu N           set the device's MTU, ${MIN_EXAMPLE_MTU}..65535 (default: keep it; 1500 for a new device)`,
    "  --pcap FILE       record every packet read and sent (pcap; tcpdump -r FILE, Wireshark)",
    "  --trace           print one line per packet",
    '  --faults SPEC     inject faults both ways between device and engine, e.g. "loss=0.02,reorder=0.05,delay=5"',
    "                    (keys: loss duplicate reorder corrupt corrupt-unit delay jitter hold mtu)",
    "  --tcp-buffer N    bytes buffered per TCP flow in each direction",
    "  --udp-idle-timeout S  forget a UDP flow (and close its socket) after S seconds without a datagram",
    "  --quiet           no status lines",
    ...(spec.upstream ? ["  --upstream H:P    connect every flow to H:P ([v6]:port for IPv6) instead of its destination"] : []),
    "  --help            this text",
    "",
    "Opening /dev/net/tun needs root or CAP_NET_ADMIN. Then route traffic into the device, e.g.:",
    "  ip addr add 10.99.0.1/24 dev NAME && ip route add 10.99.1.0/24 dev NAME",
    "The device may be moved into another network namespace (ip link set dev NAME netns NS) while running.",
  ].join("\n");
}

/** "HOST:PORT" or "[V6]:PORT". Throws UsageError. */
export function parseHostPort(text: string): HostPort {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:\s]+):(\d+)$/.exec(text);
  const match = bracketed ?? plain;
  if (match === null) throw new UsageError(`--upstream needs HOST:PORT (or [IPv6]:PORT), not ${JSON.stringify(text)}`);
  const host = match[1]!;
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`port ${match[2]} is not in 1..65535`);
  if (bracketed !== null && isIP(host) !== 6) throw new UsageError(`${host} is not an IPv6 address`);
  return { host, port };
}

function integerOption(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}: ${text}`);
  return value;
}

/** Parses the command line (process.argv.slice(2)); throws UsageError. */
export function parseExampleArgs(argv: readonly string[], spec: ExampleSpec): ExampleOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        tun: { type: "string" },
        mtu: { type: "string" },
        pcap: { type: "string" },
        trace: { type: "boolean", default: false },
        faults: { type: "string" },
        "tcp-buffer": { type: "string" },
        "udp-idle-timeout": { type: "string" },
        quiet: { type: "boolean", default: false },
        upstream: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.upstream !== undefined && !spec.upstream) throw new UsageError(`${spec.name} takes no --upstream`);
  let faults: Faults | undefined;
  if (v.faults !== undefined) {
    try {
      faults = parseFaults(v.faults);
    } catch (error) {
      throw new UsageError(`--faults: ${(error as Error).message}`);
    }
    if (faults.rateBitsPerSecond !== Infinity || /(^|,)\s*queue\s*=/.test(v.faults)) {
      throw new UsageError("--faults: rate and queue are not modelled on a TUN device (use tc tbf on the device)");
    }
  }
  return {
    tun: v.tun ?? "",
    mtu: integerOption("mtu", v.mtu, MIN_EXAMPLE_MTU, 65535),
    pcap: v.pcap,
    trace: v.trace === true,
    faults,
    tcpBufferSize: integerOption("tcp-buffer", v["tcp-buffer"], 1, 0x4000_0000),
    udpIdleTimeout: integerOption("udp-idle-timeout", v["udp-idle-timeout"], 1, 86_400),
    quiet: v.quiet === true,
    upstream: v.upstream === undefined ? undefined : parseHostPort(v.upstream),
    help: v.help === true,
  };
}

/** What start functions take besides the parsed options. */
export interface DeviceSource {
  /** An open device to use instead of opening `tun` (tests open it themselves). Closed on stop. */
  device?: TunDevice;
  /** Where status and trace lines go; default console.log / stderr. */
  log?: (line: string) => void;
  /** Seed of --faults (default random; printed). */
  faultSeed?: number;
}

/** The device, as the options say: opened (created or attached), MTU set, up. Throws TunError. */
export function openExampleDevice(options: Pick<ExampleOptions, "tun" | "mtu">): TunDevice {
  return openTun({ name: options.tun, ...(options.mtu === undefined ? {} : { mtu: options.mtu }) });
}

/** An engine for a device of this MTU. */
export function buildEngine(mtu: number, options: Pick<ExampleOptions, "tcpBufferSize" | "udpIdleTimeout">): L3L4<number> {
  if (mtu < MIN_EXAMPLE_MTU) {
    throw new UsageError(`the device's MTU is ${mtu}; the engine needs at least ${MIN_EXAMPLE_MTU} (use --mtu)`);
  }
  const builder = new L3L4Builder<number>().mtu(mtu);
  if (options.tcpBufferSize !== undefined) builder.tcpBufferSize(options.tcpBufferSize);
  if (options.udpIdleTimeout !== undefined) builder.udpIdleTimeout(options.udpIdleTimeout);
  return builder.build();
}

export interface RunningExample {
  readonly engine: L3L4<number>;
  readonly runner: TunRunner;
  readonly device: TunDevice;
  /** The fault injector when --faults was given. */
  readonly faulty: FaultyDevice | undefined;
  /** Shut down: graceMs to let flows close (FIN), then abort the rest; closes the device and the pcap. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Opens the device (unless given), builds the engine, wraps the device in the fault injector
 * and the app in the pcap/trace tap, and starts the runner.
 */
export function startExample(
  options: ExampleOptions,
  source: DeviceSource,
  makeApp: (engine: L3L4<number>, runner: () => TunRunner) => TunApp,
): RunningExample {
  const device = source.device ?? openExampleDevice(options);
  let pcap: PcapWriter | undefined;
  try {
    const engine = buildEngine(device.mtu, options);
    const log = source.log ?? ((line: string) => console.log(line));
    let faulty: FaultyDevice | undefined;
    let runnerDevice: RunnerDevice = device;
    if (options.faults !== undefined) {
      const seed = source.faultSeed ?? Math.floor(Math.random() * 2 ** 32);
      faulty = new FaultyDevice(device, options.faults, options.faults, seed);
      runnerDevice = faulty;
      log(`faults both ways: ${JSON.stringify(options.faults)} (seed ${seed})`);
    }
    let runner: TunRunner | undefined;
    const app = makeApp(engine, () => runner!);
    if (options.pcap !== undefined) pcap = PcapWriter.open(options.pcap);
    const tap = packetTap(pcap, options.trace ? log : undefined);
    if (tap !== undefined) app.packetTap = tap;
    runner = runTun(engine, runnerDevice, app, {
      onError: (error) => {
        log(`${device.name}: device error, stopped: ${(error as Error).message}`);
        pcap?.close();
        process.exitCode = 1;
      },
    });
    const started = runner;
    return {
      engine,
      runner: started,
      device,
      faulty,
      async close(graceMs = 0): Promise<void> {
        await started.shutdown({ graceMs });
        faulty?.stop();
        pcap?.close();
      },
    };
  } catch (error) {
    pcap?.close();
    device.close();
    throw error;
  }
}

/** The runner's packet tap for --pcap and --trace (undefined: neither, and nothing per packet). */
export function packetTap(
  pcap: PcapWriter | undefined,
  trace: ((line: string) => void) | undefined,
): ((direction: PacketDirection, packet: Uint8Array) => void) | undefined {
  if (pcap === undefined && trace === undefined) return undefined;
  return (direction, packet) => {
    if (pcap !== undefined) pcap.write(packet, 0, packet.length, Date.now());
    if (trace !== undefined) trace(`${direction === "rx" ? "in " : "out"} ${describe(packet)}`);
  };
}

/** "10.0.0.2:41000 > 10.0.1.7:80 tcp" ([v6] in brackets). */
export function flowName(flow: Flow): string {
  const address = (ip: string, port: number) => (flow.family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);
  return `${address(flow.srcIp, flow.srcPort)} > ${address(flow.dstIp, flow.dstPort)} ${flow.protocol}`;
}

/** "12.3 Mbit/s" */
export function formatRate(bytes: number, seconds: number): string {
  const bits = (bytes * 8) / Math.max(seconds, 1e-9);
  if (bits >= 1e9) return `${(bits / 1e9).toFixed(2)} Gbit/s`;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(1)} Mbit/s`;
  if (bits >= 1e3) return `${(bits / 1e3).toFixed(1)} kbit/s`;
  return `${bits.toFixed(0)} bit/s`;
}

/** Whether the module at `importMetaUrl` is the script node was started with. */
export function isMain(importMetaUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}

/**
 * Runs a CLI main: usage errors print the usage (exit 2); a TunError prints why the device could
 * not be opened and what to do (exit 1); SIGINT/SIGTERM shut down gracefully.
 */
export function runMain(spec: ExampleSpec, main: (options: ExampleOptions) => RunningExample): void {
  let options: ExampleOptions;
  try {
    options = parseExampleArgs(process.argv.slice(2), spec);
  } catch (error) {
    process.stderr.write(`${spec.name}: ${(error as Error).message}\n\n${usage(spec)}\n`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(`${usage(spec)}\n`);
    return;
  }
  let running: RunningExample;
  try {
    running = main(options);
  } catch (error) {
    process.stderr.write(`${spec.name}: ${explainStartError(error)}\n`);
    process.exit(1);
  }
  let closing = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) process.exit(130);
    closing = true;
    process.stderr.write(`${spec.name}: ${signal}: closing flows (2 s grace; again to quit now)\n`);
    running.close(2000).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${spec.name}: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/** A start failure as one or two lines a user can act on. */
export function explainStartError(error: unknown): string {
  if (error instanceof TunError) {
    switch (error.errno) {
      case "EADDON":
        return (
          "the TUN addon is not built. Build it with `npx node-gyp rebuild -C lib/tun` " +
          "(needs python3, make and a C compiler), then run again.\n  " +
          error.message
        );
      case "EPERM":
      case "EACCES":
        return (
          "opening /dev/net/tun needs root or CAP_NET_ADMIN: run with sudo, or " +
          "`sudo setcap cap_net_admin+ep $(command -v node)`.\n  " +
          error.message
        );
      default:
        return `cannot open the TUN device: ${error.message}`;
    }
  }
  if (error instanceof UsageError) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
