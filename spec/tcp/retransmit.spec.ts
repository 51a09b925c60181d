/**
 * Loss recovery on the send side: the retransmission timer (RFC 6298), fast retransmit and NewReno
 * (RFC 5681 §3.2, RFC 6582), and SACK-based recovery (RFC 6675).
 */
import { describe, expect, it } from "vitest";
import { establish, info, TcpHarness } from "../support/tcp-harness.js";

const SMSS = 1448;
/** Relative sequence number of the i-th full segment the engine sends (from 0). */
const seg = (i: number): number => 1 + i * SMSS;

/** Reno, six segments out, segment 1 lost and 2 to 5 SACKed: SACK recovery (RFC 6675) has retransmitted it. */
function sackRecoveryOfSegmentOne(): TcpHarness {
  const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
  establish(h);
  h.app.send(6 * SMSS);
  h.drain();
  h.at(20).in({ flags: ".", ack: seg(1), sack: [[seg(2), seg(6)]] });
  h.out({ seq: seg(1), len: SMSS });
  h.drain();
  return h;
}

describe("retransmission timeout (RFC 6298)", () => {
  it("RTO is 200 ms after a handshake sample near 0 (RFC 6298 §2.4 floor, Linux's 200 ms) and doubles on each expiry (§5.5)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100, time: 0 });
    h.at(199).outNothing();
    h.at(200).out({ flags: "P.", seq: 1, len: 100, time: 200 });
    h.at(600).out({ flags: "P.", seq: 1, len: 100, time: 600 });
    h.at(1400).out({ flags: "P.", seq: 1, len: 100, time: 1400 });
    h.at(1500).in({ flags: ".", ack: 101 });
    h.outNothing();
    h.at(100_000).outNothing();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(3);
    expect(h.engine.stats().tcpRetransmits).toBe(3);
  });

  it("Karn (RFC 6298 §3): once the timer has expired, an ACK of the timed segment is no RTT sample, even if the retransmission could not go out", () => {
    const h = new TcpHarness();
    establish(h, { ts: false }); // no timestamps: the RTT comes from timing one segment
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100, time: 0 });
    // At 200 ms the timer expires, but the device has no buffer: the retransmission waits.
    h.at(199);
    h.txBlocked = true;
    h.at(200).outNothing();
    // The original's ACK comes at 250 ms. It must not be timed (250 ms would give RTO 281 ms); the
    // backed-off RTO (400 ms) stays until a sample from data sent after the expiry.
    h.at(250).in({ flags: ".", ack: 101 });
    h.txBlocked = false;
    h.at(300);
    h.app.send(10);
    h.out({ flags: "P.", seq: 101, len: 10, time: 300 });
    h.at(699).outNothing();
    h.at(700).out({ flags: "P.", seq: 101, len: 10, time: 700 });
  });

  it("the initial RTO is 1 s (RFC 6298 §2.1): the SYN-ACK is retransmitted after 1 s", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", time: 0 });
    h.at(1000).out({ flags: "S.", seq: 0, time: 1000 });
  });

  it("RTO from the first sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR (RFC 6298 §2.2); the SYN-ACK is timed (Karn, §3)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 }); // no timestamps: the SYN-ACK's round trip is timed
    h.out({ flags: "S.", time: 0 });
    h.at(300).in({ flags: ".", seq: 1, ack: 1 }); // R = 300: RTO = 300 + 4 * 150 = 900
    h.app.send(10);
    h.out({ flags: "P.", seq: 1, time: 300 });
    h.at(1199).outNothing();
    h.at(1200).out({ flags: "P.", seq: 1, time: 1200 });
  });

  it("retransmits the first segment only, then goes back N as ACKs return (RFC 6298 §5.4; RFC 5681 §3.1 loss window)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h);
    h.app.send(5 * SMSS);
    for (let i = 0; i < 5; i++) h.out({ seq: seg(i), len: SMSS });
    h.at(200).out({ seq: seg(0), len: SMSS, time: 200 });
    h.outNothing(); // cwnd = 1 SMSS (loss window)
    h.at(250).in({ flags: ".", ack: seg(1) });
    // cwnd 2 SMSS in slow start after the timeout: the next two segments go again.
    h.out({ seq: seg(1), len: SMSS });
    h.out({ seq: seg(2), len: SMSS });
    h.outNothing();
  });

  it("gives up after tcpMaxRetries (15) retransmissions: RST, l4Rx(flow, null) once, flow gone; RTO capped at 120 s (RFC 6298 §5.5, RFC 9293 §3.8.3 R2)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100, time: 0 });
    const times: number[] = [0];
    for (let i = 0; i < 15; i++) {
      const d = h.deadline!;
      h.at(d);
      const p = h.out({ flags: "P.", seq: 1, len: 100 });
      times.push(p.time);
    }
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.slice(0, 10)).toEqual([200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 102400]);
    expect(gaps.slice(10)).toEqual([120000, 120000, 120000, 120000, 120000]);
    expect(h.flowCount).toBe(1);
    h.at(h.deadline!);
    h.out({ flags: "R", seq: 101 });
    h.outNothing();
    expect(h.flowCount).toBe(0);
    h.expectClosed();
    h.at(h.now + 3_600_000).outNothing();
  });
});

describe("fast retransmit and NewReno (RFC 5681 §3.2, RFC 6582)", () => {
  it("three duplicate ACKs retransmit the missing segment; a partial ACK retransmits the next hole; a full ACK ends recovery", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h, { sackOK: false });
    h.app.send(10 * SMSS);
    for (let i = 0; i < 10; i++) h.out({ seq: seg(i), len: SMSS });
    // Segments 1 and 3 are lost. ACKs for 0, then duplicates for 2, 4, 5.
    h.at(20).in({ flags: ".", ack: seg(1) });
    h.outNothing();
    h.in({ flags: ".", ack: seg(1) });
    h.outNothing();
    h.in({ flags: ".", ack: seg(1) });
    h.outNothing();
    h.in({ flags: ".", ack: seg(1) }); // third duplicate
    h.out({ seq: seg(1), len: SMSS, time: 20 });
    h.outNothing();
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
    // Further duplicates (6..9) inflate the window but there is no new data.
    for (let i = 0; i < 4; i++) h.in({ flags: ".", ack: seg(1) });
    h.outNothing();
    // The retransmission arrives: the peer now has 0..2: a partial ACK (below "recover").
    h.at(40).in({ flags: ".", ack: seg(3) });
    h.out({ seq: seg(3), len: SMSS, time: 40 });
    h.outNothing();
    // Full ACK.
    h.at(60).in({ flags: ".", ack: seg(10) });
    h.outNothing();
    h.at(10_000).outNothing();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
  });

  it("Limited Transmit on the first two duplicates (RFC 3042, RFC 5681 §3.2), then new data as the window inflates in recovery (step 4)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h, { sackOK: false });
    h.app.send(10 * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1) }); // cwnd 11 SMSS, flight 9: nothing more to send yet
    h.app.send(20 * SMSS);
    h.drain();
    // The first two duplicates each release one new segment (Limited Transmit), the third the retransmission.
    h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(12), len: SMSS });
    h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(13), len: SMSS });
    h.in({ flags: ".", ack: seg(1) });
    const rexmit = h.drain();
    expect(rexmit[0]!.seq).toBe(seg(1));
    // More duplicates: each adds one SMSS; once cwnd exceeds the flight, new segments go out.
    const fresh: number[] = [];
    for (let i = 0; i < 10; i++) {
      h.in({ flags: ".", ack: seg(1) });
      for (const p of h.drain()) fresh.push(p.seq);
    }
    expect(fresh.length).toBeGreaterThan(0);
    for (const s of fresh) expect(s).toBeGreaterThanOrEqual(seg(14)); // only new data
  });

  it("duplicate ACKs that carry data or a window change are not counted (RFC 5681 §2)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h, { sackOK: false });
    h.app.send(5 * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1) });
    h.in({ flags: ".", ack: seg(1), win: 600 });
    h.in({ flags: ".", ack: seg(1), win: 601 });
    h.in({ flags: "P.", ack: seg(1), data: 10 });
    h.drain(); // the ACK for the data
    h.outNothing();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
  });
});

describe("SACK-based loss recovery (RFC 6675)", () => {
  it("retransmits only the holes, never SACKed data, and leaves recovery at RecoveryPoint", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h);
    h.app.send(10 * SMSS);
    for (let i = 0; i < 10; i++) h.out({ seq: seg(i), len: SMSS });
    const rexmits: number[] = [];
    const collect = (): void => {
      for (const p of h.drain()) {
        expect(p.len).toBeGreaterThan(0);
        rexmits.push(p.seq);
      }
    };
    // Segments 1 and 3 are lost; the peer SACKs everything else as it arrives.
    h.at(20).in({ flags: ".", ack: seg(1) });
    collect();
    h.in({ flags: ".", ack: seg(1), sack: [[seg(2), seg(3)]] });
    collect();
    h.in({ flags: ".", ack: seg(1), sack: [[seg(4), seg(5)], [seg(2), seg(3)]] });
    collect();
    h.in({ flags: ".", ack: seg(1), sack: [[seg(4), seg(6)], [seg(2), seg(3)]] });
    collect();
    expect(rexmits).toEqual([seg(1)]);
    for (const top of [7, 8, 9, 10]) {
      h.in({ flags: ".", ack: seg(1), sack: [[seg(4), seg(top)], [seg(2), seg(3)]] });
      collect();
    }
    // Segment 3 has DupThresh SACKed segments above it: lost, retransmitted once.
    expect(rexmits).toEqual([seg(1), seg(3)]);
    h.at(40).in({ flags: ".", ack: seg(3), sack: [[seg(4), seg(10)]] });
    collect();
    h.at(60).in({ flags: ".", ack: seg(10) });
    collect();
    h.at(10_000);
    collect();
    // Only the holes, each at least once; a second copy of segment 3 may be NextSeg() rule (4)'s one
    // rescue retransmission per recovery (RFC 6675 §4): it is still a hole, never SACKed data.
    expect(rexmits.slice(0, 2)).toEqual([seg(1), seg(3)]);
    expect(rexmits.length).toBeLessThanOrEqual(3);
    for (const s of rexmits) expect([seg(1), seg(3)]).toContain(s);
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
  });

  it("SACK information lets recovery start before three duplicate ACKs when enough is SACKed (RFC 6675 §5 IsLost)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1) });
    // One duplicate ACK SACKing three segments above the hole: more than (DupThresh - 1) * SMSS.
    h.in({ flags: ".", ack: seg(1), sack: [[seg(2), seg(5)]] });
    h.out({ seq: seg(1), len: SMSS });
  });

  it("an RTO during SACK recovery forgets the scoreboard and retransmits from SND.UNA (RFC 6675 §5.1, RFC 2018 §8)", () => {
    const h = sackRecoveryOfSegmentOne();
    // Nothing more comes back: the retransmission timer fires, from SND.UNA again.
    const d = h.deadline!;
    h.at(d).out({ seq: seg(1), len: SMSS, time: d });
    expect(h.engine.stats().tcpRtoTimeouts).toBe(1);
  });

  it("after an RTO, data SACKed before it counts as not received (RFC 2018 §8): it takes new SACKs to deem a hole lost", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h);
    h.app.send(6 * SMSS);
    h.drain();
    // Segments 1 and 2 are missing, 3 to 5 SACKed: segment 1 is lost (three segments SACKed above it).
    h.at(20).in({ flags: ".", ack: seg(1), sack: [[seg(3), seg(6)]] });
    h.out({ seq: seg(1), len: SMSS });
    h.drain();
    const d = h.deadline!;
    h.at(d).out({ seq: seg(1), len: SMSS, time: d });
    // The peer acknowledges the retransmission only, and SACKs nothing (it reneged): the sender goes
    // back to segment 2 (slow start from a loss window: two segments).
    h.at(d + 10).in({ flags: ".", ack: seg(2) });
    h.out({ seq: seg(2), len: SMSS });
    h.out({ seq: seg(3), len: SMSS });
    h.outNothing();
    // One duplicate ACK SACKing segment 3: had the old SACK information been kept, segments 3 to 5
    // would make segment 2 lost at once; forgotten, one SACKed segment is not enough.
    const fastBefore = h.engine.stats().tcpFastRetransmits;
    h.in({ flags: ".", ack: seg(2), sack: [[seg(3), seg(4)]] });
    for (const p of h.drain()) expect(p.seq, h.line(p)).not.toBe(seg(2));
    expect(h.engine.stats().tcpFastRetransmits).toBe(fastBefore);
  });
});

describe("the congestion controller chosen (tcpCongestionControl) is the one used", () => {
  // Ten segments out, two more by Limited Transmit; segment 0 is lost and the peer SACKs 1, 2, 3...
  // At the fast retransmit FlightSize is 12 segments: Reno's ssthresh is half of it (RFC 5681 §3.2
  // eq. 4: 6 segments), CUBIC's 0.7 of it (RFC 9438 §4.6: 8.4). In SACK recovery (RFC 6675 §5) new
  // data goes out when cwnd - pipe >= 1 SMSS: each SACKed segment lowers pipe by one, from 9 after
  // the retransmission. So the first new segment (12) leaves when pipe is 5 (Reno) or 7 (CUBIC).
  it.each([
    ["reno", 7],
    ["cubic", 5],
    ["the default (CUBIC)", 5],
  ] as const)("%s: the first new segment of the recovery leaves once segments 1 to %i are SACKed", (name, sackedUpTo) => {
    const firstNewAt = sackedUpTo + 1; // the SACK block's right edge, in segments
    const h = new TcpHarness(name.startsWith("the default") ? {} : { configure: (b) => b.tcpCongestionControl(name as "reno" | "cubic") });
    establish(h);
    h.app.send(40 * SMSS);
    for (let i = 0; i < 10; i++) h.out({ seq: seg(i), len: SMSS });
    const sentAt: Array<[number, number]> = []; // [SACKed up to, segment sent]
    for (let k = 2; k <= 10; k++) {
      h.at(20).in({ flags: ".", ack: seg(0), sack: [[seg(1), seg(k)]] });
      for (const p of h.drain()) sentAt.push([k, (p.seq - 1) / SMSS]);
    }
    const newData = sentAt.filter(([k]) => k >= 5);
    expect(sentAt.slice(0, 3)).toEqual([
      [2, 10], // Limited Transmit (RFC 3042)
      [3, 11],
      [4, 0], // three SACKed segments above it: segment 0 is lost (RFC 6675 IsLost), retransmitted
    ]);
    expect(newData[0]).toEqual([firstNewAt, 12]);
    expect(newData.map(([, s]) => s)).toEqual(Array.from({ length: 11 - firstNewAt }, (_, i) => 12 + i));
  });
});

describe("a timeout during recovery (RFC 5681 §3.1, RFC 6675 §5.1)", () => {
  it("ends the recovery: the next ACK is slow start from the loss window (cwnd 1 -> 2 SMSS)", () => {
    const h = sackRecoveryOfSegmentOne();
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
