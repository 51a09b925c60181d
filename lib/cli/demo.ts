/**
 * `npm run demo`: the engine's main job with no root and no TUN device. Two engines are joined by an
 * in-memory link (lib/debug/link.ts) with optional seeded faults; a client engine opens N TCP flows
 * to an echo service on the other engine, sends a known stream on each and checks, byte for byte,
 * that it comes back. Then every flow closes and must be gone on both engines.
 *
 * Time is virtual: the link's clock jumps from one event to the next (a packet arrival, a timer), so
 * the run takes only the CPU time it needs, and a 200 ms retransmission timeout costs nothing to
 * wait for. Both throughputs are reported: of wall-clock time (how fast this machine runs the two
 * engines) and of virtual time (what the link and TCP achieve on it).
 *
 *   l3l4 demo --flows 8 --bytes 8M --faults loss=0.02,reorder=0.05 --seed 7
 *
 * Exit status: 0 when every byte was echoed exactly and every flow is gone; 1 otherwise; 2 for a
 * mistake on the command line.
 */
import { EchoPair, type EchoReport } from "../debug/echo-pair.js";
import { parseFaults, formatFaults, type Faults } from "../debug/faults.js";
import type { Command } from "./command.js";
import { integerOption, parseCommandLine, UsageError } from "./options.js";

const USAGE = `usage: l3l4 demo [--flows N] [--bytes N] [--faults SPEC] [--mtu N] [--seed N] [--ipv6] [--cc cubic|reno]

Two l3l4 engines over an in-memory link on a virtual clock: a client engine opens N TCP
flows to an echo service on the other engine, sends N bytes on each and verifies the echo.

  --flows N      flows at once (default 8)
  --bytes N      bytes sent on each flow (default 8M); suffixes k = 1024, M = 1024^2, G = 1024^3
  --faults SPEC  link faults, both directions (default delay=1), e.g.
                 "loss=0.02,reorder=0.05,duplicate=0.01,corrupt=0.001"
                 keys: loss duplicate reorder corrupt (probabilities), corrupt-unit (bit|byte),
                 delay jitter hold (ms), rate (bits/s, k/M/G), queue (packets), mtu (bytes).
                 The one-way delay is 1 ms unless SPEC sets delay.
  --mtu N        largest IP packet, 576..65535 (default 1500)
  --seed N       seed of the faults and the data (default: random, printed)
  --ipv6         use IPv6 (default IPv4)
  --cc NAME      congestion control: cubic (default) or reno
  --help         this text

Exit status 0 when every byte came back exactly and every flow is closed and gone on both
engines, 1 otherwise.`;

export interface DemoOptions {
  flows: number;
  bytes: number;
  faults: Faults;
  mtu: number;
  seed: number;
  family: 4 | 6;
  cc: "cubic" | "reno";
}

const SIZE_SUFFIX: Readonly<Record<string, number>> = { "": 1, k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "8M" -> 8388608. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKMG]?)$/.exec(text.trim());
  if (m === null) throw new UsageError(`--bytes needs a size like 65536, 64k or 8M: ${JSON.stringify(text)}`);
  const value = Math.round(Number(m[1]) * SIZE_SUFFIX[m[2]!]!);
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`--bytes must be at least 1: ${text}`);
  return value;
}

function integer(name: string, text: string | undefined, min: number, max: number, fallback: number): number {
  return integerOption(name, text, min, max) ?? fallback;
}

/** The command line (without node and the script); undefined for --help. Throws UsageError. */
export function parseDemoArgs(argv: readonly string[]): DemoOptions | undefined {
  const v = parseCommandLine(argv, {
    flows: { type: "string" },
    bytes: { type: "string" },
    faults: { type: "string" },
    mtu: { type: "string" },
    seed: { type: "string" },
    ipv6: { type: "boolean", default: false },
    cc: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (v.help === true) return undefined;
  let faults: Faults;
  try {
    faults = parseFaults(v.faults ?? "");
  } catch (error) {
    throw new UsageError(`--faults: ${(error as Error).message}`);
  }
  // A link with no delay has no virtual time to measure: 1 ms each way unless the spec says.
  if (!/(^|,)\s*delay\s*=/.test(v.faults ?? "")) faults = { ...faults, delayMs: 1 };
  const cc = v.cc ?? "cubic";
  if (cc !== "cubic" && cc !== "reno") throw new UsageError(`--cc must be cubic or reno: ${cc}`);
  const flows = integer("flows", v.flows, 1, 1_000_000, 8);
  return {
    flows,
    bytes: v.bytes === undefined ? 8 * 1024 * 1024 : parseSize(v.bytes),
    faults,
    mtu: integer("mtu", v.mtu, 576, 65535, 1500),
    seed: integer("seed", v.seed, 0, 0xffff_ffff, Math.floor(Math.random() * 0x1_0000_0000)),
    family: v.ipv6 === true ? 6 : 4,
    cc,
  };
}

// ------------------------------------------------------------------------------------------------
// Output
// ------------------------------------------------------------------------------------------------

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;
}

function gbits(bytes: number, ms: number): string {
  if (!(ms > 0)) return "n/a";
  const g = (bytes * 8) / (ms * 1e6);
  return g >= 0.1 ? `${g.toFixed(2)} Gbit/s` : `${(g * 1000).toFixed(2)} Mbit/s`;
}

function duration(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

function drops(d: Record<string, number>): string {
  const parts = Object.entries(d).map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

class Progress {
  private lastAt = 0;
  private readonly tty: boolean;
  private wrote = false;

  constructor(private readonly out: NodeJS.WriteStream) {
    this.tty = out.isTTY === true;
  }

  /** A line now and then: rewritten in place on a terminal, one line a second otherwise. */
  update(now: number, line: () => string): void {
    const every = this.tty ? 100 : 1000;
    if (now - this.lastAt < every) return;
    this.lastAt = now;
    if (this.tty) {
      this.out.write(`\r${line()}\x1b[K`);
      this.wrote = true;
    } else {
      this.out.write(`${line()}\n`);
    }
  }

  done(): void {
    if (this.tty && this.wrote) this.out.write("\r\x1b[K");
  }
}

function summary(o: DemoOptions, r: EchoReport, wallMs: number, gone: boolean, stall: string | undefined): string[] {
  const total = o.flows * o.bytes;
  const rtx = r.client.tcpRetransmits + r.server.tcpRetransmits;
  const fast = r.client.tcpFastRetransmits + r.server.tcpFastRetransmits;
  const rto = r.client.tcpRtoTimeouts + r.server.tcpRtoTimeouts;
  const l = r.link;
  const lost = l.aToB.lost + l.bToA.lost;
  const lines = [
    `l3l4 demo: ${o.flows} TCP flow${o.flows === 1 ? "" : "s"} x ${mib(o.bytes)} echoed between two engines (IPv${o.family}, MTU ${o.mtu}, ${o.cc})`,
    `  link        ${formatFaults(o.faults) || "no faults"}   seed ${o.seed}`,
    `  bytes       ${mib(r.bytesSent)} client -> server, ${mib(r.bytesEchoed)} echoed back, ${mib(r.bytesVerified)} verified`,
    `  wall clock  ${duration(wallMs)}   ${gbits(r.bytesVerified, wallMs)} each way (${gbits(r.bytesEchoed + r.bytesVerified, wallMs)} both)`,
    `  virtual     ${duration(r.virtualMs)}   ${gbits(r.bytesVerified, r.virtualMs)} each way`,
    `  segments    client ${r.client.tcpSegmentsOut} out / ${r.client.tcpSegmentsIn} in, server ${r.server.tcpSegmentsOut} out / ${r.server.tcpSegmentsIn} in`,
    `  retransmits ${rtx} (fast retransmits ${fast}, timeouts ${rto})`,
    `  link faults lost ${lost}, duplicated ${l.aToB.duplicated + l.bToA.duplicated}, reordered ${l.aToB.reordered + l.bToA.reordered}, corrupted ${l.aToB.corrupted + l.bToA.corrupted}, dropped (queue/mtu) ${l.aToB.droppedQueue + l.bToA.droppedQueue + l.aToB.droppedMtu + l.bToA.droppedMtu}`,
    `  drops       client: ${drops(r.client.drops)}; server: ${drops(r.server.drops)}`,
  ];
  const ok = EchoPair.ok(r) && gone && stall === undefined;
  if (ok) {
    lines.push(`  verification OK: ${mib(total)} echoed byte-exact on every flow; ${o.flows}/${o.flows} flows closed and gone on both engines`);
  } else {
    lines.push(`  verification FAILED (replay with --seed ${o.seed}):`);
    if (stall !== undefined) lines.push(`    ${stall}`);
    if (r.flowsVerified !== o.flows) lines.push(`    ${r.flowsVerified}/${o.flows} flows echoed completely and exactly`);
    if (r.handshakeFailures > 0) {
      lines.push(
        `    ${r.handshakeFailures} flow${r.handshakeFailures === 1 ? "" : "s"} never connected: SYN or SYN-ACK lost on every try until the 15 s handshake timeout (TCP doing its job on this much loss)`,
      );
    }
    if (!gone) lines.push(`    flows left: client ${r.client.flows}, server ${r.server.flows} (or TIME-WAIT records not expired)`);
    for (const p of r.problems.slice(0, 10)) lines.push(`    ${p}`);
    if (r.problems.length > 10) lines.push(`    ... ${r.problems.length - 10} more`);
  }
  return lines;
}

// ------------------------------------------------------------------------------------------------
// Run
// ------------------------------------------------------------------------------------------------

/** Where the demo writes: the summary, and the progress line (none: no progress line). */
export interface DemoOutput {
  log(line: string): void;
  progress: NodeJS.WriteStream | undefined;
}

/** Runs the demo and prints its summary; true when verification passed. */
export function runDemo(o: DemoOptions, out: DemoOutput = { log: (l) => console.log(l), progress: process.stderr }): boolean {
  const pair = new EchoPair({
    flows: o.flows,
    bytesPerFlow: o.bytes,
    family: o.family,
    mtu: o.mtu,
    seed: o.seed,
    faults: o.faults,
    congestion: o.cc,
  });
  const total = o.flows * o.bytes;
  const progress = out.progress === undefined ? undefined : new Progress(out.progress);
  const t0 = performance.now();
  pair.start();
  const stall = pair.runToCompletion(() => {
    const now = performance.now();
    progress?.update(now, () => {
      const c = pair.echoClient;
      const pct = ((100 * c.bytesVerified) / total).toFixed(1);
      return (
        `${pct.padStart(5)}%  ${mib(c.bytesVerified)} of ${mib(total)} echoed  ` +
        `flows done ${c.flowsGone}/${o.flows}  wall ${duration(now - t0)} ${gbits(c.bytesVerified, now - t0)}  ` +
        `virtual ${duration(pair.link.clock.now())}  rtx ${pair.client.stats().tcpRetransmits + pair.server.stats().tcpRetransmits}`
      );
    });
  });
  const wallMs = performance.now() - t0;
  progress?.done();
  // Closed is not gone: the closing side keeps a TIME-WAIT record for 60 s, which the clock skips.
  const gone = stall === undefined && pair.runUntilGone();
  const report = pair.report();
  const ok = EchoPair.ok(report) && gone && stall === undefined;
  for (const line of summary(o, report, wallMs, gone, stall)) out.log(line);
  return ok;
}

export const DEMO_COMMAND: Command = {
  name: "demo",
  summary: "two engines over an in-memory link echo TCP flows byte-exact (no root, no TUN)",
  usage: USAGE,
  run(argv, io) {
    const options = parseDemoArgs(argv);
    if (options === undefined) {
      io.log(USAGE);
      return Promise.resolve(0);
    }
    return Promise.resolve(runDemo(options, { log: io.log, progress: process.stderr }) ? 0 : 1);
  },
};
