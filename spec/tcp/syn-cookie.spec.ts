/**
 * The SYN cookie codec (lib/tcp/syn-cookie.ts): a cookie made for a SYN is accepted from that
 * connection's ACK for 64 to 128 s and gives its MSS back; anything else (another tuple, another ISN,
 * another secret, a random ACK, an old cookie) is rejected; the options folded into a TSval come back
 * from the TSecr, and the TSval never runs ahead of the clock.
 */
import { describe, expect, it } from "vitest";
import { SipHash24 } from "../../lib/tcp/isn.js";
import { seq, seqAdd, type Seq } from "../../lib/tcp/seq.js";
import {
  COOKIE_MSS_V4,
  COOKIE_MSS_V6,
  COOKIE_PERIOD_MS,
  SynCookies,
  cookieMssIndex,
  decodeTimestamp,
  encodeTimestamp,
  type CookieOptions,
} from "../../lib/tcp/syn-cookie.js";

const key = Uint8Array.from({ length: 16 }, (_, i) => i * 17 + 3);
const v4 = (a: number[]) => Uint8Array.from(a);
const local4 = v4([192, 0, 2, 7]);
const remote4 = v4([10, 0, 0, 2]);
const local6 = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 15 ? 7 : 0));
const remote6 = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 15 ? 2 : 0));

function cookies(k = key): SynCookies {
  return new SynCookies(new SipHash24(k));
}
const tuple4 = (c: SynCookies, remotePort = 41000) => c.tuple(local4, 0, remote4, 0, 4, 80, remotePort);
const tuple6 = (c: SynCookies) => c.tuple(local6, 0, remote6, 0, 16, 443, 50000);

/** The ACK a client sends for a cookie: ACK = ISS + 1, SEQ = its ISN + 1. */
function ackFor(iss: Seq, clientIsn: Seq): [Seq, Seq] {
  return [seqAdd(iss, 1), seqAdd(clientIsn, 1)];
}

describe("SYN cookies: the ISS", () => {
  const now = 1_000_000;
  const isn = seq(0xffff_fff0); // crosses the wrap when the ACK adds 1... and on purpose

  it.each([0, 1, 2, 3])("gives MSS index %i back from the completing ACK, IPv4 and IPv6", (index) => {
    const c = cookies();
    const iss4 = tuple4(c).make(isn, index, now);
    expect(tuple4(c).check(...ackFor(iss4, isn), now, COOKIE_MSS_V4.length)).toBe(index);
    const iss6 = tuple6(c).make(isn, index, now);
    expect(tuple6(c).check(...ackFor(iss6, isn), now, COOKIE_MSS_V6.length)).toBe(index);
  });

  it("is accepted in the next 64-second period and rejected after it", () => {
    const c = cookies();
    const start = 10 * COOKIE_PERIOD_MS + 5;
    const iss = tuple4(c).make(isn, 3, start);
    expect(tuple4(c).check(...ackFor(iss, isn), start + COOKIE_PERIOD_MS, 4)).toBe(3);
    expect(tuple4(c).check(...ackFor(iss, isn), start + 2 * COOKIE_PERIOD_MS, 4)).toBe(-1);
    // Nor from before it was made (a clock gone back, or a forged counter).
    expect(tuple4(c).check(...ackFor(iss, isn), start - COOKIE_PERIOD_MS, 4)).toBe(-1);
  });

  it("is rejected for another port, another client ISN, another secret or an ACK off the table", () => {
    const c = cookies();
    const iss = tuple4(c).make(isn, 0, now);
    const [ack, segSeq] = ackFor(iss, isn);
    expect(tuple4(c, 41001).check(ack, segSeq, now, 4)).toBe(-1);
    expect(tuple4(c).check(ack, seqAdd(segSeq, 1), now, 4)).toBe(-1);
    expect(tuple4(c).check(ack, seqAdd(segSeq, -1), now, 4)).toBe(-1);
    // The index is added to the hash, as on Linux: an ACK a few above lands on another index (only
    // someone who saw the cookie can do that), one below or past the table is rejected.
    expect(tuple4(c).check(seqAdd(ack, -1), segSeq, now, 4)).toBe(-1);
    expect(tuple4(c).check(seqAdd(ack, 4), segSeq, now, 4)).toBe(-1);
    const other = Uint8Array.from(key, (b) => b ^ 1);
    expect(tuple4(cookies(other)).check(ack, segSeq, now, 4)).toBe(-1);
  });

  it("carries the MSS index in its low 24 bits exactly: ISS(index) - ISS(0) = index mod 2**24 (Linux: hash + data, masked)", () => {
    const c = cookies();
    const base = tuple4(c).make(isn, 0, now);
    for (const index of [1, 2, 3]) expect(((tuple4(c).make(isn, index, now) - base) >>> 0) & 0xff_ffff).toBe(index);
  });

  it("depends on every field of the 4-tuple, and on which end is which", () => {
    const c = cookies();
    const iss = (local: Uint8Array, remote: Uint8Array, localPort: number, remotePort: number) => c.tuple(local, 0, remote, 0, 4, localPort, remotePort).make(isn, 0, now);
    const mine = iss(local4, remote4, 80, 41000);
    const others = [
      iss(v4([192, 0, 2, 8]), remote4, 80, 41000),
      iss(local4, v4([10, 0, 0, 3]), 80, 41000),
      iss(local4, remote4, 81, 41000),
      iss(local4, remote4, 80, 41001),
      iss(remote4, local4, 41000, 80),
    ];
    for (const other of others) expect(other).not.toBe(mine);
    // The same tuple at an offset in a larger buffer (the packet's bytes) gives the same cookie.
    const packet = new Uint8Array(40);
    packet.set(remote4, 12);
    packet.set(local4, 16);
    expect(c.tuple(packet, 16, packet, 12, 4, 80, 41000).make(isn, 0, now)).toBe(mine);
  });

  it("steps t every 64 s of the engine clock (RFC 4987 §3.6: a slowly incrementing timer)", () => {
    expect([0, 63_999, 64_000, 127_999, 128_000].map((ms) => SynCookies.counter(ms))).toEqual([0, 0, 1, 1, 2]);
  });

  it("lives to the end of the period after the one it was made in, to the millisecond", () => {
    const c = cookies();
    const t = 20;
    for (const madeAt of [t * COOKIE_PERIOD_MS, (t + 1) * COOKIE_PERIOD_MS - 1]) {
      const iss = tuple4(c).make(isn, 2, madeAt);
      expect(tuple4(c).check(...ackFor(iss, isn), (t + 2) * COOKIE_PERIOD_MS - 1, 4)).toBe(2);
      expect(tuple4(c).check(...ackFor(iss, isn), (t + 2) * COOKIE_PERIOD_MS, 4)).toBe(-1);
    }
  });

  it("is rejected 256 and 257 periods later, where its 8-bit counter reads as new again: the hash covers all of t", () => {
    const c = cookies();
    const madeAt = 300 * COOKIE_PERIOD_MS;
    for (let index = 0; index < 4; index++) {
      const iss = tuple4(c).make(isn, index, madeAt);
      expect(tuple4(c).check(...ackFor(iss, isn), madeAt, 4)).toBe(index);
      expect(tuple4(c).check(...ackFor(iss, isn), madeAt + 256 * COOKIE_PERIOD_MS, 4)).toBe(-1);
      expect(tuple4(c).check(...ackFor(iss, isn), madeAt + 257 * COOKIE_PERIOD_MS, 4)).toBe(-1);
    }
  });

  it("costs one hash to make and at most two to check (one per period it may come from)", () => {
    class Counting extends SipHash24 {
      calls = 0;
      override hashWords(words: Uint32Array, count: number): number {
        this.calls++;
        return super.hashWords(words, count);
      }
    }
    const h = new Counting(key);
    const c = new SynCookies(h);
    const start = 10 * COOKIE_PERIOD_MS;
    const iss = tuple4(c).make(isn, 2, start);
    expect(h.calls).toBe(1);
    h.calls = 0;
    expect(tuple4(c).check(...ackFor(iss, isn), start, 4)).toBe(2);
    expect(h.calls).toBe(1);
    h.calls = 0;
    expect(tuple4(c).check(...ackFor(iss, isn), start + COOKIE_PERIOD_MS, 4)).toBe(2);
    expect(h.calls).toBe(2);
    h.calls = 0;
    expect(tuple4(c).check(...ackFor(iss, isn), start + 2 * COOKIE_PERIOD_MS, 4)).toBe(-1);
    expect(h.calls).toBe(2);
  });

  it("is rejected when its index is past the table it is checked against", () => {
    const c = cookies();
    const iss = tuple4(c).make(isn, 3, now);
    expect(tuple4(c).check(...ackFor(iss, isn), now, 4)).toBe(3);
    expect(tuple4(c).check(...ackFor(iss, isn), now, 3)).toBe(-1);
  });

  it("changes with the period, so an old cookie cannot be replayed as a new one", () => {
    const c = cookies();
    const a = tuple4(c).make(isn, 1, 0);
    const b = tuple4(c).make(isn, 1, COOKIE_PERIOD_MS);
    expect(b).not.toBe(a);
  });

  it("rejects 200,000 random ACKs", () => {
    const c = tuple4(cookies());
    let x = 0x9e3779b9;
    let accepted = 0;
    for (let i = 0; i < 200_000; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const ack = seq(x);
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      if (c.check(ack, seq(x), now, 4) >= 0) accepted++;
    }
    // A guess passes with probability 2 * 4 / 2**24 * 2/256 per try: about 0.0001 expected here.
    expect(accepted).toBe(0);
  });
});

describe("SYN cookies: the MSS table", () => {
  it.each([
    [4, 1460, 1460],
    [4, 1448, 1440],
    [4, 1400, 1300],
    [4, 536, 536],
    [4, 100, 536],
    [4, 65535, 1460],
    [6, 1440, 1440],
    [6, 1300, 1220],
    [6, 9000, 8940],
  ] as const)("IPv%i: a peer MSS of %i gets %i", (family, peer, mss) => {
    const table = family === 4 ? COOKIE_MSS_V4 : COOKIE_MSS_V6;
    expect(table[cookieMssIndex(peer, family)]).toBe(mss);
  });
});

describe("SYN cookies: options in the timestamp (RFC 7323 TSval low bits)", () => {
  const cases: CookieOptions[] = [];
  for (let ws = -1; ws <= 14; ws++) for (const sack of [false, true]) for (const ecn of [false, true]) cases.push({ windowScale: ws, sackPermitted: sack, ecn });

  it("brings every window scale, SACK and ECN combination back, the TSval at most 127 ticks behind the clock", () => {
    for (const tsval of [0, 1, 63, 64, 0x1234_5678, 0xffff_ffff]) {
      for (const o of cases) {
        const ts = encodeTimestamp(tsval, o);
        const behind = (tsval - ts) >>> 0;
        expect(behind, `tsval ${tsval}`).toBeLessThan(128);
        const back: CookieOptions = { windowScale: 99, sackPermitted: false, ecn: false };
        decodeTimestamp(ts, back);
        expect(back).toEqual(o);
      }
    }
  });

  it.each([
    // [TSval, options, the TSval sent]: the low 6 bits replaced; one 64-tick step back when that would run ahead (Linux cookie_init_timestamp).
    [0x1000_007f, { windowScale: 7, sackPermitted: true, ecn: false }, 0x1000_0057],
    [0x1000_0047, { windowScale: 7, sackPermitted: true, ecn: false }, 0x1000_0017],
    [0x1000_0057, { windowScale: 7, sackPermitted: true, ecn: false }, 0x1000_0057],
    [0x1000_0040, { windowScale: -1, sackPermitted: false, ecn: true }, 0x1000_002f],
    [0x0000_0005, { windowScale: 7, sackPermitted: true, ecn: false }, 0xffff_ffd7],
  ] as const)("TSval %i with %o is sent as %i", (tsval, options, sent) => {
    expect(encodeTimestamp(tsval, options)).toBe(sent);
  });

  it("caps a window scale above 14 at 14 (RFC 7323 §2.3); 0xf means none", () => {
    const back: CookieOptions = { windowScale: 0, sackPermitted: false, ecn: false };
    decodeTimestamp(encodeTimestamp(1000, { windowScale: 20, sackPermitted: false, ecn: false }), back);
    expect(back.windowScale).toBe(14);
    // 0xf is "none": the only value above 14 that the four bits can hold.
    decodeTimestamp(0x1f, back);
    expect(back).toEqual({ windowScale: -1, sackPermitted: true, ecn: false });
  });
});
