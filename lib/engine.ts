/**
 * The engine: IP packets in, flow data out; flow data in, IP packets out.
 *
 * `L3L4` is the public face: it checks arguments, remembers the callbacks of the call in progress and
 * hands over to `Core`, which only dispatches: IP (address sanity, fragments) to TCP, UDP or ICMP,
 * then to the flow found in the table. The TCP state machine lives in tcp/connection.ts; Core is its
 * `TcpContext` (framing, delivery, timers, closing).
 *
 * Per packet on the TCP data path nothing is allocated here: one view per header kind and one option
 * record are re-pointed per packet, the flow table is keyed from the packet bytes, and segments are
 * written straight into the caller's transmit buffer.
 *
 * Re-entrancy: callbacks may call back into the engine. l4Tx, l4LocalClose, l4Abort, l4PauseRx and
 * l4ResumeRx run at once (a flow closed from its own callback is gone when the callback returns, and
 * gets its l4Rx(flow, null) exactly once). l3Rx from inside a callback is queued (copied) and processed
 * when the outermost call returns, since the packet views are in use; it returns undefined. l4Poll from
 * inside a callback runs no timers and just reports the next deadline.
 */
import type { Callbacks, CloseReason, Flow, FlowInfo, TcpState } from "./api.js";
import type { EngineConfig } from "./config.js";
import { FlowExistsError, InvalidArgumentError, UnknownFlowError } from "./errors.js";
import { FlowRecord } from "./flow/flow.js";
import { FlowTable } from "./flow/table.js";
import { Icmp, type IcmpErrorKind, type IcmpErrorSink } from "./icmp/icmp.js";
import { isUnicast4, isUnicast6 } from "./ip/address.js";
import { ipHeaderLength, IpOutput, type AnyCallbacks } from "./ip/output.js";
import { Reassembler, type ReassemblyListener } from "./ip/reassembly.js";
import { Counters, EngineDrop, type EngineStats } from "./stats.js";
import { TcpConnection } from "./tcp/connection.js";
import { CLOSE_REASON_NAMES, CloseCause, type TcpContext, type TcpEndpoint, type TcpOutSegment } from "./tcp/context.js";
import { IsnGenerator } from "./tcp/isn.js";
import { TimeWait, TimeWaitVerdict } from "./tcp/time-wait.js";
import { TimerHeap, type HeapItem } from "./timer-heap.js";
import { UdpFlow, UdpOutput } from "./udp/udp-flow.js";
import { read32 } from "./wire/bytes.js";
import { pseudoSum4, pseudoSum6 } from "./wire/checksum.js";
import { Drop } from "./wire/drop.js";
import { Icmpv4Type, Icmpv4UnreachCode, Icmpv6Type, Icmpv6UnreachCode } from "./wire/icmp.js";
import { IpProtocol } from "./wire/ip-protocol.js";
import { Ipv4Packet, ipv4ToString, parseIpv4 } from "./wire/ipv4.js";
import { Ipv6Packet, ipv6ToString, parseIpv6 } from "./wire/ipv6.js";
import {
  emitTcpHeader,
  fillTcpChecksum,
  parseTcpOptions,
  TCP_MIN_HEADER,
  TcpFlag,
  tcpFields,
  TcpOptions,
  tcpOptionsLength,
  TcpPacket,
} from "./wire/tcp.js";
import { UdpPacket } from "./wire/udp.js";

/** Packets passed to l3Rx from inside callbacks, held until the outermost call returns. */
const MAX_DEFERRED_PACKETS = 1024;

/** States in which l3Rx reports the flow: the handshake is done (RFC 9293 §3.3.2 "synchronized"). */
function isSynchronized(s: TcpState): boolean {
  return s !== "SYN-SENT" && s !== "SYN-RECEIVED" && s !== "CLOSED";
}

/** What l4Connect takes. */
export interface ConnectOptions {
  protocol: "tcp" | "udp";
  /** Checked against the addresses when given. */
  family?: 4 | 6;
  /** The engine's end. */
  srcIp: string;
  srcPort: number;
  /** The peer. */
  dstIp: string;
  dstPort: number;
}

/**
 * Everything behind the public API. Implements the TCP connections' context, the ICMP error sink and
 * the reassembly timeout listener.
 * @internal
 */
export class Core implements TcpContext, IcmpErrorSink, ReassemblyListener {
  readonly counters = new Counters();
  readonly isn = new IsnGenerator();
  readonly table = new FlowTable();
  readonly heap = new TimerHeap<HeapItem>();
  readonly out: IpOutput;
  readonly icmp: Icmp;
  readonly udpOut: UdpOutput;
  readonly reassembler: Reassembler;

  /** Callbacks of the API call in progress (the last one's, between calls). */
  cb: AnyCallbacks | undefined = undefined;
  /** Nesting of API calls (callbacks calling back in). */
  depth = 0;
  tcpFlows = 0;
  udpFlows = 0;
  timeWaits = 0;

  // Views and records re-pointed per packet.
  private readonly ip4 = new Ipv4Packet();
  private readonly ip6 = new Ipv6Packet();
  private readonly tcp = new TcpPacket();
  private readonly udp = new UdpPacket();
  private readonly opts = new TcpOptions();
  private readonly tcpOut = tcpFields();
  /** Items popped from the heap in one l4Poll. */
  private readonly due: HeapItem[] = [];
  private readonly deferred: { cb: AnyCallbacks; packet: Uint8Array }[] = [];
  private draining = false;

  constructor(
    readonly config: EngineConfig,
    private readonly clock: () => number,
    /** The public engine: FlowRecord.owner of every flow. */
    readonly owner: object,
  ) {
    this.out = new IpOutput(config, this.counters);
    this.icmp = new Icmp(config, this.counters, this.out, this);
    this.udpOut = new UdpOutput(config, this.counters, this.out);
    this.reassembler = new Reassembler(config, this.counters, this);
  }

  now(): number {
    return this.clock();
  }

  get flowCount(): number {
    return this.tcpFlows + this.udpFlows;
  }

  // ---------------------------------------------------------------- entering and leaving API calls

  enter(cb: AnyCallbacks): AnyCallbacks | undefined {
    const prev = this.cb;
    this.cb = cb;
    this.depth++;
    return prev;
  }

  leave(prev: AnyCallbacks | undefined): void {
    this.depth--;
    // Nested: back to the outer call's callbacks. Outermost: keep these (l4PauseRx has none of its own).
    if (this.depth > 0) this.cb = prev;
    if (this.depth === 0 && this.deferred.length > 0 && !this.draining) this.drainDeferred();
  }

  private drainDeferred(): void {
    this.draining = true;
    try {
      for (let n = 0; n < MAX_DEFERRED_PACKETS && this.deferred.length > 0; n++) {
        const { cb, packet } = this.deferred.shift()!;
        const prev = this.enter(cb);
        try {
          this.input(packet);
        } finally {
          this.leave(prev);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  // ---------------------------------------------------------------- IP input

  /** l3Rx body (inside enter/leave). */
  receive(packet: Uint8Array): FlowRecord | undefined {
    if (this.depth > 1) {
      // Called from a callback: the views are busy with the packet being processed.
      if (this.deferred.length >= MAX_DEFERRED_PACKETS) {
        this.counters.packetsIn++;
        this.counters.bytesIn += packet.length;
        this.counters.drop(EngineDrop.OTHER);
      } else {
        this.deferred.push({ cb: this.cb!, packet: packet.slice() });
      }
      return undefined;
    }
    return this.input(packet);
  }

  private input(packet: Uint8Array): FlowRecord | undefined {
    this.counters.packetsIn++;
    this.counters.bytesIn += packet.length;
    return this.dispatch(packet);
  }

  private dispatch(packet: Uint8Array): FlowRecord | undefined {
    if (packet.length === 0) return this.dropped(Drop.TRUNCATED);
    const version = packet[0]! >> 4;
    if (version === 4) return this.ipv4Input(packet);
    if (version === 6) return this.ipv6Input(packet);
    return this.dropped(Drop.BAD_VERSION);
  }

  private ipv4Input(packet: Uint8Array): FlowRecord | undefined {
    const ip = this.ip4.wrap(packet, 0, packet.length);
    const bad = ip.check(this.config.verifyChecksums);
    if (bad !== Drop.OK) return this.dropped(bad);
    // RFC 1122 §3.2.1.3: no flow to or from multicast, broadcast, "this network" or loopback.
    if (!isUnicast4(ip.src) || !isUnicast4(ip.dst)) return this.dropped(EngineDrop.BAD_ADDRESS);
    if (ip.isFragment) {
      const whole = this.reassembler.add4(ip, this.clock());
      this.scheduleReassembler();
      return whole === undefined ? undefined : this.dispatch(whole);
    }
    const l4Off = ip.payloadOffset;
    const l4Len = ip.payloadLength;
    switch (ip.protocol) {
      case IpProtocol.TCP:
        return this.tcpInput(4, packet, 0, ip.srcOffset, ip.dstOffset, l4Off, l4Len);
      case IpProtocol.UDP:
        return this.udpInput(4, packet, 0, ip.totalLength, ip.srcOffset, ip.dstOffset, l4Off, l4Len);
      case IpProtocol.ICMP:
        this.icmp.input4(this.cb!, packet, 0, l4Off, l4Len);
        return undefined;
      default:
        return this.dropped(Drop.UNSUPPORTED_PROTOCOL);
    }
  }

  private ipv6Input(packet: Uint8Array): FlowRecord | undefined {
    const ip = this.ip6.wrap(packet, 0, packet.length);
    const bad = ip.check();
    if (bad !== Drop.OK) return this.dropped(bad);
    // RFC 4291 §2.5.2, §2.5.3, §2.7: no flow to or from ::, ::1 or multicast.
    if (!isUnicast6(packet, ip.srcOffset) || !isUnicast6(packet, ip.dstOffset)) {
      return this.dropped(EngineDrop.BAD_ADDRESS);
    }
    if (ip.isFragment) {
      const whole = this.reassembler.add6(ip, this.clock());
      this.scheduleReassembler();
      return whole === undefined ? undefined : this.dispatch(whole);
    }
    const l4Off = ip.upperOffset;
    const l4Len = ip.upperLength;
    switch (ip.upperProtocol) {
      case IpProtocol.TCP:
        return this.tcpInput(6, packet, 0, ip.srcOffset, ip.dstOffset, l4Off, l4Len);
      case IpProtocol.UDP:
        return this.udpInput(6, packet, 0, 40 + ip.payloadLength, ip.srcOffset, ip.dstOffset, l4Off, l4Len);
      case IpProtocol.ICMPV6:
        this.icmp.input6(this.cb!, ip);
        return undefined;
      default:
        return this.dropped(Drop.UNSUPPORTED_PROTOCOL);
    }
  }

  private dropped(reason: number): undefined {
    this.counters.drop(reason);
    return undefined;
  }

  // ---------------------------------------------------------------- TCP input

  private tcpInput(
    family: 4 | 6,
    packet: Uint8Array,
    ipOff: number,
    srcOff: number,
    dstOff: number,
    l4Off: number,
    l4Len: number,
  ): FlowRecord | undefined {
    const seg = this.tcp.wrap(packet, l4Off, l4Len);
    const pseudo = this.config.verifyChecksums
      ? family === 4
        ? pseudoSum4(packet, ipOff, IpProtocol.TCP, l4Len)
        : pseudoSum6(packet, ipOff, IpProtocol.TCP, l4Len)
      : undefined;
    const bad = seg.check(pseudo);
    if (bad !== Drop.OK) return this.dropped(bad);
    const flags = seg.flags;
    // SYN+FIN and SYN+RST: no stack sends them; scanners and fingerprinting tools do.
    if ((flags & TcpFlag.SYN) !== 0 && (flags & (TcpFlag.FIN | TcpFlag.RST)) !== 0) return this.dropped(Drop.BAD_FLAGS);
    const srcPort = seg.srcPort;
    const dstPort = seg.dstPort;
    if (srcPort === 0 || dstPort === 0) return this.dropped(EngineDrop.BAD_ADDRESS);
    const opts = this.opts;
    const badOpts = parseTcpOptions(packet, seg.optionsOffset, seg.optionsLength, opts);
    if (badOpts !== Drop.OK) return this.dropped(badOpts);
    this.counters.tcpSegmentsIn++;

    const flow = this.table.lookup(family, IpProtocol.TCP, packet, srcOff, dstOff, srcPort, dstPort);
    if (flow !== undefined) {
      const st = flow.state;
      if (st instanceof TcpConnection) {
        st.segmentArrives(seg, opts);
        return this.reportable(flow);
      }
      if (st instanceof TimeWait) {
        if (st.segmentArrives(this, seg, opts) !== TimeWaitVerdict.NEW_SYN) {
          return flow.state === st ? flow : undefined;
        }
        // RFC 9293 §3.10.7.4 / RFC 6191: the record gives way to a new incarnation.
        this.forgetTimeWait(st);
      }
    }
    return this.tcpNoFlow(family, packet, srcOff, dstOff, seg, opts);
  }

  /**
   * RFC 9293 §3.10.7.1 (the segment belongs to no connection): a RST is dropped; a SYN without ACK
   * opens a flow if the application accepts it; anything else, and a refused SYN, is answered with a
   * RST.
   */
  private tcpNoFlow(
    family: 4 | 6,
    packet: Uint8Array,
    srcOff: number,
    dstOff: number,
    seg: TcpPacket,
    opts: TcpOptions,
  ): FlowRecord | undefined {
    const flags = seg.flags;
    if ((flags & TcpFlag.RST) !== 0) return this.dropped(EngineDrop.NO_FLOW_RST);
    if ((flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) return this.tcpAccept(family, packet, srcOff, dstOff, seg, opts);
    this.resetFor(family, packet, srcOff, dstOff, seg);
    return this.dropped(EngineDrop.NO_FLOW);
  }

  /** A SYN for no flow: a new connection in SYN-RECEIVED, or a RST if refused. */
  private tcpAccept(
    family: 4 | 6,
    packet: Uint8Array,
    srcOff: number,
    dstOff: number,
    seg: TcpPacket,
    opts: TcpOptions,
  ): FlowRecord | undefined {
    // At the limit the SYN is dropped unanswered, as a full Linux backlog does: the peer retries.
    if (this.flowCount >= this.config.maxFlows) return this.dropped(EngineDrop.FLOW_LIMIT);
    const flow = this.newFlowRecord("tcp", family, packet, srcOff, dstOff, seg.srcPort, seg.dstPort);
    const accept = this.cb!.l4Accept;
    if (accept !== undefined && !accept.call(this.cb, flow)) {
      this.resetFor(family, packet, srcOff, dstOff, seg);
      return this.dropped(EngineDrop.REFUSED);
    }
    const conn = new TcpConnection(this, flow);
    flow.state = conn;
    // l4Accept may have opened the same 5-tuple with l4Connect.
    if (!this.table.insert(flow)) {
      flow.state = null;
      return this.dropped(EngineDrop.OTHER);
    }
    this.tcpFlows++;
    this.counters.tcpFlowsOpened++;
    this.heap.add(conn);
    conn.acceptSyn(seg, opts);
    return this.reportable(flow);
  }

  /** RFC 9293 §3.10.7.1: if ACK, <SEQ=SEG.ACK><CTL=RST>; else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
  private resetFor(family: 4 | 6, packet: Uint8Array, srcOff: number, dstOff: number, seg: TcpPacket): void {
    if (seg.hasAck) this.sendReset(family, packet, srcOff, dstOff, seg.srcPort, seg.dstPort, seg.ack, 0, TcpFlag.RST);
    else {
      const ack = (seg.seq + seg.segmentLength) >>> 0;
      this.sendReset(family, packet, srcOff, dstOff, seg.srcPort, seg.dstPort, 0, ack, TcpFlag.RST | TcpFlag.ACK);
    }
  }

  /**
   * A RST back to the sender of a packet (its source at `srcOff`, destination at `dstOff` in
   * `packet`). Not retried: without a buffer it is counted (txBufferUnavailable) and forgotten.
   */
  sendReset(
    family: 4 | 6,
    packet: Uint8Array,
    srcOff: number,
    dstOff: number,
    srcPort: number,
    dstPort: number,
    seq: number,
    ack: number,
    flags: number,
  ): boolean {
    const size = ipHeaderLength(family) + TCP_MIN_HEADER;
    const buf = this.out.begin(this.cb!, size);
    if (buf === undefined) return false;
    const at = this.out.writeHeader(buf, 0, family, packet, dstOff, srcOff, IpProtocol.TCP, TCP_MIN_HEADER, true);
    const f = this.tcpOut;
    f.srcPort = dstPort;
    f.dstPort = srcPort;
    f.seq = seq;
    f.ack = ack;
    f.flags = flags;
    f.window = 0;
    f.urgentPointer = 0;
    emitTcpHeader(buf, at, f, null);
    fillTcpChecksum(buf, at, TCP_MIN_HEADER, this.out.pseudoSum(buf, 0, family, IpProtocol.TCP, TCP_MIN_HEADER));
    this.out.finish(this.cb!, size);
    this.counters.tcpSegmentsOut++;
    this.counters.tcpResetsSent++;
    return true;
  }

  /** l3Rx's answer: the flow once the handshake is done (TIME-WAIT included), else undefined. */
  private reportable(flow: FlowRecord): FlowRecord | undefined {
    const st = flow.state;
    if (st instanceof TcpConnection) return isSynchronized(st.state) ? flow : undefined;
    if (st instanceof TimeWait) return flow;
    return undefined;
  }

  // ---------------------------------------------------------------- UDP input

  private udpInput(
    family: 4 | 6,
    packet: Uint8Array,
    ipOff: number,
    ipLen: number,
    srcOff: number,
    dstOff: number,
    l4Off: number,
    l4Len: number,
  ): FlowRecord | undefined {
    const dg = this.udp.wrap(packet, l4Off, l4Len);
    const pseudo = this.config.verifyChecksums
      ? family === 4
        ? pseudoSum4(packet, ipOff, IpProtocol.UDP, dg.available >= 8 ? dg.length : 0)
        : pseudoSum6(packet, ipOff, IpProtocol.UDP, dg.available >= 8 ? dg.length : 0)
      : undefined;
    const bad = dg.check(pseudo, family === 6);
    if (bad !== Drop.OK) return this.dropped(bad);
    const srcPort = dg.srcPort;
    const dstPort = dg.dstPort;
    // RFC 768: source port 0 means "no reply expected": nothing to talk back to.
    if (srcPort === 0 || dstPort === 0) return this.dropped(EngineDrop.BAD_ADDRESS);
    const now = this.clock();
    let flow = this.table.lookup(family, IpProtocol.UDP, packet, srcOff, dstOff, srcPort, dstPort);
    if (flow === undefined) {
      if (this.flowCount >= this.config.maxFlows) return this.dropped(EngineDrop.FLOW_LIMIT);
      flow = this.newFlowRecord("udp", family, packet, srcOff, dstOff, srcPort, dstPort);
      const accept = this.cb!.l4Accept;
      if (accept !== undefined && !accept.call(this.cb, flow)) {
        // RFC 1122 §4.1.3.1: a datagram for a port nobody listens on gets Port Unreachable.
        if (family === 4) {
          this.icmp.sendError(this.cb!, now, packet, ipOff, ipLen, Icmpv4Type.DEST_UNREACHABLE, Icmpv4UnreachCode.PORT, 0);
        } else {
          this.icmp.sendError(this.cb!, now, packet, ipOff, ipLen, Icmpv6Type.DEST_UNREACHABLE, Icmpv6UnreachCode.PORT, 0);
        }
        return this.dropped(EngineDrop.REFUSED);
      }
      if (!this.openUdp(flow, now)) return this.dropped(EngineDrop.OTHER);
    }
    const u = flow.state as UdpFlow;
    u.lastActivity = now;
    const payload = packet.subarray(dg.payloadOffset, dg.payloadOffset + dg.payloadLength);
    u.datagramsIn++;
    u.bytesIn += payload.length;
    if (!u.paused) {
      this.counters.udpDatagramsIn++;
      this.cb!.l4Rx(flow, payload);
    } else if (u.enqueue(payload, this.config.udpMaxQueuedDatagrams)) {
      this.counters.udpDatagramsIn++;
    } else {
      this.counters.drop(EngineDrop.UDP_QUEUE_FULL);
    }
    return flow;
  }

  /** Put a new UDP flow in the table and the heap; false if its 5-tuple is taken. */
  openUdp(flow: FlowRecord, now: number): boolean {
    const u = new UdpFlow(flow, now, this.config.udpIdleTimeoutMs);
    flow.state = u;
    if (!this.table.insert(flow)) {
      flow.state = null;
      return false;
    }
    this.udpFlows++;
    this.counters.udpFlowsOpened++;
    this.heap.add(u);
    return true;
  }

  /** Forget a UDP flow (idle, closed or aborted by the application) and tell the application. */
  closeUdp(u: UdpFlow, cause: CloseCause): void {
    const flow = u.flow;
    if (flow.state !== u) return;
    this.table.remove(flow);
    this.heap.remove(u);
    flow.state = null;
    flow.closeReason = cause;
    this.udpFlows--;
    this.counters.udpFlowsClosed++;
    this.cb?.l4Rx(flow, null);
  }

  /** l4ResumeRx for UDP: deliver what queued up while paused, unless paused or closed again meanwhile. */
  resumeUdp(u: UdpFlow): void {
    u.paused = false;
    const flow = u.flow;
    for (let n = u.queued; n > 0 && !u.paused && flow.state === u; n--) {
      const d = u.dequeue();
      if (d === undefined) break;
      this.cb!.l4Rx(flow, d);
    }
  }

  // ---------------------------------------------------------------- flows

  /** A FlowRecord for a packet from `srcOff` to `dstOff`: its strings are built here, once. */
  private newFlowRecord(
    protocol: "tcp" | "udp",
    family: 4 | 6,
    packet: Uint8Array,
    srcOff: number,
    dstOff: number,
    srcPort: number,
    dstPort: number,
  ): FlowRecord {
    const n = family === 4 ? 4 : 16;
    const addr = new Uint8Array(32);
    addr.set(packet.subarray(srcOff, srcOff + n), 0);
    addr.set(packet.subarray(dstOff, dstOff + n), 16);
    const remoteIp = family === 4 ? ipv4ToString(read32(packet, srcOff)) : ipv6ToString(packet, srcOff);
    const localIp = family === 4 ? ipv4ToString(read32(packet, dstOff)) : ipv6ToString(packet, dstOff);
    return new FlowRecord(this.owner, protocol, family, addr, remoteIp, srcPort, localIp, dstPort, false);
  }

  /** l4Connect body. */
  connect(o: ConnectOptions): FlowRecord {
    const addr = new Uint8Array(32);
    const family = parseAddress(o.dstIp, addr, 0, "dstIp");
    const srcFamily = parseAddress(o.srcIp, addr, 16, "srcIp");
    if (family !== srcFamily) throw new InvalidArgumentError(`srcIp ${o.srcIp} and dstIp ${o.dstIp} differ in family`);
    if (o.family !== undefined && o.family !== family) {
      throw new InvalidArgumentError(`family ${String(o.family)} does not match the addresses (IPv${family})`);
    }
    const unicast = family === 4 ? (off: number) => isUnicast4(read32(addr, off)) : (off: number) => isUnicast6(addr, off);
    if (!unicast(0)) throw new InvalidArgumentError(`dstIp ${o.dstIp} is not a unicast address`);
    if (!unicast(16)) throw new InvalidArgumentError(`srcIp ${o.srcIp} is not a unicast address`);
    checkPort(o.srcPort, "srcPort");
    checkPort(o.dstPort, "dstPort");
    const protocol = o.protocol === "tcp" ? IpProtocol.TCP : IpProtocol.UDP;
    // A TIME-WAIT record counts as taken: its 2*MSL protects the new incarnation (RFC 9293 §3.4.2).
    if (this.table.lookup(family, protocol, addr, 0, 16, o.dstPort, o.srcPort) !== undefined) {
      throw new FlowExistsError(`a ${o.protocol} flow ${o.srcIp}:${o.srcPort} > ${o.dstIp}:${o.dstPort} exists`);
    }
    const remoteIp = family === 4 ? ipv4ToString(read32(addr, 0)) : ipv6ToString(addr, 0);
    const localIp = family === 4 ? ipv4ToString(read32(addr, 16)) : ipv6ToString(addr, 16);
    const flow = new FlowRecord(this.owner, o.protocol, family, addr, remoteIp, o.dstPort, localIp, o.srcPort, true);
    if (o.protocol === "udp") {
      this.openUdp(flow, this.clock());
      return flow;
    }
    const conn = new TcpConnection(this, flow);
    flow.state = conn;
    this.table.insert(flow);
    this.tcpFlows++;
    this.counters.tcpFlowsOpened++;
    this.heap.add(conn);
    conn.connect();
    return flow;
  }

  private forgetTimeWait(tw: TimeWait): void {
    const flow = tw.flow;
    if (flow.state !== tw) return;
    this.table.remove(flow);
    this.heap.remove(tw);
    flow.state = null;
    this.timeWaits--;
  }

  // ---------------------------------------------------------------- timers

  /** l4Poll body: run everything due, return the next deadline (undefined when nothing is scheduled). */
  poll(): number | undefined {
    if (this.depth <= 1) {
      const now = this.clock();
      const heap = this.heap;
      const due = this.due;
      for (let top = heap.peek(); top !== undefined && top.deadline <= now; top = heap.peek()) {
        due.push(heap.pop()!);
      }
      for (let i = 0; i < due.length; i++) this.fire(due[i]!, now);
      due.length = 0;
    }
    return this.heap.size === 0 ? undefined : this.heap.nextDeadline;
  }

  private fire(item: HeapItem, now: number): void {
    if (item instanceof TcpConnection) {
      if (item.flow.state !== item) return;
      item.onTimer(now);
      if (item.flow.state === item && item.heapIndex < 0) this.heap.add(item);
    } else if (item instanceof UdpFlow) {
      if (item.flow.state !== item) return;
      if (item.idleDeadline <= now) return this.closeUdp(item, CloseCause.IDLE);
      item.deadline = item.idleDeadline;
      this.heap.add(item);
    } else if (item instanceof TimeWait) {
      if (item.flow.state !== item) return;
      if (item.deadline <= now) this.forgetTimeWait(item);
      else this.heap.add(item);
    } else if (item === this.reassembler) {
      this.reassembler.expire(now);
      this.scheduleReassembler();
    }
  }

  /** The reassembly sweeper is in the heap while datagrams are pending. */
  private scheduleReassembler(): void {
    const r = this.reassembler;
    if (r.pending > 0 && r.deadline < Infinity) this.heap.update(r);
    else this.heap.remove(r);
  }

  // ---------------------------------------------------------------- ReassemblyListener, IcmpErrorSink

  reassemblyTimedOut(family: 4 | 6, firstFragment: Uint8Array): void {
    if (this.cb === undefined) return;
    // RFC 1122 §3.3.2 / RFC 8200 §4.5: Time Exceeded, "fragment reassembly time exceeded".
    const type = family === 4 ? Icmpv4Type.TIME_EXCEEDED : Icmpv6Type.TIME_EXCEEDED;
    this.icmp.sendError(this.cb, this.clock(), firstFragment, 0, firstFragment.length, type, 1, 0);
  }

  icmpError(
    family: 4 | 6,
    protocol: number,
    bytes: Uint8Array,
    remoteAddrOff: number,
    localAddrOff: number,
    remotePort: number,
    localPort: number,
    mtu: number,
    quotedSeq: number,
    hard: boolean,
    kind: IcmpErrorKind,
  ): boolean {
    if (protocol !== IpProtocol.TCP) return false; // UDP has nobody to tell
    const flow = this.table.lookup(family, protocol, bytes, remoteAddrOff, localAddrOff, remotePort, localPort);
    const st = flow?.state;
    if (!(st instanceof TcpConnection)) return false;
    return st.icmpUnreachable(mtu, quotedSeq, hard, kind);
  }

  // ---------------------------------------------------------------- TcpContext

  transmit(conn: TcpEndpoint, seg: TcpOutSegment): boolean {
    const cb = this.cb;
    if (cb === undefined) {
      this.counters.txBufferUnavailable++;
      return false;
    }
    const flow = conn.flow;
    const family = flow.family;
    const hl = ipHeaderLength(family);
    const tcpHl = TCP_MIN_HEADER + (seg.options === null ? 0 : tcpOptionsLength(seg.options));
    const len = seg.payloadLength;
    const tcpLen = tcpHl + len;
    const size = hl + tcpLen;
    const buf = this.out.begin(cb, size);
    if (buf === undefined) return false;
    const at = this.out.writeFlowHeader(buf, 0, flow, IpProtocol.TCP, tcpLen, true);
    const f = this.tcpOut;
    f.srcPort = flow.localPort;
    f.dstPort = flow.remotePort;
    f.seq = seg.seq;
    f.ack = seg.ack;
    f.flags = seg.flags;
    f.window = seg.window;
    f.urgentPointer = 0;
    emitTcpHeader(buf, at, f, seg.options);
    if (len > 0) (conn as TcpConnection).sendBuffer.copyOut(seg.payloadOffset, buf, at + tcpHl, len);
    fillTcpChecksum(buf, at, tcpLen, this.out.pseudoSum(buf, 0, family, IpProtocol.TCP, tcpLen));
    this.out.finish(cb, size);
    this.counters.tcpSegmentsOut++;
    return true;
  }

  deliver(conn: TcpEndpoint, data: Uint8Array): void {
    this.cb?.l4Rx(conn.flow, data);
  }

  remoteClosed(conn: TcpEndpoint): void {
    const cb = this.cb;
    if (cb?.l4RemoteClosed !== undefined) cb.l4RemoteClosed(conn.flow);
  }

  txReady(conn: TcpEndpoint): void {
    const cb = this.cb;
    if (cb?.l4TxReady !== undefined) cb.l4TxReady(conn.flow);
  }

  reschedule(conn: TcpEndpoint): void {
    if (conn.flow.state === conn) this.heap.update(conn);
  }

  closed(conn: TcpEndpoint, reason: CloseCause): void {
    const flow = conn.flow;
    if (flow.state !== conn) return; // closed already: l4Rx(flow, null) went out once
    this.heap.remove(conn);
    this.tcpFlows--;
    flow.closeReason = reason;
    const c = this.counters;
    c.tcpFlowsClosed++;
    switch (reason) {
      case CloseCause.TIME_WAIT:
        c.tcpTimeWait++;
        break;
      case CloseCause.RESET_RECEIVED:
      case CloseCause.REFUSED:
        c.tcpResetsReceived++;
        break;
      case CloseCause.ABORTED:
        c.tcpAborts++;
        break;
      case CloseCause.IDLE:
        c.tcpIdleTimeouts++;
        break;
      default:
        break;
    }
    // TIME-WAIT records are bounded like flows (Linux tcp_max_tw_buckets): past it, close at once.
    if (reason === CloseCause.TIME_WAIT && conn instanceof TcpConnection && this.timeWaits < this.config.maxFlows) {
      const tw = conn.toTimeWait();
      if (!(tw.deadline < Infinity)) tw.deadline = this.clock() + this.config.tcpTimeWaitMs;
      flow.state = tw;
      this.timeWaits++;
      this.heap.add(tw);
    } else {
      this.table.remove(flow);
      flow.state = null;
    }
    this.cb?.l4Rx(flow, null);
  }

  stats(): EngineStats {
    return this.counters.snapshot(this.flowCount);
  }
}

/** Parse an address string into `out` at `off`; its family. Throws InvalidArgumentError. */
function parseAddress(text: unknown, out: Uint8Array, off: number, name: string): 4 | 6 {
  if (typeof text !== "string") throw new InvalidArgumentError(`${name} must be an IP address string`);
  if (text.includes(":")) {
    if (!parseIpv6(text, out, off)) throw new InvalidArgumentError(`${name} is not an IPv6 address: ${text}`);
    return 6;
  }
  const v = parseIpv4(text);
  if (v < 0) throw new InvalidArgumentError(`${name} is not an IP address: ${text}`);
  out[off] = v >>> 24;
  out[off + 1] = v >>> 16;
  out[off + 2] = v >>> 8;
  out[off + 3] = v;
  return 4;
}

function checkPort(port: unknown, name: string): void {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`${name} must be an integer in 1..65535: ${String(port)}`);
  }
}

/**
 * A userspace TCP/IP engine. Build one with `L3L4Builder`. Every method that may send or deliver takes
 * the callbacks to use for the duration of the call.
 */
export class L3L4<T> {
  readonly #core: Core;

  /** @internal Use L3L4Builder. */
  constructor(config: EngineConfig, clock: () => number) {
    this.#core = new Core(config, clock, this);
  }

  /** The engine's clock (milliseconds). */
  now(): number {
    return this.#core.now();
  }

  /** Flows alive (TCP + UDP); TIME-WAIT records are not flows. */
  get flowCount(): number {
    return this.#core.flowCount;
  }

  /**
   * One IP packet from the network (IPv4 or IPv6, from its IP header on; the view is not kept).
   * Returns the packet's flow if it is established: a TCP flow past its handshake (TIME-WAIT
   * included), any UDP flow; else undefined. Nothing from the wire throws: bad packets are counted.
   */
  l3Rx(cb: Callbacks<T>, packet: Uint8Array): Flow | undefined {
    if (!(packet instanceof Uint8Array)) throw new InvalidArgumentError("packet must be a Uint8Array");
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.receive(packet);
    } finally {
      core.leave(prev);
    }
  }

  /**
   * Send data on a flow. TCP: copies what fits in the send buffer and returns the bytes taken (maybe
   * fewer than offered: l4TxReady tells when there is room again). UDP: sends `data` as one datagram
   * (IP-fragmented if larger than the MTU) and returns `data.length`, or 0 if l3TxBuffer had no buffer
   * (the datagram is dropped: UDP is unreliable); larger than 65507 (IPv4) / 65527 (IPv6) bytes throws
   * InvalidArgumentError. Undefined: the flow is gone.
   */
  l4Tx(cb: Callbacks<T>, flow: Flow, data: Uint8Array): number | undefined {
    const f = this.#own(flow);
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError("data must be a Uint8Array");
    const st = f.state;
    if (st instanceof TcpConnection) {
      const core = this.#core;
      const prev = core.enter(cb as AnyCallbacks);
      try {
        return st.send(data);
      } finally {
        core.leave(prev);
      }
    }
    if (st instanceof UdpFlow) {
      const core = this.#core;
      const max = core.udpOut.maxPayload(f.family);
      if (data.length > max) {
        throw new InvalidArgumentError(`a UDP datagram over IPv${f.family} carries at most ${max} bytes, not ${data.length}`);
      }
      const prev = core.enter(cb as AnyCallbacks);
      try {
        st.lastActivity = core.now();
        const sent = core.udpOut.send(cb as AnyCallbacks, f, data);
        if (sent > 0) {
          st.datagramsOut++;
          st.bytesOut += sent;
        }
        return sent;
      } finally {
        core.leave(prev);
      }
    }
    return undefined;
  }

  /**
   * Run every timer that is due (retransmissions, delayed ACKs, idle timeouts, TIME-WAIT expiry,
   * fragment reassembly timeouts). Returns the next deadline on now()'s clock (Infinity if flows exist
   * but none has a timer), or undefined when nothing is scheduled at all.
   */
  l4Poll(cb: Callbacks<T>): number | undefined {
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.poll();
    } finally {
      core.leave(prev);
    }
  }

  /** TCP: send FIN after the queued data. UDP: forget the flow (l4Rx(flow, null) follows). Gone: no-op. */
  l4LocalClose(cb: Callbacks<T>, flow: Flow): void {
    this.#end(cb, flow, false);
  }

  /** TCP: send RST now and forget the flow. UDP: forget the flow. Gone: no-op. Both end in l4Rx(flow, null). */
  l4Abort(cb: Callbacks<T>, flow: Flow): void {
    this.#end(cb, flow, true);
  }

  /**
   * Stop delivering data: it stays buffered and TCP's advertised window closes as it fills; UDP queues
   * up to a bound and drops beyond it. Anything the flow sends meanwhile uses the last call's callbacks.
   */
  l4PauseRx(flow: Flow): void {
    const st = this.#own(flow).state;
    if (st instanceof TcpConnection) {
      const core = this.#core;
      const prev = core.enter(core.cb ?? NO_CALLBACKS);
      try {
        st.pauseRx();
      } finally {
        core.leave(prev);
      }
    } else if (st instanceof UdpFlow) st.paused = true;
  }

  /** Deliver what was buffered while paused and reopen the window (TCP sends a window update). */
  l4ResumeRx(cb: Callbacks<T>, flow: Flow): void {
    const st = this.#own(flow).state;
    if (!(st instanceof TcpConnection) && !(st instanceof UdpFlow)) return;
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      if (st instanceof TcpConnection) st.resumeRx();
      else core.resumeUdp(st);
    } finally {
      core.leave(prev);
    }
  }

  /** TCP: the RFC 9293 state ("TIME-WAIT" for a record); UDP: "ESTABLISHED"; a gone or foreign flow: undefined. */
  l4State(flow: Flow): TcpState | undefined {
    if (!(flow instanceof FlowRecord) || flow.owner !== this) return undefined;
    const st = flow.state;
    if (st instanceof TcpConnection) return st.state;
    if (st instanceof TimeWait) return "TIME-WAIT";
    if (st instanceof UdpFlow) return "ESTABLISHED";
    return undefined;
  }

  /** Has the peer finished sending (FIN received)? UDP: false. A gone flow: true. */
  l4IsRemoteClosed(flow: Flow): boolean {
    const st = this.#own(flow).state;
    if (st instanceof TcpConnection) return st.remoteClosed;
    if (st instanceof UdpFlow) return false;
    return true;
  }

  /** Have both sides finished sending? UDP: false. A gone flow or TIME-WAIT: true. */
  l4IsLocalAndRemoteClosed(flow: Flow): boolean {
    const st = this.#own(flow).state;
    if (st instanceof TcpConnection) return st.localAndRemoteClosed;
    if (st instanceof UdpFlow) return false;
    return true;
  }

  /**
   * Open a flow from the engine's side: TCP sends a SYN now; UDP creates the flow, whose first
   * datagram goes out with l4Tx. `srcIp`/`srcPort` are the engine's end. Throws InvalidArgumentError
   * for bad addresses or ports, FlowExistsError if the 5-tuple is in use (a TIME-WAIT record
   * included). Not subject to maxFlows, which bounds what peers can open.
   */
  l4Connect(cb: Callbacks<T>, options: ConnectOptions): Flow {
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError("l4Connect needs an options object");
    if (options.protocol !== "tcp" && options.protocol !== "udp") {
      throw new InvalidArgumentError(`protocol must be "tcp" or "udp": ${String(options.protocol)}`);
    }
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.connect(options);
    } finally {
      core.leave(prev);
    }
  }

  /**
   * A TCP_INFO-like snapshot of a flow (api.ts FlowInfo): state, RTT, windows, byte and segment
   * counts. Fills and returns `out` when given, so a caller polling many flows allocates nothing;
   * else a new object. Undefined when the flow is gone; UnknownFlowError for another engine's flow.
   */
  l4Info(flow: Flow, out?: FlowInfo): FlowInfo | undefined {
    const st = this.#own(flow).state;
    if (st === null) return undefined;
    const o = out ?? newFlowInfo();
    if (st instanceof TcpConnection) {
      st.info(o);
      return o;
    }
    clearFlowInfo(o);
    if (st instanceof UdpFlow) {
      o.state = "ESTABLISHED";
      o.bytesIn = st.bytesIn;
      o.bytesOut = st.bytesOut;
      o.segmentsIn = st.datagramsIn;
      o.segmentsOut = st.datagramsOut;
    } else {
      o.state = "TIME-WAIT";
    }
    return o;
  }

  /**
   * Why the flow ended (api.ts CloseReason), from the moment its l4Rx(flow, null) is called (inside
   * that call too); undefined while it is alive. UnknownFlowError for another engine's flow.
   */
  l4CloseReason(flow: Flow): CloseReason | undefined {
    const r = this.#own(flow).closeReason;
    return r < 0 ? undefined : CLOSE_REASON_NAMES[r];
  }

  /** Counters since the engine was built. */
  stats(): EngineStats {
    return this.#core.stats();
  }

  #own(flow: Flow): FlowRecord {
    if (!(flow instanceof FlowRecord) || flow.owner !== this) {
      throw new UnknownFlowError("not a flow of this engine");
    }
    return flow;
  }

  #end(cb: Callbacks<T>, flow: Flow, abort: boolean): void {
    const st = this.#own(flow).state;
    if (!(st instanceof TcpConnection) && !(st instanceof UdpFlow)) return;
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      if (st instanceof UdpFlow) core.closeUdp(st, abort ? CloseCause.ABORTED : CloseCause.CLOSED);
      else if (abort) st.abort();
      else st.close();
    } finally {
      core.leave(prev);
    }
  }
}

function newFlowInfo(): FlowInfo {
  const o = {} as FlowInfo;
  clearFlowInfo(o);
  return o;
}

/** Every FlowInfo field to its "nothing" value (one shape for every object l4Info fills). */
function clearFlowInfo(o: FlowInfo): void {
  o.state = "CLOSED";
  o.bytesIn = o.bytesOut = o.bytesAcked = o.segmentsIn = o.segmentsOut = o.retransmits = 0;
  o.srtt = o.rttvar = o.rto = o.cwnd = o.ssthresh = o.sndWnd = o.rcvWnd = o.sndMss = o.rcvMss = 0;
  o.unacked = o.sendQueue = o.recvQueue = 0;
}

/** Used when l4PauseRx comes before any call gave the engine callbacks: nothing can be sent. */
const NO_CALLBACKS: AnyCallbacks = {
  l3TxBuffer: () => undefined,
  l3TxBufferMut: () => new Uint8Array(0),
  l3Tx: () => {},
  l4Rx: () => {},
};
