/**
 * ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2) and IPv6 (RFC 4443): what the engine answers and what it
 * learns.
 *
 * In:
 * - Echo Request -> Echo Reply for any unicast destination, as that destination (RFC 792 "the
 *   source and destination addresses are simply reversed"; RFC 4443 §4.2), same identifier, sequence
 *   and data. Requests to multicast or broadcast never reach here: the engine drops packets to them.
 *   A reply larger than the MTU (a reassembled big ping) goes out in IP fragments.
 * - Errors (Destination Unreachable, Fragmentation Needed / Packet Too Big, Time Exceeded, Parameter
 *   Problem): the quoted header of the packet we sent is parsed and handed to the engine's
 *   `IcmpErrorSink`, which finds the flow. Source Quench is ignored (RFC 6633 §1: "MUST ignore");
 *   Redirect is ignored (the engine does no routing).
 * - Anything else (echo replies nobody asked for, router and neighbour discovery, ...) is counted
 *   as ICMP_IGNORED.
 *
 * Out: errors about packets we received (UDP port unreachable, reassembly time exceeded).
 * - Never about an ICMP error, a fragment other than the first, a packet to multicast/broadcast, or a
 *   packet whose source is not one host (RFC 1122 §3.2.2; RFC 4443 §2.4(e)).
 * - They quote as much of the invoking packet as fits in 576 bytes for IPv4 (RFC 1812 §4.3.2.3; RFC
 *   1122 §3.2.2 asks for at least the IP header and 8 bytes) and 1280 for IPv6 (RFC 4443 §2.4(c)),
 *   and never more than the MTU.
 * - Rate-limited by a token bucket: one token per `config.icmpErrorIntervalMs`, at most
 *   ICMP_ERROR_BURST saved up (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f); Linux icmp_msgs_per_sec = 1000
 *   with icmp_msgs_burst = 50, which the default interval of 1 ms matches).
 */
import type { EngineConfig } from "../config.js";
import { isMulticastOrBroadcast4, isUnicast4, isUnicast6 } from "../ip/address.js";
import { ipHeaderLength, type AnyCallbacks, type IpOutput } from "../ip/output.js";
import { EngineDrop, type Counters } from "../stats.js";
import { read16, read32 } from "../wire/bytes.js";
import { pseudoSum6 } from "../wire/checksum.js";
import { Drop } from "../wire/drop.js";
import {
  emitIcmpHeader,
  fillIcmpv4Checksum,
  fillIcmpv6Checksum,
  ICMP_HEADER,
  IcmpPacket,
  Icmpv4Type,
  Icmpv4UnreachCode,
  Icmpv6Type,
  isIcmpv4Error,
} from "../wire/icmp.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { IPV4_MIN_HEADER } from "../wire/ipv4.js";
import { IPV6_HEADER, Ipv6Packet } from "../wire/ipv6.js";

/** Errors we may send in a burst after a quiet spell (Linux icmp_msgs_burst). */
export const ICMP_ERROR_BURST = 50;
/** Largest ICMPv4 error, IP header included (RFC 1812 §4.3.2.3). */
export const ICMPV4_ERROR_MAX = 576;
/** Largest ICMPv6 error, IPv6 header included (RFC 4443 §2.4(c): the minimum IPv6 MTU). */
export const ICMPV6_ERROR_MAX = 1280;
/** IPv6 minimum link MTU (RFC 8200 §5): a Packet Too Big never lowers a path MTU below it (RFC 8201 §4). */
export const IPV6_MIN_MTU = 1280;

/** RFC 1191 §7 plateau table, for "fragmentation needed" from routers that leave the MTU field 0. */
const MTU_PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68] as const;

/**
 * Where an ICMP error's quoted packet (one we sent) is handed: addresses and ports as the flow table
 * keys them (remote = the quoted destination, local = the quoted source). `mtu` is the next-hop MTU
 * of a "fragmentation needed" / "packet too big", else 0. Returns true if a flow acted on it.
 */
export interface IcmpErrorSink {
  icmpError(
    family: 4 | 6,
    protocol: number,
    bytes: Uint8Array,
    remoteAddrOff: number,
    localAddrOff: number,
    remotePort: number,
    localPort: number,
    mtu: number,
    /** The sequence number field of the quoted TCP header (RFC 5927 §4.1 checks it); 0 for UDP. */
    quotedSeq: number,
    /** A hard error (RFC 1122 §4.2.3.9: protocol or port unreachable, administratively prohibited). */
    hard: boolean,
    /** What the error says of the destination (IcmpErrorKind), for a connection that it ends. */
    kind: IcmpErrorKind,
  ): boolean;
}

/**
 * Destination-unreachable codes that are hard errors (RFC 1122 §4.2.3.9: protocol and port unreachable;
 * like Linux's icmp_err_convert also the administratively prohibited ones, RFC 1812 §5.2.7.1).
 */
const HARD_UNREACH_V4: ReadonlySet<number> = new Set([2, 3, 9, 10, 13]);
/** RFC 4443 §3.1: 1 administratively prohibited, 4 port unreachable (Linux icmpv6_err_convert). */
const HARD_UNREACH_V6: ReadonlySet<number> = new Set([1, 4]);

/**
 * What an ICMP error says of the destination, as Linux's icmp_err_convert and icmpv6_err_convert map
 * it to an errno: the network (ENETUNREACH), the host (EHOSTUNREACH: host unreachable, prohibited,
 * time exceeded, parameter problem), or the port or protocol (ECONNREFUSED). NONE for the path-MTU
 * messages, which only shrink the MSS.
 */
export const IcmpErrorKind = { NONE: 0, NET: 1, HOST: 2, REFUSED: 3 } as const;
export type IcmpErrorKind = (typeof IcmpErrorKind)[keyof typeof IcmpErrorKind];

/** RFC 792 / RFC 1812 §5.2.7.1 destination-unreachable codes 0..15. */
const UNREACH_KIND_V4: readonly IcmpErrorKind[] = [
  IcmpErrorKind.NET, // 0 net unreachable
  IcmpErrorKind.HOST, // 1 host unreachable
  IcmpErrorKind.REFUSED, // 2 protocol unreachable
  IcmpErrorKind.REFUSED, // 3 port unreachable
  IcmpErrorKind.NONE, // 4 fragmentation needed
  IcmpErrorKind.HOST, // 5 source route failed
  IcmpErrorKind.NET, // 6 destination network unknown
  IcmpErrorKind.HOST, // 7 destination host unknown
  IcmpErrorKind.HOST, // 8 source host isolated
  IcmpErrorKind.NET, // 9 network administratively prohibited
  IcmpErrorKind.HOST, // 10 host administratively prohibited
  IcmpErrorKind.NET, // 11 network unreachable for TOS
  IcmpErrorKind.HOST, // 12 host unreachable for TOS
  IcmpErrorKind.HOST, // 13 communication administratively prohibited
  IcmpErrorKind.HOST, // 14 host precedence violation
  IcmpErrorKind.HOST, // 15 precedence cutoff in effect
];

/** RFC 4443 §3.1 destination-unreachable codes 0..6. */
const UNREACH_KIND_V6: readonly IcmpErrorKind[] = [
  IcmpErrorKind.NET, // 0 no route to destination
  IcmpErrorKind.HOST, // 1 administratively prohibited
  IcmpErrorKind.HOST, // 2 beyond scope of source address
  IcmpErrorKind.HOST, // 3 address unreachable
  IcmpErrorKind.REFUSED, // 4 port unreachable
  IcmpErrorKind.HOST, // 5 source address failed ingress/egress policy
  IcmpErrorKind.NET, // 6 reject route to destination
];

export class Icmp {
  private readonly icmp = new IcmpPacket();
  private readonly quoted6 = new Ipv6Packet();
  private tokens = ICMP_ERROR_BURST;
  private refilledAt = -Infinity;

  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
    private readonly out: IpOutput,
    private readonly sink: IcmpErrorSink,
  ) {}

  /**
   * An ICMPv4 message at `icmpOff` (`icmpLen` bytes) of the IPv4 packet at `ipOff` (its addresses at
   * +12 and +16). The packet is not a fragment (reassembled if it was).
   */
  input4(cb: AnyCallbacks, bytes: Uint8Array, ipOff: number, icmpOff: number, icmpLen: number): void {
    const m = this.icmp.wrap(bytes, icmpOff, icmpLen);
    const bad = m.check(this.config.verifyChecksums);
    if (bad !== Drop.OK) return this.counters.drop(bad);
    const type = m.type;
    if (type === Icmpv4Type.ECHO_REQUEST) {
      if (m.code !== 0) return this.counters.drop(EngineDrop.ICMP_IGNORED);
      this.echoReply(cb, 4, bytes, ipOff + 12, ipOff + 16, ipOff, icmpOff, icmpLen);
      return;
    }
    if (!isIcmpv4Error(type)) return this.counters.drop(EngineDrop.ICMP_IGNORED);
    this.counters.icmpErrorsReceived++;
    if (type !== Icmpv4Type.DEST_UNREACHABLE && type !== Icmpv4Type.TIME_EXCEEDED && type !== Icmpv4Type.PARAMETER_PROBLEM) {
      return this.counters.drop(EngineDrop.ICMP_IGNORED); // source quench (RFC 6633), redirect
    }
    if (!this.quotedError4(m)) this.counters.drop(EngineDrop.ICMP_IGNORED);
  }

  /** An ICMPv6 message (the view `ip` has passed check(); the message is its upper-layer part). */
  input6(cb: AnyCallbacks, ip: Ipv6Packet): void {
    const bytes = ip.bytes;
    const m = this.icmp.wrap(bytes, ip.upperOffset, ip.upperLength);
    // RFC 4443 §2.3: the checksum covers the IPv6 pseudo-header.
    const pseudo = pseudoSum6(bytes, ip.offset, IpProtocol.ICMPV6, ip.upperLength);
    const bad = m.check(this.config.verifyChecksums, pseudo);
    if (bad !== Drop.OK) return this.counters.drop(bad);
    const type = m.type;
    if (type === Icmpv6Type.ECHO_REQUEST) {
      if (m.code !== 0) return this.counters.drop(EngineDrop.ICMP_IGNORED);
      this.echoReply(cb, 6, bytes, ip.srcOffset, ip.dstOffset, ip.offset, ip.upperOffset, ip.upperLength);
      return;
    }
    if (
      type !== Icmpv6Type.DEST_UNREACHABLE &&
      type !== Icmpv6Type.PACKET_TOO_BIG &&
      type !== Icmpv6Type.TIME_EXCEEDED &&
      type !== Icmpv6Type.PARAMETER_PROBLEM
    ) {
      return this.counters.drop(EngineDrop.ICMP_IGNORED);
    }
    this.counters.icmpErrorsReceived++;
    if (!this.quotedError6(m)) this.counters.drop(EngineDrop.ICMP_IGNORED);
  }

  /**
   * Send an ICMP error about the packet `bytes[ipOff .. ipOff+ipLen)` to its source, from its
   * destination. Returns false when the rules say no (see the module comment), the rate limit holds
   * it back, or no transmit buffer was available.
   */
  sendError(
    cb: AnyCallbacks,
    now: number,
    bytes: Uint8Array,
    ipOff: number,
    ipLen: number,
    type: number,
    code: number,
    restOfHeader: number,
  ): boolean {
    const family = bytes[ipOff]! >> 4;
    if (family === 4 ? !this.mayAnswer4(bytes, ipOff, ipLen) : family === 6 ? !this.mayAnswer6(bytes, ipOff, ipLen) : true) {
      return false;
    }
    if (!this.takeToken(now)) return false;
    const fam = family as 4 | 6;
    const hl = ipHeaderLength(fam);
    const cap = Math.min(fam === 4 ? ICMPV4_ERROR_MAX : ICMPV6_ERROR_MAX, this.config.mtu);
    const quote = Math.min(ipLen, cap - hl - ICMP_HEADER);
    if (quote < 0) return false;
    const icmpLen = ICMP_HEADER + quote;
    const size = hl + icmpLen;
    const buf = this.out.begin(cb, size);
    if (buf === undefined) {
      this.counters.drop(EngineDrop.NO_TX_BUFFER);
      return false;
    }
    const srcOff = ipOff + (fam === 4 ? 16 : 24); // we answer as the packet's destination
    const dstOff = ipOff + (fam === 4 ? 12 : 8);
    const protocol = fam === 4 ? IpProtocol.ICMP : IpProtocol.ICMPV6;
    const at = this.out.writeHeader(buf, this.out.head, fam, bytes, srcOff, dstOff, protocol, icmpLen, false);
    emitIcmpHeader(buf, at, type, code, restOfHeader);
    buf.set(bytes.subarray(ipOff, ipOff + quote), at + ICMP_HEADER);
    if (fam === 4) fillIcmpv4Checksum(buf, at, icmpLen);
    else fillIcmpv6Checksum(buf, at, icmpLen, pseudoSum6(buf, this.out.head, IpProtocol.ICMPV6, icmpLen));
    this.out.finish(cb, size);
    this.counters.icmpErrorsSent++;
    return true;
  }

  /** RFC 792 / RFC 4443 §4.2: the request with type changed, addresses swapped. */
  private echoReply(
    cb: AnyCallbacks,
    family: 4 | 6,
    bytes: Uint8Array,
    srcOff: number,
    dstOff: number,
    ipOff: number,
    icmpOff: number,
    icmpLen: number,
  ): void {
    const replyType = family === 4 ? Icmpv4Type.ECHO_REPLY : Icmpv6Type.ECHO_REPLY;
    const protocol = family === 4 ? IpProtocol.ICMP : IpProtocol.ICMPV6;
    // The pseudo-header sum adds source and destination, so the request's equals the reply's.
    const pseudo = family === 6 ? pseudoSum6(bytes, ipOff, IpProtocol.ICMPV6, icmpLen) : 0;
    let sent: boolean;
    if (icmpLen <= this.out.maxUnfragmented(family)) {
      const size = ipHeaderLength(family) + icmpLen;
      const buf = this.out.begin(cb, size);
      sent = buf !== undefined;
      if (buf !== undefined) {
        const at = this.out.writeHeader(buf, this.out.head, family, bytes, dstOff, srcOff, protocol, icmpLen, false);
        buf.set(bytes.subarray(icmpOff, icmpOff + icmpLen), at);
        buf[at] = replyType;
        buf[at + 1] = 0;
        if (family === 4) fillIcmpv4Checksum(buf, at, icmpLen);
        else fillIcmpv6Checksum(buf, at, icmpLen, pseudo);
        this.out.finish(cb, size);
      }
    } else {
      // A big (reassembled) request: build the reply whole, then fragment it. Rare; allocation is fine.
      const msg = bytes.slice(icmpOff, icmpOff + icmpLen);
      msg[0] = replyType;
      msg[1] = 0;
      if (family === 4) fillIcmpv4Checksum(msg, 0, icmpLen);
      else fillIcmpv6Checksum(msg, 0, icmpLen, pseudo);
      sent = this.out.sendDatagram(cb, family, bytes, dstOff, srcOff, protocol, msg, 0, icmpLen);
    }
    if (sent) this.counters.icmpEchoReplies++;
    else this.counters.drop(EngineDrop.NO_TX_BUFFER);
  }

  /** The IPv4 packet quoted by the error in `m`: find its flow. True if a flow took it. */
  private quotedError4(m: IcmpPacket): boolean {
    const b = m.bytes;
    const q = m.dataOffset;
    const avail = m.dataLength;
    if (avail < IPV4_MIN_HEADER || b[q]! >> 4 !== 4) return false;
    const qhl = (b[q]! & 0x0f) * 4;
    if (qhl < IPV4_MIN_HEADER || qhl + 8 > avail) return false;
    // Only the first fragment of what we sent carries the ports.
    if ((read16(b, q + 6) & 0x1fff) !== 0) return false;
    const protocol = b[q + 9]!;
    if (protocol !== IpProtocol.TCP && protocol !== IpProtocol.UDP) return false;
    let mtu = 0;
    if (m.type === Icmpv4Type.DEST_UNREACHABLE && m.code === Icmpv4UnreachCode.FRAG_NEEDED) {
      mtu = m.nextHopMtu4;
      const quotedTotal = read16(b, q + 2);
      // RFC 1191 §5: an old router sends 0; guess the next plateau below what we sent.
      if (mtu < 68 || mtu >= quotedTotal) mtu = plateauBelow(quotedTotal);
    }
    const l4 = q + qhl;
    const seq = protocol === IpProtocol.TCP ? read32(b, l4 + 4) : 0;
    const unreach = m.type === Icmpv4Type.DEST_UNREACHABLE;
    const hard = unreach && HARD_UNREACH_V4.has(m.code);
    const kind = unreach ? (UNREACH_KIND_V4[m.code] ?? IcmpErrorKind.HOST) : IcmpErrorKind.HOST;
    return this.sink.icmpError(4, protocol, b, q + 16, q + 12, read16(b, l4 + 2), read16(b, l4), mtu, seq, hard, kind);
  }

  /** The IPv6 packet quoted by the error in `m`: find its flow. True if a flow took it. */
  private quotedError6(m: IcmpPacket): boolean {
    const b = m.bytes;
    const q = m.dataOffset;
    const end = q + m.dataLength;
    if (m.dataLength < IPV6_HEADER + 8 || b[q]! >> 4 !== 6) return false;
    // Walk past extension headers we might have sent (only a first Fragment header, in practice).
    let nh = b[q + 6]!;
    let at = q + IPV6_HEADER;
    for (let n = 0; n < 4; n++) {
      if (nh === IpProtocol.IPV6_FRAGMENT) {
        if (at + 8 > end || (read16(b, at + 2) & 0xfff8) !== 0) return false;
      } else if (nh !== IpProtocol.HOP_BY_HOP && nh !== IpProtocol.IPV6_ROUTING && nh !== IpProtocol.IPV6_DEST_OPTS) {
        break;
      } else if (at + 2 > end) {
        return false;
      }
      const len = nh === IpProtocol.IPV6_FRAGMENT ? 8 : (b[at + 1]! + 1) * 8;
      nh = b[at]!;
      at += len;
    }
    if ((nh !== IpProtocol.TCP && nh !== IpProtocol.UDP) || at + 8 > end) return false;
    let mtu = 0;
    if (m.type === Icmpv6Type.PACKET_TOO_BIG) mtu = Math.max(IPV6_MIN_MTU, m.mtu6);
    const seq = nh === IpProtocol.TCP ? read32(b, at + 4) : 0;
    const unreach = m.type === Icmpv6Type.DEST_UNREACHABLE;
    const hard = unreach && HARD_UNREACH_V6.has(m.code);
    const kind =
      m.type === Icmpv6Type.PACKET_TOO_BIG
        ? IcmpErrorKind.NONE
        : unreach
          ? (UNREACH_KIND_V6[m.code] ?? IcmpErrorKind.HOST)
          : IcmpErrorKind.HOST;
    return this.sink.icmpError(6, nh, b, q + 24, q + 8, read16(b, at + 2), read16(b, at), mtu, seq, hard, kind);
  }

  /** RFC 1122 §3.2.2: may an IPv4 packet get an ICMP error? */
  private mayAnswer4(b: Uint8Array, ipOff: number, ipLen: number): boolean {
    if (ipLen < IPV4_MIN_HEADER) return false;
    if (!isUnicast4(read32(b, ipOff + 12)) || isMulticastOrBroadcast4(read32(b, ipOff + 16))) return false;
    if ((read16(b, ipOff + 6) & 0x1fff) !== 0) return false; // not the first fragment
    if (b[ipOff + 9] === IpProtocol.ICMP) {
      const hl = (b[ipOff]! & 0x0f) * 4;
      // An ICMP error, or one too short to tell: no error about it.
      if (hl >= ipLen || isIcmpv4Error(b[ipOff + hl]!)) return false;
    }
    return true;
  }

  /** RFC 4443 §2.4(e): may an IPv6 packet get an ICMPv6 error? */
  private mayAnswer6(b: Uint8Array, ipOff: number, ipLen: number): boolean {
    const ip = this.quoted6.wrap(b, ipOff, ipLen);
    if (ip.check() !== Drop.OK) return false;
    if (!isUnicast6(b, ip.srcOffset) || b[ip.dstOffset] === 0xff) return false;
    if (ip.isFragment && ip.fragmentOffset !== 0) return false;
    // An ICMPv6 error (types 0..127), or one too short to tell: no error about it.
    if (ip.upperProtocol === IpProtocol.ICMPV6 && (ip.upperLength < 1 || b[ip.upperOffset]! < 128)) return false;
    return true;
  }

  /** Token bucket: refill by elapsed time, spend one. */
  private takeToken(now: number): boolean {
    const interval = this.config.icmpErrorIntervalMs;
    if (interval <= 0) return true;
    if (this.refilledAt === -Infinity) this.refilledAt = now;
    const earned = (now - this.refilledAt) / interval;
    if (earned > 0) {
      this.tokens = Math.min(ICMP_ERROR_BURST, this.tokens + earned);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** RFC 1191 §7: the largest plateau below `size`. */
function plateauBelow(size: number): number {
  for (const p of MTU_PLATEAUS) if (p < size) return p;
  return 68;
}
