/**
 * The send side: segment sizes (MSS less options), the peer's window (scaled, RFC 7323 §2.3), the
 * congestion window (IW10, RFC 6928; slow start, RFC 5681 §3.1), sender SWS avoidance (RFC 9293
 * §3.8.6.2.1), zero-window probing (RFC 9293 §3.8.6.1) and l4TxReady.
 */
import { describe, expect, it } from "vitest";
import { icmp } from "../support/packets.js";
import { establish, info, TcpHarness, type Captured } from "../support/tcp-harness.js";

const SMSS = 1448; // 1460 less 12 bytes of timestamps

function bytesIn(ps: Captured[]): number {
  return ps.reduce((n, p) => n + p.len, 0);
}

/**
 * 100 bytes sent and acknowledged with a zero window, 100 more waiting: nothing outstanding, so the
 * persist timer is armed (RFC 9293 §3.8.6.1).
 */
function zeroWindowWithDataWaiting(): TcpHarness {
  const h = new TcpHarness();
  establish(h);
  h.app.send(100);
  h.out({ flags: "P.", seq: 1, len: 100 });
  h.in({ flags: ".", ack: 101, win: 0 });
  h.app.send(100);
  return h;
}

describe("segment sizes (RFC 9293 §3.7.1: MSS less the options every segment carries)", () => {
  it.each([
    ["MSS 1460 with timestamps: 1448-byte segments", { mss: 1460 }, 1448],
    ["MSS 1460 without timestamps: 1460-byte segments", { mss: 1460, ts: false }, 1460],
    ["MSS 536 with timestamps: 524-byte segments", { mss: 536 }, 524],
    ["MSS 9000 is capped by our MTU: 1448-byte segments", { mss: 9000 }, 1448],
    ["MSS 10 is raised to 64 (no segment shorter than that just because the peer asked): 64 - 12", { mss: 10 }, 52],
    ["MSS 64 is taken as it is: 52-byte segments", { mss: 64 }, 52],
  ])("%s", (_name, o, size) => {
    const h = new TcpHarness();
    establish(h, o);
    h.app.send(3 * size + 10);
    h.out({ flags: ".", seq: 1, len: size });
    h.out({ flags: ".", seq: 1 + size, len: size });
    h.out({ flags: ".", seq: 1 + 2 * size, len: size });
    h.out({ flags: "P.", seq: 1 + 3 * size, len: 10 });
    h.outNothing();
  });

  it("no MSS option: 536 bytes (RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6), 1220 on IPv6 (RFC 8200 §5)", () => {
    const v4 = new TcpHarness();
    v4.in({ flags: "S", seq: 0 });
    v4.out({ flags: "S." });
    v4.in({ flags: ".", seq: 1, ack: 1 });
    v4.app.send(1000);
    v4.out({ len: 536 });
    v4.out({ len: 464 });
    const v6 = new TcpHarness({ family: 6 });
    v6.in({ flags: "S", seq: 0 });
    v6.out({ flags: "S." });
    v6.in({ flags: ".", seq: 1, ack: 1 });
    v6.app.send(2000);
    v6.out({ len: 1220 });
    v6.out({ len: 780 });
  });

  it("PSH marks the segment that empties the send queue", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, ack: 1, len: 100 });
  });
});

describe("the congestion window (RFC 6928 IW10, RFC 5681 §3.1)", () => {
  it("sends at most 10 segments before the first ACK, then grows in slow start", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h);
    h.app.send(100_000);
    for (let i = 0; i < 10; i++) h.out({ flags: ".", seq: 1 + i * SMSS, len: SMSS });
    h.outNothing();
    // ACK of two segments: cwnd grows by 2 SMSS (RFC 3465 L = 2), so 4 more go out (8 in flight + 4 = 12).
    h.at(50).in({ flags: ".", ack: 1 + 2 * SMSS });
    const more = h.drain();
    expect(more.map((p) => p.seq)).toEqual([10, 11, 12, 13].map((i) => 1 + i * SMSS));
    // A full ACK of everything: cwnd 12 + 2... slow start continues, more than twice what was acked goes out.
    h.at(100).in({ flags: ".", ack: 1 + 14 * SMSS });
    const burst = h.drain();
    expect(burst.length).toBeGreaterThanOrEqual(12);
    expect(bytesIn(burst)).toBeLessThanOrEqual(16 * SMSS);
  });

  it("applies to IPv6 the same way", () => {
    const h = new TcpHarness({ family: 6 });
    establish(h, { mss: 1440 });
    h.app.send(100_000);
    const first = h.drain();
    expect(first).toHaveLength(10);
    expect(first.every((p) => p.len === 1428)).toBe(true);
  });
});

describe("the peer's window (RFC 9293 §3.8.6, RFC 7323 §2.3)", () => {
  it("never sends beyond SND.UNA + SND.WND, the window scaled by the peer's shift", () => {
    const h = new TcpHarness();
    establish(h, { wscale: 2, ackWin: 1250 }); // 5000 bytes
    h.app.send(20_000);
    // 3 full segments (4344); the 656 left would be a small segment while data is outstanding (SWS).
    const sent = h.drain();
    expect(sent.map((p) => p.len)).toEqual([SMSS, SMSS, SMSS]);
    h.at(10).in({ flags: ".", ack: 1 + 3 * SMSS, win: 1250 });
    const next = h.drain();
    expect(next.map((p) => p.len)).toEqual([SMSS, SMSS, SMSS]);
    expect(next[0]!.seq).toBe(1 + 3 * SMSS);
    // A window update alone (no new ACK) opens room: RFC 9293 §3.10.7.4 SND.WL1/SND.WL2 rules.
    h.at(20).in({ flags: ".", ack: 1 + 3 * SMSS, win: 2500 });
    const opened = h.drain();
    expect(bytesIn(opened)).toBeGreaterThan(0);
    expect(3 * SMSS + bytesIn(opened)).toBeLessThanOrEqual(10_000);
  });

  it("sender SWS avoidance (RFC 9293 §3.8.6.2.1): a partial segment goes only at half the largest window or more", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null, win: 2000, ackWin: 2000 }); // the largest window so far: 2000
    h.app.send(1000);
    h.out({ flags: "P.", seq: 1, len: 1000 });
    // 1000 more fit the window: exactly half the largest window offered (2000), so they go.
    h.app.send(5000);
    h.out({ flags: ".", seq: 1001, len: 1000 });
    h.outNothing();
    // Window 3000 from here; the ACK of the first 1000 leaves 2000 of room: one full segment, then a
    // 552-byte runt would be less than half of 3000 with data outstanding: it waits.
    h.at(10).in({ flags: ".", ack: 1001, win: 3000 });
    h.out({ flags: ".", seq: 2001, len: SMSS });
    h.outNothing();
    // With nothing outstanding a partial segment always goes (no ACK would come to release it).
    h.at(20).in({ flags: ".", ack: 2001 + SMSS, win: 500 });
    h.out({ seq: 2001 + SMSS, len: 500 });
    h.outNothing();
  });

  it("an older segment's window does not override a newer one (RFC 9293 §3.10.7.4 SND.WL1, SND.WL2)", () => {
    const h = new TcpHarness();
    establish(h, { wscale: 0, ackWin: 65535 });
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.in({ flags: "P.", seq: 11, data: 10 });
    h.delayedAck({ flags: ".", ack: 21 });
    // A retransmission starting at seq 1 (older than SND.WL1 = 11) with new data and window 0.
    h.in({ flags: "P.", seq: 1, data: 30, win: 0 });
    h.delayedAck({ flags: ".", ack: 31 });
    h.app.send(1000);
    h.out({ flags: "P.", len: 1000 });
  });

  it("a newer segment's window does: a window of 0 stops sending", () => {
    const h = new TcpHarness();
    establish(h, { wscale: 0, ackWin: 65535 });
    h.in({ flags: "P.", seq: 1, data: 10, win: 0 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.app.send(1000);
    h.outNothing();
  });
});

describe("zero window: persist timer (RFC 9293 §3.8.6.1)", () => {
  it("probes a zero window with backoff, keeps the connection while probes are answered, and resumes when it opens", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(1000);
    h.out({ flags: "P.", seq: 1, len: 1000 });
    h.at(10).in({ flags: ".", ack: 1001, win: 0 });
    h.outNothing();
    expect(h.app.send(500)).toBe(500);
    h.outNothing();
    // RTO is 200 ms (RFC 6298 §2.4 as Linux): first probe at +200, then doubling.
    const probes: number[] = [];
    for (let i = 0; i < 5; i++) {
      h.at(h.deadline!);
      const p = h.out({ flags: ".", seq: 1000, len: 0, ack: 1 }); // SEQ = SND.UNA - 1, as Linux
      probes.push(p.time);
      h.in({ flags: ".", ack: 1001, win: 0 });
      h.outNothing();
    }
    expect(probes[0]).toBe(210);
    for (let i = 1; i < probes.length; i++) expect(probes[i]! - probes[i - 1]!).toBe(200 * 2 ** i);
    expect(h.state()).toBe("ESTABLISHED");
    expect(h.engine.stats().tcpZeroWindowProbes).toBe(5);
    h.in({ flags: ".", ack: 1001, win: 512 });
    h.out({ flags: "P.", seq: 1001, len: 500 });
  });

  it("answered probes never end the connection, however many (RFC 1122 §4.2.2.17): 20 probes, more than tcpMaxRetries", () => {
    const h = zeroWindowWithDataWaiting();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      h.at(h.deadline!);
      times.push(h.out({ flags: ".", seq: 100, len: 0 }).time);
      h.in({ flags: ".", ack: 101, win: 0 });
    }
    expect(h.state()).toBe("ESTABLISHED");
    expect(h.engine.stats().tcpZeroWindowProbes).toBe(20);
    // The interval doubles from the RTO (200 ms) up to 120 s (Linux TCP_RTO_MAX), then stays there.
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps).toEqual([400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 102_400, ...new Array(10).fill(120_000)]);
    h.in({ flags: ".", ack: 101, win: 512 });
    h.out({ flags: "P.", seq: 101, len: 100 });
  });

  it("the probe interval starts again from the RTO when the window has opened and closes again (the backoff is reset)", () => {
    const h = zeroWindowWithDataWaiting();
    // Three probes: 200, 400, 800 ms apart.
    for (let i = 0; i < 3; i++) {
      h.at(h.deadline!);
      h.out({ flags: ".", seq: 100, len: 0 });
      h.in({ flags: ".", ack: 101, win: 0 });
    }
    expect(h.deadline! - h.now).toBe(1600);
    // The window opens: the data goes; the peer takes it and closes the window again.
    h.in({ flags: ".", ack: 101, win: 512 });
    h.out({ flags: "P.", seq: 101, len: 100 });
    h.in({ flags: ".", ack: 201, win: 0 });
    h.app.send(100);
    const closedAt = h.now;
    h.at(h.deadline!);
    const probe = h.out({ flags: ".", seq: 200, len: 0 });
    expect(probe.time - closedAt).toBe(200);
  });

  it("a window update alone restarts sending before any probe", () => {
    const h = zeroWindowWithDataWaiting();
    h.outNothing();
    h.at(50).in({ flags: ".", ack: 101, win: 100 });
    h.out({ flags: "P.", seq: 101, len: 100 });
  });

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
    const h = zeroWindowWithDataWaiting(); // the persist timer is armed for 200 ms
    h.at(50).in({ flags: "P.", seq: 1, ack: 101, data: 10, win: 0 });
    h.at(90).out({ flags: ".", seq: 101, ack: 11, len: 0, time: 90 }); // the delayed ACK only
    h.at(199).outNothing();
    h.at(200).out({ flags: ".", seq: 100, len: 0, time: 200 });
    expect(h.engine.stats().tcpZeroWindowProbes).toBe(1);
  });

  it("no probe once the window has opened and everything is acknowledged", () => {
    const h = zeroWindowWithDataWaiting();
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

describe("send buffer and l4TxReady", () => {
  it("l4Tx takes what fits; l4TxReady comes when ACKs free space", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(8192) });
    establish(h);
    expect(h.app.send(20_000)).toBe(8192);
    expect(h.app.send(100)).toBe(0);
    h.drain();
    expect(h.app.txReadyCount).toBe(0);
    h.at(10).in({ flags: ".", ack: 1 + 2 * SMSS });
    expect(h.app.txReadyCount).toBe(1);
    expect(h.app.send(20_000)).toBe(2 * SMSS);
    h.drain();
  });

  it("with no transmit buffer (l3TxBuffer undefined) data stays queued and goes out later", () => {
    const h = new TcpHarness();
    establish(h);
    h.txBlocked = true;
    expect(h.app.send(300)).toBe(300);
    h.outNothing();
    h.txBlocked = false;
    h.at(5);
    h.out({ flags: "P.", seq: 1, len: 300 });
  });

  it("no Nagle by default: small writes go out at once even with data outstanding (RFC 9293 §3.7.4 allows turning it off)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(10);
    h.out({ flags: "P.", seq: 1, len: 10 });
    h.app.send(10);
    h.out({ flags: "P.", seq: 11, len: 10 });
  });

  it("Nagle when asked: a small segment waits while data is unacknowledged (RFC 9293 §3.7.4)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpNoDelay(false) });
    establish(h);
    h.app.send(10);
    h.out({ flags: "P.", seq: 1, len: 10 });
    h.app.send(10);
    h.outNothing();
    h.at(20).in({ flags: ".", ack: 11 });
    h.out({ flags: "P.", seq: 11, len: 10 });
  });
});

describe("path MTU (RFC 1191 / RFC 8201: ICMP fragmentation needed / packet too big)", () => {
  it("IPv4 'fragmentation needed' with MTU 1280 shrinks the segments and resends what no longer fits", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(3000);
    const first = h.out({ seq: 1, len: SMSS });
    h.out({ seq: 1 + SMSS, len: SMSS });
    h.out({ flags: "P.", len: 3000 - 2 * SMSS });
    h.inRaw(
      icmp({ src: "203.0.113.1", dst: h.localIp, type: 3, code: 4, rest: 1280, data: first.bytes.subarray(0, 28 + 40) }),
    );
    // MSS = 1280 - 40 = 1240, less 12 bytes of timestamps.
    h.out({ seq: 1, len: 1228 });
    h.out({ seq: 1229, len: 1228 });
    h.out({ seq: 2457, len: 544 });
    h.outNothing();
  });

  it("IPv6 'packet too big' with MTU 1280: 1280 - 60 = 1220 less timestamps", () => {
    const h = new TcpHarness({ family: 6 });
    establish(h, { mss: 1440 });
    h.app.send(2000);
    const first = h.out({ seq: 1, len: 1428 });
    h.out({ flags: "P.", len: 572 });
    h.inRaw(icmp({ src: "2001:db8::ffff", dst: h.localIp, type: 2, code: 0, rest: 1280, data: first.bytes.subarray(0, 200) }));
    h.out({ seq: 1, len: 1208 });
    h.out({ seq: 1209, len: 792 });
  });

  /** An ICMPv4 fragmentation-needed quoting the first 28 + 40 bytes of `p`, its TCP sequence number set to `seqAbs`. */
  function fragNeeded(h: TcpHarness, p: { bytes: Uint8Array }, mtu: number, seqAbs?: number): Uint8Array {
    const quoted = p.bytes.slice(0, 28 + 40);
    if (seqAbs !== undefined) new DataView(quoted.buffer).setUint32(20 + 4, seqAbs >>> 0);
    return icmp({ src: "203.0.113.1", dst: h.localIp, type: 3, code: 4, rest: mtu, data: quoted });
  }

  it("an MTU below 576 is taken as 576 (IPv4's minimum): MSS 536, less timestamps", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(1000);
    const first = h.out({ flags: "P.", seq: 1, len: 1000 });
    h.inRaw(fragNeeded(h, first, 300));
    h.out({ seq: 1, len: 524 });
    h.out({ flags: "P.", seq: 525, len: 476 });
    h.outNothing();
  });

  it("a later error with a larger MTU (about an older, larger packet) does not grow the segments back", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(3000);
    const p1 = h.out({ seq: 1, len: SMSS });
    const p2 = h.out({ seq: 1 + SMSS, len: SMSS });
    h.out({ flags: "P.", len: 3000 - 2 * SMSS });
    h.inRaw(fragNeeded(h, p1, 1000)); // MSS 960, 948 with timestamps
    h.out({ seq: 1, len: 948 });
    h.out({ seq: 949, len: 948 });
    h.out({ seq: 1897, len: 948 });
    h.out({ flags: "P.", seq: 2845, len: 156 });
    h.inRaw(fragNeeded(h, p2, 1200));
    h.outNothing();
    h.in({ flags: ".", ack: 3001 });
    h.app.send(2000);
    h.out({ seq: 3001, len: 948 });
  });

  it("acts only on an error quoting a sequence number in flight, SND.UNA =< SEG.SEQ < SND.MAX (RFC 5927 §4.1)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(1000);
    const first = h.out({ flags: "P.", seq: 1, len: 1000 });
    const sndMax = (first.seqAbs + 1000) >>> 0;
    // (An MTU below the quoted packet's 1052 bytes: one at or above it could not have been needed.)
    h.inRaw(fragNeeded(h, first, 800, sndMax)); // SND.MAX itself: not in flight
    h.inRaw(fragNeeded(h, first, 800, first.seqAbs - 1)); // below SND.UNA
    h.outNothing();
    expect(h.engine.stats().drops).toMatchObject({ icmp_ignored: 2 });
    h.inRaw(fragNeeded(h, first, 800, sndMax - 1)); // the last octet in flight: acted on (MSS 760 - 12)
    h.out({ seq: 1, len: 748 });
    h.out({ flags: "P.", seq: 749, len: 252 });
  });
});

describe("zero window: unanswered probes", () => {
  it("give up after tcpMaxRetries (15) probes with no ACK: RST, l4Rx(null) once (RFC 1122 §4.2.2.17; Linux tcp_probe_timer)", () => {
    const h = zeroWindowWithDataWaiting();
    for (let i = 0; i < 15; i++) {
      h.at(h.deadline!);
      h.out({ flags: ".", seq: 100, len: 0 });
    }
    expect(h.flowCount).toBe(1);
    h.at(h.deadline!);
    h.out({ flags: "R", seq: 101 });
    h.expectClosed();
    expect(h.flowCount).toBe(0);
  });
});

describe("ACKs when the peer's window has closed on data in flight", () => {
  it.each([
    [127, 128],
    [128, 1],
  ])("with window scale 7, %i bytes in flight past the closed window: the ACK carries SEQ %i (SND.NXT within one scale unit, as Linux)", (inFlight, seqRel) => {
    const h = new TcpHarness();
    establish(h, { wscale: 7, ackWin: 512 });
    h.app.send(inFlight);
    h.out({ flags: "P.", seq: 1, len: inFlight });
    h.in({ flags: ".", ack: 1, win: 0 });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10, win: 0 });
    h.delayedAck({ flags: ".", seq: seqRel, ack: 11 });
  });

  it("carry SEQ = SND.UNA + SND.WND, not SND.NXT, so the zero-window peer still takes them (Linux tcp_acceptable_seq)", () => {
    const h = new TcpHarness();
    establish(h, { wscale: 0, ackWin: 65535 });
    h.app.send(1000);
    h.out({ flags: "P.", seq: 1, len: 1000 });
    // The peer's buffer filled: it acknowledges nothing new and closes its window.
    h.in({ flags: ".", ack: 1, win: 0 });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10, win: 0 });
    h.delayedAck({ flags: ".", seq: 1, ack: 11 });
    // With the window open again, ACKs carry SND.NXT.
    h.in({ flags: ".", seq: 11, ack: 1001, win: 65535 });
    h.in({ flags: "P.", seq: 11, ack: 1001, data: 10 });
    h.delayedAck({ flags: ".", seq: 1001, ack: 21 });
  });
});
