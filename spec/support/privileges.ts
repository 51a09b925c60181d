/**
 * What integration tests need of the machine (root, /dev/net/tun, iproute2, network namespaces),
 * and describeIntegration: such a suite runs where it can, FAILS in CI (CI=true) where it cannot
 * (never silently skipped there), and is skipped locally with a message naming what is missing.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { describe, it } from "vitest";

export interface Capability {
  ok: boolean;
  /** What is missing (empty when ok). */
  why: string;
}

/** Every command a helper spawns ends within this (ms). */
export const COMMAND_TIMEOUT_MS = 5000;

function commandWorks(file: string, args: readonly string[]): string | undefined {
  try {
    execFileSync(file, args, { stdio: ["ignore", "pipe", "pipe"], timeout: COMMAND_TIMEOUT_MS });
    return undefined;
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    const stderr = e.stderr?.toString().trim();
    return stderr !== undefined && stderr !== "" ? stderr : e.message;
  }
}

let netnsCapability: Capability | undefined;

/** Root, /dev/net/tun, `ip`, and `ip netns add` working (probed once with a throwaway namespace). */
export function canUseNetns(): Capability {
  if (netnsCapability !== undefined) return netnsCapability;
  netnsCapability = probeNetns();
  return netnsCapability;
}

function probeNetns(): Capability {
  const missing: string[] = [];
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    missing.push(`root (uid is ${process.getuid?.() ?? "unknown"})`);
  }
  if (!existsSync("/dev/net/tun")) missing.push("/dev/net/tun (modprobe tun)");
  const ipProblem = commandWorks("ip", ["-V"]);
  if (ipProblem !== undefined) missing.push(`the ip command (apt-get install iproute2): ${ipProblem}`);
  if (missing.length === 0) {
    const probe = `l3l4-probe-${process.pid}-${randomBytes(3).toString("hex")}`;
    const addProblem = commandWorks("ip", ["netns", "add", probe]);
    if (addProblem !== undefined) {
      missing.push(`network namespaces (ip netns add failed: ${addProblem})`);
    } else {
      commandWorks("ip", ["netns", "delete", probe]);
    }
  }
  return { ok: missing.length === 0, why: missing.join("; ") };
}

/** A check for describeIntegration: `command ...versionArgs` runs (else: install `debianPackage`). */
export function hasCommand(command: string, versionArgs: readonly string[], debianPackage: string): () => Capability {
  return () => {
    const problem = commandWorks(command, versionArgs);
    return problem === undefined
      ? { ok: true, why: "" }
      : { ok: false, why: `the ${command} command (apt-get install ${debianPackage}): ${problem}` };
  };
}

/**
 * Whether this is CI: CI set to anything but "", "0" or "false" (any case): CI=true, CI=1, CI=yes,
 * as CI services set it. Integration suites must then run, and fail when they cannot.
 */
export function inCi(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env["CI"];
  if (v === undefined) return false;
  const t = v.trim().toLowerCase();
  return t !== "" && t !== "0" && t !== "false";
}

/**
 * Inside a test that needs something the machine may lack: with `missing` undefined, nothing;
 * otherwise in CI the test fails saying what is missing, and locally it is skipped with that reason.
 * (ctx is the test context vitest passes to the test function.)
 */
export function skipOrFailInCi(ctx: { skip: (note?: string) => void }, missing: string | undefined): void {
  if (missing === undefined) return;
  if (inCi()) throw new Error(`cannot run: ${missing} (CI is set: not skipped)`);
  ctx.skip(`skipped: ${missing}`);
}

/**
 * describe(name, fn) when every check passes (default check: canUseNetns). Otherwise: in CI a
 * suite whose one test fails with the reason; locally a skipped suite and a console message.
 */
export function describeIntegration(
  name: string,
  fn: () => void,
  checks: readonly (() => Capability)[] = [canUseNetns],
): void {
  const problems = checks.map((check) => check()).filter((capability) => !capability.ok);
  if (problems.length === 0) {
    describe(name, fn);
    return;
  }
  const why = problems.map((problem) => problem.why).join("; ");
  if (inCi()) {
    describe(name, () => {
      it("has what the integration tests need", () => {
        throw new Error(`integration suite "${name}" cannot run: missing ${why} (CI is set: not skipped)`);
      });
    });
    return;
  }
  console.warn(`[integration skipped] ${name}: missing ${why}`);
  describe.skip(name, fn);
}
