import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pseudoSum6 } from "../../lib/wire/checksum.js";
import { Drop } from "../../lib/wire/drop.js";
import {
  ICMP_HEADER,
  IcmpPacket,
  Icmpv4Type,
  Icmpv4UnreachCode,
  Icmpv6Type,
  Icmpv6UnreachCode,
  emitIcmpHeader,
  fillIcmpv4Checksum,
  fillIcmpv6Checksum,
  isIcmpv4Error,
  isIcmpv6Error,
} from "../../lib/wire/icmp.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { Ipv4Packet, ipv4ToString } from "../../lib/wire/ipv4.js";
import { Ipv6Packet } from "../../lib/wire/ipv6.js";
import { TcpPacket } from "../../lib/wire/tcp.js";
import { UdpPacket } from "../../lib/wire/udp.js";
import { icmp4, icmp6, tcp4 } from "./builders.js";
import {
  data4,
  echoReply4,
  echoReply6,
  echoRequest4,
  echoRequest6,
  fragNeeded4,
  packetTooBig6,
  portUnreachable4,
  portUnreachable6,
  udp4,
  udp6,
} from "./fixtures/linux-captures.js";

const icmp = new IcmpPacket();
const inner4 = new Ipv4Packet();
const inner6 = new Ipv6Packet();

describe("ICMP echo from a Linux ping socket", () => {
  it("IPv4 request and the kernel's reply: id, sequence, 56 data bytes, checksum", () => {
    for (const [p, type] of [
      [echoRequest4, Icmpv4Type.ECHO_REQUEST],
      [echoReply4, Icmpv4Type.ECHO_REPLY],
    ] as const) {
      expect(icmp.wrap(p, 20, p.length - 20).check()).toBe(Drop.OK);
      expect([icmp.type, icmp.code, icmp.ident, icmp.sequence, icmp.dataOffset, icmp.dataLength]).toEqual([type, 0, 46845, 2, 28, 56]);
    }
    expect(Array.from(echoRequest4.subarray(28, 36))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("IPv6 request and reply verify only with the IPv6 pseudo-header (RFC 4443 §2.3)", () => {
    for (const [p, type] of [
      [echoRequest6, Icmpv6Type.ECHO_REQUEST],
      [echoReply6, Icmpv6Type.ECHO_REPLY],
    ] as const) {
      expect(icmp.wrap(p, 40, 64).check(true, pseudoSum6(p, 0, IpProtocol.ICMPV6, 64))).toBe(Drop.OK);
      expect([icmp.type, icmp.ident, icmp.sequence, icmp.dataLength]).toEqual([type, 46846, 2, 56]);
      expect(icmp.check(true)).toBe(Drop.BAD_CHECKSUM);
    }
  });

  it("emitIcmpHeader + fillIcmpv4Checksum reproduce the kernel's echo reply", () => {
    const out = echoReply4.slice();
    out.fill(0x77, 20, 28);
    emitIcmpHeader(out, 20, Icmpv4Type.ECHO_REPLY, 0, (46845 << 16) | 2);
    fillIcmpv4Checksum(out, 20, 64);
    expect(out).toEqual(echoReply4);
  });

  it("emitIcmpHeader + fillIcmpv6Checksum reproduce the kernel's ICMPv6 echo reply", () => {
    const out = echoReply6.slice();
    out.fill(0x77, 40, 48);
    emitIcmpHeader(out, 40, Icmpv6Type.ECHO_REPLY, 0, (46846 << 16) | 2);
    fillIcmpv6Checksum(out, 40, 64, pseudoSum6(out, 0, IpProtocol.ICMPV6, 64));
    expect(out).toEqual(echoReply6);
  });
});

describe("ICMP errors quoting the invoking packet (real Linux captures)", () => {
  it("port unreachable quotes the whole UDP datagram, byte for byte", () => {
    expect(icmp.wrap(portUnreachable4, 20, 68).check()).toBe(Drop.OK);
    expect([icmp.type, icmp.code]).toEqual([Icmpv4Type.DEST_UNREACHABLE, Icmpv4UnreachCode.PORT]);
    expect(isIcmpv4Error(icmp.type)).toBe(true);
    expect([icmp.quotedPacketOffset, icmp.quotedPacketLength(false)]).toEqual([28, 60]);
    const q = portUnreachable4.subarray(icmp.quotedPacketOffset, icmp.quotedPacketOffset + icmp.quotedPacketLength(false));
    expect(inner4.wrap(q).check(true, true)).toBe(Drop.OK);
    const u = new UdpPacket().wrap(q, inner4.payloadOffset, inner4.carriedPayloadLength);
    expect(u.check()).toBe(Drop.OK);
    expect([ipv4ToString(inner4.src), u.srcPort, ipv4ToString(inner4.dst), u.dstPort]).toEqual(["10.0.0.2", 41002, "192.0.2.7", 9]);
    // The quote is the datagram as B received it: TTL one less (the router), all else the same.
    expect(q.subarray(20)).toEqual(udp4.subarray(20));
    expect(inner4.ttl).toBe(63);
  });

  it("fragmentation needed: next-hop MTU 1280 (RFC 1191) and the quoted TCP header of a 1500-byte segment", () => {
    expect(icmp.wrap(fragNeeded4, 20, 556).check()).toBe(Drop.OK);
    expect([icmp.type, icmp.code, icmp.nextHopMtu4]).toEqual([3, Icmpv4UnreachCode.FRAG_NEEDED, 1280]);
    expect(icmp.quotedPacketLength(false)).toBe(548);
    const q = fragNeeded4.subarray(icmp.quotedPacketOffset, icmp.quotedPacketOffset + 548);
    expect(inner4.wrap(q).check(true, true)).toBe(Drop.OK);
    expect([inner4.totalLength, inner4.carriedPayloadLength]).toEqual([1500, 528]);
    const t = new TcpPacket().wrap(q, inner4.payloadOffset, inner4.carriedPayloadLength);
    expect(t.check()).toBe(Drop.OK);
    expect([t.srcPort, t.dstPort, t.seq, t.ack]).toEqual([41000, 80, 3893988007, 82572185]);
    expect(q).toEqual(data4.subarray(0, 548));
  });

  it("ICMPv6 packet too big: MTU 1280 (RFC 4443 §3.2), quoted TCP over IPv6", () => {
    expect(icmp.wrap(packetTooBig6, 40, 1240).check(true, pseudoSum6(packetTooBig6, 0, IpProtocol.ICMPV6, 1240))).toBe(Drop.OK);
    expect([icmp.type, icmp.code, icmp.mtu6, icmp.restOfHeader]).toEqual([Icmpv6Type.PACKET_TOO_BIG, 0, 1280, 1280]);
    expect(isIcmpv6Error(icmp.type)).toBe(true);
    const q = packetTooBig6.subarray(icmp.quotedPacketOffset, icmp.quotedPacketOffset + icmp.quotedPacketLength(true));
    expect(q.length).toBe(1232);
    expect(inner6.wrap(q).check(true)).toBe(Drop.OK);
    const t = new TcpPacket().wrap(q, inner6.upperOffset, inner6.upperLength);
    expect(t.check()).toBe(Drop.OK);
    expect([t.srcPort, t.dstPort]).toEqual([41001, 80]);
  });

  it("ICMPv6 port unreachable quotes the whole UDP datagram", () => {
    expect(icmp.wrap(portUnreachable6, 40, 88).check(true, pseudoSum6(portUnreachable6, 0, 58, 88))).toBe(Drop.OK);
    expect([icmp.type, icmp.code]).toEqual([Icmpv6Type.DEST_UNREACHABLE, Icmpv6UnreachCode.PORT]);
    const q = portUnreachable6.subarray(icmp.quotedPacketOffset, icmp.quotedPacketOffset + icmp.quotedPacketLength(true));
    expect(q.subarray(8)).toEqual(udp6.subarray(8)); // all but the hop limit word
    expect(inner6.wrap(q).check()).toBe(Drop.OK);
  });
});

describe("IcmpPacket", () => {
  it("quotedPacketLength honours an RFC 4884 length, ignoring an impossible one", () => {
    const quoted = tcp4("10.0.0.2", "192.0.2.7", { srcPort: 1, dstPort: 2, flags: 2 });
    const data = new Uint8Array(128 + 16);
    data.set(quoted);
    // ICMPv4 time exceeded with Length = 32 words (128 bytes) in byte 5; an extension follows.
    const p = icmp4("10.0.0.1", "10.0.0.2", Icmpv4Type.TIME_EXCEEDED, 0, 32 << 16, data);
    expect(icmp.wrap(p, 20, p.length - 20).check()).toBe(Drop.OK);
    expect(icmp.quotedPacketLength(false)).toBe(128);
    const big = icmp4("10.0.0.1", "10.0.0.2", Icmpv4Type.TIME_EXCEEDED, 0, 200 << 16, data);
    expect(icmp.wrap(big, 20, big.length - 20).quotedPacketLength(false)).toBe(144);
    // ICMPv6 unreachable: Length in 64-bit words in byte 4.
    const p6 = icmp6("2001:db8::1", "2001:db8::2", Icmpv6Type.DEST_UNREACHABLE, 4, 16 << 24, data);
    expect(icmp.wrap(p6, 40, p6.length - 40).quotedPacketLength(true)).toBe(128);
    // Packet Too Big's 32-bit field is the MTU, not a length.
    const ptb = icmp6("2001:db8::1", "2001:db8::2", Icmpv6Type.PACKET_TOO_BIG, 0, 1280, data);
    expect(icmp.wrap(ptb, 40, ptb.length - 40).quotedPacketLength(true)).toBe(144);
  });

  it("drops a message under 8 bytes, a bad checksum, a wrong wrap length", () => {
    expect(icmp.wrap(echoRequest4, 20, 7).check()).toBe(Drop.TRUNCATED);
    expect(icmp.wrap(echoRequest4, 20, 65).check()).toBe(Drop.TRUNCATED);
    expect(icmp.wrap(echoRequest4, 20, 63).check()).toBe(Drop.BAD_CHECKSUM);
    expect(icmp.wrap(echoRequest4, 20, 63).check(false)).toBe(Drop.OK);
  });

  it("classifies error types", () => {
    expect([0, 3, 4, 5, 8, 11, 12, 13].map(isIcmpv4Error)).toEqual([false, true, true, true, false, true, true, false]);
    expect([1, 2, 3, 4, 127, 128, 129, 135].map(isIcmpv6Error)).toEqual([true, true, true, true, true, false, false, false]);
  });

  it("echo round-trips id, sequence and data over ICMPv4 and ICMPv6 (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 1400 }),
        fc.boolean(),
        (id, seq, data, v6) => {
          const p = v6
            ? icmp6("2001:db8::1", "2001:db8::2", Icmpv6Type.ECHO_REQUEST, 0, ((id << 16) | seq) >>> 0, data)
            : icmp4("10.0.0.1", "10.0.0.2", Icmpv4Type.ECHO_REQUEST, 0, ((id << 16) | seq) >>> 0, data);
          const ipLen = v6 ? 40 : 20;
          const len = ICMP_HEADER + data.length;
          const r = icmp.wrap(p, ipLen, len).check(true, v6 ? pseudoSum6(p, 0, 58, len) : 0);
          expect(r).toBe(Drop.OK);
          expect([icmp.type, icmp.code, icmp.ident, icmp.sequence, icmp.dataLength]).toEqual([v6 ? 128 : 8, 0, id, seq, data.length]);
          expect(p.subarray(icmp.dataOffset)).toEqual(data);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
