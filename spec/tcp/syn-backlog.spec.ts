/**
 * The SYN backlog and SYN cookies on the wire (RFC 4987 §3.6, in the Linux manner; lib/tcp/syn-backlog.ts,
 * lib/tcp/open.ts acceptCookie): past synBacklog half-open connections a SYN is answered statelessly
 * with a cookie SYN-ACK; the ACK that returns it rebuilds a working connection; a forged or old ACK is
 * answered with RST and counted; the backlog count follows handshakes that complete or time out.
 * Below the backlog nothing changes (the rest of spec/tcp runs with the default backlog of 4096).
 */
import { describe, expect, it } from "vitest";
import { COOKIE_PERIOD_MS } from "../../lib/tcp/syn-cookie.js";
import { TcpHarness, type HarnessOptions } from "../support/tcp-harness.js";

/** Every SYN gets a cookie. */
const cookiesOnly = (o: HarnessOptions = {}): TcpHarness => new TcpHarness({ ...o, configure: (b) => b.synBacklog(0) });

describe("past the SYN backlog: a cookie SYN-ACK, and nothing kept (RFC 4987 §3.6)", () => {
  it("with timestamps: MSS, SACK-permitted, window scale and a TSval carrying the peer's wscale and SACK in its low 6 bits", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, win: 65535, mss: 1460, sackOK: true, ts: [100, 0], wscale: 7 });
    // The same options a connection's SYN-ACK offers (open.spec.ts), our shift 3 for 256 KiB.
    const synAck = h.out({ flags: "S.", ack: 1, win: 65535, mss: 1460, sackOK: true, ts: [undefined, 100], wscale: 3 });
    // Linux's cookie_init_timestamp: bits 0-3 the peer's window scale (7), bit 4 SACK, bit 5 ECN (none).
    expect(synAck.tsValAbs & 0x3f).toBe(7 | 0x10);
    expect(h.flowCount).toBe(0);
    expect(h.accepted).toHaveLength(0); // l4Accept waits for the ACK
    const s = h.engine.stats();
    expect([s.tcpSynsReceived, s.tcpSynCookiesSent, s.tcpHalfOpen, s.tcpFlowsOpened]).toEqual([1, 1, 0, 0]);
    // Stateless: the same SYN again gets the same SYN-ACK.
    h.in({ flags: "S", seq: 0, win: 65535, mss: 1460, sackOK: true, ts: [100, 0], wscale: 7 });
    const again = h.out({ flags: "S." });
    expect([again.seqAbs, again.tsValAbs]).toEqual([synAck.seqAbs, synAck.tsValAbs]);
    expect(h.flowCount).toBe(0);
  });

  it("timestamps without window scale or SACK: the low bits say none (0xf) and no SACK", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, ts: [100, 0] });
    const synAck = h.out({ flags: "S.", sackOK: false, wscale: null, ts: [undefined, 100] });
    expect(synAck.tsValAbs & 0x3f).toBe(0xf);
  });

  it("without timestamps: neither window scale nor SACK, which the cookie could not bring back (Linux tcp_clear_options)", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK: true, wscale: 7 });
    h.out({ flags: "S.", ack: 1, win: 65535, mss: 1460, sackOK: false, wscale: null, ts: null });
  });
});

describe("the ACK that returns a cookie rebuilds the connection", () => {
  it.each([
    [4, true],
    [4, false],
    [6, true],
    [6, false],
  ] as const)("IPv%i, timestamps %s: ESTABLISHED, l4Accept asked, data both ways", (family, withTs) => {
    const h = cookiesOnly({ family });
    const ts = withTs ? ([100, 0] as const) : null;
    h.in({ flags: "S", seq: 0, mss: 9000, sackOK: true, wscale: 7, ts });
    h.out({ flags: "S.", ack: 1 });
    const flow = h.in({ flags: ".", seq: 1, ack: 1, ...(withTs ? { ts: [101, undefined] as const } : {}) });
    expect(flow).toBeDefined();
    expect(h.accepted).toEqual([flow]);
    expect(h.state()).toBe("ESTABLISHED");
    const s = h.engine.stats();
    expect([s.tcpSynCookiesValidated, s.tcpSynCookiesRejected, s.tcpHalfOpen, s.tcpFlowsOpened]).toEqual([1, 0, 0, 1]);
    // The MSS from the cookie's table (9000 rounds down to its largest entry) within our MTU.
    const info = h.engine.l4Info(flow!)!;
    expect(info.sndMss).toBe(family === 4 ? 1460 : 1440);
    h.in({ flags: "P.", data: 100, ...(withTs ? { ts: [102, undefined] as const } : {}) });
    // Window scale came back from the TSecr: our window field (the whole 256 KiB buffer, the data was
    // taken) is scaled by 3; without timestamps, not at all.
    const ack = h.delayedAck({ flags: ".", ack: 101, ts: withTs ? [undefined, 102] : null, sack: null });
    expect(ack.win).toBe(withTs ? (256 * 1024) >>> 3 : 65535);
    h.expectRx(100);
    h.app.send("hello");
    h.out({ flags: "P.", seq: 1, ack: 101, data: "hello" });
    h.in({ flags: ".", ack: 6, win: 1000, ...(withTs ? { ts: [103, undefined] as const } : {}) });
    // The peer's window: scaled by its shift 7 with timestamps, as sent without.
    expect(h.engine.l4Info(flow!)!.sndWnd).toBe(withTs ? 1000 << 7 : 1000);
    h.outNothing();
  });

  it("the peer's MSS rounds down to the cookie's table: 1400 -> 1300 (IPv4), none -> 536", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1400, port: 41000 });
    h.out({ flags: "S.", port: 41000 });
    const a = h.in({ flags: ".", seq: 1, ack: 1, port: 41000 });
    expect(h.engine.l4Info(a!)!.sndMss).toBe(1300);
    h.in({ flags: "S", seq: 0, port: 41001 });
    h.out({ flags: "S.", port: 41001 });
    const b = h.in({ flags: ".", seq: 1, ack: 1, port: 41001 });
    expect(h.engine.l4Info(b!)!.sndMss).toBe(536);
  });

  it("data and FIN on the cookie's ACK are received (RFC 9293 §3.10.7.4 steps 7 and 8)", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.in({ flags: "FP.", seq: 1, ack: 1, data: 50 });
    h.out({ flags: ".", ack: 52 });
    h.expectRx(50);
    expect(h.state()).toBe("CLOSE-WAIT");
    expect(h.conn().remoteClosedCount).toBe(1);
  });

  it("l4Accept refusing at the ACK answers it with <SEQ=SEG.ACK><CTL=RST>", () => {
    const h = cookiesOnly({ accept: false });
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    expect(h.accepted).toHaveLength(0);
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.accepted).toHaveLength(1);
    h.out({ flags: "R", seq: 1 });
    expect(h.flowCount).toBe(0);
    expect(h.engine.stats().drops.refused).toBe(1);
  });

  it("at maxFlows the valid ACK is dropped unanswered; its retransmission connects once there is room", () => {
    const h = new TcpHarness({ configure: (b) => b.synBacklog(0).maxFlows(1) });
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    // l4Connect is not bounded by maxFlows, and fills the table meanwhile.
    h.connect(50000);
    h.out({ flags: "S", port: 50000 });
    h.in({ flags: ".", seq: 1, ack: 1 });
    h.outNothing();
    expect(h.state()).toBeUndefined();
    expect(h.engine.stats().drops.flow_limit).toBe(1);
    h.appFor(50000).abort();
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });
});

describe("ACKs that carry no valid cookie", () => {
  it("a forged ACK is answered with <SEQ=SEG.ACK><CTL=RST> and counted rejected", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41000 });
    h.out({ flags: "S.", port: 41000 });
    // Another port's ACK, a guessed ISS, and this port's ACK with the wrong SEQ.
    h.in({ flags: ".", seq: 1, ack: 0x1234_5678, port: 41001 });
    h.out({ flags: "R", seq: 0x1234_5678, port: 41001 });
    h.in({ flags: ".", seq: 1, ack: 2, port: 41000 });
    h.out({ flags: "R", seq: 2, port: 41000 });
    h.in({ flags: ".", seq: 7, ack: 1, port: 41000 });
    h.out({ flags: "R", seq: 1, port: 41000 });
    const s = h.engine.stats();
    expect([s.tcpSynCookiesRejected, s.tcpSynCookiesValidated, s.tcpFlowsOpened]).toEqual([3, 0, 0]);
    expect(h.flowCount).toBe(0);
  });

  it("a cookie is good one 64-second period later, and rejected two periods later", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41000 });
    h.out({ flags: "S.", port: 41000 });
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41001 });
    h.out({ flags: "S.", port: 41001 });
    h.at(COOKIE_PERIOD_MS + 1);
    h.in({ flags: ".", seq: 1, ack: 1, port: 41000 });
    expect(h.state(41000)).toBe("ESTABLISHED");
    // Another cookie goes out meanwhile, so ACKs are still checked; the first is now two periods old.
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41002 });
    h.out({ flags: "S.", port: 41002 });
    h.at(2 * COOKIE_PERIOD_MS + 1);
    h.in({ flags: ".", seq: 1, ack: 1, port: 41001 });
    h.out({ flags: "R", seq: 1, port: 41001 });
    expect(h.state(41001)).toBeUndefined();
    const s = h.engine.stats();
    expect([s.tcpSynCookiesValidated, s.tcpSynCookiesRejected]).toEqual([1, 1]);
  });

  it("with no cookie out, an ACK for no flow is answered as before and not counted", () => {
    const h = new TcpHarness();
    h.in({ flags: ".", seq: 1, ack: 5 });
    h.out({ flags: "R", seq: 5 });
    expect(h.engine.stats().tcpSynCookiesRejected).toBe(0);
  });
});

describe("the backlog count (stats().tcpHalfOpen)", () => {
  it("counts passive opens in SYN-RECEIVED; handshakes that complete or time out give their place back", () => {
    const h = new TcpHarness({ configure: (b) => b.synBacklog(2), strict: false });
    const halfOpen = () => h.engine.stats().tcpHalfOpen;
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41000 });
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41001 });
    expect(halfOpen()).toBe(2);
    expect(h.flowCount).toBe(2);
    // Full: the third gets a cookie and makes no flow.
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41002 });
    expect(h.flowCount).toBe(2);
    expect(h.engine.stats().tcpSynCookiesSent).toBe(1);
    h.drain();
    h.in({ flags: ".", seq: 1, ack: 1, port: 41000 });
    expect(h.state(41000)).toBe("ESTABLISHED");
    expect(halfOpen()).toBe(1);
    // 41001 never answers: its handshake times out.
    h.at(20_000);
    h.drain();
    expect(h.state(41001)).toBeUndefined();
    expect(halfOpen()).toBe(0);
    // The cookie's ACK rebuilds 41002 without entering the backlog.
    h.in({ flags: ".", seq: 1, ack: 1, port: 41002 });
    expect(h.state(41002)).toBe("ESTABLISHED");
    expect(halfOpen()).toBe(0);
    // Room again: a SYN makes a connection.
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41003 });
    expect(h.state(41003)).toBe("SYN-RECEIVED");
    expect(halfOpen()).toBe(1);
    // Aborted by the application, or reset by the peer, in SYN-RECEIVED: out of the backlog too.
    h.appFor(41003).abort();
    expect(halfOpen()).toBe(0);
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41004 });
    h.drain();
    h.in({ flags: "R", seq: 1, port: 41004 });
    expect(h.state(41004)).toBeUndefined();
    expect(halfOpen()).toBe(0);
  });

  it("refused SYNs and simultaneous opens are not counted", () => {
    const h = new TcpHarness({ accept: false });
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "R." });
    expect(h.engine.stats().tcpHalfOpen).toBe(0);
    h.connect(41000);
    h.out({ flags: "S", port: 41000 });
    h.in({ flags: "S", seq: 0, mss: 1460, port: 41000 });
    h.out({ flags: "S.", port: 41000 });
    expect(h.state(41000)).toBe("SYN-RECEIVED");
    expect(h.engine.stats().tcpHalfOpen).toBe(0);
    h.in({ flags: ".", seq: 1, ack: 1, port: 41000 });
    expect(h.state(41000)).toBe("ESTABLISHED");
    expect(h.engine.stats().tcpHalfOpen).toBe(0);
  });

  it("synBacklog is checked: an integer in 0..2^24", async () => {
    const { L3L4Builder } = await import("../../lib/builder.js");
    expect(() => new L3L4Builder().synBacklog(-1).build()).toThrow(/synBacklog must be an integer in 0\.\.16777216/);
    expect(() => new L3L4Builder().synBacklog(1.5).build()).toThrow(RangeError);
    expect(new L3L4Builder().synBacklog(0).build()).toBeDefined();
  });
});
