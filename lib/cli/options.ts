/**
 * The command line of the `l3l4` commands: the device options every TUN command takes, and the
 * parsing helpers the commands share. A mistake is a UsageError, which the `l3l4` entry point prints
 * as one line and exits 2 for.
 *
 *   --tun NAME        TUN device to create, or to attach to if it exists (default: the kernel picks tunN)
 *   --mtu N           set the device's MTU (default: keep it; 1500 for a new device)
 *   --pcap FILE       write every packet read and sent to FILE (pcap, LINKTYPE_RAW: IPv4 and IPv6)
 *   --trace           print a one-line description of every packet
 *   --faults SPEC     inject faults between device and engine, both ways: "loss=0.02,reorder=0.05,delay=5"
 *   --offload         open the device with IFF_VNET_HDR and the kernel's checksum and segmentation offloads
 *                     (the default, unless --faults is given: the fault injector works on plain IP packets)
 *   --no-offload      the device without IFF_VNET_HDR: every read and write is exactly one IP packet
 *   --txqueuelen N    the device's queue of packets for us (default 4096; Linux's own is 500); the engine's
 *                     receive budget is half of it in full segments (cli/device.ts receiveBudgetFor)
 *   --tcp-buffer N    bytes buffered per TCP flow each way (default: the engine's)
 *   --udp-idle-timeout S   forget a UDP flow after S seconds without a datagram (default: the engine's)
 *   --max-memory N    the engine's memory budget in bytes (maxMemory; default: none)
 *   --max-flows-per-source N   flows one peer address (IPv6: /64) may have open (default: no limit)
 *   --quiet           no status lines
 *
 * The engine needs no addresses: it answers whatever destination the kernel routes into the
 * device. The device may be moved into another network namespace while the command runs (root:
 * `ip link set dev NAME netns NS`, then address it and bring it up there): the open file descriptor
 * keeps working, so nothing here depends on the namespace.
 */
import { isIP } from "node:net";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { MAX_FLOWS_LIMIT, MIN_MEMORY_BUDGET } from "../builder.js";
import { parseFaults, type Faults } from "../debug/faults.js";
import { DEFAULT_TX_QUEUE_LENGTH } from "../tun/tun.js";

/** A mistake on the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface HostPort {
  host: string;
  port: number;
}

/** What every TUN command (proxy, echo) takes. */
export interface DeviceOptions {
  /** Device name; "" lets the kernel choose (tunN). */
  tun: string;
  mtu: number | undefined;
  pcap: string | undefined;
  trace: boolean;
  faults: Faults | undefined;
  /**
   * IFF_VNET_HDR with checksum and segmentation offloads: the default; off with --no-offload, and
   * with --faults (FaultyDevice passes plain IP packets; --offload with --faults is refused).
   */
  offload: boolean;
  /** --txqueuelen; undefined: openTun's default. */
  txQueueLength: number | undefined;
  tcpBufferSize: number | undefined;
  udpIdleTimeout: number | undefined;
  /** --max-memory: the engine's maxMemory; undefined: its default. */
  maxMemory: number | undefined;
  /** --max-flows-per-source: the engine's maxFlowsPerSource; undefined: its default (off). */
  maxFlowsPerSource: number | undefined;
  quiet: boolean;
}

/** Smallest MTU the engine takes (RFC 791's 576). */
export const MIN_DEVICE_MTU = 576;

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;
/** What parseCommandLine returns for `options`: one value per option, typed by its kind. */
export type OptionValues<T extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>
>["values"];

/** The device options, as node:util parseArgs takes them. */
export const DEVICE_OPTIONS = {
  tun: { type: "string" },
  mtu: { type: "string" },
  pcap: { type: "string" },
  trace: { type: "boolean", default: false },
  faults: { type: "string" },
  offload: { type: "boolean" },
  "no-offload": { type: "boolean" },
  txqueuelen: { type: "string" },
  "tcp-buffer": { type: "string" },
  "udp-idle-timeout": { type: "string" },
  "max-memory": { type: "string" },
  "max-flows-per-source": { type: "string" },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const satisfies OptionsConfig;

/** The usage lines of the device options. */
export const DEVICE_USAGE: readonly string[] = [
  "  --tun NAME        TUN device to create, or to attach to if it exists (default: the kernel picks tunN)",
  `  --mtu N           set the device's MTU, ${MIN_DEVICE_MTU}..65535 (default: keep it; 1500 for a new device)`,
  "  --pcap FILE       record every packet read and sent (pcap; tcpdump -r FILE, Wireshark)",
  "  --trace           print one line per packet",
  '  --faults SPEC     inject faults both ways between device and engine, e.g. "loss=0.02,reorder=0.05,delay=5"',
  "                    (keys: loss duplicate reorder corrupt corrupt-unit delay jitter hold mtu)",
  "  --offload         TUN offloads, the default: the kernel hands over 64 KiB TCP/UDP super-packets and leaves",
  "                    checksums to us (IFF_VNET_HDR, TUNSETOFFLOAD csum tso4 tso6 tso-ecn uso4 uso6, what it takes)",
  "  --no-offload      no offloads: every read and write is one IP packet (also what --faults implies)",
  `  --txqueuelen N    packets the kernel queues for us before it drops (default ${DEFAULT_TX_QUEUE_LENGTH}; Linux's is 500);`,
  "                    the flows' windows together stay within half of it: give 4 per concurrent flow",
  "  --tcp-buffer N    bytes buffered per TCP flow in each direction",
  "  --udp-idle-timeout S  forget a UDP flow (and close its socket) after S seconds without a datagram",
  "  --max-memory N    bound what peers can make the engine hold, in bytes (>= 65536): windows shrink,",
  "                    then out-of-order data is dropped, then new flows are refused (default: no bound)",
  "  --max-flows-per-source N  flows one peer address (IPv6: its /64) may have open; past it new ones",
  "                    are refused with RST or ICMP port unreachable (default: no limit)",
  "  --quiet           no status lines",
  "  --help            this text",
];

/** How to get traffic into the device: the end of a TUN command's usage. */
export const DEVICE_USAGE_FOOTER: readonly string[] = [
  "Opening /dev/net/tun needs root or CAP_NET_ADMIN. Then route traffic into the device, e.g.:",
  "  ip addr add 10.99.0.1/24 dev NAME && ip route add 10.99.1.0/24 dev NAME",
  "The device may be moved into another network namespace (ip link set dev NAME netns NS) while running.",
];

/** node:util parseArgs, strict, without positionals; its complaints become UsageErrors. */
export function parseCommandLine<T extends OptionsConfig>(argv: readonly string[], options: T): OptionValues<T> {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The device options out of parsed values (DEVICE_OPTIONS). Throws UsageError. */
export function deviceOptions(v: {
  tun?: string | undefined;
  mtu?: string | undefined;
  pcap?: string | undefined;
  trace?: boolean | undefined;
  faults?: string | undefined;
  offload?: boolean | undefined;
  "no-offload"?: boolean | undefined;
  txqueuelen?: string | undefined;
  "tcp-buffer"?: string | undefined;
  "udp-idle-timeout"?: string | undefined;
  "max-memory"?: string | undefined;
  "max-flows-per-source"?: string | undefined;
  quiet?: boolean | undefined;
}): DeviceOptions {
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
  if (v.offload === true && v["no-offload"] === true) throw new UsageError("--offload and --no-offload: give one of them");
  if (v.offload === true && faults !== undefined) {
    throw new UsageError("--faults injects faults into plain IP packets: it runs without offloads (drop --offload)");
  }
  return {
    tun: v.tun ?? "",
    mtu: integerOption("mtu", v.mtu, MIN_DEVICE_MTU, 65535),
    pcap: v.pcap,
    trace: v.trace === true,
    faults,
    offload: v["no-offload"] !== true && faults === undefined,
    txQueueLength: integerOption("txqueuelen", v.txqueuelen, 1, 1_000_000),
    tcpBufferSize: integerOption("tcp-buffer", v["tcp-buffer"], 1, 0x4000_0000),
    udpIdleTimeout: integerOption("udp-idle-timeout", v["udp-idle-timeout"], 1, 86_400),
    maxMemory: integerOption("max-memory", v["max-memory"], MIN_MEMORY_BUDGET, Number.MAX_SAFE_INTEGER),
    maxFlowsPerSource: integerOption("max-flows-per-source", v["max-flows-per-source"], 1, MAX_FLOWS_LIMIT),
    quiet: v.quiet === true,
  };
}

/** "HOST:PORT" or "[V6]:PORT" for option `--name` (port 0 too with `anyPort`: the kernel picks). Throws UsageError. */
export function parseHostPort(text: string, name: string, anyPort = false): HostPort {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const plain = /^([^:\s[\]]+):(\d+)$/.exec(text);
  const match = bracketed ?? plain;
  if (match === null) throw new UsageError(`--${name} needs HOST:PORT (or [IPv6]:PORT), not ${JSON.stringify(text)}`);
  const host = match[1]!;
  const port = Number(match[2]);
  const min = anyPort ? 0 : 1;
  if (!Number.isInteger(port) || port < min || port > 65535) throw new UsageError(`--${name}: port ${match[2]} is not in ${min}..65535`);
  if (bracketed !== null && isIP(host) !== 6) throw new UsageError(`--${name}: ${host} is not an IPv6 address`);
  return { host, port };
}

/** An integer option in min..max; undefined when not given. Throws UsageError. */
export function integerOption(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}: ${text}`);
  return value;
}

/** A decimal number of seconds in (0, max], as milliseconds; undefined when not given. Throws UsageError. */
export function secondsOption(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0) || value > max) throw new UsageError(`--${name} must be a number of seconds in (0, ${max}]: ${text}`);
  return Math.round(value * 1000);
}

/** One of `choices`; `fallback` when not given. Throws UsageError. */
export function choiceOption<C extends string>(name: string, text: string | undefined, choices: readonly C[], fallback: C): C {
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${name} must be ${choices.join(", ").replace(/, ([^,]*)$/, " or $1")}: ${text}`);
  return text as C;
}

/** "12.3 Mbit/s" */
export function formatRate(bytes: number, seconds: number): string {
  const bits = (bytes * 8) / Math.max(seconds, 1e-9);
  if (bits >= 1e9) return `${(bits / 1e9).toFixed(2)} Gbit/s`;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(1)} Mbit/s`;
  if (bits >= 1e3) return `${(bits / 1e3).toFixed(1)} kbit/s`;
  return `${bits.toFixed(0)} bit/s`;
}
