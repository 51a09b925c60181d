import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checksum } from "../../lib/wire/checksum.js";
import { Drop } from "../../lib/wire/drop.js";
import { IPV4_MIN_HEADER, Ipv4Packet, emitIpv4Header, ipv4Fields, ipv4ToString, parseIpv4 } from "../../lib/wire/ipv4.js";
import { at } from "./builders.js";
import { fragFirst4, fragLast4, fragNeeded4, syn4, synAck4 } from "./fixtures/linux-captures.js";

describe("Ipv4Packet on real Linux packets", () => {
  it("reads the SYN's header", () => {
    const ip = new Ipv4Packet().wrap(syn4);
    expect(ip.check()).toBe(Drop.OK);
    expect(ip.version).toBe(4);
    expect(ip.headerLength).toBe(20);
    expect(ip.totalLength).toBe(60);
    expect(ip.tos).toBe(0);
    expect(ip.ttl).toBe(64);
    expect(ip.protocol).toBe(6);
    expect(ip.dontFragment).toBe(true);
    expect(ip.moreFragments).toBe(false);
    expect(ip.isFragment).toBe(false);
    expect(ipv4ToString(ip.src)).toBe("10.0.0.2");
    expect(ipv4ToString(ip.dst)).toBe("192.0.2.7");
    expect(ip.payloadOffset).toBe(20);
    expect(ip.payloadLength).toBe(40);
    expect(ip.optionsLength).toBe(0);
    expect(ip.srcOffset).toBe(12);
    expect(ip.dstOffset).toBe(16);
  });

  it("reads the SYN-ACK's (TTL decremented by the router, id 0)", () => {
    const ip = new Ipv4Packet().wrap(synAck4);
    expect(ip.check()).toBe(Drop.OK);
    expect(ip.ttl).toBe(63);
    expect(ip.ident).toBe(0);
    expect(ipv4ToString(ip.src)).toBe("192.0.2.7");
  });

  it("reads fragments: first (MF, offset 0) and last (offset 2512, no MF)", () => {
    const first = new Ipv4Packet().wrap(fragFirst4);
    expect(first.check()).toBe(Drop.OK);
    expect([first.isFragment, first.moreFragments, first.fragmentOffset, first.dontFragment]).toEqual([true, true, 0, false]);
    const last = new Ipv4Packet().wrap(fragLast4);
    expect(last.check()).toBe(Drop.OK);
    expect([last.isFragment, last.moreFragments, last.fragmentOffset]).toEqual([true, false, 2512]);
    expect(last.ident).toBe(first.ident);
    expect(last.payloadLength).toBe(496);
  });

  it("reads the ICMP error's DSCP/ECN (tos 0xc0: CS6)", () => {
    const ip = new Ipv4Packet().wrap(fragNeeded4);
    expect(ip.check()).toBe(Drop.OK);
    expect(ip.tos).toBe(0xc0);
    expect(ip.dscp).toBe(48);
    expect(ip.ecn).toBe(0);
  });

  it("works at any offset of a larger buffer, and ignores trailing link-layer padding", () => {
    const { buf, off } = at(syn4, 7, 6);
    const ip = new Ipv4Packet().wrap(buf, off);
    expect(ip.check()).toBe(Drop.OK);
    expect(ip.available).toBe(66);
    expect(ip.payloadOffset).toBe(27);
    expect(ip.payloadLength).toBe(40);
  });
});

describe("Ipv4Packet.check drops malformed headers", () => {
  const ip = new Ipv4Packet();
  const mutate = (f: (b: Uint8Array) => void, base = syn4): Uint8Array => {
    const b = base.slice();
    f(b);
    return b;
  };

  it("truncated: shorter than 20 bytes, than IHL, than total length", () => {
    expect(ip.wrap(syn4, 0, 0).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(syn4, 0, 19).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(mutate((b) => (b[0] = 0x4f)), 0, 40).check(false)).toBe(Drop.TRUNCATED);
    expect(ip.wrap(syn4, 0, 59).check()).toBe(Drop.TRUNCATED);
  });

  it("truncated: a length past the end of the buffer (a caller's mistake) reads nothing out of bounds", () => {
    expect(ip.wrap(syn4, 0, 100).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(syn4, 50).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(syn4, -1, 20).check()).toBe(Drop.TRUNCATED);
  });

  it("bad version, bad IHL, total length below the header", () => {
    expect(ip.wrap(mutate((b) => (b[0] = 0x65))).check()).toBe(Drop.BAD_VERSION);
    expect(ip.wrap(mutate((b) => (b[0] = 0x44))).check()).toBe(Drop.BAD_HEADER_LENGTH);
    expect(ip.wrap(mutate((b) => (b[3] = 19))).check(false)).toBe(Drop.BAD_LENGTH);
  });

  it("bad checksum, unless checking is off", () => {
    const b = mutate((x) => (x[8] = 1));
    expect(ip.wrap(b).check()).toBe(Drop.BAD_CHECKSUM);
    expect(ip.wrap(b).check(false)).toBe(Drop.OK);
  });

  it("quoted: a total length past the bytes is allowed and carriedPayloadLength says what is there", () => {
    // fragNeeded4 quotes the first 548 bytes of a 1500-byte packet.
    const q = fragNeeded4.subarray(28);
    expect(ip.wrap(q).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(q).check(true, true)).toBe(Drop.OK);
    expect(ip.totalLength).toBe(1500);
    expect(ip.payloadLength).toBe(1480);
    expect(ip.carriedPayloadLength).toBe(548 - 20);
    // Still a drop when the header itself is cut.
    expect(ip.wrap(q, 0, 12).check(true, true)).toBe(Drop.TRUNCATED);
  });
});

describe("emitIpv4Header", () => {
  it("reproduces the Linux SYN's IP header byte for byte", () => {
    const f = ipv4Fields();
    const ip = new Ipv4Packet().wrap(syn4);
    f.src = ip.src;
    f.dst = ip.dst;
    f.protocol = 6;
    f.payloadLength = 40;
    f.ident = ip.ident;
    const out = new Uint8Array(20).fill(0xee);
    expect(emitIpv4Header(out, 0, f)).toBe(20);
    expect(out).toEqual(syn4.subarray(0, 20));
  });

  it("round-trips random fields, writing every byte of a stale buffer (fast-check)", () => {
    const buf = new Uint8Array(65535 + 3);
    fc.assert(
      fc.property(
        fc.record({
          src: fc.integer({ min: 0, max: 0xffffffff }),
          dst: fc.integer({ min: 0, max: 0xffffffff }),
          protocol: fc.integer({ min: 0, max: 255 }),
          payloadLength: fc.integer({ min: 0, max: 65535 - 20 }),
          ttl: fc.integer({ min: 0, max: 255 }),
          ident: fc.integer({ min: 0, max: 0xffff }),
          tos: fc.integer({ min: 0, max: 255 }),
          dontFragment: fc.boolean(),
          moreFragments: fc.boolean(),
          fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((u) => u * 8),
        }),
        fc.nat(3),
        fc.integer({ min: 0, max: 255 }),
        (f, off, stale) => {
          buf.fill(stale, off, off + 20);
          emitIpv4Header(buf, off, f);
          const ip = new Ipv4Packet().wrap(buf, off, 20 + f.payloadLength);
          expect(ip.check()).toBe(Drop.OK);
          expect(checksum(buf, off, 20)).toBe(0);
          expect({
            src: ip.src,
            dst: ip.dst,
            protocol: ip.protocol,
            payloadLength: ip.payloadLength,
            ttl: ip.ttl,
            ident: ip.ident,
            tos: ip.tos,
            dontFragment: ip.dontFragment,
            moreFragments: ip.moreFragments,
            fragmentOffset: ip.fragmentOffset,
          }).toEqual(f);
          expect(ip.headerLength).toBe(IPV4_MIN_HEADER);
          expect(ip.isFragment).toBe(f.moreFragments || f.fragmentOffset !== 0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("IPv4 address text", () => {
  it("prints and parses dotted quads", () => {
    expect(ipv4ToString(0xc0000207)).toBe("192.0.2.7");
    expect(ipv4ToString(0xffffffff)).toBe("255.255.255.255");
    expect(parseIpv4("10.0.0.2")).toBe(0x0a000002);
    expect(parseIpv4("255.255.255.255")).toBe(0xffffffff);
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-4", "a.b.c.d", "1..2.3", "1.2.3.1234"]) {
      expect(parseIpv4(bad)).toBe(-1);
    }
  });

  it("round-trips any address", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
        expect(parseIpv4(ipv4ToString(a))).toBe(a);
      }),
    );
  });
});
