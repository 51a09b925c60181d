/**
 * The receive side of TUN offloads for an engine that takes whole packets with complete checksums
 * (what `l3Rx` takes): each packet read from a device opened with IFF_VNET_HDR comes with a
 * virtio-net header (lib/wire/virtio-net.ts), which is checked against the packet, and then:
 *
 * - no offload metadata: the packet as it is;
 * - NEEDS_CSUM (checksum offload): the L4 checksum is completed in place. The kernel leaves the
 *   pseudo-header sum in the checksum field and the rest to us (Linux skb_checksum_help): summing
 *   from csum_start on, the field included, and storing the complement gives the real checksum;
 * - a TCP or UDP super-packet (TSO/USO, gso_type TCPV4/TCPV6/UDP_L4): cut in place into the packets
 *   the kernel would have sent (Linux tcp_gso_segment, __udp_gso_segment): piece k is gso_size bytes
 *   of payload (the last one the rest) behind a copy of the headers, with the IP length, IPv4 ID
 *   (+k) and header checksum, the TCP sequence number (+k * gso_size) or UDP length, and the L4
 *   checksum set; FIN and PSH stay on the last piece only, CWR on the first. Piece k's headers are
 *   written over the end of piece k-1's payload, so each piece goes to `deliver` before the next is
 *   made: `deliver` must be done with the bytes when it returns (l3Rx is: its views are borrowed).
 *
 * With `deliverTrusted` (an engine with L3L4.l3RxTrusted), the checksum work the header says is not
 * needed is not done, and TCP super-packets are not cut:
 *
 * - NEEDS_CSUM or DATA_VALID without GSO: the packet as it is, to deliverTrusted (the engine does not
 *   verify its L4 checksum; NEEDS_CSUM's partial one is left as the kernel wrote it);
 * - a TCP super-packet (TCPV4/TCPV6): whole, to deliverTrusted: one segment of up to 64 KiB, as Linux
 *   takes a GRO packet (the engine counts it as the segments it carries for its ACKs, receive.ts);
 * - a UDP super-packet (UDP_L4): still cut, each piece its own datagram for the application, but the
 *   pieces' UDP checksums are not computed (each goes to deliverTrusted).
 *
 * A header that does not fit its packet is counted by reason (drops) and the packet dropped. Nothing
 * is allocated per packet but the views of the pieces.
 *
 * The transmit side (`writeTxHeader`): before each packet the engine wrote, a header. With checksum
 * offload on, a TCP or UDP packet goes as NEEDS_CSUM with the pseudo-header sum in its checksum field
 * (what Linux's own stack hands a device, __tcp_v4_send_check): the kernel then neither verifies the
 * checksum on delivery nor needs it, and computes it only if it forwards the packet. Anything else
 * gets a header of zeros: a whole packet, checksums complete.
 */
import { read16, read32, write16, write32 } from "../wire/bytes.js";
import { checksum, checksumAdd, checksumFinish, checksumFoldRaw, pseudoSum } from "../wire/checksum.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { TcpFlag, fillTcpChecksum } from "../wire/tcp.js";
import { fillUdpChecksum } from "../wire/udp.js";
import {
  checkVnetHeader,
  TCP_CSUM_OFFSET,
  UDP_CSUM_OFFSET,
  VNET_DROP_NAMES,
  VnetDrop,
  VnetFlag,
  VnetGso,
  VnetHeader,
  VNET_HEADER_LENGTH,
  writeVnetHeader,
} from "../wire/virtio-net.js";

/** Headers copied into every piece: at most IPv4 60 + TCP 60 bytes. */
const MAX_HEADERS = 120;

export interface RxOffloadStats {
  /** Packets that came with NEEDS_CSUM and had their checksum completed here (super-packets too). */
  checksumsCompleted: number;
  /** Super-packets cut into pieces, and the pieces made of them. */
  superPackets: number;
  pieces: number;
  /** Packets (super-packets included) handed on with their checksum vouched for (deliverTrusted). */
  checksumsTrusted: number;
  /** TCP super-packets handed on whole (deliverTrusted). */
  superSegments: number;
  /** Packets dropped for their header, by reason (VNET_DROP_NAMES). */
  drops: Record<string, number>;
}

export class RxOffload {
  readonly stats: RxOffloadStats = {
    checksumsCompleted: 0,
    superPackets: 0,
    pieces: 0,
    checksumsTrusted: 0,
    superSegments: 0,
    drops: {},
  };
  private readonly header = new VnetHeader();
  private readonly saved = new Uint8Array(MAX_HEADERS);

  constructor(
    /** Gets every packet (or piece) to hand on: `bytes[offset, offset + length)`, a view valid during the call. */
    private readonly deliver: (packet: Uint8Array) => void,
    /** Gets the packets whose L4 checksum the header vouches for (module comment); none: all go to deliver, completed. */
    private readonly deliverTrusted?: (packet: Uint8Array) => void,
  ) {
    for (let i = 1; i < VNET_DROP_NAMES.length; i++) this.stats.drops[VNET_DROP_NAMES[i]!] = 0;
  }

  /** One read from the device: `bytes[offset, offset + length)`, the virtio-net header first. */
  receive(bytes: Uint8Array, offset: number, length: number): void {
    if (length < VNET_HEADER_LENGTH) {
      this.drop(VnetDrop.TRUNCATED);
      return;
    }
    const h = this.header.read(bytes, offset);
    const off = offset + VNET_HEADER_LENGTH;
    let len = length - VNET_HEADER_LENGTH;
    const bad = checkVnetHeader(h, bytes, off, len);
    if (bad !== VnetDrop.OK) {
      this.drop(bad);
      return;
    }
    const trusted = this.deliverTrusted;
    if ((h.flags & VnetFlag.NEEDS_CSUM) === 0) {
      if (trusted !== undefined && (h.flags & VnetFlag.DATA_VALID) !== 0) {
        this.stats.checksumsTrusted++;
        trusted(bytes.subarray(off, off + len));
      } else {
        this.deliver(bytes.subarray(off, off + len));
      }
      return;
    }
    // The IP datagram's own length (a device may pad; the pieces are cut from the datagram).
    const ipLength = bytes[off]! >> 4 === 4 ? read16(bytes, off + 2) : 40 + read16(bytes, off + 4);
    if (ipLength > len || ipLength < h.l4Offset + h.l4HeaderLength) {
      this.drop(VnetDrop.TRUNCATED);
      return;
    }
    len = ipLength;
    const headers = h.l4Offset + h.l4HeaderLength;
    if (h.gso === VnetGso.NONE || len - headers <= h.gsoSize) {
      if (trusted !== undefined) {
        this.stats.checksumsTrusted++;
        trusted(bytes.subarray(off, off + len));
        return;
      }
      this.completeChecksum(bytes, off, len);
      this.deliver(bytes.subarray(off, off + len));
      return;
    }
    const tcp = h.protocol === IpProtocol.TCP;
    if (tcp && (bytes[off + h.l4Offset + 13]! & (TcpFlag.SYN | TcpFlag.RST)) !== 0) {
      this.drop(VnetDrop.UNSUPPORTED); // no stack segments a SYN or RST
      return;
    }
    if (tcp && trusted !== undefined) {
      this.stats.superSegments++;
      this.stats.checksumsTrusted++;
      trusted(bytes.subarray(off, off + len));
      return;
    }
    this.segment(bytes, off, len);
  }

  /** Completes the L4 checksum of a NEEDS_CSUM packet (the field holds the pseudo-header sum). */
  private completeChecksum(bytes: Uint8Array, off: number, len: number): void {
    const h = this.header;
    const start = off + h.l4Offset;
    let c = checksumFinish(checksumAdd(0, bytes, start, off + len - start));
    if (h.protocol === IpProtocol.UDP && c === 0) c = 0xffff; // RFC 768: a computed zero goes as all ones
    write16(bytes, start + h.csumOffset, c);
    this.stats.checksumsCompleted++;
  }

  /** Cuts the super-packet `bytes[off, off + len)` into gso_size pieces, in place, each to deliver. */
  private segment(bytes: Uint8Array, off: number, len: number): void {
    const h = this.header;
    const l4 = h.l4Offset;
    const headers = l4 + h.l4HeaderLength;
    const v4 = bytes[off]! >> 4 === 4;
    const tcp = h.protocol === IpProtocol.TCP;
    const saved = this.saved;
    saved.set(bytes.subarray(off, off + headers));
    const id = v4 ? read16(bytes, off + 4) : 0;
    const seq = tcp ? read32(bytes, off + l4 + 4) : 0;
    const flags = tcp ? bytes[off + l4 + 13]! : 0;
    const mss = h.gsoSize;
    const payload = len - headers;
    const pieces = Math.ceil(payload / mss);
    const trusted = this.deliverTrusted;
    this.stats.superPackets++;
    if (trusted === undefined) this.stats.checksumsCompleted++;
    else this.stats.checksumsTrusted++;
    for (let k = 0; k < pieces; k++) {
      const start = off + k * mss; // piece k's payload starts at off + headers + k * mss
      const size = k === pieces - 1 ? payload - k * mss : mss;
      if (k > 0) bytes.set(saved.subarray(0, headers), start);
      const l4Length = h.l4HeaderLength + size;
      if (v4) {
        write16(bytes, start + 2, headers + size);
        write16(bytes, start + 4, (id + k) & 0xffff);
        write16(bytes, start + 10, 0);
        write16(bytes, start + 10, checksum(bytes, start, l4));
      } else {
        write16(bytes, start + 4, l4Length);
      }
      if (tcp) {
        write32(bytes, start + l4 + 4, (seq + k * mss) >>> 0);
        let f = flags;
        if (k < pieces - 1) f &= ~(TcpFlag.FIN | TcpFlag.PSH);
        if (k > 0) f &= ~TcpFlag.CWR;
        bytes[start + l4 + 13] = f;
        fillTcpChecksum(bytes, start + l4, l4Length, pseudoSum(bytes, start, IpProtocol.TCP, l4Length));
      } else {
        write16(bytes, start + l4 + 4, l4Length);
        if (trusted === undefined) {
          fillUdpChecksum(bytes, start + l4, l4Length, pseudoSum(bytes, start, IpProtocol.UDP, l4Length));
        } else if (read16(bytes, start + l4 + UDP_CSUM_OFFSET) === 0) {
          // Not verified, but a zero field would read as "no checksum", which IPv6 forbids (RFC 8200 §8.1).
          write16(bytes, start + l4 + UDP_CSUM_OFFSET, 0xffff);
        }
      }
      this.stats.pieces++;
      if (trusted === undefined) this.deliver(bytes.subarray(start, start + headers + size));
      else trusted(bytes.subarray(start, start + headers + size));
    }
  }

  private drop(reason: VnetDrop): void {
    this.stats.drops[VNET_DROP_NAMES[reason]!]!++;
  }
}

/**
 * The header before a packet we send: `bytes[packetOff, packetOff + length)` is the engine's packet,
 * the header goes at `packetOff - VNET_HEADER_LENGTH`. `partialChecksums`: checksum offload is on
 * (see the module comment); the packet's checksum field is then replaced by the pseudo-header sum.
 */
export function writeTxHeader(bytes: Uint8Array, packetOff: number, length: number, partialChecksums: boolean): void {
  const header = packetOff - VNET_HEADER_LENGTH;
  if (partialChecksums && length >= 20) {
    const version = bytes[packetOff]! >> 4;
    let l4 = 0;
    let protocol = -1;
    if (version === 4 && (read16(bytes, packetOff + 6) & 0x3fff) === 0) {
      l4 = (bytes[packetOff]! & 0x0f) * 4;
      protocol = bytes[packetOff + 9]!;
    } else if (version === 6 && length >= 40) {
      l4 = 40;
      protocol = bytes[packetOff + 6]!;
    }
    const field = protocol === IpProtocol.TCP ? TCP_CSUM_OFFSET : protocol === IpProtocol.UDP ? UDP_CSUM_OFFSET : -1;
    if (field >= 0 && l4 + field + 2 <= length) {
      const l4Length = length - l4;
      write16(bytes, packetOff + l4 + field, checksumFoldRaw(pseudoSum(bytes, packetOff, protocol, l4Length)));
      writeVnetHeader(bytes, header, VnetFlag.NEEDS_CSUM, VnetGso.NONE, 0, 0, l4, field);
      return;
    }
  }
  writeVnetHeader(bytes, header);
}
