/**
 * Development aid: the l3Rx cost of an in-order 1448-byte data segment on an established flow (the
 * engine bench's loop, spec/bench/ab-l3rx-side.ts), this build against another build in the same
 * process, in alternating rounds, so that the load other processes put on the machine falls on both
 * alike. Prints the median ns per segment of each and the median of the per-round ratios THIS/OTHER,
 * in this process's CPU time (user+system, process.cpuUsage: what other processes' load does not
 * stretch) and in wall time (what it does).
 *
 *   git archive 3314466 | tar -x -C /tmp/pre && ln -s $PWD/node_modules /tmp/pre/ && (cd /tmp/pre && npx tsc -b)
 *   node dist/spec/bench/ab-l3rx.js /tmp/pre [rounds=120] [segments per round=20000]
 *
 * OTHER is a checkout with a built dist/ (its dist/lib/index.js is loaded; its own tests and specs
 * are not used, the segments come from this tree's packet builder).
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Build } from "./ab-l3rx-side.js";

const [other, roundsText = "120", perRoundText = "20000"] = process.argv.slice(2);
if (other === undefined) throw new Error("usage: ab-l3rx.js OTHER_CHECKOUT [rounds] [segments per round]");
const rounds = Number(roundsText);
const perRound = Number(perRoundText);

const side = new URL("./ab-l3rx-side.js", import.meta.url).href;
type Side = typeof import("./ab-l3rx-side.js");
const load = async (dir: string, tag: string) => {
  const build = (await import(pathToFileURL(join(resolve(dir), "dist", "lib", "index.js")).href)) as Build;
  const s = (await import(`${side}?${tag}`)) as Side;
  return s.l3RxLoop(build);
};
const here = resolve(new URL("../../..", import.meta.url).pathname);
const loops = [await load(here, "this"), await load(other, "other")];
const names = [`this (${here})`, `other (${resolve(other)})`];

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
/** One round of build i: [CPU ns, wall ns] per segment. */
const time = (i: number): [number, number] => {
  const c0 = cpuUs();
  const t0 = process.hrtime.bigint();
  loops[i]!.run(perRound);
  const wall = Number(process.hrtime.bigint() - t0) / perRound;
  return [((cpuUs() - c0) * 1000) / perRound, wall];
};
// Warm-up: both optimized before any round counts.
for (let w = 0; w < 10; w++) for (const i of [0, 1]) time(i);
const clocks = ["CPU time (user+system of this process)", "wall time"] as const;
const ns = clocks.map((): number[][] => [[], []]);
const ratios = clocks.map((): number[] => []);
for (let r = 0; r < rounds; r++) {
  // Alternate which build goes first.
  const order = r % 2 === 0 ? [0, 1] : [1, 0];
  const t: [number, number][] = [];
  for (const i of order) t[i] = time(i);
  for (const k of [0, 1]) {
    ns[k]![0]!.push(t[0]![k]!);
    ns[k]![1]!.push(t[1]![k]!);
    ratios[k]!.push(t[0]![k]! / t[1]![k]!);
  }
}
for (const i of [0, 1]) if (loops[i]!.delivered() < (rounds + 10) * perRound * 1448) throw new Error(`${names[i]}: not every segment was delivered`);
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;
for (const k of [0, 1]) {
  console.log(`${clocks[k]}:`);
  console.log(`  ${names[0]}: median ${median(ns[k]![0]!).toFixed(1)} ns/segment`);
  console.log(`  ${names[1]}: median ${median(ns[k]![1]!).toFixed(1)} ns/segment`);
  const rk = ratios[k]!;
  console.log(`  ratio this/other: median ${median(rk).toFixed(3)} (quartiles ${q(rk, 0.25).toFixed(3)}..${q(rk, 0.75).toFixed(3)}), ${rounds} rounds of ${perRound} segments`);
  // Another process's load only ever adds to a round: on a loaded machine the fastest rounds of each
  // build are the least disturbed, and their ratio scatters less from run to run than the median's.
  const p10 = [q(ns[k]![0]!, 0.1), q(ns[k]![1]!, 0.1)];
  console.log(`  10th percentile: this ${p10[0]!.toFixed(1)}, other ${p10[1]!.toFixed(1)} ns/segment, ratio ${(p10[0]! / p10[1]!).toFixed(3)}`);
}
