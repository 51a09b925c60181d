/**
 * maxFlowsPerSource (lib/flow/sources.ts): one source cannot open more than its share of flows; past
 * it TCP gets a RST (RFC 9293 §3.10.7.1) and UDP ICMP port unreachable (RFC 1122 §4.1.3.1), counted;
 * the count follows the flows both ways, and hostile sources spread over many addresses grow it no
 * further than the flows they hold.
 */
import { describe, expect, it } from "vitest";
import { Flag } from "../support/oracle/numbers.js";
import { engineFixture } from "../support/engine-fixture.js";
import { tcp, udp, type Parsed } from "../support/packets.js";

const DST = { dst: "10.0.0.1", dstPort: 80 };

function syn(src: string, srcPort: number, seq = 1000) {
  return tcp({ src, srcPort, ...DST, flags: "S", seq, options: { mss: 1460 } });
}

const rstAnswering = (p: Parsed, seq: number) =>
  p.tcp !== undefined && p.tcp.flags === (Flag.RST | Flag.ACK) && p.tcp.seq === 0 && p.tcp.ack === seq + 1;

describe("maxFlowsPerSource", () => {
  it("is checked by the builder, off by default", () => {
    const { engine } = engineFixture();
    expect(engine.stats().flowSources).toBe(0);
    expect(() => engineFixture((b) => b.maxFlowsPerSource(0))).toThrow(RangeError);
    expect(() => engineFixture((b) => b.maxFlowsPerSource(2.5))).toThrow(RangeError);
    expect(() => engineFixture((b) => b.maxFlowsPerSource(Infinity))).not.toThrow();
  });

  it("off: one source opens as many flows as it likes", () => {
    const { engine, cap } = engineFixture();
    for (let i = 0; i < 50; i++) engine.l3Rx(cap, syn("10.0.0.5", 30000 + i));
    expect(engine.flowCount).toBe(50);
    expect(engine.stats().flowsRefusedPerSource).toBe(0);
  });

  it("TCP: the SYN past the limit gets a RST and opens nothing; other sources still open; a closed flow frees its place", () => {
    const { engine, cap } = engineFixture((b) => b.maxFlowsPerSource(2));
    engine.l3Rx(cap, syn("10.0.0.5", 30001));
    engine.l3Rx(cap, syn("10.0.0.5", 30002));
    expect(cap.take().map((p) => p.tcp!.flags)).toEqual([Flag.SYN | Flag.ACK, Flag.SYN | Flag.ACK]);
    expect(engine.stats().flowSources).toBe(1);

    engine.l3Rx(cap, syn("10.0.0.5", 30003, 7777));
    const [rst] = cap.take();
    expect(rstAnswering(rst!, 7777)).toBe(true);
    expect(rst!.dst).toBe("10.0.0.5");
    expect(engine.flowCount).toBe(2);
    const s = engine.stats();
    expect(s.flowsRefusedPerSource).toBe(1);
    expect(s.drops["source_flow_limit"]).toBe(1);

    engine.l3Rx(cap, syn("10.0.0.6", 30003));
    expect(cap.take()[0]!.tcp!.flags).toBe(Flag.SYN | Flag.ACK);
    expect(engine.stats().flowSources).toBe(2);

    // The peer resets one of its connections: the source may open another.
    expect(engine.stats().tcpFlowsOpened).toBe(3);
    engine.l3Rx(cap, tcp({ src: "10.0.0.5", srcPort: 30001, ...DST, flags: "R", seq: 1001 }));
    expect(engine.flowCount).toBe(2);
    engine.l3Rx(cap, syn("10.0.0.5", 30004));
    expect(cap.take().at(-1)!.tcp!.flags).toBe(Flag.SYN | Flag.ACK);
    expect(engine.flowCount).toBe(3);
    expect(engine.stats().flowsRefusedPerSource).toBe(1);
  });

  it("TCP past the SYN backlog: a SYN from a full source gets a RST, not a cookie; a cookie whose source filled meanwhile gets a RST", () => {
    const { engine, cap } = engineFixture((b) => b.maxFlowsPerSource(1).synBacklog(0));
    // Two SYNs from one source, both answered with cookies (nothing is counted until an ACK returns).
    engine.l3Rx(cap, syn("10.0.0.5", 31001, 100));
    engine.l3Rx(cap, syn("10.0.0.5", 31002, 200));
    const [c1, c2] = cap.take();
    expect(engine.stats().tcpSynCookiesSent).toBe(2);
    expect(engine.flowCount).toBe(0);
    // The first cookie comes back: established, counted.
    const f1 = engine.l3Rx(cap, tcp({ src: "10.0.0.5", srcPort: 31001, ...DST, flags: "A", seq: 101, ack: c1!.tcp!.seq + 1 }));
    expect(f1).toBeDefined();
    expect(engine.l4State(f1!)).toBe("ESTABLISHED");
    expect(engine.stats().flowSources).toBe(1);
    // The second is valid too, but its source is full now.
    cap.take();
    engine.l3Rx(cap, tcp({ src: "10.0.0.5", srcPort: 31002, ...DST, flags: "A", seq: 201, ack: c2!.tcp!.seq + 1 }));
    const [r2] = cap.take();
    expect(r2!.tcp!.flags).toBe(Flag.RST);
    expect(r2!.tcp!.seq).toBe(c2!.tcp!.seq + 1);
    expect(engine.flowCount).toBe(1);
    // A new SYN is refused before a cookie is spent on it.
    engine.l3Rx(cap, syn("10.0.0.5", 31003, 300));
    expect(rstAnswering(cap.take()[0]!, 300)).toBe(true);
    expect(engine.stats().tcpSynCookiesSent).toBe(2);
    expect(engine.stats().flowsRefusedPerSource).toBe(2);
  });

  it("UDP: the datagram that would make a flow past the limit gets ICMP port unreachable; the flow's end frees its place", () => {
    const { engine, cap, clock } = engineFixture((b) => b.maxFlowsPerSource(2).udpIdleTimeout(10));
    const dg = (srcPort: number) => udp({ src: "10.0.0.5", srcPort, dst: "10.0.0.1", dstPort: 53, payload: "q" });
    expect(engine.l3Rx(cap, dg(40001))).toBeDefined();
    expect(engine.l3Rx(cap, dg(40002))).toBeDefined();
    // More datagrams on the flows it has are no new flows.
    expect(engine.l3Rx(cap, dg(40001))).toBeDefined();
    expect(engine.l3Rx(cap, dg(40003))).toBeUndefined();
    const [icmp] = cap.take();
    expect(icmp!.icmp).toMatchObject({ type: 3, code: 3 });
    expect(engine.flowCount).toBe(2);
    expect(engine.stats().flowsRefusedPerSource).toBe(1);
    expect(engine.stats().drops["source_flow_limit"]).toBe(1);
    clock.advance(11_000);
    engine.l4Poll(cap);
    expect(engine.flowCount).toBe(0);
    expect(engine.stats().flowSources).toBe(0);
    expect(engine.l3Rx(cap, dg(40003))).toBeDefined();
  });

  it("TCP and UDP flows of one source share its count", () => {
    const { engine, cap } = engineFixture((b) => b.maxFlowsPerSource(2));
    engine.l3Rx(cap, syn("10.0.0.5", 30001));
    expect(engine.l3Rx(cap, udp({ src: "10.0.0.5", srcPort: 40001, dst: "10.0.0.1", dstPort: 53, payload: "q" }))).toBeDefined();
    cap.take();
    engine.l3Rx(cap, syn("10.0.0.5", 30002, 50));
    expect(rstAnswering(cap.take()[0]!, 50)).toBe(true);
  });

  it("IPv6: addresses of one /64 share a count; another /64 does not", () => {
    const { engine, cap } = engineFixture((b) => b.maxFlowsPerSource(2));
    const syn6 = (src: string, srcPort: number) =>
      tcp({ src, srcPort, dst: "fd00::1", dstPort: 80, flags: "S", seq: 9, options: { mss: 1440 } });
    engine.l3Rx(cap, syn6("2001:db8:0:1::1", 30001));
    engine.l3Rx(cap, syn6("2001:db8:0:1:dead:beef:0:2", 30001));
    engine.l3Rx(cap, syn6("2001:db8:0:1:ffff:ffff:ffff:ffff", 30001));
    engine.l3Rx(cap, syn6("2001:db8:0:2::1", 30001));
    expect(cap.take().map((p) => p.tcp!.flags)).toEqual([Flag.SYN | Flag.ACK, Flag.SYN | Flag.ACK, Flag.RST | Flag.ACK, Flag.SYN | Flag.ACK]);
    expect(engine.stats().flowSources).toBe(2);
  });

  it("neither l4Connect flows nor flows l4Accept refuses are counted", () => {
    const { engine, cap } = engineFixture((b) => b.maxFlowsPerSource(1));
    engine.l4Connect(cap, { protocol: "tcp", srcIp: "10.0.0.1", srcPort: 5000, dstIp: "10.0.0.5", dstPort: 80 });
    engine.l4Connect(cap, { protocol: "udp", srcIp: "10.0.0.1", srcPort: 5000, dstIp: "10.0.0.5", dstPort: 53 });
    expect(engine.stats().flowSources).toBe(0);
    cap.acceptIf(() => false);
    engine.l3Rx(cap, syn("10.0.0.5", 30001));
    expect(engine.stats().flowSources).toBe(0);
    cap.acceptIf(() => true);
    engine.l3Rx(cap, syn("10.0.0.5", 30002));
    expect(engine.stats().flowSources).toBe(1);
    expect(engine.flowCount).toBe(3);
  });

  it("a SYN flood spread over many sources: the count never holds more sources than flows, and empties with them", () => {
    const { engine, cap, clock } = engineFixture((b) => b.maxFlowsPerSource(1).maxFlows(500));
    for (let i = 0; i < 3000; i++) {
      engine.l3Rx(cap, syn(`10.9.${(i >> 8) & 255}.${i & 255}`, 20000 + (i % 1000), i));
      if (i % 100 === 0) {
        const s = engine.stats();
        expect(s.flowSources).toBeLessThanOrEqual(s.flows);
      }
      cap.sent.length = 0;
    }
    const s = engine.stats();
    expect(s.flows).toBe(500);
    expect(s.flowSources).toBe(500);
    // The half-open connections give up: nothing is left counted.
    for (let t = 0; t < 8; t++) {
      clock.advance(10_000);
      engine.l4Poll(cap);
    }
    expect(engine.flowCount).toBe(0);
    expect(engine.stats().flowSources).toBe(0);
  });
});
