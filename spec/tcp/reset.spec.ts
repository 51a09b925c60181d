/**
 * Resets: RST validation and challenge ACKs against blind injection (RFC 5961 §3 RST, §4 SYN, §5 data
 * and ACK, §7 rate limit), the answer to segments for no connection (RFC 9293 §3.10.7.1), and ABORT
 * (RFC 9293 §3.10.5).
 */
import { describe, expect, it } from "vitest";
import { establish, TcpHarness } from "../support/tcp-harness.js";

describe("RST validation (RFC 5961 §3.2)", () => {
  it("a RST exactly at RCV.NXT resets the connection: no answer, l4Rx(null) once, flow gone", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101 });
    h.in({ flags: "R", seq: 101 });
    h.outNothing();
    expect(h.flowCount).toBe(0);
    h.expectClosed();
    expect(h.engine.stats().tcpResetsReceived).toBe(1);
    // Gone: the peer's next segment is answered with a RST.
    h.in({ flags: ".", seq: 101, ack: 1 });
    h.out({ flags: "R", seq: 1 });
  });

  it("a RST with ACK at RCV.NXT resets too", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "R.", seq: 1, ack: 1 });
    h.outNothing();
    h.expectClosed();
  });

  it("a RST inside the window but not at RCV.NXT gets a challenge ACK and changes nothing", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "R", seq: 1001 });
    h.out({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    expect(h.engine.stats().tcpChallengeAcks).toBe(1);
    // The genuine peer answers the challenge ACK with a RST at the exact sequence number.
    h.at(10).in({ flags: "R", seq: 1 });
    h.expectClosed();
  });

  it("a RST outside the window is dropped silently", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "R", seq: 1_000_000 });
    h.in({ flags: "R", seq: -5 });
    h.outNothing();
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("challenge ACKs are rate-limited (RFC 5961 §7)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "R", seq: 1001 });
    h.out({ flags: "." });
    h.in({ flags: "R", seq: 2001 });
    h.in({ flags: "R", seq: 3001 });
    h.outNothing();
    h.at(10).in({ flags: "R", seq: 4001 });
    h.out({ flags: "." });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("the limit is one challenge ACK per millisecond per flow (Linux's 1000 a second): the next one is due 1 ms later", () => {
    const h = new TcpHarness();
    establish(h);
    h.at(100).in({ flags: "R", seq: 1001 });
    h.out({ flags: ".", time: 100 });
    h.in({ flags: "R", seq: 1002 });
    h.outNothing();
    h.at(101).in({ flags: "R", seq: 1003 });
    h.out({ flags: ".", time: 101 });
    h.in({ flags: "S", seq: 5000 });
    h.outNothing();
    h.at(102).in({ flags: "S", seq: 5000 });
    h.out({ flags: ".", ack: 1, time: 102 });
    expect(h.engine.stats().tcpChallengeAcks).toBe(3);
    expect(h.state()).toBe("ESTABLISHED");
  });
});

describe("SYN on a synchronized connection (RFC 5961 §4.2)", () => {
  it.each([
    ["at RCV.NXT", 1],
    ["inside the window", 5000],
    ["below the window", -1000],
    ["far above the window", 1_000_000],
  ])("a SYN %s gets a challenge ACK; the connection stays", (_name, seq) => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "S", seq, mss: 1460 });
    h.out({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    expect(h.flowCount).toBe(1);
    expect(h.accepted).toHaveLength(1);
  });
});

describe("ACK validation (RFC 5961 §5.2, RFC 9293 §3.10.7.4 fifth)", () => {
  it("an ACK below SND.UNA - MAX.SND.WND gets a challenge ACK and its data is dropped", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, ack: -200_000, data: 100 });
    h.out({ flags: ".", seq: 1, ack: 1 });
    expect(h.app.received).toBe(0);
    expect(h.engine.stats().tcpChallengeAcks).toBe(1);
  });

  it("an ACK of data never sent is answered with an ACK and the segment dropped", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, ack: 5000, data: 100 });
    h.out({ flags: ".", seq: 1, ack: 1 });
    expect(h.app.received).toBe(0);
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("an old ACK within MAX.SND.WND is accepted with its data", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(1000);
    h.out({ flags: "P." });
    h.in({ flags: ".", ack: 1001 });
    h.in({ flags: "P.", seq: 1, ack: 501, data: 100 }); // reordered: acknowledges less than already known
    h.delayedAck({ flags: ".", ack: 101 });
    h.expectRx(100);
  });

  it("a segment without ACK on a synchronized connection is dropped (RFC 9293 §3.10.7.4: if the ACK bit is off)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P", seq: 1, data: 100 });
    h.outNothing();
    expect(h.app.received).toBe(0);
  });
});

describe("segments for no connection (RFC 9293 §3.10.7.1)", () => {
  it("an ACK segment: <SEQ=SEG.ACK><CTL=RST>", () => {
    const h = new TcpHarness();
    h.in({ flags: ".", seq: 1000, ack: 5555 });
    h.out({ flags: "R", seq: 5555, len: 0, noOptions: true });
    expect(h.flowCount).toBe(0);
    expect(h.accepted).toHaveLength(0);
    // No SYN cookie is out, so the ACK is not checked as one (Linux: tcp_synq_no_recent_overflow).
    expect(h.engine.stats().tcpSynCookiesRejected).toBe(0);
  });

  it("a segment without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", () => {
    const h = new TcpHarness();
    h.in({ flags: "P", seq: 1000, data: 10 });
    h.out({ flags: "R.", seq: 0, ack: 1010 });
    h.in({ flags: "F", seq: 2000 });
    h.out({ flags: "R.", seq: 0, ack: 2001 });
  });

  it("works on IPv6", () => {
    const h = new TcpHarness({ family: 6 });
    h.in({ flags: ".", seq: 1, ack: 77 });
    h.out({ flags: "R", seq: 77 });
  });

  it("a RST is never answered", () => {
    const h = new TcpHarness();
    h.in({ flags: "R", seq: 1 });
    h.in({ flags: "R.", seq: 1, ack: 1 });
    h.outNothing();
    expect(h.engine.stats().drops).toMatchObject({ no_flow_rst: 2 });
  });

  it("a SYN-ACK for no connection gets a RST, not a flow", () => {
    const h = new TcpHarness();
    h.in({ flags: "S.", seq: 0, ack: 12345 });
    h.out({ flags: "R", seq: 12345 });
    expect(h.accepted).toHaveLength(0);
  });
});

describe("ABORT (RFC 9293 §3.10.5)", () => {
  it("l4Abort sends <SEQ=SND.NXT><CTL=RST>, drops queued data and removes the flow: l4Rx(null) once", () => {
    const h = new TcpHarness();
    establish(h, { ackWin: 0 });
    h.app.send(5000); // zero window: queued
    h.outNothing();
    h.app.abort();
    h.out({ flags: "R", seq: 1, len: 0 });
    h.outNothing();
    expect(h.flowCount).toBe(0);
    h.expectClosed();
    expect(h.engine.stats().tcpAborts).toBe(1);
    expect(h.app.send(10)).toBeUndefined();
    h.app.abort(); // a gone flow: no-op
    h.outNothing();
    h.expectClosed();
    h.at(100_000).outNothing();
  });

  it("l4Abort in SYN-RECEIVED: RST and gone", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.app.abort();
    h.out({ flags: "R", seq: 1 });
    h.expectClosed();
  });

  it("l4Abort from inside l4Rx: the flow is gone when the callback returns, l4Rx(null) once", () => {
    const h = new TcpHarness();
    establish(h);
    h.onRx = (flow) => h.engine.l4Abort(h.callbacks, flow);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: "R" });
    h.outNothing();
    h.expectClosed();
    expect(h.flowCount).toBe(0);
  });

  it("l4Abort in TIME-WAIT: the record stays, nothing is sent (the flow already ended)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F." });
    h.in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: "." });
    h.app.abort();
    h.outNothing();
    h.expectClosed(undefined, true);
  });
});

describe("no ACK storms (Linux tcp_oow_rate_limited, RFC 5961 §7's spirit)", () => {
  it("bare ACKs outside the window are answered at most once per 500 ms; data always is", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1_000_000 });
    h.out({ flags: ".", ack: 1 });
    h.in({ flags: ".", seq: 1_000_000 });
    h.at(499).in({ flags: ".", seq: 1_000_000 });
    h.outNothing();
    h.at(500).in({ flags: ".", seq: 1_000_000 });
    h.out({ flags: ".", ack: 1 });
    // Out-of-window data is not part of a loop: always answered.
    h.in({ flags: ".", seq: 1_000_000, data: 10 });
    h.out({ flags: ".", ack: 1 });
    h.in({ flags: ".", seq: 1_000_000, data: 10 });
    h.out({ flags: ".", ack: 1 });
  });

  it("a bare ACK at RCV.NXT in TIME-WAIT gets no answer (two TIME-WAITs would ping-pong forever)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F." });
    h.in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.state()).toBe("TIME-WAIT");
    h.in({ flags: ".", seq: 2, ack: 2 });
    h.outNothing();
    // One below (a stray old ACK): answered, then rate-limited.
    h.in({ flags: ".", seq: 1, ack: 2 });
    h.out({ flags: ".", seq: 2, ack: 2 });
    h.in({ flags: ".", seq: 1, ack: 2 });
    h.outNothing();
  });

  it("after a timeout rewinds SND.NXT, bare ACKs still carry SND.MAX: the peer, which may hold it all, accepts them", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(3 * 1448);
    h.drain();
    h.at(200).out({ seq: 1, len: 1448 }); // RTO: go back to SND.UNA
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10 }); // the peer has not acked yet, but sends data
    h.delayedAck({ flags: ".", seq: 1 + 3 * 1448, ack: 11 });
  });
});
