/**
 * Two real engines over the in-memory link (lib/debug/link.ts), end to end: active open (l4Connect),
 * passive open, data both ways through loss, reordering, duplication and corruption, close, and
 * TIME-WAIT expiry, checked byte for byte. The scenario is the demo's (lib/debug/echo-pair.ts): a
 * client engine sends a known stream on each flow, the server engine echoes it.
 *
 * Each test has a fixed seed (spec/support/seeds.ts; L3L4_SEED=<n> runs others) and prints it when
 * it fails. spec/random-seed.spec.ts runs the lossy scenario with a fresh seed.
 */
import { describe, expect, it } from "vitest";
import type { Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { MemoryLink } from "../../lib/debug/link.js";
import type { L3L4 } from "../../lib/engine.js";
import { EchoPair, clientTuple } from "../../lib/debug/echo-pair.js";
import { echoEndToEnd, LOSSY } from "../support/echo-end-to-end.js";
import { specSeed } from "../support/seeds.js";

/** Bytes each way in the big transfer: 50 MB each way through these faults takes ~1.5 s per family. */
const BIG_TRANSFER_BYTES = 50_000_000;
const BIG_TRANSFER_FLOWS = 4;

function seeded(): number {
  return specSeed(`two-engines: ${expect.getState().currentTestName ?? ""}`);
}

describe("two engines over a clean link", () => {
  it.each([4, 6] as const)("IPv%i: l4Connect, echo, close: every flow gone on both engines", (family) => {
    const seed = seeded();
    // 2 MB a flow: far more than the 256 KiB buffers, so the echo server's receive pauses and its
    // window closes and reopens again and again.
    const r = echoEndToEnd({ flows: 3, bytesPerFlow: 2_000_000, family, seed, faults: "delay=1" });
    // On a clean link nothing is lost, so nothing is resent; and no sender ever sends past the window
    // the other offered, so nothing is dropped (out_of_window) either.
    expect(r.client.tcpRetransmits + r.server.tcpRetransmits).toBe(0);
    expect(r.client.drops).toEqual({});
    expect(r.server.drops).toEqual({});
  });

  it("at MTU 65535: segments far larger than 1500 bytes", () => {
    const seed = seeded();
    const r = echoEndToEnd({ flows: 2, bytesPerFlow: 2_000_000, mtu: 65535, seed, faults: "delay=1" });
    // 2 MB each way in far fewer segments than 1448-byte ones would take.
    expect(r.client.tcpSegmentsOut).toBeLessThan((2 * 2_000_000) / 10_000);
  });

  it("with reno as well as cubic", () => {
    const seed = seeded();
    echoEndToEnd({ flows: 2, bytesPerFlow: 500_000, seed, faults: "delay=1", congestion: "reno" });
  });
});

describe("two engines over a lossy, reordering, duplicating, corrupting link", () => {
  it.each([4, 6] as const)(
    `IPv%i: ${BIG_TRANSFER_BYTES / 1e6} MB each way byte-exact (${BIG_TRANSFER_FLOWS} flows)`,
    (family) => {
      const seed = seeded();
      const r = echoEndToEnd({
        flows: BIG_TRANSFER_FLOWS,
        bytesPerFlow: BIG_TRANSFER_BYTES / BIG_TRANSFER_FLOWS,
        family,
        seed,
        faults: LOSSY,
      });
      // The faults really happened, and TCP repaired them.
      const l = r.link;
      expect(l.aToB.lost + l.bToA.lost).toBeGreaterThan(0);
      expect(l.aToB.corrupted + l.bToA.corrupted).toBeGreaterThan(0);
      expect(l.aToB.duplicated + l.bToA.duplicated).toBeGreaterThan(0);
      expect(l.aToB.reordered + l.bToA.reordered).toBeGreaterThan(0);
      expect(r.client.tcpRetransmits + r.server.tcpRetransmits).toBeGreaterThan(0);
      // Corrupted packets are caught by the checksums, not delivered (a corrupted IP header may
      // also show up as another drop reason: truncated, bad version...).
      expect((r.client.drops["bad_checksum"] ?? 0) + (r.server.drops["bad_checksum"] ?? 0)).toBeGreaterThan(0);
    },
    120_000,
  );

  it.each([4, 6] as const)(
    "IPv%i: 1,000 flows at once, all echoed, closed and gone",
    (family) => {
      const seed = seeded();
      // With 5% loss each way a handshake fails 4 times running (SYNs at 0, 1, 3, 7 s; the engine
      // gives up at 15 s) with probability about 0.1^4: ~0.1 of 1,000 flows. Those flows are allowed,
      // but must end like every other; more than a handful would be a bug.
      const r = echoEndToEnd({ flows: 1000, bytesPerFlow: 10_000, family, seed, faults: LOSSY }, true);
      expect(r.handshakeFailures, `seed ${seed}`).toBeLessThanOrEqual(5);
    },
    120_000,
  );

  it(
    "asymmetric faults: a clean direction one way, a bad one back",
    () => {
      const seed = seeded();
      echoEndToEnd({ flows: 4, bytesPerFlow: 250_000, seed, aToB: "delay=1", bToA: "delay=3,jitter=2,loss=0.1,reorder=0.1" });
    },
    120_000,
  );
});

describe("replay", () => {
  it("the same seed gives the same run, counter for counter (so a printed seed reproduces a failure)", () => {
    const seed = seeded();
    const run = (): string => {
      const pair = new EchoPair({ flows: 5, bytesPerFlow: 40_000, seed, faults: LOSSY });
      pair.start();
      pair.runToCompletion();
      pair.runUntilGone();
      const r = pair.report();
      return JSON.stringify({ client: r.client, server: r.server, link: r.link, at: pair.link.clock.now(), problems: r.problems });
    };
    const first = run();
    expect(run()).toBe(first);
    // A different seed gives a different run.
    const other = new EchoPair({ flows: 5, bytesPerFlow: 40_000, seed: (seed + 1) >>> 0, faults: LOSSY });
    other.start();
    other.runToCompletion();
    other.runUntilGone();
    expect(JSON.stringify(other.report().link)).not.toBe(JSON.stringify(JSON.parse(first).link));
  });
});

// ------------------------------------------------------------------------------------------------
// UDP: l4Connect makes the flow; the engine sends its first datagram on l4Tx
// ------------------------------------------------------------------------------------------------

interface UdpSide {
  engine: L3L4<number>;
  rx: { flow: Flow; data: number[] | null }[];
  accepted: Flow[];
}

function udpPair(seed: number): { link: MemoryLink; a: UdpSide; b: UdpSide } {
  const link = new MemoryLink({ seed, faults: "delay=2" });
  const build = (): L3L4<number> => new L3L4Builder<number>().clock(link.clock.now).udpIdleTimeout(30).build();
  const a: UdpSide = { engine: build(), rx: [], accepted: [] };
  const b: UdpSide = { engine: build(), rx: [], accepted: [] };
  const cbB = link.callbacks("b");
  link.attach("a", a.engine, {
    l4Accept: (flow) => (a.accepted.push(flow), false),
    l4Rx: (flow, data) => a.rx.push({ flow, data: data === null ? null : [...data] }),
  });
  link.attach("b", b.engine, {
    l4Accept: (flow) => (b.accepted.push(flow), true),
    // Echo, with each byte + 1 so the reply cannot be the request bouncing back.
    l4Rx: (flow, data) => {
      b.rx.push({ flow, data: data === null ? null : [...data] });
      if (data !== null) b.engine.l4Tx(cbB, flow, data.map((x) => (x + 1) & 0xff));
    },
  });
  return { link, a, b };
}

describe("UDP flows opened with l4Connect", () => {
  it.each([4, 6] as const)("IPv%i: the first datagram is the engine's, the reply comes back on the same flow", (family) => {
    const seed = seeded();
    const { link, a, b } = udpPair(seed);
    const cbA = link.callbacks("a");
    const tuple = clientTuple(family, 0, "udp");
    const flow = a.engine.l4Connect(cbA, tuple);
    expect(flow).toMatchObject({ protocol: "udp", family, srcIp: tuple.srcIp, srcPort: tuple.srcPort, dstIp: tuple.dstIp, dstPort: tuple.dstPort });
    expect(a.engine.flowCount).toBe(1);
    expect(a.engine.l4State(flow)).toBe("ESTABLISHED");
    // Opening a UDP flow sends nothing: there is no handshake.
    expect(link.runUntil(() => false, { maxTimeMs: 10 })).toBe(false);
    expect(link.stats.aToB.sent).toBe(0);

    expect(a.engine.l4Tx(cbA, flow, Uint8Array.of(1, 2, 3))).toBe(3);
    expect(link.runUntil(() => a.rx.length === 1, { maxTimeMs: 1000 }), `seed ${seed}`).toBe(true);
    // The server engine saw a new flow from the client's address and port to the one connected to.
    expect(b.accepted).toHaveLength(1);
    expect(b.accepted[0]).toMatchObject({ protocol: "udp", family, srcIp: tuple.srcIp, srcPort: tuple.srcPort, dstIp: tuple.dstIp, dstPort: tuple.dstPort });
    expect(b.rx).toEqual([{ flow: b.accepted[0], data: [1, 2, 3] }]);
    // The reply is delivered on the l4Connect flow object, not a new one.
    expect(a.rx).toEqual([{ flow, data: [2, 3, 4] }]);
    expect(a.accepted).toEqual([]);
    expect(a.engine.stats().udpDatagramsOut).toBe(1);
    expect(a.engine.stats().udpDatagramsIn).toBe(1);

    // More datagrams on the same flow, and a second l4Connect of the same 5-tuple is refused.
    expect(a.engine.l4Tx(cbA, flow, Uint8Array.of(9))).toBe(1);
    expect(link.runUntil(() => a.rx.length === 2, { maxTimeMs: 1000 })).toBe(true);
    expect(a.rx[1]).toEqual({ flow, data: [10] });
    expect(() => a.engine.l4Connect(cbA, tuple)).toThrow(/exists/);

    // Closing: l4Rx(flow, null) once on the client at once; the server's flow idles out.
    a.engine.l4LocalClose(cbA, flow);
    expect(a.rx.filter((r) => r.data === null)).toEqual([{ flow, data: null }]);
    expect(a.engine.flowCount).toBe(0);
    expect(a.engine.l4State(flow)).toBeUndefined();
    expect(a.engine.l4Tx(cbA, flow, Uint8Array.of(1))).toBeUndefined();
    expect(b.engine.flowCount).toBe(1);
    expect(link.runUntil(() => b.engine.flowCount === 0, { maxTimeMs: 60_000 })).toBe(true);
    expect(b.rx.filter((r) => r.data === null)).toEqual([{ flow: b.accepted[0], data: null }]);
    expect(a.rx.filter((r) => r.data === null)).toHaveLength(1);
  });

  it("a refused reply path: the server's l4Accept says no, the client gets nothing and keeps its flow", () => {
    const seed = seeded();
    const link = new MemoryLink({ seed, faults: "delay=1" });
    const a = new L3L4Builder<number>().clock(link.clock.now).build();
    const b = new L3L4Builder<number>().clock(link.clock.now).build();
    const rx: (number[] | null)[] = [];
    link.attach("a", a, { l4Rx: (_f, d) => rx.push(d === null ? null : [...d]) });
    link.attach("b", b, { l4Accept: () => false });
    const cbA = link.callbacks("a");
    const flow = a.l4Connect(cbA, clientTuple(4, 0, "udp"));
    expect(a.l4Tx(cbA, flow, Uint8Array.of(7))).toBe(1);
    link.runFor(100);
    // RFC 1122 §4.1.3.1: port unreachable comes back as ICMP, which is no data for the flow.
    expect(b.stats().icmpErrorsSent).toBe(1);
    expect(rx).toEqual([]);
    expect(b.flowCount).toBe(0);
    expect(a.l4State(flow)).toBe("ESTABLISHED");
  });
});
