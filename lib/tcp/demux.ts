/**
 * TCP input up to the connection, and the life of TCP flows: segment checks, the flow lookup,
 * RFC 9293 §3.10.7.1 for segments that belong to no connection, l4Accept, l4Connect, the end of a
 * connection and the TIME-WAIT record that follows an active close.
 *
 * Per segment nothing is allocated: one TCP view and one option record are re-pointed, the flow is
 * found from the packet bytes, and a RST is written straight into the caller's buffer.
 *
 * The SYN of a new connection makes one while the SYN backlog has room; past it the SYN is answered
 * with a SYN cookie and the ACK that returns it rebuilds the connection (RFC 4987 §3.6,
 * tcp/syn-backlog.ts): see `noFlow`.
 */
import { HALF_OPEN_BYTES, MemoryKind, MemoryPressure } from "../memory.js";
import type { EngineConfig } from "../config.js";
import { AppEvent } from "../events.js";
import { flowFromPacket, type FlowCounts, type FlowRecord } from "../flow/flow.js";
import type { FlowTable } from "../flow/table.js";
import type { IcmpErrorKind, IcmpErrorSink } from "../icmp/icmp.js";
import type { L4Packet } from "../ip/input.js";
import type { AnyCallbacks } from "../ip/output.js";
import { EngineDrop, type Counters } from "../stats.js";
import type { HeapItem, TimerHeap } from "../timer-heap.js";
import { pseudoSum4, pseudoSum6 } from "../wire/checksum.js";
import { Drop } from "../wire/drop.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { parseTcpOptions, TcpFlag, TcpOptions, TcpPacket } from "../wire/tcp.js";
import { TcpConnection } from "./connection.js";
import { CloseCause, tcpOutSegment, type TcpContext } from "./context.js";
import { leaveSynBacklog } from "./open.js";
import { windowField } from "./output.js";
import { finish, isSynchronized } from "./state.js";
import { SynBacklog } from "./syn-backlog.js";
import { SynBudget } from "./syn-budget.js";
import { TIME_WAIT, TimeWaitState, TimeWaitTable, TimeWaitVerdict } from "./time-wait.js";
import type { TcpSegmentWriter } from "./writer.js";

export class TcpDemux implements IcmpErrorSink {
  private readonly seg = new TcpPacket();
  private readonly opts = new TcpOptions();
  /** The RST answering a segment for no flow. */
  private readonly rst = tcpOutSegment();
  /** Every TIME-WAIT record (time-wait.ts). */
  readonly timeWaits: TimeWaitTable;
  private readonly backlog: SynBacklog;
  /** How many SYNs past the backlog get a cookie (tcp/syn-budget.ts); `earned` counts established traffic. */
  private readonly synBudget: SynBudget;

  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
    private readonly counts: FlowCounts,
    private readonly table: FlowTable,
    private readonly heap: TimerHeap<HeapItem>,
    private readonly writer: TcpSegmentWriter,
    /** What every connection sees of the engine. */
    private readonly ctx: TcpContext,
    /** The public engine: FlowRecord.owner of every flow. */
    private readonly owner: object,
  ) {
    this.timeWaits = new TimeWaitTable(writer, config.maxTimeWait, counters.memory);
    this.backlog = new SynBacklog(config, counters, ctx.isn, writer);
    this.synBudget = new SynBudget(config.synCookieRate);
  }

  /**
   * A TCP segment from IP input. Returns its flow if it is established: past the handshake
   * (TIME-WAIT included); else undefined.
   */
  input(cb: AnyCallbacks, p: L4Packet): FlowRecord | undefined {
    const bytes = p.bytes;
    const seg = this.seg.wrap(bytes, p.l4Offset, p.l4Length);
    const pseudo = this.config.verifyChecksums && !p.checksumTrusted
      ? p.family === 4
        ? pseudoSum4(bytes, 0, IpProtocol.TCP, p.l4Length)
        : pseudoSum6(bytes, 0, IpProtocol.TCP, p.l4Length)
      : undefined;
    const bad = seg.check(pseudo);
    if (bad !== Drop.OK) return this.dropped(bad);
    const flags = seg.flags;
    // SYN+FIN and SYN+RST: no stack sends them; scanners and fingerprinting tools do.
    if ((flags & TcpFlag.SYN) !== 0 && (flags & (TcpFlag.FIN | TcpFlag.RST)) !== 0) return this.dropped(Drop.BAD_FLAGS);
    const srcPort = seg.srcPort;
    const dstPort = seg.dstPort;
    if (srcPort === 0 || dstPort === 0) return this.dropped(Drop.BAD_ADDRESS);
    const opts = this.opts;
    const badOpts = parseTcpOptions(bytes, seg.optionsOffset, seg.optionsLength, opts);
    if (badOpts !== Drop.OK) return this.dropped(badOpts);
    this.counters.tcpSegmentsIn++;

    const table = this.table;
    const flow = table.lookup(p.family, IpProtocol.TCP, bytes, p.srcOffset, p.dstOffset, srcPort, dstPort);
    const st = flow === undefined ? null : flow.state;
    if (st !== null) {
      // Established traffic earns SYN cookies for the budget (tcp/syn-budget.ts); a SYN earns none.
      if ((flags & TcpFlag.SYN) === 0) this.synBudget.earned++;
      switch (st.kind) {
        case "tcp":
          st.segmentArrives(seg, opts);
          // The common case without reportable's switch: the same connection, still ESTABLISHED.
          return st.state === "ESTABLISHED" && st.flow.state === st ? st.flow : this.reportable(st.flow);
        case "time-wait":
          // A held connection's row (time-wait.ts): never reopened while it holds data.
          this.timeWaits.segmentArrives(cb, st.row, seg, opts, this.ctx.now, this.config.tcpTimeWaitMs);
          return flow;
        case "udp":
          break; // not under a TCP key
      }
    } else {
      // Not a flow: perhaps a TIME-WAIT record, found with the key and hash the lookup just made.
      const tw = this.timeWaits;
      const r = tw.find(table.key, table.keyHash, this.ctx.now);
      if (r >= 0) {
        if (tw.segmentArrives(cb, r, seg, opts, this.ctx.now, this.config.tcpTimeWaitMs) !== TimeWaitVerdict.NEW_SYN) {
          this.scheduleTimeWaits();
          return tw.flow(r) ?? this.timeWaitFlow(p, seg, r);
        }
        // RFC 9293 §3.10.7.4 / RFC 6191: the record gives way to a new incarnation, whose SYN
        // takes no token from the SYN budget (the record is forgotten now: a drop would lose it).
        tw.forget(r);
        this.scheduleTimeWaits();
        return this.noFlow(cb, p, seg, opts, true);
      }
    }
    return this.noFlow(cb, p, seg, opts, false);
  }

  /**
   * The flow of a segment that reached TIME-WAIT record `r` once the application's object is gone
   * (collected: nobody holds it, so nobody can tell this one from it): the same six fields, in
   * TIME-WAIT while the record lives. Made only for such rare segments (a retransmitted FIN, a stray ACK).
   */
  private timeWaitFlow(p: L4Packet, seg: TcpPacket, r: number): FlowRecord {
    const tw = this.timeWaits;
    const flow = flowFromPacket(this.owner, "tcp", p.family, p.bytes, p.srcOffset, p.dstOffset, seg.srcPort, seg.dstPort, tw.activeOpen(r));
    flow.state = TIME_WAIT;
    flow.timeWaitRef = tw.ref(r);
    return flow;
  }

  /**
   * RFC 9293 §3.10.7.1 (the segment belongs to no connection): a RST is dropped; a SYN without ACK
   * opens a flow if the application accepts it (or gets a SYN cookie past the SYN backlog); an ACK may
   * bring a SYN cookie back; anything else, and a refused SYN, is answered with a RST. `reopens`: the
   * segment reopens a TIME-WAIT record (exempt from the SYN budget).
   */
  private noFlow(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket, opts: TcpOptions, reopens: boolean): FlowRecord | undefined {
    const flags = seg.flags;
    if ((flags & TcpFlag.RST) !== 0) return this.dropped(EngineDrop.NO_FLOW_RST);
    const synAck = flags & (TcpFlag.SYN | TcpFlag.ACK);
    if (synAck === TcpFlag.SYN) {
      this.counters.tcpSynsReceived++;
      return this.accept(cb, p, seg, opts, reopens);
    }
    if (synAck === TcpFlag.ACK && this.backlog.cookiesOut(this.ctx.now)) return this.acceptCookie(cb, p, seg, opts);
    this.resetFor(cb, p, seg);
    return this.dropped(EngineDrop.NO_FLOW);
  }

  /**
   * RFC 9293 §3.10.7.2 LISTEN, a SYN arrives: a new connection in SYN-RECEIVED, or a RST if refused;
   * past the SYN backlog a SYN cookie, and l4Accept is asked when its ACK comes back, if the SYN
   * budget has a token for it (else the SYN is dropped unanswered: `cookie`).
   */
  private accept(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket, opts: TcpOptions, reopens: boolean): FlowRecord | undefined {
    // At the limit the SYN is dropped unanswered, as a full Linux backlog does: the peer retries.
    if (this.counts.flows >= this.config.maxFlows) return this.dropped(EngineDrop.FLOW_LIMIT);
    const memory = this.counters.memory;
    if (memory.pressure >= MemoryPressure.REFUSE) {
      // The memory budget's third step (lib/memory.ts): new flows are refused, with a RST.
      this.counters.memoryRefusedFlows++;
      this.resetFor(cb, p, seg);
      return this.dropped(EngineDrop.REFUSED);
    }
    // maxFlowsPerSource (flow/sources.ts): checked before a SYN cookie too, which would only be refused later.
    if (this.sourceFull(p)) return this.refuseForSource(cb, p, seg);
    // The half-open record is charged before the connection is made (l4Accept may make the engine
    // hold more meanwhile), and given back if none is made (leaveSynBacklog gives it back otherwise).
    // From the budget's first step on (lib/memory.ts SHRINK) a SYN makes no record: a SYN cookie
    // holds nothing (RFC 4987 §3.6), so a SYN flood alone cannot take the budget past half, to
    // where every new flow, a legitimate client's too, is refused.
    if (this.backlog.full) return this.cookie(cb, p, seg, opts, reopens);
    if (memory.pressure >= MemoryPressure.SHRINK || !memory.tryCharge(MemoryKind.HALF_OPEN, HALF_OPEN_BYTES)) {
      // Not the SYN budget's: the backlog has room, so this is no flood the backlog saw (the budget
      // applies to a full backlog only, tcp/syn-budget.ts).
      this.counters.memorySynCookies++;
      this.backlog.sendCookie(cb, p, seg, opts, this.ctx.now);
      return undefined;
    }
    const conn = this.open(cb, p, seg);
    if (conn === undefined) {
      memory.release(MemoryKind.HALF_OPEN, HALF_OPEN_BYTES);
      return undefined;
    }
    conn.acceptSyn(seg, opts);
    return this.reportable(conn.flow);
  }

  /**
   * Cookie mode (RFC 4987 §3.6): the SYN gets a cookie SYN-ACK if the SYN budget has a token for it
   * (tcp/syn-budget.ts); without one it is dropped unanswered before any hashing, and the peer
   * retransmits (a spoofed source never does). A SYN reopening TIME-WAIT (`reopens`) takes none.
   */
  private cookie(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket, opts: TcpOptions, reopens: boolean): undefined {
    const now = this.ctx.now;
    if (!reopens && !this.synBudget.take(now)) {
      this.counters.tcpSynsOverBudget++;
      return this.dropped(EngineDrop.SYN_BUDGET);
    }
    this.backlog.sendCookie(cb, p, seg, opts, now);
    return undefined;
  }

  /**
   * An ACK for no flow while SYN cookies are out (tcp/syn-backlog.ts): a valid cookie rebuilds the
   * connection its SYN-ACK agreed (if the application accepts it now: a refusal answers the ACK with
   * a RST), and the segment is processed as the connection's first (its data and FIN). An invalid one
   * is answered with a RST, as any ACK for no flow. At maxFlows the ACK is dropped unanswered: the
   * peer retransmits, and its cookie holds for the rest of its life.
   */
  private acceptCookie(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket, opts: TcpOptions): FlowRecord | undefined {
    const mss = this.backlog.check(p, seg, opts, this.ctx.now);
    if (mss < 0) {
      this.resetFor(cb, p, seg);
      return this.dropped(EngineDrop.NO_FLOW);
    }
    if (this.counts.flows >= this.config.maxFlows) return this.dropped(EngineDrop.FLOW_LIMIT);
    if (this.counters.memory.pressure >= MemoryPressure.REFUSE) {
      this.counters.memoryRefusedFlows++;
      this.resetFor(cb, p, seg);
      return this.dropped(EngineDrop.REFUSED);
    }
    if (this.sourceFull(p)) return this.refuseForSource(cb, p, seg);
    const conn = this.open(cb, p, seg);
    if (conn === undefined) return undefined;
    conn.acceptCookie(seg, opts, mss, this.backlog.options);
    conn.segmentArrives(seg, opts);
    return this.reportable(conn.flow);
  }

  /** The flow of a passive open, if l4Accept takes it (else a RST): its connection, in the table and the heap. */
  private open(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket): TcpConnection | undefined {
    const flow = flowFromPacket(this.owner, "tcp", p.family, p.bytes, p.srcOffset, p.dstOffset, seg.srcPort, seg.dstPort);
    if (cb.l4Accept !== undefined && !cb.l4Accept(flow)) {
      this.resetFor(cb, p, seg);
      this.dropped(EngineDrop.REFUSED);
      return undefined;
    }
    const conn = new TcpConnection(this.ctx, flow);
    flow.state = conn;
    // l4Accept may have opened the same 5-tuple with l4Connect.
    if (!this.table.insert(flow)) {
      flow.state = null;
      this.dropped(EngineDrop.FLOW_EXISTS);
      return undefined;
    }
    this.counts.tcp++;
    this.counts.perSource?.add(p.family, p.bytes, p.srcOffset);
    this.counters.tcpFlowsOpened++;
    this.heap.add(conn);
    return conn;
  }

  /** Has the segment's source maxFlowsPerSource flows already? */
  private sourceFull(p: L4Packet): boolean {
    const perSource = this.counts.perSource;
    return perSource !== null && perSource.full(p.family, p.bytes, p.srcOffset);
  }

  /**
   * A new connection from a source at maxFlowsPerSource is refused as a connection nobody accepts:
   * with a RST (RFC 9293 §3.10.7.1; as l4Accept's refusal, and as netfilter's connlimit rule with
   * `--reject-with tcp-reset`), so the peer learns at once instead of retrying its SYN for a minute.
   * One RST a SYN: no amplification.
   */
  private refuseForSource(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket): undefined {
    this.counters.flowsRefusedPerSource++;
    this.resetFor(cb, p, seg);
    return this.dropped(EngineDrop.SOURCE_FLOW_LIMIT);
  }

  /** RFC 9293 §3.10.7.1: if ACK, <SEQ=SEG.ACK><CTL=RST>; else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
  private resetFor(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket): void {
    const r = this.rst;
    if (seg.hasAck) {
      r.flags = TcpFlag.RST;
      r.seq = seg.ack;
      r.ack = 0;
    } else {
      r.flags = TcpFlag.RST | TcpFlag.ACK;
      r.seq = 0;
      r.ack = (seg.seq + seg.segmentLength) >>> 0;
    }
    // Not retried: without a buffer it is counted (txBufferUnavailable) and forgotten.
    this.writer.write(cb, p.family, p.bytes, p.dstOffset, p.srcOffset, seg.dstPort, seg.srcPort, r, undefined);
  }

  /** l4Connect for TCP: the flow (not yet in the table) gets a connection that sends its SYN. */
  connect(flow: FlowRecord): void {
    const conn = new TcpConnection(this.ctx, flow);
    flow.state = conn;
    this.table.insert(flow);
    this.counts.tcp++;
    this.counters.tcpFlowsOpened++;
    this.heap.add(conn);
    conn.connect();
  }

  /** l3Rx's answer: the flow once the handshake is done (TIME-WAIT included), else undefined. */
  private reportable(flow: FlowRecord): FlowRecord | undefined {
    const st = flow.state;
    if (st === null) return undefined;
    switch (st.kind) {
      case "tcp":
        return isSynchronized(st.state) ? flow : undefined;
      case "time-wait":
        return flow;
      case "udp":
        return undefined;
    }
  }

  /**
   * The connection enters TIME-WAIT with data or its FIN still to deliver: its TIME-WAIT row is made
   * now, and the connection stays in the flow table, held, until the application has taken everything
   * (closed() then lists the row).
   */
  timeWait(conn: TcpConnection): void {
    const flow = conn.flow;
    if (flow.state !== conn) return;
    this.heap.remove(conn);
    this.counters.tcpTimeWait++;
    const now = this.ctx.now;
    const expiry = now + this.config.tcpTimeWaitMs;
    const r = this.timeWaits.add(this.table.key, this.table.keyOf(flow), expiry, conn, windowField(conn), false, this.overflowed);
    const st = new TimeWaitState(flow, conn, r);
    st.deadline = expiry;
    flow.state = st;
    flow.timeWaitRef = this.timeWaits.ref(r);
    this.heap.add(st);
  }

  private readonly overflowed = (): void => {
    this.counters.tcpTimeWaitOverflow++;
  };

  /** The TIME-WAIT queue's item in the timer heap stands at its oldest record's expiry (none: out). */
  private scheduleTimeWaits(): void {
    const tw = this.timeWaits;
    const t = tw.nextExpiry;
    if (t === Infinity) {
      this.heap.remove(tw);
    } else {
      tw.deadline = t;
      this.heap.add(tw);
    }
  }

  /**
   * The connection is over: it leaves the timer heap and the flow table (or its TIME-WAIT record, which
   * stays), and l4Rx(flow, null) is queued (events.ts).
   */
  closed(conn: TcpConnection, reason: CloseCause): void {
    const flow = conn.flow;
    const st = flow.state;
    if (st === conn) {
      this.heap.remove(conn);
      this.table.remove(flow);
      flow.state = null;
      if (reason === CloseCause.TIME_WAIT) {
        // The connection leaves the flow table and its row takes its place (time-wait.ts), if the
        // memory budget has room for one (else it is closed without, as Linux past its bound).
        this.counters.tcpTimeWait++;
        const expiry = this.ctx.now + this.config.tcpTimeWaitMs;
        const tw = this.timeWaits;
        const r = tw.add(this.table.key, this.table.keyHash, expiry, conn, windowField(conn), true, this.overflowed);
        if (r >= 0) {
          flow.state = TIME_WAIT;
          flow.timeWaitRef = tw.ref(r);
          this.scheduleTimeWaits();
        }
      }
    } else if (st !== null && st.kind === "time-wait" && st.held === conn) {
      // The held connection is over: its row joins the others for the rest of its 2*MSL.
      this.heap.remove(st);
      this.table.remove(flow);
      st.held = null;
      // No room in the memory budget for the row: the connection ends without TIME-WAIT (time-wait.ts).
      flow.state = this.timeWaits.release(st.row, this.overflowed) ? TIME_WAIT : null;
      this.scheduleTimeWaits();
    } else {
      return; // closed already: l4Rx(flow, null) went out once
    }
    leaveSynBacklog(conn);
    this.counts.tcp--;
    if (!flow.activeOpen) this.counts.perSource?.remove(flow.family, flow.addr, 0);
    flow.closeReason = reason;
    const c = this.counters;
    c.tcpFlowsClosed++;
    switch (reason) {
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
    this.ctx.event(AppEvent.CLOSED, conn, null);
  }

  /** The TIME-WAIT queue is due: the records whose 2*MSL is over are forgotten (time-wait.ts). */
  timeWaitsDue(now: number): void {
    this.timeWaits.expire(now);
    this.scheduleTimeWaits();
  }

  /**
   * A held connection's timer (time-wait.ts): it stays until the application has taken what it holds,
   * as long as a half-closed connection would wait (tcpHalfOpenIdleTimeout after its last data); then
   * it ends as idle (and closed() lists its row).
   */
  heldTimer(st: TimeWaitState, now: number): void {
    const held = st.held;
    if (held === null) return;
    const tw = this.timeWaits;
    if (tw.expiryOf(st.row) <= now) {
      tw.setExpiry(st.row, now + this.config.tcpTimeWaitMs);
      if (now - held.lastDataAt >= this.config.tcpHalfOpenIdleTimeoutMs) {
        finish(held, CloseCause.IDLE); // closed() lists the row for its new 2*MSL
        return;
      }
    }
    st.deadline = tw.expiryOf(st.row);
    this.heap.add(st);
  }

  /** Does the flow's TIME-WAIT record still live (l4State, l4Info)? */
  timeWaitAlive(flow: FlowRecord): boolean {
    return this.timeWaits.alive(flow.timeWaitRef, this.ctx.now);
  }

  /** Is there a TIME-WAIT record under the key the flow table looked up last (l4Connect)? */
  timeWaitUnderLastKey(): boolean {
    return this.timeWaits.find(this.table.key, this.table.keyHash, this.ctx.now) >= 0;
  }

  /** An ICMP error quoting a segment we sent (icmp/icmp.ts IcmpErrorSink): to its connection. */
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
    const st = this.table.lookup(family, IpProtocol.TCP, bytes, remoteAddrOff, localAddrOff, remotePort, localPort)?.state;
    if (st === undefined || st === null || st.kind !== "tcp") return false;
    return st.icmpUnreachable(mtu, quotedSeq, hard, kind);
  }

  private dropped(reason: number): undefined {
    this.counters.drop(reason);
    return undefined;
  }
}
