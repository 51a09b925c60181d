/**
 * The SYN backlog and SYN cookies on the wire (RFC 4987 §3.6, in the Linux manner; lib/tcp/syn-backlog.ts,
 * lib/tcp/open.ts acceptCookie): past synBacklog half-open connections a SYN is answered statelessly
 * with a cookie SYN-ACK; the ACK that returns it rebuilds a working connection; a forged or old ACK is
 * answered with RST and counted; the backlog count follows handshakes that complete or time out.
 * Below the backlog nothing changes (the rest of spec/tcp runs with the default backlog of 4096).
 */
import { describe, expect, it } from "vitest";
import { COOKIE_LIFETIME_MS, COOKIE_PERIOD_MS } from "../../lib/tcp/syn-cookie.js";
import { fixL4Checksum } from "../support/packets.js";
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

// SYN cookies (lib/tcp/syn-backlog.ts, lib/tcp/open.ts acceptCookie; RFC 4987 §3.6 in the Linux
// manner): what the cookie's ACK rebuilds (SACK, TS.Recent, the timestamp clock, the window the
// SYN-ACK offered), what the cookie SYN-ACK offers on IPv6 and for a window shift of 0, the cookie
// lifetime's bound and the 4-tuple the cookie is keyed on. Boundaries the mutation run found unpinned
// (issue 10).

describe("the connection a cookie's ACK rebuilds", () => {
  it.each([
    ["timestamps and SACK-permitted in the SYN: out-of-order data is SACKed", true, true, true],
    ["timestamps without SACK-permitted: no SACK", true, false, false],
    ["SACK-permitted without timestamps: no SACK (the cookie cannot bring it back)", false, true, false],
  ] as const)("%s (RFC 2018 §4; Linux cookie_v4_check)", (_name, withTs, sackOK, sacked) => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK, wscale: 7, ts: withTs ? [100, 0] : null });
    h.out({ flags: "S." });
    h.in({ flags: ".", seq: 1, ack: 1, ...(withTs ? { ts: [101, undefined] as const } : {}) });
    expect(h.state()).toBe("ESTABLISHED");
    h.in({ flags: "P.", seq: 101, data: 100, ...(withTs ? { ts: [102, undefined] as const } : {}) });
    h.out({ flags: ".", ack: 1, sack: sacked ? [[101, 201]] : null });
  });

  it.each([4, 6] as const)(
    "IPv%i: the first segment echoes the ACK's TSval (RFC 7323 §4.3 TS.Recent) and its TSval continues the SYN-ACK's clock (§5.4)",
    (family) => {
      const h = cookiesOnly({ family });
      h.in({ flags: "S", seq: 0, mss: 1460, ts: [100, 0] });
      const synAck = h.out({ flags: "S." });
      h.in({ flags: ".", seq: 1, ack: 1, ts: [101, undefined] });
      h.app.send("hello");
      const data = h.out({ flags: "P.", data: "hello", ts: [undefined, 101] });
      // The SYN-ACK's TSval is the clock with its low 6 bits replaced by the options (never above the
      // clock: Linux cookie_init_timestamp); the same clock, the same per-connection offset, now.
      const ahead = (data.tsValAbs - synAck.tsValAbs) >>> 0;
      expect(ahead).toBeLessThan(64);
    },
  );

  it("the window is the one the cookie SYN-ACK offered (65535, unscaled): text beyond it is not taken (RFC 9293 §3.10.7.4)", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK: true, wscale: 7, ts: [100, 0] });
    h.out({ flags: "S.", win: 65535 });
    h.in({ flags: ".", seq: 1, ack: 1, ts: [101, undefined] });
    // Past RCV.NXT + 65535: unacceptable, answered with an ACK and not held (no SACK block).
    h.in({ flags: "P.", seq: 1 + 65535, data: 100, ts: [102, undefined] });
    h.out({ flags: ".", ack: 1, sack: null });
    // Just inside it: held and SACKed.
    h.in({ flags: "P.", seq: 1 + 65535 - 100, data: 100, ts: [103, undefined] });
    h.out({ flags: ".", ack: 1, sack: [[65436, 65536]] });
  });

  it("the options come from the ACK's own TSecr, not from the SYN last answered", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, sackOK: true, wscale: 7, ts: [100, 0], port: 41000 });
    h.out({ flags: "S.", port: 41000 });
    // Another SYN meanwhile, offering neither window scale nor SACK.
    h.in({ flags: "S", seq: 0, mss: 1460, ts: [100, 0], port: 41001 });
    h.out({ flags: "S.", port: 41001 });
    const flow = h.in({ flags: ".", seq: 1, ack: 1, ts: [101, undefined], win: 1000, port: 41000 });
    expect(h.state(41000)).toBe("ESTABLISHED");
    // The peer's shift 7 applies to its window; SACK is on.
    expect(h.engine.l4Info(flow!)!.sndWnd).toBe(1000 << 7);
    h.in({ flags: "P.", seq: 101, data: 100, ts: [102, undefined], port: 41000 });
    h.out({ flags: ".", ack: 1, sack: [[101, 201]], port: 41000 });
  });
});

describe("what the cookie SYN-ACK offers", () => {
  it("IPv6: our MSS is the MTU less 60 (RFC 8200 §8.3); a peer MSS of 1300 is the v6 table's 1220", () => {
    const h = cookiesOnly({ family: 6 });
    h.in({ flags: "S", seq: 0, mss: 1300 });
    h.out({ flags: "S.", mss: 1440 });
    const flow = h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.engine.l4Info(flow!)!.sndMss).toBe(1220);
  });

  it("a window shift of 0 in the SYN is window scaling: our shift 3 is offered (RFC 7323 §2.2)", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, wscale: 0, ts: [100, 0] });
    const synAck = h.out({ flags: "S.", wscale: 3 });
    expect(synAck.tsValAbs & 0xf).toBe(0);
  });
});

describe("which ACKs are checked for a cookie", () => {
  it(`an ACK for no flow ${COOKIE_LIFETIME_MS} ms after the last cookie is not checked: RST, and counted neither way`, () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.at(COOKIE_LIFETIME_MS - 1).in({ flags: ".", seq: 1, ack: 77, port: 41001 });
    h.out({ flags: "R", seq: 77, port: 41001 });
    expect(h.engine.stats().tcpSynCookiesRejected).toBe(1);
    h.at(COOKIE_LIFETIME_MS).in({ flags: ".", seq: 1, ack: 1 });
    h.out({ flags: "R", seq: 1 });
    const s = h.engine.stats();
    expect([s.tcpSynCookiesValidated, s.tcpSynCookiesRejected]).toEqual([0, 1]);
  });

  it("IPv6: the cookie is keyed on the whole source address: the same ACK from a neighbouring address is refused", () => {
    const h = cookiesOnly({ family: 6 });
    h.in({ flags: "S", seq: 0, mss: 1440 });
    h.out({ flags: "S." });
    // The very ACK that would complete it, from 2001:db8::2 instead of 2001:db8::1 (last byte at 23).
    const forged = h.build({ flags: ".", seq: 1, ack: 1 }).slice();
    forged[8 + 15] = forged[8 + 15]! ^ 0x03;
    expect(h.engine.l3Rx(h.callbacks, fixL4Checksum(forged))).toBeUndefined();
    const rst = h.drain({ problemsExpected: "addressed" });
    expect(rst).toHaveLength(1);
    expect(rst[0]!.flags & 0x04).toBe(0x04);
    expect(h.engine.stats().tcpSynCookiesRejected).toBe(1);
    // The genuine one still works.
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });
});

describe("PAWS on the cookie's ACK (RFC 7323 §5.3)", () => {
  it("TS.Recent starts at the ACK's TSval: a TSval past 2^31 is not older than it, and the ACK's data is taken", () => {
    const h = cookiesOnly();
    h.in({ flags: "S", seq: 0, mss: 1460, ts: [0x9000_0000, 0] });
    h.out({ flags: "S." });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 50, ts: [0x9000_0001, undefined] });
    expect(h.state()).toBe("ESTABLISHED");
    h.expectRx(50);
    h.delayedAck({ flags: ".", ack: 51, ts: [undefined, 0x9000_0001] });
  });
});
