/** One log line per distinct failure cause, rate-limited (lib/proxy/failure-log.ts), on an injected clock. */
import { describe, expect, it } from "vitest";
import { FailureLog } from "../../lib/proxy/failure-log.js";

function setup(maxCauses?: number) {
  let now = 0;
  const lines: string[] = [];
  const log = new FailureLog((line) => lines.push(line), { now: () => now, intervalMs: 10_000, ...(maxCauses === undefined ? {} : { maxCauses }) });
  return { log, lines, at: (ms: number) => (now = ms) };
}

describe("FailureLog", () => {
  it("prints the first failure of a cause, then nothing for the same cause within the interval", () => {
    const { log, lines, at } = setup();
    for (let i = 0; i < 1000; i++) {
      at(i);
      log.report("socks5://p:1080: connection refused", `flow ${i}`);
    }
    expect(lines).toEqual(["fail  socks5://p:1080: connection refused: flow 0"]);
    expect(log.total).toBe(1000);
  });

  it("after the interval prints again, with how many it held back", () => {
    const { log, lines, at } = setup();
    log.report("cause", "a");
    at(5000);
    log.report("cause", "b");
    log.report("cause", "c");
    at(10_000);
    log.report("cause", "d");
    at(10_001);
    log.report("cause", "e");
    at(30_000);
    log.report("cause", "f");
    expect(lines).toEqual(["fail  cause: a", "fail  cause: d (and 2 more since the last line)", "fail  cause: f (and 1 more since the last line)"]);
  });

  it("prints each distinct cause once", () => {
    const { log, lines } = setup();
    for (let i = 0; i < 3; i++) {
      log.report("auth failed", "x");
      log.report("timed out", "y");
    }
    expect(lines).toEqual(["fail  auth failed: x", "fail  timed out: y"]);
  });

  it("remembers a bounded number of causes: hostile variety cannot grow it", () => {
    const { log, lines } = setup(8);
    for (let i = 0; i < 100; i++) log.report(`cause ${i}`, "x");
    expect(log.size).toBe(8);
    expect(lines).toHaveLength(100);
    // A forgotten cause prints again; a remembered one does not.
    log.report("cause 0", "x");
    log.report("cause 99", "x");
    expect(lines).toHaveLength(101);
  });
});
