/**
 * Smoke runs of the flood and soak benches (issue 13): each once, tiny, so neither can rot between
 * bench runs. No figure is looked at (no timing assertions in tests); only that each runs to the end
 * and what it checks holds: after a small flood a legitimate client still connects, and a short soak
 * through the real proxy over TUN delivers every byte exactly and ends with no flow and no fd left.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { beforeAll, describe, expect, it } from "vitest";
import { skipOrFailInCi } from "../support/privileges.js";
import { benchFlood } from "./flood.js";
import type { Row } from "./harness.js";
import { benchSoak, soakMissing } from "./soak.js";

const SMOKE = { smoke: true };

function byName(rows: readonly Row[]): Map<string, number> {
  return new Map(rows.map((r) => [r.name, r.value]));
}

describe("bench smoke: flood and soak", () => {
  beforeAll(() => {
    // The soak runs the l3l4 command from dist/ as a user would: build it (incremental: quick when fresh).
    if (soakMissing() === "") execFileSync(process.execPath, [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-b"], { stdio: "inherit" });
  }, 120_000);

  it("flood: a few thousand SYNs, a legitimate client after them, a bulk flow alone and flooded", async () => {
    const rows = await benchFlood(SMOKE);
    const v = byName(rows);
    expect([...v.keys()]).toEqual([
      "heap growth per 1 M SYNs from random sources",
      "SYN rate",
      "flows after the flood",
      "legitimate client connects after the flood (1 = yes)",
      "bulk throughput alone",
      "bulk throughput, 200 SYNs per wire round",
    ]);
    for (const r of rows) expect(Number.isFinite(r.value), r.name).toBe(true);
    expect(v.get("legitimate client connects after the flood (1 = yes)")).toBe(1);
    // Today every SYN makes a half-open flow (no backlog, no cookies yet): 2,000 SYNs, 2,000 flows.
    expect(v.get("flows after the flood")).toBe(2_000);
  });

  it("soak: 40 flows through l3l4 proxy over a real TUN with faults for 6 s (root, TUN addon)", async (ctx) => {
    const missing = soakMissing();
    skipOrFailInCi(ctx, missing === "" ? undefined : missing);
    const v = byName(await benchSoak(SMOKE));
    expect(v.get("flows completed (40 at once, 6 s)")).toBeGreaterThan(0);
    expect(v.get("flows failed")).toBe(0);
    expect(v.get("flows left at the end (flowCount)")).toBe(0);
    expect(v.get("flow table left at the end")).toBe(0);
    expect(v.get("fds leaked")).toBeLessThanOrEqual(0);
  }, 240_000);
});
