/**
 * A tcpdump-style one-liner of any bytes, for traces and test failures (smoltcp's fuzz target
 * `packet_parser.rs` pretty-prints any input the same way). It never throws and reads nothing past
 * the bytes it is given; each layer that fails says why with its drop reason name (dropReasonName).
 *
 *   IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [S] seq=1 win=64240 [mss 1460,sackOK,TS 1 0,nop,wscale 7] len=0
 *   IPv6 [2001:db8::1]:53 > [2001:db8::2]:5353 UDP len=40
 *   IPv4 10.0.0.2 > 10.0.0.1 ICMP echo request id=1 seq=2 len=56
 *   IPv4 10.0.0.1 > 10.0.0.2 ICMP frag needed mtu=1280 for (IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [.] ...)
 *   IPv6 2001:db8:1::2 > 2001:db8:2::7 ext=hbh,dstopts frag id=0xe8f4b3e0 off=0+ len=1216 proto=UDP
 *   IPv4 truncated (12 bytes)     bad_version 7 (40 bytes)     IPv4 bad_checksum 10.0.0.2:1 > ...
 *
 * Not for the data path: it builds strings. Sequence numbers are absolute; `len=` is the payload length
 * (TCP/UDP payload, ICMP data after the 8-byte header, fragment data).
 */
import { fitsIn, read16, read32 } from "./bytes.js";
import { pseudoSum4, pseudoSum6 } from "./checksum.js";
import { Drop, dropReasonName } from "./drop.js";
import { Icmpv4Type, Icmpv6Type, IcmpPacket } from "./icmp.js";
import { IpProtocol } from "./ip-protocol.js";
import { IPV4_MIN_HEADER, Ipv4Packet, ipv4ToString } from "./ipv4.js";
import { IPV6_FRAGMENT_HEADER, IPV6_HEADER, Ipv6Packet, ipv6ToString } from "./ipv6.js";
import { MAX_SACK_BLOCKS, TcpOptionKind, TcpPacket } from "./tcp.js";
import { UDP_HEADER, UdpPacket } from "./udp.js";

/** An ICMP error's quoted packet is described once; a quote inside a quote is only named. */
const MAX_DEPTH = 1;

// One set of views per depth: the quoted packet is described while the outer views are still in use.
const ipv4Views = [new Ipv4Packet(), new Ipv4Packet()];
const ipv6Views = [new Ipv6Packet(), new Ipv6Packet()];
const tcpViews = [new TcpPacket(), new TcpPacket()];
const udpViews = [new UdpPacket(), new UdpPacket()];
const icmpViews = [new IcmpPacket(), new IcmpPacket()];

/** One line describing the IP packet in `packet[offset, offset + length)`. Never throws. */
export function describe(packet: Uint8Array, offset = 0, length = packet.length - offset): string {
  try {
    return describeIp(packet, offset, length, 0);
  } catch {
    // Unreachable by design (the robustness spec asserts this text never appears); a trace must not throw.
    return `describe_failed (${length} bytes)`;
  }
}

/** The same function under a name that does not clash with a test runner's `describe`. */
export const describePacket = describe;

function describeIp(b: Uint8Array, off: number, len: number, depth: number): string {
  if (!fitsIn(b, off, len)) {
    // A caller's length past the buffer: describe the bytes that are there.
    if (!(off >= 0 && off <= b.length)) return `truncated (0 bytes)`;
    len = b.length - off;
  }
  if (len < 1) return `truncated (${len} bytes)`;
  const version = b[off]! >> 4;
  if (version === 4) return describeIpv4(b, off, len, depth);
  if (version === 6) return describeIpv6(b, off, len, depth);
  return `${dropReasonName(Drop.BAD_VERSION)} ${version} (${len} bytes)`;
}

function describeIpv4(b: Uint8Array, off: number, len: number, depth: number): string {
  if (len < IPV4_MIN_HEADER) return `IPv4 ${dropReasonName(Drop.TRUNCATED)} (${len} bytes)`;
  const quoted = depth > 0;
  const ip = ipv4Views[depth]!.wrap(b, off, len);
  const r = ip.check(true, quoted);
  const src = ipv4ToString(ip.src);
  const dst = ipv4ToString(ip.dst);
  if (r !== Drop.OK && r !== Drop.BAD_CHECKSUM) {
    const detail = r === Drop.BAD_HEADER_LENGTH ? `ihl=${ip.headerLength}` : `hl=${ip.headerLength} total=${ip.totalLength}`;
    return `IPv4 ${src} > ${dst} ${dropReasonName(r)} ${detail} (${len} bytes)`;
  }
  const head = r === Drop.BAD_CHECKSUM ? `IPv4 ${dropReasonName(r)} ` : "IPv4 ";
  const mid = ip.optionsLength > 0 ? ` ipopts=${ip.optionsLength}` : "";
  if (ip.isFragment) {
    return (
      `${head}${src} > ${dst}${mid} frag id=${ip.ident} off=${ip.fragmentOffset}${ip.moreFragments ? "+" : ""}` +
      ` len=${ip.payloadLength} proto=${protocolName(ip.protocol)}`
    );
  }
  return (
    head +
    describeUpper(4, b, off, ip.payloadOffset, ip.carriedPayloadLength, ip.payloadLength, ip.protocol, src, dst, mid, depth)
  );
}

function describeIpv6(b: Uint8Array, off: number, len: number, depth: number): string {
  if (len < IPV6_HEADER) return `IPv6 ${dropReasonName(Drop.TRUNCATED)} (${len} bytes)`;
  const quoted = depth > 0;
  const ip = ipv6Views[depth]!.wrap(b, off, len);
  const r = ip.check(quoted);
  const src = ipv6ToString(b, ip.srcOffset);
  const dst = ipv6ToString(b, ip.dstOffset);
  if (r !== Drop.OK) return `IPv6 ${src} > ${dst} ${dropReasonName(r)} plen=${ip.payloadLength} (${len} bytes)`;
  const names = extensionNames(ip);
  const mid = names === "" ? "" : ` ext=${names}`;
  // What the payload length says follows the extension headers (more than is there when quoted).
  const claimed = off + IPV6_HEADER + ip.payloadLength - ip.upperOffset;
  if (ip.isFragment) {
    return (
      `IPv6 ${src} > ${dst}${mid} frag id=0x${ip.fragmentIdent.toString(16).padStart(8, "0")}` +
      ` off=${ip.fragmentOffset}${ip.moreFragments ? "+" : ""} len=${claimed} proto=${protocolName(ip.upperProtocol)}`
    );
  }
  return "IPv6 " + describeUpper(6, b, off, ip.upperOffset, ip.upperLength, claimed, ip.upperProtocol, src, dst, mid, depth);
}

/** Names of the extension headers `check()` walked past, in order (a fragment's own header left out). */
function extensionNames(ip: Ipv6Packet): string {
  const b = ip.bytes;
  let next = ip.nextHeader;
  let at = ip.offset + IPV6_HEADER;
  let out = "";
  for (let i = 0; i < ip.extensionHeaderCount; i++) {
    let len: number;
    let name: string;
    switch (next) {
      case IpProtocol.HOP_BY_HOP:
        name = "hbh";
        len = (b[at + 1]! + 1) * 8;
        break;
      case IpProtocol.IPV6_ROUTING:
        name = "rthdr";
        len = (b[at + 1]! + 1) * 8;
        break;
      case IpProtocol.IPV6_DEST_OPTS:
        name = "dstopts";
        len = (b[at + 1]! + 1) * 8;
        break;
      case IpProtocol.IPV6_FRAGMENT:
        name = ip.isFragment ? "" : "frag";
        len = IPV6_FRAGMENT_HEADER;
        break;
      case IpProtocol.AH:
        name = "ah";
        len = (b[at + 1]! + 2) * 4;
        break;
      default:
        return out; // cannot happen after check() returned OK
    }
    if (name !== "") out += out === "" ? name : `,${name}`;
    next = b[at]!;
    at += len;
  }
  return out;
}

function endpoint(family: 4 | 6, addr: string, port: number): string {
  return family === 4 ? `${addr}:${port}` : `[${addr}]:${port}`;
}

/**
 * "src:port > dst:port MID PROTO ..." for the upper layer at `l4Off`: `carried` bytes are there,
 * `claimed` is what the IP header says (more than carried only in a quoted packet).
 */
function describeUpper(
  family: 4 | 6,
  b: Uint8Array,
  ipOff: number,
  l4Off: number,
  carried: number,
  claimed: number,
  protocol: number,
  src: string,
  dst: string,
  mid: string,
  depth: number,
): string {
  switch (protocol) {
    case IpProtocol.TCP:
      return describeTcp(family, b, ipOff, l4Off, carried, claimed, src, dst, mid, depth);
    case IpProtocol.UDP:
      return describeUdp(family, b, ipOff, l4Off, carried, src, dst, mid, depth);
    case IpProtocol.ICMP:
      if (family === 4) return `${src} > ${dst}${mid} ICMP ${describeIcmp(false, b, ipOff, l4Off, carried, depth)}`;
      break;
    case IpProtocol.ICMPV6:
      if (family === 6) return `${src} > ${dst}${mid} ICMPv6 ${describeIcmp(true, b, ipOff, l4Off, carried, depth)}`;
      break;
  }
  return `${src} > ${dst}${mid} proto=${protocolName(protocol)} len=${claimed}`;
}

function describeTcp(
  family: 4 | 6,
  b: Uint8Array,
  ipOff: number,
  off: number,
  carried: number,
  claimed: number,
  src: string,
  dst: string,
  mid: string,
  depth: number,
): string {
  const trunc = dropReasonName(Drop.TRUNCATED);
  if (carried < 4) return `${src} > ${dst}${mid} TCP ${trunc} (${carried} bytes)`;
  const ports = `${endpoint(family, src, read16(b, off))} > ${endpoint(family, dst, read16(b, off + 2))}${mid} TCP`;
  const quoted = depth > 0;
  const tcp = tcpViews[depth]!.wrap(b, off, carried);
  let r: number;
  if (quoted) {
    r = tcp.check();
  } else {
    const sum = family === 4 ? pseudoSum4(b, ipOff, IpProtocol.TCP, carried) : pseudoSum6(b, ipOff, IpProtocol.TCP, carried);
    r = tcp.check(sum);
  }
  if (r === Drop.TRUNCATED || r === Drop.BAD_HEADER_LENGTH) {
    // A quote shorter than the TCP header (RFC 792 promises only 8 bytes): what is there, tcpdump's "[|tcp]".
    if (quoted && r === Drop.TRUNCATED) return carried >= 8 ? `${ports} seq=${read32(b, off + 4)} [|tcp]` : `${ports} [|tcp]`;
    const detail = carried >= 13 ? ` hl=${(b[off + 12]! >> 4) * 4}` : "";
    return `${ports} ${dropReasonName(r)}${detail} (${carried} bytes)`;
  }
  let s = ports;
  if (r === Drop.BAD_CHECKSUM) s += ` ${dropReasonName(r)}`;
  s += ` [${tcpFlagsText(tcp.flags, b[off + 12]! & 1)}] seq=${tcp.seq}`;
  if (tcp.hasAck) s += ` ack=${tcp.ack}`;
  s += ` win=${tcp.window}`;
  if (tcp.urg) s += ` urg=${tcp.urgentPointer}`;
  if (tcp.optionsLength > 0) s += ` [${tcpOptionsText(b, tcp.optionsOffset, tcp.optionsLength)}]`;
  return `${s} len=${claimed - tcp.headerLength}`;
}

/** tcpdump's letters, in its order: F S R P . U E W, then e for the AE bit; "none" for no flags. */
function tcpFlagsText(flags: number, ae: number): string {
  let s = "";
  if (flags & 0x01) s += "F";
  if (flags & 0x02) s += "S";
  if (flags & 0x04) s += "R";
  if (flags & 0x08) s += "P";
  if (flags & 0x10) s += ".";
  if (flags & 0x20) s += "U";
  if (flags & 0x40) s += "E";
  if (flags & 0x80) s += "W";
  if (ae) s += "e";
  return s === "" ? "none" : s;
}

const TCP_OPTION_NAMES: Readonly<Record<number, string>> = { 19: "md5", 28: "uto", 29: "tcp-ao", 30: "mptcp", 34: "tfo" };

/**
 * The option list in wire order as tcpdump prints it ("mss 1460,sackOK,TS 1 0,nop,wscale 7"), NOPs
 * included. A malformed option (the cases parseTcpOptions rejects) ends the walk with "bad_options".
 */
export function tcpOptionsText(b: Uint8Array, off: number, len: number): string {
  const bad = dropReasonName(Drop.BAD_OPTIONS);
  const end = off + len;
  let out = "";
  let i = off;
  while (i < end) {
    if (out !== "") out += ",";
    const kind = b[i]!;
    if (kind === TcpOptionKind.EOL) return out + "eol";
    if (kind === TcpOptionKind.NOP) {
      out += "nop";
      i++;
      continue;
    }
    if (i + 1 >= end) return out + bad;
    const olen = b[i + 1]!;
    if (olen < 2 || i + olen > end) return out + bad;
    switch (kind) {
      case TcpOptionKind.MSS:
        if (olen !== 4) return out + bad;
        out += `mss ${read16(b, i + 2)}`;
        break;
      case TcpOptionKind.WINDOW_SCALE:
        if (olen !== 3) return out + bad;
        out += `wscale ${b[i + 2]!}`;
        break;
      case TcpOptionKind.SACK_PERMITTED:
        if (olen !== 2) return out + bad;
        out += "sackOK";
        break;
      case TcpOptionKind.SACK: {
        const n = (olen - 2) / 8;
        if (n < 1 || n > MAX_SACK_BLOCKS || n !== Math.floor(n)) return out + bad;
        out += `sack ${n} `;
        for (let k = 0; k < n; k++) out += `{${read32(b, i + 2 + k * 8)}:${read32(b, i + 6 + k * 8)}}`;
        break;
      }
      case TcpOptionKind.TIMESTAMPS:
        if (olen !== 10) return out + bad;
        out += `TS ${read32(b, i + 2)} ${read32(b, i + 6)}`;
        break;
      default:
        out += `${TCP_OPTION_NAMES[kind] ?? `opt-${kind}`} len ${olen}`;
    }
    i += olen;
  }
  return out;
}

function describeUdp(
  family: 4 | 6,
  b: Uint8Array,
  ipOff: number,
  off: number,
  carried: number,
  src: string,
  dst: string,
  mid: string,
  depth: number,
): string {
  const trunc = dropReasonName(Drop.TRUNCATED);
  if (carried < 4) return `${src} > ${dst}${mid} UDP ${trunc} (${carried} bytes)`;
  const ports = `${endpoint(family, src, read16(b, off))} > ${endpoint(family, dst, read16(b, off + 2))}${mid} UDP`;
  if (carried < UDP_HEADER) return `${ports} ${trunc} (${carried} bytes)`;
  const udp = udpViews[depth]!.wrap(b, off, carried);
  const ulen = udp.length;
  if (depth > 0) {
    // Quoted: the datagram is usually cut short; its length field says how long it was.
    return ulen < UDP_HEADER ? `${ports} ${dropReasonName(Drop.BAD_LENGTH)} ulen=${ulen}` : `${ports} len=${ulen - UDP_HEADER}`;
  }
  const sum = family === 4 ? pseudoSum4(b, ipOff, IpProtocol.UDP, ulen) : pseudoSum6(b, ipOff, IpProtocol.UDP, ulen);
  const r = udp.check(sum, family === 6);
  if (r === Drop.TRUNCATED || r === Drop.BAD_LENGTH) return `${ports} ${dropReasonName(r)} ulen=${ulen} (${carried} bytes)`;
  return r === Drop.OK ? `${ports} len=${udp.payloadLength}` : `${ports} ${dropReasonName(r)} len=${udp.payloadLength}`;
}

/** The text after "ICMP " / "ICMPv6 ". */
function describeIcmp(v6: boolean, b: Uint8Array, ipOff: number, off: number, carried: number, depth: number): string {
  const icmp = icmpViews[depth]!.wrap(b, off, carried);
  const r = depth > 0 ? icmp.check(false) : icmp.check(true, v6 ? pseudoSum6(b, ipOff, IpProtocol.ICMPV6, carried) : 0);
  if (r === Drop.TRUNCATED) return `${dropReasonName(r)} (${carried} bytes)`;
  const head = r === Drop.BAD_CHECKSUM ? `${dropReasonName(r)} ` : "";
  const type = icmp.type;
  const code = icmp.code;
  const echoRequest = v6 ? Icmpv6Type.ECHO_REQUEST : Icmpv4Type.ECHO_REQUEST;
  const echoReply = v6 ? Icmpv6Type.ECHO_REPLY : Icmpv4Type.ECHO_REPLY;
  if (type === echoRequest || type === echoReply) {
    const what = type === echoRequest ? "echo request" : "echo reply";
    return `${head}${what} id=${icmp.ident} seq=${icmp.sequence} len=${icmp.dataLength}`;
  }
  const error = v6 ? icmpv6ErrorText(icmp, type, code) : icmpv4ErrorText(icmp, type, code);
  if (error === undefined) {
    const name = v6 ? ICMPV6_INFO_NAMES[type] : undefined;
    return `${head}${name ?? `type=${type} code=${code}`} len=${icmp.dataLength}`;
  }
  if (depth >= MAX_DEPTH) return `${head}${error}`;
  const quoted = describeIp(b, icmp.quotedPacketOffset, icmp.quotedPacketLength(v6), depth + 1);
  return `${head}${error} for (${quoted})`;
}

const ICMPV4_UNREACH: readonly string[] = [
  "net unreachable",
  "host unreachable",
  "protocol unreachable",
  "port unreachable",
  "frag needed",
  "source route failed",
  "net unknown",
  "host unknown",
  "source host isolated",
  "net prohibited",
  "host prohibited",
  "net unreachable for tos",
  "host unreachable for tos",
  "admin prohibited",
  "host precedence violation",
  "precedence cutoff",
];

/** The error's text for an ICMPv4 error type (RFC 792, RFC 1191, RFC 1812), undefined for others. */
function icmpv4ErrorText(icmp: IcmpPacket, type: number, code: number): string | undefined {
  switch (type) {
    case Icmpv4Type.DEST_UNREACHABLE: {
      const name = ICMPV4_UNREACH[code] ?? `unreachable code=${code}`;
      return code === 4 ? `${name} mtu=${icmp.nextHopMtu4}` : name;
    }
    case Icmpv4Type.TIME_EXCEEDED:
      return code === 1 ? "reassembly time exceeded" : code === 0 ? "time exceeded" : `time exceeded code=${code}`;
    case Icmpv4Type.PARAMETER_PROBLEM:
      return `parameter problem code=${code} pointer=${icmp.bytes[icmp.offset + 4]!}`;
    case Icmpv4Type.SOURCE_QUENCH:
      return "source quench";
    case Icmpv4Type.REDIRECT:
      return `redirect code=${code} to ${ipv4ToString(icmp.restOfHeader)}`;
  }
  return undefined;
}

const ICMPV6_UNREACH: readonly string[] = [
  "no route",
  "admin prohibited",
  "beyond scope",
  "address unreachable",
  "port unreachable",
  "source address failed policy",
  "reject route",
];

/** The error's text for an ICMPv6 error type (RFC 4443 §3), undefined for informational messages. */
function icmpv6ErrorText(icmp: IcmpPacket, type: number, code: number): string | undefined {
  switch (type) {
    case Icmpv6Type.DEST_UNREACHABLE:
      return ICMPV6_UNREACH[code] ?? `unreachable code=${code}`;
    case Icmpv6Type.PACKET_TOO_BIG:
      return `packet too big mtu=${icmp.mtu6}`;
    case Icmpv6Type.TIME_EXCEEDED:
      return code === 1 ? "reassembly time exceeded" : code === 0 ? "time exceeded" : `time exceeded code=${code}`;
    case Icmpv6Type.PARAMETER_PROBLEM:
      return `parameter problem code=${code} pointer=${icmp.restOfHeader}`;
  }
  return type < 128 ? `error type=${type} code=${code}` : undefined;
}

const ICMPV6_INFO_NAMES: Readonly<Record<number, string>> = {
  130: "mld query",
  131: "mld report",
  132: "mld done",
  133: "router solicitation",
  134: "router advertisement",
  135: "neighbor solicitation",
  136: "neighbor advertisement",
  137: "redirect",
  143: "mld2 report",
};

const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: "ICMP",
  4: "IPIP",
  6: "TCP",
  17: "UDP",
  41: "IPv6",
  47: "GRE",
  50: "ESP",
  51: "AH",
  58: "ICMPv6",
  59: "none",
  132: "SCTP",
};

function protocolName(p: number): string {
  return PROTOCOL_NAMES[p] ?? `${p}`;
}
