/**
 * Opening a connection (passive open: the engine answers a peer's SYN for any address and port).
 * RFC 9293 §3.5, §3.10.7.2; options RFC 7323 §2.2/§3.2, RFC 2018 §2, RFC 9293 §3.7.1; ISN RFC 6528;
 * handshake retransmission RFC 6298 §5; l4Accept refusal answered as a closed port (RFC 9293 §3.10.7.1).
 */
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { establish, info, LOCAL4, LOCAL6, PEER4, PEER6, TcpHarness } from "../support/tcp-harness.js";

describe("passive open (RFC 9293 §3.10.7.2 LISTEN: SYN -> SYN-RECEIVED, <SYN,ACK>)", () => {
  it.each([
    [4, PEER4, 40000, LOCAL4, 80],
    [4, "203.0.113.200", 1, "8.8.8.8", 65535],
    [4, "10.1.2.3", 65535, "172.16.99.1", 1],
    [6, PEER6, 40000, LOCAL6, 443],
    [6, "fe80::1", 12345, "2001:db8:ffff::abcd", 22],
    [6, "2001:db8::dead:beef", 5555, "64:ff9b::c000:201", 65535],
  ] as const)("IPv%i %s:%i -> %s:%i: any destination address and port is terminated", (family, peerIp, peerPort, localIp, localPort) => {
    const h = new TcpHarness({ family, peerIp, localIp, peerPort, localPort });
    const flow0 = h.in({ flags: "S", seq: 0, win: 65535, mss: 1460 });
    // l3Rx reports a flow only once it is synchronized (RFC 9293 §3.3.2).
    expect(flow0).toBeUndefined();
    expect(h.accepted).toHaveLength(1);
    const f = h.accepted[0]!;
    expect([f.protocol, f.family, f.srcIp, f.srcPort, f.dstIp, f.dstPort]).toEqual(["tcp", family, peerIp, peerPort, localIp, localPort]);
    h.out({ flags: "S.", seq: 0, ack: 1, mss: family === 4 ? 1460 : 1440 });
    expect(h.state()).toBe("SYN-RECEIVED");
    expect(h.flowCount).toBe(1);
    const flow = h.in({ flags: ".", seq: 1, ack: 1 });
    expect(flow).toBe(f);
    expect(h.state()).toBe("ESTABLISHED");
    h.in({ flags: "P.", seq: 1, ack: 1, data: 10 });
    h.delayedAck({ flags: ".", seq: 1, ack: 11 });
    h.expectRx(10);
    h.app.send("hello");
    h.out({ flags: "P.", seq: 1, ack: 11, data: "hello" });
    h.outNothing();
  });

  it("data on the handshake's final ACK is delivered (RFC 9293 §3.10.7.4 SYN-RECEIVED, then step 7)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 50 });
    h.delayedAck({ flags: ".", ack: 51 });
    h.expectRx(50);
    expect(h.state()).toBe("ESTABLISHED");
  });
});

describe("SYN-ACK options", () => {
  it("MSS from the MTU: 1500 - 40 (IPv4), 1500 - 60 (IPv6); mtu(1280) gives 1240 (RFC 9293 §3.7.1, RFC 8200 §8.3)", () => {
    const v4 = new TcpHarness();
    v4.in({ flags: "S", seq: 0, mss: 9000 });
    v4.out({ flags: "S.", mss: 1460 });
    const v6 = new TcpHarness({ family: 6 });
    v6.in({ flags: "S", seq: 0, mss: 9000 });
    v6.out({ flags: "S.", mss: 1440 });
    const small = new TcpHarness({ configure: (b) => b.mtu(1280) });
    small.in({ flags: "S", seq: 0 });
    small.out({ flags: "S.", mss: 1240 });
  });

  it("everything offered: SACK-permitted, timestamps echoing TSval, window scale (RFC 7323 §2.2, §3.2; RFC 2018 §2)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, win: 65535, mss: 1460, sackOK: true, ts: [100, 0], wscale: 7 });
    // 256 KiB buffer: the smallest shift that lets 16 bits express it is 3 (RFC 7323 §2.2).
    // The window of a SYN-ACK is never scaled (RFC 7323 §2.2).
    h.out({ flags: "S.", seq: 0, ack: 1, win: 65535, mss: 1460, sackOK: true, ts: [0, 100], wscale: 3 });
  });

  it("nothing offered: no SACK-permitted, no timestamps, no window scale (RFC 7323 §1.3: only when the SYN had them)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, win: 65535, mss: 1460 });
    h.out({ flags: "S.", seq: 0, ack: 1, win: 65535, mss: 1460, sackOK: false, ts: null, wscale: null, sack: null });
    h.in({ flags: ".", seq: 1, ack: 1 });
    // Without window scaling the window field is the buffer clamped to 65535.
    h.in({ flags: "P.", data: 10 });
    h.delayedAck({ flags: ".", ack: 11, win: 65535, ts: null });
  });

  it.each([
    ["only SACK", { sackOK: true }, { sackOK: true, ts: null, wscale: null }],
    ["only timestamps", { ts: [7, 0] as const }, { sackOK: false, ts: [0, 7] as const, wscale: null }],
    ["only window scale", { wscale: 2 }, { sackOK: false, ts: null, wscale: 3 }],
  ])("%s offered: only that is answered (RFC 7323 §2.2, §3.2; RFC 2018 §2)", (_name, offer, answer) => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460, ...offer });
    h.out({ flags: "S.", ...answer });
  });

  it("without window scaling the window is scaled by neither side (RFC 7323 §2.2)", () => {
    const h = new TcpHarness();
    establish(h, { wscale: null, ts: false });
    h.in({ flags: "P.", data: 100 });
    h.delayedAck({ flags: ".", ack: 101, win: 65535 });
  });

  it("with window scaling our window field is the buffer >> 3 and the peer's is taken << its shift (RFC 7323 §2.3)", () => {
    const h = new TcpHarness();
    establish(h, { wscale: 7, ackWin: 1 }); // the peer offers 1 << 7 = 128 bytes
    h.in({ flags: "P.", data: 100 });
    // Delivered at once, so the whole buffer is free again: 262144 >> 3.
    h.delayedAck({ flags: ".", ack: 101, win: 32768 });
    h.app.send(1000);
    // 128 bytes of window: a first segment of 128 (nothing outstanding), then nothing.
    h.out({ flags: ".", seq: 1, len: 128 });
    h.outNothing();
  });

  it.each([
    [65535, 0, 65535],
    [65536, 1, 65535],
    [131071, 1, 65535],
    [131072, 2, 65535],
    [2 ** 30, 14, 65535],
    [4000, 0, 4000],
  ])("a %i-byte buffer: window scale %i, the smallest shift that fits it in 16 bits; SYN-ACK window %i (RFC 7323 §2.2, §2.3)", (buffer, shift, win) => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(buffer) });
    h.in({ flags: "S", seq: 0, mss: 1460, wscale: 7 });
    h.out({ flags: "S.", wscale: shift, win });
  });

  it("a shift above 14 is taken as 14 (RFC 7323 §2.3)", () => {
    // MTU 9000: IW10 is 89480 bytes, so the peer's window (4 << 14 = 65536, not 4 << 15) is the limit.
    const h = new TcpHarness({ configure: (b) => b.mtu(9000) });
    establish(h, { wscale: 15, mss: 8960, ackWin: 4 });
    h.app.send(200_000);
    const sent = h.drain().reduce((n, p) => n + p.len, 0);
    expect(sent).toBeLessThanOrEqual(65536);
    expect(sent).toBeGreaterThan(65536 - 8948);
  });
});

describe("ISN (RFC 6528: ISN = M + F(4-tuple, secret))", () => {
  it("two flows of one engine get unrelated ISNs, and two engines differ for the same 4-tuple", () => {
    const h = new TcpHarness();
    const isns: number[] = [];
    for (let i = 0; i < 8; i++) {
      const port = 40000 + i;
      h.in({ flags: "S", seq: 0, mss: 1460, port });
      isns.push(h.out({ flags: "S.", port }).seqAbs);
    }
    expect(new Set(isns).size).toBe(8);
    // Not a counter: the differences between consecutive flows are not all the same.
    const diffs = new Set(isns.slice(1).map((v, i) => (v - isns[i]!) >>> 0));
    expect(diffs.size).toBeGreaterThan(1);

    const other = new TcpHarness();
    other.in({ flags: "S", seq: 0, mss: 1460 });
    expect(other.out({ flags: "S." }).seqAbs).not.toBe(isns[0]);
  });
});

describe("refusal and bad handshakes", () => {
  it("l4Accept false: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, no flow (RFC 9293 §3.10.7.1)", () => {
    const h = new TcpHarness({ accept: false });
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "R.", seq: 0, ack: 1, len: 0 });
    expect(h.flowCount).toBe(0);
    expect(h.accepted).toHaveLength(1);
    h.outNothing();
    expect(h.engine.stats().drops).toMatchObject({ refused: 1 });
  });

  it("a retransmitted SYN in SYN-RECEIVED gets the SYN-ACK again (RFC 9293 §3.10.7.4; as Linux tcp_check_req)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    const first = h.out({ flags: "S.", seq: 0, ack: 1 });
    h.at(300).in({ flags: "S", seq: 0, mss: 1460 });
    const again = h.out({ flags: "S.", seq: 0, ack: 1 });
    expect(again.seqAbs).toBe(first.seqAbs);
    expect(h.flowCount).toBe(1);
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("an unacceptable ACK in SYN-RECEIVED: <SEQ=SEG.ACK><CTL=RST>, the connection stays (RFC 9293 §3.10.7.4 fifth)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: ".", seq: 1, ack: 1000 });
    h.out({ flags: "R", seq: 1000 });
    expect(h.state()).toBe("SYN-RECEIVED");
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("a RST in SYN-RECEIVED removes the flow: l4Rx(null) once (RFC 9293 §3.10.7.4 second)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: "R", seq: 1 });
    h.outNothing();
    expect(h.flowCount).toBe(0);
    h.expectClosed();
  });

  it("SYN-ACK retransmitted at 1 s, 3 s, 7 s (RTO 1 s doubling, RFC 6298 §2.1, §5.5); handshake gives up at 15 s", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", seq: 0, ack: 1, time: 0 });
    h.at(999).outNothing();
    h.at(1000).out({ flags: "S.", seq: 0, ack: 1, time: 1000 });
    h.at(3000).out({ flags: "S.", seq: 0, ack: 1, time: 3000 });
    h.at(7000).out({ flags: "S.", seq: 0, ack: 1, time: 7000 });
    h.at(14999).outNothing();
    expect(h.flowCount).toBe(1);
    h.at(15000);
    expect(h.flowCount).toBe(0);
    h.expectClosed();
    h.outNothing();
    h.at(100_000).outNothing();
    expect(h.nextDeadline === undefined || h.nextDeadline === Infinity).toBe(true);
  });

  it("a handshake completed after a SYN-ACK retransmission uses RTO 3 s for data when no RTT sample was taken (RFC 6298 §5.7)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.at(1000).out({ flags: "S." });
    h.at(1100).in({ flags: ".", seq: 1, ack: 1 });
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100, time: 1100 });
    h.at(4099).outNothing();
    h.at(4100).out({ flags: "P.", seq: 1, len: 100, time: 4100 });
  });
});

describe("stats", () => {
  it("a SYN-ACK that found no transmit buffer goes 1 ms later, when one is available; the SYN of l4Connect too", () => {
    const h = new TcpHarness();
    h.txBlocked = true;
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.outNothing();
    h.txBlocked = false;
    h.at(1).out({ flags: "S.", seq: 0, ack: 1, time: 1 });
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    const a = new TcpHarness();
    a.txBlocked = true;
    a.connect();
    a.outNothing();
    a.txBlocked = false;
    a.at(1).out({ flags: "S", seq: 0, time: 1 });
  });

  it("counts each segment once in and once out", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", data: 100 });
    h.delayedAck({ flags: "." });
    h.app.send(10);
    h.out({ flags: "P." });
    const s = h.engine.stats();
    expect(s.tcpSegmentsIn).toBe(3);
    expect(s.tcpSegmentsOut).toBe(h.sent.length);
    expect(s.packetsOut).toBe(h.sent.length);
    expect(s.tcpFlowsOpened).toBe(1);
    expect(s.flows).toBe(1);
  });
});

// Opening a connection (lib/tcp/open.ts): the boundaries of the option negotiation, of MAX.SND.WND
// as the handshake leaves it, and of the handshake's RTT sample, which the mutation run found
// unpinned (issue 10). Through the engine, on the virtual clock.

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
