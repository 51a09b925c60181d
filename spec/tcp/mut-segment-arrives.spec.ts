/**
 * SEGMENT ARRIVES (lib/tcp/segment-arrives.ts) at the boundaries of each check: SYN-SENT's ACK test
 * (RFC 9293 §3.10.7.3), PAWS (RFC 7323 §5.3), the sequence check (§3.10.7.4 first), RST and SYN
 * (RFC 5961 §3.2, §4.2), the ACK check (§3.10.7.4 fifth, RFC 5961 §5.2) and duplicate ACKs
 * (RFC 5681 §2, RFC 6675 §2), then the cases mutation testing found untested (the survivors worked
 * out in the issue 10 note). Each case checks what is sent back, the state, and the drop reason
 * counted (stats().drops): a segment the RFC says to drop is counted once, under its reason.
 */
import { describe, expect, it } from "vitest";
import { establish, info, TcpHarness } from "../support/tcp-harness.js";

function drops(h: TcpHarness): Record<string, number> {
  return h.engine.stats().drops;
}

describe("SYN-SENT (RFC 9293 §3.10.7.3)", () => {
  it.each([
    ["SEG.ACK = ISS", 0],
    ["SEG.ACK > SND.NXT", 2],
  ])("a SYN-ACK with %s: <SEQ=SEG.ACK><CTL=RST>, counted bad_ack, still SYN-SENT", (_name, ack) => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "S.", seq: 0, ack, mss: 1460 });
    h.out({ flags: "R", seq: ack });
    expect(h.state()).toBe("SYN-SENT");
    expect(drops(h)).toMatchObject({ bad_ack: 1 });
  });

  it("SEG.ACK = SND.NXT (ISS + 1) is acceptable: ESTABLISHED", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    h.out({ flags: ".", ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    expect(drops(h)["bad_ack"] ?? 0).toBe(0);
  });

  it("a RST with an unacceptable ACK is dropped without an answer (\"unless the RST bit is set\")", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "R.", seq: 0, ack: 5 });
    h.outNothing();
    expect(h.state()).toBe("SYN-SENT");
    expect(drops(h)).toMatchObject({ bad_ack: 1 });
  });

  it("a RST without ACK is dropped (RFC 9293 §3.10.7.3 second: acceptable only with an acceptable ACK)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "R", seq: 0, ack: 0 });
    h.outNothing();
    expect(h.state()).toBe("SYN-SENT");
    expect(drops(h)).toMatchObject({ rst_invalid: 1 });
    expect(h.app.closedCount).toBe(0);
  });

  it("an acceptable ACK without SYN (or RST) is ignored: still SYN-SENT, nothing sent (\"fourth ... drop the segment\")", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S", time: 0 });
    h.in({ flags: ".", seq: 0, ack: 1 });
    h.outNothing();
    expect(h.state()).toBe("SYN-SENT");
    // The SYN's timer still runs.
    h.at(1000).out({ flags: "S", seq: 0, time: 1000 });
  });

  it("a SYN-ACK with data and FIN: the data is delivered and the FIN taken (CLOSE-WAIT)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "FS.", seq: 0, ack: 1, mss: 1460, data: 50 });
    // (SYN+FIN is dropped before TCP; the same with the FIN after the SYN-ACK:)
    h.drain();
    const p = h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460, data: 50 });
    expect(p).toBeDefined();
    h.out({ flags: ".", ack: 51 });
    h.in({ flags: "F.", seq: 51, ack: 1 });
    h.out({ flags: ".", ack: 52 });
    expect(h.state()).toBe("CLOSE-WAIT");
    h.expectRx(50);
  });
});

describe("PAWS (RFC 7323 §5.3 R1)", () => {
  it("an old TSval: an ACK answers, the data is dropped, counted paws", () => {
    const h = new TcpHarness();
    establish(h); // TS.Recent 100
    h.in({ flags: "P.", seq: 1, data: 10, ts: [200, undefined] });
    h.delayedAck({ flags: ".", ack: 11 });
    h.in({ flags: "P.", seq: 11, data: 10, ts: [150, undefined] });
    h.out({ flags: ".", ack: 11 });
    expect(drops(h)).toMatchObject({ paws: 1 });
    expect(h.app.received).toBe(10);
  });

  it("a TSval equal to TS.Recent passes (§5.3 R1: 'less than')", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10, ts: [100, undefined] });
    h.delayedAck({ flags: ".", ack: 11 });
    expect(h.app.received).toBe(10);
    expect(drops(h)["paws"] ?? 0).toBe(0);
  });

  it("a segment without the option is not subject to PAWS (as Linux: it checks only segments that carry one)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10, ts: [200, undefined] });
    h.delayedAck({ flags: ".", ack: 11 });
    h.in({ flags: "P.", seq: 11, data: 10, ts: null });
    h.delayedAck({ flags: ".", ack: 21 });
    expect(h.app.received).toBe(20);
    expect(drops(h)["paws"] ?? 0).toBe(0);
  });

  it("an old bare ACK is answered once per 500 ms (an unacceptable segment, RFC 9293 §3.10.7.4, rate-limited as Linux)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10, ts: [200, undefined] });
    h.delayedAck({ flags: ".", ack: 11 });
    h.in({ flags: ".", seq: 11, ts: [150, undefined] });
    h.out({ flags: ".", ack: 11 });
    h.in({ flags: ".", seq: 11, ts: [150, undefined] });
    h.outNothing();
    expect(drops(h)).toMatchObject({ paws: 2 });
  });

  it("TS.Recent follows a segment that covers Last.ACK.sent (RFC 7323 §4.3): a newer TSval then makes the old one fail", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10, ts: [300, undefined] });
    h.delayedAck({ flags: ".", ack: 11 });
    // TSval 250 is older than TS.Recent 300 now.
    h.in({ flags: "P.", seq: 11, data: 10, ts: [250, undefined] });
    h.out({ flags: ".", ack: 11 });
    expect(drops(h)).toMatchObject({ paws: 1 });
  });

  it("an out-of-order segment (beyond Last.ACK.sent) does not move TS.Recent (RFC 7323 §4.3)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 101, data: 10, ts: [500, undefined] }); // held, its TSval not recorded
    h.out({ flags: ".", ack: 1 });
    h.in({ flags: "P.", seq: 1, data: 100, ts: [200, undefined] }); // fills the hole: accepted
    h.out({ flags: ".", ack: 111 });
    expect(h.app.received).toBe(110);
    expect(drops(h)["paws"] ?? 0).toBe(0);
  });
});

describe("the sequence check (RFC 9293 §3.10.7.4 first)", () => {
  it("an old duplicate (text wholly below RCV.NXT) gets an ACK and is counted as a duplicate ACK sent and out_of_window", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101 });
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: ".", ack: 101 });
    expect(h.engine.stats().tcpDupAcksSent).toBe(1);
    expect(drops(h)).toMatchObject({ out_of_window: 1 });
    expect(h.app.received).toBe(100);
  });

  it("text beyond the window: an ACK, out_of_window, but no duplicate ACK counted", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(10_000) });
    establish(h, { wscale: null });
    const wnd = info(h).rcvWnd;
    h.in({ flags: "P.", seq: 1 + wnd + 100, data: 100 });
    h.out({ flags: ".", ack: 1 });
    expect(drops(h)).toMatchObject({ out_of_window: 1 });
    expect(h.engine.stats().tcpDupAcksSent).toBe(0);
  });

  it("text ending just past RCV.NXT overlaps the window: acceptable, the new byte delivered", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101 });
    h.in({ flags: "P.", seq: 2, data: 100 }); // 2..101: one byte new
    h.drain();
    expect(h.app.received).toBe(101);
    expect(drops(h)["out_of_window"] ?? 0).toBe(0);
  });

  it("a RST outside the window: no answer, counted out_of_window", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "R", seq: 1_000_000 });
    h.outNothing();
    expect(h.state()).toBe("ESTABLISHED");
    expect(drops(h)).toMatchObject({ out_of_window: 1 });
  });

  it("a bare ACK at RCV.NXT is acceptable however small the window; one just below it is not", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1, ack: 1 });
    h.outNothing();
    h.in({ flags: ".", seq: 0, ack: 1 });
    h.out({ flags: ".", ack: 1 });
    expect(drops(h)).toMatchObject({ out_of_window: 1 });
  });
});

describe("RST and SYN in a synchronized state (RFC 5961 §3.2, §4.2)", () => {
  it("a RST in the window but not at RCV.NXT: a challenge ACK, counted rst_invalid", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "R", seq: 2 });
    h.out({ flags: ".", ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    expect(drops(h)).toMatchObject({ rst_invalid: 1 });
    expect(h.engine.stats().tcpChallengeAcks).toBe(1);
  });

  it("a SYN in the window: a challenge ACK, counted syn_in_window, the connection stays", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "S", seq: 5 });
    h.out({ flags: ".", ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    expect(drops(h)).toMatchObject({ syn_in_window: 1 });
  });

  it("in SYN-RECEIVED, a SYN with another sequence number is no retransmission: a challenge ACK, not a SYN-ACK", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: "S", seq: 5, mss: 1460 });
    const p = h.out({ flags: "." });
    expect(p.flags & 2).toBe(0);
    expect(drops(h)).toMatchObject({ syn_in_window: 1 });
  });

  it("in SYN-RECEIVED, a SYN-ACK (SYN with ACK) is not the peer's SYN again: no SYN-ACK answers it", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: "S.", seq: 0, ack: 1 });
    for (const p of h.drain()) expect(p.flags & 2, h.line(p)).toBe(0);
  });
});

describe("the ACK check (RFC 9293 §3.10.7.4 fifth, RFC 5961 §5.2)", () => {
  it("SYN-RECEIVED: SEG.ACK = SND.UNA (the ISS) is unacceptable: <SEQ=SEG.ACK><CTL=RST>, counted bad_ack", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: ".", seq: 1, ack: 0 });
    h.out({ flags: "R", seq: 0 });
    expect(h.state()).toBe("SYN-RECEIVED");
    expect(drops(h)).toMatchObject({ bad_ack: 1 });
  });

  it("an ACK of data not sent yet: an ACK answers, counted bad_ack; with no data, rate-limited", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1, ack: 2 });
    h.out({ flags: ".", seq: 1, ack: 1 });
    h.in({ flags: ".", seq: 1, ack: 2 });
    h.outNothing();
    expect(drops(h)).toMatchObject({ bad_ack: 2 });
  });

  it("a FIN with an ACK of data not sent: answered even inside the rate limit (it carries something)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: ".", seq: 1, ack: 2 });
    h.out({ flags: ".", ack: 1 });
    h.in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: ".", ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("SEG.ACK = SND.UNA - MAX.SND.WND is acceptable; one below it gets a challenge ACK (RFC 5961 §5.2)", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null, win: 1000, ackWin: 1000 });
    h.app.send(1000);
    h.out({ seq: 1, len: 1000 });
    h.in({ flags: ".", ack: 1001, win: 1000 });
    h.app.send(1000);
    h.out({ seq: 1001, len: 1000 });
    h.in({ flags: ".", ack: 2001, win: 1000 });
    // SND.UNA 2001, MAX.SND.WND 1000: 1001 is the lowest acceptable ACK.
    h.in({ flags: "P.", seq: 1, ack: 1001, data: 10 });
    h.delayedAck({ flags: ".", ack: 11 });
    expect(h.app.received).toBe(10);
    h.in({ flags: "P.", seq: 11, ack: 1000, data: 10 });
    h.out({ flags: ".", ack: 11 });
    expect(h.app.received).toBe(10);
    expect(drops(h)).toMatchObject({ bad_ack: 1 });
    expect(h.engine.stats().tcpChallengeAcks).toBe(1);
  });

  it("a peer that never offered a window: MAX.SND.WND counts as 1, so SND.UNA - 1 is acceptable and SND.UNA - 2 is not", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null, win: 0, ackWin: 0 });
    h.in({ flags: ".", seq: 1, ack: 0 });
    h.outNothing();
    h.in({ flags: ".", seq: 1, ack: -1 });
    h.out({ flags: ".", ack: 1 });
    expect(h.engine.stats().tcpChallengeAcks).toBe(1);
  });
});

/** Reno without SACK, five segments out, and two duplicate ACKs of SND.UNA (RFC 5681 §2). */
function twoDuplicateAcks(): TcpHarness {
  const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
  establish(h, { sackOK: false });
  h.app.send(5 * 1448);
  h.drain();
  h.in({ flags: ".", ack: 1 });
  h.in({ flags: ".", ack: 1 });
  return h;
}

describe("duplicate ACKs (RFC 5681 §2)", () => {
  it("identical ACKs with nothing outstanding are no duplicate ACKs: no fast retransmit", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.in({ flags: ".", ack: 101 });
    for (let i = 0; i < 5; i++) h.in({ flags: ".", ack: 101 });
    h.outNothing();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
  });

  it("a FIN that acknowledges nothing new is no duplicate ACK", () => {
    const h = twoDuplicateAcks();
    h.in({ flags: "F.", ack: 1 });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
  });

  it("the third identical ACK with data outstanding is the third duplicate: fast retransmit", () => {
    const h = twoDuplicateAcks();
    h.outNothing();
    h.in({ flags: ".", ack: 1 });
    h.out({ seq: 1, len: 1448 });
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
  });
});

describe("the send window (RFC 9293 §3.10.7.4 fifth: SND.WL1, SND.WL2)", () => {
  it("a window update with the same SEQ and ACK is taken (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null });
    h.in({ flags: ".", seq: 1, ack: 1, win: 1000 });
    expect(info(h).sndWnd).toBe(1000);
    h.in({ flags: ".", seq: 1, ack: 1, win: 2000 });
    expect(info(h).sndWnd).toBe(2000);
  });

  it("an older segment (SEG.SEQ < SND.WL1) acknowledging nothing new does not change the window", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10, win: 3000 });
    h.delayedAck({ flags: "." });
    expect(info(h).sndWnd).toBe(3000);
    h.in({ flags: ".", seq: 1, ack: 1, win: 500 });
    h.drain();
    expect(info(h).sndWnd).toBe(3000);
  });
});

describe("header prediction takes only the segments the eight steps would take the common way (Linux tcp_rcv_established)", () => {
  it("a pure ACK of new data with a TSval older than TS.Recent: PAWS drops it (RFC 7323 §5.3), the data stays unacknowledged", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100, time: 0 });
    h.in({ flags: ".", seq: 1, ack: 101, ts: [90, undefined] });
    h.out({ flags: ".", seq: 101, ack: 1 });
    expect(drops(h)).toEqual({ paws: 1 });
    h.at(200).out({ seq: 1, len: 100, time: 200 }); // the RTO: nothing was acknowledged
  });

  it("a pure ACK of new data below RCV.NXT is unacceptable (RFC 9293 §3.10.7.4 first): answered, dropped, its ACK not taken", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.app.send(100);
    h.out({ seq: 1, len: 100, time: 40 });
    h.at(150).in({ flags: ".", seq: 1, ack: 101 });
    h.out({ flags: ".", seq: 101, ack: 11 });
    expect(drops(h)).toEqual({ out_of_window: 1 });
    h.at(240).out({ seq: 1, len: 100, time: 240 });
  });

  it("a FIN that acknowledges new data goes through the FIN step: CLOSE-WAIT, the FIN acknowledged", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.in({ flags: "F.", seq: 1, ack: 101 });
    h.out({ flags: ".", seq: 101, ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
  });

  it("text at RCV.NXT longer than the window is trimmed to it (RFC 9293 §3.10.7.4 seventh): 1000 of 1448 bytes", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(1000) });
    establish(h, { wscale: null });
    h.in({ flags: "P.", seq: 1, data: 1448 });
    h.out({ flags: ".", ack: 1001, win: 1000 });
    expect(h.app.received).toBe(1000);
  });
});

describe("SYN-RECEIVED's ACK test (RFC 9293 §3.10.7.4 fifth)", () => {
  it("SEG.ACK > SND.NXT is unacceptable: <SEQ=SEG.ACK><CTL=RST>, counted bad_ack, still SYN-RECEIVED", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: ".", seq: 1, ack: 2 });
    h.out({ flags: "R", seq: 2 });
    expect(h.state()).toBe("SYN-RECEIVED");
    expect(drops(h)).toMatchObject({ bad_ack: 1 });
    // SEG.ACK = SND.NXT then completes the handshake.
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });
});

describe("the ACK bit off (RFC 9293 §3.10.7.4 fifth: \"drop the segment and return\")", () => {
  it("text without ACK is counted no_ack, not delivered nor acknowledged, and RCV.NXT stays: the same text with ACK is then taken", () => {
    const h = new TcpHarness();
    establish(h);
    // The ACK field holds SND.NXT, as a valid ACK would: only the missing bit makes it unacceptable.
    h.in({ flags: "P", seq: 1, ack: 1, data: 10 });
    h.outNothing();
    expect(h.app.received).toBe(0);
    expect(drops(h)).toEqual({ no_ack: 1 });
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.delayedAck({ flags: ".", ack: 11 });
    h.expectRx(10);
  });
});

describe("a zero receive window (RFC 9293 §3.10.7.4 first, the zero-window rows)", () => {
  /** 1000 bytes of buffer, all of it filled by the peer while the application does not read. */
  function zeroWindow(): TcpHarness {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(1000) });
    establish(h, { wscale: null });
    h.app.pause();
    h.in({ flags: "P.", seq: 1, data: 1000 });
    h.out({ flags: ".", ack: 1001, win: 0 });
    return h;
  }

  it("an old duplicate with text is unacceptable: an ACK answers it, counted out_of_window and as a duplicate ACK sent", () => {
    const h = zeroWindow();
    const dupAcks = h.engine.stats().tcpDupAcksSent;
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.out({ flags: ".", ack: 1001, win: 0 });
    expect(drops(h)).toMatchObject({ out_of_window: 1 });
    expect(h.engine.stats().tcpDupAcksSent).toBe(dupAcks + 1);
  });

  it("text at RCV.NXT is dropped but its ACK is taken (\"valid ACKs ... must be processed\")", () => {
    const h = zeroWindow();
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.in({ flags: "P.", seq: 1001, ack: 101, data: 10 });
    h.out({ flags: ".", ack: 1001, win: 0 });
    expect(info(h).unacked).toBe(0); // the 100 bytes are acknowledged
    expect(info(h).bytesAcked).toBe(100);
    h.app.resume();
    h.expectRx(1000);
  });
});

/** Five segments out, SACK on, cubic: the peer's ACKs of SND.UNA carry one more SACK block each. */
function fiveOutWithSack(): TcpHarness {
  const h = new TcpHarness();
  establish(h);
  h.app.send(5 * 1448);
  h.drain();
  return h;
}

describe("duplicate ACKs: what is one and what is not (RFC 5681 §2 (b), (e); RFC 6675 §2)", () => {
  it("with SACK, an ACK that carries text and new SACK data is a duplicate: the third one retransmits SND.UNA", () => {
    const h = fiveOutWithSack();
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10, sack: [[1 + 1448, 1 + 2 * 1448]] });
    h.in({ flags: "P.", seq: 11, ack: 1, data: 10, sack: [[1 + 1448, 1 + 3 * 1448]] });
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    h.in({ flags: "P.", seq: 21, ack: 1, data: 10, sack: [[1 + 1448, 1 + 4 * 1448]] });
    const sent = h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
    expect(sent.some((p) => p.seq === 1 && p.len === 1448)).toBe(true);
  });

  it("without SACK, an ACK of SND.UNA that carries text is no duplicate (§2 (b)): no fast retransmit", () => {
    const h = twoDuplicateAcks();
    // Out of order (RCV.NXT is 1), so header prediction does not take it: the ACK step sees it.
    h.in({ flags: "P.", seq: 11, ack: 1, data: 10 });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10 });
    h.drain();
    expect(h.app.received).toBe(20);
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
  });

  it("an ACK of SND.UNA that changes the advertised window is no duplicate (§2 (e)): no fast retransmit", () => {
    const h = twoDuplicateAcks();
    h.in({ flags: ".", ack: 1, win: 400 });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    expect(info(h).sndWnd).toBe(400 << 7);
  });
});

describe("the send window and an old ACK (RFC 9293 §3.10.7.4 fifth: \"If SND.UNA =< SEG.ACK\")", () => {
  it("an acceptable ACK below SND.UNA, on a segment with a newer SEQ, leaves SND.WND as it was", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null });
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.in({ flags: "P.", seq: 1, ack: 101, data: 10, win: 3000 });
    h.delayedAck({ flags: ".", ack: 11 });
    expect(info(h).sndWnd).toBe(3000);
    // SEG.SEQ 11 > SND.WL1, SEG.ACK 1 < SND.UNA 101 but within MAX.SND.WND (RFC 5961 §5.2): its
    // text is taken, its window is not.
    h.in({ flags: "P.", seq: 11, ack: 1, data: 10, win: 500 });
    h.drain();
    expect(h.app.received).toBe(20);
    expect(info(h).sndWnd).toBe(3000);
    expect(drops(h)["bad_ack"] ?? 0).toBe(0);
  });
});

describe("a SYN-ACK with text (RFC 9293 §3.10.7.3: \"continue processing at the sixth step\")", () => {
  it("text past our SYN's window is trimmed to it: 1000 of 1448 bytes delivered and acknowledged", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(1000) });
    h.connect();
    h.out({ flags: "S", win: 1000 });
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460, data: 1448 });
    h.out({ flags: ".", ack: 1001 });
    expect(h.state()).toBe("ESTABLISHED");
    h.expectRx(1000);
  });
});
