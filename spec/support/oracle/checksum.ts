/**
 * The Internet checksum for the packet oracle, written from the RFCs and sharing nothing with
 * lib/wire (whose checksum is what the oracle checks).
 *
 * RFC 1071 §1: "Adjacent octets to be checksummed are paired to form 16-bit integers, and the 1's
 * complement sum of these 16-bit integers is formed"; an odd final octet is padded on the right with
 * zero; "the checksum field is the 16-bit 1's complement of the 1's complement sum of all 16-bit
 * integers in the header". The carries out of 16 bits are added back in (end-around carry,
 * RFC 1071 §2(B)).
 *
 * The pseudo-headers are built as bytes, field by field, exactly as the RFCs draw them, and summed
 * with the segment:
 * - IPv4 (RFC 9293 §3.1 for TCP, RFC 768 for UDP): source address, destination address, a zero octet,
 *   the protocol, the TCP/UDP length (16 bits).
 * - IPv6 (RFC 8200 §8.1): source address, destination address, the upper-layer packet length
 *   (32 bits), three zero octets, the next header value (of the upper-layer protocol).
 */

/**
 * The 16-bit ones' complement sum of the concatenation of `parts` (an odd octet at the end of a part
 * pairs with the first of the next; only the very end is padded). Words are added into a plain
 * number (exact far beyond any packet) and the carries folded back at the end, which RFC 1071 §2(B)
 * shows gives the same result as folding after every addition.
 */
export function onesComplementSum(parts: readonly Uint8Array[]): number {
  let sum = 0;
  let pendingHigh = -1; // an odd octet carried over into the next part
  for (const part of parts) {
    let i = 0;
    if (pendingHigh >= 0 && part.length > 0) {
      sum += pendingHigh * 256 + part[0]!;
      pendingHigh = -1;
      i = 1;
    }
    const pairsEnd = i + ((part.length - i) & ~1);
    for (; i < pairsEnd; i += 2) sum += part[i]! * 256 + part[i + 1]!;
    if (i < part.length) pendingHigh = part[i]!;
  }
  if (pendingHigh >= 0) sum += pendingHigh * 256;
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value: the ones' complement of the sum (RFC 1071 §1). */
export function internetChecksum(parts: readonly Uint8Array[]): number {
  return 0xffff - onesComplementSum(parts);
}

/** A received header or segment checks when the sum over it (checksum field included) is all ones (RFC 1071 §1 (3)). */
export function sumsToAllOnes(parts: readonly Uint8Array[]): boolean {
  return onesComplementSum(parts) === 0xffff;
}

/** The pseudo-header for a TCP or UDP checksum (ICMPv6 too: RFC 4443 §2.3), by IP version. */
export function pseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, upperLength: number): Uint8Array {
  if (src.length === 4 && dst.length === 4) {
    // RFC 9293 §3.1: +--------+--------+--------+--------+
    //                |           Source Address          |
    //                |         Destination Address       |
    //                |  zero  |  PTCL  |    TCP Length   |
    const p = new Uint8Array(12);
    p.set(src, 0);
    p.set(dst, 4);
    p[8] = 0;
    p[9] = protocol;
    p[10] = (upperLength >> 8) & 0xff;
    p[11] = upperLength & 0xff;
    return p;
  }
  if (src.length === 16 && dst.length === 16) {
    // RFC 8200 §8.1: Source Address (16), Destination Address (16), Upper-Layer Packet Length (4),
    // zero (3), Next Header (1).
    const p = new Uint8Array(40);
    p.set(src, 0);
    p.set(dst, 16);
    p[32] = (upperLength >>> 24) & 0xff;
    p[33] = (upperLength >>> 16) & 0xff;
    p[34] = (upperLength >>> 8) & 0xff;
    p[35] = upperLength & 0xff;
    p[39] = protocol;
    return p;
  }
  throw new Error(`pseudo-header: addresses of ${src.length} and ${dst.length} octets`);
}

/** The checksum field for an upper-layer segment (its own checksum field taken as zero by the caller). */
export function upperLayerChecksum(src: Uint8Array, dst: Uint8Array, protocol: number, segment: Uint8Array): number {
  return internetChecksum([pseudoHeader(src, dst, protocol, segment.length), segment]);
}

/** Whether a received upper-layer segment's checksum is right. */
export function upperLayerChecksumOk(src: Uint8Array, dst: Uint8Array, protocol: number, segment: Uint8Array): boolean {
  return sumsToAllOnes([pseudoHeader(src, dst, protocol, segment.length), segment]);
}
