/**
 * Opening a connection (lib/tcp/open.ts): the boundaries of the option negotiation, of MAX.SND.WND
 * as the handshake leaves it, and of the handshake's RTT sample, which the mutation run found
 * unpinned (issue 10). Through the engine, on the virtual clock.
 */
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { TcpHarness, establish } from "../support/tcp-harness.js";

/** l4Info of the harness's flow. */
function info(h: TcpHarness) {
  return h.engine.l4Info(h.flow())!;
}

describe("options the SYN carries (RFC 7323 §2.2-2.3, RFC 9293 §3.7.1)", () => {
  it("a window scale option with shift 0 is window scaling: the SYN-ACK offers our shift, and our window is scaled by it", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, wscale: 0 });
    h.out({ flags: "S.", wscale: 3 });
    h.in({ flags: ".", seq: 1, ack: 1, win: 65535 });
    h.in({ flags: "P.", data: 100 });
    // The whole 256 KiB buffer is free again: 262144 >> 3.
    h.delayedAck({ flags: ".", ack: 101, win: 32768 });
  });

  it("an MSS option of 0 is no MSS: the default 536 (RFC 9293 §3.7.1; Linux tcp_parse_options ignores a zero MSS)", () => {
    const h = new TcpHarness();
    establish(h, { mss: 0 });
    expect(info(h).sndMss).toBe(536);
  });

  it("an active open uses SACK when the SYN-ACK permits it: out-of-order data is SACKed (RFC 2018 §2, §4)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S", sackOK: true });
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460, sackOK: true });
    h.out({ flags: ".", ack: 1 });
    h.in({ flags: "P.", seq: 101, data: 100 });
    h.out({ flags: ".", ack: 1, sack: [[101, 201]] });
  });
});

describe("MAX.SND.WND after the handshake (RFC 5961 §5.2: an ACK below SND.UNA - MAX.SND.WND is challenged)", () => {
  it("an active open takes the SYN-ACK's window: an old ACK within it is ignored, not challenged", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.in({ flags: "S.", seq: 0, ack: 1, win: 65535, mss: 1460 });
    h.out({ flags: ".", ack: 1 });
    // SEG.ACK = SND.UNA - 1000: a duplicate, within the 65535 the peer offered.
    h.in({ flags: ".", seq: 1, ack: -999 });
    h.outNothing();
    expect(h.engine.stats().tcpChallengeAcks).toBe(0);
    // Below SND.UNA - 65535: challenged.
    h.in({ flags: ".", seq: 1, ack: -70_000 });
    h.out({ flags: ".", seq: 1, ack: 1 });
    expect(h.engine.stats().tcpChallengeAcks).toBe(1);
  });

  it("a passive open keeps the SYN's larger window as MAX.SND.WND when the final ACK offers less", () => {
    const h = new TcpHarness();
    // The SYN offers 65535; the final ACK 1 << 7 = 128 bytes.
    establish(h, { win: 65535, ackWin: 1 });
    expect(info(h).sndWnd).toBe(128);
    h.in({ flags: ".", seq: 1, ack: -999 });
    h.outNothing();
    h.in({ flags: ".", seq: 1, ack: -70_000 });
    h.out({ flags: ".", seq: 1, ack: 1 });
  });
});

describe("the handshake's RTT sample (RFC 6298 §2-3, RFC 7323 §4)", () => {
  it("without timestamps the SYN-ACK sent once is timed: the final ACK 200 ms later gives SRTT 200", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.at(200).in({ flags: ".", seq: 1, ack: 1 });
    expect(info(h).srtt).toBe(200);
  });

  it("timestamps on the final ACK that the SYN did not offer are not used: the SYN-ACK's timing gives the sample (RFC 7323 §3.2)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", ts: null });
    h.at(200).in({ flags: ".", seq: 1, ack: 1, ts: [300, 5] });
    expect(info(h).srtt).toBe(200);
  });

  it("an engine clock that reads 0 when the SYN-ACK goes still times it (0 is a time, not \"not sent once\")", () => {
    const clock = new VirtualClock(0);
    const h = new TcpHarness({ configure: (b) => b.clock(clock.now) });
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    clock.set(200);
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(info(h).srtt).toBe(200);
  });

  it("with timestamps the TSecr times the retransmitted SYN-ACK it echoes (RFC 7323 §4.1, not Karn's rule)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, ts: [100, 0] });
    h.out({ flags: "S.", time: 0 });
    h.at(1000);
    h.out({ flags: "S.", time: 1000 });
    // TSecr: the last TSval the engine sent (the retransmission's).
    h.at(1200).in({ flags: ".", seq: 1, ack: 1, ts: [1300, undefined] });
    expect(info(h).srtt).toBe(200);
  });

  it("a TSecr of 0 echoes nothing: the SYN-ACK's own timing gives the sample (Linux tcp_ack_update_rtt: rcv_tsecr 0 is none)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, ts: [100, 0] });
    h.out({ flags: "S." });
    h.at(150).in({ flags: ".", seq: 1, ack: 1, ts: [250, -h.conn().engineTsOrigin] });
    expect(info(h).srtt).toBe(150);
  });

  it("no sample from a TSecr in the future, and no SYN retransmitted: the RTO stays the initial 1 s (RFC 6298 §2.1, §5.7)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, ts: [100, 0] });
    h.out({ flags: "S." });
    h.at(100).in({ flags: ".", seq: 1, ack: 1, ts: [200, 50_000] });
    expect(h.state()).toBe("ESTABLISHED");
    expect(info(h).srtt).toBe(0);
    expect(info(h).rto).toBe(1000);
  });
});
