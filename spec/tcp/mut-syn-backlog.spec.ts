/**
 * SYN cookies (lib/tcp/syn-backlog.ts, lib/tcp/open.ts acceptCookie; RFC 4987 §3.6 in the Linux
 * manner): what the cookie's ACK rebuilds (SACK, TS.Recent, the timestamp clock, the window the
 * SYN-ACK offered), what the cookie SYN-ACK offers on IPv6 and for a window shift of 0, the cookie
 * lifetime's bound and the 4-tuple the cookie is keyed on. Boundaries the mutation run found unpinned
 * (issue 10).
 */
import { describe, expect, it } from "vitest";
import { COOKIE_LIFETIME_MS } from "../../lib/tcp/syn-cookie.js";
import { TcpHarness, type HarnessOptions } from "../support/tcp-harness.js";
import { fixL4Checksum } from "../support/packets.js";

/** Every SYN gets a cookie. */
const cookiesOnly = (o: HarnessOptions = {}): TcpHarness => new TcpHarness({ ...o, configure: (b) => b.synBacklog(0) });

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
