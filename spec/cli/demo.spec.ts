/**
 * The demo's command line and its verdict (lib/cli/demo.ts): options parse as documented, mistakes are
 * UsageErrors, a clean run passes and says so, and a run that cannot succeed fails with the reason.
 */
import { describe, expect, it } from "vitest";
import { parseDemoArgs, parseSize, runDemo, type DemoOptions } from "../../lib/cli/demo.js";
import { UsageError } from "../../lib/cli/options.js";

function run(o: DemoOptions): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  const ok = runDemo(o, { log: (l) => lines.push(l), progress: undefined });
  return { ok, lines };
}

describe("demo command line", () => {
  it("has defaults: 8 flows of 8 MiB, IPv4, MTU 1500, cubic, 1 ms delay", () => {
    const o = parseDemoArgs([])!;
    expect(o).toMatchObject({ flows: 8, bytes: 8 * 1024 * 1024, mtu: 1500, family: 4, cc: "cubic" });
    expect(o.faults.delayMs).toBe(1);
    expect(o.faults.loss).toBe(0);
    expect(Number.isInteger(o.seed)).toBe(true);
  });

  it("reads every option", () => {
    const o = parseDemoArgs([
      "--flows", "3", "--bytes", "64k", "--faults", "loss=0.02,reorder=0.05", "--mtu", "9000",
      "--seed", "42", "--ipv6", "--cc", "reno",
    ])!;
    expect(o).toMatchObject({ flows: 3, bytes: 65536, mtu: 9000, seed: 42, family: 6, cc: "reno" });
    expect(o.faults).toMatchObject({ loss: 0.02, reorder: 0.05, delayMs: 1 });
    // A spec that sets the delay keeps it.
    expect(parseDemoArgs(["--faults", "delay=7"])!.faults.delayMs).toBe(7);
    expect(parseDemoArgs(["--help"])).toBeUndefined();
  });

  it("takes sizes with k, M and G (powers of 1024)", () => {
    expect(parseSize("1")).toBe(1);
    expect(parseSize("10k")).toBe(10 * 1024);
    expect(parseSize("8M")).toBe(8 * 1024 * 1024);
    expect(parseSize("1G")).toBe(1024 ** 3);
    expect(parseSize("1.5k")).toBe(1536);
  });

  it.each([
    [["--bytes", "8Q"]],
    [["--bytes", "0"]],
    [["--flows", "0"]],
    [["--flows", "x"]],
    [["--mtu", "100"]],
    [["--seed", "-1"]],
    [["--faults", "loss=2"]],
    [["--faults", "nonsense"]],
    [["--cc", "vegas"]],
    [["--what"]],
    [["stray"]],
  ])("refuses %j with a UsageError", (argv) => {
    expect(() => parseDemoArgs(argv)).toThrow(UsageError);
  });
});

describe("demo run", () => {
  it("passes on a clean link and says so", () => {
    const o = parseDemoArgs(["--flows", "3", "--bytes", "100k", "--seed", "1"])!;
    const { ok, lines } = run(o);
    expect(ok).toBe(true);
    expect(lines[0]).toContain("3 TCP flows x 100.0 KiB");
    expect(lines.join("\n")).toMatch(/verification OK: 300\.0 KiB echoed byte-exact on every flow; 3\/3 flows closed and gone/);
    expect(lines.join("\n")).toContain("retransmits 0");
  });

  it("passes through faults, IPv6, reno, and a large MTU", () => {
    const o = parseDemoArgs([
      "--flows", "4", "--bytes", "200k", "--seed", "9", "--ipv6", "--cc", "reno", "--mtu", "9000",
      "--faults", "delay=2,loss=0.02,reorder=0.05,duplicate=0.01",
    ])!;
    const { ok, lines } = run(o);
    expect(ok, lines.join("\n")).toBe(true);
    expect(lines[0]).toContain("IPv6, MTU 9000, reno");
  });

  it("fails, and says why, when nothing gets through", () => {
    const o = parseDemoArgs(["--flows", "2", "--bytes", "1k", "--seed", "3", "--faults", "loss=1"])!;
    const { ok, lines } = run(o);
    expect(ok).toBe(false);
    const text = lines.join("\n");
    expect(text).toContain("verification FAILED (replay with --seed 3)");
    expect(text).toContain("2 flows never connected");
  });
});
