/**
 * The dispatch behind the public API (engine.ts is its face).
 *
 * - API calls: `enter` and `leave` bracket every call that may send or deliver: the callbacks of the
 *   call, its time (the clock is read once per outermost call and passed down as `now`), and its
 *   frame of application events (events.ts), fired before the call returns.
 * - Packets: IP input (ip/input.ts), then by protocol to TCP (tcp/demux.ts), UDP (udp/input.ts) or
 *   ICMP (icmp/icmp.ts). l3Rx from inside a callback is queued (copied) and run when the outermost
 *   call returns: the views of the packet being processed are in use.
 * - Timers: one heap of every flow state and the reassembly sweeper, switched on `kind`.
 * - The TcpContext every connection sees: framing (tcp/writer.ts), the heap, events, the end.
 */
import type { EngineConfig } from "./config.js";
import { AppEvent, AppEvents, type EventTarget } from "./events.js";
import { FlowExistsError } from "./errors.js";
import { connectTuple, type ConnectOptions } from "./flow/connect.js";
import { FlowCounts, flowFromAddresses, type FlowRecord, type FlowState } from "./flow/flow.js";
import { FlowsPerSource } from "./flow/sources.js";
import { FlowTable } from "./flow/table.js";
import { Icmp } from "./icmp/icmp.js";
import { IpInput } from "./ip/input.js";
import { IpOutput, type AnyCallbacks } from "./ip/output.js";
import type { Reassembler, ReassemblyListener } from "./ip/reassembly.js";
import { Counters, EngineDrop, type EngineStats } from "./stats.js";
import type { TcpConnection } from "./tcp/connection.js";
import type { CloseCause, TcpContext, TcpEndpoint, TcpOutSegment } from "./tcp/context.js";
import { TcpDemux } from "./tcp/demux.js";
import { IsnGenerator } from "./tcp/isn.js";
import type { TimeWaitTable } from "./tcp/time-wait.js";
import { TcpSegmentWriter } from "./tcp/writer.js";
import { ReceiveBudget } from "./tcp/receive-budget.js";
import { MemoryBudget } from "./memory.js";
import { TimerHeap } from "./timer-heap.js";
import { UdpLayer } from "./udp/input.js";
import { Drop } from "./wire/drop.js";
import { Icmpv4Type, Icmpv6Type } from "./wire/icmp.js";
import { IpProtocol } from "./wire/ip-protocol.js";

/** Packets passed to l3Rx from inside callbacks, held until the outermost call returns. */
const MAX_DEFERRED_PACKETS = 1024;

/**
 * The flow table's floor (flow/table.ts never halves below its initial capacity). The table halves as
 * soon as fewer than 1/4 of its slots are in use and doubles past 0.625, so a flow count swinging
 * between half and 0.625 of a power of two resizes it back and forth: a server with a few dozen
 * connections coming and going did so 376 times per 2,000 connections (the engine bench's handshakes).
 * 256 slots (13 KB) hold 160 flows without a resize.
 */
const FLOW_TABLE_MIN_SLOTS = 256;

/** What the timer heap holds: every flow state, the TIME-WAIT queue, and the fragment-reassembly sweeper. */
type Timed = FlowState | TimeWaitTable | Reassembler;

/**
 * Everything behind the public API: the dispatch, and the TCP connections' context.
 * @internal
 */
export class Core implements TcpContext, ReassemblyListener {
  readonly counters = new Counters();
  readonly isn = new IsnGenerator();
  readonly table = new FlowTable(FLOW_TABLE_MIN_SLOTS);
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
  private readonly deferred: { cb: AnyCallbacks; packet: Uint8Array; checksumTrusted: boolean }[] = [];
  /** Connections whose empty send buffer the memory budget refused a page (waitForMemory). */
  private readonly memoryWaiters: TcpConnection[] = [];
  /** Connections whose output waits for the next l4Poll (tcpAutocork), each once. */
  private readonly corked: TcpConnection[] = [];
  private draining = false;

  constructor(
    readonly config: EngineConfig,
    private readonly clock: () => number,
    /** The public engine: FlowRecord.owner of every flow. */
    private readonly owner: object,
  ) {
    this.counters.memory = new MemoryBudget(config.maxMemory);
    this.counters.memory.onRoom = this.memoryRoom;
    if (config.maxFlowsPerSource !== Infinity) this.counts.perSource = new FlowsPerSource(config.maxFlowsPerSource);
    this.counters.receiveBudget = new ReceiveBudget(config.receiveBudget);
    this.out = new IpOutput(config, this.counters);
    this.writer = new TcpSegmentWriter(this.out, this.counters);
    this.tcp = new TcpDemux(config, this.counters, this.counts, this.table, this.heap, this.writer, this, owner);
    // ICMP errors about segments we sent go to their connections (TCP only: UDP has nobody to tell).
    this.icmp = new Icmp(config, this.counters, this.out, this.tcp);
    this.ip = new IpInput(config, this.counters, this.heap, this);
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
    // Nested: back to the outer call's callbacks. Outermost: keep these (an event queued outside any
    // call, such as a spec ending a connection by hand, fires with them).
    if (this.depth > 0) this.cb = prev;
    if (this.depth === 0 && this.deferred.length > 0 && !this.draining) this.drainDeferred();
  }

  private drainDeferred(): void {
    this.draining = true;
    try {
      for (let n = 0; n < MAX_DEFERRED_PACKETS && this.deferred.length > 0; n++) {
        const { cb, packet, checksumTrusted } = this.deferred.shift()!;
        const prev = this.enter(cb);
        try {
          this.input(cb, packet, checksumTrusted);
        } finally {
          this.leave(prev);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  // ---------------------------------------------------------------- packets in

  /** l3Rx and l3RxTrusted body (inside enter/leave); `checksumTrusted`: L4Packet.checksumTrusted. */
  receive(cb: AnyCallbacks, packet: Uint8Array, checksumTrusted = false): FlowRecord | undefined {
    if (this.depth > 1) {
      // Called from a callback: the views are busy with the packet being processed.
      if (this.deferred.length >= MAX_DEFERRED_PACKETS) {
        this.counters.packetsIn++;
        this.counters.bytesIn += packet.length;
        this.counters.drop(EngineDrop.REENTRANT_QUEUE_FULL);
      } else {
        this.deferred.push({ cb, packet: packet.slice(), checksumTrusted });
      }
      return undefined;
    }
    return this.input(cb, packet, checksumTrusted);
  }

  private input(cb: AnyCallbacks, packet: Uint8Array, checksumTrusted: boolean): FlowRecord | undefined {
    this.counters.packetsIn++;
    this.counters.bytesIn += packet.length;
    const now = this.time;
    const p = this.ip.input(packet, now, checksumTrusted);
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
    const taken =
      this.table.lookup(family, protocol, addr, 0, 16, o.dstPort, o.srcPort) !== undefined ||
      (protocol === IpProtocol.TCP && this.tcp.timeWaitUnderLastKey());
    if (taken) {
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
      if (this.corked.length > 0) this.flushCorked();
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

  /** l4Poll: the output tcpAutocork held, in the order the connections were corked. */
  private flushCorked(): void {
    const corked = this.corked;
    for (let i = 0; i < corked.length; i++) corked[i]!.flushCorked();
    corked.length = 0;
    this.events.fire(this.cb);
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
        if (item.flow !== null && item.flow.state === item) this.tcp.heldTimer(item, now);
        return;
      case "time-wait-queue":
        this.tcp.timeWaitsDue(now);
        return;
      case "reassembly":
        this.ip.expire(now);
        return;
    }
  }

  // ---------------------------------------------------------------- ReassemblyListener

  reassemblyTimedOut(family: 4 | 6, firstFragment: Uint8Array): void {
    if (this.cb === undefined) return;
    // RFC 1122 §3.3.2 / RFC 8200 §4.5: Time Exceeded, "fragment reassembly time exceeded".
    const type = family === 4 ? Icmpv4Type.TIME_EXCEEDED : Icmpv6Type.TIME_EXCEEDED;
    this.icmp.sendError(this.cb, this.now, firstFragment, 0, firstFragment.length, type, 1, 0);
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

  fireRx(target: EventTarget, data: Uint8Array): void {
    if (this.cb !== undefined) target.fireRx(this.cb, data);
  }

  cork(conn: TcpConnection): boolean {
    // Outside a turn: the l4Tx or l4LocalClose is the outermost call. From inside a callback the step
    // that called it sends when it is complete.
    if (!this.config.tcpAutocork || this.depth !== 1) return false;
    if (!conn.corked) {
      conn.corked = true;
      this.corked.push(conn);
    }
    return true;
  }

  reschedule(item: TcpConnection): void {
    if (item.flow.state === item) this.heap.update(item);
  }

  timeWait(conn: TcpConnection): void {
    this.tcp.timeWait(conn);
  }

  waitForMemory(conn: TcpConnection): void {
    if (conn.waitingForMemory) return;
    conn.waitingForMemory = true;
    this.memoryWaiters.push(conn);
    this.counters.memory.wantRoom(conn.sendBuffer.firstPage);
  }

  /**
   * The memory budget has room for a page again (MemoryBudget.onRoom, called from a release inside
   * some step): every waiting connection still open and still wanting gets l4TxReady, fired when that
   * step is done. One whose write is refused again waits again.
   */
  private readonly memoryRoom = (): void => {
    const waiters = this.memoryWaiters;
    for (let i = 0; i < waiters.length; i++) {
      const c = waiters[i]!;
      c.waitingForMemory = false;
      if (c.flow.state === c && c.txWanted) {
        c.txWanted = false;
        this.event(AppEvent.TX_READY, c, null);
      }
    }
    waiters.length = 0;
  };

  closed(conn: TcpConnection, reason: CloseCause): void {
    this.tcp.closed(conn, reason);
    if (conn.waitingForMemory) {
      // Out of the waiting list, so that a budget that stays full holds no ended connections (rare: O(n)).
      conn.waitingForMemory = false;
      const w = this.memoryWaiters;
      const i = w.indexOf(conn);
      w[i] = w[w.length - 1]!;
      w.pop();
    }
  }

  stats(): EngineStats {
    return this.counters.snapshot(this.flowCount, this.counts.perSource?.sources ?? 0);
  }
}

