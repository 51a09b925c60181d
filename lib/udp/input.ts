/**
 * UDP (RFC 768): datagrams in, flows made and forgotten, datagrams out. A flow is the engine's memory
 * of a 5-tuple (udp-flow.ts): made by the first datagram the application accepts (or by l4Connect),
 * forgotten after udpIdleTimeout without traffic or when the application closes it.
 *
 * Input checks the header and checksum (RFC 768; mandatory over IPv6, RFC 8200 §8.1), refuses port 0,
 * and answers a datagram nobody accepts with ICMP Port Unreachable (RFC 1122 §4.1.3.1).
 */
import { MemoryPressure } from "../memory.js";
import { NO_MEMORY, QUEUED } from "./udp-flow.js";
import type { AnyCallbacks, IpOutput } from "../ip/output.js";
import type { L4Packet } from "../ip/input.js";
import type { EngineConfig } from "../config.js";
import { AppEvent, type EventSink } from "../events.js";
import { flowFromPacket, type FlowCounts, type FlowRecord } from "../flow/flow.js";
import type { FlowTable } from "../flow/table.js";
import type { Icmp } from "../icmp/icmp.js";
import { EngineDrop, type Counters } from "../stats.js";
import { CloseCause } from "../tcp/context.js";
import type { HeapItem, TimerHeap } from "../timer-heap.js";
import { pseudoSum4, pseudoSum6 } from "../wire/checksum.js";
import { Drop } from "../wire/drop.js";
import { Icmpv4Type, Icmpv4UnreachCode, Icmpv6Type, Icmpv6UnreachCode } from "../wire/icmp.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { UdpPacket } from "../wire/udp.js";
import { UdpFlow, UdpOutput } from "./udp-flow.js";

export class UdpLayer {
  readonly out: UdpOutput;
  private readonly view = new UdpPacket();

  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
    private readonly counts: FlowCounts,
    private readonly table: FlowTable,
    private readonly heap: TimerHeap<HeapItem>,
    private readonly icmp: Icmp,
    private readonly events: EventSink,
    ipOut: IpOutput,
    /** The public engine: FlowRecord.owner of every flow. */
    private readonly owner: object,
  ) {
    this.out = new UdpOutput(config, counters, ipOut);
  }

  /** A UDP datagram from IP input: its flow (made if new and accepted), or undefined when dropped. */
  input(cb: AnyCallbacks, p: L4Packet, now: number): FlowRecord | undefined {
    const bytes = p.bytes;
    const dg = this.view.wrap(bytes, p.l4Offset, p.l4Length);
    const pseudo = this.config.verifyChecksums && !p.checksumTrusted
      ? p.family === 4
        ? pseudoSum4(bytes, 0, IpProtocol.UDP, dg.available >= 8 ? dg.length : 0)
        : pseudoSum6(bytes, 0, IpProtocol.UDP, dg.available >= 8 ? dg.length : 0)
      : undefined;
    const bad = dg.check(pseudo, p.family === 6);
    if (bad !== Drop.OK) return this.dropped(bad);
    const srcPort = dg.srcPort;
    const dstPort = dg.dstPort;
    // RFC 768: source port 0 means "no reply expected": nothing to talk back to.
    if (srcPort === 0 || dstPort === 0) return this.dropped(Drop.BAD_ADDRESS);
    let flow = this.table.lookup(p.family, IpProtocol.UDP, bytes, p.srcOffset, p.dstOffset, srcPort, dstPort);
    if (flow === undefined) {
      if (this.counts.flows >= this.config.maxFlows) return this.dropped(EngineDrop.FLOW_LIMIT);
      const noMemory = this.counters.memory.pressure >= MemoryPressure.REFUSE;
      const perSource = this.counts.perSource;
      const sourceFull = !noMemory && perSource !== null && perSource.full(p.family, bytes, p.srcOffset);
      flow = flowFromPacket(this.owner, "udp", p.family, bytes, p.srcOffset, p.dstOffset, srcPort, dstPort);
      if (noMemory || sourceFull || (cb.l4Accept !== undefined && !cb.l4Accept(flow))) {
        // The memory budget's third step (lib/memory.ts) and maxFlowsPerSource (flow/sources.ts)
        // refuse new flows as a closed port would.
        if (noMemory) this.counters.memoryRefusedFlows++;
        if (sourceFull) this.counters.flowsRefusedPerSource++;
        // RFC 1122 §4.1.3.1: a datagram for a port nobody listens on gets Port Unreachable.
        if (p.family === 4) {
          this.icmp.sendError(cb, now, bytes, 0, p.ipLength, Icmpv4Type.DEST_UNREACHABLE, Icmpv4UnreachCode.PORT, 0);
        } else {
          this.icmp.sendError(cb, now, bytes, 0, p.ipLength, Icmpv6Type.DEST_UNREACHABLE, Icmpv6UnreachCode.PORT, 0);
        }
        return this.dropped(sourceFull ? EngineDrop.SOURCE_FLOW_LIMIT : EngineDrop.REFUSED);
      }
      // l4Accept may have opened the same 5-tuple with l4Connect.
      if (!this.open(flow, now)) return this.dropped(EngineDrop.FLOW_EXISTS);
      perSource?.add(p.family, bytes, p.srcOffset);
    }
    const u = flow.state;
    if (u === null || u.kind !== "udp") return undefined; // unreachable: the table holds UDP flows here
    u.lastActivity = now;
    const payload = bytes.subarray(dg.payloadOffset, dg.payloadOffset + dg.payloadLength);
    u.datagramsIn++;
    u.bytesIn += payload.length;
    if (!u.paused) {
      this.counters.udpDatagramsIn++;
      this.events.event(AppEvent.RX, u, payload);
    } else {
      const queued = u.enqueue(payload, this.config.udpMaxQueuedDatagrams, this.counters.memory);
      if (queued === QUEUED) this.counters.udpDatagramsIn++;
      else if (queued === NO_MEMORY) this.counters.memoryDroppedDatagrams++;
      else this.counters.drop(EngineDrop.UDP_QUEUE_FULL);
    }
    return flow;
  }

  /** Put a new UDP flow in the table and the heap; false if its 5-tuple is taken. */
  open(flow: FlowRecord, now: number): boolean {
    const u = new UdpFlow(flow, now, this.config.udpIdleTimeoutMs, this.counters.memory);
    flow.state = u;
    if (!this.table.insert(flow)) {
      flow.state = null;
      return false;
    }
    this.counts.udp++;
    this.counters.udpFlowsOpened++;
    this.heap.add(u);
    return true;
  }

  /** l4Tx on a UDP flow (the size was checked at the API boundary): bytes sent, 0 if no buffer. */
  send(cb: AnyCallbacks, u: UdpFlow, data: Uint8Array, now: number): number {
    u.lastActivity = now;
    const sent = this.out.send(cb, u.flow, data);
    if (sent > 0) {
      u.datagramsOut++;
      u.bytesOut += sent;
    }
    return sent;
  }

  /** l4TxDatagrams on a UDP flow: datagrams of `segment` bytes (UdpOutput.sendRun). */
  sendRun(cb: AnyCallbacks, u: UdpFlow, data: Uint8Array, segment: number, now: number): number {
    u.lastActivity = now;
    const sent = this.out.sendRun(cb, u.flow, data, segment);
    if (sent > 0) {
      u.datagramsOut += Math.ceil(sent / segment);
      u.bytesOut += sent;
    }
    return sent;
  }

  /** Forget a UDP flow (idle, closed or aborted by the application); l4Rx(flow, null) is queued. */
  close(u: UdpFlow, cause: CloseCause): void {
    const flow = u.flow;
    if (flow.state !== u) return;
    this.table.remove(flow);
    this.heap.remove(u);
    u.dropQueue(this.counters.memory);
    flow.state = null;
    flow.closeReason = cause;
    this.counts.udp--;
    if (!flow.activeOpen) this.counts.perSource?.remove(flow.family, flow.addr, 0);
    this.counters.udpFlowsClosed++;
    this.events.event(AppEvent.CLOSED, u, null);
  }

  /** l4ResumeRx: what queued up while paused is delivered (UdpFlow.fireDrain). */
  resume(u: UdpFlow): void {
    u.paused = false;
    if (u.queued > 0) this.events.event(AppEvent.DRAIN, u, null);
  }

  /** The flow's timer: idle long enough, or re-armed at its real idle deadline (udp-flow.ts). */
  timer(u: UdpFlow, now: number): void {
    if (u.idleDeadline <= now) return this.close(u, CloseCause.IDLE);
    u.deadline = u.idleDeadline;
    this.heap.add(u);
  }

  private dropped(reason: number): undefined {
    this.counters.drop(reason);
    return undefined;
  }
}
