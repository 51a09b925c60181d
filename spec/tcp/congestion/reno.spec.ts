import { describe, expect, it } from "vitest";
import { Reno, SSTHRESH_INFINITE } from "../../../lib/tcp/congestion/index.js";
import { oneRtt } from "./ack-clock.js";

const MSS = 1000;

describe("Reno (RFC 5681, RFC 3465)", () => {
  it("slow start: cwnd grows by the bytes acknowledged, at most 2 SMSS per ACK", () => {
    const cc = new Reno(MSS);
    cc.onAck(MSS, 1, 100, false);
    expect(cc.cwnd).toBe(11 * MSS);
    cc.onAck(500, 2, 100, false);
    expect(cc.cwnd).toBe(11 * MSS + 500);
    cc.onAck(5 * MSS, 3, 100, false); // a stretch ACK: L = 2*SMSS
    expect(cc.cwnd).toBe(13 * MSS + 500);
  });

  it("slow start doubles cwnd per RTT with an ACK per segment", () => {
    const cc = new Reno(MSS);
    let now = 0;
    now = oneRtt(cc, now, 100);
    expect(cc.cwnd).toBe(20 * MSS);
    oneRtt(cc, now, 100);
    expect(cc.cwnd).toBe(40 * MSS);
  });

  it("congestion avoidance: about one SMSS per RTT, with or without delayed ACKs", () => {
    for (const segmentsPerAck of [1, 2]) {
      const cc = new Reno(MSS);
      cc.onEnterRecovery(80 * MSS, 0); // ssthresh = cwnd = 40 segments
      cc.onExitRecovery(80 * MSS);
      expect(cc.cwnd).toBe(40 * MSS);
      expect(cc.inSlowStart).toBe(false);
      let now = 0;
      for (let rtt = 1; rtt <= 20; rtt++) {
        now = oneRtt(cc, now, 100, segmentsPerAck);
        expect(cc.cwnd).toBe((40 + rtt) * MSS);
      }
    }
  });

  it("carries bytes acknowledged beyond ssthresh into congestion avoidance", () => {
    const cc = new Reno(MSS);
    cc.onRto(40 * MSS, 0, false); // ssthresh 20 segments, cwnd 1
    for (let i = 0; i < 19; i++) cc.onAck(MSS, i, 100, false);
    expect(cc.cwnd).toBe(20 * MSS);
    expect(cc.inSlowStart).toBe(false);
  });

  it("the bytes beyond ssthresh count toward the first congestion-avoidance segment (RFC 3465 §2.1)", () => {
    const cc = new Reno(MSS);
    cc.onEnterRecovery(20 * MSS, 0); // ssthresh = cwnd = 10 segments
    cc.onRto(20 * MSS, 1, true); // cwnd 1 segment, ssthresh kept (a repeated timeout)
    for (let i = 0; i < 8; i++) cc.onAck(MSS, 2 + i, 100, false); // slow start (L = 1 SMSS after an RTO) to 9
    expect(cc.cwnd).toBe(9 * MSS);
    cc.onAck(2 * MSS, 20, 100, false); // 1 segment of slow start to ssthresh, 1 left over
    expect(cc.cwnd).toBe(10 * MSS);
    // 9 more segments complete the 10 of a window: one SMSS more.
    cc.onAck(9 * MSS, 21, 100, false);
    expect(cc.cwnd).toBe(11 * MSS);
  });

  it("at cwnd = ssthresh it is congestion avoidance (RFC 5681 §3.1 allows either; as Linux's tcp_in_slow_start)", () => {
    const cc = new Reno(MSS);
    cc.onEnterRecovery(20 * MSS, 0);
    cc.onExitRecovery(20 * MSS);
    expect([cc.cwnd, cc.ssthresh, cc.inSlowStart]).toEqual([10 * MSS, 10 * MSS, false]);
    cc.onAck(MSS, 1, 100, false);
    expect(cc.cwnd).toBe(10 * MSS); // slow start would have made it 11
  });

  it("bytes counted toward a larger window before an idle restart add nothing by themselves", () => {
    // Congestion avoidance at 20 segments with 15 counted; idle: cwnd = IW (10), still above ssthresh.
    const cc = new Reno(MSS);
    cc.onEnterRecovery(16 * MSS, 0); // ssthresh 8
    for (let i = 0; i < 4; i++) oneRtt(cc, i * 100, 100); // grows in CA to 12 segments
    cc.onAck(11 * MSS, 500, 100, false); // 11 of the 12 counted
    cc.onIdleRestart(10_000);
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onAck(0, 10_001, 100, false); // an ACK of nothing new: no growth, whatever was counted
    expect(cc.cwnd).toBe(10 * MSS);
    // And in slow start (ssthresh above the restart window), counted bytes stay out of it.
    const ss = new Reno(MSS);
    ss.onEnterRecovery(30 * MSS, 0); // ssthresh 15
    for (let i = 0; i < 2; i++) oneRtt(ss, i * 100, 100); // CA: 15 -> 17
    ss.onAck(16 * MSS, 300, 100, false); // 16 counted (L does not limit congestion avoidance)
    ss.onIdleRestart(10_000); // cwnd 10 < ssthresh 15: slow start
    ss.onAck(MSS, 10_001, 100, false);
    expect(ss.cwnd).toBe(11 * MSS);
  });

  it("does not grow while in recovery or when not cwnd-limited", () => {
    const cc = new Reno(MSS);
    cc.onAck(MSS, 1, 100, true);
    cc.onAck(MSS, 2, 100, false, false);
    cc.onAck(0, 3, 100, false);
    cc.onAck(-5, 4, 100, false);
    expect(cc.cwnd).toBe(10 * MSS);
  });

  it("fast retransmit: ssthresh = cwnd = max(FlightSize/2, 2*SMSS) (RFC 5681 eq. 4)", () => {
    const cc = new Reno(MSS);
    cc.onEnterRecovery(30 * MSS, 0);
    expect(cc.ssthresh).toBe(15 * MSS);
    expect(cc.cwnd).toBe(15 * MSS);
    const small = new Reno(MSS);
    small.onEnterRecovery(3 * MSS, 0);
    expect(small.ssthresh).toBe(2 * MSS);
    expect(small.cwnd).toBe(2 * MSS);
  });

  it("NewReno inflation and partial-ACK deflation (RFC 6582 §3.2)", () => {
    const cc = new Reno(MSS);
    cc.onEnterRecovery(20 * MSS, 0);
    cc.inflate(3 * MSS); // step 2: ssthresh + 3*SMSS
    expect(cc.cwnd).toBe(13 * MSS);
    cc.inflate(MSS); // each further duplicate ACK
    expect(cc.cwnd).toBe(14 * MSS);
    cc.deflate(4 * MSS); // partial ACK of 4 segments ...
    cc.inflate(MSS); // ... plus one SMSS back
    expect(cc.cwnd).toBe(11 * MSS);
    cc.deflate(100 * MSS);
    expect(cc.cwnd).toBe(MSS);
    cc.inflate(-5);
    cc.deflate(-5);
    expect(cc.cwnd).toBe(MSS);
  });

  it("exit from recovery deflates to ssthresh, or less when little is in flight (RFC 6582 §3.2 step 3)", () => {
    const cc = new Reno(MSS);
    cc.onEnterRecovery(20 * MSS, 0);
    cc.inflate(8 * MSS);
    cc.onExitRecovery(20 * MSS);
    expect(cc.cwnd).toBe(10 * MSS);
    const idle = new Reno(MSS);
    idle.onEnterRecovery(20 * MSS, 0);
    idle.onExitRecovery(2 * MSS);
    expect(idle.cwnd).toBe(3 * MSS);
    expect(idle.inSlowStart).toBe(true);
  });

  it("RTO: cwnd = 1 SMSS, ssthresh from FlightSize, kept on a repeated timeout (RFC 5681 §3.1)", () => {
    const cc = new Reno(MSS);
    cc.onRto(40 * MSS, 0, false);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
    cc.onRto(MSS, 1000, true);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
  });

  it("slow start after an RTO counts at most 1 SMSS per ACK (RFC 3465 §2.3)", () => {
    const cc = new Reno(MSS);
    cc.onRto(40 * MSS, 0, false);
    cc.onAck(4 * MSS, 1, 100, false);
    expect(cc.cwnd).toBe(2 * MSS);
    // After the next congestion event, the 2*SMSS limit is back.
    cc.onEnterRecovery(10 * MSS, 2);
    cc.onExitRecovery(MSS);
    cc.onAck(4 * MSS, 3, 100, false);
    expect(cc.cwnd).toBe(4 * MSS);
  });

  it("idle restart: cwnd = min(IW, cwnd) (RFC 5681 §4.1)", () => {
    const cc = new Reno(MSS);
    oneRtt(cc, 0, 100);
    expect(cc.cwnd).toBe(20 * MSS);
    cc.onIdleRestart(10_000);
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onRto(10 * MSS, 20_000, false);
    cc.onIdleRestart(30_000);
    expect(cc.cwnd).toBe(MSS);
  });

  it("an MSS change keeps the window's size in segments", () => {
    const cc = new Reno(1460);
    cc.onEnterRecovery(40 * 1460, 0);
    cc.mss = 1200;
    expect(cc.mss).toBe(1200);
    expect(cc.cwnd).toBe(20 * 1200);
    expect(cc.ssthresh).toBe(20 * 1200);
    const fresh = new Reno(1460);
    fresh.mss = 536;
    expect(fresh.cwnd).toBe(10 * 536);
    expect(fresh.ssthresh).toBe(SSTHRESH_INFINITE);
  });

  it("an MSS change restarts the count toward the next congestion-avoidance segment", () => {
    const cc = new Reno(1000);
    cc.onEnterRecovery(20 * 1000, 0); // CA at 10 segments
    cc.onAck(9 * 1000, 1, 100, false); // 9 of 10 counted
    cc.mss = 500; // 10 segments of 500
    cc.onAck(500, 2, 100, false);
    expect(cc.cwnd).toBe(10 * 500); // a fresh count: 1 of 10 segments
  });
});
