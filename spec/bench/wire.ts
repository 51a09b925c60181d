/**
 * Wire-layer micro benches: checksum throughput, parse cost of a real Linux SYN and 1448-byte data
 * segment (IPv4 check with header checksum, TCP check with checksum, option parse), and emit cost of a
 * 1500-byte TCP data segment (headers, options, checksum). The baseline, in the same run, is the
 * checksum loop lib/wire/checksum.ts had before its 32-bit path (still its path for short regions).
 * Each figure: harness.ts MICRO_METHOD.
 */
import { checksum, pseudoSum4 } from "../../lib/wire/checksum.js";
import { Ipv4Packet, emitIpv4Header, ipv4Fields } from "../../lib/wire/ipv4.js";
import { TcpOptions, TcpPacket, emitTcpHeader, fillTcpChecksum, parseTcpOptions, tcpFields } from "../../lib/wire/tcp.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { data4, syn4 } from "../wire/fixtures/linux-captures.js";
import { consume, FULL, gbPerS, MICRO_METHOD, nsPerOp, row, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";

function randomBytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x;
  }
  return b;
}

/** The byte-pair loop (8 bytes per iteration) that checksum() used for every length before the 32-bit path. */
function bytePairChecksum(bytes: Uint8Array, off: number, len: number): number {
  let i = off;
  const end = off + len;
  const end8 = end - 7;
  let acc = 0;
  while (i < end8) {
    acc +=
      ((bytes[i]! << 8) | bytes[i + 1]!) +
      ((bytes[i + 2]! << 8) | bytes[i + 3]!) +
      ((bytes[i + 4]! << 8) | bytes[i + 5]!) +
      ((bytes[i + 6]! << 8) | bytes[i + 7]!);
    i += 8;
  }
  while (i < end - 1) {
    acc += (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
  }
  if (i < end) acc += bytes[i]! << 8;
  while (acc > 0xffff) acc = (acc % 0x10000) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

function checksumRows(o: BenchOptions): Row[] {
  const rows: Row[] = [];
  const how = o.smoke ? SMOKE_METHOD : MICRO_METHOD;
  for (const size of [64, 1500, 65536]) {
    // Offset 0 of a fresh buffer, and an odd byteOffset (a packet after a 1-byte prefix).
    const aligned = randomBytes(size, size);
    const odd = randomBytes(size + 1, size + 1).subarray(1);
    rows.push(row("wire", `checksum ${size} B`, "GB/s", gbPerS(size, nsPerOp(() => consume(checksum(aligned, 0, size)), 60, o)), how));
    rows.push(row("wire", `checksum ${size} B, odd byteOffset`, "GB/s", gbPerS(size, nsPerOp(() => consume(checksum(odd, 0, size)), 60, o)), how));
    rows.push(
      row(
        "wire",
        `checksum ${size} B, byte-pair loop (the old code, same run)`,
        "GB/s",
        gbPerS(size, nsPerOp(() => consume(bytePairChecksum(aligned, 0, size)), 60, o)),
        how,
      ),
    );
  }
  return rows;
}

const ip = new Ipv4Packet();
const tcp = new TcpPacket();
const options = new TcpOptions();

/** What the engine does to each IPv4 TCP packet before the state machine sees it. */
function parseTcp4(b: Uint8Array): number {
  if (ip.wrap(b).check(true) !== 0) return -1;
  const len = ip.payloadLength;
  if (tcp.wrap(b, ip.payloadOffset, len).check(pseudoSum4(b, ip.offset, IpProtocol.TCP, len)) !== 0) return -2;
  return parseTcpOptions(b, tcp.optionsOffset, tcp.optionsLength, options) + options.tsVal;
}

function parseRows(o: BenchOptions): Row[] {
  if (parseTcp4(syn4) < 0 || parseTcp4(data4) < 0) throw new Error("bench fixtures do not parse");
  const how = o.smoke ? SMOKE_METHOD : MICRO_METHOD;
  return [
    row("wire", "parse IPv4+TCP SYN (60 B, csum verify, options)", "ns/pkt", nsPerOp(() => consume(parseTcp4(syn4)), 60, o), how),
    row("wire", "parse IPv4+TCP data (1500 B, csum verify, options)", "ns/pkt", nsPerOp(() => consume(parseTcp4(data4)), 60, o), how),
  ];
}

function emitRows(bo: BenchOptions): Row[] {
  const out = new Uint8Array(2048);
  const payload = data4.subarray(52, 52 + 1448);
  const ipf = ipv4Fields();
  ipf.src = 0x0a000002;
  ipf.dst = 0xc0000207;
  ipf.protocol = IpProtocol.TCP;
  ipf.payloadLength = 32 + 1448;
  const tf = tcpFields();
  tf.srcPort = 41000;
  tf.dstPort = 80;
  tf.flags = 0x10;
  tf.window = 63;
  const o = new TcpOptions();
  o.hasTimestamps = true;
  o.tsEcr = 2999149510;
  out.set(payload, 52);
  const emit = (i: number, copy: boolean): void => {
    ipf.ident = i & 0xffff;
    tf.seq = (i * 1448) >>> 0;
    o.tsVal = i >>> 0;
    emitIpv4Header(out, 0, ipf);
    const hl = emitTcpHeader(out, 20, tf, o);
    if (copy) out.set(payload, 20 + hl);
    fillTcpChecksum(out, 20, hl + 1448, pseudoSum4(out, 0, IpProtocol.TCP, hl + 1448));
    consume(out[36]!);
  };
  const how = bo.smoke ? SMOKE_METHOD : MICRO_METHOD;
  return [
    row("wire", "emit IPv4+TCP data (1500 B: headers, TS, csum)", "ns/pkt", nsPerOp((i) => emit(i, false), 60, bo), how),
    row("wire", "emit IPv4+TCP data (1500 B: + payload copy)", "ns/pkt", nsPerOp((i) => emit(i, true), 60, bo), how),
  ];
}

export async function benchWire(o: BenchOptions = FULL): Promise<Row[]> {
  if (bytePairChecksum(data4, 0, 20) !== 0) throw new Error("baseline checksum is wrong");
  return [...checksumRows(o), ...parseRows(o), ...emitRows(o)];
}
