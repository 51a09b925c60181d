/**
 * IP input, the first step of every packet: version, header checks (lib/wire views), address sanity
 * and reassembly. What passes is described by one `L4Packet`, re-pointed per packet: the family,
 * where the addresses sit, and where the transport message starts and how long it is. Nothing is
 * allocated per packet; a reassembled datagram is a new buffer (ip/reassembly.ts), as it must be.
 *
 * - IPv4 (RFC 791, RFC 1122 §3.2.1): header length, total length and header checksum
 *   (Ipv4Packet.check); no flow to or from multicast, broadcast, "this network" or loopback
 *   (RFC 1122 §3.2.1.3, ip/address.ts).
 * - IPv6 (RFC 8200): payload length and a bounded extension-header walk (Ipv6Packet.check); no flow
 *   to or from ::, ::1 or multicast (RFC 4291 §2.5.2, §2.5.3, §2.7).
 * - Fragments (RFC 791 §3.2, RFC 8200 §4.5) go to the Reassembler, whose sweeper this module keeps in
 *   the engine's timer heap while datagrams are pending.
 */
import type { EngineConfig } from "../config.js";
import type { Counters } from "../stats.js";
import type { HeapItem, TimerHeap } from "../timer-heap.js";
import { EMPTY } from "../wire/bytes.js";
import { Drop } from "../wire/drop.js";
import { Ipv4Packet } from "../wire/ipv4.js";
import { Ipv6Packet } from "../wire/ipv6.js";
import { isUnicast4, isUnicast6 } from "./address.js";
import { Reassembler, type ReassemblyListener } from "./reassembly.js";

/** A packet that passed IP input: where its transport message is. Valid until the next packet. */
export class L4Packet {
  family: 4 | 6 = 4;
  /** The whole IP packet (the caller's, or a reassembled datagram). */
  bytes: Uint8Array = EMPTY;
  /** The IP header at 0; the packet's length as its header says (IPv4 Total Length, IPv6 40 + Payload Length). */
  ipLength = 0;
  /** Source and destination addresses in `bytes` (4 or 16 bytes each). */
  srcOffset = 0;
  dstOffset = 0;
  /** The transport protocol (IPv6: the upper-layer header after any extension headers). */
  protocol = 0;
  /** The transport message: offset and length in `bytes`. */
  l4Offset = 0;
  l4Length = 0;
  /** The IPv6 view of the packet (ICMPv6 input reads it); meaningless for IPv4. */
  ip6: Ipv6Packet | null = null;
  /**
   * The caller vouched for the transport checksum (L3L4.l3RxTrusted: a packet the local kernel handed
   * a TUN device with NEEDS_CSUM or DATA_VALID): TCP and UDP input do not verify it. Never set for a
   * reassembled datagram.
   */
  checksumTrusted = false;
}

export class IpInput {
  readonly reassembler: Reassembler;
  private readonly ip4 = new Ipv4Packet();
  private readonly ip6 = new Ipv6Packet();
  private readonly l4 = new L4Packet();

  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
    private readonly heap: TimerHeap<HeapItem>,
    listener: ReassemblyListener,
  ) {
    this.reassembler = new Reassembler(config, counters, listener);
  }

  /**
   * The transport message of `packet`, or undefined when the packet was dropped (counted here) or is
   * a fragment of a datagram not yet complete.
   */
  input(packet: Uint8Array, now: number, checksumTrusted = false): L4Packet | undefined {
    if (packet.length === 0) return this.dropped(Drop.TRUNCATED);
    this.l4.checksumTrusted = checksumTrusted;
    const version = packet[0]! >> 4;
    if (version === 4) return this.input4(packet, now);
    if (version === 6) return this.input6(packet, now);
    return this.dropped(Drop.BAD_VERSION);
  }

  // One function per family: each stays small enough for V8 to inline the view's getters into it.

  private input4(bytes: Uint8Array, now: number): L4Packet | undefined {
    const ip = this.ip4.wrap(bytes, 0, bytes.length);
    const bad = ip.check(this.config.verifyChecksums);
    if (bad !== Drop.OK) return this.dropped(bad);
    if (!isUnicast4(ip.src) || !isUnicast4(ip.dst)) return this.dropped(Drop.BAD_ADDRESS);
    if (ip.isFragment) return this.reassembled(this.reassembler.add4(ip, now), now);
    const l4 = this.l4;
    l4.family = 4;
    l4.bytes = bytes;
    l4.ipLength = ip.totalLength;
    l4.srcOffset = ip.srcOffset;
    l4.dstOffset = ip.dstOffset;
    l4.protocol = ip.protocol;
    l4.l4Offset = ip.payloadOffset;
    l4.l4Length = ip.payloadLength;
    l4.ip6 = null;
    return l4;
  }

  private input6(bytes: Uint8Array, now: number): L4Packet | undefined {
    const ip = this.ip6.wrap(bytes, 0, bytes.length);
    const bad = ip.check();
    if (bad !== Drop.OK) return this.dropped(bad);
    if (!isUnicast6(bytes, ip.srcOffset) || !isUnicast6(bytes, ip.dstOffset)) return this.dropped(Drop.BAD_ADDRESS);
    if (ip.isFragment) return this.reassembled(this.reassembler.add6(ip, now), now);
    const l4 = this.l4;
    l4.family = 6;
    l4.bytes = bytes;
    l4.ipLength = 40 + ip.payloadLength;
    l4.srcOffset = ip.srcOffset;
    l4.dstOffset = ip.dstOffset;
    l4.protocol = ip.upperProtocol;
    l4.l4Offset = ip.upperOffset;
    l4.l4Length = ip.upperLength;
    l4.ip6 = ip;
    return l4;
  }

  /** A fragment went to the reassembler: a completed datagram goes round once more, a whole packet now. */
  private reassembled(whole: Uint8Array | undefined, now: number): L4Packet | undefined {
    this.schedule();
    // The fragments' checksums were never vouched for as one datagram: a reassembled one is verified.
    return whole === undefined ? undefined : this.input(whole, now, false);
  }

  /** The sweeper's timer is due: drop the datagrams whose time is up. */
  expire(now: number): void {
    this.reassembler.expire(now);
    this.schedule();
  }

  /** The reassembly sweeper is in the heap while datagrams are pending. */
  private schedule(): void {
    const r = this.reassembler;
    if (r.pending > 0 && r.deadline < Infinity) this.heap.update(r);
    else this.heap.remove(r);
  }

  private dropped(reason: number): undefined {
    this.counters.drop(reason);
    return undefined;
  }
}
