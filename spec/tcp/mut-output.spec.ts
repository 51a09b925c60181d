/**
 * What a connection sends (lib/tcp/output.ts), at the boundaries: the data a segment can carry beside
 * its options (RFC 6691 §2), how many SACK blocks fit (RFC 2018 §3), retransmitted FINs counted as
 * retransmissions, a CLOSE in SYN-RECEIVED (RFC 9293 §3.10.4), and the SEQ of bare ACKs and probes.
 * Observed through segments, l4Info and stats only.
 */
import { describe, expect, it } from "vitest";
import { establish, info, TcpHarness } from "../support/tcp-harness.js";

/** `n` out-of-order ranges of 10 bytes from the peer, 100 bytes apart (none at RCV.NXT). */
function holdRanges(h: TcpHarness, n: number): void {
  for (let i = 0; i < n; i++) {
    h.in({ flags: ".", seq: 101 + 100 * i, data: 10 });
    h.drain(); // the immediate duplicate ACKs (RFC 5681 §4.2)
  }
}

describe("data beside the options (RFC 6691 §2: the payload shrinks by the options each segment carries)", () => {
  it.each([
    // [timestamps, out-of-order ranges held, payload of a full segment]
    [true, 2, 1460 - 12 - (4 + 2 * 8)],
    [true, 3, 1460 - 12 - (4 + 3 * 8)],
    [true, 4, 1460 - 12 - (4 + 3 * 8)], // with timestamps only 3 blocks fit (RFC 2018 §3)
    [false, 1, 1460 - (4 + 8)],
    [false, 4, 1460 - (4 + 4 * 8)],
    [false, 5, 1460 - (4 + 4 * 8)], // without, 4
    [false, 0, 1460],
  ] as const)("timestamps %s, %i ranges held out of order: a full segment carries %i bytes", (ts, ranges, payload) => {
    const h = new TcpHarness();
    establish(h, { ts });
    holdRanges(h, ranges);
    h.app.send(3000);
    const p = h.out({ seq: 1, len: payload });
    expect(p.sack.length).toBe(Math.min(ranges, ts ? 3 : 4));
    expect(p.hasTs).toBe(ts);
    h.out({ seq: 1 + payload, len: payload });
    h.drain();
  });

  it("once the holes are filled the segments grow back to the full MSS", () => {
    const h = new TcpHarness();
    establish(h);
    holdRanges(h, 2);
    h.in({ flags: ".", seq: 1, data: 300 }); // fills everything up to 311
    h.drain();
    h.app.send(3000);
    h.out({ seq: 1, len: 1448, sack: null });
    h.drain();
  });
});

describe("a FIN sent again is a retransmission (tcpi_total_retrans counts it)", () => {
  it("the first FIN is not counted; its timeout retransmission is", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1, time: 0 });
    expect(h.engine.stats().tcpRetransmits).toBe(0);
    expect(info(h).retransmits).toBe(0);
    h.at(200).out({ flags: "F.", seq: 1, time: 200 });
    expect(h.engine.stats().tcpRetransmits).toBe(1);
    expect(info(h).retransmits).toBe(1);
  });

  it("a FIN after data that was retransmitted: only the data is counted", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.at(200).out({ seq: 1, len: 100 });
    expect(info(h).retransmits).toBe(1);
    h.at(210).in({ flags: ".", ack: 101 });
    h.app.close();
    h.out({ flags: "F.", seq: 101 });
    expect(info(h).retransmits).toBe(1);
  });
});

describe("CLOSE in SYN-RECEIVED (RFC 9293 §3.10.4)", () => {
  it("the FIN waits for ESTABLISHED, then goes: FIN-WAIT-1", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    expect(h.state()).toBe("SYN-RECEIVED");
    h.app.close();
    h.outNothing();
    h.at(10).in({ flags: ".", seq: 1, ack: 1 });
    h.out({ flags: "F.", seq: 1, ack: 1 });
    expect(h.state()).toBe("FIN-WAIT-1");
  });
});

describe("the sequence number of segments without data", () => {
  it("a bare ACK carries SND.NXT while it lies in the peer's window", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10 });
    h.delayedAck({ flags: ".", seq: 101, ack: 11 });
  });

  it("without window scaling, data past a closed window: the ACK carries SND.UNA + SND.WND", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null });
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.in({ flags: ".", ack: 1, win: 0 });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10, win: 0 });
    h.delayedAck({ flags: ".", seq: 1, ack: 11 });
  });
});

describe("the window offered under memory pressure (lib/memory.ts SHRINK; Linux tcp_clamp_window)", () => {
  /** 33,000 bytes queued on the harness's flow: 64 KiB of send storage, half of a 128 KiB budget (SHRINK). */
  function underShrink(): TcpHarness {
    const h = new TcpHarness({ configure: (b) => b.maxMemory(131_072) });
    establish(h);
    h.app.send(33_000);
    h.drain();
    expect(h.engine.stats().memory.send).toBe(65_536);
    return h;
  }

  /** An active open on `port` whose application pauses before the SYN-ACK: the window of the handshake's ACK. */
  function pausedActiveOpen(h: TcpHarness, port: number): number {
    h.connect(port);
    h.out({ flags: "S", port });
    h.appFor(port).pause();
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460, wscale: 7, sackOK: true, ts: [100, undefined], port });
    return h.out({ flags: ".", ack: 1, port }).win;
  }

  it("a paused flow is offered two segments of 536 bytes (rcvMss before any data): 1072 >> 3", () => {
    const h = underShrink();
    const port = h.defaultPort + 1;
    expect(pausedActiveOpen(h, port)).toBe(134);
    // A 1000-byte segment makes rcvMss 1000: two of them, 2000 >> 3.
    h.in({ flags: "P.", seq: 1, ack: 1, data: 1000, port, ts: [101, undefined] });
    h.out({ flags: ".", ack: 1001, win: 250, port });
    expect(h.engine.l4Info(h.flow(port))!.rcvMss).toBe(1000);
  });

  it("a flow that holds nothing and delivers at once is not clamped: 256 KiB >> 3", () => {
    const h = underShrink();
    const port = h.defaultPort + 1;
    h.connect(port);
    h.out({ flags: "S", port });
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460, wscale: 7, sackOK: true, ts: [100, undefined], port });
    h.out({ flags: ".", ack: 1, win: 32_768, port });
  });

  it("without pressure a paused flow is not clamped either", () => {
    const h = new TcpHarness();
    expect(pausedActiveOpen(h, h.defaultPort)).toBe(32_768);
  });

  it("free space below the two segments: the free space (a 1000-byte buffer, SHRINK from 13 half-open connections)", () => {
    const h = new TcpHarness({ configure: (b) => b.maxMemory(65_536).tcpBufferSize(1000) });
    establish(h, { wscale: null });
    h.app.pause();
    for (let i = 1; i <= 13; i++) {
      h.in({ flags: "S", seq: 0, mss: 1460, port: 41_000 + i });
      h.drain();
    }
    expect(h.engine.stats().memory.halfOpen).toBe(13 * 2560); // past half of 64 KiB
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10 });
    h.delayedAck({ flags: ".", ack: 11, win: 990 });
  });
});

describe("the window field when the free space is what was promised (RFC 7323 §2.3: rounded down)", () => {
  it("a paused flow: 262,036 bytes free and promised gives 32,754, not 32,755 (rounding up is only for a promise beyond the free space)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.app.pause();
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460, wscale: 7, sackOK: true, ts: [100, undefined] });
    h.out({ flags: ".", ack: 1, win: 32_768 });
    // 8 bytes held: the right edge moves to RCV.NXT + 262,136, exactly the free space.
    h.in({ flags: "P.", seq: 1, ack: 1, data: 8, ts: [101, undefined] });
    h.delayedAck({ flags: ".", ack: 9, win: 32_767 });
    // 100 more held: 262,036 free, 262,036 promised.
    h.in({ flags: "P.", seq: 9, ack: 1, data: 100, ts: [102, undefined] });
    h.delayedAck({ flags: ".", ack: 109, win: 32_754 });
  });
});

describe("super-segments at the packet-size boundary (txSuperSegments counts the IP and TCP headers)", () => {
  it("one byte short of 7 MSS plus 52 bytes of headers: 6 MSS a packet", () => {
    const SMSS = 1448;
    const h = new TcpHarness({ txSuperSegments: 20 + 32 + 7 * SMSS - 1 });
    establish(h, { win: 65535, wscale: 7 });
    h.app.send(40 * SMSS);
    h.drain();
    h.in({ flags: ".", ack: 1 + 10 * SMSS });
    h.drain();
    expect(h.vnetTx.slice(1).map((b) => (b.length - 12 - 52) / SMSS)).toEqual([6, 4, 6, 6]);
  });

  it("a pure ACK after super-segments counts one segment in l4Info", () => {
    const h = new TcpHarness({ txSuperSegments: 65535 });
    establish(h);
    h.app.send(3 * 1448);
    h.drain();
    h.in({ flags: ".", ack: 1 + 3 * 1448 });
    const before = info(h).segmentsOut;
    h.in({ flags: "P.", seq: 1, ack: 1 + 3 * 1448, data: 10 });
    h.delayedAck({ flags: ".", seq: 1 + 3 * 1448, ack: 11 });
    expect(info(h).segmentsOut).toBe(before + 1);
  });
});

describe("the retransmission timer and Karn's rule on what sendData sends (RFC 6298 §3, §5.1)", () => {
  it("a fast retransmission ends the RTT measurement of the segment it resends: its ACK gives no sample", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h, { ts: false, sackOK: false });
    expect([info(h).srtt, info(h).rto]).toEqual([0, 200]);
    h.app.send(6 * 1460);
    h.drain();
    h.at(20).in({ flags: ".", ack: 1 });
    h.in({ flags: ".", ack: 1 });
    h.in({ flags: ".", ack: 1 });
    h.out({ seq: 1, len: 1460 });
    h.at(150).in({ flags: ".", ack: 1 + 6 * 1460 });
    expect([info(h).srtt, info(h).rto]).toEqual([0, 200]);
  });

  it.each([
    ["more data", (h: TcpHarness) => h.app.send(100), { seq: 101, len: 100 }],
    ["the FIN", (h: TcpHarness) => h.app.close(), { flags: "F.", seq: 101 }],
  ] as const)("%s sent while data is outstanding does not restart the timer (\"if it is not running\")", (_name, act, expected) => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ seq: 1, len: 100 });
    h.at(100);
    act(h);
    h.out(expected);
    expect(h.deadline).toBe(200);
  });
});

describe("Nagle (RFC 9293 §3.7.4, tcpNoDelay(false)) holds back only a partial segment", () => {
  it("three full segments go at once with the first outstanding; the 10-byte tail waits for the ACK", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpNoDelay(false) });
    establish(h);
    h.app.send(3 * 1448 + 10);
    for (let i = 0; i < 3; i++) h.out({ seq: 1 + i * 1448, len: 1448 });
    h.outNothing();
    h.at(10).in({ flags: ".", ack: 1 + 3 * 1448 });
    h.out({ flags: "P.", seq: 1 + 3 * 1448, len: 10 });
  });
});

describe("the FIN needs room in the window too (RFC 9293 §3.8.6)", () => {
  it("100 bytes and a CLOSE against a window of exactly 100: the data goes alone, the FIN after the ACK", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null, ackWin: 100 });
    // Both queued before anything goes (no transmit buffer until 1 ms), so one segment could carry both.
    h.txBlocked = true;
    h.app.send(100);
    h.app.close();
    h.txBlocked = false;
    h.at(1).out({ flags: "P.", seq: 1, len: 100 });
    h.outNothing();
    h.at(10).in({ flags: ".", ack: 101, win: 100 });
    h.out({ flags: "F.", seq: 101, len: 0 });
  });

  it("a FIN waiting for a zero window: segments arriving meanwhile do not push the persist probe back", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100 });
    h.in({ flags: ".", ack: 101, win: 0 });
    h.app.close();
    h.outNothing();
    expect(h.deadline).toBe(200);
    h.at(100).in({ flags: "P.", seq: 1, ack: 101, data: 10, win: 0 });
    h.delayedAck({ flags: ".", seq: 101, ack: 11 });
    h.at(199).outNothing();
    h.at(200).out({ flags: ".", seq: 100, len: 0 });
  });
});

describe("limited transmit (RFC 3042) stops at the third duplicate ACK (RFC 6582 recovery)", () => {
  it("NewReno: new segments on the first two duplicates, none until the inflated cwnd passes the 12 in flight (the 7th)", () => {
    const SMSS = 1448;
    const h = new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });
    establish(h, { sackOK: false });
    h.app.send(30 * SMSS);
    h.drain();
    h.in({ flags: ".", ack: 1 });
    h.out({ seq: 1 + 10 * SMSS, len: SMSS });
    h.in({ flags: ".", ack: 1 });
    h.out({ seq: 1 + 11 * SMSS, len: SMSS });
    h.in({ flags: ".", ack: 1 });
    h.out({ seq: 1, len: SMSS });
    h.in({ flags: ".", ack: 1 });
    h.outNothing();
    h.in({ flags: ".", ack: 1 });
    h.outNothing();
    h.in({ flags: ".", ack: 1 });
    h.outNothing();
    // cwnd = ssthresh (half of 12 in flight) + 6 duplicates = 12 SMSS after the 6th, against 12 in flight; the 7th sends.
    expect(info(h).cwnd).toBe(12 * SMSS);
    h.in({ flags: ".", ack: 1 });
    h.out({ seq: 1 + 12 * SMSS, len: SMSS });
    h.outNothing();
  });
});

describe("TS.Recent after the passive handshake (RFC 7323 §4.3: the SYN-ACK sets Last.ACK.sent)", () => {
  it("the handshake's ACK updates TS.Recent: the first data echoes its TSval, not the SYN's", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK: true, ts: [100, 0], wscale: 7 });
    h.out({ flags: "S." });
    h.at(5).in({ flags: ".", seq: 1, ack: 1, ts: [150, undefined] });
    h.app.send(10);
    h.out({ flags: "P.", seq: 1, len: 10, ts: [5, 150] });
  });
});
