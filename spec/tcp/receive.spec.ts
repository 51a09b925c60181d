/**
 * The receive side: delivery in order and exactly once, out-of-order data held and reported with SACK
 * (RFC 2018), when ACKs go out (RFC 5681 §4.2, RFC 9293 §3.8.6.3), the sequence and PAWS checks
 * (RFC 9293 §3.10.7.4, RFC 7323 §5), and the window offered as the application pauses and resumes.
 */
import { describe, expect, it } from "vitest";
import { establish, pastQuickAck, peerByte, TcpHarness } from "../support/tcp-harness.js";

/** Full-sized segments from the peer: MSS 1460 less 12 bytes of timestamps. */
const SEG = 1448;

describe("in-order data (RFC 9293 §3.10.7.4 seventh: segment text)", () => {
  it("is delivered in order, each byte once, and acknowledged", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", seq: 1, ack: 101 });
    h.in({ flags: "P.", seq: 101, data: 1000 });
    h.out({ flags: ".", seq: 1, ack: 1101 });
    h.in({ flags: ".", seq: 1101, data: SEG });
    h.out({ flags: ".", ack: 1101 + SEG });
    h.expectRx(1101 + SEG - 1);
    expect(h.app.rxCalls).toEqual([100, 1000, SEG]);
  });

  it("is delivered on IPv6 too", () => {
    const h = new TcpHarness({ family: 6 });
    establish(h, { mss: 1440 });
    h.in({ flags: "P.", seq: 1, data: 1428 });
    h.out({ flags: ".", ack: 1429 });
    h.expectRx(1428);
  });

  it("a segment with a bad checksum is dropped silently", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 100, badChecksum: true });
    h.outNothing();
    expect(h.app.received).toBe(0);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101 });
    h.expectRx(100);
  });
});

describe("out-of-order data (RFC 9293 §3.10.7.4: held for later processing; RFC 2018 SACK)", () => {
  it("is held, reported with SACK blocks, most recent first (RFC 2018 §4), and reassembled", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1, data: 1000 });
    h.out({ flags: ".", ack: 1001, sack: null });
    h.in({ flags: ".", seq: 2001, data: 1000 }); // gap 1001:2001
    h.out({ flags: ".", ack: 1001, sack: [[2001, 3001]] });
    h.in({ flags: ".", seq: 4001, data: 1000 }); // gap 3001:4001
    h.out({ flags: ".", ack: 1001, sack: [[4001, 5001], [2001, 3001]] });
    h.in({ flags: ".", seq: 6001, data: 1000 });
    h.out({ flags: ".", ack: 1001, sack: [[6001, 7001], [4001, 5001], [2001, 3001]] });
    // A repeat of a held range: the block holding the segment that triggered the ACK goes first.
    h.in({ flags: ".", seq: 2001, data: 1000 });
    h.out({ flags: ".", ack: 1001, sack: [[2001, 3001], [6001, 7001], [4001, 5001]] });
    // Joining two held ranges reports the merged block first.
    h.in({ flags: ".", seq: 5001, data: 1000 });
    h.out({ flags: ".", ack: 1001, sack: [[4001, 7001], [2001, 3001]] });
    expect(h.app.received).toBe(1000);
    h.in({ flags: ".", seq: 1001, data: 1000 });
    h.out({ flags: ".", ack: 3001, sack: [[4001, 7001]] });
    h.expectRx(3000);
    h.in({ flags: ".", seq: 3001, data: 1000 });
    h.out({ flags: ".", ack: 7001, sack: null });
    h.expectRx(7000);
  });

  it("without SACK permitted no SACK option is ever sent (RFC 2018 §2)", () => {
    const h = new TcpHarness();
    establish(h, { sackOK: false });
    h.in({ flags: ".", seq: 2001, data: 1000 });
    h.out({ flags: ".", ack: 1, sack: null });
    h.in({ flags: ".", seq: 1, data: 2000 });
    h.out({ flags: ".", ack: 3001 });
    h.expectRx(3000);
  });

  it("without timestamps up to 4 SACK blocks fit (RFC 2018 §3)", () => {
    const h = new TcpHarness();
    establish(h, { ts: false });
    for (let k = 1; k <= 5; k++) {
      h.in({ flags: ".", seq: 1 + k * 2000, data: 1000 });
      h.drain();
    }
    h.in({ flags: ".", seq: 1 + 6 * 2000, data: 1000 });
    h.out({ flags: ".", ack: 1, sack: [[12001, 13001], [10001, 11001], [8001, 9001], [6001, 7001]] });
  });

  it("a gap gets an immediate duplicate ACK and the segment filling it an immediate ACK (RFC 5681 §4.2)", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    // Delayed ACKs are on now: one full segment alone is not acknowledged at once...
    h.in({ flags: ".", seq: s, data: SEG });
    h.outNothing();
    h.after(40).out({ flags: ".", ack: s + SEG });
    // ...but out-of-order data is, at once, with a SACK block ("an immediate duplicate ACK SHOULD be sent").
    const t = s + SEG;
    h.in({ flags: ".", seq: t + SEG, data: SEG });
    h.out({ flags: ".", ack: t, sack: [[t + SEG, t + 2 * SEG]] });
    // And so is the segment that fills the gap ("an immediate ACK SHOULD be generated").
    h.in({ flags: ".", seq: t, data: SEG });
    h.out({ flags: ".", ack: t + 2 * SEG, sack: null });
    h.outNothing();
    h.expectRx(t + 2 * SEG - 1);
    expect(h.engine.stats().tcpOutOfOrderSegments).toBe(1);
  });

  it("overlapping and retransmitted data is delivered exactly once (RFC 9293 §3.10.7.4 trimming)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1, data: 1000 });
    h.out({ flags: ".", ack: 1001 });
    h.in({ flags: ".", seq: 501, data: 1000 }); // half old, half new
    h.delayedAck({ flags: ".", ack: 1501 });
    h.in({ flags: ".", seq: 1, data: 1500 }); // all old: a duplicate ACK
    h.out({ flags: ".", ack: 1501 });
    // Out of order, then retransmitted overlapping the held range and the gap below it.
    h.in({ flags: ".", seq: 2001, data: 500 });
    h.out({ flags: ".", ack: 1501, sack: [[2001, 2501]] });
    h.in({ flags: ".", seq: 1801, data: 1000 });
    h.out({ flags: ".", ack: 1501, sack: [[1801, 2801]] });
    h.in({ flags: ".", seq: 1001, data: 1000 });
    h.out({ flags: ".", ack: 2801 });
    h.expectRx(2800);
  });

  it("the first copy of a held byte wins over a different retransmission (as Linux's out-of-order queue)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 101, data: 100 });
    h.out({ flags: ".", ack: 1 });
    const other = new Uint8Array(200).fill(0xee);
    h.in({ flags: ".", seq: 1, data: other });
    h.out({ flags: ".", ack: 201 });
    h.expectRx(200); // the model keeps the first copy of bytes 100..199 too
    const got = h.conn().received.slice(0, 200);
    expect(got[0]).toBe(0xee);
    expect(got[150]).toBe(peerByte(150));
  });
});

describe("unacceptable segments (RFC 9293 §3.10.7.4 first check)", () => {
  it("data beyond the window is answered with an ACK and dropped", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101 });
    h.in({ flags: ".", seq: 101 + 300_000, data: 100 }); // window is 256 KiB
    h.out({ flags: ".", ack: 101, sack: null });
    expect(h.app.received).toBe(100);
    expect(h.engine.stats().drops).toMatchObject({ out_of_window: 1 });
  });

  // RFC 9293 §3.10.7.4's acceptability test at each edge of the window [RCV.NXT, RCV.NXT + RCV.WND):
  // RCV.NXT = 1 and RCV.WND = 4000 (a 4000-byte buffer, no window scaling).
  it.each([
    ["a bare ACK at the window's last octet is acceptable", 4000, 0, true],
    ["a bare ACK just past the window is not", 4001, 0, false],
    ["one octet at the window's last octet is acceptable (held)", 4000, 1, true],
    ["one octet just past the window is not", 4001, 1, false],
    ["a segment whose last octet is RCV.NXT is acceptable", 0, 2, true],
    ["a segment whose last octet is just below RCV.NXT is not", -1, 2, false],
  ] as const)("acceptability: %s", (_name, seqRel, len, acceptable) => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(4000) });
    establish(h, { wscale: null });
    h.at(1000).in({ flags: ".", seq: seqRel, ...(len > 0 ? { data: len } : {}) });
    const drops = h.engine.stats().drops["out_of_window"] ?? 0;
    expect(drops).toBe(acceptable ? 0 : 1);
    // In-order text smaller than full-sized waits for the delayed ACK (countSegmentForAck).
    const answers = [...h.drain(), ...h.after(40).drain()];
    if (len === 0) expect(answers).toHaveLength(acceptable ? 0 : 1);
    else expect(answers.map((p) => p.sack.length > 0)).toEqual(acceptable && seqRel > 1 ? [true] : [false]);
    if (acceptable && seqRel <= 0) h.expectRx(seqRel + len - 1);
    else h.expectRx(0);
  });

  it("an old duplicate (entirely below RCV.NXT) is answered with a duplicate ACK", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1, data: 1000 });
    h.out({ flags: ".", ack: 1001 });
    h.in({ flags: ".", seq: 1, data: 500 });
    h.out({ flags: ".", ack: 1001 });
    h.expectRx(1000);
  });

  it("data partly beyond the window keeps the part inside it and is acknowledged", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(4000) });
    establish(h);
    h.app.pause();
    h.in({ flags: ".", seq: 1, data: 3000 });
    h.out({ flags: ".", ack: 3001, win: 1000 });
    h.in({ flags: ".", seq: 3001, data: 1448 });
    h.out({ flags: ".", ack: 4001, win: 0 });
    h.app.resume();
    h.out({ flags: ".", ack: 4001, win: 4000 });
    h.expectRx(4000);
  });

  it("PAWS: a segment whose TSval is older than TS.Recent is answered with an ACK and dropped (RFC 7323 §5.3 R1)", () => {
    const h = new TcpHarness();
    establish(h); // TS.Recent = 100
    h.at(10).in({ flags: ".", seq: 1, data: 100, ts: [110, undefined] });
    h.delayedAck({ flags: ".", ack: 101, ts: [50, 110] });
    h.at(60).in({ flags: ".", seq: 101, data: 100, ts: [105, undefined] }); // older than 110
    h.out({ flags: ".", ack: 101, ts: [60, 110] });
    expect(h.app.received).toBe(100);
    expect(h.engine.stats().drops).toMatchObject({ paws: 1 });
    // The same data with a fresh timestamp is taken.
    h.in({ flags: ".", seq: 101, data: 100, ts: [120, undefined] });
    h.delayedAck({ flags: ".", ack: 201, ts: [100, 120] });
    h.expectRx(200);
  });

  it("PAWS compares timestamps modulo 2^32 (RFC 7323 §5.2): a TSval that wrapped past 0 is newer, one just below the wrap older", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK: true, ts: [0xffff_fff0, 0], wscale: 7 });
    h.out({ flags: "S.", ack: 1, ts: [undefined, 0xffff_fff0] });
    h.in({ flags: ".", seq: 1, ack: 1, win: 512, ts: [0xffff_fff0, undefined] });
    // 0x10 is 32 ticks after 0xfffffff0: taken, and it becomes TS.Recent (echoed).
    h.at(10).in({ flags: ".", seq: 1, data: 100, ts: [0x10, undefined] });
    h.delayedAck({ flags: ".", ack: 101, ts: [undefined, 0x10] });
    // 0xfffffff8 is now 24 ticks in the past: PAWS drops it.
    h.at(60).in({ flags: ".", seq: 101, data: 100, ts: [0xffff_fff8, undefined] });
    h.out({ flags: ".", ack: 101, ts: [undefined, 0x10] });
    expect(h.engine.stats().drops).toMatchObject({ paws: 1 });
    h.expectRx(100);
  });

  it("PAWS does not apply to a RST: one at RCV.NXT with an old TSval still resets (RFC 7323 §5.3 R1, as Linux)", () => {
    const h = new TcpHarness();
    establish(h); // TS.Recent = 100
    h.at(10).in({ flags: ".", seq: 1, data: 100, ts: [5000, undefined] });
    h.delayedAck({ flags: ".", ack: 101, ts: [undefined, 5000] });
    h.at(60).in({ flags: "R", seq: 101, ts: [4000, undefined] });
    h.outNothing();
    h.expectClosed();
    expect(h.engine.stats().drops).not.toHaveProperty("paws");
  });

  it("TS.Recent follows the segment that covers Last.ACK.sent, not a later out-of-order one (RFC 7323 §4.3)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1001, data: 100, ts: [500, undefined] });
    h.out({ flags: ".", ack: 1, ts: [undefined, 100] });
    h.in({ flags: ".", seq: 1, data: 1000, ts: [200, undefined] });
    h.out({ flags: ".", ack: 1101, ts: [undefined, 200] });
  });
});

describe("delayed ACK (RFC 9293 §3.8.6.3; RFC 5681 §4.2: every second full-sized segment, or 40 ms)", () => {
  it("the first segments are acknowledged at once (quick-ACK as Linux), then every second full segment", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    h.in({ flags: ".", seq: s, data: SEG });
    h.outNothing();
    h.in({ flags: ".", seq: s + SEG, data: SEG });
    h.out({ flags: ".", ack: s + 2 * SEG, time: 0 });
    h.in({ flags: ".", seq: s + 2 * SEG, data: SEG });
    h.outNothing();
    h.in({ flags: ".", seq: s + 3 * SEG, data: SEG });
    h.out({ flags: ".", ack: s + 4 * SEG });
    h.expectRx(s + 4 * SEG - 1);
  });

  it("a lone segment is acknowledged after 40 ms", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    h.at(100).in({ flags: "P.", seq: s, data: 10 });
    h.at(139).outNothing();
    h.at(140).out({ flags: ".", ack: s + 10, time: 140 });
    h.at(1000).outNothing();
  });

  it("data the application sends carries the ACK: no separate delayed ACK follows", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    h.at(100).in({ flags: "P.", seq: s, data: 10 });
    h.at(110);
    h.app.send(20);
    h.out({ flags: "P.", ack: s + 10, len: 20 });
    h.at(200).outNothing();
  });

  it("quick-ACK mode takes full-sized segments only: a small request waits, and the reply carries its ACK (as Linux does not)", () => {
    const h = new TcpHarness();
    establish(h);
    h.at(10).in({ flags: "P.", seq: 1, data: 80 });
    h.outNothing();
    h.at(30);
    h.app.send(200);
    h.out({ flags: "P.", seq: 1, ack: 81, len: 200, time: 30 });
    h.at(200).outNothing();
    // Full-sized segments are still ACKed one by one at the start of the connection.
    h.in({ flags: ".", seq: 81, ack: 201, data: SEG });
    h.out({ flags: ".", ack: 81 + SEG });
    h.in({ flags: ".", seq: 81 + SEG, data: SEG });
    h.out({ flags: ".", ack: 81 + 2 * SEG });
  });

  it("a small request with no reply is acknowledged by the delayed ACK (RFC 5681 §4.2: within 500 ms; 40 ms)", () => {
    const h = new TcpHarness();
    establish(h);
    h.at(10).in({ flags: "P.", seq: 1, data: 80 });
    h.at(49).outNothing();
    h.at(50).out({ flags: ".", ack: 81, time: 50 });
  });

  it("after the peer's data paused longer than the RTO, quick-ACK mode again (Linux tcp_event_data_recv)", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    // Within the RTO: every second full-sized segment.
    h.at(10).in({ flags: ".", seq: s, data: SEG });
    h.outNothing();
    h.in({ flags: ".", seq: s + SEG, data: SEG });
    h.out({ flags: ".", ack: s + 2 * SEG });
    // A pause of 5 s (the RTO is 1 s at most here): the next full-sized segments are ACKed one by one.
    const t = s + 2 * SEG;
    h.at(5010).in({ flags: ".", seq: t, data: SEG });
    h.out({ flags: ".", ack: t + SEG, time: 5010 });
    h.in({ flags: ".", seq: t + SEG, data: SEG });
    h.out({ flags: ".", ack: t + 2 * SEG });
    h.in({ flags: ".", seq: t + 2 * SEG, data: SEG });
    h.out({ flags: ".", ack: t + 3 * SEG });
    h.expectRx(t + 3 * SEG - 1);
  });
});

describe("receive window and the application (l4PauseRx / l4ResumeRx)", () => {
  it("while paused the window closes as data piles up; resuming delivers it and sends a window update (RFC 9293 §3.8.6.2.2)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(8192) });
    establish(h);
    h.app.pause();
    let s = 1;
    for (let i = 0; i < 5; i++) {
      h.in({ flags: ".", seq: s, data: SEG });
      s += SEG;
      h.out({ flags: ".", ack: s, win: 8192 - (s - 1) });
    }
    h.in({ flags: ".", seq: s, data: 8192 - (s - 1) });
    h.delayedAck({ flags: ".", ack: 8193, win: 0 });
    expect(h.app.received).toBe(0);
    h.app.resume();
    h.out({ flags: ".", ack: 8193, win: 8192 });
    h.expectRx(8192);
    h.outNothing();
  });

  it("a zero-window probe (one byte at RCV.NXT) is answered with an ACK holding the zero window (RFC 9293 §3.8.6.1, §3.10.7.4)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(4096) });
    establish(h);
    h.app.pause();
    h.in({ flags: ".", seq: 1, data: 4096 });
    h.out({ flags: ".", ack: 4097, win: 0 });
    h.at(200).in({ flags: ".", seq: 4097, data: 1 });
    h.out({ flags: ".", ack: 4097, win: 0 });
    // Linux's probe, one below RCV.NXT and empty, gets the same answer.
    h.at(400).in({ flags: ".", seq: 4096 });
    h.out({ flags: ".", ack: 4097, win: 0 });
    h.app.resume();
    h.out({ flags: ".", ack: 4097, win: 4096 });
    h.expectRx(4096);
  });

  it("pausing from inside l4Rx holds the rest; FIN is reported only after the data, once resumed", () => {
    const h = new TcpHarness();
    establish(h);
    h.onRx = () => h.engine.l4PauseRx(h.flow());
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101 });
    expect(h.app.received).toBe(100);
    h.in({ flags: "FP.", seq: 101, data: 100 });
    h.out({ flags: ".", ack: 202 });
    expect(h.app.received).toBe(100);
    expect(h.app.remoteClosedCount).toBe(0);
    h.onRx = undefined;
    h.app.resume();
    h.drain(); // a window update may go out
    h.expectRx(200);
    expect(h.app.remoteClosedCount).toBe(1);
    expect(h.app.remoteClosedAfter).toBe(200);
  });

  it("the right edge of the window never moves left (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(10000) });
    establish(h, { wscale: 7 });
    h.app.pause();
    let s = 1;
    let edge = 0;
    for (let i = 0; i < 8; i++) {
      h.in({ flags: ".", seq: s, data: 1200 });
      s += 1200;
      const a = h.out({ flags: "." });
      const right = a.ack + a.win; // scale 0 for a 10000-byte buffer
      expect(right).toBeGreaterThanOrEqual(edge);
      edge = right;
    }
  });
});

describe("odd segments", () => {
  it("urgent data is delivered in line (RFC 6093 §4)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "UP.", seq: 1, data: 10, urg: 5 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.expectRx(10);
  });

  it("data on a SYN is not taken: the SYN-ACK acknowledges the SYN only and the peer sends it again", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, data: 10 });
    h.out({ flags: "S.", ack: 1 });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.expectRx(10);
  });

  it("a keep-alive probe from the peer (SEQ = RCV.NXT - 1, no data) is answered with an ACK (RFC 9293 §3.8.4)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.at(60_000).in({ flags: ".", seq: 10 });
    h.out({ flags: ".", seq: 1, ack: 11 });
  });

  it("out-of-order ranges are bounded (32): a segment needing a 33rd is dropped and the ACK repeats the SACK", () => {
    const h = new TcpHarness();
    establish(h);
    for (let k = 1; k <= 32; k++) {
      h.in({ flags: ".", seq: 1 + k * 200, data: 100 });
      h.drain();
    }
    h.in({ flags: ".", seq: 1 + 33 * 200, data: 100 });
    // RFC 2018 §4: the first block reports the most recently received segment (here the last one
    // held, 6401:6501, as the 33rd could not be); then the most recent others, as many as fit
    // beside the timestamps (3).
    h.out({ flags: ".", ack: 1, sack: [[6401, 6501], [6201, 6301], [6001, 6101]] });
    expect(h.engine.stats().drops).toMatchObject({ reassembly_full: 1 });
    // Filling the holes still works and everything held is delivered once.
    for (let k = 0; k <= 33; k++) {
      h.in({ flags: ".", seq: 1 + k * 200, data: k === 33 ? 100 : 200 });
      h.drain();
    }
    h.expectRx(33 * 200 + 100);
  });

  it("an ACK that found no transmit buffer (l3TxBuffer undefined) goes out when one is available", () => {
    const h = new TcpHarness();
    establish(h);
    h.txBlocked = true;
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.outNothing();
    h.txBlocked = false;
    h.at(5);
    h.delayedAck({ flags: ".", ack: 11 });
    h.expectRx(10);
  });
});

// The receiver (lib/tcp/receive.ts): what out-of-order text and FINs are counted and answered with,
// a retransmitted FIN, the delayed-ACK timer's start, the quick-ACK gap's bound and the bytes counted
// through the receive buffer. Boundaries the mutation run found unpinned (issue 10).

describe("out of order (RFC 5681 §4.2: an immediate duplicate ACK)", () => {
  it("each out-of-order segment is counted, and so is the duplicate ACK it gets", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 101, data: 100 });
    h.out({ flags: ".", ack: 1, sack: [[101, 201]] });
    h.in({ flags: "P.", seq: 301, data: 100 });
    h.out({ flags: ".", ack: 1, sack: [[301, 401], [101, 201]] });
    const s = h.engine.stats();
    expect([s.tcpOutOfOrderSegments, s.tcpDupAcksSent]).toEqual([2, 2]);
    // The segment that fills the gap is in order: not counted.
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: ".", ack: 201, sack: [[301, 401]] });
    expect(h.engine.stats().tcpOutOfOrderSegments).toBe(2);
  });

  it("a FIN alone beyond a gap is acknowledged at once (a duplicate ACK), and takes effect when the gap fills", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 101 });
    h.out({ flags: ".", ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: ".", ack: 102 });
    expect(h.state()).toBe("CLOSE-WAIT");
  });

  it("data held while delivery is paused counts in bytesIn when it arrives", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.pause();
    h.in({ flags: "P.", seq: 1, data: 300 });
    h.drain();
    expect(h.engine.l4Info(h.flow())!.bytesIn).toBe(300);
    expect(h.app.received).toBe(0);
  });
});

describe("the FIN (RFC 9293 §3.10.7.4 eighth step)", () => {
  it("a retransmitted FIN in CLOSE-WAIT is acknowledged with the same RCV.NXT; the state stays", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    expect(h.app.remoteClosedCount).toBe(1);
  });
});

describe("text after the peer's FIN (RFC 9293 §3.10.7.4 seventh step: CLOSE-WAIT ... \"ignore the segment text\")", () => {
  it("data in CLOSE-WAIT is not delivered and is counted; a bare ACK there is not", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    // Our data, and the peer's bare ACK of it: nothing to count.
    h.app.send("reply");
    h.out({ flags: "P.", seq: 1, data: "reply" });
    h.in({ flags: ".", seq: 2, ack: 6 });
    expect(h.engine.stats().drops.data_after_close ?? 0).toBe(0);
    // Text beyond the FIN, at RCV.NXT and inside the window: ignored.
    h.in({ flags: "P.", seq: 2, data: 10 });
    h.drain();
    expect(h.app.received).toBe(0);
    expect(h.engine.stats().drops.data_after_close).toBe(1);
    expect(h.engine.l4Info(h.flow())!.bytesIn).toBe(0);
  });
});

describe("when to acknowledge (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2)", () => {
  it("the delayed-ACK timer runs from the first unacknowledged segment: a second small one does not restart it", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.at(30).in({ flags: "P.", seq: 11, data: 10 });
    h.at(39).outNothing();
    h.at(40);
    h.out({ flags: ".", ack: 21, time: 40 });
  });

  it("a pause of exactly the RTO does not re-enter quick-ACK mode; a longer one does (Linux tcp_event_data_recv: gap > RTO)", () => {
    const h = new TcpHarness();
    establish(h);
    // Leave quick-ACK mode: 16 full-sized segments ACKed one by one.
    let seq = 1;
    for (let i = 0; i < 16; i++) {
      h.in({ flags: ".", seq, data: 1448 });
      h.out({ flags: ".", ack: seq + 1448 });
      seq += 1448;
    }
    // Out of quick-ACK mode: one full segment waits for a second one.
    h.in({ flags: ".", seq, data: 1448 });
    h.outNothing();
    seq += 1448;
    h.in({ flags: ".", seq, data: 1448 });
    h.out({ flags: ".", ack: seq + 1448 });
    seq += 1448;
    const rto = h.engine.l4Info(h.flow())!.rto;
    // Exactly the RTO after the last data: still not quick-ACK mode; the delayed ACK answers.
    h.at(h.now + rto).in({ flags: ".", seq, data: 1448 });
    h.outNothing();
    seq += 1448;
    h.in({ flags: ".", seq, data: 1448 });
    h.out({ flags: ".", ack: seq + 1448 });
    seq += 1448;
    // Longer than the RTO: quick-ACK mode again, the segment is ACKed at once.
    h.at(h.now + rto + 1).in({ flags: ".", seq, data: 1448 });
    h.out({ flags: ".", ack: seq + 1448 });
  });
});

// Boundaries the second mutation pass over lib/tcp/receive.ts found unpinned (issue 10).

describe("the window's right edge and a FIN (RFC 9293 §3.10.7.4 seventh step, trimming)", () => {
  it("in FIN-WAIT-2, a FIN right after text that exactly fills the window is taken (as Linux); one octet more and it is not", () => {
    for (const extra of [0, 1]) {
      const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(4000) });
      establish(h, { wscale: null });
      h.in({ flags: "P.", seq: 1, data: 100 });
      h.delayedAck({ flags: ".", ack: 101, win: 4000 }); // RCV.NXT 101, right edge 4101
      h.app.close();
      h.out({ flags: "F.", seq: 1, ack: 101 });
      h.in({ flags: ".", seq: 101, ack: 2 });
      expect(h.state()).toBe("FIN-WAIT-2");
      // 4000 + extra octets at RCV.NXT, then the FIN (outside ESTABLISHED: the general trim).
      h.in({ flags: "FP.", seq: 101, ack: 2, data: 4000 + extra });
      if (extra === 0) {
        h.out({ flags: ".", ack: 4102 });
        expect(h.state()).toBe("TIME-WAIT");
      } else {
        h.out({ flags: ".", ack: 4101 });
        expect(h.state()).toBe("FIN-WAIT-2");
      }
      h.expectRx(4100);
    }
  });
});

describe("a FIN is only the peer's FIN (RFC 9293 §3.10.7.4 eighth step)", () => {
  it("RCV.NXT wrapping to 0 is not taken for a FIN there (no FIN was ever received)", () => {
    // Peer ISN 2^32 - 256: after 255 octets RCV.NXT is 0, where no FIN is pending.
    const h = new TcpHarness({ peerIsn: 0xffff_ff00 });
    establish(h);
    h.app.pause(); // the general way (not header prediction), which runs the eighth step
    h.in({ flags: "P.", seq: 1, data: 255 });
    h.delayedAck({ flags: ".", ack: 256 });
    expect(h.state()).toBe("ESTABLISHED");
    h.app.resume();
    h.drain();
    h.expectRx(255);
    expect(h.app.remoteClosedCount).toBe(0);
  });
});

describe("the delayed-ACK timer and full-sized segments (RFC 5681 §4.2, RFC 1122 §4.2.3.2)", () => {
  it("a lone full-sized segment outside quick-ACK mode is acknowledged by the timer, 40 ms after it", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    h.at(100).in({ flags: ".", seq: s, data: SEG });
    h.at(139).outNothing();
    h.at(140).out({ flags: ".", ack: s + SEG, time: 140 });
  });

  it("a full-sized segment does not restart a timer a small one already started", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    h.at(100).in({ flags: "P.", seq: s, data: 10 });
    h.at(130).in({ flags: ".", seq: s + 10, data: SEG });
    h.at(139).outNothing();
    h.at(140).out({ flags: ".", ack: s + 10 + SEG, time: 140 });
  });

  it("a segment of the full MSS offered (1460, timestamps and all) becomes rcvMss: a 1448-byte one after it is not full-sized", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h); // rcvMss 1448
    h.at(100).in({ flags: ".", seq: s, data: 1460 }); // rcvMss 1460; one full-sized segment unacknowledged
    h.outNothing();
    h.at(110).in({ flags: ".", seq: s + 1460, data: SEG }); // less than 1460: not a second full-sized one
    h.outNothing();
    h.at(140).out({ flags: ".", ack: s + 1460 + SEG, time: 140 });
  });
});

describe("window update after l4ResumeRx (RFC 9293 §3.8.6.2.2 receiver SWS avoidance)", () => {
  it("no window update when the window offered before was at least half the buffer", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(8192) });
    establish(h);
    h.app.pause();
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101, win: 8092 });
    h.app.resume();
    h.expectRx(100);
    h.outNothing();
    h.after(1000).outNothing();
  });
});

describe("delivery paused within the step (fireRx)", () => {
  it("text in a segment whose ACK made l4TxReady pause delivery is held, then delivered once on resume", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(8192) });
    establish(h, { wscale: null, win: 8192, ackWin: 8192 });
    expect(h.app.send(20_000)).toBe(8192);
    h.drain();
    h.onTxReady = () => h.engine.l4PauseRx(h.flow());
    // The ACK frees send space (l4TxReady, which pauses) and the text comes after it in the same step.
    h.at(10).in({ flags: "P.", seq: 1, ack: 4097, win: 8192, data: 100 });
    h.drain();
    expect(h.app.txReadyCount).toBe(1);
    expect(h.app.received).toBe(0);
    h.onTxReady = undefined;
    h.app.resume();
    h.drain();
    h.expectRx(100);
    expect(h.app.rxCalls).toEqual([100]);
  });
});
