/**
 * Classic pcap files (the libpcap format: https://www.tcpdump.org/manpages/pcap-savefile.5.html,
 * also draft-ietf-opsawg-pcap), written little-endian with the microsecond magic 0xa1b2c3d4,
 * version 2.4, and LINKTYPE_RAW (101): each record is a bare IPv4 or IPv6 packet, so one file
 * holds both. Readable by tcpdump -r and Wireshark.
 *
 * Writes are buffered and go out with fs.writeSync when the buffer fills, on flush() and on close().
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { InvalidArgumentError } from "../errors.js";

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_RAW: the packet begins with an IPv4 or IPv6 header (https://www.tcpdump.org/linktypes.html). */
export const LINKTYPE_RAW = 101;
export const DEFAULT_SNAPLEN = 65535;
export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

/** Where the bytes go. `write` must consume the view before it returns (it is reused). */
export interface PcapSink {
  write(bytes: Uint8Array): void;
  close?(): void;
}

export interface PcapOptions {
  snapLen?: number;
  linkType?: number;
}

/** A sink over a file descriptor: writeSync until all bytes are out. */
export function fdSink(fd: number, ownsFd: boolean): PcapSink {
  return {
    write(bytes) {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    },
    close() {
      if (ownsFd) closeSync(fd);
    },
  };
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

function get32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function get16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

export class PcapWriter {
  readonly snapLen: number;
  readonly linkType: number;
  /** Records written. */
  packets = 0;
  private readonly sink: PcapSink;
  private readonly buffer: Uint8Array;
  private used = 0;
  private closed = false;

  /** Create (or truncate) the file at `path` and write the file header. */
  static open(path: string, options: PcapOptions = {}): PcapWriter {
    const fd = openSync(path, "w");
    try {
      return new PcapWriter(fdSink(fd, true), options);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Write to an already open file descriptor (not closed by close()). */
  static fromFd(fd: number, options: PcapOptions = {}): PcapWriter {
    return new PcapWriter(fdSink(fd, false), options);
  }

  constructor(sink: PcapSink, options: PcapOptions = {}) {
    const snapLen = options.snapLen ?? DEFAULT_SNAPLEN;
    const linkType = options.linkType ?? LINKTYPE_RAW;
    if (!Number.isInteger(snapLen) || snapLen < 1 || snapLen > 0x3ffffff) {
      throw new InvalidArgumentError(`snapLen must be an integer in [1, 2^26): ${snapLen}`);
    }
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff) {
      throw new InvalidArgumentError(`linkType must be an integer in [0, 65535]: ${linkType}`);
    }
    this.sink = sink;
    this.snapLen = snapLen;
    this.linkType = linkType;
    // Room for the largest record, so any record fits in an emptied buffer.
    this.buffer = new Uint8Array(Math.max(1 << 16, PCAP_RECORD_HEADER_LENGTH + snapLen) * 2);
    const b = this.buffer;
    put32(b, 0, PCAP_MAGIC_MICROSECONDS);
    put16(b, 4, PCAP_VERSION_MAJOR);
    put16(b, 6, PCAP_VERSION_MINOR);
    put32(b, 8, 0); // thiszone: timestamps are UTC
    put32(b, 12, 0); // sigfigs
    put32(b, 16, snapLen);
    put32(b, 20, linkType);
    this.used = PCAP_FILE_HEADER_LENGTH;
  }

  /**
   * Record `length` bytes of `packet` from `offset`, stamped `timeMs` (ms since the epoch, or
   * since any origin: a virtual clock's 0 is 1970-01-01). Packets longer than snapLen are cut,
   * keeping their original length in the record.
   */
  write(packet: Uint8Array, offset: number, length: number, timeMs: number): void {
    if (this.closed) throw new InvalidArgumentError("PcapWriter is closed");
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > packet.length) {
      throw new InvalidArgumentError(`range [${offset}, ${offset}+${length}) is outside the packet (${packet.length} bytes)`);
    }
    if (!Number.isFinite(timeMs) || timeMs < 0 || timeMs >= 4294967296000) {
      throw new InvalidArgumentError(`timeMs must be finite, >= 0 and fit 32-bit seconds: ${timeMs}`);
    }
    let seconds = Math.floor(timeMs / 1000);
    let micros = Math.round((timeMs - seconds * 1000) * 1000);
    if (micros >= 1_000_000) {
      seconds += 1;
      micros -= 1_000_000;
    }
    const captured = Math.min(length, this.snapLen);
    if (this.used + PCAP_RECORD_HEADER_LENGTH + captured > this.buffer.length) this.flush();
    const b = this.buffer;
    const o = this.used;
    put32(b, o, seconds);
    put32(b, o + 4, micros);
    put32(b, o + 8, captured);
    put32(b, o + 12, length);
    b.set(packet.subarray(offset, offset + captured), o + PCAP_RECORD_HEADER_LENGTH);
    this.used = o + PCAP_RECORD_HEADER_LENGTH + captured;
    this.packets++;
  }

  /** Hand everything buffered to the sink. */
  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.sink.write(this.buffer.subarray(0, n));
  }

  /** Flush and close the sink (a file opened by `open`); later calls do nothing. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      this.closed = true;
      this.sink.close?.();
    }
  }
}

export interface PcapRecord {
  readonly seconds: number;
  readonly micros: number;
  /** The original packet length (may exceed packet.length when cut at snapLen). */
  readonly originalLength: number;
  readonly packet: Uint8Array;
}

export interface PcapFile {
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snapLen: number;
  readonly linkType: number;
  readonly records: PcapRecord[];
}

/**
 * Read a little-endian microsecond pcap file as PcapWriter writes it (for tests and tools).
 * Returns undefined for anything else or a truncated file: bytes never throw.
 */
export function readPcap(bytes: Uint8Array): PcapFile | undefined {
  if (bytes.length < PCAP_FILE_HEADER_LENGTH || get32(bytes, 0) !== PCAP_MAGIC_MICROSECONDS) return undefined;
  const records: PcapRecord[] = [];
  let o = PCAP_FILE_HEADER_LENGTH;
  while (o < bytes.length) {
    if (o + PCAP_RECORD_HEADER_LENGTH > bytes.length) return undefined;
    const captured = get32(bytes, o + 8);
    const start = o + PCAP_RECORD_HEADER_LENGTH;
    if (start + captured > bytes.length) return undefined;
    records.push({
      seconds: get32(bytes, o),
      micros: get32(bytes, o + 4),
      originalLength: get32(bytes, o + 12),
      packet: bytes.subarray(start, start + captured),
    });
    o = start + captured;
  }
  return {
    versionMajor: get16(bytes, 4),
    versionMinor: get16(bytes, 6),
    snapLen: get32(bytes, 16),
    linkType: get32(bytes, 20),
    records,
  };
}
