/**
 * Development aid: the engine bench's whole-engine figures (spec/bench/engine.ts: bulk Gbit/s between
 * two engines, handshakes/s, heap per idle flow), this build against another checkout in the same
 * process, in alternating rounds (as ab-l3rx.ts does for the l3Rx loop). engine.ts is imported once per
 * build under a distinct URL, so each build's engines run through their own copy of the bench code.
 *
 *   node --expose-gc dist/spec/bench/ab-engine.js /tmp/pre [rounds=15] [clock=cpu|wall] [only=TEXT]
 *
 * Prints, per figure, each build's median and the median of the per-round ratios THIS/OTHER, with
 * their quartiles. The timed figures divide by this process's CPU time (user+system, process.cpuUsage)
 * unless `wall` is given: on a machine other processes load, wall time stretches each round by however
 * much of a core the process got, and CPU time does not. `only` keeps the figures whose name holds TEXT
 * (e.g. `heap`: the heap figure alone, which is deterministic).
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { L3L4Builder } from "../../lib/builder.js";

const [other, roundsText = "15", clock = "cpu", only = ""] = process.argv.slice(2);
if (other === undefined || (clock !== "cpu" && clock !== "wall")) throw new Error("usage: ab-engine.js OTHER_CHECKOUT [rounds] [cpu|wall] [only]");
const rounds = Number(roundsText);
const gc = (globalThis as { gc?: () => void }).gc;

type Bench = typeof import("./engine.js");
const load = async (dir: string, tag: string): Promise<Bench> => {
  const lib = (await import(pathToFileURL(join(resolve(dir), "dist", "lib", "index.js")).href)) as { L3L4Builder: new () => L3L4Builder<number> };
  const bench = (await import(`${new URL("./engine.js", import.meta.url).href}?${tag}`)) as Bench;
  bench.useBuilder(() => new lib.L3L4Builder());
  bench.useClock(clock);
  return bench;
};
const here = resolve(new URL("../../..", import.meta.url).pathname);
const sides = [await load(here, "this"), await load(other, "other")];

const per = clock === "cpu" ? "per CPU second" : "per wall second";
const allFigures: ReadonlyArray<readonly [string, (b: Bench) => number]> = [
  [`bulk TCP, 1 flow, MTU 1500, Gbit ${per}`, (b) => b.bulkOnce(1500, 32 << 20)],
  [`bulk TCP, 1 flow, MTU 65535, Gbit ${per}`, (b) => b.bulkOnce(65535, 128 << 20)],
  [`handshakes (64 at once), conn ${per}`, (b) => b.handshakesOnce(5000, 64)],
  ...(gc === undefined ? [] : [["heap per idle flow (10,000 each engine), B", (b: Bench) => b.heapOnce(gc, 10_000)] as const]),
];
const figures = allFigures.filter(([name]) => name.includes(only));
if (gc === undefined) console.log("heap per flow skipped: run node with --expose-gc");

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const q = (xs: readonly number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;
/**
 * Each round is a job of its own, as each turn of a runner is (lib/tun/runner.ts): a WeakRef's target
 * is kept until the job that made it ends (ECMA-262 AddToKeptObjects), and the TIME-WAIT table makes
 * one per record (tcp/time-wait.ts). In one job for the whole run, V8's kept-objects set grew by every
 * record of every round (OrderedHashSet::Add and SameValueZero were 3.7 % of the handshake figure's
 * CPU under perf) and kept their flows alive: handshakes/s this/other 0.936 in one job, 1.045 with a
 * job per round (21 rounds each, the same builds).
 */
const nextJob = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
for (const [name, once] of figures) {
  for (const s of sides) {
    once(s); // warm-up
    await nextJob();
  }
  const v: number[][] = [[], []];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t: number[] = [];
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
      t[i] = once(sides[i]!);
      await nextJob();
    }
    v[0]!.push(t[0]!);
    v[1]!.push(t[1]!);
    ratios.push(t[0]! / t[1]!);
  }
  console.log(
    `${name}: this ${median(v[0]!).toFixed(2)}, other ${median(v[1]!).toFixed(2)}, ratio this/other median ${median(ratios).toFixed(3)} ` +
      `(quartiles ${q(ratios, 0.25).toFixed(3)}..${q(ratios, 0.75).toFixed(3)}, ${rounds} rounds)`,
  );
}
