/**
 * The one setState (lib/tcp/state.ts) every transition goes through, seen through its trace hook:
 * the transitions of RFC 9293 §3.3.2's diagram, in order, for a passive open and an active close.
 */
import { afterEach, describe, expect, it } from "vitest";
import { traceTcpStates } from "../../lib/tcp/state.js";
import { establish, TcpHarness } from "../support/tcp-harness.js";

afterEach(() => traceTcpStates(null));

describe("setState's trace hook", () => {
  it("sees every transition of a connection once, in order, with its flow", () => {
    const seen: string[] = [];
    const h = new TcpHarness();
    traceTcpStates((flow, from, to) => seen.push(`${flow.dstPort} ${from} -> ${to}`));
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.at(10).in({ flags: ".", ack: 2 });
    h.at(20).in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.state()).toBe("TIME-WAIT");
    const port = h.flow().dstPort;
    expect(seen).toEqual([
      `${port} CLOSED -> SYN-RECEIVED`,
      `${port} SYN-RECEIVED -> ESTABLISHED`,
      `${port} ESTABLISHED -> FIN-WAIT-1`,
      `${port} FIN-WAIT-1 -> FIN-WAIT-2`,
      `${port} FIN-WAIT-2 -> TIME-WAIT`,
      // The connection is over (the application took everything); its TIME-WAIT record stays.
      `${port} TIME-WAIT -> CLOSED`,
    ]);
  });

  it("traces nothing once the hook is taken away", () => {
    const seen: string[] = [];
    traceTcpStates((_flow, from, to) => seen.push(`${from} -> ${to}`));
    traceTcpStates(null);
    establish(new TcpHarness());
    expect(seen).toEqual([]);
  });
});
