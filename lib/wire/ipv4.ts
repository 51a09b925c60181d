/**
 * IPv4 header (RFC 791 §3.1).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  |         Identification        |Flags|      Fragment Offset    |
 *  |  Time to Live |    Protocol   |         Header Checksum       |
 *  |                       Source Address                          |
 *  |                    Destination Address                        |
 *  |                    Options                    |    Padding    |
 */
import { fitsIn, read16, read32, write16, write32 } from "./bytes.js";
import { checksum, checksumAdd, checksumFinish } from "./checksum.js";
import { Drop, type DropReason } from "./drop.js";

export const IPV4_MIN_HEADER = 20;

const F = {
  VER_IHL: 0,
  TOS: 1,
  TOTAL_LEN: 2,
  IDENT: 4,
  FLAGS_FRAG: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
} as const;

/*
 * The getters below write the offsets of F (and the masks) as number literals: a getter whose bytecode
 * is at most 27 bytes is one V8's optimizer always inlines (max_inlined_bytecode_size_small), whatever
 * inlining budget the caller has left; `F.X` costs a property load and takes a getter past that.
 */
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

/**
 * A view over an IPv4 packet at `offset` in `bytes`. Re-point it with `wrap()`; it allocates nothing.
 * After `check()` returned Drop.OK no getter reads out of bounds.
 */
export class Ipv4Packet {
  bytes: Uint8Array = new Uint8Array(0);
  offset = 0;
  /** Bytes available from `offset` (the buffer's view of the packet; may exceed totalLength). */
  available = 0;

  wrap(bytes: Uint8Array, offset = 0, length = bytes.length - offset): this {
    this.bytes = bytes;
    this.offset = offset;
    this.available = length;
    return this;
  }

  /**
   * Validate lengths, version and (when `verifyChecksum`) the header checksum.
   * Trailing bytes past total length (Ethernet padding) are allowed: payload ends at totalLength.
   *
   * `quoted`: the packet is the invoking packet quoted in an ICMP error (RFC 792, RFC 1812 §4.3.2.3),
   * which is usually cut short: a total length past the available bytes is then allowed, and
   * `carriedPayloadLength` says how much of the payload is really there.
   */
  check(verifyChecksum = true, quoted = false): DropReason {
    if (this.available < IPV4_MIN_HEADER || !fitsIn(this.bytes, this.offset, this.available)) return Drop.TRUNCATED;
    if (this.version !== 4) return Drop.BAD_VERSION;
    const hl = this.headerLength;
    if (hl < IPV4_MIN_HEADER) return Drop.BAD_HEADER_LENGTH;
    if (hl > this.available) return Drop.TRUNCATED;
    const total = this.totalLength;
    if (total < hl) return Drop.BAD_LENGTH;
    if (total > this.available && !quoted) return Drop.TRUNCATED;
    if (verifyChecksum && checksum(this.bytes, this.offset, hl) !== 0) return Drop.BAD_CHECKSUM;
    return Drop.OK;
  }

  get version(): number {
    return this.bytes[this.offset]! >> 4; // F.VER_IHL
  }
  /** Header length in bytes (IHL * 4). */
  get headerLength(): number {
    return (this.bytes[this.offset]! & 0x0f) * 4; // F.VER_IHL
  }
  get tos(): number {
    return this.bytes[this.offset + 1]!; // F.TOS
  }
  get dscp(): number {
    return this.tos >> 2;
  }
  get ecn(): number {
    return this.tos & 3;
  }
  get totalLength(): number {
    return read16(this.bytes, this.offset + 2); // F.TOTAL_LEN
  }
  get ident(): number {
    return read16(this.bytes, this.offset + 4); // F.IDENT
  }
  get dontFragment(): boolean {
    return (read16(this.bytes, this.offset + 6) & FLAG_DF) !== 0; // F.FLAGS_FRAG
  }
  get moreFragments(): boolean {
    return (read16(this.bytes, this.offset + 6) & FLAG_MF) !== 0; // F.FLAGS_FRAG
  }
  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number {
    return (read16(this.bytes, this.offset + 6) & FRAG_MASK) * 8; // F.FLAGS_FRAG
  }
  /** A fragment of a larger datagram: MF set or a non-zero offset. */
  get isFragment(): boolean {
    return (read16(this.bytes, this.offset + 6) & 0x3fff) !== 0; // F.FLAGS_FRAG; FLAG_MF | FRAG_MASK
  }
  get ttl(): number {
    return this.bytes[this.offset + 8]!; // F.TTL
  }
  get protocol(): number {
    return this.bytes[this.offset + 9]!; // F.PROTOCOL
  }
  get headerChecksum(): number {
    return read16(this.bytes, this.offset + 10); // F.CHECKSUM
  }
  /** Source address as an unsigned 32-bit number. */
  get src(): number {
    return read32(this.bytes, this.offset + 12); // F.SRC
  }
  get dst(): number {
    return read32(this.bytes, this.offset + 16); // F.DST
  }
  /** Absolute offset in `bytes` of the source address (4 bytes; destination follows). */
  get srcOffset(): number {
    return this.offset + 12; // F.SRC
  }
  get dstOffset(): number {
    return this.offset + 16; // F.DST
  }
  /** Absolute offset in `bytes` of the payload. */
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }
  /** Payload bytes present: payloadLength, or less for a packet checked as `quoted` and cut short. */
  get carriedPayloadLength(): number {
    return Math.min(this.totalLength, this.available) - this.headerLength;
  }
  /** Options bytes length (header beyond the 20 fixed bytes); their content is not interpreted. */
  get optionsLength(): number {
    return this.headerLength - IPV4_MIN_HEADER;
  }
}

/** Fields to emit an IPv4 header. Reuse one record: emitting allocates nothing. */
export interface Ipv4Fields {
  src: number;
  dst: number;
  protocol: number;
  /** Bytes after the 20-byte header. */
  payloadLength: number;
  ttl: number;
  ident: number;
  tos: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes; must be a multiple of 8. */
  fragmentOffset: number;
}

export function ipv4Fields(): Ipv4Fields {
  return {
    src: 0,
    dst: 0,
    protocol: 0,
    payloadLength: 0,
    ttl: 64,
    ident: 0,
    tos: 0,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
  };
}

/**
 * Write a 20-byte IPv4 header (no options) at `off`, header checksum included.
 * Every byte is written: the buffer may hold stale data. Returns the header length (20).
 */
export function emitIpv4Header(buf: Uint8Array, off: number, f: Ipv4Fields): number {
  buf[off + F.VER_IHL] = 0x45;
  buf[off + F.TOS] = f.tos;
  write16(buf, off + F.TOTAL_LEN, IPV4_MIN_HEADER + f.payloadLength);
  write16(buf, off + F.IDENT, f.ident);
  write16(
    buf,
    off + F.FLAGS_FRAG,
    (f.dontFragment ? FLAG_DF : 0) | (f.moreFragments ? FLAG_MF : 0) | ((f.fragmentOffset >>> 3) & FRAG_MASK),
  );
  buf[off + F.TTL] = f.ttl;
  buf[off + F.PROTOCOL] = f.protocol;
  write16(buf, off + F.CHECKSUM, 0);
  write32(buf, off + F.SRC, f.src);
  write32(buf, off + F.DST, f.dst);
  write16(buf, off + F.CHECKSUM, checksumFinish(checksumAdd(0, buf, off, IPV4_MIN_HEADER)));
  return IPV4_MIN_HEADER;
}

/** Dotted-quad text of a 32-bit address. */
export function ipv4ToString(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/** Parse dotted-quad text; returns -1 if it is not a valid IPv4 address. */
export function parseIpv4(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return -1;
    const n = Number(p);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}
