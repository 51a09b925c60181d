/**
 * The sender's side of an ACK (lib/tcp/recovery.ts), boundary by boundary: the window arithmetic of
 * fast retransmit and NewReno (RFC 5681 §3.2, RFC 6582 §3.2), the timer rules (RFC 6298 §5), RTT
 * sampling (RFC 6298 §3 Karn, RFC 7323 §4), congestion window validation (RFC 7661) and the
 * retransmission of the first segment inside the peer's window (RFC 9293 §3.8.6). Everything is
 * observed through the engine: segments out, l4Info (cwnd, ssthresh, srtt, bytesAcked) and stats.
 */
import { describe, expect, it } from "vitest";
import { establish, info, TcpHarness } from "../support/tcp-harness.js";

/** SMSS with timestamps (MSS 1460 - 12). */
const SMSS = 1448;
/** SMSS without timestamps. */
const SMSS_NOTS = 1460;
const seg = (i: number, mss = SMSS): number => 1 + i * mss;

function reno(): TcpHarness {
  return new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
}

/** 100 bytes and the FIN in one segment (the device pushed back until both were queued), at 5 ms. */
function dataAndFin(h: TcpHarness): number {
  h.txBlocked = true;
  h.app.send(100);
  h.app.close();
  h.txBlocked = false;
  return h.at(5).out({ flags: "FP.", seq: 1, len: 100 }).time;
}

/** Ten full segments out on a NewReno (no SACK) connection, segment 0 lost; the ACK of nothing new yet. */
function newRenoTen(): TcpHarness {
  const h = reno();
  establish(h, { sackOK: false });
  h.app.send(10 * SMSS);
  for (let i = 0; i < 10; i++) h.out({ seq: seg(i), len: SMSS });
  return h;
}

describe("NewReno window arithmetic (RFC 5681 §3.2, RFC 6582 §3.2)", () => {
  it("fast retransmit: ssthresh = FlightSize/2, cwnd = ssthresh + 3 SMSS (step 2-3); +1 SMSS per further duplicate (step 4)", () => {
    const h = newRenoTen();
    // Segment 1 lost: ACK of segment 0 (slow start: cwnd 11 SMSS), then duplicates.
    h.at(20).in({ flags: ".", ack: seg(1) });
    expect(info(h).cwnd).toBe(11 * SMSS);
    h.in({ flags: ".", ack: seg(1) });
    h.in({ flags: ".", ack: seg(1) });
    h.outNothing();
    expect(info(h).ssthresh).toBe(Infinity);
    h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(1), len: SMSS });
    // FlightSize 9 SMSS: ssthresh = 4.5 SMSS (6516), cwnd = 6516 + 3 * 1448.
    expect(info(h).ssthresh).toBe(Math.floor((9 * SMSS) / 2));
    expect(info(h).cwnd).toBe(Math.floor((9 * SMSS) / 2) + 3 * SMSS);
    h.in({ flags: ".", ack: seg(1) });
    h.in({ flags: ".", ack: seg(1) });
    expect(info(h).cwnd).toBe(Math.floor((9 * SMSS) / 2) + 5 * SMSS);
    h.outNothing();
  });

  it("partial ACK (step 5): retransmit the next hole, deflate by the amount acknowledged, add back one SMSS when at least one SMSS was acknowledged", () => {
    const h = newRenoTen();
    h.at(20).in({ flags: ".", ack: seg(1) });
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(1), len: SMSS });
    const inRecovery = Math.floor((9 * SMSS) / 2) + 3 * SMSS;
    expect(info(h).cwnd).toBe(inRecovery);
    // The peer has 0 and 1 now, segment 2 lost too: exactly one SMSS acknowledged (>= SMSS: + SMSS).
    h.at(30).in({ flags: ".", ack: seg(2) });
    h.out({ seq: seg(2), len: SMSS, time: 30 });
    expect(info(h).cwnd).toBe(inRecovery - SMSS + SMSS);
    // Less than one SMSS acknowledged: deflate by it, nothing added back.
    h.at(40).in({ flags: ".", ack: seg(2) + 100 });
    h.out({ seq: seg(2) + 100, len: SMSS, time: 40 });
    expect(info(h).cwnd).toBe(inRecovery - 100);
    // Two SMSS acknowledged: deflate by two, add one.
    h.at(50).in({ flags: ".", ack: seg(4) + 100 });
    h.out({ seq: seg(4) + 100, len: SMSS, time: 50 });
    expect(info(h).cwnd).toBe(inRecovery - 100 - 2 * SMSS + SMSS);
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
  });

  it("full ACK (step 6): recovery ends with cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), FlightSize counted after the ACK", () => {
    const h = newRenoTen();
    h.at(20).in({ flags: ".", ack: seg(1) });
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(1), len: SMSS });
    // Everything acknowledged: nothing in flight, cwnd = SMSS + SMSS (below ssthresh 6516).
    h.at(40).in({ flags: ".", ack: seg(10) });
    expect(info(h).cwnd).toBe(2 * SMSS);
    expect(info(h).ssthresh).toBe(Math.floor((9 * SMSS) / 2));
    // Recovery is over: the next ACK is ordinary slow start again (cwnd grows).
    h.app.send(2 * SMSS);
    h.out({ seq: seg(10), len: SMSS });
    h.out({ seq: seg(11), len: SMSS });
    h.at(60).in({ flags: ".", ack: seg(11) });
    expect(info(h).cwnd).toBe(3 * SMSS);
  });

  it("a full ACK with data still in flight: cwnd = FlightSize + SMSS when that is below ssthresh", () => {
    const h = newRenoTen();
    h.at(20).in({ flags: ".", ack: seg(1) });
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(1), len: SMSS });
    // Further duplicates inflate cwnd (step 4) far enough for new data beyond "recover" (step 4).
    h.app.send(10 * SMSS);
    const fresh: number[] = [];
    for (let i = 0; i < 8; i++) {
      h.in({ flags: ".", ack: seg(1) });
      for (const p of h.drain()) fresh.push(p.seq);
    }
    expect(fresh.length).toBeGreaterThan(0);
    const flightAfter = fresh.length * SMSS; // the new segments, all beyond recover = seg(10)
    // The full ACK covers recover (seg 10) and leaves the new segments in flight.
    h.at(40).in({ flags: ".", ack: seg(10) });
    expect(info(h).cwnd).toBe(Math.min(Math.floor((9 * SMSS) / 2), flightAfter + SMSS));
  });

  it("the retransmission timer restarts on a partial ACK (RFC 6582 §3.2 step 5), not on duplicate ACKs", () => {
    const h = newRenoTen();
    h.at(20).in({ flags: ".", ack: seg(1) });
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(1), len: SMSS, time: 20 });
    const rto = info(h).rto;
    // Duplicates at 100 ms do not move the timer set at the fast retransmit ...
    h.at(100).in({ flags: ".", ack: seg(1) });
    // ... a partial ACK at 150 ms does.
    h.at(150).in({ flags: ".", ack: seg(3) });
    h.out({ seq: seg(3), len: SMSS, time: 150 });
    h.at(150 + rto - 1).outNothing();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
    h.at(150 + rto).out({ seq: seg(3), len: SMSS, time: 150 + rto });
    expect(h.engine.stats().tcpRtoTimeouts).toBe(1);
  });

  it("duplicate ACKs in recovery do not restart the timer: it fires RTO after the fast retransmit", () => {
    const h = newRenoTen();
    h.at(20).in({ flags: ".", ack: seg(1) });
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(1) });
    h.out({ seq: seg(1), len: SMSS, time: 20 });
    const rto = info(h).rto;
    h.at(100).in({ flags: ".", ack: seg(1) });
    h.at(20 + rto - 1).outNothing();
    h.at(20 + rto).out({ seq: seg(1), len: SMSS, time: 20 + rto });
  });
});

describe("no new recovery for old loss (RFC 6582 §3.2 step 2)", () => {
  /** Ten segments out; segments 0 and 2 lost; the timer retransmits segment 0; the peer ACKs up to 2. */
  function afterTimeout(): TcpHarness {
    const h = newRenoTen();
    h.at(200).out({ seq: seg(0), len: SMSS, time: 200 });
    expect(h.engine.stats().tcpRtoTimeouts).toBe(1);
    h.at(210).in({ flags: ".", ack: seg(2) });
    // Go-back-N (RFC 6298 §5.4): cwnd 2 SMSS after the loss window.
    h.out({ seq: seg(2), len: SMSS });
    h.out({ seq: seg(3), len: SMSS });
    h.outNothing();
    return h;
  }

  it("after a timeout, three duplicate ACKs below 'recover' (the highest sequence number sent) start no fast retransmit", () => {
    const h = afterTimeout();
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(2) });
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    for (const p of h.drain()) expect(p.seq, h.line(p)).not.toBe(seg(2));
  });

  it("once the ACK covers 'recover', three duplicate ACKs start a fast retransmit again", () => {
    const h = afterTimeout();
    h.at(220).drain();
    h.in({ flags: ".", ack: seg(10) });
    h.drain();
    h.app.send(8 * SMSS);
    const sent = h.drain();
    expect(sent[0]!.seq).toBe(seg(10));
    const r: number[] = [];
    for (let i = 0; i < 3; i++) {
      h.in({ flags: ".", ack: seg(10) });
      for (const p of h.drain()) r.push(p.seq);
    }
    expect(r).toContain(seg(10));
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
  });
});

describe("no new SACK recovery below RecoveryPoint after a timeout (RFC 6675 §5.1)", () => {
  it("SACKs that make SND.UNA lost start no fast retransmit until SND.UNA reaches the RecoveryPoint; then they do again", () => {
    const h = reno();
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    h.at(200).out({ seq: seg(0), len: SMSS, time: 200 });
    // Segments 0 and 2 were lost: the ACK of the retransmission SACKs 3..9, which makes 2 lost (IsLost).
    h.at(210).in({ flags: ".", ack: seg(2), sack: [[seg(3), seg(10)]] });
    h.drain();
    for (let i = 0; i < 3; i++) {
      h.in({ flags: ".", ack: seg(2), sack: [[seg(3), seg(10)]] });
      h.drain();
    }
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    // Everything up to the RecoveryPoint acknowledged: a later loss is recovered by SACK.
    h.at(230).in({ flags: ".", ack: seg(10) });
    h.drain();
    h.app.send(6 * SMSS);
    expect(h.drain().map((p) => p.seq)).toEqual([seg(10), seg(11), seg(12)]); // cwnd 3 SMSS
    // Segment 10 lost; 11 and 12 SACKed (two duplicate ACKs), then the third duplicate.
    h.at(240).in({ flags: ".", ack: seg(10), sack: [[seg(11), seg(12)]] });
    h.drain();
    h.in({ flags: ".", ack: seg(10), sack: [[seg(11), seg(13)]] });
    h.drain();
    h.in({ flags: ".", ack: seg(10), sack: [[seg(11), seg(13)]] });
    const r = h.drain().map((p) => p.seq);
    expect(r).toContain(seg(10));
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
  });
});

describe("the retransmission timer and go-back-N (RFC 6298 §5)", () => {
  it("§5.2: when everything is acknowledged the timer stops: no expiry is counted later", () => {
    const h = reno();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.at(50).in({ flags: ".", ack: 101 });
    h.at(10_000).outNothing();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
  });

  it("§5.3: an ACK of new data with more outstanding restarts the timer", () => {
    const h = reno();
    establish(h);
    h.app.send(2 * SMSS);
    h.out({ seq: seg(0), len: SMSS, time: 0 });
    h.out({ seq: seg(1), len: SMSS, time: 0 });
    h.at(150).in({ flags: ".", ack: seg(1) });
    const rto = info(h).rto;
    h.at(150 + rto - 1).outNothing();
    h.at(150 + rto).out({ seq: seg(1), len: SMSS, time: 150 + rto });
  });

  it("§5.3 without SACK too: an ACK of new data outside recovery restarts the timer", () => {
    const h = reno();
    establish(h, { sackOK: false });
    h.app.send(2 * SMSS);
    h.out({ seq: seg(0), len: SMSS, time: 0 });
    h.out({ seq: seg(1), len: SMSS, time: 0 });
    h.at(150).in({ flags: ".", ack: seg(1) });
    const rto = info(h).rto;
    h.at(150 + rto - 1).outNothing();
    h.at(150 + rto).out({ seq: seg(1), len: SMSS, time: 150 + rto });
  });

  it("§5.4 go-back-N: an ACK beyond SND.NXT after the timeout moves SND.NXT up to it; only what the peer lacks goes again", () => {
    const h = reno();
    establish(h);
    h.app.send(6 * SMSS);
    for (let i = 0; i < 6; i++) h.out({ seq: seg(i), len: SMSS });
    h.at(200).out({ seq: seg(0), len: SMSS, time: 200 });
    // The peer had 1..3: it acknowledges up to segment 4, beyond SND.NXT (segment 1).
    h.at(210).in({ flags: ".", ack: seg(4) });
    const after = h.drain();
    expect(after.map((p) => p.seq)).toEqual([seg(4), seg(5)]);
    expect(info(h).bytesAcked).toBe(4 * SMSS);
  });

  it("an ACK resets the count of timeouts (RFC 5681 §3.1): the next timeout lowers ssthresh again, from the new FlightSize", () => {
    const h = reno();
    establish(h);
    h.app.send(8 * SMSS);
    for (let i = 0; i < 8; i++) h.out({ seq: seg(i), len: SMSS });
    h.at(200).out({ seq: seg(0), len: SMSS });
    expect(info(h).ssthresh).toBe(4 * SMSS); // max(FlightSize / 2, 2 SMSS), FlightSize 8 SMSS
    // The retransmission is acknowledged (segments 1..7 were lost), and so on for go-back-N.
    h.at(210).in({ flags: ".", ack: seg(1) });
    h.drain();
    // The next timeout is a first timeout again for the new SND.UNA: ssthresh from the flight now.
    const flight = info(h).unacked;
    const d = h.deadline!;
    h.at(d).out({ seq: seg(1), len: SMSS });
    expect(info(h).ssthresh).toBe(Math.max(Math.floor(flight / 2), 2 * SMSS));
    expect(info(h).ssthresh).not.toBe(4 * SMSS);
  });

  it("a repeated timeout of the same segment keeps ssthresh (RFC 5681 §3.1 'not yet been resent')", () => {
    const h = reno();
    establish(h);
    h.app.send(8 * SMSS);
    h.drain();
    h.at(200).out({ seq: seg(0), len: SMSS });
    expect(info(h).ssthresh).toBe(4 * SMSS);
    h.at(h.deadline!).out({ seq: seg(0), len: SMSS });
    expect(info(h).ssthresh).toBe(4 * SMSS);
    expect(info(h).cwnd).toBe(SMSS);
  });
});

describe("what an ACK frees and counts", () => {
  it("bytesAcked counts data only: the FIN takes a sequence number but no byte (RFC 9293 §3.4)", () => {
    const h = reno();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.app.close();
    h.out({ flags: "F.", seq: 101 });
    h.at(10).in({ flags: ".", ack: 102 });
    expect(h.state()).toBe("FIN-WAIT-2");
    expect(info(h).bytesAcked).toBe(100);
    expect(info(h).sendQueue).toBe(0);
    expect(info(h).unacked).toBe(0);
  });

  it("data and FIN acknowledged together: the send buffer empties, nothing is sent again", () => {
    const h = reno();
    establish(h);
    dataAndFin(h);
    h.at(10).in({ flags: ".", ack: 102 });
    expect(info(h).bytesAcked).toBe(100);
    h.at(10_000).outNothing();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
  });

  it("an acknowledgment of data is activity for tcpIdleTimeout: the idle time counts from it", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpIdleTimeout(1) });
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100, time: 0 });
    h.at(150).in({ flags: ".", ack: 101 });
    h.at(1149).outNothing();
    h.at(1150).out({ flags: "F.", seq: 101, time: 1150 });
  });

  it("the ACK of our FIN alone is no data: FIN-WAIT-2's tcpHalfOpenIdleTimeout still counts from the close", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpHalfOpenIdleTimeout(30) });
    establish(h);
    h.at(1000);
    h.app.close();
    h.out({ flags: "F.", seq: 1, time: 1000 });
    h.at(1150).in({ flags: ".", ack: 2 });
    expect(h.state()).toBe("FIN-WAIT-2");
    h.at(30_999).outNothing();
    h.at(31_000).out({ flags: "R", seq: 2, time: 31_000 });
  });

  it("a pure window update (no data acknowledged) is not activity for tcpIdleTimeout", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpIdleTimeout(60) });
    establish(h);
    h.at(30_000).in({ flags: ".", ack: 1, win: 1000 });
    h.at(59_999).outNothing();
    h.at(60_000).out({ flags: "F.", seq: 1, time: 60_000 });
  });
});

describe("congestion window validation (RFC 7661 §4.3): cwnd grows only while it limits the sender", () => {
  it.each([
    ["nine segments in flight of a ten-segment window: FlightSize + SMSS reaches cwnd, so an ACK grows it", 9, 11],
    ["eight segments in flight: the application, not cwnd, limits the sender; the ACK leaves cwnd alone", 8, 10],
  ])("%s", (_name, segments, cwndSegments) => {
    const h = reno();
    establish(h);
    h.app.send(segments * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1) });
    expect(info(h).cwnd).toBe(cwndSegments * SMSS);
  });

  it("a sender that only ever has one segment out keeps the initial window", () => {
    const h = reno();
    establish(h);
    for (let i = 0; i < 20; i++) {
      h.app.send(100);
      h.out({ len: 100 });
      h.at(h.now + 10).in({ flags: ".", ack: 1 + (i + 1) * 100 });
    }
    expect(info(h).cwnd).toBe(10 * SMSS);
  });
});

describe("RTT samples (RFC 6298 §3, RFC 7323 §4)", () => {
  it("without timestamps one segment is timed: an ACK up to (not past) its first byte is no sample of it", () => {
    const h = reno();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK: true, wscale: 7 });
    h.out({ flags: "S." });
    h.at(100).in({ flags: ".", seq: 1, ack: 1 }); // the SYN-ACK's round trip: 100 ms
    expect(info(h).srtt).toBe(100);
    // Segment 0 at 100 ms is timed (it is the first new segment): the ACK at 200 gives R = 100.
    h.app.send(SMSS_NOTS);
    h.out({ seq: seg(0, SMSS_NOTS), len: SMSS_NOTS });
    h.at(150);
    h.app.send(SMSS_NOTS); // segment 1, at 150 ms, untimed (one timing at a time)
    h.out({ seq: seg(1, SMSS_NOTS), len: SMSS_NOTS });
    // An ACK of segment 0 at 180 (R = 80) ends that timing ...
    h.at(180).in({ flags: ".", ack: seg(1, SMSS_NOTS) });
    const srtt1 = info(h).srtt;
    expect(srtt1).toBe(100 * 7 / 8 + 80 / 8);
    // ... and the next new segment, at 180, is timed from its first byte.
    h.app.send(SMSS_NOTS);
    h.out({ seq: seg(2, SMSS_NOTS), len: SMSS_NOTS, time: 180 });
    // The ACK of segment 1 at 190 reaches the timed segment's first byte but covers none of it.
    h.at(190).in({ flags: ".", ack: seg(2, SMSS_NOTS) });
    expect(info(h).srtt).toBe(srtt1);
    // Its ACK at 350: R = 170.
    h.at(350).in({ flags: ".", ack: seg(3, SMSS_NOTS) });
    expect(info(h).srtt).toBe(srtt1 * 7 / 8 + 170 / 8);
  });

  it("with timestamps, a TSecr of 0 gives no timestamp sample; the timed segment still gives one (as Linux)", () => {
    const h = reno();
    establish(h);
    const c = h.conn();
    const srtt0 = info(h).srtt;
    h.app.send(100);
    h.out({ seq: 1, len: 100, time: 0 });
    // The ACK echoes TSecr 0 (absolute): no timestamp sample; the timed segment gives R = 40.
    h.at(40).in({ flags: ".", ack: 101, ts: [100 + 40, -c.engineTsOrigin] });
    expect(info(h).srtt).toBe(srtt0 * 7 / 8 + 40 / 8);
  });

  it("with timestamps every ACK of new data is a sample from its echo (RFC 7323 §4.1), not only the timed segment", () => {
    const h = reno();
    establish(h);
    const srtt0 = info(h).srtt;
    h.app.send(2 * SMSS);
    h.out({ seq: seg(0), len: SMSS, time: 0 });
    h.out({ seq: seg(1), len: SMSS, time: 0 });
    h.at(40).in({ flags: ".", ack: seg(1), ts: [140, 0] });
    const srtt1 = info(h).srtt;
    expect(srtt1).not.toBe(srtt0);
    // Segment 1 was not timed: only its echo can give this sample.
    h.at(80).in({ flags: ".", ack: seg(2), ts: [180, 0] });
    expect(info(h).srtt).toBeGreaterThan(srtt1);
  });

  it("a round trip of 0 ms (the ACK in the same millisecond as the data) is a sample like any other", () => {
    const h = reno();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK: true, ts: [100, 0], wscale: 7 });
    h.out({ flags: "S." });
    h.at(100).in({ flags: ".", seq: 1, ack: 1 }); // echoes the SYN-ACK's TSval: R = 100
    expect(info(h).srtt).toBe(100);
    h.app.send(100);
    h.out({ seq: 1, len: 100, time: 100 });
    h.in({ flags: ".", ack: 101 }); // at 100 ms, echoing the TSval of 100 ms: R = 0
    expect(info(h).srtt).toBeLessThan(100);
  });

  it("Karn at the fast retransmit (RFC 6298 §3): the ACK that ends the recovery gives no sample", () => {
    const h = reno();
    h.in({ flags: "S", seq: 0, mss: 1460, wscale: 7 }); // no SACK, no timestamps
    h.out({ flags: "S." });
    h.at(100).in({ flags: ".", seq: 1, ack: 1 });
    h.app.send(10 * SMSS_NOTS);
    h.drain(); // segment 0 timed from 100 ms
    h.at(120).in({ flags: ".", ack: seg(1, SMSS_NOTS) }); // R = 20
    const srtt = info(h).srtt;
    for (let i = 0; i < 3; i++) h.in({ flags: ".", ack: seg(1, SMSS_NOTS) });
    h.out({ seq: seg(1, SMSS_NOTS), len: SMSS_NOTS });
    h.at(190).in({ flags: ".", ack: seg(10, SMSS_NOTS) });
    expect(info(h).srtt).toBe(srtt);
  });

  it("an echo from the future (TSecr ahead of our clock) is no sample (RFC 7323 §4.1 bogus echo)", () => {
    const h = reno();
    establish(h);
    const before = info(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100, time: 0 });
    h.at(40).in({ flags: ".", ack: 101, ts: [140, 1000] });
    expect(info(h).srtt).toBe(before.srtt);
    expect(info(h).rttvar).toBe(before.rttvar);
  });
});

describe("the first segment again, inside the peer's window (RFC 9293 §3.8.6)", () => {
  it("a FIN that fits rides along with the retransmitted data", () => {
    const h = reno();
    establish(h);
    const t = dataAndFin(h);
    h.at(t + 200).out({ flags: "FP.", seq: 1, len: 100, time: t + 200 });
  });

  it("a window shrunk to exactly the data leaves the FIN out of the retransmission (it would lie past SND.UNA + SND.WND)", () => {
    const h = reno();
    establish(h, { wscale: null });
    dataAndFin(h);
    // The peer shrinks its window to 100 bytes (a window update: no new ACK).
    h.at(10).in({ flags: ".", ack: 1, win: 100 });
    h.outNothing();
    h.at(h.deadline!);
    const p = h.out({ seq: 1, len: 100 });
    expect(p.flags & 1, h.line(p)).toBe(0);
  });

  it("a shrunk window cuts the retransmission to its right edge", () => {
    const h = reno();
    establish(h, { wscale: null });
    h.app.send(1000);
    h.out({ seq: 1, len: 1000 });
    h.at(10).in({ flags: ".", ack: 1, win: 300 });
    h.outNothing();
    h.at(h.deadline!).out({ seq: 1, len: 300 });
  });

  it("a zero window at SND.UNA: the retransmission of a full segment is the zero-window probe (§3.8.6.1, as Linux)", () => {
    const h = reno();
    establish(h, { wscale: null });
    h.app.send(1000);
    h.out({ seq: 1, len: 1000 });
    h.at(10).in({ flags: ".", ack: 1, win: 0 });
    h.outNothing();
    h.at(h.deadline!).out({ seq: 1, len: 1000 });
  });

  it("a bare FIN is retransmitted on its own when the timer expires", () => {
    const h = reno();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1, time: 0 });
    h.at(200).out({ flags: "F.", seq: 1, len: 0, time: 200 });
  });
});

describe("SACK recovery (RFC 6675)", () => {
  it("§5 step 4: entering recovery sets cwnd = ssthresh with no NewReno inflation", () => {
    const h = reno();
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1), sack: [[seg(2), seg(5)]] });
    h.out({ seq: seg(1), len: SMSS });
    // FlightSize before the retransmission: 9 SMSS.
    expect(info(h).ssthresh).toBe(Math.floor((9 * SMSS) / 2));
    expect(info(h).cwnd).toBe(Math.floor((9 * SMSS) / 2));
  });

  it("RFC 6298 §5.3 in SACK recovery: a partial ACK restarts the retransmission timer", () => {
    const h = reno();
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    // Segments 1 and 2 lost: three SACKed above them.
    h.at(20).in({ flags: ".", ack: seg(1), sack: [[seg(3), seg(6)]] });
    h.drain();
    const rto = info(h).rto;
    h.at(150).in({ flags: ".", ack: seg(2), sack: [[seg(3), seg(10)]] });
    h.drain();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
    h.at(150 + rto - 1);
    h.drain();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(0);
    h.at(150 + rto);
    h.drain();
    expect(h.engine.stats().tcpRtoTimeouts).toBe(1);
  });

  it("a full ACK ends SACK recovery: later duplicate ACKs count from zero again", () => {
    const h = reno();
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    h.at(20).in({ flags: ".", ack: seg(1), sack: [[seg(2), seg(5)]] });
    h.drain();
    h.at(40).in({ flags: ".", ack: seg(10) });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
    h.app.send(6 * SMSS);
    h.drain();
    // One SACK of one segment above a hole: not lost yet, no second fast retransmit.
    h.at(60).in({ flags: ".", ack: seg(10), sack: [[seg(11), seg(12)]] });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
  });

  it("RFC 5681 §4.2 in SACK recovery: an ACK owed for the peer's out-of-order data rides on a retransmission, else goes alone", () => {
    const h = reno();
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    // Segments 1 and 3 lost. Each ACK from the peer also carries data out of order (a hole at
    // RCV.NXT), which must be acknowledged at once.
    let peerSeq = 101;
    const answer = (sack: Array<[number, number]>): Array<{ seq: number; len: number }> => {
      h.in({ flags: "P.", seq: peerSeq, ack: seg(1), data: 10, sack });
      peerSeq += 20;
      return h.drain().map((p) => ({ seq: p.seq, len: p.len }));
    };
    h.at(20).in({ flags: ".", ack: seg(1) });
    h.drain();
    answer([[seg(2), seg(3)]]);
    answer([[seg(4), seg(5)], [seg(2), seg(3)]]);
    answer([[seg(4), seg(6)], [seg(2), seg(3)]]);
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
    const rounds: Array<Array<{ seq: number; len: number }>> = [];
    for (const top of [7, 8, 9, 10]) rounds.push(answer([[seg(4), seg(top)], [seg(2), seg(3)]]));
    for (const r of rounds) {
      // Every round answers: at least one segment, and never a pure ACK beside a data segment.
      expect(r.length).toBeGreaterThan(0);
      if (r.some((p) => p.len > 0)) for (const p of r) expect(p.len).toBeGreaterThan(0);
    }
    // Segment 3 was retransmitted in one of them (it carried the ACK).
    expect(rounds.flat().some((p) => p.seq === seg(3) && p.len > 0)).toBe(true);
  });
});
