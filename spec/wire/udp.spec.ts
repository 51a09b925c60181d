import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checksumAdd, checksumFinish, pseudoSum4, pseudoSum6 } from "../../lib/wire/checksum.js";
import { Drop } from "../../lib/wire/drop.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { UDP_HEADER, UdpPacket, emitUdpHeader, fillUdpChecksum } from "../../lib/wire/udp.js";
import { udp4 as build4 } from "./builders.js";
import { udp4, udp6 } from "./fixtures/linux-captures.js";

const udp = new UdpPacket();

describe("UdpPacket on real Linux datagrams", () => {
  it("IPv4: ports, length, checksum verified with the pseudo-header", () => {
    expect(udp.wrap(udp4, 20, 40).check(pseudoSum4(udp4, 0, IpProtocol.UDP, 40))).toBe(Drop.OK);
    expect([udp.srcPort, udp.dstPort, udp.length, udp.payloadOffset, udp.payloadLength]).toEqual([41002, 9, 40, 28, 32]);
    expect(udp.checksum).not.toBe(0);
  });

  it("IPv6: checksum verified; a wrong pseudo-header fails", () => {
    expect(udp.wrap(udp6, 40, 40).check(pseudoSum6(udp6, 0, IpProtocol.UDP, 40), true)).toBe(Drop.OK);
    expect([udp.srcPort, udp.dstPort, udp.payloadLength]).toEqual([41003, 9, 32]);
    expect(udp.wrap(udp6, 40, 40).check(pseudoSum6(udp6, 0, IpProtocol.UDP, 41), true)).toBe(Drop.BAD_CHECKSUM);
  });

  it("emitUdpHeader + fillUdpChecksum reproduce the Linux datagram", () => {
    const out = udp4.slice();
    out.fill(0xee, 20);
    emitUdpHeader(out, 20, 41002, 9, 40);
    out.set(udp4.subarray(28), 28);
    fillUdpChecksum(out, 20, 40, pseudoSum4(out, 0, IpProtocol.UDP, 40));
    expect(out).toEqual(udp4);
  });
});

describe("UdpPacket.check", () => {
  it("zero checksum: none over IPv4 (RFC 768), a drop over IPv6 (RFC 8200 §8.1)", () => {
    const p = udp4.slice();
    p[26] = 0;
    p[27] = 0;
    expect(udp.wrap(p, 20, 40).check(pseudoSum4(p, 0, 17, 40))).toBe(Drop.OK);
    expect(udp.wrap(p, 20, 40).check(pseudoSum4(p, 0, 17, 40), true)).toBe(Drop.ZERO_UDP_CHECKSUM_V6);
  });

  it("a computed zero is sent as 0xffff and verifies (RFC 768)", () => {
    // Pick the last payload word so that the whole sum is 0xffff: the computed checksum is then 0.
    const p = build4("10.0.0.1", "10.0.0.2", 1000, 2000, new Uint8Array(10));
    const ps = pseudoSum4(p, 0, 17, 18);
    p[26] = 0;
    p[27] = 0;
    const rest = checksumFinish(checksumAdd(ps, p, 20, 16)); // ~sum of all but the last word
    p[36] = rest >> 8;
    p[37] = rest;
    fillUdpChecksum(p, 20, 18, ps);
    expect(udp.wrap(p, 20, 18).checksum).toBe(0xffff);
    expect(udp.check(ps)).toBe(Drop.OK);
    expect(udp.check(ps, true)).toBe(Drop.OK);
  });

  it("drops a header under 8 bytes, a length under 8 or past the bytes, a wrong wrap length", () => {
    expect(udp.wrap(udp4, 20, 7).check()).toBe(Drop.TRUNCATED);
    expect(udp.wrap(udp4, 20, 39).check()).toBe(Drop.TRUNCATED);
    expect(udp.wrap(udp4, 20, 41).check()).toBe(Drop.TRUNCATED);
    const p = udp4.slice();
    p[25] = 7;
    expect(udp.wrap(p, 20, 40).check()).toBe(Drop.BAD_LENGTH);
    // Bytes past the UDP length (IP carried more) are ignored, also by the checksum.
    const longer = new Uint8Array(64);
    longer.set(udp4);
    longer[60] = 0x99;
    expect(udp.wrap(longer, 20, 44).check(pseudoSum4(longer, 0, 17, 40))).toBe(Drop.OK);
  });
});

describe("UDP emit then parse (fast-check)", () => {
  it("round-trips ports and payload with a valid checksum over IPv4 and IPv6 pseudo sums", () => {
    const buf = new Uint8Array(3 + 8 + 1500);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 1500 }),
        fc.nat(3),
        fc.integer({ min: 0, max: 0x3ffff }),
        (sport, dport, payload, off, pseudo) => {
          const len = UDP_HEADER + payload.length;
          buf.fill(0xa5);
          emitUdpHeader(buf, off, sport, dport, len);
          buf.set(payload, off + UDP_HEADER);
          fillUdpChecksum(buf, off, len, pseudo);
          expect(udp.wrap(buf, off, len).check(pseudo, true)).toBe(Drop.OK);
          expect([udp.srcPort, udp.dstPort, udp.length, udp.payloadLength]).toEqual([sport, dport, len, payload.length]);
          expect(udp.checksum).not.toBe(0);
          expect(buf.subarray(udp.payloadOffset, udp.payloadOffset + payload.length)).toEqual(payload);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
