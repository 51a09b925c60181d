/**
 * Memory-budget figures (maxMemory, issue 13), part of `npm run bench -- flood`: heap growth and the
 * engine's accounted memory (stats().memoryInUse, and its peak during the flood) under
 *
 * - an out-of-order flood: OOO_FLOWS established flows, each sent OOO_SEGMENTS 1400-byte segments
 *   beyond a hole (never filled), so every one would be held;
 * - a fragment flood: FRAG_SOURCES sources, each sending first fragments (1480 bytes) of datagrams
 *   that never complete;
 *
 * each without a budget and with one (16 MiB; 256 KiB for fragments, which maxReassemblies already
 * bounds to 256 datagrams). Heap is measured after a full GC with the flows still open.
 */
import type { Callbacks, Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { read32 } from "../../lib/wire/bytes.js";
import { fragment, tcp, udp } from "../support/packets.js";
import type { Row } from "./harness.js";

const BUDGET = 16 * 1024 * 1024;
/** The fragment flood's budget: below what maxReassemblies (256 datagrams) already bounds, so it bites. */
const FRAGMENT_BUDGET = 256 * 1024;
const SIZES = { full: { flows: 2000, segments: 32, sources: 2000, fragments: 20 }, smoke: { flows: 20, segments: 4, sources: 20, fragments: 2 } };

type Gc = () => void;

function heap(gc: Gc): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface Result {
  heapGrowth: number;
  accounted: number;
  peak: number;
  dropped: number;
}

function engineWith(maxMemory: number) {
  const clock = new VirtualClock(1000);
  const engine = new L3L4Builder<Uint8Array>().clock(clock.now).maxMemory(maxMemory).build();
  const tx = new Uint8Array(2048);
  const cb: Callbacks<Uint8Array> = { l3TxBuffer: () => tx, l3TxBufferMut: (b) => b, l3Tx: () => {}, l4Rx: () => {} };
  return { engine, cb, tx };
}

function oooFlood(gc: Gc, maxMemory: number, flows: number, segments: number): Result {
  const { engine, cb, tx } = engineWith(maxMemory);
  const payload = new Uint8Array(1400).fill(7);
  const open: Flow[] = [];
  let peak = 0;
  const before = heap(gc);
  for (let i = 0; i < flows; i++) {
    const peer = { src: `10.${(i >> 8) & 255}.${i & 255}.9`, dst: "198.51.100.7", srcPort: 10000 + i, dstPort: 443 };
    engine.l3Rx(cb, tcp({ ...peer, seq: 1000, flags: "S", options: { mss: 1460, sackPermitted: true, windowScale: 7 } }));
    const ack = (read32(tx, 24) + 1) >>> 0;
    const flow = engine.l3Rx(cb, tcp({ ...peer, seq: 1001, ack, flags: "A", window: 512 }));
    if (flow !== undefined) open.push(flow);
    for (let k = 1; k <= segments; k++) {
      engine.l3Rx(cb, tcp({ ...peer, seq: 1001 + k * 2 * 1460, ack, flags: "A", payload }));
      const used = engine.stats().memoryInUse;
      if (used > peak) peak = used;
    }
  }
  const growth = heap(gc) - before;
  const s = engine.stats();
  for (const f of open) engine.l4Abort(cb, f);
  return { heapGrowth: growth, accounted: s.memoryInUse, peak, dropped: s.memoryDroppedOutOfOrder };
}

function fragmentFlood(gc: Gc, maxMemory: number, sources: number, perSource: number): Result {
  const { engine, cb } = engineWith(maxMemory);
  let peak = 0;
  const before = heap(gc);
  for (let i = 0; i < sources; i++) {
    for (let k = 0; k < perSource; k++) {
      const big = udp({ src: `10.${(i >> 8) & 255}.${i & 255}.5`, dst: "198.51.100.7", srcPort: 5000, dstPort: 53, payload: new Uint8Array(3000) });
      engine.l3Rx(cb, fragment(big, 1480, k)[0]!);
      const used = engine.stats().memoryInUse;
      if (used > peak) peak = used;
    }
  }
  const growth = heap(gc) - before;
  const s = engine.stats();
  return { heapGrowth: growth, accounted: s.memoryInUse, peak, dropped: s.memoryDroppedFragments };
}

/** The rows: heap growth (may be any sign in a smoke run), accounted memory and its peak, per flood and budget. */
export function memoryFloodRows(gc: Gc, smoke: boolean, method: string): Row[] {
  const z = smoke ? SIZES.smoke : SIZES.full;
  const rows: Row[] = [];
  const mib = (b: number) => b / (1024 * 1024);
  const add = (what: string, budget: string, r: Result) => {
    console.log(
      `memory: ${what}, ${budget}: heap +${mib(r.heapGrowth).toFixed(2)} MiB, accounted ${mib(r.accounted).toFixed(2)} MiB (peak ${mib(r.peak).toFixed(2)}), ${r.dropped} dropped for memory`,
    );
    const row = (name: string, value: number): Row => ({ group: "flood", name, value, unit: "MiB", runs: [value], method });
    rows.push(row(`heap growth under ${what}, ${budget}`, mib(r.heapGrowth)), row(`accounted memory peak under ${what}, ${budget}`, mib(r.peak)));
  };
  const ooo = `an out-of-order flood (${z.flows} flows x ${z.segments} segments)`;
  const frag = `a fragment flood (${z.sources} sources x ${z.fragments} first fragments)`;
  add(ooo, "no budget", oooFlood(gc, Infinity, z.flows, z.segments));
  add(ooo, "maxMemory 16 MiB", oooFlood(gc, BUDGET, z.flows, z.segments));
  add(frag, "no budget", fragmentFlood(gc, Infinity, z.sources, z.fragments));
  add(frag, "maxMemory 256 KiB", fragmentFlood(gc, FRAGMENT_BUDGET, z.sources, z.fragments));
  return rows;
}
