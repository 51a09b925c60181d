/**
 * Development aid: the l3Rx cost of an in-order 1448-byte data segment on an established flow (the
 * engine bench's loop, spec/bench/ab-l3rx-side.ts), this build against another build in the same
 * process, in alternating rounds, so that the load other processes put on the machine falls on both
 * alike. Prints the median ns per segment of each and the median of the per-round ratios THIS/OTHER.
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
const time = (i: number): number => {
  const t0 = process.hrtime.bigint();
  loops[i]!.run(perRound);
  return Number(process.hrtime.bigint() - t0) / perRound;
};
// Warm-up: both optimized before any round counts.
for (let w = 0; w < 10; w++) for (const i of [0, 1]) time(i);
const ns: number[][] = [[], []];
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  // Alternate which build goes first.
  const order = r % 2 === 0 ? [0, 1] : [1, 0];
  const t: number[] = [];
  for (const i of order) t[i] = time(i);
  ns[0]!.push(t[0]!);
  ns[1]!.push(t[1]!);
  ratios.push(t[0]! / t[1]!);
}
for (const i of [0, 1]) if (loops[i]!.delivered() < (rounds + 10) * perRound * 1448) throw new Error(`${names[i]}: not every segment was delivered`);
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;
console.log(`${names[0]}: median ${median(ns[0]!).toFixed(1)} ns/segment`);
console.log(`${names[1]}: median ${median(ns[1]!).toFixed(1)} ns/segment`);
console.log(`ratio this/other: median ${median(ratios).toFixed(3)} (quartiles ${q(ratios, 0.25).toFixed(3)}..${q(ratios, 0.75).toFixed(3)}), ${rounds} rounds of ${perRound} segments`);
