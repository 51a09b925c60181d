/**
 * 10 MB through a bad link, both ways: 5% loss, 5% reordering, 1% duplication (each direction, so
 * ACKs suffer too), 5 ms one-way delay. The other end is an independent reference TCP
 * (spec/support/reference-tcp.ts), so the engine is checked against something that does not share its
 * code. Delivered byte-exact, in order, once; both ends close cleanly; the engine ends with no flow.
 *
 * Fixed seeds (spec/support/seeds.ts; printed on failure); spec/random-seed.spec.ts runs a fresh one.
 */
import { describe, expect, it } from "vitest";
import { report, transfer } from "../support/lossy-transfer.js";
import { specSeed } from "../support/seeds.js";

const MB10 = 10 * 1024 * 1024;

describe("lossy link: 5% loss, 5% reordering, 1% duplication", () => {
  it("a reference sender pushes 10 MB into the engine: delivered byte-exact, in order, once", () => {
    const r = transfer(4, MB10, 0, specSeed(`lossy-link: ${expect.getState().currentTestName ?? ""}`));
    report("reference -> engine", r);
    expect(r.engineStats.tcpOutOfOrderSegments).toBeGreaterThan(0); // the faults did happen
  });

  it("the engine sends 10 MB to a reference receiver: delivered byte-exact, in order, once", () => {
    const r = transfer(4, 0, MB10, specSeed(`lossy-link: ${expect.getState().currentTestName ?? ""}`));
    report("engine -> reference", r);
    expect(r.engineStats.tcpRetransmits).toBeGreaterThan(0);
  });

  it("both directions at once over IPv6 (2 MB each way)", () => {
    const r = transfer(6, 2 * 1024 * 1024, 2 * 1024 * 1024, specSeed(`lossy-link: ${expect.getState().currentTestName ?? ""}`));
    report("both ways, IPv6", r);
  });
});
