/**
 * Development aid: lib/wire/checksum.ts checksumAdd over a 1480-byte TCP segment (a 1448-byte payload,
 * its header and timestamps) of this build against another build's, in the same process, in
 * alternating rounds, timed in this process's CPU time (as ab-l3rx.ts does for the whole l3Rx).
 *
 *   node dist/spec/bench/ab-checksum.js OTHER_CHECKOUT [rounds=60]
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

type Add = (sum: number, bytes: Uint8Array, off: number, len: number) => number;
const [other, roundsText = "60"] = process.argv.slice(2);
if (other === undefined) throw new Error("usage: ab-checksum.js OTHER_CHECKOUT [rounds]");
const rounds = Number(roundsText);
const load = async (dir: string): Promise<Add> =>
  ((await import(pathToFileURL(join(resolve(dir), "dist", "lib", "wire", "checksum.js")).href)) as { checksumAdd: Add }).checksumAdd;
const here = resolve(new URL("../../..", import.meta.url).pathname);
const adds = [await load(here), await load(other)];

// An IPv4 packet's bytes; the segment after its 20-byte header, as TCP input sums it.
const packet = new Uint8Array(1500).map((_, i) => (i * 131 + 7) & 0xff);
const PER_ROUND = 20_000;
let sink = 0;
const time = (add: Add): number => {
  const c0 = process.cpuUsage();
  for (let i = 0; i < PER_ROUND; i++) sink += add(i & 1, packet, 20, 1480);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / PER_ROUND;
};
if (adds[0]!(0, packet, 20, 1480) !== adds[1]!(0, packet, 20, 1480)) throw new Error("the two builds' sums differ");
for (let w = 0; w < 3; w++) for (const add of adds) time(add);
const ns: number[][] = [[], []];
for (let r = 0; r < rounds; r++) for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) ns[i]!.push(time(adds[i]!));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`checksumAdd, 1480 B, CPU time: this ${median(ns[0]!).toFixed(1)} ns, other ${median(ns[1]!).toFixed(1)} ns (${rounds} rounds of ${PER_ROUND})`);
if (sink < 0) throw new Error("unreachable");
