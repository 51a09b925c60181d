/**
 * IP framing for everything the engine sends: TCP segments, UDP datagrams, ICMP messages and RSTs.
 *
 * The engine asks the caller for a buffer (`begin`: l3TxBuffer + l3TxBufferMut), writes an IP header
 * at offset 0 (`writeFlowHeader` / `writeHeader`: every byte, the buffer holds stale data), lets the
 * protocol write its part after it, and hands the packet over (`finish`: l3Tx). A datagram larger than
 * the MTU can be sent as IP fragments (`sendFragmented`), which only UDP and ICMP echo replies need:
 * TCP keeps its segments within the MSS.
 *
 * Identification and DF (RFC 791, RFC 6864):
 * - TCP segments carry DF (RFC 1191 path MTU discovery; the connection reacts to "fragmentation
 *   needed").
 * - UDP datagrams and ICMP messages do not: the engine does no path MTU discovery for them, so a
 *   smaller link on the way may fragment them instead of dropping them into a black hole. (Linux sets
 *   DF on UDP by default, IP_PMTUDISC_WANT, because its sockets learn the path MTU; ours cannot.)
 * - The 16-bit Identification comes from one per-engine counter that starts at a random value and
 *   advances per packet. RFC 6864 §4.2 asks that non-atomic datagrams not repeat an ID for one
 *   (source, destination, protocol) within the reassembly lifetime; a counter shared by all
 *   destinations meets that up to 65536 fragmentable datagrams per reassembly timeout.
 * - IPv6 Fragment headers take a 32-bit per-engine counter, also started at random (RFC 7739 §5.1:
 *   not predictable from outside; a per-destination counter would be better still).
 *
 * Under txSuperSegments (config.ts) every buffer starts with a virtio-net header (wire/virtio-net.ts):
 * `head` bytes, written here as zeros (a whole packet, checksums complete) and rewritten by the TCP
 * writer for its segments (NEEDS_CSUM, GSO); the IP packet starts at `head`, and l3TxBuffer and l3Tx
 * count the header in their sizes. Without it `head` is 0 and the packet starts at offset 0.
 *
 * The MTU caps every packet handed to l3Tx, IPv6 included. A setting below 1280 means a link that
 * cannot carry IPv6 by RFC 8200 §5; the engine still keeps IPv6 packets within it (a sender may always
 * send smaller packets), it does not raise the cap to 1280.
 */
import type { Callbacks } from "../api.js";
import type { EngineConfig } from "../config.js";
import { BufferTooSmallError } from "../errors.js";
import type { FlowRecord } from "../flow/flow.js";
import type { Counters } from "../stats.js";
import { read32 } from "../wire/bytes.js";
import { pseudoSum4, pseudoSum6 } from "../wire/checksum.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { emitIpv4Header, IPV4_MIN_HEADER, ipv4Fields } from "../wire/ipv4.js";
import { emitIpv6FragmentHeader, emitIpv6Header, IPV6_FRAGMENT_HEADER, IPV6_HEADER, ipv6Fields } from "../wire/ipv6.js";
import { VNET_HEADER_LENGTH, writeVnetHeader } from "../wire/virtio-net.js";

/** The engine-wide callbacks type, its buffer type erased (Callbacks' methods are bivariant). */
export type AnyCallbacks = Callbacks<unknown>;

function randomU32(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0]!;
}

/** IP header length for a family (the engine sends no IPv4 options and no IPv6 extension headers). */
export function ipHeaderLength(family: 4 | 6): number {
  return family === 4 ? IPV4_MIN_HEADER : IPV6_HEADER;
}

export class IpOutput {
  private ident4: number;
  private ident6: number;
  private readonly v4 = ipv4Fields();
  private readonly v6 = ipv6Fields();
  /** The buffer between begin() and finish(). */
  private pending: unknown = undefined;
  /** Bytes before the IP packet in every buffer: the virtio-net header under txSuperSegments, else 0. */
  readonly head: number;

  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
  ) {
    this.ident4 = randomU32() & 0xffff;
    this.ident6 = randomU32();
    this.head = config.txSuperSegments > 0 ? VNET_HEADER_LENGTH : 0;
  }

  /**
   * A transmit buffer for an IP packet of `size` bytes (at `head`, after the virtio-net header if any),
   * or undefined (counted as txBufferUnavailable) when the caller has none now. Throws
   * BufferTooSmallError if the caller's bytes are shorter than asked: that is API misuse, not a
   * network condition.
   */
  begin(cb: AnyCallbacks, size: number): Uint8Array | undefined {
    const total = size + this.head;
    const buf = cb.l3TxBuffer(total);
    if (buf === undefined) {
      this.counters.txBufferUnavailable++;
      return undefined;
    }
    const bytes = cb.l3TxBufferMut(buf);
    if (bytes.length < total) {
      throw new BufferTooSmallError(`l3TxBufferMut gave ${bytes.length} bytes for a ${total}-byte packet`);
    }
    if (this.head > 0) writeVnetHeader(bytes, 0);
    this.pending = buf;
    return bytes;
  }

  /** Hand the IP packet of `length` bytes written since begin() (behind its header, if any) to l3Tx. */
  finish(cb: AnyCallbacks, length: number): void {
    const buf = this.pending;
    this.pending = undefined;
    this.counters.packetsOut++;
    this.counters.bytesOut += length;
    cb.l3Tx(buf, length + this.head);
  }

  /**
   * Write the IP header of a packet from the flow's local end to its remote end at `off`; returns the
   * offset of the L4 header.
   */
  writeFlowHeader(
    buf: Uint8Array,
    off: number,
    flow: FlowRecord,
    protocol: number,
    l4Length: number,
    dontFragment: boolean,
  ): number {
    return this.writeHeader(buf, off, flow.family, flow.addr, 16, 0, protocol, l4Length, dontFragment);
  }

  /**
   * Write an IP header at `off` with the source address at `addr[srcOff..]` and the destination at
   * `addr[dstOff..]` (4 or 16 bytes each); returns the offset of what follows it.
   */
  writeHeader(
    buf: Uint8Array,
    off: number,
    family: 4 | 6,
    addr: Uint8Array,
    srcOff: number,
    dstOff: number,
    protocol: number,
    l4Length: number,
    dontFragment: boolean,
  ): number {
    if (family === 4) {
      const f = this.v4;
      f.src = read32(addr, srcOff);
      f.dst = read32(addr, dstOff);
      f.protocol = protocol;
      f.payloadLength = l4Length;
      f.ttl = this.config.ttl;
      f.ident = this.nextIdent4();
      f.tos = 0;
      f.dontFragment = dontFragment;
      f.moreFragments = false;
      f.fragmentOffset = 0;
      return off + emitIpv4Header(buf, off, f);
    }
    const f = this.v6;
    f.addrBytes = addr;
    f.srcOffset = srcOff;
    f.dstOffset = dstOff;
    f.nextHeader = protocol;
    f.payloadLength = l4Length;
    f.hopLimit = this.config.ttl;
    f.trafficClass = 0;
    f.flowLabel = 0;
    return off + emitIpv6Header(buf, off, f);
  }

  /**
   * The pseudo-header sum (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1) for the IP header just written at
   * `ipOff`: `family` decides the layout.
   */
  pseudoSum(buf: Uint8Array, ipOff: number, family: 4 | 6, protocol: number, l4Length: number): number {
    return family === 4 ? pseudoSum4(buf, ipOff, protocol, l4Length) : pseudoSum6(buf, ipOff, protocol, l4Length);
  }

  /** Largest L4 message (header included) that fits one packet of this family. */
  maxUnfragmented(family: 4 | 6): number {
    return this.config.mtu - ipHeaderLength(family);
  }

  /**
   * Send a complete, already checksummed L4 message (`l4[l4Off..l4Off+l4Len)`) from `src` to `dst`,
   * in one packet if it fits the MTU, else as IP fragments (RFC 791 §2.3 / RFC 8200 §4.5): every
   * fragment but the last carries a multiple of 8 bytes, and each packet fits the MTU.
   * Returns false if a transmit buffer was refused (the rest of the datagram is not sent: the peer
   * discards the fragments it got when its reassembly times out).
   */
  sendDatagram(
    cb: AnyCallbacks,
    family: 4 | 6,
    addr: Uint8Array,
    srcOff: number,
    dstOff: number,
    protocol: number,
    l4: Uint8Array,
    l4Off: number,
    l4Len: number,
  ): boolean {
    if (l4Len <= this.maxUnfragmented(family)) {
      const size = ipHeaderLength(family) + l4Len;
      const bytes = this.begin(cb, size);
      if (bytes === undefined) return false;
      const at = this.writeHeader(bytes, this.head, family, addr, srcOff, dstOff, protocol, l4Len, false);
      bytes.set(l4.subarray(l4Off, l4Off + l4Len), at);
      this.finish(cb, size);
      return true;
    }
    return family === 4
      ? this.sendFragments4(cb, addr, srcOff, dstOff, protocol, l4, l4Off, l4Len)
      : this.sendFragments6(cb, addr, srcOff, dstOff, protocol, l4, l4Off, l4Len);
  }

  private sendFragments4(
    cb: AnyCallbacks,
    addr: Uint8Array,
    srcOff: number,
    dstOff: number,
    protocol: number,
    l4: Uint8Array,
    l4Off: number,
    l4Len: number,
  ): boolean {
    const chunkMax = ((this.config.mtu - IPV4_MIN_HEADER) >> 3) << 3;
    const f = this.v4;
    f.src = read32(addr, srcOff);
    f.dst = read32(addr, dstOff);
    f.protocol = protocol;
    f.ttl = this.config.ttl;
    f.ident = this.nextIdent4();
    f.tos = 0;
    f.dontFragment = false;
    for (let done = 0; done < l4Len; ) {
      const chunk = Math.min(chunkMax, l4Len - done);
      const size = IPV4_MIN_HEADER + chunk;
      const bytes = this.begin(cb, size);
      if (bytes === undefined) return false;
      f.payloadLength = chunk;
      f.fragmentOffset = done;
      f.moreFragments = done + chunk < l4Len;
      emitIpv4Header(bytes, this.head, f);
      bytes.set(l4.subarray(l4Off + done, l4Off + done + chunk), this.head + IPV4_MIN_HEADER);
      this.counters.fragmentsOut++;
      this.finish(cb, size);
      done += chunk;
    }
    return true;
  }

  private sendFragments6(
    cb: AnyCallbacks,
    addr: Uint8Array,
    srcOff: number,
    dstOff: number,
    protocol: number,
    l4: Uint8Array,
    l4Off: number,
    l4Len: number,
  ): boolean {
    const head = IPV6_HEADER + IPV6_FRAGMENT_HEADER;
    const chunkMax = ((this.config.mtu - head) >> 3) << 3;
    const ident = this.nextIdent6();
    const f = this.v6;
    f.addrBytes = addr;
    f.srcOffset = srcOff;
    f.dstOffset = dstOff;
    f.nextHeader = IpProtocol.IPV6_FRAGMENT;
    f.hopLimit = this.config.ttl;
    f.trafficClass = 0;
    f.flowLabel = 0;
    for (let done = 0; done < l4Len; ) {
      const chunk = Math.min(chunkMax, l4Len - done);
      const size = head + chunk;
      const bytes = this.begin(cb, size);
      if (bytes === undefined) return false;
      f.payloadLength = IPV6_FRAGMENT_HEADER + chunk;
      emitIpv6Header(bytes, this.head, f);
      emitIpv6FragmentHeader(bytes, this.head + IPV6_HEADER, protocol, done, done + chunk < l4Len, ident);
      bytes.set(l4.subarray(l4Off + done, l4Off + done + chunk), this.head + head);
      this.counters.fragmentsOut++;
      this.finish(cb, size);
      done += chunk;
    }
    return true;
  }

  private nextIdent4(): number {
    const id = this.ident4;
    this.ident4 = (id + 1) & 0xffff;
    return id;
  }

  private nextIdent6(): number {
    const id = this.ident6;
    this.ident6 = (id + 1) >>> 0;
    return id;
  }
}
