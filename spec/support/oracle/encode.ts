/**
 * The packet oracle's encoder: IPv4 (RFC 791 §3.1), IPv6 (RFC 8200 §3, extension headers §4.3-§4.5),
 * TCP (RFC 9293 §3.1, options §3.2, RFC 7323, RFC 2018), UDP (RFC 768) and ICMP (RFC 792,
 * RFC 4443), field by field from the RFCs' diagrams. It shares nothing with lib/wire: the specs build
 * what they inject with it, and check what the engine sends with its decoder (decode.ts); the Linux
 * captures in spec/wire/fixtures check both (spec/support/oracle.spec.ts).
 */
import { addressBytes } from "./address.js";
import { internetChecksum, upperLayerChecksum } from "./checksum.js";
import { OptionKind, Proto } from "./numbers.js";
import { concat, put16, put32 } from "./octets.js";

// ------------------------------------------------------------------------------------------------
// IP
// ------------------------------------------------------------------------------------------------

export interface Ipv4Fields {
  src: string;
  dst: string;
  protocol: number;
  /** Type of service octet (DSCP and ECN, RFC 2474 / RFC 3168). Default 0. */
  tos?: number;
  /** Identification. Default 0x1234. */
  id?: number;
  /** Don't Fragment. Default false. */
  df?: boolean;
  /** More Fragments. Default false. */
  mf?: boolean;
  /** Fragment offset in octets (a multiple of 8; the header carries it in units of 8). Default 0. */
  fragmentOffset?: number;
  /** Default 64. */
  ttl?: number;
  /** Options (padded with zeros to a multiple of 4 octets). */
  options?: Uint8Array;
  /** Store a wrong header checksum. */
  badChecksum?: boolean;
}

/**
 * RFC 791 §3.1:
 *    0                   1                   2                   3
 *   |Version|  IHL  |Type of Service|          Total Length         |
 *   |         Identification        |Flags|      Fragment Offset    |
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   |                       Source Address                          |
 *   |                    Destination Address                        |
 */
export function encodeIpv4(f: Ipv4Fields, payload: Uint8Array): Uint8Array {
  const options = f.options ?? new Uint8Array(0);
  const optLen = Math.ceil(options.length / 4) * 4;
  const hl = 20 + optLen;
  if (hl > 60) throw new Error(`IPv4 options of ${options.length} octets do not fit`);
  const offset = f.fragmentOffset ?? 0;
  if (offset % 8 !== 0) throw new Error(`fragment offset ${offset} is not a multiple of 8`);
  const p = new Uint8Array(hl + payload.length);
  p[0] = (4 << 4) | (hl / 4);
  p[1] = f.tos ?? 0;
  put16(p, 2, p.length);
  put16(p, 4, f.id ?? 0x1234);
  put16(p, 6, (f.df ? 0x4000 : 0) | (f.mf ? 0x2000 : 0) | (offset / 8));
  p[8] = f.ttl ?? 64;
  p[9] = f.protocol;
  p.set(addressBytes(f.src), 12);
  p.set(addressBytes(f.dst), 16);
  p.set(options, 20);
  // RFC 791: "The checksum field is the 16 bit one's complement of the one's complement sum of all
  // 16 bit words in the header. For purposes of computing the checksum, the value of the checksum
  // field is zero."
  let sum = internetChecksum([p.subarray(0, hl)]);
  if (f.badChecksum) sum ^= 0x5a5a;
  put16(p, 10, sum);
  p.set(payload, hl);
  return p;
}

export interface Ipv6Fields {
  src: string;
  dst: string;
  /** The first header after the fixed one (an extension header or the upper layer). */
  nextHeader: number;
  trafficClass?: number;
  flowLabel?: number;
  /** Default 64. */
  hopLimit?: number;
}

/**
 * RFC 8200 §3:
 *   |Version| Traffic Class |           Flow Label                  |
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   |                         Source Address (128)                  |
 *   |                      Destination Address (128)                |
 * `payload`: extension headers (if any) and the upper-layer packet.
 */
export function encodeIpv6(f: Ipv6Fields, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  const tc = f.trafficClass ?? 0;
  const fl = f.flowLabel ?? 0;
  p[0] = (6 << 4) | (tc >> 4);
  p[1] = ((tc & 0x0f) << 4) | ((fl >> 16) & 0x0f);
  put16(p, 2, fl & 0xffff);
  put16(p, 4, payload.length);
  p[6] = f.nextHeader;
  p[7] = f.hopLimit ?? 64;
  p.set(addressBytes(f.src), 8);
  p.set(addressBytes(f.dst), 24);
  p.set(payload, 40);
  return p;
}

/**
 * RFC 8200 §4.5, the Fragment header:
 *   |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *   |                         Identification                        |
 * `offset` in octets (a multiple of 8).
 */
export function ipv6FragmentHeader(nextHeader: number, offset: number, more: boolean, ident: number): Uint8Array {
  if (offset % 8 !== 0) throw new Error(`fragment offset ${offset} is not a multiple of 8`);
  const h = new Uint8Array(8);
  h[0] = nextHeader;
  put16(h, 2, (offset / 8) * 8 + (more ? 1 : 0)); // offset << 3 | M
  put32(h, 4, ident);
  return h;
}

/**
 * A Hop-by-Hop (RFC 8200 §4.3) or Destination Options (§4.6) header carrying `options` (TLVs,
 * §4.2), padded with a PadN option (or Pad1) to a multiple of 8 octets.
 */
export function ipv6OptionsHeader(nextHeader: number, options: Uint8Array = new Uint8Array(0)): Uint8Array {
  const len = Math.ceil((2 + options.length) / 8) * 8;
  const h = new Uint8Array(len);
  h[0] = nextHeader;
  h[1] = len / 8 - 1; // "Length of the header in 8-octet units, not including the first 8 octets"
  h.set(options, 2);
  const pad = len - 2 - options.length;
  if (pad === 1) h[2 + options.length] = 0; // Pad1
  else if (pad >= 2) {
    h[2 + options.length] = 1; // PadN: type 1, length, zeros
    h[3 + options.length] = pad - 2;
  }
  return h;
}

/** An IP packet of either family around an upper-layer packet. */
export interface IpFields {
  src: string;
  dst: string;
  /** IPv4 TTL or IPv6 Hop Limit. */
  ttl?: number;
  /** IPv4 only. */
  id?: number;
  df?: boolean;
}

export function encodeIp(f: IpFields, protocol: number, l4: Uint8Array): Uint8Array {
  const v6 = f.src.includes(":");
  if (v6) return encodeIpv6({ src: f.src, dst: f.dst, nextHeader: protocol, ...(f.ttl === undefined ? {} : { hopLimit: f.ttl }) }, l4);
  return encodeIpv4(
    {
      src: f.src,
      dst: f.dst,
      protocol,
      ...(f.ttl === undefined ? {} : { ttl: f.ttl }),
      ...(f.id === undefined ? {} : { id: f.id }),
      ...(f.df === undefined ? {} : { df: f.df }),
    },
    l4,
  );
}

// ------------------------------------------------------------------------------------------------
// TCP
// ------------------------------------------------------------------------------------------------

/** One TCP option, in the order it appears. */
export type TcpOption =
  | { kind: "eol" }
  | { kind: "nop" }
  | { kind: "mss"; mss: number }
  | { kind: "wscale"; shift: number }
  | { kind: "sackOK" }
  | { kind: "sack"; blocks: ReadonlyArray<readonly [number, number]> }
  | { kind: "ts"; val: number; ecr: number }
  /** Any other kind, or a malformed one: these bytes exactly. */
  | { kind: "raw"; bytes: Uint8Array };

/** RFC 9293 §3.2 and the RFCs of each option: kind, length, value. */
export function encodeTcpOptions(options: readonly TcpOption[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const o of options) {
    switch (o.kind) {
      case "eol":
        parts.push(Uint8Array.of(OptionKind.EOL));
        break;
      case "nop":
        parts.push(Uint8Array.of(OptionKind.NOP));
        break;
      case "mss": {
        const b = Uint8Array.of(OptionKind.MSS, 4, 0, 0);
        put16(b, 2, o.mss);
        parts.push(b);
        break;
      }
      case "wscale":
        parts.push(Uint8Array.of(OptionKind.WSCALE, 3, o.shift));
        break;
      case "sackOK":
        parts.push(Uint8Array.of(OptionKind.SACK_PERMITTED, 2));
        break;
      case "sack": {
        const b = new Uint8Array(2 + 8 * o.blocks.length);
        b[0] = OptionKind.SACK;
        b[1] = b.length;
        o.blocks.forEach(([l, r], i) => {
          put32(b, 2 + 8 * i, l);
          put32(b, 6 + 8 * i, r);
        });
        parts.push(b);
        break;
      }
      case "ts": {
        const b = new Uint8Array(10);
        b[0] = OptionKind.TIMESTAMPS;
        b[1] = 10;
        put32(b, 2, o.val);
        put32(b, 6, o.ecr);
        parts.push(b);
        break;
      }
      case "raw":
        parts.push(o.bytes);
        break;
    }
  }
  const raw = concat(parts);
  // RFC 9293 §3.1: "The TCP header padding is used to ensure that the TCP header ends, and data
  // begins, on a 32-bit boundary. The padding is composed of zeros."
  const padded = new Uint8Array(Math.ceil(raw.length / 4) * 4);
  padded.set(raw);
  return padded;
}

/** The options Linux would put on a segment, in Linux's order and padding (tcp_options_write). */
export interface OptionChoice {
  mss?: number;
  sackOK?: boolean;
  ts?: readonly [number, number];
  wscale?: number;
  sack?: ReadonlyArray<readonly [number, number]>;
}

export function linuxOptions(c: OptionChoice): TcpOption[] {
  const out: TcpOption[] = [];
  if (c.mss !== undefined) out.push({ kind: "mss", mss: c.mss });
  if (c.ts !== undefined) {
    if (c.sackOK) out.push({ kind: "sackOK" });
    else out.push({ kind: "nop" }, { kind: "nop" });
    out.push({ kind: "ts", val: c.ts[0], ecr: c.ts[1] });
  } else if (c.sackOK) {
    out.push({ kind: "nop" }, { kind: "nop" }, { kind: "sackOK" });
  }
  if (c.wscale !== undefined) out.push({ kind: "nop" }, { kind: "wscale", shift: c.wscale });
  if (c.sack !== undefined && c.sack.length > 0) out.push({ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks: c.sack });
  return out;
}

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Control bits (Flag). */
  flags: number;
  window: number;
  urgent?: number;
  options?: readonly TcpOption[];
  /** Option bytes as they are (not padded): overrides `options`, for malformed ones. */
  rawOptions?: Uint8Array;
  payload?: Uint8Array;
  /** The 4 reserved bits (RFC 9293 §3.1: "must be zero"). */
  reserved?: number;
  /** Store a wrong checksum. */
  badChecksum?: boolean;
}

/**
 * RFC 9293 §3.1:
 *   |          Source Port          |       Destination Port        |
 *   |                        Sequence Number                        |
 *   |                    Acknowledgment Number                      |
 *   |  DOffset|  Rsrvd  |C|E|U|A|P|R|S|F|          Window           |
 *   |           Checksum            |         Urgent Pointer        |
 *   |                           [Options]                           |
 * The checksum covers the pseudo-header for `src` > `dst`.
 */
export function encodeTcp(f: TcpFields, src: string, dst: string): Uint8Array {
  let options: Uint8Array;
  if (f.rawOptions !== undefined) {
    options = new Uint8Array(Math.ceil(f.rawOptions.length / 4) * 4);
    options.set(f.rawOptions);
  } else {
    options = encodeTcpOptions(f.options ?? []);
  }
  const hl = 20 + options.length;
  if (hl > 60) throw new Error(`TCP options of ${options.length} octets do not fit in a header`);
  const payload = f.payload ?? new Uint8Array(0);
  const s = new Uint8Array(hl + payload.length);
  put16(s, 0, f.srcPort);
  put16(s, 2, f.dstPort);
  put32(s, 4, f.seq);
  put32(s, 8, f.ack);
  s[12] = ((hl / 4) << 4) | ((f.reserved ?? 0) & 0x0f);
  s[13] = f.flags & 0xff;
  put16(s, 14, f.window);
  put16(s, 18, f.urgent ?? 0);
  s.set(options, 20);
  s.set(payload, hl);
  let sum = upperLayerChecksum(addressBytes(src), addressBytes(dst), Proto.TCP, s);
  if (f.badChecksum) sum ^= 0x5a5a;
  put16(s, 16, sum);
  return s;
}

// ------------------------------------------------------------------------------------------------
// UDP and ICMP
// ------------------------------------------------------------------------------------------------

export interface UdpFields {
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
  /** "zero": no checksum (legal over IPv4 only, RFC 768; RFC 8200 §8.1 forbids it over IPv6); "bad": a wrong one. */
  checksum?: "ok" | "zero" | "bad";
  /** The length field, if not the real length. */
  length?: number;
}

/**
 * RFC 768:
 *   |     Source Port     |   Destination Port  |
 *   |       Length        |       Checksum      |
 * "If the computed checksum is zero, it is transmitted as all ones."
 */
export function encodeUdp(f: UdpFields, src: string, dst: string): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const d = new Uint8Array(8 + payload.length);
  put16(d, 0, f.srcPort);
  put16(d, 2, f.dstPort);
  put16(d, 4, f.length ?? d.length);
  d.set(payload, 8);
  const mode = f.checksum ?? "ok";
  if (mode !== "zero") {
    let sum = upperLayerChecksum(addressBytes(src), addressBytes(dst), Proto.UDP, d);
    if (sum === 0) sum = 0xffff;
    if (mode === "bad") sum ^= 0x5a5a;
    put16(d, 6, sum);
  }
  return d;
}

export interface IcmpFields {
  type: number;
  code?: number;
  /** The 32 bits after the checksum (identifier and sequence for echo, the MTU for "too big", ...). */
  rest?: number;
  data?: Uint8Array;
  badChecksum?: boolean;
}

/**
 * RFC 792 (ICMPv4: the checksum covers the ICMP message only) and RFC 4443 §2.1 (ICMPv6: the
 * checksum also covers the IPv6 pseudo-header, §2.3):
 *   |     Type      |     Code      |          Checksum             |
 */
export function encodeIcmp(f: IcmpFields, src: string, dst: string): Uint8Array {
  const data = f.data ?? new Uint8Array(0);
  const m = new Uint8Array(8 + data.length);
  m[0] = f.type;
  m[1] = f.code ?? 0;
  put32(m, 4, f.rest ?? 0);
  m.set(data, 8);
  const v6 = src.includes(":");
  let sum = v6 ? upperLayerChecksum(addressBytes(src), addressBytes(dst), Proto.ICMPV6, m) : internetChecksum([m]);
  if (f.badChecksum) sum ^= 0x5a5a;
  put16(m, 2, sum);
  return m;
}
