/**
 * The engine: IP packets in, flow data out; flow data in, IP packets out.
 *
 * `L3L4` is the public face: it checks arguments and hands over to `Core`, which dispatches. A packet
 * goes to IP input (ip/input.ts), then by protocol to TCP (tcp/demux.ts), UDP (udp/input.ts) or ICMP
 * (icmp/icmp.ts); l4Poll runs the timer heap. Core is also what TCP connections see of the engine
 * (TcpContext): the callbacks of the call in progress, framing, the timer heap, the end of a flow.
 * lib/README.md maps the code and follows one segment through it.
 *
 * Re-entrancy: callbacks may call back into the engine. l4Tx, l4LocalClose, l4Abort, l4PauseRx and
 * l4ResumeRx run at once (a flow closed from its own callback is gone when the callback returns, and
 * gets its l4Rx(flow, null) exactly once). l3Rx from inside a callback is queued (copied) and processed
 * when the outermost call returns, since the packet views are in use; it returns undefined. l4Poll from
 * inside a callback runs no timers and just reports the next deadline.
 */
import type { Callbacks, CloseReason, Flow, FlowInfo, TcpState } from "./api.js";
import type { EngineConfig } from "./config.js";
import { AppEvents, type AppEvent, type EventTarget } from "./events.js";
import { FlowExistsError, InvalidArgumentError, UnknownFlowError } from "./errors.js";
import { connectTuple, type ConnectOptions } from "./flow/connect.js";
import { FlowCounts, flowFromAddresses, FlowRecord, type FlowState } from "./flow/flow.js";
import { newFlowInfo, timeWaitInfo, udpInfo } from "./flow/info.js";
import { FlowTable } from "./flow/table.js";
import { Icmp, type IcmpErrorKind, type IcmpErrorSink } from "./icmp/icmp.js";
import { IpInput } from "./ip/input.js";
import { IpOutput, type AnyCallbacks } from "./ip/output.js";
import type { Reassembler, ReassemblyListener } from "./ip/reassembly.js";
import { Counters, EngineDrop, type EngineStats } from "./stats.js";
import type { TcpConnection } from "./tcp/connection.js";
import { CLOSE_REASON_NAMES, CloseCause, type TcpContext, type TcpEndpoint, type TcpOutSegment } from "./tcp/context.js";
import { TcpDemux } from "./tcp/demux.js";
import { IsnGenerator } from "./tcp/isn.js";
import type { TimeWait } from "./tcp/time-wait.js";
import { TcpSegmentWriter } from "./tcp/writer.js";
import { TimerHeap } from "./timer-heap.js";
import { UdpLayer } from "./udp/input.js";
import { Drop } from "./wire/drop.js";
import { Icmpv4Type, Icmpv6Type } from "./wire/icmp.js";
import { IpProtocol } from "./wire/ip-protocol.js";

export type { ConnectOptions } from "./flow/connect.js";

/** Packets passed to l3Rx from inside callbacks, held until the outermost call returns. */
const MAX_DEFERRED_PACKETS = 1024;

/** What the timer heap holds: every flow state, and the fragment-reassembly sweeper. */
type Timed = FlowState | Reassembler;

/**
 * Everything behind the public API: the dispatch, and the TCP connections' context.
 * @internal
 */
export class Core implements TcpContext, IcmpErrorSink, ReassemblyListener {
  readonly counters = new Counters();
  readonly isn = new IsnGenerator();
  readonly table = new FlowTable();
  readonly heap = new TimerHeap<Timed>();
  readonly counts = new FlowCounts();
  readonly out: IpOutput;
  readonly icmp: Icmp;
  readonly ip: IpInput;
  readonly tcp: TcpDemux;
  readonly udp: UdpLayer;
  private readonly writer: TcpSegmentWriter;
  private readonly events = new AppEvents();

  /** Callbacks of the API call in progress (the last one's, between calls). */
  cb: AnyCallbacks | undefined = undefined;
  /** Nesting of API calls (callbacks calling back in). */
  depth = 0;
  /** The clock, read when the outermost API call began. */
  private time = 0;
  /** Items popped from the heap in one l4Poll. */
  private readonly due: Timed[] = [];
  private readonly deferred: { cb: AnyCallbacks; packet: Uint8Array }[] = [];
  private draining = false;

  constructor(
    readonly config: EngineConfig,
    private readonly clock: () => number,
    /** The public engine: FlowRecord.owner of every flow. */
    private readonly owner: object,
  ) {
    this.out = new IpOutput(config, this.counters);
    this.icmp = new Icmp(config, this.counters, this.out, this);
    this.ip = new IpInput(config, this.counters, this.heap, this);
    this.writer = new TcpSegmentWriter(this.out, this.counters);
    this.tcp = new TcpDemux(config, this.counters, this.counts, this.table, this.heap, this.writer, this, owner);
    this.udp = new UdpLayer(config, this.counters, this.counts, this.table, this.heap, this.icmp, this, this.out, owner);
  }

  /** The time of the API call in progress: the clock is read once per call (outside any call, now). */
  get now(): number {
    return this.depth > 0 ? this.time : this.clock();
  }

  get flowCount(): number {
    return this.counts.flows;
  }

  // ---------------------------------------------------------------- entering and leaving API calls

  /** An API call begins: its callbacks, its time (if outermost), its frame of events. */
  enter(cb: AnyCallbacks): AnyCallbacks | undefined {
    const prev = this.cb;
    this.cb = cb;
    if (this.depth++ === 0) this.time = this.clock();
    this.events.open();
    return prev;
  }

  /** The API call ends: its events fire (with its callbacks), then the outer call's callbacks are back. */
  leave(prev: AnyCallbacks | undefined): void {
    this.events.close(this.cb);
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
          this.input(cb, packet);
        } finally {
          this.leave(prev);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  // ---------------------------------------------------------------- packets in

  /** l3Rx body (inside enter/leave). */
  receive(cb: AnyCallbacks, packet: Uint8Array): FlowRecord | undefined {
    if (this.depth > 1) {
      // Called from a callback: the views are busy with the packet being processed.
      if (this.deferred.length >= MAX_DEFERRED_PACKETS) {
        this.counters.packetsIn++;
        this.counters.bytesIn += packet.length;
        this.counters.drop(EngineDrop.REENTRANT_QUEUE_FULL);
      } else {
        this.deferred.push({ cb, packet: packet.slice() });
      }
      return undefined;
    }
    return this.input(cb, packet);
  }

  private input(cb: AnyCallbacks, packet: Uint8Array): FlowRecord | undefined {
    this.counters.packetsIn++;
    this.counters.bytesIn += packet.length;
    const now = this.time;
    const p = this.ip.input(packet, now);
    if (p === undefined) return undefined;
    switch (p.protocol) {
      case IpProtocol.TCP:
        return this.tcp.input(cb, p);
      case IpProtocol.UDP:
        return this.udp.input(cb, p, now);
      case IpProtocol.ICMP:
        if (p.family === 4) {
          this.icmp.input4(cb, p.bytes, 0, p.l4Offset, p.l4Length);
          return undefined;
        }
        break;
      case IpProtocol.ICMPV6:
        if (p.ip6 !== null) {
          this.icmp.input6(cb, p.ip6);
          return undefined;
        }
        break;
      default:
        break;
    }
    this.counters.drop(Drop.UNSUPPORTED_PROTOCOL);
    return undefined;
  }

  /** l4Connect body: the options are checked (throws), the flow made, TCP sends its SYN. */
  connect(o: ConnectOptions): FlowRecord {
    const { family, addr } = connectTuple(o);
    const protocol = o.protocol === "tcp" ? IpProtocol.TCP : IpProtocol.UDP;
    // A TIME-WAIT record counts as taken: its 2*MSL protects the new incarnation (RFC 9293 §3.4.2).
    if (this.table.lookup(family, protocol, addr, 0, 16, o.dstPort, o.srcPort) !== undefined) {
      throw new FlowExistsError(`a ${o.protocol} flow ${o.srcIp}:${o.srcPort} > ${o.dstIp}:${o.dstPort} exists`);
    }
    const flow = flowFromAddresses(this.owner, o.protocol, family, addr, o.dstPort, o.srcPort, true);
    if (o.protocol === "udp") this.udp.open(flow, this.time);
    else this.tcp.connect(flow);
    return flow;
  }

  // ---------------------------------------------------------------- timers

  /** l4Poll body: run everything due, return the next deadline (undefined when nothing is scheduled). */
  poll(cb: AnyCallbacks): number | undefined {
    if (this.depth <= 1) {
      const now = this.time;
      const heap = this.heap;
      const due = this.due;
      for (let top = heap.peek(); top !== undefined && top.deadline <= now; top = heap.peek()) {
        due.push(heap.pop()!);
      }
      for (let i = 0; i < due.length; i++) {
        this.timer(due[i]!, now);
        this.events.fire(cb); // each item's step is complete
      }
      due.length = 0;
    }
    return this.heap.size === 0 ? undefined : this.heap.nextDeadline;
  }

  private timer(item: Timed, now: number): void {
    switch (item.kind) {
      case "tcp":
        if (item.flow.state !== item) return;
        item.onTimer(now);
        if (item.flow.state === item && item.heapIndex < 0) this.heap.add(item);
        return;
      case "udp":
        if (item.flow.state === item) this.udp.timer(item, now);
        return;
      case "time-wait":
        if (item.flow.state === item) this.tcp.timeWaitTimer(item, now);
        return;
      case "reassembly":
        this.ip.expire(now);
        return;
    }
  }

  // ---------------------------------------------------------------- ReassemblyListener, IcmpErrorSink

  reassemblyTimedOut(family: 4 | 6, firstFragment: Uint8Array): void {
    if (this.cb === undefined) return;
    // RFC 1122 §3.3.2 / RFC 8200 §4.5: Time Exceeded, "fragment reassembly time exceeded".
    const type = family === 4 ? Icmpv4Type.TIME_EXCEEDED : Icmpv6Type.TIME_EXCEEDED;
    this.icmp.sendError(this.cb, this.now, firstFragment, 0, firstFragment.length, type, 1, 0);
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
    return this.tcp.icmpError(family, bytes, remoteAddrOff, localAddrOff, remotePort, localPort, mtu, quotedSeq, hard, kind);
  }

  // ---------------------------------------------------------------- TcpContext

  transmit(conn: TcpEndpoint, seg: TcpOutSegment): boolean {
    const cb = this.cb;
    if (cb === undefined) {
      this.counters.txBufferUnavailable++;
      return false;
    }
    const f = conn.flow;
    return this.writer.write(cb, f.family, f.addr, 16, 0, f.localPort, f.remotePort, seg, conn.sendBuffer);
  }

  event(kind: AppEvent, target: EventTarget, view: Uint8Array | null): void {
    this.events.push(kind, target, view);
    if (this.depth === 0) this.events.fire(this.cb);
  }

  fire(): void {
    this.events.fire(this.cb);
  }

  reschedule(item: TcpConnection | TimeWait): void {
    if (item.flow.state === item) this.heap.update(item);
  }

  timeWait(conn: TcpConnection): void {
    this.tcp.timeWait(conn);
  }

  closed(conn: TcpConnection, reason: CloseCause): void {
    this.tcp.closed(conn, reason);
  }

  stats(): EngineStats {
    return this.counters.snapshot(this.flowCount);
  }
}

/**
 * A userspace TCP/IP engine. Build one with `L3L4Builder`. Every method that may send or deliver takes
 * the callbacks to use for the duration of the call.
 */
export class L3L4<T> {
  readonly #core: Core;
  readonly #clock: () => number;

  /** @internal Use L3L4Builder. */
  constructor(config: EngineConfig, clock: () => number) {
    this.#core = new Core(config, clock, this);
    this.#clock = clock;
  }

  /** The engine's clock (milliseconds). */
  now(): number {
    return this.#clock();
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
      return core.receive(cb as AnyCallbacks, packet);
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
    if (st === null) return undefined;
    // TIME-WAIT: nothing more may be sent (0 while the application still has data to take, like any
    // connection after its FIN), and the flow is gone for the application once it took it.
    if (st.kind === "time-wait") return st.held === null ? undefined : 0;
    const core = this.#core;
    if (st.kind === "udp") {
      const max = core.udp.out.maxPayload(f.family);
      if (data.length > max) {
        throw new InvalidArgumentError(`a UDP datagram over IPv${f.family} carries at most ${max} bytes, not ${data.length}`);
      }
    }
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return st.kind === "tcp" ? st.send(data) : core.udp.send(cb as AnyCallbacks, st, data, core.now);
    } finally {
      core.leave(prev);
    }
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
      return core.poll(cb as AnyCallbacks);
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
   * up to a bound and drops beyond it. Sends nothing.
   */
  l4PauseRx(flow: Flow): void {
    const st = this.#own(flow).state;
    if (st === null) return;
    switch (st.kind) {
      case "tcp":
        st.pauseRx();
        return;
      case "udp":
        st.paused = true;
        return;
      case "time-wait":
        st.held?.pauseRx();
        return;
    }
  }

  /** Deliver what was buffered while paused and reopen the window (TCP sends a window update). */
  l4ResumeRx(cb: Callbacks<T>, flow: Flow): void {
    const st = this.#own(flow).state;
    if (st === null) return;
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      if (st.kind === "tcp") st.resumeRx();
      else if (st.kind === "udp") core.udp.resume(st);
      else st.held?.resumeRx();
    } finally {
      core.leave(prev);
    }
  }

  /** TCP: the RFC 9293 state ("TIME-WAIT" for a record); UDP: "ESTABLISHED"; a gone or foreign flow: undefined. */
  l4State(flow: Flow): TcpState | undefined {
    if (!(flow instanceof FlowRecord) || flow.owner !== this) return undefined;
    const st = flow.state;
    if (st === null) return undefined;
    switch (st.kind) {
      case "tcp":
        return st.state;
      case "time-wait":
        return "TIME-WAIT";
      case "udp":
        return "ESTABLISHED";
    }
  }

  /** Has the peer finished sending (FIN received)? UDP: false. A gone flow: true. */
  l4IsRemoteClosed(flow: Flow): boolean {
    const st = this.#own(flow).state;
    if (st === null) return true;
    switch (st.kind) {
      case "tcp":
        return st.remoteClosed;
      case "udp":
        return false;
      case "time-wait":
        return true;
    }
  }

  /** Have both sides finished sending? UDP: false. A gone flow or TIME-WAIT: true. */
  l4IsLocalAndRemoteClosed(flow: Flow): boolean {
    const st = this.#own(flow).state;
    if (st === null) return true;
    switch (st.kind) {
      case "tcp":
        return st.localAndRemoteClosed;
      case "udp":
        return false;
      case "time-wait":
        return true;
    }
  }

  /**
   * Open a flow from the engine's side: TCP sends a SYN now; UDP creates the flow, whose first
   * datagram goes out with l4Tx. `srcIp`/`srcPort` are the engine's end. Throws InvalidArgumentError
   * for bad addresses or ports, FlowExistsError if the 5-tuple is in use (a TIME-WAIT record
   * included). Not subject to maxFlows, which bounds what peers can open.
   */
  l4Connect(cb: Callbacks<T>, options: ConnectOptions): Flow {
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
    switch (st.kind) {
      case "tcp":
        st.info(o);
        break;
      case "udp":
        udpInfo(st, o);
        break;
      case "time-wait":
        if (st.held !== null) st.held.info(o);
        else timeWaitInfo(o);
        break;
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
    if (st === null) return;
    // TIME-WAIT: closed already; an abort drops what the application has not taken (the record stays).
    const conn = st.kind === "time-wait" ? (abort ? st.held : null) : st;
    if (conn === null) return;
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      if (conn.kind === "udp") core.udp.close(conn, abort ? CloseCause.ABORTED : CloseCause.CLOSED);
      else if (abort) conn.abort();
      else conn.close();
    } finally {
      core.leave(prev);
    }
  }
}
