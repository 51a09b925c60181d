/**
 * The packet oracle's decoder: takes IPv4 / IPv6 packets carrying TCP, UDP or ICMP apart, field by
 * field from the RFCs' diagrams (see encode.ts), and lists every problem it finds instead of
 * throwing. It shares nothing with lib/wire, whose output it checks.
 *
 *   const d = decodePacket(bytes);   // d.ip, d.tcp / d.udp / d.icmp, d.problems (all layers)
 *   engineTcpProblems(d)             // what an engine's own TCP segment must also get right
 *   summary(d)                       // a tcpdump-like one-liner
 */
import { addressText } from "./address.js";
import { sumsToAllOnes, upperLayerChecksumOk } from "./checksum.js";
import type { TcpOption } from "./encode.js";
import { Flag, OptionKind, Proto } from "./numbers.js";
import { get16, get32 } from "./octets.js";

export interface IpView {
  version: 4 | 6;
  src: string;
  dst: string;
  srcBytes: Uint8Array;
  dstBytes: Uint8Array;
  /** The upper-layer protocol (for IPv6: after the extension headers). */
  protocol: number;
  /** TTL or Hop Limit. */
  ttl: number;
  /** IPv4 Type of Service or IPv6 Traffic Class. */
  tos: number;
  flowLabel: number;
  /** IPv4 only. */
  id: number;
  df: boolean;
  /** IPv4 header checksum right (true for IPv6, which has none). */
  headerChecksumOk: boolean;
  /** IPv4 IHL * 4, or 40 for IPv6 (extension headers not included). */
  headerLength: number;
  /** IPv4 Total Length, or 40 + IPv6 Payload Length. */
  totalLength: number;
  /** IPv6 extension headers met, in order (their Next Header values). */
  extensions: number[];
  isFragment: boolean;
  /** In octets. */
  fragmentOffset: number;
  moreFragments: boolean;
  /** IPv4 Identification or the IPv6 Fragment header's. */
  fragmentIdent: number;
  /** The upper-layer bytes (for a fragment: its data). */
  l4: Uint8Array;
}

export interface TcpView {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Header length in octets (Data Offset * 4). */
  headerLength: number;
  reserved: number;
  flags: number;
  window: number;
  checksum: number;
  checksumOk: boolean;
  urgent: number;
  /** Every option in order, padding (EOL, NOP) included. */
  options: TcpOption[];
  /** The octets after the last option up to the end of the header (RFC 9293: zeros). */
  padding: Uint8Array;
  /** -1: absent. */
  mss: number;
  /** -1: absent. */
  wscale: number;
  sackOK: boolean;
  /** [TSval, TSecr], or undefined. */
  ts: [number, number] | undefined;
  sack: Array<[number, number]>;
  payload: Uint8Array;
}

export interface UdpView {
  srcPort: number;
  dstPort: number;
  length: number;
  checksum: number;
  checksumOk: boolean;
  payload: Uint8Array;
}

export interface IcmpView {
  type: number;
  code: number;
  checksum: number;
  checksumOk: boolean;
  rest: number;
  data: Uint8Array;
}

export interface Decoded {
  bytes: Uint8Array;
  /** Undefined when not even the IP header could be read. */
  ip: IpView | undefined;
  tcp: TcpView | undefined;
  udp: UdpView | undefined;
  icmp: IcmpView | undefined;
  /** Everything wrong with the packet, layer by layer; empty when it is well formed. */
  problems: string[];
}

/**
 * `checksums: false` skips the upper-layer checksums (they read every payload octet: a watcher on a
 * long transfer may check them on a sample of the packets only); checksumOk is then true.
 */
export function decodePacket(bytes: Uint8Array, checksums = true): Decoded {
  const d: Decoded = { bytes, ip: undefined, tcp: undefined, udp: undefined, icmp: undefined, problems: [] };
  d.ip = decodeIp(bytes, d.problems);
  const ip = d.ip;
  // A fragment carries part of the upper layer only: nothing above IP to check.
  if (ip === undefined || ip.isFragment) return d;
  if (ip.protocol === Proto.TCP) d.tcp = decodeTcp(ip, d.problems, checksums);
  else if (ip.protocol === Proto.UDP) d.udp = decodeUdp(ip, d.problems, checksums);
  else if (ip.protocol === Proto.ICMP || ip.protocol === Proto.ICMPV6) d.icmp = decodeIcmp(ip, d.problems, checksums);
  return d;
}

// ------------------------------------------------------------------------------------------------
// IP
// ------------------------------------------------------------------------------------------------

export function decodeIp(b: Uint8Array, problems: string[]): IpView | undefined {
  if (b.length < 1) {
    problems.push("empty packet");
    return undefined;
  }
  const version = b[0]! >> 4;
  if (version === 4) return decodeIpv4(b, problems);
  if (version === 6) return decodeIpv6(b, problems);
  problems.push(`IP version ${version}`);
  return undefined;
}

/** RFC 791 §3.1 (the diagram is in encode.ts). */
function decodeIpv4(b: Uint8Array, problems: string[]): IpView | undefined {
  if (b.length < 20) {
    problems.push(`IPv4 header truncated (${b.length} octets)`);
    return undefined;
  }
  const hl = (b[0]! & 0x0f) * 4;
  if (hl < 20) {
    problems.push(`IPv4 IHL ${hl / 4} (< 5)`);
    return undefined;
  }
  if (hl > b.length) {
    problems.push(`IPv4 header of ${hl} octets in a packet of ${b.length}`);
    return undefined;
  }
  const total = get16(b, 2);
  if (total < hl || total > b.length) {
    problems.push(`IPv4 total length ${total} (header ${hl}, ${b.length} octets present)`);
    return undefined;
  }
  const frag = get16(b, 6);
  if (frag & 0x8000) problems.push("IPv4 reserved flag bit set (RFC 791: must be zero)");
  const headerChecksumOk = sumsToAllOnes([b.subarray(0, hl)]);
  if (!headerChecksumOk) problems.push("bad IPv4 header checksum");
  const srcBytes = b.slice(12, 16);
  const dstBytes = b.slice(16, 20);
  const offset = (frag & 0x1fff) * 8;
  const more = (frag & 0x2000) !== 0;
  return {
    version: 4,
    src: addressText(srcBytes),
    dst: addressText(dstBytes),
    srcBytes,
    dstBytes,
    protocol: b[9]!,
    ttl: b[8]!,
    tos: b[1]!,
    flowLabel: 0,
    id: get16(b, 4),
    df: (frag & 0x4000) !== 0,
    headerChecksumOk,
    headerLength: hl,
    totalLength: total,
    extensions: [],
    isFragment: more || offset > 0,
    fragmentOffset: offset,
    moreFragments: more,
    fragmentIdent: get16(b, 4),
    l4: b.subarray(hl, total),
  };
}

/** RFC 8200 §3, with the extension headers of §4 walked to the upper layer. */
function decodeIpv6(b: Uint8Array, problems: string[]): IpView | undefined {
  if (b.length < 40) {
    problems.push(`IPv6 header truncated (${b.length} octets)`);
    return undefined;
  }
  const payloadLength = get16(b, 4);
  if (40 + payloadLength > b.length) {
    problems.push(`IPv6 payload length ${payloadLength} with ${b.length - 40} octets present`);
    return undefined;
  }
  const end = 40 + payloadLength;
  const srcBytes = b.slice(8, 24);
  const dstBytes = b.slice(24, 40);
  const v: IpView = {
    version: 6,
    src: addressText(srcBytes),
    dst: addressText(dstBytes),
    srcBytes,
    dstBytes,
    protocol: b[6]!,
    ttl: b[7]!,
    tos: ((b[0]! & 0x0f) << 4) | (b[1]! >> 4),
    flowLabel: ((b[1]! & 0x0f) << 16) | get16(b, 2),
    id: 0,
    df: false,
    headerChecksumOk: true,
    headerLength: 40,
    totalLength: end,
    extensions: [],
    isFragment: false,
    fragmentOffset: 0,
    moreFragments: false,
    fragmentIdent: 0,
    l4: b.subarray(40, end),
  };
  let next = b[6]!;
  let at = 40;
  for (;;) {
    if (next === Proto.HOP_BY_HOP || next === Proto.ROUTING || next === Proto.DEST_OPTS) {
      // RFC 8200 §4.3: "The Hop-by-Hop Options header ... must immediately follow the IPv6 header."
      if (next === Proto.HOP_BY_HOP && at !== 40) problems.push("IPv6 Hop-by-Hop header not first (RFC 8200 §4.1)");
      if (at + 2 > end) {
        problems.push(`IPv6 extension header ${next} truncated`);
        return undefined;
      }
      const len = (b[at + 1]! + 1) * 8; // "in 8-octet units, not including the first 8 octets"
      if (at + len > end) {
        problems.push(`IPv6 extension header ${next} of ${len} octets runs past the payload`);
        return undefined;
      }
      v.extensions.push(next);
      next = b[at]!;
      at += len;
    } else if (next === Proto.FRAGMENT) {
      if (at + 8 > end) {
        problems.push("IPv6 Fragment header truncated");
        return undefined;
      }
      v.extensions.push(next);
      const w = get16(b, at + 2);
      v.isFragment = true;
      v.fragmentOffset = (w >> 3) * 8;
      v.moreFragments = (w & 1) !== 0;
      v.fragmentIdent = get32(b, at + 4);
      next = b[at]!;
      at += 8;
    } else {
      break;
    }
  }
  v.protocol = next;
  v.l4 = b.subarray(at, end);
  // A fragment header saying offset 0 and no more fragments is an atomic fragment (RFC 8200 §4.5).
  if (v.isFragment && v.fragmentOffset === 0 && !v.moreFragments) v.isFragment = false;
  return v;
}

// ------------------------------------------------------------------------------------------------
// TCP, UDP, ICMP
// ------------------------------------------------------------------------------------------------

/** RFC 9293 §3.1, options per §3.2, RFC 7323 §2.2 / §3.2, RFC 2018 §2 / §3. */
export function decodeTcp(ip: IpView, problems: string[], checksums = true): TcpView | undefined {
  const s = ip.l4;
  if (s.length < 20) {
    problems.push(`TCP header truncated (${s.length} octets)`);
    return undefined;
  }
  const hl = (s[12]! >> 4) * 4;
  if (hl < 20 || hl > s.length) {
    problems.push(`TCP data offset ${hl / 4} with ${s.length} octets`);
    return undefined;
  }
  const checksumOk = !checksums || upperLayerChecksumOk(ip.srcBytes, ip.dstBytes, Proto.TCP, s);
  if (!checksumOk) problems.push("bad TCP checksum");
  const t: TcpView = {
    srcPort: get16(s, 0),
    dstPort: get16(s, 2),
    seq: get32(s, 4),
    ack: get32(s, 8),
    headerLength: hl,
    reserved: s[12]! & 0x0f,
    flags: s[13]!,
    window: get16(s, 14),
    checksum: get16(s, 16),
    checksumOk,
    urgent: get16(s, 18),
    options: [],
    padding: new Uint8Array(0),
    mss: -1,
    wscale: -1,
    sackOK: false,
    ts: undefined,
    sack: [],
    payload: s.subarray(hl),
  };
  decodeTcpOptions(s.subarray(20, hl), t, problems);
  return t;
}

/** The length each fixed-size option must have. */
const OPTION_LENGTH: Readonly<Record<number, number>> = {
  [OptionKind.MSS]: 4,
  [OptionKind.WSCALE]: 3,
  [OptionKind.SACK_PERMITTED]: 2,
  [OptionKind.TIMESTAMPS]: 10,
};

function decodeTcpOptions(o: Uint8Array, t: TcpView, problems: string[]): void {
  let i = 0;
  while (i < o.length) {
    const kind = o[i]!;
    if (kind === OptionKind.EOL) {
      t.options.push({ kind: "eol" });
      i++;
      break;
    }
    if (kind === OptionKind.NOP) {
      t.options.push({ kind: "nop" });
      i++;
      continue;
    }
    // RFC 9293 §3.1: "an octet of option-kind, an octet of option-length, and the actual option-data
    // octets. The option-length counts the two octets of option-kind and option-length".
    if (i + 1 >= o.length) {
      problems.push(`TCP option kind ${kind} without a length octet`);
      t.options.push({ kind: "raw", bytes: o.slice(i) });
      return;
    }
    const len = o[i + 1]!;
    if (len < 2 || i + len > o.length) {
      problems.push(`TCP option kind ${kind} length ${len} (${o.length - i} octets left)`);
      t.options.push({ kind: "raw", bytes: o.slice(i) });
      return;
    }
    const v = o.subarray(i, i + len);
    const fixed = OPTION_LENGTH[kind];
    const sackOk = kind !== OptionKind.SACK || ((len - 2) % 8 === 0 && len >= 10);
    if ((fixed !== undefined && len !== fixed) || !sackOk) {
      problems.push(`TCP option kind ${kind} of length ${len}`);
      t.options.push({ kind: "raw", bytes: v.slice() });
    } else if (kind === OptionKind.MSS) {
      t.mss = get16(v, 2);
      t.options.push({ kind: "mss", mss: t.mss });
    } else if (kind === OptionKind.WSCALE) {
      t.wscale = v[2]!;
      t.options.push({ kind: "wscale", shift: t.wscale });
    } else if (kind === OptionKind.SACK_PERMITTED) {
      t.sackOK = true;
      t.options.push({ kind: "sackOK" });
    } else if (kind === OptionKind.TIMESTAMPS) {
      t.ts = [get32(v, 2), get32(v, 6)];
      t.options.push({ kind: "ts", val: t.ts[0], ecr: t.ts[1] });
    } else if (kind === OptionKind.SACK) {
      const blocks: Array<[number, number]> = [];
      for (let k = 2; k < len; k += 8) blocks.push([get32(v, k), get32(v, k + 4)]);
      t.sack = blocks;
      t.options.push({ kind: "sack", blocks });
    } else {
      t.options.push({ kind: "raw", bytes: v.slice() });
    }
    i += len;
  }
  t.padding = o.slice(i);
}

/** RFC 768. */
export function decodeUdp(ip: IpView, problems: string[], checksums = true): UdpView | undefined {
  const d = ip.l4;
  if (d.length < 8) {
    problems.push(`UDP header truncated (${d.length} octets)`);
    return undefined;
  }
  const length = get16(d, 4);
  if (length < 8 || length > d.length) {
    problems.push(`UDP length ${length} with ${d.length} octets`);
    return undefined;
  }
  const checksum = get16(d, 6);
  let checksumOk: boolean;
  if (checksum === 0) {
    // RFC 768: zero means "no checksum"; RFC 8200 §8.1: not allowed over IPv6.
    checksumOk = ip.version === 4;
    if (!checksumOk) problems.push("bad UDP checksum: zero over IPv6 (RFC 8200 §8.1)");
  } else {
    checksumOk = !checksums || upperLayerChecksumOk(ip.srcBytes, ip.dstBytes, Proto.UDP, d.subarray(0, length));
    if (!checksumOk) problems.push("bad UDP checksum");
  }
  return { srcPort: get16(d, 0), dstPort: get16(d, 2), length, checksum, checksumOk, payload: d.subarray(8, length) };
}

/** RFC 792 / RFC 4443 §2.1 and §2.3. */
export function decodeIcmp(ip: IpView, problems: string[], checksums = true): IcmpView | undefined {
  const m = ip.l4;
  if (m.length < 8) {
    problems.push(`ICMP message truncated (${m.length} octets)`);
    return undefined;
  }
  const checksumOk = !checksums || (ip.version === 6 ? upperLayerChecksumOk(ip.srcBytes, ip.dstBytes, Proto.ICMPV6, m) : sumsToAllOnes([m]));
  if (!checksumOk) problems.push(`bad ICMP${ip.version === 6 ? "v6" : ""} checksum`);
  return { type: m[0]!, code: m[1]!, checksum: get16(m, 2), checksumOk, rest: get32(m, 4), data: m.subarray(8) };
}

// ------------------------------------------------------------------------------------------------
// What an engine's own segments must get right beyond being well formed
// ------------------------------------------------------------------------------------------------

/**
 * Rules for a TCP segment the engine sends (on top of decodePacket's problems): the RFCs' MUSTs a
 * sender can break and a receiver might not notice, and stale bytes (the harness hands out buffers
 * full of 0xa5).
 */
export function engineTcpProblems(d: Decoded): string[] {
  const out: string[] = [];
  const ip = d.ip;
  const t = d.tcp;
  if (ip === undefined) return out;
  if (ip.totalLength !== d.bytes.length) out.push(`IP length ${ip.totalLength} != ${d.bytes.length} octets sent`);
  if (ip.isFragment) out.push("a TCP segment sent as an IP fragment");
  if (ip.ttl === 0) out.push("TTL / hop limit 0");
  if (ip.protocol !== Proto.TCP) out.push(`not TCP (protocol ${ip.protocol})`);
  if (t === undefined) return out;
  const syn = (t.flags & Flag.SYN) !== 0;
  // RFC 9293 §3.1: "Rsrvd - Reserved for future use. Must be zero in generated segments".
  if (t.reserved !== 0) out.push(`reserved bits ${t.reserved} (must be zero)`);
  if (!(t.flags & Flag.URG) && t.urgent !== 0) out.push(`urgent pointer ${t.urgent} without URG (stale bytes?)`);
  if (t.padding.some((x) => x !== 0)) out.push("TCP header padding is not zeros (RFC 9293 §3.1)");
  // RFC 9293 §3.7.1: MSS "MUST only be sent in the initial connection request (i.e., in segments
  // with the SYN control bit set)"; RFC 7323 §2.2: Window Scale "MUST only be sent in a <SYN>
  // segment"; RFC 2018 §2: SACK-permitted "MUST NOT be sent on non-SYN segments".
  if (!syn && t.mss >= 0) out.push("MSS option on a non-SYN segment");
  if (!syn && t.wscale >= 0) out.push("window scale option on a non-SYN segment");
  if (!syn && t.sackOK) out.push("SACK-permitted option on a non-SYN segment");
  // RFC 7323 §2.3: a shift "greater than 14" is an error (the sender must not send it).
  if (t.wscale > 14) out.push(`window scale ${t.wscale} (> 14, RFC 7323 §2.3)`);
  const counts = new Map<string, number>();
  for (const o of t.options) if (o.kind !== "nop" && o.kind !== "eol") counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  for (const [kind, n] of counts) if (n > 1) out.push(`option ${kind} ${n} times`);
  for (const o of t.options) if (o.kind === "raw") out.push(`unexpected option bytes ${Array.from(o.bytes, (x) => x.toString(16)).join(" ")}`);
  // RFC 2018 §3: each block is [left, right) with left before right in sequence space.
  for (const [l, r] of t.sack) if (((r - l) | 0) <= 0) out.push(`SACK block ${l}:${r} is empty or reversed`);
  // The engine never puts data on a RST (RFC 1122 §4.2.2.12 lets a receiver accept it; nothing
  // here sends any).
  if (t.flags & Flag.RST && t.payload.length > 0) out.push(`RST carrying ${t.payload.length} octets of data`);
  return out;
}

// ------------------------------------------------------------------------------------------------
// A one-line description, for failure messages
// ------------------------------------------------------------------------------------------------

const FLAG_TEXT: ReadonlyArray<readonly [number, string]> = [
  [Flag.SYN, "S"],
  [Flag.FIN, "F"],
  [Flag.RST, "R"],
  [Flag.PSH, "P"],
  [Flag.URG, "U"],
  [Flag.ECE, "E"],
  [Flag.CWR, "W"],
  [Flag.ACK, "."],
];

/**
 * Flags from letters, in any order: S F R P U E W and "." for ACK as packetdrill writes them; A for
 * ACK and C for CWR are accepted too.
 */
export function flagBits(text: string): number {
  let bits = 0;
  for (const ch of text) {
    const bit = FLAG_LETTERS[ch];
    if (bit === undefined) throw new Error(`unknown TCP flag ${JSON.stringify(ch)} in ${JSON.stringify(text)}`);
    bits |= bit;
  }
  return bits;
}

const FLAG_LETTERS: Readonly<Record<string, number>> = {
  S: Flag.SYN,
  F: Flag.FIN,
  R: Flag.RST,
  P: Flag.PSH,
  U: Flag.URG,
  E: Flag.ECE,
  W: Flag.CWR,
  C: Flag.CWR,
  ".": Flag.ACK,
  A: Flag.ACK,
};

/** Flags as packetdrill letters (the inverse of flagBits). */
export function flagLetters(flags: number): string {
  let s = "";
  for (const [bit, ch] of FLAG_TEXT) if (flags & bit) s += ch;
  return s === "" ? "none" : s;
}

function optionText(o: TcpOption): string {
  switch (o.kind) {
    case "eol":
      return "eol";
    case "nop":
      return "nop";
    case "mss":
      return `mss ${o.mss}`;
    case "wscale":
      return `wscale ${o.shift}`;
    case "sackOK":
      return "sackOK";
    case "ts":
      return `TS val ${o.val} ecr ${o.ecr}`;
    case "sack":
      return `sack ${o.blocks.length} ${o.blocks.map(([l, r]) => `{${l}:${r}}`).join("")}`;
    case "raw":
      return `kind ${o.bytes[0]} (${o.bytes.length} octets)`;
  }
}

/** tcpdump -nn style: "IP 10.0.0.2.41000 > 192.0.2.7.80: Flags [S], seq 1, ack 0, win 64240, options [...], length 0". */
export function summary(d: Decoded): string {
  const ip = d.ip;
  if (ip === undefined) return `?? ${d.problems.join("; ")}`;
  const fam = ip.version === 4 ? "IP" : "IP6";
  const bad = d.problems.length > 0 ? ` !! ${d.problems.join("; ")}` : "";
  if (ip.isFragment) return `${fam} ${ip.src} > ${ip.dst}: frag ${ip.fragmentIdent}:${ip.l4.length}@${ip.fragmentOffset}${ip.moreFragments ? "+" : ""}${bad}`;
  const t = d.tcp;
  if (t !== undefined) {
    const opts = t.options.length > 0 ? `, options [${t.options.map(optionText).join(",")}]` : "";
    return (
      `${fam} ${ip.src}.${t.srcPort} > ${ip.dst}.${t.dstPort}: Flags [${flagLetters(t.flags)}], seq ${t.seq}, ` +
      `ack ${t.ack}, win ${t.window}${opts}, length ${t.payload.length}${bad}`
    );
  }
  const u = d.udp;
  if (u !== undefined) return `${fam} ${ip.src}.${u.srcPort} > ${ip.dst}.${u.dstPort}: UDP, length ${u.payload.length}${bad}`;
  const m = d.icmp;
  if (m !== undefined) return `${fam} ${ip.src} > ${ip.dst}: ICMP${ip.version === 6 ? "6" : ""} type ${m.type} code ${m.code}, length ${m.data.length + 8}${bad}`;
  return `${fam} ${ip.src} > ${ip.dst}: protocol ${ip.protocol}, length ${ip.l4.length}${bad}`;
}
