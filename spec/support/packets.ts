/**
 * Packet builders and a parser for specs: IPv4 / IPv6 packets carrying TCP, UDP or ICMP, with sane
 * defaults and correct checksums (unless asked to break them), built with the wire emitters.
 *
 *   tcp({ flags: "S", seq: 100, options: { mss: 1460 } })                 // 10.0.0.2:40000 > 10.0.0.1:80
 *   udp({ family: 6, dstPort: 53, payload: "hello" })                     // fd00::2:40000 > fd00::1:53
 *   icmpEcho({ dst: "192.0.2.7", id: 1, seq: 2, data: "ping" })
 *   fragment(udp({ payload: new Uint8Array(3000) }), 1000)                // IP fragments, 1000 data bytes each
 *   parse(bytes)                                                          // fields + checksum verdict
 *
 * Addresses decide the family; `family: 6` alone switches the defaults to fd00::2 > fd00::1.
 */
import {
  checksum,
  checksumAdd,
  checksumFinish,
  emitIcmpHeader,
  emitIpv4Header,
  emitIpv6FragmentHeader,
  emitIpv6Header,
  emitTcpHeader,
  emitUdpHeader,
  fillIcmpv4Checksum,
  fillIcmpv6Checksum,
  fillTcpChecksum,
  fillUdpChecksum,
  Icmpv4Type,
  Icmpv6Type,
  IpProtocol,
  ipv4Fields,
  ipv4ToString,
  ipv6Fields,
  ipv6ToString,
  Ipv4Packet,
  Ipv6Packet,
  parseIpv4,
  parseIpv6,
  parseTcpOptions,
  pseudoSum,
  read16,
  read32,
  TcpFlag,
  TcpOptions,
  TcpPacket,
  write16,
} from "../../lib/wire/index.js";

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
  /** A TcpFlag mask, or letters: S(YN) A(CK) F(IN) R(ST) P(SH) U(RG) E(CE) C(WR), e.g. "SA". Default "A". */
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
  if (f === undefined) return TcpFlag.ACK;
  if (typeof f === "number") return f;
  const map: Record<string, number> = {
    S: TcpFlag.SYN,
    A: TcpFlag.ACK,
    F: TcpFlag.FIN,
    R: TcpFlag.RST,
    P: TcpFlag.PSH,
    U: TcpFlag.URG,
    E: TcpFlag.ECE,
    C: TcpFlag.CWR,
  };
  let v = 0;
  for (const ch of f) {
    const bit = map[ch];
    if (bit === undefined) throw new Error(`unknown TCP flag letter ${ch}`);
    v |= bit;
  }
  return v;
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
  const { family, src, dst } = addressesOf(spec);
  if (family === 4) {
    const out = new Uint8Array(20 + l4.length);
    const f = ipv4Fields();
    f.src = v4(src);
    f.dst = v4(dst);
    f.protocol = spec.protocol;
    f.payloadLength = l4.length;
    f.ttl = spec.ttl ?? 64;
    f.ident = spec.ident ?? 0x1234;
    f.dontFragment = spec.df ?? spec.protocol === IpProtocol.TCP;
    emitIpv4Header(out, 0, f);
    out.set(l4, 20);
    return out;
  }
  const out = new Uint8Array(40 + l4.length);
  const f = ipv6Fields();
  if (!parseIpv6(src, f.addrBytes, 0) || !parseIpv6(dst, f.addrBytes, 16)) throw new Error(`bad IPv6 ${src} ${dst}`);
  f.nextHeader = spec.protocol;
  f.payloadLength = l4.length;
  f.hopLimit = spec.ttl ?? 64;
  emitIpv6Header(out, 0, f);
  out.set(l4, 40);
  return out;
}

function v4(text: string): number {
  const a = parseIpv4(text);
  if (a < 0) throw new Error(`bad IPv4 ${text}`);
  return a;
}

/** Recompute the L4 checksum of a packet built by ipPacket (or edited afterwards). */
export function fixL4Checksum(packet: Uint8Array): Uint8Array {
  const family = packet[0]! >> 4;
  const l4Off = family === 4 ? (packet[0]! & 15) * 4 : 40;
  const protocol = family === 4 ? packet[9]! : packet[6]!;
  const len = packet.length - l4Off;
  const ps = pseudoSum(packet, 0, protocol, len);
  if (protocol === IpProtocol.TCP) fillTcpChecksum(packet, l4Off, len, ps);
  else if (protocol === IpProtocol.UDP) fillUdpChecksum(packet, l4Off, len, ps);
  else if (protocol === IpProtocol.ICMP) fillIcmpv4Checksum(packet, l4Off, len);
  else if (protocol === IpProtocol.ICMPV6) fillIcmpv6Checksum(packet, l4Off, len, ps);
  return packet;
}

/** Recompute the IPv4 header checksum (after editing header fields). */
export function fixIpv4HeaderChecksum(packet: Uint8Array): Uint8Array {
  const hl = (packet[0]! & 15) * 4;
  write16(packet, 10, 0);
  write16(packet, 10, checksum(packet, 0, hl));
  return packet;
}

export function tcp(spec: TcpSpec = {}): Uint8Array {
  const payload = bytesOf(spec.payload);
  let opts: Uint8Array;
  if (spec.rawOptions !== undefined) {
    opts = new Uint8Array((spec.rawOptions.length + 3) & ~3);
    opts.set(spec.rawOptions);
  } else {
    opts = new Uint8Array(0);
  }
  const o = spec.rawOptions === undefined ? tcpOptionsOf(spec.options) : null;
  const scratch = new Uint8Array(60 + payload.length);
  const hl = emitTcpHeader(
    scratch,
    0,
    {
      srcPort: spec.srcPort ?? 40000,
      dstPort: spec.dstPort ?? 80,
      seq: spec.seq ?? 1000,
      ack: spec.ack ?? 0,
      flags: flagsOf(spec.flags),
      window: spec.window ?? 65535,
      urgentPointer: spec.urgent ?? 0,
    },
    o,
  );
  let header = scratch.subarray(0, hl);
  if (spec.rawOptions !== undefined) {
    header = new Uint8Array(20 + opts.length);
    header.set(scratch.subarray(0, 20));
    header.set(opts, 20);
    header[12] = ((20 + opts.length) / 4) << 4;
  }
  const l4 = new Uint8Array(header.length + payload.length);
  l4.set(header);
  l4.set(payload, header.length);
  const packet = fixL4Checksum(ipPacket({ ...spec, protocol: IpProtocol.TCP }, l4));
  if (spec.badChecksum) corruptL4Checksum(packet);
  return packet;
}

function tcpOptionsOf(spec: TcpOptionSpec | undefined): TcpOptions | null {
  if (spec === undefined) return null;
  const o = new TcpOptions();
  if (spec.mss !== undefined) o.mss = spec.mss;
  if (spec.windowScale !== undefined) o.windowScale = spec.windowScale;
  if (spec.sackPermitted) o.sackPermitted = true;
  if (spec.timestamps !== undefined) {
    o.hasTimestamps = true;
    o.tsVal = spec.timestamps[0];
    o.tsEcr = spec.timestamps[1];
  }
  if (spec.sack !== undefined) {
    o.sackCount = spec.sack.length;
    spec.sack.forEach(([l, r], i) => {
      o.sackBlocks[2 * i] = l;
      o.sackBlocks[2 * i + 1] = r;
    });
  }
  return o;
}

export function udp(spec: UdpSpec = {}): Uint8Array {
  const payload = bytesOf(spec.payload);
  const l4 = new Uint8Array(8 + payload.length);
  emitUdpHeader(l4, 0, spec.srcPort ?? 40000, spec.dstPort ?? 53, l4.length);
  l4.set(payload, 8);
  const packet = ipPacket({ ...spec, protocol: IpProtocol.UDP }, l4);
  const mode = spec.checksum ?? "ok";
  if (mode !== "zero") fixL4Checksum(packet);
  if (mode === "bad") corruptL4Checksum(packet);
  return packet;
}

export function icmp(spec: IcmpSpec): Uint8Array {
  const data = bytesOf(spec.data);
  const { family } = addressesOf(spec);
  const l4 = new Uint8Array(8 + data.length);
  emitIcmpHeader(l4, 0, spec.type, spec.code ?? 0, spec.rest ?? 0);
  l4.set(data, 8);
  const packet = fixL4Checksum(ipPacket({ ...spec, protocol: family === 4 ? IpProtocol.ICMP : IpProtocol.ICMPV6 }, l4));
  if (spec.badChecksum) corruptL4Checksum(packet);
  return packet;
}

export function icmpEcho(spec: EchoSpec = {}): Uint8Array {
  const { family } = addressesOf(spec);
  const type =
    family === 4
      ? spec.reply
        ? Icmpv4Type.ECHO_REPLY
        : Icmpv4Type.ECHO_REQUEST
      : spec.reply
        ? Icmpv6Type.ECHO_REPLY
        : Icmpv6Type.ECHO_REQUEST;
  return icmp({ ...spec, type, rest: (((spec.id ?? 1) & 0xffff) << 16) | ((spec.seq ?? 1) & 0xffff) });
}

function corruptL4Checksum(packet: Uint8Array): void {
  const family = packet[0]! >> 4;
  const l4Off = family === 4 ? (packet[0]! & 15) * 4 : 40;
  const protocol = family === 4 ? packet[9]! : packet[6]!;
  const at = l4Off + (protocol === IpProtocol.UDP ? 6 : protocol === IpProtocol.TCP ? 16 : 2);
  packet[at] = packet[at]! ^ 0x5a;
}

/**
 * Cut an unfragmented packet into IP fragments carrying `chunk` data bytes each (a multiple of 8;
 * the last may be shorter). IPv4: MF / offset in the header; IPv6: a Fragment header with `ident`.
 */
export function fragment(packet: Uint8Array, chunk: number, ident = 0x2345): Uint8Array[] {
  if (chunk <= 0 || chunk % 8 !== 0) throw new Error("chunk must be a positive multiple of 8");
  const family = packet[0]! >> 4;
  const out: Uint8Array[] = [];
  if (family === 4) {
    const hl = (packet[0]! & 15) * 4;
    const data = packet.subarray(hl, read16(packet, 2));
    for (let off = 0; off < data.length; off += chunk) {
      const piece = data.subarray(off, Math.min(off + chunk, data.length));
      const f = new Uint8Array(hl + piece.length);
      f.set(packet.subarray(0, hl));
      f.set(piece, hl);
      write16(f, 2, f.length);
      write16(f, 4, ident & 0xffff);
      const more = off + piece.length < data.length;
      write16(f, 6, (more ? 0x2000 : 0) | (off >> 3));
      fixIpv4HeaderChecksum(f);
      out.push(f);
    }
    return out;
  }
  const nh = packet[6]!;
  const data = packet.subarray(40, 40 + read16(packet, 4));
  for (let off = 0; off < data.length; off += chunk) {
    const piece = data.subarray(off, Math.min(off + chunk, data.length));
    const f = new Uint8Array(48 + piece.length);
    f.set(packet.subarray(0, 40));
    f[6] = IpProtocol.IPV6_FRAGMENT;
    write16(f, 4, 8 + piece.length);
    emitIpv6FragmentHeader(f, 40, nh, off, off + piece.length < data.length, ident);
    f.set(piece, 48);
    out.push(f);
  }
  return out;
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
    options: TcpOptions;
    payload: Uint8Array;
  };
  udp?: { srcPort: number; dstPort: number; length: number; checksum: number; payload: Uint8Array };
  icmp?: { type: number; code: number; rest: number; data: Uint8Array };
}

/** Take a packet apart (throws on anything malformed: specs only parse what the engine sent). */
export function parse(packet: Uint8Array): Parsed {
  const family = packet[0]! >> 4;
  let p: Parsed;
  if (family === 4) {
    const ip = new Ipv4Packet().wrap(packet);
    const bad = ip.check(false);
    if (bad !== 0) throw new Error(`bad IPv4 packet (${bad})`);
    p = {
      family: 4,
      src: ipv4ToString(ip.src),
      dst: ipv4ToString(ip.dst),
      ttl: ip.ttl,
      ident: ip.ident,
      df: ip.dontFragment,
      protocol: ip.protocol,
      checksumOk: checksum(packet, 0, ip.headerLength) === 0,
      isFragment: ip.isFragment,
      fragmentOffset: ip.fragmentOffset,
      moreFragments: ip.moreFragments,
      fragmentIdent: ip.ident,
      l4: packet.subarray(ip.payloadOffset, ip.offset + ip.totalLength),
    };
  } else if (family === 6) {
    const ip = new Ipv6Packet().wrap(packet);
    const bad = ip.check();
    if (bad !== 0) throw new Error(`bad IPv6 packet (${bad})`);
    p = {
      family: 6,
      src: ipv6ToString(packet, 8),
      dst: ipv6ToString(packet, 24),
      ttl: ip.hopLimit,
      ident: 0,
      df: true,
      protocol: ip.upperProtocol,
      checksumOk: true,
      isFragment: ip.isFragment,
      fragmentOffset: ip.fragmentOffset,
      moreFragments: ip.moreFragments,
      fragmentIdent: ip.fragmentIdent,
      l4: packet.subarray(ip.upperOffset, ip.upperOffset + ip.upperLength),
    };
  } else {
    throw new Error(`not an IP packet (version ${family})`);
  }
  if (p.isFragment) return p;
  const l4 = p.l4;
  const ps = pseudoSum(packet, 0, p.protocol, l4.length);
  if (p.protocol === IpProtocol.TCP) {
    const t = new TcpPacket().wrap(packet, l4.byteOffset - packet.byteOffset, l4.length);
    const options = new TcpOptions();
    parseTcpOptions(packet, t.optionsOffset, t.optionsLength, options);
    p.checksumOk &&= checksumFinish(checksumAdd(ps, l4, 0, l4.length)) === 0;
    p.tcp = {
      srcPort: t.srcPort,
      dstPort: t.dstPort,
      seq: t.seq,
      ack: t.ack,
      flags: t.flags,
      window: t.window,
      options,
      payload: l4.subarray(t.headerLength),
    };
  } else if (p.protocol === IpProtocol.UDP) {
    const cs = read16(l4, 6);
    p.checksumOk &&= (cs === 0 && family === 4) || checksumFinish(checksumAdd(ps, l4, 0, read16(l4, 4))) === 0;
    p.udp = { srcPort: read16(l4, 0), dstPort: read16(l4, 2), length: read16(l4, 4), checksum: cs, payload: l4.subarray(8, read16(l4, 4)) };
  } else if (p.protocol === IpProtocol.ICMP || p.protocol === IpProtocol.ICMPV6) {
    const sum = p.protocol === IpProtocol.ICMPV6 ? checksumAdd(ps, l4, 0, l4.length) : checksumAdd(0, l4, 0, l4.length);
    p.checksumOk &&= checksumFinish(sum) === 0;
    p.icmp = { type: l4[0]!, code: l4[1]!, rest: read32(l4, 4), data: l4.subarray(8) };
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
