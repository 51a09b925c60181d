/**
 * Packet builders for the wire specs and the robustness corpus, made with the emitters under test
 * (their output is checked against real Linux captures in the known-answer specs).
 */
import { pseudoSum4, pseudoSum6 } from "../../lib/wire/checksum.js";
import { ICMP_HEADER, emitIcmpHeader, fillIcmpv4Checksum, fillIcmpv6Checksum } from "../../lib/wire/icmp.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { IPV4_MIN_HEADER, emitIpv4Header, ipv4Fields, parseIpv4 } from "../../lib/wire/ipv4.js";
import { IPV6_HEADER, emitIpv6FragmentHeader, emitIpv6Header, ipv6Fields, parseIpv6 } from "../../lib/wire/ipv6.js";
import { TcpOptions, emitTcpHeader, fillTcpChecksum, tcpFields, tcpOptionsLength, type TcpFields } from "../../lib/wire/tcp.js";
import { UDP_HEADER, emitUdpHeader, fillUdpChecksum } from "../../lib/wire/udp.js";

export interface TcpSpec extends Partial<TcpFields> {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  ts?: readonly [number, number];
  sack?: ReadonlyArray<readonly [number, number]>;
  payload?: Uint8Array;
}

export function tcpOptions(spec: TcpSpec): TcpOptions {
  const o = new TcpOptions();
  if (spec.mss !== undefined) o.mss = spec.mss;
  if (spec.windowScale !== undefined) o.windowScale = spec.windowScale;
  o.sackPermitted = spec.sackPermitted ?? false;
  if (spec.ts) {
    o.hasTimestamps = true;
    o.tsVal = spec.ts[0];
    o.tsEcr = spec.ts[1];
  }
  const sack = spec.sack ?? [];
  o.sackCount = sack.length;
  sack.forEach(([l, r], k) => {
    o.sackBlocks[2 * k] = l;
    o.sackBlocks[2 * k + 1] = r;
  });
  return o;
}

function tcpSegmentInto(b: Uint8Array, off: number, spec: TcpSpec): number {
  const f = { ...tcpFields(), ...spec };
  const o = tcpOptions(spec);
  const hl = emitTcpHeader(b, off, f, o);
  const payload = spec.payload ?? new Uint8Array(0);
  b.set(payload, off + hl);
  return hl + payload.length;
}

function addr6(text: string): Uint8Array {
  const a = new Uint8Array(16);
  if (!parseIpv6(text, a, 0)) throw new Error(`bad IPv6 address ${text}`);
  return a;
}

/** An IPv4 packet around an upper-layer payload written by `fill` (returns its length). */
export function ipv4Packet(
  src: string,
  dst: string,
  protocol: number,
  upperLength: number,
  fill: (b: Uint8Array, off: number) => void,
  ident = 1,
): Uint8Array {
  const b = new Uint8Array(IPV4_MIN_HEADER + upperLength);
  const f = ipv4Fields();
  f.src = parseIpv4(src);
  f.dst = parseIpv4(dst);
  f.protocol = protocol;
  f.payloadLength = upperLength;
  f.ident = ident;
  emitIpv4Header(b, 0, f);
  fill(b, IPV4_MIN_HEADER);
  return b;
}

/** An IPv6 packet: fixed header, then `ext` raw extension headers (their Next Header bytes are set), then the upper layer. */
export function ipv6Packet(
  src: string,
  dst: string,
  protocol: number,
  upperLength: number,
  fill: (b: Uint8Array, off: number) => void,
  ext: ReadonlyArray<{ type: number; bytes: Uint8Array }> = [],
): Uint8Array {
  const extLength = ext.reduce((n, e) => n + e.bytes.length, 0);
  const b = new Uint8Array(IPV6_HEADER + extLength + upperLength);
  const f = ipv6Fields();
  f.addrBytes.set(addr6(src), 0);
  f.addrBytes.set(addr6(dst), 16);
  f.nextHeader = ext[0]?.type ?? protocol;
  f.payloadLength = extLength + upperLength;
  emitIpv6Header(b, 0, f);
  let at = IPV6_HEADER;
  ext.forEach((e, k) => {
    b.set(e.bytes, at);
    b[at] = ext[k + 1]?.type ?? protocol;
    at += e.bytes.length;
  });
  fill(b, at);
  return b;
}

/** An 8n-byte Hop-by-Hop or Destination Options header padded with PadN (RFC 8200 §4.2). */
export function optionsHeader(length = 8): Uint8Array {
  const h = new Uint8Array(length);
  h[1] = length / 8 - 1;
  h[2] = 1; // PadN
  h[3] = length - 4;
  return h;
}

export function fragmentHeader(fragmentOffset: number, more: boolean, ident: number): Uint8Array {
  const h = new Uint8Array(8);
  emitIpv6FragmentHeader(h, 0, 0, fragmentOffset, more, ident);
  return h;
}

export function tcp4(src: string, dst: string, spec: TcpSpec): Uint8Array {
  const len = 20 + tcpOptionsLength(tcpOptions(spec)) + (spec.payload?.length ?? 0);
  return ipv4Packet(src, dst, IpProtocol.TCP, len, (b, off) => {
    tcpSegmentInto(b, off, spec);
    fillTcpChecksum(b, off, len, pseudoSum4(b, 0, IpProtocol.TCP, len));
  });
}

export function tcp6(src: string, dst: string, spec: TcpSpec, ext: ReadonlyArray<{ type: number; bytes: Uint8Array }> = []): Uint8Array {
  const len = 20 + tcpOptionsLength(tcpOptions(spec)) + (spec.payload?.length ?? 0);
  return ipv6Packet(
    src,
    dst,
    IpProtocol.TCP,
    len,
    (b, off) => {
      tcpSegmentInto(b, off, spec);
      fillTcpChecksum(b, off, len, pseudoSum6(b, 0, IpProtocol.TCP, len));
    },
    ext,
  );
}

export function udp4(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const len = UDP_HEADER + payload.length;
  return ipv4Packet(src, dst, IpProtocol.UDP, len, (b, off) => {
    emitUdpHeader(b, off, sport, dport, len);
    b.set(payload, off + UDP_HEADER);
    fillUdpChecksum(b, off, len, pseudoSum4(b, 0, IpProtocol.UDP, len));
  });
}

export function udp6(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
  ext: ReadonlyArray<{ type: number; bytes: Uint8Array }> = [],
): Uint8Array {
  const len = UDP_HEADER + payload.length;
  return ipv6Packet(
    src,
    dst,
    IpProtocol.UDP,
    len,
    (b, off) => {
      emitUdpHeader(b, off, sport, dport, len);
      b.set(payload, off + UDP_HEADER);
      fillUdpChecksum(b, off, len, pseudoSum6(b, 0, IpProtocol.UDP, len));
    },
    ext,
  );
}

/** ICMPv4 message: type, code, the 4 "rest of header" bytes, data (echo payload or a quoted packet). */
export function icmp4(src: string, dst: string, type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const len = ICMP_HEADER + data.length;
  return ipv4Packet(src, dst, IpProtocol.ICMP, len, (b, off) => {
    emitIcmpHeader(b, off, type, code, rest);
    b.set(data, off + ICMP_HEADER);
    fillIcmpv4Checksum(b, off, len);
  });
}

export function icmp6(src: string, dst: string, type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const len = ICMP_HEADER + data.length;
  return ipv6Packet(src, dst, IpProtocol.ICMPV6, len, (b, off) => {
    emitIcmpHeader(b, off, type, code, rest);
    b.set(data, off + ICMP_HEADER);
    fillIcmpv6Checksum(b, off, len, pseudoSum6(b, 0, IpProtocol.ICMPV6, len));
  });
}

/** Copy `p` into a fresh buffer at byte offset `at` (to test views at any byteOffset). */
export function at(p: Uint8Array, at: number, tail = 0): { buf: Uint8Array; off: number } {
  const buf = new Uint8Array(at + p.length + tail);
  buf.set(p, at);
  return { buf, off: at };
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}
