/**
 * One TCP connection: its TCB (tcb.ts) and the events of RFC 9293 §3.10 that drive it, as the engine
 * and the application raise them: OPEN (`connect`, and `acceptSyn` for a passive open), SEND, CLOSE,
 * ABORT, SEGMENT ARRIVES, the timeouts, and ICMP errors (RFC 1122 §4.2.3.9). Each entry point runs its
 * step through the modules of tcb.ts's list; what the step has for the application is queued
 * (events.ts) and fired when the step is complete, before the output is flushed.
 *
 * Read first: RFC 9293 §3.10 (event processing), RFC 7323 (window scale, timestamps, PAWS), RFC 2018
 * and RFC 6675 (SACK and SACK-based loss recovery), RFC 5681 and RFC 6582 (congestion control,
 * NewReno), RFC 6298 (RTO), RFC 5961 (blind RST/SYN/data injection: challenge ACKs).
 *
 * Counting: the engine counts what it sees (segments in and out, closes by CloseCause); the
 * connection counts only what the engine cannot see (retransmissions, challenge ACKs, probes, drops
 * by reason) and its own l4Info counters.
 */
import type { FlowInfo } from "../api.js";
import type { EventTarget } from "../events.js";
import { IcmpErrorKind } from "../icmp/icmp.js";
import type { AnyCallbacks } from "../ip/output.js";
import type { TcpOptions, TcpPacket } from "../wire/tcp.js";
import { CloseCause } from "./context.js";
import { acceptCookie, acceptSyn, connect } from "./open.js";
import { output, sendReset } from "./output.js";
import { fireDrain, fireRx, maybeWindowUpdate, queueDelivery } from "./receive.js";
import { segmentArrives } from "./segment-arrives.js";
import type { CookieOptions } from "./syn-cookie.js";
import { seq, seqAdd, seqGt, seqLt, seqMax, seqSub } from "./seq.js";
import { canSend, finish, hasEnded, isSynchronized, setState } from "./state.js";
import { Tcb } from "./tcb.js";
import { onTimer, updateDeadline } from "./timers.js";

export class TcpConnection extends Tcb implements EventTarget {
  /** RFC 9293 §3.10.7.2 LISTEN, a SYN arrives: go to SYN-RECEIVED and send <SYN,ACK>. */
  acceptSyn(seg: TcpPacket, opts: TcpOptions): void {
    acceptSyn(this, seg, opts);
  }

  /**
   * RFC 4987 §3.6: the ACK returning a valid SYN cookie rebuilds the connection its SYN-ACK agreed,
   * and the handshake completes (ESTABLISHED); the segment itself goes through segmentArrives next.
   */
  acceptCookie(seg: TcpPacket, opts: TcpOptions, mss: number, cookie: CookieOptions): void {
    acceptCookie(this, seg, opts, mss, cookie);
  }

  /** RFC 9293 §3.10.1 OPEN (active): send <SYN>, go to SYN-SENT. */
  connect(): void {
    connect(this);
  }

  /** RFC 9293 §3.10.7 SEGMENT ARRIVES. */
  segmentArrives(seg: TcpPacket, opts: TcpOptions): void {
    const predictedText = segmentArrives(this, seg, opts);
    const off = seg.payloadOffset;
    this.afterStep(predictedText === 0 ? null : seg.bytes.subarray(off, off + predictedText));
  }

  /** RFC 9293 §3.10.8 TIMEOUTS: whichever of the connection's timers are due (timers.ts). */
  onTimer(now: number): void {
    onTimer(this, now);
  }

  /** l4Tx, RFC 9293 §3.10.2 SEND: copy into the send buffer and send what the windows allow. Returns bytes taken. */
  send(data: Uint8Array): number {
    if (this.finQueued || !canSend(this.state)) return 0;
    const taken = this.sendBuffer.write(data, 0, data.length);
    this.txWanted = taken < data.length;
    // Cut short with room left: the send buffer could not grow under the memory budget (send-buffer.ts).
    if (taken < data.length && this.sendBuffer.free > 0) {
      this.ctx.counters.memorySendLimited++;
      // Nothing held is nothing in flight, whose ACK would bring l4TxReady: it comes from the budget.
      if (this.sendBuffer.length === 0) this.ctx.waitForMemory(this);
    }
    if (taken > 0) {
      this.lastDataAt = this.ctx.now;
      if (!this.ctx.cork(this)) output(this);
    }
    updateDeadline(this);
    return taken;
  }

  /** l4Poll under tcpAutocork: send what l4Tx and l4LocalClose held (data and FIN together). */
  flushCorked(): void {
    this.corked = false;
    if (this.flow.state !== this) return;
    output(this);
    updateDeadline(this);
  }

  /** l4LocalClose, RFC 9293 §3.10.4 CLOSE: FIN after the queued data. */
  close(): void {
    switch (this.state) {
      case "SYN-SENT":
        // RFC 9293 §3.10.4: "Delete the TCB and return 'error: closing' responses to any queued SENDs."
        // But l4Tx already told the application its bytes were taken: when some are queued, keep the
        // promise as §3.10.4 does for SYN-RECEIVED: FIN after the data once the handshake completes.
        if (this.sendBuffer.length === 0) {
          finish(this, CloseCause.CLOSED);
          return;
        }
        this.finQueued = true;
        break;
      case "SYN-RECEIVED":
        this.finQueued = true;
        break;
      case "ESTABLISHED":
        this.finQueued = true;
        setState(this, "FIN-WAIT-1");
        break;
      case "CLOSE-WAIT":
        this.finQueued = true;
        setState(this, "LAST-ACK");
        break;
      default:
        return; // already closing
    }
    this.lastDataAt = this.ctx.now;
    if (!this.ctx.cork(this)) output(this);
    updateDeadline(this);
  }

  /** l4Abort, RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST> in a synchronized state, then gone. */
  abort(): void {
    if (this.state === "CLOSED") return;
    sendReset(this);
    finish(this, CloseCause.ABORTED);
  }

  /** l4PauseRx: what arrives stays in the receive buffer, and the window closes as it fills. */
  pauseRx(): void {
    this.rxPaused = true;
  }

  /** l4ResumeRx: deliver what was held, then a window update if the window grew enough. */
  resumeRx(): void {
    if (!this.rxPaused) return;
    this.rxPaused = false;
    queueDelivery(this);
    this.ctx.fire();
    if (this.flow.state !== this) return;
    maybeWindowUpdate(this);
    output(this);
    updateDeadline(this);
  }

  /** RFC 1122 §4.2.3.9 and RFC 1191 / RFC 8201: an ICMP error about a segment we sent. */
  icmpUnreachable(fragNeededMtu: number, quotedSeq: number, hard: boolean, kind: IcmpErrorKind): boolean {
    // Stryker disable next-line BooleanLiteral: a CLOSED connection is in no flow table (spec/mutate/equivalent-mutants.md)
    if (this.state === "CLOSED") return false;
    // RFC 5927 §4.1: act only on errors quoting a sequence number in flight, SND.UNA =< SEG.SEQ < SND.MAX
    // (a blind attacker must then guess it); an RTO-rewound SND.NXT does not shrink that range.
    const q = seq(quotedSeq);
    if (seqLt(q, this.sndUna) || !seqLt(q, seqMax(this.sndMax, seqAdd(this.sndUna, 1)))) return false;
    if (fragNeededMtu > 0) {
      // Path MTU discovery: shrink the MSS and resend at once what no longer fits.
      const ipHdr = this.flow.family === 6 ? 60 : 40;
      const floor = this.flow.family === 6 ? 1280 - 60 : 576 - 40;
      const mss = Math.max(floor, fragNeededMtu - ipHdr);
      if (mss < this.sndMss) {
        this.sndMss = mss;
        this.cc.mss = this.smss();
        if (isSynchronized(this.state) && seqGt(this.sndMax, this.sndUna)) {
          this.sndNxt = this.sndUna;
          output(this);
        }
        updateDeadline(this);
      }
      return true;
    }
    // RFC 1122 §4.2.3.9: hard errors abort a connection that is still opening; others are soft. Like
    // Linux (tcp_v4_err, tcp_v6_err) an active open is aborted by any of them: the application that
    // dialled hears "host unreachable" at once instead of after its SYN retries; a passive open (a
    // request socket in Linux, tcp_req_err) only by hard ones.
    const aborts = this.state === "SYN-SENT" ? kind !== IcmpErrorKind.NONE : hard && this.state === "SYN-RECEIVED";
    if (aborts) {
      finish(
        this,
        kind === IcmpErrorKind.NET
          ? CloseCause.NET_UNREACHABLE
          : kind === IcmpErrorKind.REFUSED
            ? CloseCause.PORT_UNREACHABLE
            : CloseCause.HOST_UNREACHABLE,
      );
    }
    return true;
  }

  get remoteClosed(): boolean {
    return this.finReceived;
  }

  get localAndRemoteClosed(): boolean {
    return this.finReceived && this.finQueued;
  }

  /** l4Info: a snapshot of the connection (api.ts FlowInfo). */
  info(o: FlowInfo): void {
    o.state = this.state;
    o.bytesIn = this.bytesIn;
    o.bytesOut = this.bytesOut;
    o.bytesAcked = this.bytesAcked;
    o.segmentsIn = this.segmentsIn;
    o.segmentsOut = this.segmentsOut;
    o.retransmits = this.retransmits;
    o.srtt = this.rtt.srtt;
    o.rttvar = this.rtt.rttvar;
    o.rto = this.rtt.rto;
    o.cwnd = this.cc.cwnd;
    o.ssthresh = this.cc.ssthresh;
    o.sndWnd = this.sndWnd;
    o.rcvWnd = this.rcvWnd();
    o.sndMss = this.sndMss;
    o.rcvMss = this.rcvMss;
    o.unacked = Math.max(0, seqSub(this.sndMax, this.sndUna));
    o.sendQueue = this.sendBuffer.length;
    o.recvQueue = this.recvBuffer.readable + this.recvBuffer.oooBytes;
  }

  // ---------------------------------------------------------------- events (events.ts), fired after the step

  fireRx(cb: AnyCallbacks, data: Uint8Array): void {
    fireRx(this, cb, data);
  }

  fireDrain(cb: AnyCallbacks): void {
    fireDrain(this, cb);
  }

  fireTxReady(cb: AnyCallbacks): void {
    if (!hasEnded(this)) cb.l4TxReady?.(this.flow);
  }

  /**
   * The end of every step that a segment starts: fire what it queued for the application, then the
   * text the header prediction took (`predictedText`, the step's last event: segment-arrives.ts
   * `predicted`) as its RX event would be; then, if the connection is still there (the step or the
   * application may have ended it), send what is due.
   */
  private afterStep(predictedText: Uint8Array | null): void {
    this.ctx.fire();
    if (predictedText !== null) this.ctx.fireRx(this, predictedText);
    if (this.flow.state !== this) return;
    output(this);
    updateDeadline(this);
  }
}
