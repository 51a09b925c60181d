/**
 * TCP header (RFC 9293 §3.1) and its options (RFC 9293 §3.2, RFC 7323, RFC 2018).
 *
 *  |          Source Port          |       Destination Port        |
 *  |                        Sequence Number                        |
 *  |                    Acknowledgment Number                      |
 *  |  Data |       |C|E|U|A|P|R|S|F|                               |
 *  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *  |           Checksum            |         Urgent Pointer        |
 *  |                           [Options]                           |
 */
import { fitsIn, read16, read32, write16, write32 } from "./bytes.js";
import { checksumAdd, checksumFinish } from "./checksum.js";
import { Drop, type DropReason } from "./drop.js";

export const TCP_MIN_HEADER = 20;
export const TCP_MAX_HEADER = 60;
/** RFC 9293 §3.1: Data Offset is 4 bits of 32-bit words, so options take at most 40 bytes. */
export const TCP_MAX_OPTIONS = TCP_MAX_HEADER - TCP_MIN_HEADER;

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** TCP option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** RFC 2018 §3: at most 4 SACK blocks fit in 40 option bytes (3 with timestamps). */
export const MAX_SACK_BLOCKS = 4;

/**
 * Field offsets. The getters of TcpPacket write them as number literals: a getter whose bytecode is at
 * most 27 bytes is one V8's optimizer always inlines (max_inlined_bytecode_size_small), whatever
 * inlining budget the caller has left; `F.X` costs a property load and takes a getter past that.
 */
const F = { SRC: 0, DST: 2, SEQ: 4, ACK: 8, OFF: 12, FLAGS: 13, WIN: 14, CSUM: 16, URG: 18 } as const;

/** A view over a TCP header + payload. Re-pointed per packet with `wrap()`. */
export class TcpPacket {
  bytes: Uint8Array = new Uint8Array(0);
  offset = 0;
  /** Length of the TCP segment (header + payload) as the IP layer says. */
  length = 0;

  wrap(bytes: Uint8Array, offset: number, length: number): this {
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    return this;
  }

  /**
   * Validate the header length. When `pseudoSum` is given (see checksum.ts pseudoSum*), also verify
   * the checksum over pseudo-header, header and payload.
   */
  check(pseudoSum?: number): DropReason {
    if (this.length < TCP_MIN_HEADER || !fitsIn(this.bytes, this.offset, this.length)) return Drop.TRUNCATED;
    const hl = this.headerLength;
    if (hl < TCP_MIN_HEADER) return Drop.BAD_HEADER_LENGTH;
    if (hl > this.length) return Drop.TRUNCATED;
    if (pseudoSum !== undefined && checksumFinish(checksumAdd(pseudoSum, this.bytes, this.offset, this.length)) !== 0) {
      return Drop.BAD_CHECKSUM;
    }
    return Drop.OK;
  }

  get srcPort(): number {
    return read16(this.bytes, this.offset); // F.SRC
  }
  get dstPort(): number {
    return read16(this.bytes, this.offset + 2); // F.DST
  }
  get seq(): number {
    return read32(this.bytes, this.offset + 4); // F.SEQ
  }
  get ack(): number {
    return read32(this.bytes, this.offset + 8); // F.ACK
  }
  get headerLength(): number {
    return (this.bytes[this.offset + 12]! >> 4) * 4; // F.OFF
  }
  /** The eight flag bits CWR..FIN (TcpFlag). */
  get flags(): number {
    return this.bytes[this.offset + 13]!; // F.FLAGS
  }
  get fin(): boolean {
    return (this.flags & TcpFlag.FIN) !== 0;
  }
  get syn(): boolean {
    return (this.flags & TcpFlag.SYN) !== 0;
  }
  get rst(): boolean {
    return (this.flags & TcpFlag.RST) !== 0;
  }
  get psh(): boolean {
    return (this.flags & TcpFlag.PSH) !== 0;
  }
  get hasAck(): boolean {
    return (this.flags & TcpFlag.ACK) !== 0;
  }
  get urg(): boolean {
    return (this.flags & TcpFlag.URG) !== 0;
  }
  /** The raw (unscaled) window field. */
  get window(): number {
    return read16(this.bytes, this.offset + 14); // F.WIN
  }
  get checksum(): number {
    return read16(this.bytes, this.offset + 16); // F.CSUM
  }
  get urgentPointer(): number {
    return read16(this.bytes, this.offset + 18); // F.URG
  }
  get optionsOffset(): number {
    return this.offset + TCP_MIN_HEADER;
  }
  get optionsLength(): number {
    return this.headerLength - TCP_MIN_HEADER;
  }
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  get payloadLength(): number {
    return this.length - this.headerLength;
  }
  /** Segment length in sequence space (RFC 9293 §3.4 SEG.LEN): payload plus SYN plus FIN. */
  get segmentLength(): number {
    const f = this.flags;
    return this.payloadLength + (f & TcpFlag.SYN ? 1 : 0) + (f & TcpFlag.FIN ? 1 : 0);
  }
}

/**
 * TCP options as a record filled in place. `-1` / `false` mean "absent". One per engine, reused.
 * SACK blocks are left/right edge pairs in `sackBlocks[2*i]`, `sackBlocks[2*i+1]`.
 */
export class TcpOptions {
  mss = -1;
  windowScale = -1;
  sackPermitted = false;
  hasTimestamps = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  readonly sackBlocks = new Uint32Array(MAX_SACK_BLOCKS * 2);
  /** Options of kinds we do not interpret (skipped by their length). */
  unknownCount = 0;

  reset(): this {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
    this.unknownCount = 0;
    return this;
  }
}

/**
 * Parse an option list (RFC 9293 §3.2) into `out` (reset first). Unknown kinds are skipped by their
 * length byte; parsing stops at End of Option List. A length < 2, an option past the end, or a known
 * option with the wrong length is BAD_OPTIONS. RFC 9293 §3.2 (MUST-6, MUST-7): receive any option in
 * any segment, handle an illegal option length without crashing, "a suggested procedure is to reset the
 * connection and log the error cause"; the caller drops the segment. (Linux differs: tcp_parse_options()
 * stops at a bad length and ignores a known option of the wrong length, keeping the segment.)
 * A repeated option overwrites the earlier one.
 */
export function parseTcpOptions(b: Uint8Array, off: number, len: number, out: TcpOptions): DropReason {
  out.reset();
  let i = off;
  const end = off + len;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TcpOptionKind.EOL) break;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return Drop.BAD_OPTIONS;
    const olen = b[i + 1]!;
    if (olen < 2 || i + olen > end) return Drop.BAD_OPTIONS;
    switch (kind) {
      case TcpOptionKind.MSS:
        if (olen !== 4) return Drop.BAD_OPTIONS;
        out.mss = read16(b, i + 2);
        break;
      case TcpOptionKind.WINDOW_SCALE:
        if (olen !== 3) return Drop.BAD_OPTIONS;
        out.windowScale = b[i + 2]!;
        break;
      case TcpOptionKind.SACK_PERMITTED:
        if (olen !== 2) return Drop.BAD_OPTIONS;
        out.sackPermitted = true;
        break;
      case TcpOptionKind.SACK: {
        const n = (olen - 2) / 8;
        if (n < 1 || n > MAX_SACK_BLOCKS || n !== Math.floor(n)) return Drop.BAD_OPTIONS;
        for (let k = 0; k < n; k++) {
          out.sackBlocks[k * 2] = read32(b, i + 2 + k * 8);
          out.sackBlocks[k * 2 + 1] = read32(b, i + 6 + k * 8);
        }
        out.sackCount = n;
        break;
      }
      case TcpOptionKind.TIMESTAMPS:
        if (olen !== 10) return Drop.BAD_OPTIONS;
        out.hasTimestamps = true;
        out.tsVal = read32(b, i + 2);
        out.tsEcr = read32(b, i + 6);
        break;
      default:
        out.unknownCount++;
    }
    i += olen;
  }
  return Drop.OK;
}

/** Option bytes before the SACK blocks: MSS, SACK-permitted and TS, WS, each padded to 4 bytes. */
function fixedOptionsLength(o: TcpOptions): number {
  let n = 0;
  if (o.mss >= 0) n += 4;
  if (o.sackPermitted && !o.hasTimestamps) n += 4; // NOP NOP SACK-permitted
  if (o.hasTimestamps) n += 12; // (SACK-permitted | NOP NOP) TS
  if (o.windowScale >= 0) n += 4; // NOP WS
  return n;
}

/**
 * How many of `o.sackCount` blocks fit in the 40 option bytes after the other options: the first ones
 * (RFC 2018 §4: the first block reports the most recent data). As Linux's tcp_established_options():
 * 4 alone, 3 with timestamps.
 */
export function tcpSackBlocksThatFit(o: TcpOptions): number {
  if (o.sackCount <= 0) return 0;
  const room = TCP_MAX_OPTIONS - fixedOptionsLength(o) - 4; // NOP NOP kind length
  const fit = room < 8 ? 0 : Math.floor(room / 8);
  return Math.min(o.sackCount, fit, MAX_SACK_BLOCKS);
}

/** Bytes `emitTcpOptions` will write for `o`: each option NOP-padded to 4-byte alignment as Linux lays them out. */
export function tcpOptionsLength(o: TcpOptions): number {
  const blocks = tcpSackBlocksThatFit(o);
  return fixedOptionsLength(o) + (blocks > 0 ? 4 + blocks * 8 : 0); // NOP NOP SACK
}

/**
 * Write the options at `off` in Linux's order and padding (MSS; SACK-permitted + TS; NOP + WS; SACK),
 * returning the bytes written (a multiple of 4, equal to tcpOptionsLength, at most 40). SACK blocks that
 * do not fit are left out (tcpSackBlocksThatFit).
 */
export function emitTcpOptions(b: Uint8Array, off: number, o: TcpOptions): number {
  let i = off;
  if (o.mss >= 0) {
    b[i] = TcpOptionKind.MSS;
    b[i + 1] = 4;
    write16(b, i + 2, o.mss);
    i += 4;
  }
  if (o.hasTimestamps) {
    if (o.sackPermitted) {
      b[i] = TcpOptionKind.SACK_PERMITTED;
      b[i + 1] = 2;
    } else {
      b[i] = TcpOptionKind.NOP;
      b[i + 1] = TcpOptionKind.NOP;
    }
    b[i + 2] = TcpOptionKind.TIMESTAMPS;
    b[i + 3] = 10;
    write32(b, i + 4, o.tsVal);
    write32(b, i + 8, o.tsEcr);
    i += 12;
  } else if (o.sackPermitted) {
    b[i] = TcpOptionKind.NOP;
    b[i + 1] = TcpOptionKind.NOP;
    b[i + 2] = TcpOptionKind.SACK_PERMITTED;
    b[i + 3] = 2;
    i += 4;
  }
  if (o.windowScale >= 0) {
    b[i] = TcpOptionKind.NOP;
    b[i + 1] = TcpOptionKind.WINDOW_SCALE;
    b[i + 2] = 3;
    b[i + 3] = o.windowScale;
    i += 4;
  }
  const blocks = tcpSackBlocksThatFit(o);
  if (blocks > 0) {
    b[i] = TcpOptionKind.NOP;
    b[i + 1] = TcpOptionKind.NOP;
    b[i + 2] = TcpOptionKind.SACK;
    b[i + 3] = 2 + blocks * 8;
    i += 4;
    for (let k = 0; k < blocks; k++) {
      write32(b, i, o.sackBlocks[k * 2]!);
      write32(b, i + 4, o.sackBlocks[k * 2 + 1]!);
      i += 8;
    }
  }
  return i - off;
}

/** Fields of a TCP header to emit. One record, reused. */
export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgentPointer: number;
}

export function tcpFields(): TcpFields {
  return { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgentPointer: 0 };
}

/**
 * Write the TCP header and options at `off` with a zero checksum; returns the header length.
 * Fill the checksum with `fillTcpChecksum` once the payload is in place.
 */
export function emitTcpHeader(b: Uint8Array, off: number, f: TcpFields, opts: TcpOptions | null): number {
  const optLen = opts === null ? 0 : emitTcpOptions(b, off + TCP_MIN_HEADER, opts);
  const hl = TCP_MIN_HEADER + optLen;
  write16(b, off + F.SRC, f.srcPort);
  write16(b, off + F.DST, f.dstPort);
  write32(b, off + F.SEQ, f.seq);
  write32(b, off + F.ACK, f.ack);
  b[off + F.OFF] = (hl / 4) << 4;
  b[off + F.FLAGS] = f.flags;
  write16(b, off + F.WIN, f.window);
  write16(b, off + F.CSUM, 0);
  write16(b, off + F.URG, f.urgentPointer);
  return hl;
}

/** Compute and store the checksum of the TCP segment at `off` (`length` = header + payload). */
export function fillTcpChecksum(b: Uint8Array, off: number, length: number, pseudoSum: number): void {
  write16(b, off + F.CSUM, 0);
  write16(b, off + F.CSUM, checksumFinish(checksumAdd(pseudoSum, b, off, length)));
}
