/**
 * `npm run bench -- --against REF`: a second checkout of a git ref, built and benched in the same
 * run as this tree, so that both sides meet the same machine state. The ref's files come from
 * `git archive` into a temporary directory, which shares this tree's node_modules (the comparison is
 * of our code, not of dependency versions) and builds its own TUN addon and dist/ there. Its bench
 * runner is run group by group (`run.js GROUP --save FILE`), just before this tree's run of the
 * same group. The ref must have a bench runner that knows --save (any commit since the benches
 * landed).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { BenchUsageError, readSaved, type Baseline } from "./compare.js";

export interface RefRun {
  /** "REF (commit), built in DIR". */
  readonly describe: string;
  /** The ref's figures for one bench group. */
  runGroup(group: string): Baseline;
  /** Remove the checkout. */
  dispose(): void;
}

function git(args: readonly string[]): string {
  return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** The commit a ref names, or a usage error. */
export function resolveRef(ref: string): string {
  if (ref.startsWith("-")) throw new BenchUsageError(`--against ${ref}: not a git ref`);
  try {
    return git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  } catch {
    throw new BenchUsageError(`--against ${ref}: not a commit in this repository (git rev-parse found nothing)`);
  }
}

/** `tunArgv`: this run's tun options (--translators, --mtus, ...), given to REF's runner as they were given here. */
export async function benchAgainst(ref: string, smoke: boolean, tunArgv: readonly string[] = []): Promise<RefRun> {
  const commit = resolveRef(ref);
  const root = git(["rev-parse", "--show-toplevel"]);
  const dir = mkdtempSync(join(os.tmpdir(), `l3l4-bench-${commit.slice(0, 8)}-`));
  const fail = (what: string): never => {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`--against ${ref}: ${what}`);
  };
  console.log(`against: checking out ${ref} (${commit.slice(0, 12)}) into ${dir}`);
  const archive = spawnSync("sh", ["-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", root, commit, dir], { stdio: ["ignore", "inherit", "inherit"] });
  if (archive.status !== 0) fail("git archive | tar failed");
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  if (!smoke) {
    // The TUN addon, as npm ci builds it (node-gyp against this Node's headers; no downloads).
    const env = { ...process.env };
    if (env.npm_config_nodedir === undefined && existsSync("/usr/include/node/node_api.h")) env.npm_config_nodedir = "/usr";
    const addon = spawnSync("npm", ["run", "--silent", "install"], { cwd: dir, env, stdio: ["ignore", "ignore", "inherit"] });
    if (addon.status !== 0) console.log(`against: the TUN addon of ${ref} was not built: its tun figures will be missing`);
  }
  const tsc = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { stdio: ["ignore", "inherit", "inherit"] });
  if (tsc.status !== 0) fail("tsc failed on the checkout");
  const runner = join(dir, "dist", "spec", "bench", "run.js");
  if (!existsSync(runner)) fail("it has no spec/bench/run.ts");
  if (smoke && !readFileSync(runner, "utf8").includes("--smoke")) {
    rmSync(dir, { recursive: true, force: true });
    throw new BenchUsageError(`--against ${ref} --smoke: that bench runner predates --smoke; run without it`);
  }
  return {
    describe: `${ref} (${commit.slice(0, 12)}), built in ${dir}`,
    runGroup(group: string): Baseline {
      const file = join(dir, `bench-${group}.json`);
      const argv = ["--expose-gc", runner, group, "--save", file, ...(smoke ? ["--smoke"] : []), ...tunArgv];
      const r = spawnSync(process.execPath, argv, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
      if (r.status !== 0 || !existsSync(file)) fail(`its bench runner failed on group ${group} (exit ${r.status}):\n${r.stdout}`);
      return readSaved(file, `against ${ref}`);
    },
    dispose(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
