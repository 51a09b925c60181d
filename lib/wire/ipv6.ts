/**
 * IPv6 fixed header (RFC 8200 §3) and a bounded walk of its extension-header chain (RFC 8200 §4).
 *
 *  |Version| Traffic Class |           Flow Label                  |
 *  |         Payload Length        |  Next Header  |   Hop Limit   |
 *  |                   Source Address (128 bits)                    |
 *  |                Destination Address (128 bits)                  |
 */
import { fitsIn, read16, read32, write16, write32 } from "./bytes.js";
import { Drop, type DropReason } from "./drop.js";
import { IpProtocol } from "./ip-protocol.js";

export const IPV6_HEADER = 40;
export const IPV6_FRAGMENT_HEADER = 8;
/** The walk stops after this many extension headers (a hostile chain cannot make us loop). */
export const IPV6_MAX_EXTENSION_HEADERS = 8;

const F = { VTF: 0, PAYLOAD_LEN: 4, NEXT_HEADER: 6, HOP_LIMIT: 7, SRC: 8, DST: 24 } as const;

/**
 * A view over an IPv6 packet. `check()` validates the fixed header and walks the extension headers;
 * afterwards `upperProtocol`, `upperOffset` and `upperLength` locate the upper-layer header, and the
 * fragment fields describe a Fragment header if one was seen.
 */
export class Ipv6Packet {
  bytes: Uint8Array = new Uint8Array(0);
  offset = 0;
  available = 0;

  /** Filled by check(): the protocol after the extension headers (TCP, UDP, ICMPv6, NO_NEXT, ESP...). */
  upperProtocol = 0;
  /** Absolute offset in `bytes` of the upper-layer header. */
  upperOffset = 0;
  upperLength = 0;
  extensionHeaderCount = 0;
  hasFragmentHeader = false;
  /** Fragment offset in bytes. */
  fragmentOffset = 0;
  moreFragments = false;
  fragmentIdent = 0;
  /** Absolute offset of the Fragment header (its Next Header byte), when present. */
  fragmentHeaderOffset = 0;

  wrap(bytes: Uint8Array, offset = 0, length = bytes.length - offset): this {
    this.bytes = bytes;
    this.offset = offset;
    this.available = length;
    return this;
  }

  /**
   * Validate the fixed header and walk the extension headers. Bytes past the payload length
   * (link-layer padding) are allowed.
   *
   * `quoted`: the packet is the invoking packet quoted in an ICMPv6 error (RFC 4443 §2.4 (c)), usually
   * cut short: a payload length past the available bytes is then allowed, the walk stops at the
   * available bytes and `upperLength` counts only the bytes present.
   */
  check(quoted = false): DropReason {
    this.reset();
    if (this.available < IPV6_HEADER || !fitsIn(this.bytes, this.offset, this.available)) return Drop.TRUNCATED;
    if (this.version !== 6) return Drop.BAD_VERSION;
    let end = this.offset + IPV6_HEADER + this.payloadLength;
    if (IPV6_HEADER + this.payloadLength > this.available) {
      if (!quoted) return Drop.TRUNCATED;
      end = this.offset + this.available;
    }
    return this.walk(end);
  }

  private reset(): void {
    this.upperProtocol = 0;
    this.upperOffset = this.offset + IPV6_HEADER;
    this.upperLength = 0;
    this.extensionHeaderCount = 0;
    this.hasFragmentHeader = false;
    this.fragmentOffset = 0;
    this.moreFragments = false;
    this.fragmentIdent = 0;
    this.fragmentHeaderOffset = 0;
  }

  /** RFC 8200 §4.1: the chain, bounded; Hop-by-Hop only directly after the fixed header. */
  private walk(end: number): DropReason {
    const b = this.bytes;
    let next = b[this.offset + F.NEXT_HEADER]!;
    let at = this.offset + IPV6_HEADER;
    for (;;) {
      let len: number;
      switch (next) {
        case IpProtocol.HOP_BY_HOP:
        case IpProtocol.IPV6_ROUTING:
        case IpProtocol.IPV6_DEST_OPTS:
          if (next === IpProtocol.HOP_BY_HOP && this.extensionHeaderCount !== 0) return Drop.BAD_EXTENSION_CHAIN;
          if (at + 2 > end) return Drop.TRUNCATED;
          len = (b[at + 1]! + 1) * 8;
          break;
        case IpProtocol.IPV6_FRAGMENT: {
          if (at + IPV6_FRAGMENT_HEADER > end) return Drop.TRUNCATED;
          if (this.hasFragmentHeader) return Drop.BAD_EXTENSION_CHAIN;
          len = IPV6_FRAGMENT_HEADER;
          const offFlags = read16(b, at + 2);
          this.hasFragmentHeader = true;
          this.fragmentHeaderOffset = at;
          this.fragmentOffset = offFlags & 0xfff8;
          this.moreFragments = (offFlags & 1) !== 0;
          this.fragmentIdent = read32(b, at + 4);
          break;
        }
        case IpProtocol.AH:
          // RFC 4302 §2.2: Payload Len in 4-octet units, minus 2.
          if (at + 2 > end) return Drop.TRUNCATED;
          len = (b[at + 1]! + 2) * 4;
          break;
        default:
          this.upperProtocol = next;
          this.upperOffset = at;
          this.upperLength = end - at;
          return Drop.OK;
      }
      if (at + len > end) return Drop.TRUNCATED;
      if (++this.extensionHeaderCount > IPV6_MAX_EXTENSION_HEADERS) return Drop.BAD_EXTENSION_CHAIN;
      next = b[at]!;
      at += len;
      // A fragment (RFC 8200 §4.5): what follows the Fragment header is the fragmentable part, or for a
      // non-first fragment the middle of it; the walk stops there and reassembly is the caller's business.
      // An atomic fragment (offset 0, M clear; RFC 6946) is walked on like an unfragmented packet.
      if (this.hasFragmentHeader && (this.fragmentOffset !== 0 || this.moreFragments)) {
        this.upperProtocol = next;
        this.upperOffset = at;
        this.upperLength = end - at;
        return Drop.OK;
      }
    }
  }

  get version(): number {
    return this.bytes[this.offset]! >> 4;
  }
  get trafficClass(): number {
    return (read16(this.bytes, this.offset) >> 4) & 0xff;
  }
  get flowLabel(): number {
    return read32(this.bytes, this.offset) & 0xfffff;
  }
  get payloadLength(): number {
    return read16(this.bytes, this.offset + F.PAYLOAD_LEN);
  }
  /** The Next Header field of the fixed header. */
  get nextHeader(): number {
    return this.bytes[this.offset + F.NEXT_HEADER]!;
  }
  get hopLimit(): number {
    return this.bytes[this.offset + F.HOP_LIMIT]!;
  }
  get srcOffset(): number {
    return this.offset + F.SRC;
  }
  get dstOffset(): number {
    return this.offset + F.DST;
  }
  /** A fragment of a larger datagram (a Fragment header with offset or M set; RFC 8200 §4.5). */
  get isFragment(): boolean {
    return this.hasFragmentHeader && (this.fragmentOffset !== 0 || this.moreFragments);
  }
}

/** Fields to emit an IPv6 fixed header. Addresses are copied from `addrBytes` at the given offsets. */
export interface Ipv6Fields {
  addrBytes: Uint8Array;
  srcOffset: number;
  dstOffset: number;
  nextHeader: number;
  /** Bytes after the 40-byte fixed header (extension headers included). */
  payloadLength: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
}

export function ipv6Fields(): Ipv6Fields {
  return {
    addrBytes: new Uint8Array(32),
    srcOffset: 0,
    dstOffset: 16,
    nextHeader: 0,
    payloadLength: 0,
    hopLimit: 64,
    trafficClass: 0,
    flowLabel: 0,
  };
}

/** Write the 40-byte fixed header at `off`; every byte written. Returns 40. */
export function emitIpv6Header(buf: Uint8Array, off: number, f: Ipv6Fields): number {
  write32(buf, off, (6 << 28) | ((f.trafficClass & 0xff) << 20) | (f.flowLabel & 0xfffff));
  write16(buf, off + F.PAYLOAD_LEN, f.payloadLength);
  buf[off + F.NEXT_HEADER] = f.nextHeader;
  buf[off + F.HOP_LIMIT] = f.hopLimit;
  const a = f.addrBytes;
  for (let i = 0; i < 16; i++) {
    buf[off + F.SRC + i] = a[f.srcOffset + i]!;
    buf[off + F.DST + i] = a[f.dstOffset + i]!;
  }
  return IPV6_HEADER;
}

/** Write an 8-byte Fragment header (RFC 8200 §4.5) at `off`. `fragmentOffset` in bytes, multiple of 8. */
export function emitIpv6FragmentHeader(
  buf: Uint8Array,
  off: number,
  nextHeader: number,
  fragmentOffset: number,
  moreFragments: boolean,
  ident: number,
): number {
  buf[off] = nextHeader;
  buf[off + 1] = 0;
  write16(buf, off + 2, (fragmentOffset & 0xfff8) | (moreFragments ? 1 : 0));
  write32(buf, off + 4, ident);
  return IPV6_FRAGMENT_HEADER;
}

/** RFC 5952 text of the 16 address bytes at `off` (lower case, longest zero run as "::"). */
export function ipv6ToString(b: Uint8Array, off: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(read16(b, off + i * 2));
  // IPv4-mapped (::ffff:a.b.c.d), RFC 5952 §5.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Parse IPv6 text (RFC 4291 §2.2, including "::" and a trailing dotted quad) into `out` at `off`. */
export function parseIpv6(text: string, out: Uint8Array, off: number): boolean {
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const words: number[] = [];
  // A trailing dotted quad stands for the last two words, and must follow a ':' ("::a1.2.3.4" is not valid).
  const v4 = /(^|:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const q = v4.slice(2).map(Number);
    if (q.some((n) => n > 255)) return false;
    const at = v4.index + v4[1]!.length;
    s = s.slice(0, at) + `${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  } else if (s.includes(".")) {
    return false;
  }
  const halves = s.split("::");
  if (halves.length > 2) return false;
  const parse = (part: string): number[] | null => {
    if (part === "") return [];
    const r: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      r.push(parseInt(g, 16));
    }
    return r;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return false;
  if (halves.length === 2) {
    if (head.length + tail.length > 7) return false;
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    if (head.length !== 8) return false;
    words.push(...head);
  }
  for (let i = 0; i < 8; i++) write16(out, off + i * 2, words[i]!);
  return true;
}
