/**
 * Measuring aid (issue 13, "an established flow keeps its throughput during the flood"): why the
 * flood bench's bulk row loses throughput. Everything runs in one thread, so the flooded bulk run
 * takes its own time plus the SYNs' time; this prints, alternated in one process, what each costs:
 *
 *   node --expose-gc dist/spec/bench/flood-cost.js [rounds]
 *
 * - a data segment of the bulk flow (both engines: A's send and B's receive and ACK), from the bulk
 *   run alone (flood.ts bulk, 64 MiB);
 * - a SYN answered with a SYN cookie (synBacklog 0) and one that makes a half-open connection,
 *   less the time the bench spends stamping each SYN (SynStamp.next, its checksums);
 * - the flooded run's throughput over the alone run's, and that ratio predicted from the costs
 *   (segments * seg / (segments * seg + 4096 half-open SYNs + the rest as cookies)).
 *
 * When the two ratios agree, the flood costs the bulk flow only the CPU time its SYNs take.
 */
import { L3L4Builder } from "../../lib/builder.js";
import type { Callbacks } from "../../lib/api.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { bulk, SynStamp } from "./flood.js";

const SYN_BACKLOG = 4096;
const BULK_BYTES = 64 * 1024 * 1024;
const COOKIE_SYNS = 100_000;
const FLOOD_PER_ROUND = 200;

const out = new Uint8Array(2048);
const sink: Callbacks<Uint8Array> = { l3TxBuffer: () => out, l3TxBufferMut: (b) => b, l3Tx: () => {}, l4Rx: () => {} };

/** ns per SYN into a fresh engine (`synBacklog`), less the stamping. */
function synCost(syns: number, synBacklog: number): number {
  const engine = new L3L4Builder<Uint8Array>().clock(new VirtualClock(0).now).synBacklog(synBacklog).build();
  const stamp = new SynStamp();
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < syns; i++) stamp.next();
  const stamping = Number(process.hrtime.bigint() - t0);
  t0 = process.hrtime.bigint();
  for (let i = 0; i < syns; i++) engine.l3Rx(sink, stamp.next());
  return (Number(process.hrtime.bigint() - t0) - stamping) / syns;
}

const rounds = Math.max(1, Number(process.argv[2] ?? 5) | 0);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const cols = { segNs: [] as number[], cookieNs: [] as number[], halfOpenNs: [] as number[], ratio: [] as number[], predicted: [] as number[] };
bulk(0, 4 << 20); // warm-up
for (let r = 0; r < rounds; r++) {
  const cookie = synCost(COOKIE_SYNS, 0);
  const halfOpen = synCost(SYN_BACKLOG, SYN_BACKLOG);
  const t0 = process.hrtime.bigint();
  const alone = bulk(0, BULK_BYTES);
  const aloneNs = Number(process.hrtime.bigint() - t0);
  const flooded = bulk(FLOOD_PER_ROUND, BULK_BYTES);
  const segNs = aloneNs / alone.segments;
  const synNs = SYN_BACKLOG * halfOpen + (flooded.syns - SYN_BACKLOG) * cookie;
  const predicted = (alone.segments * segNs) / (alone.segments * segNs + synNs);
  const ratio = flooded.gbits / alone.gbits;
  cols.segNs.push(segNs);
  cols.cookieNs.push(cookie);
  cols.halfOpenNs.push(halfOpen);
  cols.ratio.push(ratio);
  cols.predicted.push(predicted);
  console.log(
    `round ${r}: segment ${segNs.toFixed(0)} ns, cookie SYN ${cookie.toFixed(0)} ns, half-open SYN ${halfOpen.toFixed(0)} ns; ` +
      `${alone.segments} segments, ${flooded.syns} SYNs; bulk ${alone.gbits.toFixed(2)} -> ${flooded.gbits.toFixed(2)} Gbit/s, ` +
      `ratio ${ratio.toFixed(3)}, predicted ${predicted.toFixed(3)}`,
  );
}
console.log(
  `median of ${rounds}: segment ${med(cols.segNs).toFixed(0)} ns, cookie SYN ${med(cols.cookieNs).toFixed(0)} ns, ` +
    `half-open SYN ${med(cols.halfOpenNs).toFixed(0)} ns, ratio ${med(cols.ratio).toFixed(3)}, predicted ${med(cols.predicted).toFixed(3)}`,
);
