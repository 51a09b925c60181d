/**
 * A connection's timers (lib/tcp/timers.ts) at their boundaries: the SYN and SYN-ACK retransmission
 * timer (RFC 6298 §2.1, §5.5), the timeout in the middle of a recovery (RFC 5681 §3.1, RFC 6675 §5.1),
 * the persist timer's first interval (RFC 9293 §3.8.6.1), the retry when the device had no buffer,
 * and the delayed ACK (RFC 9293 §3.8.6.3). Observed through segments, l4Info and stats only.
 */
import { describe, expect, it } from "vitest";
import { establish, TcpHarness } from "../support/tcp-harness.js";

const SMSS = 1448;
const seg = (i: number): number => 1 + i * SMSS;

function info(h: TcpHarness) {
  return h.engine.l4Info(h.flow())!;
}

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

describe("a timeout during recovery (RFC 5681 §3.1, RFC 6675 §5.1)", () => {
  it("ends the recovery: the next ACK is slow start from the loss window (cwnd 1 -> 2 SMSS)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h);
    h.app.send(6 * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1), sack: [[seg(2), seg(6)]] });
    h.out({ seq: seg(1), len: SMSS });
    h.drain();
    h.at(h.deadline!).out({ seq: seg(1), len: SMSS });
    expect(info(h).cwnd).toBe(SMSS);
    h.at(h.now + 10).in({ flags: ".", ack: seg(2) });
    expect(info(h).cwnd).toBe(2 * SMSS);
  });

  it("NewReno: the same, and the timer of the go-back-N segments restarts", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h, { sackOK: false });
    h.app.send(6 * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1) });
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(1), len: SMSS });
    h.at(h.deadline!).out({ seq: seg(1), len: SMSS });
    expect(info(h).cwnd).toBe(SMSS);
    h.at(h.now + 10).in({ flags: ".", ack: seg(2) });
    expect(info(h).cwnd).toBe(2 * SMSS);
  });

  it("the duplicate ACKs counted before a timeout do not count after it (RFC 5681 §3.2: three duplicates of the new SND.UNA)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    // Segment 0 lost; two duplicate ACKs SACKing one and two segments (not yet lost by IsLost).
    h.at(20).in({ flags: ".", ack: seg(0), sack: [[seg(1), seg(2)]] });
    h.drain();
    h.in({ flags: ".", ack: seg(0), sack: [[seg(1), seg(3)]] });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    h.at(h.deadline!).out({ seq: seg(0), len: SMSS });
    expect(h.engine.stats().tcpRtoTimeouts).toBe(1);
    // One duplicate ACK after the timeout (the scoreboard was cleared): one, not three.
    h.at(h.now + 5).in({ flags: ".", ack: seg(0), sack: [[seg(1), seg(2)]] });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
  });
});

describe("the persist timer (RFC 9293 §3.8.6.1)", () => {
  it("the first probe waits the current RTO when that is above the 200 ms floor", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 }); // no timestamps: the SYN-ACK is timed
    h.out({ flags: "S." });
    h.at(300).in({ flags: ".", seq: 1, ack: 1 }); // R = 300 ms: RTO = 300 + 4 * 150 = 900 ms
    expect(info(h).rto).toBe(900);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100 });
    h.at(310).in({ flags: ".", ack: 101, win: 0 });
    const rto = info(h).rto;
    expect(rto).toBeGreaterThan(200);
    h.app.send(100);
    h.outNothing();
    h.at(310 + rto - 1).outNothing();
    h.at(310 + rto).out({ flags: ".", seq: 100, len: 0, time: 310 + rto });
  });

  it("another timer running first (the delayed ACK) leaves the persist timer alone: no early probe", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100 });
    h.in({ flags: ".", ack: 101, win: 0 });
    h.app.send(100); // waits for the window: the persist timer is armed for 200 ms
    h.at(50).in({ flags: "P.", seq: 1, ack: 101, data: 10, win: 0 });
    h.at(90).out({ flags: ".", seq: 101, ack: 11, len: 0, time: 90 }); // the delayed ACK only
    h.at(199).outNothing();
    h.at(200).out({ flags: ".", seq: 100, len: 0, time: 200 });
    expect(h.engine.stats().tcpZeroWindowProbes).toBe(1);
  });

  it("no probe once the window has opened and everything is acknowledged", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100 });
    h.in({ flags: ".", ack: 101, win: 0 });
    h.app.send(100);
    h.at(100).in({ flags: ".", ack: 101, win: 1000 });
    h.out({ flags: "P.", seq: 101, len: 100 });
    h.at(120).in({ flags: ".", ack: 201 });
    h.at(100_000).outNothing();
    expect(h.engine.stats().tcpZeroWindowProbes).toBe(0);
  });

  it("a zero window with nothing to send: no probe (RFC 9293 §3.8.6.1 probes only for data or a FIN)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100 });
    h.in({ flags: ".", ack: 101, win: 0 });
    h.at(100_000).outNothing();
    expect(h.engine.stats().tcpZeroWindowProbes).toBe(0);
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
    // Two segments: Linux and RFC 5681 §4.2 acknowledge every second full-sized one; these are small.
    const p = h.drain();
    if (p.length === 0) h.at(140).out({ flags: ".", ack: 21, time: 140 });
    else expect(p[0]!.ack).toBe(21);
  });
});
