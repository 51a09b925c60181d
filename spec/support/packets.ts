/**
 * Packet builders and a parser for specs: IPv4 / IPv6 packets carrying TCP, UDP or ICMP, with sane
 * defaults and correct checksums (unless asked to break them), built and taken apart with the packet oracle
 * (spec/support/oracle/: written from the RFCs, sharing nothing with lib/wire, checked against Linux
 * captures), so a bug in lib/wire cannot hide behind a spec that builds its packets with lib/wire.
 *
 *   tcp({ flags: "S", seq: 100, options: { mss: 1460 } })                 // 10.0.0.2:40000 > 10.0.0.1:80
 *   udp({ family: 6, dstPort: 53, payload: "hello" })                     // fd00::2:40000 > fd00::1:53
 *   icmpEcho({ dst: "192.0.2.7", id: 1, seq: 2, data: "ping" })
 *   fragment(udp({ payload: new Uint8Array(3000) }), 1000)                // IP fragments, 1000 data bytes each
 *   parse(bytes)                                                          // fields + checksum verdict
 *
 * Addresses decide the family; `family: 6` alone switches the defaults to fd00::2 > fd00::1.
 */
import { addressBytes } from "./oracle/address.js";
import { internetChecksum, upperLayerChecksum } from "./oracle/checksum.js";
import { decodePacket, flagBits } from "./oracle/decode.js";
import { encodeIcmp, encodeIp, encodeTcp, encodeUdp, ipv6FragmentHeader, linuxOptions, type TcpOption } from "./oracle/encode.js";
import { Flag, Icmp4, Icmp6, Proto } from "./oracle/numbers.js";
import { get16, put16 } from "./oracle/octets.js";

export const DEFAULT_V4 = { src: "10.0.0.2", dst: "10.0.0.1" } as const;
export const DEFAULT_V6 = { src: "fd00::2", dst: "fd00::1" } as const;

export interface IpSpec {
  family?: 4 | 6;
  src?: string;
  dst?: string;
  ttl?: number;
  /** IPv4 Identification. */
  ident?: number;
  /** IPv4 DF; default true for TCP, false otherwise. */
  df?: boolean;
}

export type Bytes = Uint8Array | string;

export interface TcpSpec extends IpSpec {
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** A flag mask (Flag from oracle/numbers), or letters: S(YN) A(CK) F(IN) R(ST) P(SH) U(RG) E(CE) C(WR), e.g. "SA". Default "A". */
  flags?: number | string;
  window?: number;
  urgent?: number;
  options?: TcpOptionSpec;
  /** Raw option bytes (padded to 4 with EOL); overrides `options`. */
  rawOptions?: Uint8Array;
  payload?: Bytes;
  /** Store a wrong checksum. */
  badChecksum?: boolean;
}

/** Options, laid out as Linux lays them out (oracle linuxOptions). */
export interface TcpOptionSpec {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  timestamps?: [tsVal: number, tsEcr: number];
  sack?: [left: number, right: number][];
}

export interface UdpSpec extends IpSpec {
  srcPort?: number;
  dstPort?: number;
  payload?: Bytes;
  /** "zero": no checksum (IPv4 only legally); "bad": a wrong one. */
  checksum?: "ok" | "zero" | "bad";
}

export interface IcmpSpec extends IpSpec {
  type: number;
  code?: number;
  /** The 4 bytes after the checksum. */
  rest?: number;
  data?: Bytes;
  badChecksum?: boolean;
}

export interface EchoSpec extends IpSpec {
  id?: number;
  seq?: number;
  data?: Bytes;
  /** Build an echo reply instead of a request. */
  reply?: boolean;
  badChecksum?: boolean;
}

export function bytesOf(b: Bytes | undefined): Uint8Array {
  if (b === undefined) return new Uint8Array(0);
  return typeof b === "string" ? new TextEncoder().encode(b) : b;
}

export function flagsOf(f: number | string | undefined): number {
  if (f === undefined) return Flag.ACK;
  return typeof f === "number" ? f : flagBits(f);
}

/** Resolve family and addresses from a spec. */
export function addressesOf(spec: IpSpec): { family: 4 | 6; src: string; dst: string } {
  const given = spec.src ?? spec.dst;
  const family: 4 | 6 = spec.family ?? (given !== undefined && given.includes(":") ? 6 : 4);
  const d = family === 4 ? DEFAULT_V4 : DEFAULT_V6;
  return { family, src: spec.src ?? d.src, dst: spec.dst ?? d.dst };
}

/** Wrap `l4` (already complete) in an IPv4 or IPv6 header. */
export function ipPacket(spec: IpSpec & { protocol: number }, l4: Uint8Array): Uint8Array {
  const { src, dst } = addressesOf(spec);
  return encodeIp({ src, dst, ttl: spec.ttl ?? 64, id: spec.ident ?? 0x1234, df: spec.df ?? spec.protocol === Proto.TCP }, spec.protocol, l4);
}

/** Where the upper layer starts and which protocol it is (no extension headers: what ipPacket builds). */
function l4Of(packet: Uint8Array): { l4Off: number; protocol: number; src: Uint8Array; dst: Uint8Array } {
  if (packet[0]! >> 4 === 4) {
    return { l4Off: (packet[0]! & 15) * 4, protocol: packet[9]!, src: packet.slice(12, 16), dst: packet.slice(16, 20) };
  }
  return { l4Off: 40, protocol: packet[6]!, src: packet.slice(8, 24), dst: packet.slice(24, 40) };
}

/** Recompute the L4 checksum of a packet built by ipPacket (or edited afterwards). */
export function fixL4Checksum(packet: Uint8Array): Uint8Array {
  const { l4Off, protocol, src, dst } = l4Of(packet);
  const l4 = packet.subarray(l4Off);
  const at = protocol === Proto.TCP ? 16 : protocol === Proto.UDP ? 6 : 2;
  put16(l4, at, 0);
  let sum = protocol === Proto.ICMP ? internetChecksum([l4]) : upperLayerChecksum(src, dst, protocol, l4);
  if (protocol === Proto.UDP && sum === 0) sum = 0xffff; // RFC 768
  put16(l4, at, sum);
  return packet;
}

/** Recompute the IPv4 header checksum (after editing header fields). */
export function fixIpv4HeaderChecksum(packet: Uint8Array): Uint8Array {
  const hl = (packet[0]! & 15) * 4;
  put16(packet, 10, 0);
  put16(packet, 10, internetChecksum([packet.subarray(0, hl)]));
  return packet;
}

export function tcp(spec: TcpSpec = {}): Uint8Array {
  const { src, dst } = addressesOf(spec);
  const segment = encodeTcp(
    {
      srcPort: spec.srcPort ?? 40000,
      dstPort: spec.dstPort ?? 80,
      seq: spec.seq ?? 1000,
      ack: spec.ack ?? 0,
      flags: flagsOf(spec.flags),
      window: spec.window ?? 65535,
      urgent: spec.urgent ?? 0,
      ...(spec.rawOptions !== undefined ? { rawOptions: spec.rawOptions } : { options: tcpOptionsOf(spec.options) }),
      payload: bytesOf(spec.payload),
      badChecksum: spec.badChecksum ?? false,
    },
    src,
    dst,
  );
  return ipPacket({ ...spec, protocol: Proto.TCP }, segment);
}

function tcpOptionsOf(spec: TcpOptionSpec | undefined): TcpOption[] {
  if (spec === undefined) return [];
  return linuxOptions({
    ...(spec.mss === undefined ? {} : { mss: spec.mss }),
    ...(spec.sackPermitted ? { sackOK: true } : {}),
    ...(spec.timestamps === undefined ? {} : { ts: spec.timestamps }),
    ...(spec.windowScale === undefined ? {} : { wscale: spec.windowScale }),
    ...(spec.sack === undefined ? {} : { sack: spec.sack }),
  });
}

export function udp(spec: UdpSpec = {}): Uint8Array {
  const { src, dst } = addressesOf(spec);
  const datagram = encodeUdp({ srcPort: spec.srcPort ?? 40000, dstPort: spec.dstPort ?? 53, payload: bytesOf(spec.payload), checksum: spec.checksum ?? "ok" }, src, dst);
  return ipPacket({ ...spec, protocol: Proto.UDP }, datagram);
}

export function icmp(spec: IcmpSpec): Uint8Array {
  const { family, src, dst } = addressesOf(spec);
  const message = encodeIcmp({ type: spec.type, code: spec.code ?? 0, rest: spec.rest ?? 0, data: bytesOf(spec.data), badChecksum: spec.badChecksum ?? false }, src, dst);
  return ipPacket({ ...spec, protocol: family === 4 ? Proto.ICMP : Proto.ICMPV6 }, message);
}

export function icmpEcho(spec: EchoSpec = {}): Uint8Array {
  const { family } = addressesOf(spec);
  const type = family === 4 ? (spec.reply ? Icmp4.ECHO_REPLY : Icmp4.ECHO_REQUEST) : spec.reply ? Icmp6.ECHO_REPLY : Icmp6.ECHO_REQUEST;
  return icmp({ ...spec, type, rest: ((((spec.id ?? 1) & 0xffff) << 16) | ((spec.seq ?? 1) & 0xffff)) >>> 0 });
}

/**
 * Cut an unfragmented packet into IP fragments carrying `chunk` data bytes each (a multiple of 8;
 * the last may be shorter). IPv4: MF / offset in the header (RFC 791 §3.2); IPv6: a Fragment
 * header with `ident` (RFC 8200 §4.5).
 */
export function fragment(packet: Uint8Array, chunk: number, ident = 0x2345): Uint8Array[] {
  if (chunk <= 0 || chunk % 8 !== 0) throw new Error("chunk must be a positive multiple of 8");
  const family = packet[0]! >> 4;
  const out: Uint8Array[] = [];
  if (family === 4) {
    const hl = (packet[0]! & 15) * 4;
    const data = packet.subarray(hl, get16(packet, 2));
    for (let off = 0; off < data.length; off += chunk) {
      const piece = data.subarray(off, Math.min(off + chunk, data.length));
      const f = new Uint8Array(hl + piece.length);
      f.set(packet.subarray(0, hl));
      f.set(piece, hl);
      put16(f, 2, f.length);
      put16(f, 4, ident & 0xffff);
      const more = off + piece.length < data.length;
      put16(f, 6, (more ? 0x2000 : 0) | (off >> 3));
      fixIpv4HeaderChecksum(f);
      out.push(f);
    }
    return out;
  }
  const nh = packet[6]!;
  const data = packet.subarray(40, 40 + get16(packet, 4));
  for (let off = 0; off < data.length; off += chunk) {
    const piece = data.subarray(off, Math.min(off + chunk, data.length));
    const f = new Uint8Array(48 + piece.length);
    f.set(packet.subarray(0, 40));
    f[6] = Proto.FRAGMENT;
    put16(f, 4, 8 + piece.length);
    f.set(ipv6FragmentHeader(nh, off, off + piece.length < data.length, ident), 40);
    f.set(piece, 48);
    out.push(f);
  }
  return out;
}

/** TCP options as parse() reports them (-1 / false / 0: absent). */
export interface ParsedTcpOptions {
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  hasTimestamps: boolean;
  tsVal: number;
  tsEcr: number;
  sackCount: number;
  /** left0, right0, left1, right1, ... */
  sackBlocks: number[];
}

/** One packet taken apart, for assertions. */
export interface Parsed {
  family: 4 | 6;
  src: string;
  dst: string;
  ttl: number;
  /** IPv4 only. */
  ident: number;
  df: boolean;
  /** Upper-layer protocol (after IPv6 extension headers). */
  protocol: number;
  /** IPv4 header checksum (true for IPv6) and the L4 checksum are right. */
  checksumOk: boolean;
  /** A fragment (IPv4 MF/offset, IPv6 Fragment header with offset or M). */
  isFragment: boolean;
  fragmentOffset: number;
  moreFragments: boolean;
  fragmentIdent: number;
  /** The L4 bytes (for a fragment: its data). */
  l4: Uint8Array;
  tcp?: {
    srcPort: number;
    dstPort: number;
    seq: number;
    ack: number;
    flags: number;
    window: number;
    options: ParsedTcpOptions;
    payload: Uint8Array;
  };
  udp?: { srcPort: number; dstPort: number; length: number; checksum: number; payload: Uint8Array };
  icmp?: { type: number; code: number; rest: number; data: Uint8Array };
  /** What the oracle found wrong with the packet (checksums aside: see checksumOk). */
  problems: string[];
}

/**
 * Take a packet apart with the oracle. Throws when the IP header cannot be read (specs only parse
 * what the engine sent); a bad checksum shows in checksumOk, anything else wrong in `problems`.
 */
export function parse(packet: Uint8Array): Parsed {
  const d = decodePacket(packet);
  const ip = d.ip;
  if (ip === undefined) throw new Error(`not a readable IP packet: ${d.problems.join("; ")}`);
  const checksumProblem = (p: string): boolean => p.startsWith("bad ") && p.includes(" checksum");
  const p: Parsed = {
    family: ip.version,
    src: ip.src,
    dst: ip.dst,
    ttl: ip.ttl,
    ident: ip.id,
    df: ip.version === 4 ? ip.df : true,
    protocol: ip.protocol,
    checksumOk: !d.problems.some(checksumProblem),
    isFragment: ip.isFragment,
    fragmentOffset: ip.fragmentOffset,
    moreFragments: ip.moreFragments,
    fragmentIdent: ip.fragmentIdent,
    l4: ip.l4,
    problems: d.problems.filter((x) => !checksumProblem(x)),
  };
  if (d.tcp !== undefined) {
    const t = d.tcp;
    p.tcp = {
      srcPort: t.srcPort,
      dstPort: t.dstPort,
      seq: t.seq,
      ack: t.ack,
      flags: t.flags,
      window: t.window,
      options: {
        mss: t.mss,
        windowScale: t.wscale,
        sackPermitted: t.sackOK,
        hasTimestamps: t.ts !== undefined,
        tsVal: t.ts?.[0] ?? 0,
        tsEcr: t.ts?.[1] ?? 0,
        sackCount: t.sack.length,
        sackBlocks: t.sack.flat(),
      },
      payload: t.payload,
    };
  } else if (d.udp !== undefined) {
    const u = d.udp;
    p.udp = { srcPort: u.srcPort, dstPort: u.dstPort, length: u.length, checksum: u.checksum, payload: u.payload };
  } else if (d.icmp !== undefined) {
    const m = d.icmp;
    p.icmp = { type: m.type, code: m.code, rest: m.rest, data: m.data };
  }
  return p;
}

/**
 * Put fragments (as parsed by `parse`) back together: returns the L4 bytes of the whole datagram.
 * Independent of the engine's reassembler, for checking what the engine sent.
 */
export function joinFragments(fragments: Uint8Array[]): Uint8Array {
  const parts = fragments.map(parse).sort((a, b) => a.fragmentOffset - b.fragmentOffset);
  const last = parts[parts.length - 1]!;
  const total = last.fragmentOffset + last.l4.length;
  const out = new Uint8Array(total);
  let expect = 0;
  for (const p of parts) {
    if (p.fragmentOffset !== expect) throw new Error(`gap or overlap at ${expect} (fragment at ${p.fragmentOffset})`);
    out.set(p.l4, p.fragmentOffset);
    expect += p.l4.length;
  }
  if (last.moreFragments) throw new Error("last fragment has MF set");
  return out;
}

/** The address bytes of a text address (for specs that compare raw header bytes). */
export { addressBytes };
