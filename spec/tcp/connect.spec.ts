/**
 * Active open (l4Connect): RFC 9293 §3.10.1 OPEN and §3.10.7.3 SYN-SENT; options offered per
 * RFC 7323 §2.2/§3.2 and RFC 2018 §2 and used only when the SYN-ACK echoes them.
 */
import { describe, expect, it } from "vitest";
import { TcpHarness } from "../support/tcp-harness.js";

describe("active open (RFC 9293 §3.10.7.3 SYN-SENT)", () => {
  it("sends a SYN offering every option; the SYN-ACK makes it ESTABLISHED and gets an ACK", () => {
    const h = new TcpHarness();
    const flow = h.connect();
    expect([flow.srcIp, flow.srcPort, flow.dstIp, flow.dstPort]).toEqual([h.localIp, h.localPort, h.peerIp, h.defaultPort]);
    h.out({ flags: "S", seq: 0, mss: 1460, sackOK: true, wscale: 3, ts: [0, 0], win: 65535 });
    expect(h.state()).toBe("SYN-SENT");
    expect(h.engine.stats().tcpFlowsOpened).toBe(1);
    h.at(20).in({ flags: "S.", seq: 0, ack: 1, mss: 1400, sackOK: true, ts: [500, undefined], wscale: 2, win: 30000 });
    h.out({ flags: ".", seq: 1, ack: 1, ts: [20, 500] });
    expect(h.state()).toBe("ESTABLISHED");
    h.app.send(3000);
    // MSS 1400 less 12 bytes of timestamps.
    h.out({ flags: ".", seq: 1, len: 1388 });
    h.out({ flags: ".", seq: 1389, len: 1388 });
    h.out({ flags: "P.", seq: 2777, len: 224 });
    h.in({ flags: "P.", seq: 1, ack: 3001, data: 10 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.expectRx(10);
  });

  it("a SYN-ACK without options: no timestamps, SACK or window scaling afterwards", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "S.", seq: 0, ack: 1, win: 65535, mss: 1460 });
    h.out({ flags: ".", ack: 1, ts: null });
    h.in({ flags: ".", seq: 2001, ack: 1, data: 100, ts: null });
    h.out({ flags: ".", ack: 1, sack: null, win: 65535, ts: null });
  });

  it("data queued before the handshake completes goes right after it", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    expect(h.app.send(100)).toBe(100);
    h.outNothing();
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    h.out({ flags: "P.", seq: 1, ack: 1, len: 100 });
  });

  it("the SYN is retransmitted after 1 s, 3 s... and the attempt gives up at 15 s: l4Rx(null) once", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S", time: 0 });
    h.at(1000).out({ flags: "S", seq: 0, time: 1000 });
    h.at(3000).out({ flags: "S", seq: 0, time: 3000 });
    h.at(7000).out({ flags: "S", seq: 0, time: 7000 });
    h.at(15_000);
    h.drain();
    expect(h.flowCount).toBe(0);
    h.expectClosed();
  });

  it("a RST with an acceptable ACK refuses the connection: l4Rx(null) once (RFC 9293 §3.10.7.3)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "R.", seq: 0, ack: 1 });
    h.outNothing();
    h.expectClosed();
    expect(h.flowCount).toBe(0);
  });

  it("a RST without ACK, or with a wrong ACK, is ignored", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "R", seq: 0 });
    h.in({ flags: "R.", seq: 0, ack: 77 });
    h.outNothing();
    expect(h.state()).toBe("SYN-SENT");
  });

  it("an ACK acknowledging something never sent gets <SEQ=SEG.ACK><CTL=RST>", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "S.", seq: 0, ack: 500 });
    h.out({ flags: "R", seq: 500 });
    expect(h.state()).toBe("SYN-SENT");
  });

  it("a SYN-ACK acknowledging the ISS itself (not ISS + 1) gets <SEQ=SEG.ACK><CTL=RST> (SEG.ACK =< ISS)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "S.", seq: 0, ack: 0 });
    h.out({ flags: "R", seq: 0 });
    expect(h.state()).toBe("SYN-SENT");
    // The right one still completes the handshake.
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    h.out({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("data on the SYN-ACK is taken (RFC 9293 §3.10.7.3: continue at the sixth step); SYN with FIN is dropped", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    // SYN and FIN together is no segment a TCP sends (a scan's probe): dropped before TCP sees it.
    h.in({ flags: "FS.", seq: 0, ack: 1, mss: 1460, data: 100 });
    h.outNothing();
    expect(h.engine.stats().drops).toMatchObject({ bad_flags: 1 });
    expect(h.state()).toBe("SYN-SENT");
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460, data: 100 });
    h.out({ flags: ".", seq: 1, ack: 101 });
    h.expectRx(100);
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("simultaneous open: a SYN in SYN-SENT -> SYN-RECEIVED and a SYN-ACK (RFC 9293 §3.5 figure 7)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S", seq: 0 });
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", seq: 0, ack: 1 });
    expect(h.state()).toBe("SYN-RECEIVED");
    h.in({ flags: "S.", seq: 0, ack: 1 });
    h.drain();
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("l4LocalClose in SYN-SENT deletes the connection (RFC 9293 §3.10.4)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.app.close();
    h.outNothing();
    h.expectClosed();
    expect(h.flowCount).toBe(0);
  });
});
