/**
 * SYN flood figures (RFC 4987; issue 13), `npm run bench -- flood`:
 *
 * - heap growth for FLOOD_SYNS SYNs from random sources (random IPv4 address and port each, Linux's
 *   options), arriving at 160,000 a second of virtual time (timers run: SYN-ACKs are retransmitted,
 *   half-open flows time out after the handshake timeout), and the SYN rate (SYNs per wall second);
 * - whether a legitimate client connects in the middle of the flood and once it is in (SYN, SYN-ACK,
 *   ACK: ESTABLISHED?); past the SYN backlog its SYN-ACK carries a SYN cookie, and past the SYN
 *   budget (synCookieRate, tcp/syn-budget.ts) its SYN may be dropped: each client retries on Linux's
 *   schedule (1, 2, 4 s...; the flood goes on meanwhile) and the tries it took are printed; single
 *   legitimate SYNs among the flood's give the probability that one try is answered;
 * - an established flow's throughput (64 MiB between two engines) alone and with a flood of SYNs
 *   arriving between its packets (FLOOD_PER_ROUND per round of the wire, about one SYN per data
 *   segment; and a tenth of that, LIGHT_FLOOD_PER_ROUND), and per CPU second flooded over alone
 *   (the ratio the issue asks about: the engine is single-threaded, so the flow pays for the SYNs'
 *   CPU time); the line printed gives each flood's rate in SYNs per data segment and per CPU second.
 *
 * - the memory budget (maxMemory) under an out-of-order flood and a fragment flood (memory-flood.ts).
 *
 * The SYN-ACKs to the flood's sources go nowhere (as they would to spoofed addresses). Needs node
 * --expose-gc (npm run bench gives it). Stops early, and says so, if the heap grows past HEAP_CAP.
 */
import type { Callbacks, Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { clientTuple } from "../../lib/debug/echo-pair.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import type { L3L4 } from "../../lib/engine.js";
import { read32, write16, write32 } from "../../lib/wire/bytes.js";
import { checksum, pseudoSum4 } from "../../lib/wire/checksum.js";
import { fillTcpChecksum } from "../../lib/wire/tcp.js";
import { tcp } from "../support/packets.js";
import { Pipe } from "./engine.js";
import { memoryFloodRows } from "./memory-flood.js";
import { FULL, isMain, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";

export const FLOOD_SYNS = 1_000_000;
/** Smoke (spec/bench/smoke.spec.ts): tiny, to show the bench still runs. */
const SMOKE_SYNS = 2_000;
const SMOKE_BULK_BYTES = 256 * 1024;
/** The smoke's SYN backlog: half its SYNs, so it takes the cookie path too (the full flood keeps the default). */
export const SMOKE_SYN_BACKLOG = 1_000;
/** The flood's arrival rate in virtual time: the engine's SYN rate the issue measured. */
const SYNS_PER_VIRTUAL_SECOND = 160_000;
const HEAP_CAP = 1536 * 1024 * 1024;
/** About one SYN per data segment of the bulk flow (a wire round carries ~180 segments). */
const FLOOD_PER_ROUND = 200;
/** A tenth of it: about one SYN per ten data segments. */
const LIGHT_FLOOD_PER_ROUND = 20;
const BULK_RUNS = 3;
const BULK_BYTES = 64 * 1024 * 1024;
const SERVER = "192.0.2.80";

type Gc = () => void;

function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A SYN as Linux sends it, to be stamped with a source per SYN. */
export class SynStamp {
  readonly packet = tcp({ src: "198.18.0.1", dst: SERVER, srcPort: 1024, dstPort: 443, flags: "S", seq: 1, options: { mss: 1460, sackPermitted: true, timestamps: [1, 0], windowScale: 7 } });
  private x = 0x2545f491;

  /** The next SYN: a fresh random source address, port and ISN, checksums recomputed. */
  next(): Uint8Array {
    const p = this.packet;
    const r = (): number => {
      this.x ^= this.x << 13;
      this.x ^= this.x >>> 17;
      this.x ^= this.x << 5;
      return this.x >>> 0;
    };
    // Sources in 100.64.0.0/10 (shared address space: never the server's, never a legitimate client's).
    write32(p, 12, (0x6440_0000 | (r() & 0x003f_ffff)) >>> 0);
    write16(p, 20, 1024 + (r() % 64_000));
    write32(p, 24, r());
    write16(p, 10, 0);
    write16(p, 10, checksum(p, 0, 20));
    fillTcpChecksum(p, 20, p.length - 20, pseudoSum4(p, 0, 6, p.length - 20));
    return p;
  }
}

/** Callbacks that keep the last packet sent (for the legitimate client's handshake) and count them. */
class Sink implements Callbacks<Uint8Array> {
  private readonly out = new Uint8Array(2048);
  sent = 0;
  last: Uint8Array = new Uint8Array(0);
  l3TxBuffer(): Uint8Array {
    return this.out;
  }
  l3TxBufferMut(b: Uint8Array): Uint8Array {
    return b;
  }
  l3Tx(b: Uint8Array, length: number): void {
    this.sent++;
    this.last = b.subarray(0, length);
  }
  l4Rx(): void {}
}

/** The same for an engine on buffer ids (the Pipe's): everything it sends is dropped. */
class DropSink implements Callbacks<number> {
  private readonly out = new Uint8Array(2048);
  l3TxBuffer(): number {
    return 0;
  }
  l3TxBufferMut(): Uint8Array {
    return this.out;
  }
  l3Tx(): void {}
  l4Rx(): void {}
}

interface FloodResult {
  syns: number;
  seconds: number;
  heapGrowth: number;
  flowCount: number;
  stoppedEarly: boolean;
  /** A legitimate client that starts half-way through the flood (retrying as Linux does), and one that starts as it ends. */
  during: ClientResult;
  legitimate: ClientResult;
  /** Single legitimate SYNs sent among the flood's once the backlog is full, and how many got a SYN-ACK. */
  probes: number;
  probesAnswered: number;
  /** SYNs the SYN budget dropped (stats().tcpSynsOverBudget; 0 before it existed). */
  overBudget: number;
}

/**
 * Linux's SYN retransmission schedule (RFC 6298 §5.5 back-off from the 1 s initial RTO, §2.1):
 * tcp_syn_retries 6 sends at 0, 1, 3, 7, 15, 31 and 63 s and gives up at 127 s.
 */
export const LINUX_SYN_TRIES_MS = [0, 1000, 3000, 7000, 15_000, 31_000, 63_000] as const;
/** One legitimate SYN every PROBE_EVERY flood SYNs (odd: the probes fall at every phase of the flood). */
const PROBE_EVERY = 1601;

interface ClientResult {
  /** The SYN that got a SYN-ACK and completed (1-based), 0 if none of the seven did. */
  tries: number;
  /** Seconds from its first SYN to the one that connected. */
  seconds: number;
  /** What the last try got. */
  answer: string;
}

const describeClient = (c: ClientResult): string => (c.tries > 0 ? `connected at try ${c.tries} (${c.seconds} s)` : `not connected in ${LINUX_SYN_TRIES_MS.length} tries (${c.answer})`);

/** One SYN of a legitimate client from `port`, the engine's answer, and (for a SYN-ACK) the ACK. */
function legitimateTry(engine: L3L4<Uint8Array>, cb: Sink, port: number, complete = true): string {
  const segment = (flags: string, seq: number, ack: number) =>
    tcp({ src: "203.0.113.9", dst: SERVER, srcPort: port, dstPort: 443, flags, seq, ack, options: flags === "S" ? { mss: 1460 } : {} });
  const sentBefore = cb.sent;
  engine.l3Rx(cb, segment("S", 1000, 0));
  if (cb.sent === sentBefore) return "no answer";
  if ((cb.last[33]! & 0x12) === 0x12) {
    if (!complete) return "SYN-ACK";
    const iss = read32(cb.last, 24);
    const flow: Flow | undefined = engine.l3Rx(cb, segment("A", 1001, (iss + 1) >>> 0));
    return flow !== undefined && engine.l4State(flow) === "ESTABLISHED" ? "connected" : "SYN-ACK, then not established";
  }
  return (cb.last[33]! & 0x04) !== 0 ? "refused (RST)" : "other answer";
}

/** A legitimate client retrying its SYN on Linux's schedule from `start` (virtual ms). */
class RetryingClient {
  private next = 0;
  result: ClientResult | undefined;
  private answer = "";

  constructor(
    private readonly port: number,
    private readonly start: number,
  ) {}

  /** When its next SYN is due (virtual ms); Infinity once it is done. */
  get due(): number {
    return this.result === undefined ? this.start + LINUX_SYN_TRIES_MS[this.next]! : Infinity;
  }

  /** Send the SYN that is due. */
  attempt(engine: L3L4<Uint8Array>, cb: Sink): void {
    this.answer = legitimateTry(engine, cb, this.port);
    const tries = ++this.next;
    if (this.answer === "connected") this.result = { tries, seconds: LINUX_SYN_TRIES_MS[tries - 1]! / 1000, answer: this.answer };
    else if (tries === LINUX_SYN_TRIES_MS.length) this.result = { tries: 0, seconds: Infinity, answer: this.answer };
  }
}

/**
 * `syns` SYNs into one engine at 160k per virtual second (the clock moves with every SYN, as a real
 * clock would under an even flood), a legitimate client half-way through and one at the end; both
 * retry on Linux's schedule, after the flood on a quiet engine.
 */
function flood(gc: Gc, syns: number, synBacklog: number | undefined): FloodResult {
  const clock = new VirtualClock(0);
  const builder = new L3L4Builder<Uint8Array>().clock(clock.now);
  if (synBacklog !== undefined) builder.synBacklog(synBacklog);
  const backlog = synBacklog ?? 4096;
  const engine: L3L4<Uint8Array> = builder.build();
  const cb = new Sink();
  const stamp = new SynStamp();
  gc();
  gc();
  const before = heapBytes();
  const perMs = SYNS_PER_VIRTUAL_SECOND / 1000;
  const t0 = process.hrtime.bigint();
  let i = 0;
  let stoppedEarly = false;
  let probes = 0;
  let probesAnswered = 0;
  const during = new RetryingClient(5554, (syns >> 1) / perMs);
  for (; i < syns; i++) {
    const now = i / perMs;
    clock.set(now);
    if (now >= during.due) during.attempt(engine, cb);
    if (i > backlog && i % PROBE_EVERY === 0) {
      probes++;
      if (legitimateTry(engine, cb, 10_000 + (probes % 50_000), false) === "SYN-ACK") probesAnswered++;
    }
    engine.l3Rx(cb, stamp.next());
    if (i % perMs === perMs - 1) engine.l4Poll(cb);
    if ((i & 0xffff) === 0 && heapBytes() - before > HEAP_CAP) {
      stoppedEarly = true;
      break;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  gc();
  gc();
  const heapGrowth = heapBytes() - before;
  const flowCount = engine.flowCount;
  const overBudget = (engine.stats() as { tcpSynsOverBudget?: number }).tcpSynsOverBudget ?? 0;
  // The flood is over: the clients' remaining tries on the quiet engine (its timers run meanwhile).
  const after = new RetryingClient(5555, clock.now());
  for (let guard = 0; guard < 2 * LINUX_SYN_TRIES_MS.length; guard++) {
    const client = during.due <= after.due ? during : after;
    if (client.due === Infinity) break;
    if (client.due > clock.now()) clock.set(client.due);
    engine.l4Poll(cb);
    client.attempt(engine, cb);
  }
  return { syns: i, seconds, heapGrowth, flowCount, stoppedEarly, during: during.result!, legitimate: after.result!, probes, probesAnswered, overBudget };
}

/**
 * Gbit/s for `bytes` on one flow between two engines, with `floodPerRound` SYNs into B per round of
 * the wire; `segments`: the data segments B received; `cpuNs`: the process's CPU time for it (a
 * figure the other helpers on a shared machine disturb less than the wall clock).
 */
export function bulk(
  floodPerRound: number,
  bytes: number,
): { gbits: number; syns: number; segments: number; cpuNs: number; cookies: number; overBudget: number } {
  let received = 0;
  let sent = 0;
  let flow: Flow | undefined;
  const data = new Uint8Array(65536).map((_, i) => i & 255);
  const pump = (): void => {
    if (flow === undefined) return;
    while (sent < bytes) {
      const n = pipe.a.l4Tx(pipe.cbA, flow, data.subarray(0, Math.min(data.length, bytes - sent))) ?? 0;
      sent += n;
      if (n === 0) return;
    }
  };
  const pipe: Pipe = new Pipe(
    (b) => b,
    { l4Rx: () => {}, l4Accept: () => false, l4TxReady: pump },
    {
      l4Rx: (_f, d) => {
        if (d !== null) received += d.length;
      },
    },
  );
  // B's answers to the flood (SYN-ACKs and their retransmissions) go to the flood's sources, not to A.
  const tuple = clientTuple(4, 0);
  const a = tuple.srcIp.split(".").reduce((n, x) => n * 256 + Number(x), 0) >>> 0;
  pipe.toAFilter = (packet) => read32(packet, 16) === a;
  const floodCb = new DropSink();
  const stamp = new SynStamp();
  const server = tuple.dstIp;
  stamp.packet.set(server.split(".").map(Number), 16);
  let syns = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  flow = pipe.a.l4Connect(pipe.cbA, tuple);
  pump();
  const ok = pipe.run(
    () => received >= bytes,
    () => {
      for (let k = 0; k < floodPerRound; k++) pipe.b.l3Rx(floodCb, stamp.next());
      syns += floodPerRound;
    },
  );
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  if (!ok) throw new Error(`flood bench: bulk stalled at ${received} of ${bytes} bytes (flood ${floodPerRound}/round)`);
  const st = pipe.b.stats();
  // tcpSynsOverBudget: 0 on an engine without the SYN budget (a baseline build).
  const overBudget = (st as { tcpSynsOverBudget?: number }).tcpSynsOverBudget ?? 0;
  return { gbits: (bytes * 8) / ns, syns, segments: st.tcpSegmentsIn - syns, cpuNs: (cpu.user + cpu.system) * 1000, cookies: st.tcpSynCookiesSent, overBudget };
}

const FLOOD_METHOD = "1 run of the flood (a million SYNs; stopped early past 1.5 GiB of heap)";
const MEMORY_METHOD = "1 run of each flood, heap after a full GC with the flows open";
const BULK_METHOD = `median of ${BULK_RUNS} runs, alone and flooded in turns`;

/** `smoke`: a few thousand SYNs and 256 KiB of bulk, once (the figures mean nothing). */
export async function benchFlood(o: BenchOptions = FULL, syns = o.smoke ? SMOKE_SYNS : FLOOD_SYNS): Promise<Row[]> {
  const floodMethod = o.smoke ? SMOKE_METHOD : FLOOD_METHOD;
  const one = (name: string, unit: string, value: number): Row => ({ group: "flood", name, value, unit, runs: [value], method: floodMethod });
  const bulkMethod = o.smoke ? SMOKE_METHOD : BULK_METHOD;
  const gc = (globalThis as { gc?: Gc }).gc;
  if (gc === undefined) {
    console.log("flood bench skipped: needs node --expose-gc");
    return [];
  }
  const r = flood(gc, syns, o.smoke ? SMOKE_SYN_BACKLOG : undefined);
  const mib = r.heapGrowth / (1024 * 1024);
  const perTry = r.probes > 0 ? r.probesAnswered / r.probes : NaN;
  console.log(
    `flood: ${r.syns} SYNs in ${r.seconds.toFixed(1)} s${r.stoppedEarly ? ` (stopped early: heap past ${HEAP_CAP >> 20} MiB)` : ""}; ` +
      `heap +${mib.toFixed(1)} MiB (${Math.round(r.heapGrowth / r.syns)} B/SYN), ${r.flowCount} flows, ${r.overBudget} SYNs over the SYN budget; ` +
      `legitimate SYNs answered during it ${r.probesAnswered} of ${r.probes}; a legitimate client during it: ${describeClient(r.during)}, after it: ${describeClient(r.legitimate)}`,
  );
  // Alone and flooded (heavy, light) in turns, BULK_RUNS each: the medians; the CPU ratio of each pair.
  const alone: number[] = [];
  const flooded: number[] = [];
  const light: number[] = [];
  const ratio: number[] = [];
  const lightRatio: number[] = [];
  const rates: string[] = [];
  const bulkBytes = o.smoke ? SMOKE_BULK_BYTES : BULK_BYTES;
  // Warm-up (the JIT), both paths: else the first pair's ratio measures compilation.
  if (!o.smoke) for (const per of [0, FLOOD_PER_ROUND]) bulk(per, 8 << 20);
  for (let k = 0; k < (o.smoke ? 1 : BULK_RUNS); k++) {
    const a = bulk(0, bulkBytes);
    alone.push(a.gbits);
    for (const [per, gbits, ratios] of [[FLOOD_PER_ROUND, flooded, ratio], [LIGHT_FLOOD_PER_ROUND, light, lightRatio]] as const) {
      const f = bulk(per, bulkBytes);
      gbits.push(f.gbits);
      ratios.push(a.cpuNs / f.cpuNs);
      if (k === 0) rates.push(`${f.syns} SYNs (${(f.syns / a.segments).toFixed(2)} a data segment, ${((f.syns / f.cpuNs) * 1e6).toFixed(0)} k/s of CPU)`);
    }
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join("/");
  console.log(
    `flood: bulk ${fmt(alone)} Gbit/s alone; with ${rates[0]} during the ${bulkBytes / (1 << 20)} MiB ${fmt(flooded)} Gbit/s, ` +
      `per CPU second ${fmt(ratio)} of alone; with ${rates[1]} ${fmt(light)} Gbit/s, per CPU second ${fmt(lightRatio)} of alone`,
  );
  const memoryRows = memoryFloodRows(gc, o.smoke, o.smoke ? SMOKE_METHOD : MEMORY_METHOD);
  return [
    ...memoryRows,
    // Per million SYNs, so the row's name (its key for --baseline and --against) stays the same
    // when the heap cap stops a flood early; the line above gives the count.
    one("heap growth per 1 M SYNs from random sources", "MiB", (mib * 1e6) / r.syns),
    one("SYN rate", "SYN/s", r.syns / r.seconds),
    one("flows after the flood", "flows", r.flowCount),
    // Within Linux's seven SYNs (127 s); the tries and the time it took in the line above and below.
    one("legitimate client connects during the flood (1 = yes)", "bool", r.during.tries > 0 ? 1 : 0),
    one("legitimate client connects after the flood (1 = yes)", "bool", r.legitimate.tries > 0 ? 1 : 0),
    one("legitimate client's SYNs to connect, starting half-way through the flood", "tries", r.during.tries),
    one("legitimate SYN answered during the flood (probability per try)", "ratio", perTry),
    one("SYNs dropped over the SYN budget", "SYNs", r.overBudget),
    { group: "flood", name: "bulk throughput alone", value: med(alone), unit: "Gbit/s", runs: alone, method: bulkMethod },
    { group: "flood", name: `bulk throughput, ${FLOOD_PER_ROUND} SYNs per wire round`, value: med(flooded), unit: "Gbit/s", runs: flooded, method: bulkMethod },
    { group: "flood", name: `bulk throughput, ${LIGHT_FLOOD_PER_ROUND} SYNs per wire round`, value: med(light), unit: "Gbit/s", runs: light, method: bulkMethod },
    { group: "flood", name: `bulk per CPU second flooded over alone, ${FLOOD_PER_ROUND} SYNs per wire round`, value: med(ratio), unit: "ratio", runs: ratio, method: bulkMethod },
    { group: "flood", name: `bulk per CPU second flooded over alone, ${LIGHT_FLOOD_PER_ROUND} SYNs per wire round`, value: med(lightRatio), unit: "ratio", runs: lightRatio, method: bulkMethod },
  ];
}

if (isMain(import.meta.url)) {
  const rows = await benchFlood(FULL, Number(process.argv[2] ?? FLOOD_SYNS));
  for (const row of rows) console.log(`${row.name}: ${row.value.toFixed(2)} ${row.unit}`);
}
