/**
 * Every wire parser and describe() over one byte string, with the invariants the robustness run and
 * the wire fuzz target (spec/fuzz/targets/wire.ts) check: every result is Drop.OK or a reason, after
 * OK every getter gives a finite integer within the packet's bounds, and (run twice with different
 * bytes around the packet) no parser reads outside it. No test runner here: the fuzzer loads it too.
 */
import { pseudoSum4, pseudoSum6 } from "../../lib/wire/checksum.js";
import { describe as describePacket } from "../../lib/wire/describe.js";
import { Drop } from "../../lib/wire/drop.js";
import { IcmpPacket, fillIcmpv4Checksum, fillIcmpv6Checksum, isIcmpv4Error, isIcmpv6Error } from "../../lib/wire/icmp.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { Ipv4Packet } from "../../lib/wire/ipv4.js";
import { Ipv6Packet } from "../../lib/wire/ipv6.js";
import { TcpOptions, TcpPacket, fillTcpChecksum, parseTcpOptions } from "../../lib/wire/tcp.js";
import { UdpPacket, fillUdpChecksum } from "../../lib/wire/udp.js";

// ---- checksum refresh, so mutated packets get past the checksum checks to the layers below ----
const fixIp4 = new Ipv4Packet();
const fixIp6 = new Ipv6Packet();
export function refreshChecksums(b: Uint8Array, off: number, len: number): void {
  if (len < 1) return;
  const v = b[off]! >> 4;
  if (v === 4) {
    if (len < 20) return;
    const hl = (b[off]! & 15) * 4;
    if (hl < 20 || hl > len) return;
    b[off + 10] = 0;
    b[off + 11] = 0;
    let s = 0;
    for (let i = 0; i < hl; i += 2) s += (b[off + i]! << 8) | b[off + i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    b[off + 10] = ~s >> 8;
    b[off + 11] = ~s;
    if (fixIp4.wrap(b, off, len).check(true) !== Drop.OK || fixIp4.isFragment) return;
    refreshUpper(b, off, fixIp4.payloadOffset, fixIp4.payloadLength, fixIp4.protocol, false);
  } else if (v === 6) {
    if (fixIp6.wrap(b, off, len).check() !== Drop.OK || fixIp6.isFragment) return;
    refreshUpper(b, off, fixIp6.upperOffset, fixIp6.upperLength, fixIp6.upperProtocol, true);
  }
}
function refreshUpper(b: Uint8Array, ipOff: number, l4: number, l4len: number, protocol: number, v6: boolean): void {
  const pseudo = (p: number, n: number) => (v6 ? pseudoSum6(b, ipOff, p, n) : pseudoSum4(b, ipOff, p, n));
  if (protocol === IpProtocol.TCP && l4len >= 20) fillTcpChecksum(b, l4, l4len, pseudo(6, l4len));
  else if (protocol === IpProtocol.UDP && l4len >= 8) {
    const ulen = (b[l4 + 4]! << 8) | b[l4 + 5]!;
    if (ulen >= 8 && ulen <= l4len) fillUdpChecksum(b, l4, ulen, pseudo(17, ulen));
  } else if (protocol === IpProtocol.ICMP && !v6 && l4len >= 8) fillIcmpv4Checksum(b, l4, l4len);
  else if (protocol === IpProtocol.ICMPV6 && v6 && l4len >= 8) fillIcmpv6Checksum(b, l4, l4len, pseudo(58, l4len));
}

// ---- the parsers under test, with invariants ----
const ip4 = new Ipv4Packet();
const ip6 = new Ipv6Packet();
const q4 = new Ipv4Packet();
const q6 = new Ipv6Packet();
const tcp = new TcpPacket();
const udp = new UdpPacket();
const icmp = new IcmpPacket();
const opts = new TcpOptions();
const REASONS = new Set<number>(Object.values(Drop));

/** Per-layer counts of Drop.OK, to show the mutations reach every layer. */
export const reached = { ip4: 0, ip6: 0, tcp: 0, tcpVerified: 0, options: 0, udp: 0, udpVerified: 0, icmp: 0, icmpVerified: 0, quoted: 0 };

let problem = "";
/** The first rule the last exercise() saw broken ("" = none). */
export function lastProblem(): string {
  return problem;
}
export function clearProblem(): void {
  problem = "";
}
/** Every getter value goes through here: a digest of the run, and NaN/undefined/non-integers are caught. */
let digest = 0;
function v(x: number | boolean): void {
  const n = +x;
  if (!Number.isInteger(n)) problem ||= `non-integer getter value ${String(x)}`;
  digest = (Math.imul(digest ^ n, 0x9e3779b1) + 0x7f4a7c15) | 0;
}
function reason(r: number, what: string): number {
  if (!REASONS.has(r)) problem ||= `${what} returned ${r}, not a Drop reason`;
  v(r);
  return r;
}
function within(cond: boolean, what: string): void {
  if (!cond) problem ||= what;
}

function exerciseTcp(b: Uint8Array, off: number, len: number, pseudo: number | undefined): void {
  tcp.wrap(b, off, len);
  const verified = pseudo !== undefined && reason(tcp.check(pseudo), "tcp.check(pseudo)") === Drop.OK;
  if (reason(tcp.check(), "tcp.check") !== Drop.OK) return;
  reached.tcp++;
  if (verified) reached.tcpVerified++;
  v(tcp.srcPort), v(tcp.dstPort), v(tcp.seq), v(tcp.ack), v(tcp.flags), v(tcp.window), v(tcp.checksum), v(tcp.urgentPointer);
  v(tcp.fin), v(tcp.syn), v(tcp.rst), v(tcp.psh), v(tcp.hasAck), v(tcp.urg), v(tcp.segmentLength);
  within(tcp.headerLength >= 20 && tcp.headerLength <= 60 && tcp.headerLength <= len, "tcp header length out of bounds");
  within(tcp.payloadOffset + tcp.payloadLength === off + len && tcp.payloadLength >= 0, "tcp payload out of bounds");
  within(tcp.optionsOffset + tcp.optionsLength === tcp.payloadOffset, "tcp options out of bounds");
  if (reason(parseTcpOptions(b, tcp.optionsOffset, tcp.optionsLength, opts), "parseTcpOptions") === Drop.OK) {
    reached.options++;
    v(opts.mss), v(opts.windowScale), v(opts.sackPermitted), v(opts.hasTimestamps), v(opts.tsVal), v(opts.tsEcr), v(opts.unknownCount);
    within(opts.sackCount >= 0 && opts.sackCount <= 4, "sackCount out of range");
    within(opts.mss >= -1 && opts.mss <= 0xffff && opts.windowScale >= -1 && opts.windowScale <= 255, "option value out of range");
    for (let k = 0; k < opts.sackCount * 2; k++) v(opts.sackBlocks[k]!);
  }
}

function exerciseUdp(b: Uint8Array, off: number, len: number, pseudoOf: ((ulen: number) => number) | undefined, v6: boolean): void {
  udp.wrap(b, off, len);
  let verified = false;
  if (pseudoOf !== undefined && len >= 8) verified = reason(udp.check(pseudoOf(udp.length), v6), "udp.check(pseudo)") === Drop.OK;
  if (reason(udp.check(), "udp.check") !== Drop.OK) return;
  reached.udp++;
  if (verified) reached.udpVerified++;
  v(udp.srcPort), v(udp.dstPort), v(udp.checksum);
  within(udp.length >= 8 && udp.payloadOffset + udp.payloadLength <= off + len, "udp payload out of bounds");
}

function exerciseIcmp(b: Uint8Array, off: number, len: number, v6: boolean, pseudo: number, depth: number): void {
  icmp.wrap(b, off, len);
  const verified = reason(icmp.check(true, pseudo), "icmp.check(true)") === Drop.OK;
  if (reason(icmp.check(false), "icmp.check(false)") !== Drop.OK) return;
  reached.icmp++;
  if (verified) reached.icmpVerified++;
  v(icmp.type), v(icmp.code), v(icmp.checksum), v(icmp.ident), v(icmp.sequence), v(icmp.restOfHeader), v(icmp.nextHopMtu4), v(icmp.mtu6);
  within(icmp.dataOffset + icmp.dataLength === off + len, "icmp data out of bounds");
  const type = icmp.type;
  if (depth > 0 || !(v6 ? isIcmpv6Error(type) : isIcmpv4Error(type))) return;
  const qOff = icmp.quotedPacketOffset;
  const qLen = icmp.quotedPacketLength(v6);
  v(qOff), v(qLen);
  within(qOff + qLen <= off + len && qLen >= 0, "quoted packet out of bounds");
  if (!v6 && reason(q4.wrap(b, qOff, qLen).check(true, true), "quoted ipv4.check") === Drop.OK) {
    reached.quoted++;
    within(q4.payloadOffset + q4.carriedPayloadLength <= qOff + qLen && q4.carriedPayloadLength >= 0, "quoted ipv4 payload out of bounds");
    v(q4.src), v(q4.dst), v(q4.protocol), v(q4.payloadLength);
    if (q4.protocol === IpProtocol.TCP) exerciseTcp(b, q4.payloadOffset, q4.carriedPayloadLength, undefined);
    if (q4.protocol === IpProtocol.UDP) exerciseUdp(b, q4.payloadOffset, q4.carriedPayloadLength, undefined, false);
  }
  if (v6 && reason(q6.wrap(b, qOff, qLen).check(true), "quoted ipv6.check") === Drop.OK) {
    reached.quoted++;
    within(q6.upperOffset + q6.upperLength <= qOff + qLen && q6.upperLength >= 0, "quoted ipv6 upper out of bounds");
    v(q6.upperProtocol), v(q6.payloadLength);
    if (q6.upperProtocol === IpProtocol.TCP) exerciseTcp(b, q6.upperOffset, q6.upperLength, undefined);
  }
}

/** Run every parser over b[off, off + len); returns the digest of everything read. */
export function exercise(b: Uint8Array, off: number, len: number): number {
  digest = 0;
  // As IPv4, with and without the checksum, and as a quote.
  ip4.wrap(b, off, len);
  reason(ip4.check(false), "ipv4.check(false)");
  reason(ip4.check(true, true), "ipv4.check(quoted)");
  if (reason(ip4.check(true), "ipv4.check") === Drop.OK) {
    reached.ip4++;
    v(ip4.version), v(ip4.tos), v(ip4.dscp), v(ip4.ecn), v(ip4.ident), v(ip4.dontFragment), v(ip4.moreFragments);
    v(ip4.fragmentOffset), v(ip4.isFragment), v(ip4.ttl), v(ip4.protocol), v(ip4.headerChecksum), v(ip4.src), v(ip4.dst);
    v(ip4.optionsLength), v(ip4.srcOffset), v(ip4.dstOffset);
    const l4 = ip4.payloadOffset;
    const l4len = ip4.payloadLength;
    within(l4 + l4len <= off + len && l4len >= 0 && ip4.carriedPayloadLength === l4len, "ipv4 payload out of bounds");
    if (!ip4.isFragment) {
      const p = ip4.protocol;
      if (p === IpProtocol.TCP) exerciseTcp(b, l4, l4len, pseudoSum4(b, off, 6, l4len));
      else if (p === IpProtocol.UDP) exerciseUdp(b, l4, l4len, (n) => pseudoSum4(b, off, 17, n), false);
      else if (p === IpProtocol.ICMP) exerciseIcmp(b, l4, l4len, false, 0, 0);
    }
  }
  // As IPv6, and as a quote.
  ip6.wrap(b, off, len);
  reason(ip6.check(true), "ipv6.check(quoted)");
  if (reason(ip6.check(), "ipv6.check") === Drop.OK) {
    reached.ip6++;
    v(ip6.version), v(ip6.trafficClass), v(ip6.flowLabel), v(ip6.payloadLength), v(ip6.nextHeader), v(ip6.hopLimit);
    v(ip6.extensionHeaderCount), v(ip6.hasFragmentHeader), v(ip6.fragmentOffset), v(ip6.moreFragments), v(ip6.fragmentIdent);
    v(ip6.isFragment), v(ip6.upperProtocol);
    const u = ip6.upperOffset;
    const n = ip6.upperLength;
    within(u >= off + 40 && u + n <= off + len && n >= 0, "ipv6 upper layer out of bounds");
    within(ip6.extensionHeaderCount <= 8, "ipv6 walked too far");
    if (!ip6.isFragment) {
      const p = ip6.upperProtocol;
      if (p === IpProtocol.TCP) exerciseTcp(b, u, n, pseudoSum6(b, off, 6, n));
      else if (p === IpProtocol.UDP) exerciseUdp(b, u, n, (m) => pseudoSum6(b, off, 17, m), true);
      else if (p === IpProtocol.ICMPV6) exerciseIcmp(b, u, n, true, pseudoSum6(b, off, 58, n), 0);
    }
  }
  // Each upper-layer parser straight on the bytes, as if IP had handed them over.
  exerciseTcp(b, off, len, undefined);
  exerciseUdp(b, off, len, undefined, false);
  exerciseIcmp(b, off, len, len > 0 && (b[off]! & 1) === 1, 0, 1);
  if (len > 0) v(reason(parseTcpOptions(b, off, Math.min(len, 44), opts), "parseTcpOptions(raw)"));
  return digest;
}

/**
 * `b[off, off + len)` through every parser and describe(), then (`twice`) again with different canary
 * bytes around it (`b` has room around the packet): returns the first broken rule, "" when none. Throws only if a
 * parser does.
 */
export function exerciseWithCanaries(b: Uint8Array, off: number, len: number, canary: number, twice = true): string {
  b.fill(canary, 0, off);
  b.fill(canary, off + len);
  problem = "";
  const d1 = exercise(b, off, len);
  const s1 = describePacket(b, off, len);
  if (s1.includes("describe_failed")) problem ||= "describe() caught an exception";
  if (!twice) return problem;
  b.fill(~canary & 0xff, 0, off);
  b.fill(~canary & 0xff, off + len);
  const d2 = exercise(b, off, len);
  if (d2 !== d1) problem ||= "a parser read outside the packet (results changed with the canary)";
  if (describePacket(b, off, len) !== s1) problem ||= "describe() read outside the packet";
  return problem;
}
