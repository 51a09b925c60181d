/**
 * Connection timers beyond retransmission: keep-alive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6), the idle
 * timeout (close), the half-open idle timeout (abort) and the handshake timeout. Each removal calls
 * l4Rx(flow, null) exactly once and lowers flowCount.
 */
import { describe, expect, it } from "vitest";
import { establish, info, pastQuickAck, TcpHarness } from "../support/tcp-harness.js";

describe("keep-alive (RFC 9293 §3.8.4; RFC 1122 §4.2.3.6)", () => {
  it("is off by default: an idle connection sends nothing for hours", () => {
    const h = new TcpHarness();
    establish(h);
    h.at(7_199_000).outNothing();
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("when enabled, probes after the idle time with <SEQ=SND.NXT-1>, no data; an answer keeps the flow", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpKeepAlive(60) });
    establish(h);
    h.at(59_999).outNothing();
    h.at(60_000).out({ flags: ".", seq: 0, ack: 1, len: 0, time: 60_000 });
    h.in({ flags: ".", ack: 1 }); // the peer answers
    h.outNothing();
    h.at(119_999).outNothing();
    h.at(120_000).out({ flags: ".", seq: 0, len: 0, time: 120_000 });
    expect(h.engine.stats().tcpKeepAlivesSent).toBe(2);
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("received data postpones the probe", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpKeepAlive(60) });
    establish(h);
    h.at(50_000).in({ flags: "P.", data: 10 });
    h.delayedAck({ flags: "." });
    h.at(109_999).outNothing();
    h.at(110_000).out({ flags: ".", seq: 0, len: 0 });
  });

  it("unanswered: 9 probes 75 s apart, then RST and the flow is removed, l4Rx(null) once", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpKeepAlive(60) });
    establish(h);
    for (let i = 0; i < 9; i++) {
      const t = 60_000 + i * 75_000;
      h.at(t).out({ flags: ".", seq: 0, len: 0, time: t });
    }
    expect(h.flowCount).toBe(1);
    h.at(60_000 + 9 * 75_000).out({ flags: "R", seq: 1 });
    expect(h.flowCount).toBe(0);
    h.expectClosed();
    h.at(10_000_000).outNothing();
  });
});

describe("idle timeout (tcpIdleTimeout: ESTABLISHED with no data either way: close)", () => {
  it("closes with a FIN after the idle time; data in either direction restarts it", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpIdleTimeout(60) });
    establish(h);
    h.at(30_000).in({ flags: "P.", data: 10 });
    h.delayedAck({ flags: "." });
    h.at(50_000);
    h.app.send(10);
    h.out({ flags: "P." });
    h.in({ flags: ".", ack: 11 });
    h.at(109_999).outNothing();
    h.at(110_000).out({ flags: "F.", seq: 11, time: 110_000 });
    expect(h.state()).toBe("FIN-WAIT-1");
    expect(h.engine.stats().tcpIdleTimeouts).toBe(1);
    expect(h.app.closedCount).toBe(0);
    h.in({ flags: "F.", ack: 12 });
    h.out({ flags: "." });
    h.expectClosed(undefined, true);
  });
});

describe("half-open idle timeout (tcpHalfOpenIdleTimeout: half-closed with no data: abort)", () => {
  it("CLOSE-WAIT (the peer's FIN, ours never sent): RST after the timeout, flow removed once", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpHalfOpenIdleTimeout(30) });
    establish(h);
    h.at(1000).in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    h.at(30_999).outNothing();
    h.at(31_000).out({ flags: "R", seq: 1 });
    expect(h.flowCount).toBe(0);
    h.expectClosed();
  });

  it("FIN-WAIT-2 (our FIN acknowledged, the peer's never comes): RST after the timeout", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpHalfOpenIdleTimeout(30) });
    establish(h);
    h.at(1000);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.in({ flags: ".", ack: 2 });
    expect(h.state()).toBe("FIN-WAIT-2");
    h.at(30_999).outNothing();
    h.at(31_000).out({ flags: "R", seq: 2 });
    h.expectClosed();
    expect(h.flowCount).toBe(0);
  });

  it("data still flowing on a half-closed connection keeps it", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpHalfOpenIdleTimeout(30) });
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: "." });
    for (let t = 20_000; t <= 100_000; t += 20_000) {
      h.at(t);
      h.app.send(10);
      h.out({ flags: "P." });
      h.in({ flags: ".", ack: 1 + (t / 20_000) * 10 });
    }
    expect(h.state()).toBe("CLOSE-WAIT");
    h.at(129_999).outNothing();
    h.at(130_000).out({ flags: "R" });
    h.expectClosed();
  });
});

describe("handshake timeout (15 s)", () => {
  it("a SYN never completed is forgotten after 15 s: l4Rx(null) once, flowCount back to 0", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.drain();
    expect(h.flowCount).toBe(1);
    for (let t = 1000; t < 15_000; t += 1000) {
      h.at(t);
      h.drain(); // SYN-ACK retransmissions
    }
    expect(h.flowCount).toBe(1);
    h.at(15_000);
    h.drain();
    expect(h.flowCount).toBe(0);
    h.expectClosed();
    expect(h.deadline).toBeUndefined();
  });

  it("many half-open flows all go away (no leak in the table or the timer heap)", () => {
    const h = new TcpHarness();
    for (let i = 0; i < 100; i++) {
      h.in({ flags: "S", seq: 0, mss: 1460, port: 20000 + i });
      h.drain();
    }
    expect(h.flowCount).toBe(100);
    for (let t = 1000; t <= 15_000; t += 1000) {
      h.at(t);
      h.drain();
    }
    expect(h.flowCount).toBe(0);
    expect(h.deadline).toBeUndefined();
    for (let i = 0; i < 100; i++) expect(h.conn(20000 + i).closedCount).toBe(1);
  });
});

// The timers of lib/tcp/timers.ts at their boundaries (issue 10's mutation run): the SYN and SYN-ACK
// retransmission timer (RFC 6298 §2.1, §5.5), the retry when the device had no buffer, and the delayed
// ACK (RFC 9293 §3.8.6.3). A timeout in the middle of a recovery is in retransmit.spec.ts, the persist
// timer's first interval in send.spec.ts.

describe("the SYN-ACK's retransmission timer (RFC 6298 §2.1, §5.5)", () => {
  it("retransmits the SYN-ACK at 1 s, 3 s and 7 s, each counted as a retransmission", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", seq: 0, time: 0 });
    h.at(999).outNothing();
    h.at(1000).out({ flags: "S.", seq: 0, ack: 1, time: 1000 });
    h.at(2999).outNothing();
    h.at(3000).out({ flags: "S.", seq: 0, ack: 1, time: 3000 });
    expect(h.engine.stats().tcpRtoTimeouts).toBe(2);
    expect(h.engine.stats().tcpRetransmits).toBe(2);
    h.at(3100).in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    expect(info(h).retransmits).toBe(2);
  });

  it("the active opener's SYN: the same schedule, and the flow's retransmission count", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S", time: 0 });
    h.at(1000).out({ flags: "S", seq: 0, time: 1000 });
    h.at(2000).in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    h.out({ flags: ".", ack: 1 });
    expect(info(h).retransmits).toBe(1);
    expect(h.engine.stats().tcpRetransmits).toBe(1);
  });

  it("an ACK of the handshake stops the timer: nothing more is sent, no timeout is counted", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", time: 0 });
    h.at(10).in({ flags: ".", seq: 1, ack: 1 });
    h.at(60_000).outNothing();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
  });
});

describe("no transmit buffer: the segment goes on the next try, 1 ms later", () => {
  it("the SYN-ACK (SYN-RECEIVED)", () => {
    const h = new TcpHarness();
    h.txBlocked = true;
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.txBlocked = false;
    h.outNothing();
    h.at(1).out({ flags: "S.", seq: 0, ack: 1, time: 1 });
    h.at(999).outNothing();
  });

  it("the SYN (SYN-SENT)", () => {
    const h = new TcpHarness();
    h.txBlocked = true;
    h.connect();
    h.txBlocked = false;
    h.outNothing();
    h.at(1).out({ flags: "S", seq: 0, time: 1 });
  });

  it("data in ESTABLISHED", () => {
    const h = new TcpHarness();
    establish(h);
    h.txBlocked = true;
    h.app.send(100);
    h.txBlocked = false;
    h.outNothing();
    h.at(1).out({ flags: "P.", seq: 1, len: 100, time: 1 });
  });

  it("an immediate ACK owed (an out-of-order segment, RFC 5681 §4.2) goes on the retry", () => {
    const h = new TcpHarness();
    establish(h);
    h.txBlocked = true;
    h.in({ flags: "P.", seq: 101, data: 10 });
    h.txBlocked = false;
    h.outNothing();
    h.at(1).out({ flags: ".", ack: 1, sack: [[101, 111]], time: 1 });
  });
});

describe("the delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2)", () => {
  it("one small segment is acknowledged after tcpDelayedAckMs (40 ms), not before", () => {
    const h = new TcpHarness();
    establish(h);
    h.at(100).in({ flags: "P.", data: 10 });
    h.at(139).outNothing();
    h.at(140).out({ flags: ".", ack: 11, time: 140 });
    h.at(1000).outNothing();
  });

  it("the timer counts from the first unacknowledged segment, not the last", () => {
    const h = new TcpHarness();
    establish(h);
    h.at(100).in({ flags: "P.", data: 10 });
    h.at(120).in({ flags: "P.", data: 10 });
    // Linux and RFC 5681 §4.2 acknowledge every second full-sized segment; these are small, so the
    // second only finds the timer armed (receive.ts countSegmentForAck): one ACK, 40 ms after the first.
    h.at(139).outNothing();
    h.at(140).out({ flags: ".", ack: 21, time: 140 });
    h.at(1000).outNothing();
  });
});

describe("the delayed ACK when the device has no buffer (RFC 9293 §3.8.6.3: the ACK is owed, only late)", () => {
  it.each([
    ["a full-sized segment's delayed ACK that found no buffer is sent within another tcpDelayedAckMs", 1448],
    ["a small segment's delayed ACK that found no buffer is still sent (it counts for no ACK-every-2 re-arm)", 10],
  ])("%s", (_name, bytes) => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    h.at(10).in({ flags: ".", seq: s, data: bytes });
    h.txBlocked = true;
    h.at(50).outNothing(); // the delayed-ACK timer fires: no buffer
    h.txBlocked = false;
    h.at(90).out({ flags: ".", ack: s + bytes });
    expect(h.engine.stats().txBufferUnavailable).toBeGreaterThan(0);
    h.at(1000).outNothing();
  });
});
