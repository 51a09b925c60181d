/**
 * Bench smoke test: every bench runs once, on tiny sizes, so none can rot between bench runs. The
 * figures are not looked at (no timing assertions in tests); only that each bench still runs to
 * the end and says what it measured. Then the runner's comparison rules, which decide what
 * `npm run bench` calls better, worse or the same.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { skipOrFailInCi } from "../support/privileges.js";
import { resolveRef } from "./against.js";
import { MIN_NOISE, noise, verdict } from "./compare.js";
import { benchEngine } from "./engine.js";
import { benchFlood, SMOKE_SYN_BACKLOG } from "./flood.js";
import { benchFlow } from "./flow.js";
import { SMOKE, SMOKE_METHOD, type Row } from "./harness.js";
import { main, parseBenchArgs, table } from "./run.js";
import { benchSoak, soakMissing } from "./soak.js";
import { benchStream } from "./stream.js";
import { proxyTakes } from "./translators.js";
import { SECONDS } from "./tun-paths.js";
import { allTranslators, benchTunTable, tunTableProblems } from "./tun-table.js";
import { benchTun2socks, tun2socksMissing } from "./tun2socks.js";
import { benchWire } from "./wire.js";

/** Every row a smoke row of `group` with a positive figure (`anySign`: rows whose figure may be 0 or less). */
function expectSane(rows: readonly Row[], group: string, names: readonly RegExp[], anySign: RegExp = /$^/): void {
  expect(rows.length).toBeGreaterThanOrEqual(names.length);
  for (const r of rows) {
    expect(r.group).toBe(group);
    expect(r.method).toBe(SMOKE_METHOD);
    expect(r.runs).toHaveLength(1);
    const ok = Number.isFinite(r.value) && (anySign.test(r.name) || r.value > 0);
    expect(ok, `${r.name}: ${r.value} ${r.unit}`).toBe(true);
  }
  for (const n of names) expect(rows.some((r) => n.test(r.name)), String(n)).toBe(true);
}

describe("bench smoke: every bench once, tiny and untimed", () => {
  it("wire: checksum, parse, emit", async () => {
    expectSane(await benchWire(SMOKE), "wire", [/^checksum 1500 B$/, /old code, same run/, /^parse IPv4\+TCP data/, /^emit IPv4\+TCP data/]);
  });

  it("engine: bulk TCP, l3Rx, handshakes, heap per flow", async () => {
    expectSane(await benchEngine(SMOKE), "engine", [/^bulk TCP, 1 flow, MTU 1500$/, /^l3Rx TCP data segment .*zero-copy/, /^handshakes/, /^heap per idle/]);
  });

  it("flow: lookups in a fresh table, after churn and after a peak; remove + insert", async () => {
    const rows = await benchFlow(SMOKE);
    expectSane(rows, "flow", [/fresh table \(baseline\)/, /after .* inserts \+ removes/, /after a peak of/, /^remove \+ insert/]);
    expect(rows).toHaveLength(4);
  });

  it("stream: NetStack next to raw callbacks over joinEngines", async () => {
    const rows = await benchStream(SMOKE);
    expectSane(rows, "stream", [/raw callbacks/, /NetStack FlowSockets \+ pipe\(\)/, /share of raw, wall clock/, /share of raw, per CPU second/]);
    expect(rows).toHaveLength(4);
  });

  it("tun: the proxy (with and without offloads), pasta, slirp4netns and a veth, no namespace left (root, passt, slirp4netns, nginx, wrk, iperf3)", async (ctx) => {
    // What the bench needs, and every translator's own needs (passt, slirp4netns, the compiled command).
    const problems = [...tunTableProblems(), ...allTranslators().flatMap((t) => t.problems())];
    skipOrFailInCi(ctx, problems.length === 0 ? undefined : problems.join("; "));
    expect(proxyTakes("--offload")).toBe(true); // else the bench has no offload row
    expect(proxyTakes("--no-offload")).toBe(true); // else its "l3l4" row has the offloads too
    const rows = await benchTunTable(SMOKE);
    const value = (name: string) => rows.find((r) => r.name === name)?.value;
    for (const r of rows) {
      expect(r.group).toBe("tun");
      expect(r.method).toBe(SMOKE_METHOD);
      expect(r.runs).toHaveLength(1);
    }
    for (const t of ["veth", "pasta", "slirp4netns", "l3l4", "l3l4-offload"]) {
      for (const figure of ["TCP up", "TCP down", "4 up", "new conn/s", "ping", "churn last/first", "UDP up", "UDP up loss", "UDP down", "UDP down loss"]) {
        expect(value(`${t} mtu 1500 ${figure}`), `${t} ${figure}`).toBeGreaterThanOrEqual(0);
      }
    }
    // Ours carry data both ways, and their CPU time and RSS are read from /proc.
    for (const t of ["l3l4", "l3l4-offload"]) {
      expect(value(`${t} mtu 1500 TCP up`)).toBeGreaterThan(0);
      expect(value(`${t} mtu 1500 TCP down`)).toBeGreaterThan(0);
      expect(value(`${t} mtu 1500 new conn/s`)).toBeGreaterThan(0);
      expect(value(`${t} mtu 1500 CPU µs/conn`)).toBeGreaterThan(0);
      expect(value(`${t} mtu 1500 CPU ms/Gbit down`)).toBeGreaterThan(0);
      expect(value(`${t} mtu 1500 UDP up`)).toBeGreaterThan(0);
      expect(value(`${t} mtu 1500 UDP down`)).toBeGreaterThan(0);
      expect(value(`${t} mtu 1500 UDP up carried`)).toBeGreaterThanOrEqual(value(`${t} mtu 1500 UDP up`)! * 0.9);
      expect(value(`${t} mtu 1500 CPU ms/Gbit UDP up`)).toBeGreaterThan(0);
      expect(Number.isFinite(value(`${t} mtu 1500 RSS growth under churn`))).toBe(true);
    }
    const ours = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
      .split("\n")
      .map((line) => line.split(" ")[0]!)
      .filter((name) => name.startsWith(`l3l4-bt-c-${process.pid}-`) || name.startsWith(`l3l4-bt-s-${process.pid}-`));
    expect(ours).toEqual([]);
  }, 600_000);

  it("tun2socks: iperf3 and wrk through dante (and microsocks) without and with offloads, next to direct, each server alone, CPU, RSS under churn (root, danted, wrk, nginx)", async (ctx) => {
    const missing = tun2socksMissing();
    skipOrFailInCi(ctx, missing === "" ? undefined : missing);
    const rows = await benchTun2socks(SECONDS, SMOKE);
    const names = [
      /^iperf3 socks5 mtu 1500 up$/,
      /^iperf3 socks5 offload mtu 1500 up$/,
      /^iperf3 socks5 offload mtu 65520 down/,
      /^iperf3 socks5 mtu 65520 down/,
      /^cpu socks5 mtu 1500 down$/,
      /^wrk proxy new connections/,
      /^wrk socks5 new connections/,
      /^cpu socks5 per new connection$/,
      /^wrk socks5 offload new connections/,
      /^cpu socks5 offload per new connection$/,
      /^socks5 server alone new connections/,
      /^rss after .* \(socks5\)$/,
      /^rss growth/,
      /^flows left/,
    ];
    // RSS may shrink over the churn, and no flow may be left: those two may be 0 or negative.
    expectSane(rows, "tun", names, /^(rss growth|flows left)/);
    // dante: 4 iperf3 and 4 cpu rows without offloads and as many with, conn/s, cpu and alone, and
    // with offloads conn/s and cpu; direct: conn/s and cpu; RSS: 3. microsocks (when installed): as
    // many iperf3, cpu and conn/s rows, and its alone row.
    const microsocks = rows.some((r) => r.name.includes("microsocks"));
    expect(rows).toHaveLength(26 + (microsocks ? 21 : 0));
    expect(rows.find((r) => r.name.startsWith("flows left"))!.value).toBeGreaterThanOrEqual(0);
  }, 300_000);

  it("flood: a few thousand SYNs, a legitimate client during and after them, a bulk flow alone and flooded", async () => {
    const rows = await benchFlood(SMOKE);
    // 2,000 SYNs into a backlog of 1,000: 1,000 half-open flows, the rest answered with cookies; the
    // client in the middle connects with a cookie (a flow), the one after it too (counted after).
    expectSane(
      rows,
      "flood",
      [/^heap growth per 1 M SYNs/, /^SYN rate$/, /^flows after the flood$/, /^legitimate client connects/, /^bulk throughput alone$/, /^bulk throughput, 200 SYNs/, /^bulk throughput, 20 SYNs/, /^bulk per CPU second flooded over alone, 200 SYNs/, /^bulk per CPU second flooded over alone, 20 SYNs/, /^heap growth under an out-of-order flood/, /^accounted memory peak under a fragment flood/],
      /^(heap growth under |legitimate SYN answered during|SYNs dropped over the SYN budget)/,
    );
    expect(rows).toHaveLength(21);
    for (const r of rows) if (r.name.startsWith("accounted memory peak") && r.name.endsWith("maxMemory 16 MiB")) expect(r.value).toBeLessThanOrEqual(16);
    for (const r of rows) if (r.name.startsWith("accounted memory peak") && r.name.endsWith("maxMemory 256 KiB")) expect(r.value).toBeLessThanOrEqual(0.25);
    const v = new Map(rows.map((r) => [r.name, r.value]));
    expect(v.get("legitimate client connects during the flood (1 = yes)")).toBe(1);
    expect(v.get("legitimate client connects after the flood (1 = yes)")).toBe(1);
    expect(v.get("flows after the flood")).toBe(SMOKE_SYN_BACKLOG + 1);
    // Past the backlog the SYN budget drops most of the flood's SYNs (tcp/syn-budget.ts).
    expect(v.get("SYNs dropped over the SYN budget")).toBeGreaterThan(0);
  });

  it("soak: 40 flows through l3l4 proxy over a real TUN with faults for 6 s: exact bytes, back to 0, no fd leak (root, TUN addon)", async (ctx) => {
    const missing = soakMissing();
    skipOrFailInCi(ctx, missing === "" ? undefined : missing);
    // The soak runs the l3l4 command from dist/ as a user would: build it (incremental: quick when fresh).
    execFileSync(process.execPath, [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-b"], { stdio: "inherit" });
    const rows = await benchSoak(SMOKE);
    // Failures, flows left and fds leaked must be 0 (fds may even be fewer than before).
    expectSane(rows, "soak", [/^flows completed/, /^bytes verified$/, /^proxy RSS peak/], /^(flows failed|flows left|flow table left|fds leaked)/);
    const v = new Map(rows.map((r) => [r.name, r.value]));
    expect(v.get("flows failed")).toBe(0);
    expect(v.get("flows left at the end (flowCount)")).toBe(0);
    expect(v.get("flow table left at the end")).toBe(0);
    expect(v.get("fds leaked")).toBeLessThanOrEqual(0);
  }, 240_000);

  it("the runner: the table, with a legend of how each figure was measured", async () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(" "));
    try {
      await main(["wire", "--smoke"]);
    } finally {
      console.log = log;
    }
    const out = lines.join("\n");
    expect(out).toMatch(/smoke: tiny sizes, one run, not a measurement/);
    expect(out).toMatch(/^wire +checksum 64 B +[\d.]+ GB\/s +1 /m);
    expect(out).toContain(`  wire: ${SMOKE_METHOD}`);
  });
});

describe("bench comparisons: better or worse only beyond the noise of the runs", () => {
  const runs = (median: number, spread: number): number[] => [median * (1 - spread / 2), median, median, median, median * (1 + spread / 2)];

  it("noise is (max - min) / median; none from one run", () => {
    expect(noise([90, 100, 110], 100)).toBeCloseTo(0.2);
    expect(noise([100], 100)).toBe(0);
    expect(noise(undefined, 100)).toBe(0);
  });

  it("a change inside the larger spread of the two sides is the same; beyond it, better or worse by the unit's direction", () => {
    const base = { unit: "Gbit/s", value: 10, runs: runs(10, 0.3) };
    expect(verdict({ unit: "Gbit/s", value: 11, runs: runs(11, 0.05) }, base)).toMatchObject({ word: "same", threshold: expect.closeTo(0.3, 5) });
    expect(verdict({ unit: "Gbit/s", value: 14, runs: runs(14, 0.05) }, base)).toMatchObject({ word: "better" });
    expect(verdict({ unit: "Gbit/s", value: 6, runs: runs(6, 0.05) }, base)).toMatchObject({ word: "worse" });
    // Lower is better for costs.
    const cost = { unit: "ns/pkt", value: 100, runs: runs(100, 0.02) };
    expect(verdict({ unit: "ns/pkt", value: 80, runs: runs(80, 0.02) }, cost)).toMatchObject({ word: "better" });
    expect(verdict({ unit: "ns/pkt", value: 120, runs: runs(120, 0.02) }, cost)).toMatchObject({ word: "worse" });
  });

  it("with no runs kept by the baseline, this side's spread decides; never below 1%", () => {
    const old = { unit: "GB/s", value: 10 };
    expect(verdict({ unit: "GB/s", value: 10.05, runs: [10.05, 10.05, 10.05] }, old)).toMatchObject({ word: "same", threshold: MIN_NOISE });
    expect(verdict({ unit: "GB/s", value: 10.5, runs: [10.5, 10.5, 10.5] }, old)).toMatchObject({ word: "better" });
    expect(verdict({ unit: "GB/s", value: 12, runs: [12] }, old)?.word).toBe("one run");
    expect(verdict({ unit: "GB/s", value: 12, runs: [12, 12] }, { unit: "ns/pkt", value: 3 })).toBeUndefined();
  });

  it("the table shows the comparison and explains it", () => {
    const row: Row = { group: "wire", name: "x", value: 14, unit: "Gbit/s", runs: runs(14, 0.05), method: "m" };
    const text = table([row], { about: "", figures: new Map([["wire\u0000x", { unit: "Gbit/s", value: 10, runs: runs(10, 0.1) }]]) }, "against");
    expect(text).toMatch(/\+40\.0% better \(noise 10\.0%\)/);
    expect(text).toMatch(/better \/ worse only beyond the noise/);
  });

  it("command line: --against takes a ref that names a commit; mistakes are usage errors", () => {
    expect(parseBenchArgs(["engine", "--against", "HEAD"])).toMatchObject({ filter: "engine", against: "HEAD", smoke: false });
    expect(() => parseBenchArgs(["--against", "HEAD", "--baseline", "f.json"])).toThrow(/choose one/);
    expect(() => parseBenchArgs(["--bogus"])).toThrow(/usage/);
    // --against hands the tun options to REF's runner as they were given.
    expect(parseBenchArgs(["tun", "--against", "HEAD", "--translators", "l3l4", "--seconds", "3"]).tunArgv).toEqual(["--translators", "l3l4", "--seconds", "3"]);
    expect(parseBenchArgs(["tun"]).tunArgv).toEqual([]);
    expect(parseBenchArgs(["tun", "--measure", "udp,udp-down"]).tun.measure).toEqual(["udp", "udp-down"]);
    expect(() => parseBenchArgs(["a", "b"])).toThrow(/one filter/);
    expect(resolveRef("HEAD")).toMatch(/^[0-9a-f]{40}$/);
    expect(() => resolveRef("no-such-ref-l3l4")).toThrow(/not a commit/);
    expect(() => resolveRef("--help")).toThrow(/not a git ref/);
  });
});
