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
