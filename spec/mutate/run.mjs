#!/usr/bin/env node
/**
 * `npm run mutate [-- [GLOB ...] [--ci] [--force] [--concurrency N]]`: Stryker mutation testing of
 * lib/tcp, lib/ip and lib/udp (spec/mutate/stryker.config.mjs), then a score per directory and the
 * surviving mutants, one line each.
 *
 *   npm run mutate                             everything (globs lib/tcp/**, lib/ip/**, lib/udp/**)
 *   npm run mutate -- lib/tcp/rtt.ts           one file; any globs: 'lib/tcp/congestion/**'
 *   npm run mutate -- --force                  ignore the incremental results (a full run)
 *   npm run mutate -- --concurrency 2          test runners (default 1: shared 2-core machines)
 *   npm run mutate -- --ci                     the bounded subset .ci/run runs (CI_GLOBS below,
 *                                              their unit specs only): fails under CI_BREAK % or
 *                                              after CI_CAP_S seconds
 *   npm run mutate -- --per-file [PATH ...]    the files (PATHs: files or folders, default lib/tcp)
 *                                              in a few Stryker runs, largest first, a report per
 *                                              file kept in reports/mutation/per-file/ (and reused
 *                                              by the next --per-file run), then --summary
 *   npm run mutate -- --summary                the score per file and per directory over the
 *                                              reports kept in reports/mutation/per-file/ (the
 *                                              newest report of each file), and their survivors
 *
 * Runs are incremental (reports/stryker-incremental.json): a mutant whose code and covering specs are
 * unchanged keeps its result, so re-running after a new spec costs only what it touches. The spec
 * support files (harness, oracle) are not tracked by that: after changing them, run with --force.
 * Reports: reports/mutation/mutation.html and .json.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CONFIG = "spec/mutate/stryker.config.mjs";
const REPORT = join(ROOT, "reports", "mutation", "mutation.json");
/** Where --per-file keeps one report per file (named after the file: lib_tcp_seq.ts.json). */
const ARCHIVE = join(ROOT, "reports", "mutation", "per-file");

/**
 * The CI subset: small modules with unit specs of their own (spec/mutate/vitest.ci.config.ts runs
 * only those), so a mutant costs a fraction of a second and the run a few minutes.
 */
const CI_GLOBS = ["lib/tcp/seq.ts", "lib/tcp/rtt.ts", "lib/tcp/congestion/reno.ts"];
/** The CI subset must score at least this. */
const CI_BREAK = 85;
/** Wall-clock cap of the CI subset (seconds): past it the step fails (the specs have got slow). */
const CI_CAP_S = 900;
/** Test runners of the CI subset (a CI machine is not shared with other jobs). */
const CI_CONCURRENCY = 2;
/** Source bytes per Stryker run in --per-file (lib/tcp: 4 runs of 500 to 1000 mutants). */
const GROUP_BYTES = 64 * 1024;

/** Directories scored separately in the summary. */
const GROUPS = ["lib/tcp", "lib/ip", "lib/udp"];

function usage(message) {
  console.error(`npm run mutate: ${message}`);
  console.error("usage: npm run mutate -- [GLOB ...] [--ci] [--force] [--concurrency N] | --per-file [PATH ...] [--force] | --summary");
  process.exit(2);
}

const args = process.argv.slice(2);
const globs = [];
let ci = false;
let force = false;
let perFile = false;
let summaryOnly = false;
let concurrency;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--ci") ci = true;
  else if (a === "--per-file") perFile = true;
  else if (a === "--summary") summaryOnly = true;
  else if (a === "--force") force = true;
  else if (a === "--concurrency") {
    concurrency = Number(args[++i]);
    if (!Number.isInteger(concurrency) || concurrency < 1) usage(`--concurrency needs a positive integer, got ${args[i]}`);
  } else if (a.startsWith("-")) usage(`unknown option ${a}`);
  else globs.push(a);
}
if (ci && globs.length > 0) usage("--ci chooses its own files: give no GLOB with it");
if ([ci, perFile, summaryOnly].filter(Boolean).length > 1) usage("--ci, --per-file and --summary go alone");
if (summaryOnly) {
  if (globs.length > 0) usage("--summary reads the kept reports: give no GLOB with it");
  summariseArchive();
  process.exit(0);
}
// Stryker's --mutate is a comma-separated list, so braces are expanded here: a/{b,c}.ts -> a/b.ts, a/c.ts.
const chosen = (ci ? CI_GLOBS : globs).flatMap(expandBraces);
for (const g of chosen) {
  if (!/^lib\/(tcp|ip|udp)(\/|$)/.test(g)) usage(`${g}: only lib/tcp, lib/ip and lib/udp are mutated (spec/mutate/stryker.config.mjs)`);
  if (!/[*?{]/.test(g) && !existsSync(join(ROOT, g))) usage(`${g}: no such file`);
}

const bin = join(ROOT, "node_modules", ".bin", "stryker");
if (!existsSync(bin)) usage("Stryker is not installed: run npm ci");
if (perFile) await runPerFile();

const strykerArgs = ["run", CONFIG];
if (chosen.length > 0) strykerArgs.push("--mutate", chosen.join(","));
if (concurrency !== undefined || ci) strykerArgs.push("--concurrency", String(concurrency ?? CI_CONCURRENCY));
if (force) strykerArgs.push("--force");
if (ci && !force) strykerArgs.push("--force"); // the subset is judged on its own, never on earlier results
const env = { ...process.env, ...(ci ? { L3L4_MUTATE_BREAK: String(CI_BREAK), L3L4_MUTATE_CI: "1" } : {}) };

const started = Date.now();
console.log(`mutate: stryker ${strykerArgs.join(" ")}${ci ? ` (CI subset, at least ${CI_BREAK}%, at most ${CI_CAP_S} s)` : ""}`);
const child = spawn(bin, strykerArgs, { cwd: ROOT, env, stdio: "inherit" });
// Ctrl-C or a kill of this script stops Stryker too (it then removes its sandboxes).
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
let capped = false;
const timer = ci
  ? setTimeout(() => {
      capped = true;
      console.error(`mutate: the CI subset passed its ${CI_CAP_S} s cap; stopping it`);
      child.kill("SIGTERM");
    }, CI_CAP_S * 1000)
  : undefined;
child.on("exit", (code, signal) => {
  if (timer !== undefined) clearTimeout(timer);
  const seconds = Math.round((Date.now() - started) / 1000);
  if (capped) {
    console.error(`mutate: FAILED: not finished within ${CI_CAP_S} s`);
    process.exit(1);
  }
  summarise(seconds);
  if (signal !== null) process.exit(1);
  process.exit(code ?? 1);
});

/**
 * --per-file: the files in groups, largest first (so that a run cut short has scored the files with
 * the most mutants), one Stryker run per group; each run's report is split into one report per file,
 * kept in ARCHIVE as soon as it is written; then the summary over the archive. A group rather than a
 * file per run because every run pays Stryker's start (the checker's program, the runner) and the
 * initial run of all the specs, a minute or more on a shared machine: 28 runs of lib/tcp spent more
 * time there than on the mutants. Each run starts from the kept reports of its files (they seed the
 * incremental file), so a file re-run after a new spec tests only the mutants that spec covers, and
 * the survivors. Never returns.
 */
async function runPerFile() {
  const roots = globs.length > 0 ? globs : ["lib/tcp"];
  const files = [];
  for (const r of roots) {
    if (/[*?{]/.test(r)) usage(`--per-file takes files or folders, not globs: ${r}`);
    const full = join(ROOT, r);
    if (!existsSync(full)) usage(`${r}: no such file or folder`);
    if (statSync(full).isDirectory()) {
      for (const f of readdirSync(full, { recursive: true })) {
        const p = join(r, String(f)).split("\\").join("/");
        if (p.endsWith(".ts") && !p.endsWith(".d.ts")) files.push(p);
      }
    } else files.push(r);
  }
  files.sort((a, b) => statSync(join(ROOT, b)).size - statSync(join(ROOT, a)).size);
  const groups = groupBySize(files, GROUP_BYTES);
  mkdirSync(ARCHIVE, { recursive: true });
  let failed = 0;
  let stopped = false;
  let child;
  const stop = (signal) => {
    stopped = true;
    child?.kill(signal);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const startedAll = Date.now();
  for (const [i, group] of groups.entries()) {
    if (stopped) break;
    const args = ["run", CONFIG, "--mutate", group.join(","), "--concurrency", String(concurrency ?? 1)];
    args.push("--incrementalFile", seedIncremental(group));
    if (force) args.push("--force");
    const started = Date.now();
    console.log(`mutate: [${i + 1}/${groups.length}] ${group.join(" ")}`);
    rmSync(REPORT, { force: true });
    const code = await new Promise((resolve) => {
      child = spawn(bin, args, { cwd: ROOT, env: process.env, stdio: "inherit" });
      child.on("exit", (c, signal) => resolve(signal === null ? c : 128));
    });
    const seconds = Math.round((Date.now() - started) / 1000);
    if (code !== 0 || !existsSync(REPORT)) {
      failed++;
      console.error(`mutate: ${group.join(" ")}: Stryker exited with ${code} after ${seconds} s; no report kept`);
      continue;
    }
    for (const file of splitReport(JSON.parse(readFileSync(REPORT, "utf8")))) console.log(`mutate: ${file}: report kept`);
    console.log(`mutate: group ${i + 1} done in ${seconds} s`);
  }
  console.log(`mutate: --per-file ${stopped ? "stopped" : "done"} after ${Math.round((Date.now() - startedAll) / 1000)} s`);
  summariseArchive();
  process.exit(failed > 0 || stopped ? 1 : 0);
}

/** Files (largest first) in consecutive groups of at most `limit` source bytes (a larger file alone). */
function groupBySize(files, limit) {
  const groups = [];
  let bytes = Infinity;
  for (const f of files) {
    const size = statSync(join(ROOT, f)).size;
    if (bytes + size > limit) {
      groups.push([]);
      bytes = 0;
    }
    groups.at(-1).push(f);
    bytes += size;
  }
  return groups;
}

/** The kept report of one file: ARCHIVE/lib_tcp_seq.ts.json. */
function archiveName(file) {
  return join(ARCHIVE, `${file.split("/").join("_")}.json`);
}

/** Splits a Stryker report into one kept report per mutated file; returns the files. */
function splitReport(report) {
  const kept = [];
  for (const [name, entry] of Object.entries(report.files)) {
    const file = relative(ROOT, join(ROOT, name)).split("\\").join("/");
    writeFileSync(archiveName(file), JSON.stringify({ ...report, files: { [name]: entry } }));
    kept.push(file);
  }
  return kept;
}

/**
 * The incremental file of one --per-file run: the kept reports of its files merged (their mutants,
 * and the specs' tests they name), so that Stryker reuses every result whose code and covering specs
 * are unchanged. Returns its path.
 */
function seedIncremental(group) {
  const seed = { files: {}, testFiles: {} };
  for (const file of group) {
    if (!existsSync(archiveName(file))) continue;
    const report = JSON.parse(readFileSync(archiveName(file), "utf8"));
    Object.assign(seed.files, report.files);
    Object.assign(seed.testFiles, report.testFiles ?? {});
    for (const key of ["schemaVersion", "thresholds", "projectRoot", "config", "framework", "system"]) {
      if (report[key] !== undefined) seed[key] = report[key];
    }
  }
  const path = join(ROOT, "reports", "mutation", "per-file-incremental.json");
  if (Object.keys(seed.files).length === 0) rmSync(path, { force: true });
  else writeFileSync(path, JSON.stringify(seed));
  return relative(ROOT, path);
}

/** --summary: the score per file and per directory over the reports in ARCHIVE. */
function summariseArchive() {
  if (!existsSync(ARCHIVE)) usage(`no reports kept in ${relative(ROOT, ARCHIVE)}: run --per-file first`);
  // A report may hold several files (a run over a glob): each file's newest result counts.
  const newest = new Map();
  const names = readdirSync(ARCHIVE).filter((n) => n.endsWith(".json"));
  for (const name of names) {
    const path = join(ARCHIVE, name);
    const mtime = statSync(path).mtimeMs;
    const report = JSON.parse(readFileSync(path, "utf8"));
    for (const [file, entry] of Object.entries(report.files)) {
      const key = relative(ROOT, join(ROOT, file)).split("\\").join("/");
      const had = newest.get(key);
      if (had === undefined || had.mtime < mtime) newest.set(key, { mtime, entry });
    }
  }
  const files = {};
  for (const [file, { entry }] of newest) files[file] = entry;
  console.log(`mutate: ${newest.size} files scored in ${names.length} reports (${relative(ROOT, ARCHIVE)})`);
  console.log("\n  file                                   score   killed timeout survived no-cov  invalid");
  for (const file of [...newest.keys()].sort()) {
    const t = tallyOf(files[file].mutants);
    const valid = t.killed + t.timeout + t.survived + t.noCoverage;
    const score = valid === 0 ? "   -  " : `${((100 * (t.killed + t.timeout)) / valid).toFixed(2).padStart(6)}%`;
    console.log(
      `  ${file.padEnd(36)} ${score} ${String(t.killed).padStart(7)} ${String(t.timeout).padStart(7)} ` +
        `${String(t.survived).padStart(8)} ${String(t.noCoverage).padStart(6)} ${String(t.other).padStart(8)}`,
    );
  }
  report(files, undefined);
}

function tallyOf(mutants) {
  const t = { killed: 0, survived: 0, noCoverage: 0, timeout: 0, other: 0 };
  for (const m of mutants) {
    if (m.status === "Killed") t.killed++;
    else if (m.status === "Timeout") t.timeout++;
    else if (m.status === "Survived") t.survived++;
    else if (m.status === "NoCoverage") t.noCoverage++;
    else t.other++;
  }
  return t;
}

/** Score per directory and the survivors, from Stryker's JSON report. */
function summarise(seconds) {
  if (!existsSync(REPORT)) {
    console.log(`mutate: no report at ${relative(ROOT, REPORT)} (${seconds} s)`);
    return;
  }
  report(JSON.parse(readFileSync(REPORT, "utf8")).files, seconds);
}

/** Score per directory of a report's `files`, and the survivors. */
function report(reportFiles, seconds) {
  const tally = new Map(GROUPS.map((g) => [g, { killed: 0, survived: 0, noCoverage: 0, timeout: 0, other: 0 }]));
  const survivors = [];
  for (const [file, { mutants }] of Object.entries(reportFiles)) {
    const path = relative(ROOT, join(ROOT, file)).split("\\").join("/");
    const group = GROUPS.find((g) => path.startsWith(`${g}/`));
    if (group === undefined) continue;
    const t = tally.get(group);
    for (const m of mutants) {
      if (m.status === "Killed") t.killed++;
      else if (m.status === "Timeout") t.timeout++;
      else if (m.status === "Survived" || m.status === "NoCoverage") {
        if (m.status === "Survived") t.survived++;
        else t.noCoverage++;
        const where = `${path}:${m.location.start.line}:${m.location.start.column}`;
        survivors.push(`${where} ${m.status === "NoCoverage" ? "(no coverage) " : ""}${m.mutatorName}: ${oneLine(m.replacement ?? "")}`);
      } else t.other++;
    }
  }
  console.log(`\nmutate: score per directory (killed + timed out) / (killed + timed out + survived + no coverage)${seconds === undefined ? "" : `, ${seconds} s`}:`);
  for (const [group, t] of tally) {
    const detected = t.killed + t.timeout;
    const valid = detected + t.survived + t.noCoverage;
    if (valid === 0) continue;
    console.log(
      `  ${group.padEnd(8)} ${((100 * detected) / valid).toFixed(2).padStart(6)}%  ` +
        `(${t.killed} killed, ${t.timeout} timed out, ${t.survived} survived, ${t.noCoverage} no coverage; ${t.other} not valid: compile errors, ignored)`,
    );
  }
  if (survivors.length > 0) {
    console.log(`\nmutate: ${survivors.length} surviving mutants (see spec/mutate/equivalent-mutants.md for the ones that cannot be killed):`);
    for (const s of survivors) console.log(`  ${s}`);
  }
}

function expandBraces(glob) {
  const m = /^(.*?)\{([^{}]*)\}(.*)$/.exec(glob);
  if (m === null) return [glob];
  return m[2].split(",").flatMap((alt) => expandBraces(`${m[1]}${alt}${m[3]}`));
}

function oneLine(text) {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 100 ? `${t.slice(0, 97)}...` : t;
}
