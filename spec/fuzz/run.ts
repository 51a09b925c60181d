/**
 * `npm run fuzz` (tsc, then node dist/spec/fuzz/run.js [target...] [options]): coverage-guided fuzzing
 * of the targets in spec/fuzz/targets with jsfuzz, and a report of what it reached.
 *
 *   target...          wire, engine, pair (default: all three)
 *   --seconds N        fuzzing time in all, shared among the targets (default 60)
 *   --baseline         also run the same mutator for the same time WITHOUT coverage feedback (it
 *                      mutates the seeds only, never an input that reached something new), and the
 *                      seeds alone, and print the three coverages and the functions each reached
 *   --keep DIR         keep each target's grown corpus in DIR/<target> (default: discarded)
 *   --empty            start from an empty corpus instead of the seeds (to see the guidance work)
 *   --write-corpus     rewrite spec/fuzz/corpus/ from the fixtures (spec/fuzz/seed-corpus.ts) and exit
 *
 * How: jsfuzz (go-fuzz's algorithm: libFuzzer-style mutations; an input that covers a statement,
 * function or branch arm not covered before joins the corpus) instruments what it require()s with
 * istanbul. Our code is ESM, which its require hook cannot instrument, so dist/lib is instrumented
 * ahead of time with istanbul-lib-instrument into dist/fuzz/lib (dist/spec is copied beside it), and
 * jsfuzz loads the target from there (Node >= 20.19 require()s ES modules); the coverage it reads
 * is then lib/'s. jsfuzz runs unmodified; this script bounds it in time (SIGINT to its process group:
 * the worker writes its coverage and exits) and reads its output. A crash (the target threw: the
 * engine itself, or an invariant as a FuzzFinding) is saved to dist/fuzz/crashes/<target>/ and the
 * run exits 1: put the input in spec/fuzz/regressions/<target>/ and write the spec that it breaks.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { TARGETS, seedCorpus, type TargetName } from "./seed-corpus.js";

const here = dirname(fileURLToPath(import.meta.url));
/** dist/ (this file is dist/spec/fuzz/run.js) and the repository root. */
const dist = resolve(here, "../..");
const root = resolve(dist, "..");
const mirror = join(dist, "fuzz");
const require = createRequire(import.meta.url);

interface Instrumenter {
  instrumentSync(code: string, filename: string): string;
}

// ---- instrumentation: dist/lib -> dist/fuzz/lib, dist/spec copied to dist/fuzz/spec ----
function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".js")) out.push(p);
  }
  return out;
}

function prepareMirror(): number {
  const { createInstrumenter } = require("istanbul-lib-instrument") as { createInstrumenter(o: object): Instrumenter };
  const instrumenter = createInstrumenter({ esModules: true, compact: true, produceSourceMap: false });
  let files = 0;
  for (const file of walk(join(dist, "lib"))) {
    const target = join(mirror, relative(dist, file));
    if (existsSync(target) && statSync(target).mtimeMs >= statSync(file).mtimeMs) continue;
    mkdirSync(dirname(target), { recursive: true });
    // Coverage is keyed by the source file, so the report names lib/... paths.
    const source = join(root, relative(dist, file)).replace(/\.js$/, ".ts");
    writeFileSync(target, instrumenter.instrumentSync(readFileSync(file, "utf8"), source));
    files++;
  }
  for (const file of walk(join(dist, "spec"))) {
    const target = join(mirror, relative(dist, file));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
  }
  // The mirror is ESM like dist/ (package.json "type": "module" is found above it).
  return files;
}

// ---- coverage ----
interface FileCoverage {
  path: string;
  s: Record<string, number>;
  f: Record<string, number>;
  b: Record<string, number[]>;
  fnMap: Record<string, { name: string; decl?: { start: { line: number } } }>;
}
type CoverageMap = Record<string, FileCoverage>;

export interface CoverageSummary {
  statements: [number, number];
  branches: [number, number];
  functions: [number, number];
  /** Branch arms covered per lib/ directory. */
  byDir: Record<string, [number, number]>;
  /** "lib/wire/tcp.ts parseTcpOptions (js line 120)" for every function run at least once. */
  functionsRun: string[];
}

function summarise(map: CoverageMap): CoverageSummary {
  const sum: CoverageSummary = { statements: [0, 0], branches: [0, 0], functions: [0, 0], byDir: {}, functionsRun: [] };
  for (const fc of Object.values(map)) {
    const rel = relative(root, fc.path);
    // lib/ only: jsfuzz's hook also counts the CommonJS files it instruments (none of ours).
    if (!rel.startsWith("lib/")) continue;
    const dir = rel.split("/").slice(0, 2).join("/");
    const d = (sum.byDir[dir] ??= [0, 0]);
    for (const n of Object.values(fc.s)) {
      sum.statements[1]++;
      if (n > 0) sum.statements[0]++;
    }
    for (const [id, n] of Object.entries(fc.f)) {
      sum.functions[1]++;
      if (n > 0) {
        sum.functions[0]++;
        // The line is the compiled file's (dist/lib/...js): anonymous functions have no better name.
        const fn = fc.fnMap[id];
        sum.functionsRun.push(`${rel} ${fn?.name ?? id} (js line ${fn?.decl?.start.line ?? "?"})`);
      }
    }
    for (const arms of Object.values(fc.b)) {
      for (const n of arms) {
        sum.branches[1]++;
        d[1]++;
        if (n > 0) {
          sum.branches[0]++;
          d[0]++;
        }
      }
    }
  }
  return sum;
}

const pct = ([hit, total]: [number, number]): string => `${hit}/${total} (${total === 0 ? 0 : ((100 * hit) / total).toFixed(1)}%)`;

// ---- a jsfuzz run ----
export interface RunResult {
  target: TargetName;
  seconds: number;
  executions: number;
  corpus: number;
  crash: string | undefined;
  output: string;
  coverage: CoverageSummary | undefined;
}

function seedDir(target: TargetName): string {
  return join(root, "spec/fuzz/corpus", target);
}

function regressionDir(target: TargetName): string {
  return join(root, "spec/fuzz/regressions", target);
}

async function fuzzTarget(target: TargetName, seconds: number, keep: string | undefined, empty: boolean): Promise<RunResult> {
  const work = join(mirror, "work", target);
  rmSync(work, { recursive: true, force: true });
  const grown = join(work, "corpus");
  mkdirSync(grown, { recursive: true });
  const jsfuzz = require.resolve("jsfuzz/build/src/index.js");
  const dirs = [grown];
  if (!empty) dirs.push(seedDir(target));
  if (!empty && existsSync(regressionDir(target))) dirs.push(regressionDir(target));
  // jsfuzz joins the target path to its working directory.
  const args = [jsfuzz, relative(work, join(mirror, "spec/fuzz/targets", `${target}.js`)), ...dirs, "--rss-limit-mb", "2048", "--timeout", "20"];
  const started = performance.now();
  // jsfuzz forks its worker with execArgv of its own; NODE_OPTIONS reaches it (preload.cts says why).
  const preload = join(here, "preload.cjs");
  const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${preload}`.trim() };
  const child = spawn(process.execPath, args, { cwd: work, detached: true, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keepLine = (line: string): boolean => !line.startsWith("Transformation error") && !line.includes("may appear only with 'sourceType");
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const stop = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGINT");
    } catch {
      // Already gone.
    }
  }, seconds * 1000);
  const kill = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // Already gone.
    }
  }, (seconds + 60) * 1000);
  const code = await new Promise<number | null>((done) => child.on("close", (c) => done(c)));
  clearTimeout(stop);
  clearTimeout(kill);
  const elapsed = (performance.now() - started) / 1000;
  output = output.split("\n").filter(keepLine).join("\n");
  const stats = [...output.matchAll(/^#(\d+) (?:NEW|PULSE) +cov: (\d+) corp: (\d+)/gm)].at(-1);
  const crashFile = /crash was written to (\S+)/.exec(output)?.[1];
  let crash: string | undefined;
  if (crashFile !== undefined || (code !== 0 && code !== null)) {
    const saved = join(mirror, "crashes", target);
    mkdirSync(saved, { recursive: true });
    if (crashFile !== undefined && existsSync(join(work, crashFile))) {
      crash = join(saved, crashFile);
      copyFileSync(join(work, crashFile), crash);
    } else crash = `jsfuzz exited with ${code} (no crash file)`;
  }
  let coverage: CoverageSummary | undefined;
  const covFile = join(work, ".nyc_output/cov.json");
  if (existsSync(covFile)) coverage = summarise(JSON.parse(readFileSync(covFile, "utf8")) as CoverageMap);
  const corpusFiles = readdirSync(grown);
  if (keep !== undefined) {
    const to = join(resolve(keep), target);
    mkdirSync(to, { recursive: true });
    for (const f of corpusFiles) copyFileSync(join(grown, f), join(to, f));
  }
  return {
    target,
    seconds: elapsed,
    executions: stats === undefined ? 0 : Number(stats[1]),
    corpus: stats === undefined ? 0 : Number(stats[3]),
    crash,
    output,
    coverage,
  };
}

// ---- without feedback: the seeds alone, and jsfuzz's mutator on the seeds only ----
interface JsfuzzCorpus {
  generateInput(): Buffer;
  getLength(): number;
}

interface Unguided {
  coverage: CoverageSummary;
  executions: number;
  crashes: number;
}

/**
 * In a child process (coverage counters are per process): the seeds once each, then jsfuzz's own
 * mutator on them until `seconds` are up (0: the seeds alone); prints an Unguided as JSON.
 */
async function unguidedChild(target: TargetName, seconds: number, empty: boolean): Promise<void> {
  const mod = (await import(pathToFileURL(join(mirror, "spec/fuzz/targets", `${target}.js`)).href)) as { fuzz(b: Uint8Array): void };
  const { Corpus } = require("jsfuzz/build/src/corpus.js") as { Corpus: new (dirs: string[], onlyAscii: boolean) => JsfuzzCorpus };
  // A Corpus given only the seed directory and never given an input back: the same mutations, no
  // feedback (jsfuzz's fuzzer.js puts an input back when it covered something new; this never does).
  const corpus = new Corpus(empty ? [] : [seedDir(target)], false);
  const seeds = corpus.getLength();
  const until = performance.now() + seconds * 1000;
  let crashes = 0;
  let executions = 0;
  for (; executions < seeds || performance.now() < until; executions++) {
    try {
      mod.fuzz(corpus.generateInput());
    } catch {
      crashes++;
    }
  }
  const map = (globalThis as { __coverage__?: CoverageMap }).__coverage__ ?? {};
  const result: Unguided = { coverage: summarise(map), executions, crashes };
  process.stdout.write(JSON.stringify(result));
}

async function unguided(target: TargetName, seconds: number, empty: boolean): Promise<Unguided> {
  const argv = [fileURLToPath(import.meta.url), "--unguided-child", target, "--seconds", String(seconds), ...(empty ? ["--empty"] : [])];
  const child = spawn(process.execPath, argv, {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  await new Promise((done) => child.on("close", done));
  return JSON.parse(out) as Unguided;
}

function writeCorpus(): void {
  for (const target of TARGETS) {
    const dir = seedDir(target);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const [name, bytes] of seedCorpus(target)) writeFileSync(join(dir, name), bytes);
    console.log(`${relative(root, dir)}: ${seedCorpus(target).size} inputs`);
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: "string", default: "60" },
      baseline: { type: "boolean", default: false },
      keep: { type: "string" },
      "write-corpus": { type: "boolean", default: false },
      "unguided-child": { type: "string" },
      empty: { type: "boolean", default: false },
    },
  });
  if (values["unguided-child"] !== undefined) {
    await unguidedChild(values["unguided-child"] as TargetName, Number(values.seconds), values.empty);
    return 0;
  }
  if (values["write-corpus"]) {
    writeCorpus();
    return 0;
  }
  const targets = positionals.length === 0 ? [...TARGETS] : positionals;
  for (const t of targets) {
    if (!TARGETS.includes(t as TargetName)) {
      console.error(`fuzz: unknown target ${t} (targets: ${TARGETS.join(", ")})`);
      return 2;
    }
  }
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) {
    console.error(`fuzz: --seconds must be a positive number: ${values.seconds}`);
    return 2;
  }
  const instrumented = prepareMirror();
  console.log(`fuzz: jsfuzz over ${targets.join(", ")}, ${seconds} s in all; ${instrumented} lib files instrumented afresh into ${relative(root, mirror)}`);
  let failed = 0;
  for (const target of targets as TargetName[]) {
    const r = await fuzzTarget(target, seconds / targets.length, values.keep, values.empty);
    const rate = r.seconds > 0 ? Math.round(r.executions / r.seconds) : 0;
    console.log(
      `${target}: ${r.executions} executions in ${r.seconds.toFixed(1)} s (${rate}/s), corpus ${r.corpus}` +
        (r.coverage === undefined ? ", no coverage written" : `; lib/ (the modules the target loads) covered: statements ${pct(r.coverage.statements)}, branches ${pct(r.coverage.branches)}, functions ${pct(r.coverage.functions)}`),
    );
    if (r.coverage !== undefined) {
      const dirs = Object.entries(r.coverage.byDir).filter(([, [hit]]) => hit > 0);
      console.log(`  branches by directory: ${dirs.map(([d, c]) => `${d} ${pct(c)}`).join(", ")}`);
    }
    if (values.baseline && r.coverage !== undefined) {
      const seedsOnly = (await unguided(target, 0, values.empty)).coverage;
      const blind = await unguided(target, r.seconds, values.empty);
      const c = blind.coverage;
      console.log(
        `  ${values.empty ? "from an empty corpus" : "from the seeds"}, ${r.seconds.toFixed(0)} s each: ` +
          `functions ${pct(c.functions)} without feedback (${blind.executions} inputs) vs ${pct(r.coverage.functions)} coverage-guided (${r.executions} inputs); ` +
          `branches ${pct(c.branches)} vs ${pct(r.coverage.branches)}; the seeds alone: functions ${pct(seedsOnly.functions)}, branches ${pct(seedsOnly.branches)}`,
      );
      const guided = new Set(r.coverage.functionsRun);
      const unguidedRun = new Set(c.functionsRun);
      const only = (a: Set<string>, b: Set<string>) => [...a].filter((f) => !b.has(f));
      const list = (fs: string[]): string => (fs.length === 0 ? "none" : `${fs.length}: ${fs.slice(0, 12).join(", ")}${fs.length > 12 ? ", ..." : ""}`);
      console.log(`  functions run only with feedback: ${list(only(guided, unguidedRun))}`);
      console.log(`  functions run only without feedback: ${list(only(unguidedRun, guided))}`);
    }
    if (r.crash !== undefined) {
      failed++;
      console.log(`  CRASH: ${r.crash}\n${r.output.split("\n").filter((l) => !/^#\d+ (NEW|PULSE)/.test(l)).join("\n")}`);
    }
  }
  console.log(`fuzz: ${targets.length - failed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
