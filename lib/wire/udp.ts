/**
 * UDP header (RFC 768).
 *
 *  |          Source Port          |       Destination Port        |
 *  |            Length             |           Checksum            |
 */
import { fitsIn, read16, write16 } from "./bytes.js";
import { checksumAdd, checksumFinish } from "./checksum.js";
import { Drop, type DropReason } from "./drop.js";

export const UDP_HEADER = 8;

export class UdpPacket {
  bytes: Uint8Array = new Uint8Array(0);
  offset = 0;
  /** Bytes the IP layer gives the datagram. */
  available = 0;

  wrap(bytes: Uint8Array, offset: number, length: number): this {
    this.bytes = bytes;
    this.offset = offset;
    this.available = length;
    return this;
  }

  /**
   * Validate the length field against what IP carried and, when `pseudoSum` is given, the checksum.
   * A zero checksum means "none" over IPv4 (RFC 768); over IPv6 it is invalid (RFC 8200 §8.1), so pass
   * `ipv6 = true` there.
   */
  check(pseudoSum?: number, ipv6 = false): DropReason {
    if (this.available < UDP_HEADER || !fitsIn(this.bytes, this.offset, this.available)) return Drop.TRUNCATED;
    const len = this.length;
    if (len < UDP_HEADER) return Drop.BAD_LENGTH;
    if (len > this.available) return Drop.TRUNCATED;
    if (this.checksum === 0) return ipv6 ? Drop.ZERO_UDP_CHECKSUM_V6 : Drop.OK;
    if (pseudoSum !== undefined && checksumFinish(checksumAdd(pseudoSum, this.bytes, this.offset, len)) !== 0) {
      return Drop.BAD_CHECKSUM;
    }
    return Drop.OK;
  }

  get srcPort(): number {
    return read16(this.bytes, this.offset);
  }
  get dstPort(): number {
    return read16(this.bytes, this.offset + 2);
  }
  /** The length field: header plus payload. */
  get length(): number {
    return read16(this.bytes, this.offset + 4);
  }
  get checksum(): number {
    return read16(this.bytes, this.offset + 6);
  }
  get payloadOffset(): number {
    return this.offset + UDP_HEADER;
  }
  get payloadLength(): number {
    return this.length - UDP_HEADER;
  }
}

/** Write the UDP header at `off` (checksum zero); `length` = header + payload. Returns 8. */
export function emitUdpHeader(b: Uint8Array, off: number, srcPort: number, dstPort: number, length: number): number {
  write16(b, off, srcPort);
  write16(b, off + 2, dstPort);
  write16(b, off + 4, length);
  write16(b, off + 6, 0);
  return UDP_HEADER;
}

/**
 * Compute and store the UDP checksum over `length` bytes at `off`. A computed zero is sent as 0xffff
 * (RFC 768: "If the computed checksum is zero, it is transmitted as all ones").
 */
export function fillUdpChecksum(b: Uint8Array, off: number, length: number, pseudoSum: number): void {
  write16(b, off + 6, 0);
  const c = checksumFinish(checksumAdd(pseudoSum, b, off, length));
  write16(b, off + 6, c === 0 ? 0xffff : c);
}
