/**
 * Measuring aid (issue 13, "an established flow keeps its throughput during the flood"): what the
 * flood bench's bulk row loses, and what the SYN budget (synCookieRate, lib/tcp/syn-budget.ts) wins
 * back. Everything runs in one thread, so the flooded bulk run takes its own time plus the SYNs'
 * time; this prints, alternated in one process, what each costs:
 *
 *   node --expose-gc dist/spec/bench/flood-cost.js [rounds]
 *
 * - a data segment of the bulk flow (both engines: A's send and B's receive and ACK), from the bulk
 *   run alone (flood.ts bulk, 64 MiB);
 * - a SYN answered with a SYN cookie (synBacklog 0, no SYN budget), one dropped over the SYN budget
 *   (synBacklog 0, a budget spent: the clock stands still), and one that makes a half-open
 *   connection, each less the time the bench spends stamping each SYN (SynStamp.next, its checksums);
 * - the flooded runs' throughput (per CPU second) over the alone run's, heavy (about one SYN per data
 *   segment) and light (a tenth of it), the SYNs the budget dropped and the cookies sent, and the
 *   heavy ratio predicted from the costs (segments * seg / (segments * seg + 4096 half-open SYNs +
 *   cookies * cookie + dropped * drop)).
 *
 * When the two ratios agree, the flood costs the bulk flow only the CPU time its SYNs take. The file
 * also builds against an engine without the SYN budget (a baseline of main, for before and after in
 * one run): there nothing is dropped and the drop column measures a cookie.
 *
 * Every figure is CPU time (process.cpuUsage: this thread and V8's helpers), not wall time: the
 * machine is shared, and another process's turn on the core is no cost of ours. The flood's rate is
 * printed as SYNs per data segment and per second of the engines' CPU time.
 */
import { L3L4Builder } from "../../lib/builder.js";
import type { Callbacks } from "../../lib/api.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { bulk, SynStamp } from "./flood.js";

const SYN_BACKLOG = 4096;
const BULK_BYTES = 64 * 1024 * 1024;
const COOKIE_SYNS = 100_000;
const FLOOD_PER_ROUND = 200;
const LIGHT_FLOOD_PER_ROUND = 20;

const out = new Uint8Array(2048);
const sink: Callbacks<Uint8Array> = { l3TxBuffer: () => out, l3TxBufferMut: (b) => b, l3Tx: () => {}, l4Rx: () => {} };

/** CPU ns since `t0` (a process.cpuUsage reading). */
function cpuSince(t0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) * 1000;
}

/** The builder's synCookieRate, where the engine has one (not on a baseline build). */
function withSynCookieRate(b: L3L4Builder<Uint8Array>, rate: number): L3L4Builder<Uint8Array> {
  const f = (b as unknown as { synCookieRate?: (n: number) => unknown }).synCookieRate;
  if (f !== undefined) f.call(b, rate);
  return b;
}

/** CPU ns per SYN into a fresh engine (`synBacklog`, `synCookieRate`), less the stamping. */
function synCost(syns: number, synBacklog: number, rate: number): number {
  const engine = withSynCookieRate(new L3L4Builder<Uint8Array>().clock(new VirtualClock(0).now).synBacklog(synBacklog), rate).build();
  const stamp = new SynStamp();
  let t0 = process.cpuUsage();
  for (let i = 0; i < syns; i++) stamp.next();
  const stamping = cpuSince(t0);
  t0 = process.cpuUsage();
  for (let i = 0; i < syns; i++) engine.l3Rx(sink, stamp.next());
  return (cpuSince(t0) - stamping) / syns;
}

const rounds = Math.max(1, Number(process.argv[2] ?? 5) | 0);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const cols = {
  segNs: [] as number[],
  cookieNs: [] as number[],
  dropNs: [] as number[],
  halfOpenNs: [] as number[],
  ratio: [] as number[],
  lightRatio: [] as number[],
  predicted: [] as number[],
  rate: [] as number[],
  dropped: [] as number[],
  lightDropped: [] as number[],
};
bulk(0, 4 << 20); // warm-up
bulk(FLOOD_PER_ROUND, 4 << 20);
for (let r = 0; r < rounds; r++) {
  const cookie = synCost(COOKIE_SYNS, 0, Infinity);
  // A budget of 1 SYN a second on a clock that stands still: past its first 64, every SYN is dropped.
  const drop = synCost(COOKIE_SYNS, 0, 1);
  const halfOpen = synCost(SYN_BACKLOG, SYN_BACKLOG, Infinity);
  const alone = bulk(0, BULK_BYTES);
  const flooded = bulk(FLOOD_PER_ROUND, BULK_BYTES);
  const light = bulk(LIGHT_FLOOD_PER_ROUND, BULK_BYTES);
  const segNs = alone.cpuNs / alone.segments;
  const synNs = SYN_BACKLOG * halfOpen + flooded.cookies * cookie + flooded.overBudget * drop;
  const predicted = (alone.segments * segNs) / (alone.segments * segNs + synNs);
  // Throughput per CPU second, flooded over alone.
  const ratio = alone.cpuNs / flooded.cpuNs;
  const lightRatio = alone.cpuNs / light.cpuNs;
  // The flood's rate: SYNs per second of the flooded run's CPU time.
  const rate = flooded.syns / (flooded.cpuNs / 1e9);
  cols.segNs.push(segNs);
  cols.cookieNs.push(cookie);
  cols.dropNs.push(drop);
  cols.halfOpenNs.push(halfOpen);
  cols.ratio.push(ratio);
  cols.lightRatio.push(lightRatio);
  cols.predicted.push(predicted);
  cols.rate.push(rate);
  cols.dropped.push(flooded.overBudget);
  cols.lightDropped.push(light.overBudget);
  console.log(
    `round ${r}: segment ${segNs.toFixed(0)} ns, cookie SYN ${cookie.toFixed(0)} ns, dropped SYN ${drop.toFixed(0)} ns, half-open SYN ${halfOpen.toFixed(0)} ns; ` +
      `${alone.segments} segments; heavy ${flooded.syns} SYNs (${(flooded.syns / alone.segments).toFixed(2)} a segment, ${(rate / 1000).toFixed(0)} k/s of CPU), ` +
      `${flooded.cookies} cookies, ${flooded.overBudget} dropped; light ${light.syns} SYNs, ${light.cookies} cookies, ${light.overBudget} dropped; ` +
      `bulk ${(alone.cpuNs / 1e6).toFixed(0)} -> ${(flooded.cpuNs / 1e6).toFixed(0)} (heavy) / ${(light.cpuNs / 1e6).toFixed(0)} (light) ms of CPU, ` +
      `ratio heavy ${ratio.toFixed(3)} (predicted ${predicted.toFixed(3)}), light ${lightRatio.toFixed(3)}`,
  );
}
console.log(
  `median of ${rounds}: segment ${med(cols.segNs).toFixed(0)} ns, cookie SYN ${med(cols.cookieNs).toFixed(0)} ns, dropped SYN ${med(cols.dropNs).toFixed(0)} ns, ` +
    `half-open SYN ${med(cols.halfOpenNs).toFixed(0)} ns, flood ${(med(cols.rate) / 1000).toFixed(0)} k SYN/s of CPU, dropped heavy ${med(cols.dropped)} light ${med(cols.lightDropped)}, ` +
    `ratio heavy ${med(cols.ratio).toFixed(3)} (predicted ${med(cols.predicted).toFixed(3)}), light ${med(cols.lightRatio).toFixed(3)}`,
);
