/**
 * The virtio-net header (VIRTIO 1.2 §5.1.6, `struct virtio_net_hdr_v1`; Linux
 * include/uapi/linux/virtio_net.h) that a TUN device opened with IFF_VNET_HDR puts before every
 * packet, and expects before every packet written. It carries the offload metadata the kernel and
 * we trade:
 *
 *   offset 0  flags        NEEDS_CSUM: the L4 checksum field holds only the pseudo-header sum, the
 *                          rest is to be summed from csum_start on; DATA_VALID: the checksum was
 *                          verified already
 *          1  gso_type     NONE, TCPV4, TCPV6, UDP_L4 (a super-packet to cut into gso_size pieces),
 *                          | ECN (TCP: the stream uses ECN, CWR on the first piece only)
 *          2  hdr_len      (hint) length of the headers copied into every piece
 *          4  gso_size     payload bytes per piece (the MSS for TCP)
 *          6  csum_start   where the checksummed region starts (the L4 header)
 *          8  csum_offset  where in it the checksum field is (TCP 16, UDP 6)
 *         10  num_buffers  (mergeable receive buffers; 0 here)
 *
 * Little-endian: the runner sets TUNSETVNETLE (a no-op on little-endian hosts), and TUNSETVNETHDRSZ 12
 * so that the header is this 12-byte version.
 *
 * The header is input like any packet bytes: `checkVnetHeader` validates it against the packet it
 * describes and returns why not (VnetDrop) instead of trusting it. hdr_len is only checked for range:
 * Linux fills it from the skb's linear length, which may run past the real headers.
 */
import { read16 } from "./bytes.js";
import { IpProtocol } from "./ip-protocol.js";
import { IPV4_MIN_HEADER } from "./ipv4.js";
import { IPV6_HEADER } from "./ipv6.js";
import { TCP_MIN_HEADER } from "./tcp.js";
import { UDP_HEADER } from "./udp.js";

/** Bytes of the header before every packet (TUNSETVNETHDRSZ). */
export const VNET_HEADER_LENGTH = 12;

export const VnetFlag = {
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
} as const;

export const VnetGso = {
  NONE: 0,
  TCPV4: 1,
  /** UFO (IPv4 UDP fragmentation offload): never negotiated, so never valid here. */
  UDP: 3,
  TCPV6: 4,
  /** USO: UDP segmentation offload (TUN_F_USO4/6, Linux 6.2). */
  UDP_L4: 5,
  ECN: 0x80,
} as const;

/** Checksum field offsets within the L4 header. */
export const TCP_CSUM_OFFSET = 16;
export const UDP_CSUM_OFFSET = 6;

/** Linux's UDP_MAX_SEGMENTS: the most datagrams one UDP GSO packet may carry. */
export const UDP_MAX_SEGMENTS = 128;

/** Why a header (with its packet) was refused; 0: fine. */
export const VnetDrop = {
  OK: 0,
  /** Shorter than the header, or the IP/L4 headers the header's metadata needs. */
  TRUNCATED: 1,
  /** Flag bits other than NEEDS_CSUM and DATA_VALID. */
  BAD_FLAGS: 2,
  /** A gso_type we did not negotiate, or one that does not match the packet's IP version or protocol. */
  BAD_GSO_TYPE: 3,
  /** gso_size 0, or more UDP pieces than Linux allows. */
  BAD_GSO_SIZE: 4,
  /** csum_start/csum_offset not at the TCP or UDP checksum, or GSO without NEEDS_CSUM. */
  BAD_CSUM_OFFSETS: 5,
  /** hdr_len past the packet. */
  BAD_HDR_LEN: 6,
  /** Offload metadata on a packet we cannot place it in (IPv6 extension headers, IPv4 fragments, not TCP/UDP). */
  UNSUPPORTED: 7,
} as const;
export type VnetDrop = (typeof VnetDrop)[keyof typeof VnetDrop];

export const VNET_DROP_NAMES: readonly string[] = ["ok", "truncated", "bad_flags", "bad_gso_type", "bad_gso_size", "bad_csum_offsets", "bad_hdr_len", "unsupported"];

function le16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

function writeLe16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

/** A parsed header, and what checking it against its packet found out. Reused: parse into it. */
export class VnetHeader {
  flags = 0;
  gsoType = 0;
  hdrLen = 0;
  gsoSize = 0;
  csumStart = 0;
  csumOffset = 0;
  /** Filled by checkVnetHeader for a packet with offload metadata: the L4 header's offset in the packet. */
  l4Offset = 0;
  /** ... its length (TCP data offset, or 8 for UDP), and the L4 protocol. */
  l4HeaderLength = 0;
  protocol = 0;

  /** Reads the header at `off` (the caller made sure 12 bytes are there). */
  read(b: Uint8Array, off: number): this {
    this.flags = b[off]!;
    this.gsoType = b[off + 1]!;
    this.hdrLen = le16(b, off + 2);
    this.gsoSize = le16(b, off + 4);
    this.csumStart = le16(b, off + 6);
    this.csumOffset = le16(b, off + 8);
    return this;
  }

  /** The gso_type without the ECN bit. */
  get gso(): number {
    return this.gsoType & ~VnetGso.ECN;
  }
}

/**
 * Writes a header: `flags`, `gsoType`, `hdrLen`, `gsoSize`, `csumStart`, `csumOffset`, num_buffers 0.
 * All zeros: a whole packet whose checksums are complete (what the kernel takes like a packet without
 * a header).
 */
export function writeVnetHeader(b: Uint8Array, off: number, flags = 0, gsoType = 0, hdrLen = 0, gsoSize = 0, csumStart = 0, csumOffset = 0): void {
  b[off] = flags;
  b[off + 1] = gsoType;
  writeLe16(b, off + 2, hdrLen);
  writeLe16(b, off + 4, gsoSize);
  writeLe16(b, off + 6, csumStart);
  writeLe16(b, off + 8, csumOffset);
  writeLe16(b, off + 10, 0);
}

/**
 * Checks `h` against the IP packet `b[off, off + len)` it came with. A header without offload
 * metadata (flags 0 or DATA_VALID alone, gso NONE) needs nothing of the packet. Otherwise the packet
 * must be IPv4 (not a fragment) or IPv6 without extension headers, carrying TCP or UDP, and:
 * - NEEDS_CSUM: csum_start at the L4 header, csum_offset at its checksum field;
 * - GSO: NEEDS_CSUM set (a super-packet's checksums are never complete), gso_type matching the IP
 *   version and protocol (TCPV4/TCPV6 for TCP over IPv4/IPv6, UDP_L4 for UDP), gso_size > 0, and for
 *   UDP at most UDP_MAX_SEGMENTS pieces;
 * - hdr_len within the packet.
 * Sets h.l4Offset, h.l4HeaderLength and h.protocol for the caller.
 */
export function checkVnetHeader(h: VnetHeader, b: Uint8Array, off: number, len: number): VnetDrop {
  if ((h.flags & ~(VnetFlag.NEEDS_CSUM | VnetFlag.DATA_VALID)) !== 0) return VnetDrop.BAD_FLAGS;
  const gso = h.gso;
  const ecn = (h.gsoType & VnetGso.ECN) !== 0;
  const needsCsum = (h.flags & VnetFlag.NEEDS_CSUM) !== 0;
  if (gso === VnetGso.NONE) {
    if (ecn) return VnetDrop.BAD_GSO_TYPE;
    if (!needsCsum) return VnetDrop.OK;
  } else {
    if (gso !== VnetGso.TCPV4 && gso !== VnetGso.TCPV6 && gso !== VnetGso.UDP_L4) return VnetDrop.BAD_GSO_TYPE;
    if (ecn && gso === VnetGso.UDP_L4) return VnetDrop.BAD_GSO_TYPE;
    if (!needsCsum) return VnetDrop.BAD_CSUM_OFFSETS;
    if (h.gsoSize === 0) return VnetDrop.BAD_GSO_SIZE;
  }
  if (h.hdrLen > len) return VnetDrop.BAD_HDR_LEN;
  // Where the L4 header is, and which protocol it is.
  if (len < 1) return VnetDrop.TRUNCATED;
  const version = b[off]! >> 4;
  let l4 = 0;
  let protocol = 0;
  if (version === 4) {
    if (len < IPV4_MIN_HEADER) return VnetDrop.TRUNCATED;
    l4 = (b[off]! & 0x0f) * 4;
    if (l4 < IPV4_MIN_HEADER || l4 > len) return VnetDrop.TRUNCATED;
    // More fragments, or a fragment offset: a piece of a datagram, whose L4 header is elsewhere.
    if ((read16(b, off + 6) & 0x3fff) !== 0) return VnetDrop.UNSUPPORTED;
    protocol = b[off + 9]!;
    if (gso === VnetGso.TCPV6) return VnetDrop.BAD_GSO_TYPE;
  } else if (version === 6) {
    if (len < IPV6_HEADER) return VnetDrop.TRUNCATED;
    l4 = IPV6_HEADER;
    protocol = b[off + 6]!;
    if (gso === VnetGso.TCPV4) return VnetDrop.BAD_GSO_TYPE;
  } else {
    return VnetDrop.UNSUPPORTED;
  }
  let l4HeaderLength: number;
  let csumOffset: number;
  if (protocol === IpProtocol.TCP) {
    if (gso === VnetGso.UDP_L4) return VnetDrop.BAD_GSO_TYPE;
    if (l4 + TCP_MIN_HEADER > len) return VnetDrop.TRUNCATED;
    l4HeaderLength = (b[off + l4 + 12]! >> 4) * 4;
    if (l4HeaderLength < TCP_MIN_HEADER || l4 + l4HeaderLength > len) return VnetDrop.TRUNCATED;
    csumOffset = TCP_CSUM_OFFSET;
  } else if (protocol === IpProtocol.UDP) {
    if (gso === VnetGso.TCPV4 || gso === VnetGso.TCPV6) return VnetDrop.BAD_GSO_TYPE;
    if (l4 + UDP_HEADER > len) return VnetDrop.TRUNCATED;
    l4HeaderLength = UDP_HEADER;
    csumOffset = UDP_CSUM_OFFSET;
    if (gso === VnetGso.UDP_L4 && Math.ceil((len - l4 - UDP_HEADER) / h.gsoSize) > UDP_MAX_SEGMENTS) return VnetDrop.BAD_GSO_SIZE;
  } else {
    // Extension headers (IPv6), or a protocol whose checksum we do not place.
    return VnetDrop.UNSUPPORTED;
  }
  if (h.csumStart !== l4 || h.csumOffset !== csumOffset) return VnetDrop.BAD_CSUM_OFFSETS;
  h.l4Offset = l4;
  h.l4HeaderLength = l4HeaderLength;
  h.protocol = protocol;
  return VnetDrop.OK;
}
