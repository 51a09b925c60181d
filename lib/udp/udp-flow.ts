/**
 * UDP flows (RFC 768). UDP has no connection, so a "flow" is the engine's memory of a 5-tuple: born
 * with the first datagram (or l4Connect), forgotten after `config.udpIdleTimeoutMs` without a
 * datagram either way, or when the application closes it.
 *
 * Idle timing is lazy: traffic only stamps `lastActivity`; the timer heap holds an older deadline,
 * and when it fires the flow either closes or re-arms at `lastActivity + idle`. So a datagram costs
 * no heap operation.
 *
 * While the application has paused receive, datagrams are copied into a bounded queue
 * (`config.udpMaxQueuedDatagrams`); past it they are dropped (UDP_QUEUE_FULL), as a full socket
 * receive buffer drops them. Each queued datagram is charged to the memory budget (its bytes plus
 * RECORD_OVERHEAD_BYTES) when queued, and given back when delivered or when the flow is forgotten.
 */
import { MemoryKind, RECORD_OVERHEAD_BYTES, type MemoryBudget } from "../memory.js";
import type { EngineConfig } from "../config.js";
import type { EventTarget } from "../events.js";
import type { FlowRecord } from "../flow/flow.js";
import { ipHeaderLength, type AnyCallbacks, type IpOutput } from "../ip/output.js";
import type { Counters } from "../stats.js";
import { write16 } from "../wire/bytes.js";
import { checksumAdd, checksumAddU32, checksumFoldRaw } from "../wire/checksum.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { IPV4_MIN_HEADER } from "../wire/ipv4.js";
import { emitUdpHeader, fillUdpChecksum, UDP_HEADER } from "../wire/udp.js";
import { UDP_CSUM_OFFSET, UDP_MAX_SEGMENTS, VnetFlag, VnetGso, writeVnetHeader } from "../wire/virtio-net.js";

/** Largest UDP payload: what the IPv4 Total Length leaves after 20 + 8 bytes of headers. */
export const UDP_MAX_PAYLOAD_V4 = 65535 - IPV4_MIN_HEADER - UDP_HEADER;
/** Largest UDP payload over IPv6: the Payload Length (65535) less the UDP header (no jumbograms). */
export const UDP_MAX_PAYLOAD_V6 = 65535 - UDP_HEADER;

/** `enqueue` results. */
export const QUEUED = 0;
export const QUEUE_FULL = 1;
export const NO_MEMORY = 2;

export class UdpFlow implements EventTarget {
  /** The FlowState tag (flow/flow.ts): on the prototype, so it costs the per-flow object nothing. */
  get kind(): "udp" {
    return "udp";
  }
  /** Heap position and the time the heap will look at this flow next (see the module comment). */
  deadline: number;
  heapIndex = -1;
  /** Last datagram either way. */
  lastActivity: number;
  paused = false;
  /** l4Info counters: datagrams and their payload bytes, each way. */
  datagramsIn = 0;
  bytesIn = 0;
  datagramsOut = 0;
  bytesOut = 0;
  /** Datagrams received while paused, oldest first (copies). */
  private readonly queue: Uint8Array[] = [];
  private queueHead = 0;

  constructor(
    readonly flow: FlowRecord,
    now: number,
    private readonly idleMs: number,
    private readonly memory: MemoryBudget,
  ) {
    this.lastActivity = now;
    this.deadline = now + idleMs;
  }

  /** When the flow goes idle if nothing more happens. */
  get idleDeadline(): number {
    return this.lastActivity + this.idleMs;
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /**
   * Keep a copy of `data` for later delivery: QUEUED, or QUEUE_FULL / NO_MEMORY (the datagram is
   * dropped) when `max` are queued or the memory budget refuses it.
   */
  enqueue(data: Uint8Array, max: number, memory: MemoryBudget): number {
    if (this.queued >= max) return QUEUE_FULL;
    if (!memory.tryCharge(MemoryKind.UDP_QUEUE, data.length + RECORD_OVERHEAD_BYTES)) return NO_MEMORY;
    this.queue.push(data.slice());
    return QUEUED;
  }

  /** The flow is forgotten: what is still queued goes, and its charge with it. */
  dropQueue(memory: MemoryBudget): void {
    for (let d = this.dequeue(memory); d !== undefined; d = this.dequeue(memory));
  }

  // ---------------------------------------------------------------- events (events.ts)

  /** A datagram straight from the packet (valid until l3Rx returns). */
  fireRx(cb: AnyCallbacks, data: Uint8Array): void {
    if (this.flow.state === this) cb.l4Rx(this.flow, data);
  }

  /** l4ResumeRx: what queued up while paused, until paused or closed again. */
  fireDrain(cb: AnyCallbacks): void {
    const flow = this.flow;
    for (let n = this.queued; n > 0 && !this.paused && flow.state === this; n--) {
      const d = this.dequeue(this.memory);
      if (d === undefined) break;
      cb.l4Rx(flow, d);
    }
  }

  /** UDP has no send buffer to wait for. */
  fireTxReady(): void {}

  /** The oldest queued datagram (its charge given back), or undefined. */
  dequeue(memory: MemoryBudget): Uint8Array | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const d = this.queue[this.queueHead]!;
    memory.release(MemoryKind.UDP_QUEUE, d.length + RECORD_OVERHEAD_BYTES);
    this.queue[this.queueHead++] = EMPTY_SLOT;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    return d;
  }
}

const EMPTY_SLOT = new Uint8Array(0);

/** Writes UDP datagrams of flows. */
export class UdpOutput {
  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
    private readonly out: IpOutput,
  ) {}

  /**
   * Send `data` as one datagram from the flow's local end to its remote end. A datagram larger than
   * the MTU goes as IP fragments, each within the MTU. The caller has checked the size limit
   * (UDP_MAX_PAYLOAD_V4 / _V6).
   *
   * Returns `data.length` when every packet was handed to l3Tx, or 0 when l3TxBuffer had no buffer
   * (the datagram is dropped, as UDP may; counted in txBufferUnavailable).
   */
  send(cb: AnyCallbacks, flow: FlowRecord, data: Uint8Array): number {
    const family = flow.family;
    const udpLen = UDP_HEADER + data.length;
    if (udpLen <= this.out.maxUnfragmented(family)) {
      const size = ipHeaderLength(family) + udpLen;
      const buf = this.out.begin(cb, size);
      if (buf === undefined) return 0;
      const at = this.out.writeFlowHeader(buf, this.out.head, flow, IpProtocol.UDP, udpLen, false);
      emitUdpHeader(buf, at, flow.localPort, flow.remotePort, udpLen);
      buf.set(data, at + UDP_HEADER);
      fillUdpChecksum(buf, at, udpLen, this.out.pseudoSum(buf, this.out.head, family, IpProtocol.UDP, udpLen));
      this.out.finish(cb, size);
    } else {
      // Rare: build the whole datagram, then cut it into fragments.
      const msg = new Uint8Array(udpLen);
      emitUdpHeader(msg, 0, flow.localPort, flow.remotePort, udpLen);
      msg.set(data, UDP_HEADER);
      fillUdpChecksum(msg, 0, udpLen, flowPseudoSum(flow, IpProtocol.UDP, udpLen));
      if (!this.out.sendDatagram(cb, family, flow.addr, 16, 0, IpProtocol.UDP, msg, 0, udpLen)) return 0;
    }
    this.counters.udpDatagramsOut++;
    return data.length;
  }

  /**
   * Send `data` as datagrams of `segment` bytes (the last may be shorter), in order. Under
   * txUdpSegments for the flow's family, a run that fits one IP packet goes as one (UDP GSO: the
   * virtio-net header's GSO_UDP_L4, gso_size = `segment`, NEEDS_CSUM, the UDP length and checksum
   * field for the whole run, which Linux's __udp_gso_segment rewrites per datagram) and the device
   * cuts it; otherwise each datagram goes as `send` sends it, byte for byte. Returns the bytes
   * sent: less than data.length when l3TxBuffer ran out of buffers (the rest dropped).
   */
  sendRun(cb: AnyCallbacks, flow: FlowRecord, data: Uint8Array, segment: number): number {
    const family = flow.family;
    const count = Math.ceil(data.length / segment);
    const udpLen = UDP_HEADER + data.length;
    const ipLen = ipHeaderLength(family);
    const head = this.out.head;
    if (
      count > 1 &&
      (this.config.txUdpSegments & (family === 4 ? 1 : 2)) !== 0 &&
      count <= UDP_MAX_SEGMENTS &&
      UDP_HEADER + segment <= this.out.maxUnfragmented(family) &&
      // IPv4's total length and IPv6's payload length are 16 bits.
      (family === 4 ? ipLen + udpLen : udpLen) <= 0xffff
    ) {
      const size = ipLen + udpLen;
      const buf = this.out.begin(cb, size);
      if (buf === undefined) return 0;
      const at = this.out.writeFlowHeader(buf, head, flow, IpProtocol.UDP, udpLen, false);
      emitUdpHeader(buf, at, flow.localPort, flow.remotePort, udpLen);
      buf.set(data, at + UDP_HEADER);
      write16(buf, at + UDP_CSUM_OFFSET, checksumFoldRaw(this.out.pseudoSum(buf, head, family, IpProtocol.UDP, udpLen)));
      const csumStart = at - head;
      writeVnetHeader(buf, 0, VnetFlag.NEEDS_CSUM, VnetGso.UDP_L4, csumStart + UDP_HEADER, segment, csumStart, UDP_CSUM_OFFSET);
      this.out.finish(cb, size);
      this.counters.udpDatagramsOut += count;
      return data.length;
    }
    let sent = 0;
    for (let at = 0; at < data.length; at += segment) {
      const n = this.send(cb, flow, data.subarray(at, Math.min(at + segment, data.length)));
      if (n === 0) break;
      sent += n;
    }
    return sent;
  }

  /** Largest payload one l4Tx may send on a flow of this family. */
  maxPayload(family: 4 | 6): number {
    return family === 4 ? UDP_MAX_PAYLOAD_V4 : UDP_MAX_PAYLOAD_V6;
  }

  /** Largest payload that goes out unfragmented. */
  maxUnfragmentedPayload(family: 4 | 6): number {
    return this.config.mtu - ipHeaderLength(family) - UDP_HEADER;
  }
}

/** The pseudo-header sum of a flow's outgoing packets, straight from its address bytes. */
export function flowPseudoSum(flow: FlowRecord, protocol: number, l4Length: number): number {
  if (flow.family === 4) {
    const s = checksumAdd(checksumAdd(0, flow.addr, 0, 4), flow.addr, 16, 4);
    return s + protocol + l4Length;
  }
  return checksumAddU32(checksumAdd(0, flow.addr, 0, 32), l4Length) + protocol;
}
