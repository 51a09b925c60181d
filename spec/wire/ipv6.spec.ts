import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checksumAdd, checksumFinish, pseudoSum6 } from "../../lib/wire/checksum.js";
import { Drop } from "../../lib/wire/drop.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import {
  IPV6_HEADER,
  IPV6_MAX_EXTENSION_HEADERS,
  Ipv6Packet,
  emitIpv6FragmentHeader,
  emitIpv6Header,
  ipv6Fields,
  ipv6ToString,
  parseIpv6,
} from "../../lib/wire/ipv6.js";
import { TcpPacket } from "../../lib/wire/tcp.js";
import { UdpPacket } from "../../lib/wire/udp.js";
import { at, fragmentHeader, optionsHeader, tcp6 } from "./builders.js";
import { fragLast6, hbhDstFragFirst6, hbhDstUdp6, packetTooBig6, syn6 } from "./fixtures/linux-captures.js";

const HBH = IpProtocol.HOP_BY_HOP;
const DST = IpProtocol.IPV6_DEST_OPTS;
const FRAG = IpProtocol.IPV6_FRAGMENT;

describe("Ipv6Packet on real Linux packets", () => {
  it("reads the SYN: fixed header, no extension headers, TCP at 40", () => {
    const ip = new Ipv6Packet().wrap(syn6);
    expect(ip.check()).toBe(Drop.OK);
    expect(ip.version).toBe(6);
    expect(ip.trafficClass).toBe(0);
    expect(ip.flowLabel).toBe(0x8049b);
    expect(ip.payloadLength).toBe(40);
    expect(ip.nextHeader).toBe(IpProtocol.TCP);
    expect(ip.hopLimit).toBe(64);
    expect(ipv6ToString(syn6, ip.srcOffset)).toBe("2001:db8:1::2");
    expect(ipv6ToString(syn6, ip.dstOffset)).toBe("2001:db8:2::7");
    expect([ip.upperProtocol, ip.upperOffset, ip.upperLength, ip.extensionHeaderCount]).toEqual([6, 40, 40, 0]);
    expect(ip.isFragment).toBe(false);
  });

  it("walks Linux's Hop-by-Hop + Destination Options chain to UDP (checksum verifies)", () => {
    const ip = new Ipv6Packet().wrap(hbhDstUdp6);
    expect(ip.check()).toBe(Drop.OK);
    expect(ip.nextHeader).toBe(HBH);
    expect([ip.upperProtocol, ip.upperOffset, ip.upperLength, ip.extensionHeaderCount]).toEqual([17, 56, 48, 2]);
    const udp = new UdpPacket().wrap(hbhDstUdp6, ip.upperOffset, ip.upperLength);
    expect(udp.check(pseudoSum6(hbhDstUdp6, 0, 17, ip.upperLength), true)).toBe(Drop.OK);
    expect([udp.srcPort, udp.dstPort, udp.payloadLength]).toEqual([41006, 5353, 40]);
  });

  it("walks Hop-by-Hop + Destination Options + Fragment (first fragment) and stops after the Fragment header", () => {
    const ip = new Ipv6Packet().wrap(hbhDstFragFirst6);
    expect(ip.check()).toBe(Drop.OK);
    expect(ip.extensionHeaderCount).toBe(3);
    expect(ip.hasFragmentHeader).toBe(true);
    expect(ip.isFragment).toBe(true);
    expect([ip.fragmentOffset, ip.moreFragments, ip.fragmentIdent]).toEqual([0, true, 0xe8f4b3e0]);
    expect(ip.fragmentHeaderOffset).toBe(56);
    expect([ip.upperProtocol, ip.upperOffset, ip.upperLength]).toEqual([17, 64, 1216]);
  });

  it("reads the last fragment of a datagram (offset 2464, M clear)", () => {
    const ip = new Ipv6Packet().wrap(fragLast6);
    expect(ip.check()).toBe(Drop.OK);
    expect([ip.isFragment, ip.fragmentOffset, ip.moreFragments, ip.upperProtocol, ip.upperLength]).toEqual([true, 2464, false, 17, 544]);
  });

  it("checks the quoted packet of a Packet Too Big with `quoted`: its payload length exceeds the quote", () => {
    const q = packetTooBig6.subarray(48);
    const ip = new Ipv6Packet();
    expect(ip.wrap(q).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(q).check(true)).toBe(Drop.OK);
    expect(ip.payloadLength).toBe(1460);
    expect([ip.upperProtocol, ip.upperOffset, ip.upperLength]).toEqual([6, 40, q.length - 40]);
    const tcp = new TcpPacket().wrap(q, ip.upperOffset, ip.upperLength);
    expect(tcp.check()).toBe(Drop.OK);
    expect([tcp.srcPort, tcp.dstPort]).toEqual([41001, 80]);
  });
});

describe("Ipv6Packet extension header walk (hand-built chains)", () => {
  const ip = new Ipv6Packet();
  const src = "2001:db8::1";
  const dst = "2001:db8::2";
  const seg = { srcPort: 1, dstPort: 2, seq: 3, flags: 0x02, window: 100 };

  it("Hop-by-Hop + Destination Options (16 bytes) + Fragment (non-first) + TCP", () => {
    const p = tcp6(src, dst, seg, [
      { type: HBH, bytes: optionsHeader(8) },
      { type: DST, bytes: optionsHeader(16) },
      { type: FRAG, bytes: fragmentHeader(1232, true, 0xdeadbeef) },
    ]);
    expect(ip.wrap(p).check()).toBe(Drop.OK);
    expect(ip.extensionHeaderCount).toBe(3);
    expect([ip.fragmentOffset, ip.moreFragments, ip.fragmentIdent, ip.fragmentHeaderOffset]).toEqual([1232, true, 0xdeadbeef, 64]);
    expect([ip.upperProtocol, ip.upperOffset, ip.upperLength]).toEqual([6, 72, 20]);
  });

  it("an atomic fragment (offset 0, M clear; RFC 6946) is walked through to TCP and verifies", () => {
    const p = tcp6(src, dst, seg, [
      { type: HBH, bytes: optionsHeader(8) },
      { type: FRAG, bytes: fragmentHeader(0, false, 7) },
      { type: DST, bytes: optionsHeader(8) },
    ]);
    expect(ip.wrap(p).check()).toBe(Drop.OK);
    expect(ip.hasFragmentHeader).toBe(true);
    expect(ip.isFragment).toBe(false);
    expect([ip.upperProtocol, ip.upperOffset, ip.upperLength]).toEqual([6, 64, 20]);
    const tcp = new TcpPacket().wrap(p, ip.upperOffset, ip.upperLength);
    expect(tcp.check(pseudoSum6(p, 0, 6, ip.upperLength))).toBe(Drop.OK);
  });

  it("walks a Routing header and an AH header (RFC 4302 length in 4-byte units minus 2)", () => {
    const routing = optionsHeader(24);
    const ah = new Uint8Array(24);
    ah[1] = 24 / 4 - 2;
    const p = tcp6(src, dst, seg, [
      { type: IpProtocol.IPV6_ROUTING, bytes: routing },
      { type: IpProtocol.AH, bytes: ah },
    ]);
    expect(ip.wrap(p).check()).toBe(Drop.OK);
    expect([ip.upperProtocol, ip.upperOffset, ip.extensionHeaderCount]).toEqual([6, 88, 2]);
  });

  it("stops at ESP and No Next Header as upper protocols", () => {
    const p = tcp6(src, dst, seg, [{ type: DST, bytes: optionsHeader(8) }]);
    p[40] = IpProtocol.ESP;
    expect(ip.wrap(p).check()).toBe(Drop.OK);
    expect([ip.upperProtocol, ip.upperOffset]).toEqual([IpProtocol.ESP, 48]);
    p[6] = IpProtocol.IPV6_NO_NEXT;
    expect(ip.wrap(p).check()).toBe(Drop.OK);
    expect([ip.upperProtocol, ip.upperOffset]).toEqual([IpProtocol.IPV6_NO_NEXT, 40]);
  });

  it("drops Hop-by-Hop anywhere but first (RFC 8200 §4.3)", () => {
    const p = tcp6(src, dst, seg, [
      { type: DST, bytes: optionsHeader(8) },
      { type: HBH, bytes: optionsHeader(8) },
    ]);
    expect(ip.wrap(p).check()).toBe(Drop.BAD_EXTENSION_CHAIN);
  });

  it("drops a second Fragment header", () => {
    const p = tcp6(src, dst, seg, [
      { type: FRAG, bytes: fragmentHeader(0, false, 1) },
      { type: FRAG, bytes: fragmentHeader(0, false, 2) },
    ]);
    expect(ip.wrap(p).check()).toBe(Drop.BAD_EXTENSION_CHAIN);
  });

  it("bounds the walk: more than IPV6_MAX_EXTENSION_HEADERS headers is a drop", () => {
    const chain = (n: number) => Array.from({ length: n }, () => ({ type: DST, bytes: optionsHeader(8) }));
    expect(ip.wrap(tcp6(src, dst, seg, chain(IPV6_MAX_EXTENSION_HEADERS))).check()).toBe(Drop.OK);
    expect(ip.wrap(tcp6(src, dst, seg, chain(IPV6_MAX_EXTENSION_HEADERS + 1))).check()).toBe(Drop.BAD_EXTENSION_CHAIN);
  });

  it("drops an extension header running past the payload", () => {
    const p = tcp6(src, dst, seg, [{ type: DST, bytes: optionsHeader(8) }]);
    p[41] = 10; // (10 + 1) * 8 = 88 bytes, only 28 left
    expect(ip.wrap(p).check()).toBe(Drop.TRUNCATED);
    // A Fragment header cut short.
    const f = tcp6(src, dst, seg, [{ type: FRAG, bytes: fragmentHeader(8, false, 1) }]);
    f[5] = 4; // payload length 4
    expect(ip.wrap(f).check()).toBe(Drop.TRUNCATED);
    expect(ip.upperLength).toBe(0); // reset, not a stale value from the previous packet
  });

  it("drops short packets, a bad version, a payload length past the bytes, and a wrong wrap length", () => {
    const p = tcp6(src, dst, seg);
    expect(ip.wrap(p, 0, 39).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(p, 0, p.length - 1).check()).toBe(Drop.TRUNCATED);
    expect(ip.wrap(p, 0, p.length + 1).check()).toBe(Drop.TRUNCATED);
    const v = p.slice();
    v[0] = 0x45;
    expect(ip.wrap(v).check()).toBe(Drop.BAD_VERSION);
    // Trailing bytes beyond the payload length are padding.
    const { buf, off } = at(p, 3, 10);
    expect(ip.wrap(buf, off).check()).toBe(Drop.OK);
    expect(ip.upperLength).toBe(20);
  });
});

describe("emitIpv6Header and emitIpv6FragmentHeader", () => {
  it("reproduces the Linux SYN's fixed header byte for byte", () => {
    const f = ipv6Fields();
    f.addrBytes.set(syn6.subarray(8, 40));
    f.nextHeader = 6;
    f.payloadLength = 40;
    f.flowLabel = 0x8049b;
    const out = new Uint8Array(40).fill(0xaa);
    expect(emitIpv6Header(out, 0, f)).toBe(IPV6_HEADER);
    expect(out).toEqual(syn6.subarray(0, 40));
  });

  it("reproduces the Linux last fragment's Fragment header", () => {
    const out = new Uint8Array(8).fill(0xaa);
    emitIpv6FragmentHeader(out, 0, 17, 2464, false, 0x6b8deafc);
    expect(out).toEqual(fragLast6.subarray(40, 48));
  });

  it("round-trips random fields, with and without a Fragment header (fast-check)", () => {
    const upper = fc.constantFrom(6, 17, 58, 59, 50, 132, 255);
    fc.assert(
      fc.property(
        fc.record({
          trafficClass: fc.integer({ min: 0, max: 255 }),
          flowLabel: fc.integer({ min: 0, max: 0xfffff }),
          hopLimit: fc.integer({ min: 0, max: 255 }),
          upper,
          upperLength: fc.integer({ min: 0, max: 3000 }),
          addrs: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        }),
        fc.option(
          fc.record({
            offset: fc.integer({ min: 0, max: 0x1fff }).map((u) => u * 8),
            more: fc.boolean(),
            ident: fc.integer({ min: 0, max: 0xffffffff }),
          }),
        ),
        fc.nat(3),
        (h, frag, off) => {
          const extLen = frag ? 8 : 0;
          const buf = new Uint8Array(off + 40 + extLen + h.upperLength).fill(0x5a);
          const f = ipv6Fields();
          f.addrBytes = h.addrs;
          f.trafficClass = h.trafficClass;
          f.flowLabel = h.flowLabel;
          f.hopLimit = h.hopLimit;
          f.nextHeader = frag ? FRAG : h.upper;
          f.payloadLength = extLen + h.upperLength;
          emitIpv6Header(buf, off, f);
          if (frag) emitIpv6FragmentHeader(buf, off + 40, h.upper, frag.offset, frag.more, frag.ident);
          const ip = new Ipv6Packet().wrap(buf, off);
          expect(ip.check()).toBe(Drop.OK);
          expect([ip.version, ip.trafficClass, ip.flowLabel, ip.hopLimit]).toEqual([6, h.trafficClass, h.flowLabel, h.hopLimit]);
          expect(buf.subarray(ip.srcOffset, ip.srcOffset + 16)).toEqual(h.addrs.subarray(0, 16));
          expect(buf.subarray(ip.dstOffset, ip.dstOffset + 16)).toEqual(h.addrs.subarray(16, 32));
          expect([ip.upperProtocol, ip.upperOffset, ip.upperLength]).toEqual([h.upper, off + 40 + extLen, h.upperLength]);
          expect(ip.hasFragmentHeader).toBe(frag !== null);
          if (frag) {
            expect([ip.fragmentOffset, ip.moreFragments, ip.fragmentIdent]).toEqual([frag.offset, frag.more, frag.ident]);
            expect(ip.isFragment).toBe(frag.offset !== 0 || frag.more);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("IPv6 address text", () => {
  const text = (s: string): string => {
    const b = new Uint8Array(16);
    expect(parseIpv6(s, b, 0)).toBe(true);
    return ipv6ToString(b, 0);
  };

  it("prints RFC 5952 canonical text", () => {
    expect(text("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(text("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1"); // first of equal runs
    expect(text("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1"); // a single zero is not "::"
    expect(text("::")).toBe("::");
    expect(text("::1")).toBe("::1");
    expect(text("fe80::")).toBe("fe80::");
    expect(text("::ffff:192.0.2.7")).toBe("::ffff:192.0.2.7");
    expect(text("2001:DB8::A")).toBe("2001:db8::a");
    expect(text("fe80::1%eth0")).toBe("fe80::1");
    expect(text("64:ff9b::192.0.2.33")).toBe("64:ff9b::c000:221");
  });

  it("rejects malformed text", () => {
    const b = new Uint8Array(16);
    for (const bad of ["", ":", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::", "::a1.2.3.4", "::1.2.3.256", "1.2.3.4", "::1.2.3", ":1:2:3:4:5:6:7"]) {
      expect(parseIpv6(bad, b, 0), bad).toBe(false);
    }
  });

  it("round-trips any 16 bytes through text", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (a) => {
        const b = new Uint8Array(16);
        expect(parseIpv6(ipv6ToString(a, 0), b, 0)).toBe(true);
        expect(b).toEqual(a);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("IPv6 pseudo-header with extension headers", () => {
  it("uses the upper-layer length, not the payload length (RFC 8200 §8.1)", () => {
    const p = tcp6("2001:db8::1", "2001:db8::2", { srcPort: 1, dstPort: 2, flags: 0x02 }, [{ type: HBH, bytes: optionsHeader(8) }]);
    const ip = new Ipv6Packet().wrap(p);
    expect(ip.check()).toBe(Drop.OK);
    expect(checksumFinish(checksumAdd(pseudoSum6(p, 0, 6, ip.upperLength), p, ip.upperOffset, ip.upperLength))).toBe(0);
  });
});
