/**
 * ICMPv4 (RFC 792, RFC 1191) and ICMPv6 (RFC 4443): echo, destination unreachable, fragmentation needed /
 * packet too big, time exceeded, with the quoted original packet of an error reachable as an offset.
 *
 *  |     Type      |     Code      |          Checksum             |
 *  |   rest of header (identifier + sequence, unused + MTU, ...)   |
 *  |   data: echo payload, or the invoking packet (as much as fits) |
 */
import { fitsIn, read16, read32, write16, write32 } from "./bytes.js";
import { checksum, checksumAdd, checksumFinish } from "./checksum.js";
import { Drop, type DropReason } from "./drop.js";

export const ICMP_HEADER = 8;

export const Icmpv4Type = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  SOURCE_QUENCH: 4,
  REDIRECT: 5,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
} as const;

/** Codes for Destination Unreachable (RFC 792, RFC 1191). */
export const Icmpv4UnreachCode = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  FRAG_NEEDED: 4,
  SOURCE_ROUTE_FAILED: 5,
  ADMIN_PROHIBITED: 13,
} as const;

export const Icmpv6Type = {
  DEST_UNREACHABLE: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAMETER_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  ROUTER_SOLICITATION: 133,
  ROUTER_ADVERTISEMENT: 134,
  NEIGHBOR_SOLICITATION: 135,
  NEIGHBOR_ADVERTISEMENT: 136,
  REDIRECT: 137,
} as const;

export const Icmpv6UnreachCode = {
  NO_ROUTE: 0,
  ADMIN_PROHIBITED: 1,
  ADDRESS: 3,
  PORT: 4,
} as const;

/** A view over an ICMPv4 or ICMPv6 message (the header layout is the same). */
export class IcmpPacket {
  bytes: Uint8Array = new Uint8Array(0);
  offset = 0;
  length = 0;

  wrap(bytes: Uint8Array, offset: number, length: number): this {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    return this;
  }

  /**
   * Validate length and checksum. ICMPv4's checksum covers the message alone (pass no pseudo sum);
   * ICMPv6's includes the IPv6 pseudo-header (RFC 4443 §2.3): pass pseudoSum6(..., 58, length).
   */
  check(verifyChecksum = true, pseudoSum = 0): DropReason {
    if (this.length < ICMP_HEADER || !fitsIn(this.bytes, this.offset, this.length)) return Drop.TRUNCATED;
    if (verifyChecksum && checksumFinish(checksumAdd(pseudoSum, this.bytes, this.offset, this.length)) !== 0) {
      return Drop.BAD_CHECKSUM;
    }
    return Drop.OK;
  }

  get type(): number {
    return this.bytes[this.offset]!;
  }
  get code(): number {
    return this.bytes[this.offset + 1]!;
  }
  get checksum(): number {
    return read16(this.bytes, this.offset + 2);
  }
  /** Echo identifier. */
  get ident(): number {
    return read16(this.bytes, this.offset + 4);
  }
  /** Echo sequence number. */
  get sequence(): number {
    return read16(this.bytes, this.offset + 6);
  }
  /** The four bytes after the checksum, as one number (the MTU field of "packet too big" in ICMPv6). */
  get restOfHeader(): number {
    return read32(this.bytes, this.offset + 4);
  }
  /** Next-hop MTU of ICMPv4 "fragmentation needed" (RFC 1191 §4: low 16 bits). */
  get nextHopMtu4(): number {
    return read16(this.bytes, this.offset + 6);
  }
  /** MTU of ICMPv6 "packet too big" (RFC 4443 §3.2). */
  get mtu6(): number {
    return read32(this.bytes, this.offset + 4);
  }
  /** Echo payload, or the quoted invoking packet of an error: starts after the 8-byte header. */
  get dataOffset(): number {
    return this.offset + ICMP_HEADER;
  }
  get dataLength(): number {
    return this.length - ICMP_HEADER;
  }
  /** Where an error's quoted invoking packet (its IP header first) starts: after the 8-byte header. */
  get quotedPacketOffset(): number {
    return this.offset + ICMP_HEADER;
  }
  /**
   * Bytes of the quoted invoking packet (usually cut short: check it with `check(..., quoted)`).
   * RFC 4884 §4-5: when an error carries extensions, the Length field (ICMPv4 byte 5, in 32-bit words;
   * ICMPv6 byte 4, in 64-bit words) bounds the original datagram; 0 means "all the rest" (RFC 792/4443).
   * Which family is told by the type's range: ICMPv6 errors are types 1..4, ICMPv4 errors 3..12 with
   * the Length field only on 3 (unreachable), 11 (time exceeded) and 12 (parameter problem).
   */
  quotedPacketLength(icmpv6: boolean): number {
    const rest = this.length - ICMP_HEADER;
    const t = this.type;
    let words = 0;
    if (icmpv6) {
      if (t === Icmpv6Type.DEST_UNREACHABLE || t === Icmpv6Type.TIME_EXCEEDED) words = this.bytes[this.offset + 4]! * 8;
    } else if (t === Icmpv4Type.DEST_UNREACHABLE || t === Icmpv4Type.TIME_EXCEEDED || t === Icmpv4Type.PARAMETER_PROBLEM) {
      words = this.bytes[this.offset + 5]! * 4;
    }
    return words > 0 && words <= rest ? words : rest;
  }
}

/** Is this ICMPv4 type an error (one that quotes a packet)? RFC 1122 §3.2.2. */
export function isIcmpv4Error(type: number): boolean {
  return (
    type === Icmpv4Type.DEST_UNREACHABLE ||
    type === Icmpv4Type.TIME_EXCEEDED ||
    type === Icmpv4Type.PARAMETER_PROBLEM ||
    type === 4 /* source quench */ ||
    type === 5 /* redirect */
  );
}

/** ICMPv6 error messages have types 0..127 (RFC 4443 §2.1). */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

/** Write an 8-byte ICMP header with checksum 0. Fill the checksum after the data is in place. */
export function emitIcmpHeader(b: Uint8Array, off: number, type: number, code: number, restOfHeader: number): number {
  b[off] = type;
  b[off + 1] = code;
  write16(b, off + 2, 0);
  write32(b, off + 4, restOfHeader);
  return ICMP_HEADER;
}

/** ICMPv4 checksum over the message alone. */
export function fillIcmpv4Checksum(b: Uint8Array, off: number, length: number): void {
  write16(b, off + 2, 0);
  write16(b, off + 2, checksum(b, off, length));
}

/** ICMPv6 checksum with the IPv6 pseudo-header sum (pseudoSum6(..., 58, length)). */
export function fillIcmpv6Checksum(b: Uint8Array, off: number, length: number, pseudoSum: number): void {
  write16(b, off + 2, 0);
  write16(b, off + 2, checksumFinish(checksumAdd(pseudoSum, b, off, length)));
}
