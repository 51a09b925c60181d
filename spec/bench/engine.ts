/**
 * Engine benches: whole engines, not parts.
 *
 * - bulk TCP throughput between two engines (one flow, 64 MiB at MTU 1500 and 256 MiB at MTU 65535,
 *   default 256 KiB buffers), from l4Connect to the last byte delivered;
 * - the cost of l3Rx for one in-order 1448-byte data segment on an established flow with nothing held
 *   (parse, checksum, state machine, delivery to l4Rx straight from the packet's bytes: the zero-copy
 *   fast path, no receive-buffer copy; an ACK every second segment), as ns and packets/s;
 * - handshakes per second: connect, accept, 64 bytes each way, close, 64 connections in flight;
 * - heap per idle established flow, 10,000 flows open on each of two engines (needs node --expose-gc).
 *
 * The engines are joined by `Pipe`, a zero-fault in-memory wire that hands each packet's buffer
 * straight to the other engine (no copy, no fault dice: unlike lib/debug/link.ts it costs almost
 * nothing, so the figures are the engines'). Time is virtual: when nothing is in flight, the clock
 * jumps to the next timer. Each figure: harness.ts MACRO_METHOD (the l3Rx figure: MICRO_METHOD).
 */
import type { Callbacks, Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import type { L3L4 } from "../../lib/engine.js";
import { clientTuple } from "../../lib/debug/echo-pair.js";
import { l3RxLoop } from "./ab-l3rx-side.js";
import { consume, figure, FULL, MACRO_METHOD, MICRO_METHOD, nsPerOp, row, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";

type Handlers = Pick<Callbacks<number>, "l4Rx" | "l4Accept" | "l4TxReady" | "l4RemoteClosed">;

// ------------------------------------------------------------------------------------------------
// The wire
// ------------------------------------------------------------------------------------------------

/** Packets in flight to one side: buffer ids and lengths, first in first out. */
class Inbox {
  ids: number[] = [];
  lengths: number[] = [];
  head = 0;
  get size(): number {
    return this.ids.length - this.head;
  }
  push(id: number, length: number): void {
    this.ids.push(id);
    this.lengths.push(length);
  }
  reset(): void {
    this.ids.length = 0;
    this.lengths.length = 0;
    this.head = 0;
  }
}

/** The builder of every engine this module makes (spec/bench/ab-engine.ts gives another build's). */
let newBuilder = (): L3L4Builder<number> => new L3L4Builder<number>();

/** Make this module's engines with another build's builder (an A/B of two builds, ab-engine.ts). */
export function useBuilder(make: () => L3L4Builder<number>): void {
  newBuilder = make;
}

/** Nanoseconds on the bench's clock: wall time, or this process's CPU time (`useClock`). */
const WALL_ORIGIN = process.hrtime.bigint();
const wallNs = (): number => Number(process.hrtime.bigint() - WALL_ORIGIN);
/** User plus system CPU time of this process, every thread (the GC's helpers too), in ns (µs resolution). */
export const cpuNs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
let clockNs = wallNs;

/**
 * Which clock the timed figures (bulk, handshakes) divide by: "wall" (the default, the bench's
 * figures) or "cpu", this process's user+system CPU time, which other processes' load on the machine
 * does not stretch (the A/B tools use it).
 */
export function useClock(kind: "wall" | "cpu"): void {
  clockNs = kind === "cpu" ? cpuNs : wallNs;
}

export class Pipe {
  readonly clock = new VirtualClock(0);
  readonly a: L3L4<number>;
  readonly b: L3L4<number>;
  readonly cbA: Callbacks<number>;
  readonly cbB: Callbacks<number>;
  private bufs: Uint8Array[] = [];
  private free: number[] = [];
  private readonly toA = new Inbox();
  private readonly toB = new Inbox();
  /** When set, what B sends reaches A only if this says so (the rest went elsewhere: the flood bench). */
  toAFilter: ((packet: Uint8Array, length: number) => boolean) | undefined;

  constructor(configure: (b: L3L4Builder<number>) => L3L4Builder<number>, handlersA: Handlers, handlersB: Handlers) {
    this.a = configure(newBuilder().clock(this.clock.now)).build();
    this.b = configure(newBuilder().clock(this.clock.now)).build();
    this.cbA = this.callbacks(this.toB, handlersA);
    this.cbB = this.callbacks(this.toA, handlersB);
  }

  private callbacks(peer: Inbox, h: Handlers): Callbacks<number> {
    return {
      l3TxBuffer: (size) => {
        let id = this.free.pop();
        if (id === undefined) {
          id = this.bufs.length;
          this.bufs.push(new Uint8Array(Math.max(size, 2048)));
        } else if (this.bufs[id]!.length < size) {
          this.bufs[id] = new Uint8Array(size);
        }
        return id;
      },
      l3TxBufferMut: (id) => this.bufs[id]!,
      l3Tx: (id, length) => {
        if (peer === this.toA && this.toAFilter !== undefined && !this.toAFilter(this.bufs[id]!, length)) this.free.push(id);
        else peer.push(id, length);
      },
      l4Rx: h.l4Rx,
      l4Accept: h.l4Accept,
      l4TxReady: h.l4TxReady,
      l4RemoteClosed: h.l4RemoteClosed,
    };
  }

  private deliver(inbox: Inbox, engine: L3L4<number>, cb: Callbacks<number>): void {
    // Only what is queued now: answers the engine sends meanwhile wait for the next round.
    const end = inbox.ids.length;
    while (inbox.head < end) {
      const id = inbox.ids[inbox.head]!;
      const length = inbox.lengths[inbox.head]!;
      inbox.head++;
      engine.l3Rx(cb, this.bufs[id]!.subarray(0, length));
      this.free.push(id);
    }
    if (inbox.head === inbox.ids.length) inbox.reset();
  }

  /**
   * Move packets until `done()` holds; `eachRound` runs between rounds (to open more flows). When
   * nothing is in flight the engines are polled and the clock jumps to the next timer. Returns
   * done(), false if everything went quiet first or `maxRounds` passed.
   */
  run(done: () => boolean, eachRound?: () => void, maxRounds = 50_000_000): boolean {
    for (let round = 0; round < maxRounds; round++) {
      if (done()) return true;
      eachRound?.();
      if (this.toA.size === 0 && this.toB.size === 0) {
        const da = this.a.l4Poll(this.cbA);
        const db = this.b.l4Poll(this.cbB);
        if (this.toA.size === 0 && this.toB.size === 0) {
          const next = Math.min(da ?? Infinity, db ?? Infinity);
          if (next === Infinity) return done();
          if (next > this.clock.now()) this.clock.set(next);
          continue;
        }
      }
      this.deliver(this.toB, this.b, this.cbB);
      this.deliver(this.toA, this.a, this.cbA);
    }
    return done();
  }

  /** Nothing in flight. */
  get idle(): boolean {
    return this.toA.size === 0 && this.toB.size === 0;
  }

  /** Forget the buffers not in use (before measuring the heap). */
  trim(): void {
    for (const id of this.free) this.bufs[id] = new Uint8Array(0);
  }
}

// ------------------------------------------------------------------------------------------------
// Measuring
// ------------------------------------------------------------------------------------------------

function bench(what: string): never {
  throw new Error(`engine bench: ${what}`);
}

const STREAM = new Uint8Array(65536).map((_, i) => (i * 131 + 7) & 0xff);

// ------------------------------------------------------------------------------------------------
// Bulk TCP: one flow, client to server
// ------------------------------------------------------------------------------------------------

/** Gbit/s of wall-clock time for `bytes` from l4Connect to the last byte delivered. */
export function bulkOnce(mtu: number, bytes: number): number {
  let received = 0;
  let flow: Flow | undefined;
  let sent = 0;
  let closed = false;
  const pump = (): void => {
    if (flow === undefined) return;
    while (sent < bytes) {
      const n = pipe.a.l4Tx(pipe.cbA, flow, STREAM.subarray(0, Math.min(STREAM.length, bytes - sent))) ?? 0;
      sent += n;
      if (n === 0) return;
    }
    if (!closed) {
      closed = true;
      pipe.a.l4LocalClose(pipe.cbA, flow);
    }
  };
  const pipe: Pipe = new Pipe(
    (b) => b.mtu(mtu),
    { l4Rx: () => {}, l4Accept: () => false, l4TxReady: pump },
    {
      l4Rx: (f, data) => {
        if (data !== null) received += data.length;
      },
      l4RemoteClosed: (f) => pipe.b.l4LocalClose(pipe.cbB, f),
    },
  );
  const t0 = clockNs();
  flow = pipe.a.l4Connect(pipe.cbA, clientTuple(4, 0));
  pump();
  if (!pipe.run(() => received >= bytes)) bench(`bulk at MTU ${mtu} stalled after ${received} of ${bytes} bytes`);
  const ns = clockNs() - t0;
  if (received !== bytes) bench(`bulk delivered ${received} of ${bytes} bytes`);
  return (bytes * 8) / ns;
}

// ------------------------------------------------------------------------------------------------
// l3Rx of one in-order data segment
// ------------------------------------------------------------------------------------------------

const PAYLOAD = 1448;

/** ns per l3Rx of an in-order 1448-byte segment (IPv4, timestamps) on an established flow. */
function l3RxRows(o: BenchOptions): Row[] {
  // The handshake (SYN in, SYN-ACK out, ACK in), then one data segment rewritten in place: its
  // sequence number (and the checksum, RFC 1624) per call (ab-l3rx-side.ts, shared with the A/B).
  const loop = l3RxLoop({ L3L4Builder });
  const op = loop.step;
  const before = loop.delivered();
  for (let i = 0; i < 100; i++) op();
  if (loop.delivered() - before !== 100 * PAYLOAD) bench(`l3Rx setup: ${loop.delivered() - before} bytes delivered, stats ${JSON.stringify(loop.drops())}`);
  const deliveredBefore = loop.delivered();
  const segmentsBefore = loop.segments();
  const m = nsPerOp(op, 100, o);
  // Every segment was accepted in order and delivered.
  if (loop.delivered() - deliveredBefore < (loop.segments() - segmentsBefore) * PAYLOAD - PAYLOAD) bench("l3Rx: segments were not all delivered");
  const how = o.smoke ? SMOKE_METHOD : MICRO_METHOD;
  return [
    row("engine", "l3Rx TCP data segment (1448 B, in order, zero-copy delivery, ACK every 2nd)", "ns/pkt", m, how),
    row("engine", "l3Rx TCP data segment: packets per second", "Mpkt/s", { median: 1e3 / m.median, runs: m.runs.map((ns) => 1e3 / ns) }, how),
  ];
}

// ------------------------------------------------------------------------------------------------
// Handshakes per second
// ------------------------------------------------------------------------------------------------

const REQUEST = STREAM.subarray(0, 64);

/** Connections per second of wall-clock time: connect, accept, 64 B each way, close; `inFlight` at once. */
export function handshakesOnce(count: number, inFlight: number): number {
  let opened = 0;
  let clientGone = 0;
  let serverGone = 0;
  let replies = 0;
  const pipe: Pipe = new Pipe(
    (b) => b,
    {
      l4Accept: () => false,
      l4Rx: (_f, data) => {
        if (data === null) clientGone++;
        else replies++;
      },
      l4RemoteClosed: (f) => pipe.a.l4LocalClose(pipe.cbA, f),
    },
    {
      l4Rx: (f, data) => {
        if (data === null) {
          serverGone++;
          return;
        }
        // The reply, then close: the server side ends in TIME-WAIT, as a web server's does.
        pipe.b.l4Tx(pipe.cbB, f, REQUEST);
        pipe.b.l4LocalClose(pipe.cbB, f);
      },
    },
  );
  const open = (): void => {
    while (opened < count && opened - clientGone < inFlight) {
      const flow = pipe.a.l4Connect(pipe.cbA, clientTuple(4, opened++));
      pipe.a.l4Tx(pipe.cbA, flow, REQUEST);
    }
  };
  const t0 = clockNs();
  const ok = pipe.run(() => clientGone === count && serverGone === count, open);
  const ns = clockNs() - t0;
  if (!ok || replies !== count) bench(`handshakes: ${clientGone}/${serverGone} of ${count} closed, ${replies} replies`);
  return (count * 1e9) / ns;
}

// ------------------------------------------------------------------------------------------------
// Heap per idle established flow
// ------------------------------------------------------------------------------------------------

type Gc = () => void;

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes of heap (JS heap + array buffers) per established flow per engine, `n` idle flows on each. */
export function heapOnce(gc: Gc, n: number): number {
  const pipe = new Pipe((b) => b, { l4Rx: () => {}, l4Accept: () => false }, { l4Rx: () => {} });
  // Warm the pipe's buffers and both engines' lazily made parts with one flow first.
  pipe.a.l4Connect(pipe.cbA, clientTuple(4, n));
  pipe.run(() => pipe.idle && pipe.b.flowCount === 1);
  pipe.trim();
  gc();
  gc();
  const m0 = memory();
  for (let i = 0; i < n; ) {
    // In batches, so that few packets (and pipe buffers) are in flight at once.
    for (const end = Math.min(n, i + 100); i < end; i++) pipe.a.l4Connect(pipe.cbA, clientTuple(4, i));
    if (!pipe.run(() => pipe.idle)) bench("heap: handshakes stalled");
  }
  if (pipe.a.flowCount !== n + 1 || pipe.b.flowCount !== n + 1) bench(`heap: ${pipe.a.flowCount}/${pipe.b.flowCount} flows of ${n + 1}`);
  for (const s of [pipe.a.stats(), pipe.b.stats()]) if (s.tcpFlowsClosed !== 0) bench("heap: flows closed");
  pipe.trim();
  gc();
  gc();
  const m1 = memory();
  consume(pipe.a.flowCount + pipe.b.flowCount);
  return (m1 - m0) / (2 * n);
}

// ------------------------------------------------------------------------------------------------

/** Smoke sizes are tiny: the point is that every bench still runs. */
export async function benchEngine(o: BenchOptions = FULL): Promise<Row[]> {
  const how = o.smoke ? SMOKE_METHOD : MACRO_METHOD;
  const mb = (n: number): number => (o.smoke ? 256 << 10 : n << 20);
  const rows: Row[] = [];
  rows.push(row("engine", "bulk TCP, 1 flow, MTU 1500", "Gbit/s", figure(() => bulkOnce(1500, mb(64)), o), how));
  rows.push(row("engine", "bulk TCP, 1 flow, MTU 65535", "Gbit/s", figure(() => bulkOnce(65535, mb(256)), o), how));
  rows.push(...l3RxRows(o));
  rows.push(
    row("engine", "handshakes: connect, accept, 64 B each way, close (64 at once)", "conn/s", figure(() => handshakesOnce(o.smoke ? 100 : 10_000, 64), o), how),
  );
  const gc = (globalThis as { gc?: Gc }).gc;
  if (gc === undefined) {
    console.error("engine bench: heap per flow skipped: run node with --expose-gc");
  } else {
    const flows = o.smoke ? 100 : 10_000;
    rows.push(row("engine", `heap per idle established flow (${flows.toLocaleString("en")} flows each engine)`, "B/flow", figure(() => heapOnce(gc, flows), o), how));
  }
  return rows;
}
