/**
 * SEGMENT ARRIVES (lib/tcp/segment-arrives.ts), the cases mutation testing found untested (the
 * survivors worked out in the issue 10 note): SYN-RECEIVED's ACK test at its upper edge, text
 * without ACK, an old duplicate in a zero window, what is and is not a duplicate ACK (RFC 5681 §2,
 * RFC 6675 §2), the send window and an old ACK, and the text of a SYN-ACK. mut-segment-arrives.spec.ts
 * has the boundaries of each check; this file the rest.
 */
import { describe, expect, it } from "vitest";
import { establish, info, TcpHarness } from "../support/tcp-harness.js";

function drops(h: TcpHarness): Record<string, number> {
  return h.engine.stats().drops;
}

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

/** Reno without SACK, five segments out, and two duplicate ACKs of SND.UNA (RFC 5681 §2). */
function twoDuplicateAcks(): TcpHarness {
  const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
  establish(h, { sackOK: false, wscale: null, win: 65535, ackWin: 65535 });
  h.app.send(5 * 1448);
  h.drain();
  h.in({ flags: ".", ack: 1, win: 65535 });
  h.in({ flags: ".", ack: 1, win: 65535 });
  return h;
}

describe("duplicate ACKs (RFC 5681 §2, RFC 6675 §2)", () => {
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
    h.in({ flags: "P.", seq: 11, ack: 1, data: 10, win: 65535 });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10, win: 65535 });
    h.drain();
    expect(h.app.received).toBe(20);
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
  });

  it("an ACK of SND.UNA that changes the advertised window is no duplicate (§2 (e)): no fast retransmit", () => {
    const h = twoDuplicateAcks();
    h.in({ flags: ".", ack: 1, win: 60000 });
    h.drain();
    expect(h.engine.stats().tcpFastRetransmits).toBe(0);
    expect(info(h).sndWnd).toBe(60000);
  });

  it("the same third ACK with the window unchanged is the third duplicate (the control for the two above)", () => {
    const h = twoDuplicateAcks();
    h.in({ flags: ".", ack: 1, win: 65535 });
    h.out({ seq: 1, len: 1448 });
    expect(h.engine.stats().tcpFastRetransmits).toBe(1);
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
