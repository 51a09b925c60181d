/**
 * The receiver: RFC 9293 §3.10.7.4's seventh step (the segment text) and eighth (the FIN bit), when to
 * acknowledge (RFC 5681 §4.2, RFC 9293 §3.8.6.3), the window we offer (§3.8.6.2.2), and delivery to
 * the application, which happens when the step is complete (events.ts): `fireRx` and `fireDrain`.
 *
 * The fast path: in-order text with nothing held and delivery running goes to l4Rx straight from the
 * packet (valid until l3Rx returns); everything else is copied into the receive buffer.
 */
import type { AnyCallbacks } from "../ip/output.js";
import { AppEvent } from "../events.js";
import { EngineDrop } from "../stats.js";
import type { TcpConnection } from "./connection.js";
import { MEMORY_REFUSED } from "./receive-buffer.js";
import { offeredWindow } from "./output.js";
import { CloseCause } from "./context.js";
import { sendAck } from "./output.js";
import type { Arrival } from "./segment-arrives.js";
import { seqAdd, seqSub } from "./seq.js";
import { enterTimeWait, finish, hasEnded, receivesText, setState } from "./state.js";
import { QUICKACK_SEGMENTS } from "./tcb.js";

/** RFC 5681 §4.2: "an ACK SHOULD be generated for at least every second full-sized segment". */
const ACK_EVERY_SEGMENTS = 2;

const CONTINUE = true;
const DROP = false;

/**
 * RFC 9293 §3.10.7.4 seventh step, first part: only the text inside the window is processed. The
 * part before RCV.NXT is a duplicate; "segments with higher beginning sequence numbers ... held for
 * later processing" stop at the window's right edge, and so does a FIN beyond it. DROP when nothing
 * is left to process.
 */
export function trimToWindow(c: TcpConnection, s: Arrival): boolean {
  // The common case first: text at RCV.NXT that fits the window, in ESTABLISHED; nothing to trim.
  if (s.seq === c.rcvNxt && s.dataLen > 0 && s.dataLen <= seqSub(c.rcvAdv, s.seq) && c.state === "ESTABLISHED") {
    return CONTINUE;
  }
  return trimOther(c, s);
}

/** trimToWindow for every other segment. */
function trimOther(c: TcpConnection, s: Arrival): boolean {
  const before = seqSub(c.rcvNxt, s.seq);
  if (before > 0) {
    const cut = before >= s.dataLen ? s.dataLen : before;
    s.dataOff += cut;
    s.dataLen -= cut;
    s.seq = c.rcvNxt;
  }
  const room = seqSub(c.rcvAdv, s.seq);
  if (s.dataLen > room) {
    s.dataLen = Math.max(0, room);
    s.fin = false; // the FIN lay beyond the window
    // Text beyond the window is dropped, and "an acknowledgment should be sent in reply" to a segment
    // that is not (wholly) acceptable (RFC 9293 §3.10.7.4 first check): with a zero window this is how
    // a zero-window probe gets its answer (RFC 9293 §3.8.6.1). Linux: tcp_data_queue() out_of_window.
    c.ackNow = true;
  }
  if (s.dataLen === 0 && !s.fin) return DROP;
  if (!receivesText(c.state)) {
    c.ctx.counters.drop(EngineDrop.DATA_AFTER_CLOSE);
    return DROP;
  }
  return CONTINUE;
}

/** The seventh step proper: take the text (trimmed to the window) and note where a FIN sits. */
export function receiveText(c: TcpConnection, s: Arrival): void {
  const len = s.dataLen;
  const offset = seqSub(s.seq, c.rcvNxt);
  const rb = c.recvBuffer;
  if (len > 0 && offset === 0 && rb.readable === 0 && !rb.hasOutOfOrder && !c.rxPaused) {
    takeInOrder(c, s.seg.bytes, s.dataOff, len);
  } else if (len > 0) {
    receiveIntoBuffer(c, s, offset, len);
  }
  if (s.fin) finArrives(c, s, offset, len);
}

/**
 * The common case of the text step: `len` bytes at RCV.NXT, nothing held, delivery running. The
 * application gets the segment's own bytes, when the step is complete, instead of a copy through the
 * buffer: queued as an RX event.
 */
export function takeInOrder(c: TcpConnection, bytes: Uint8Array, off: number, len: number): void {
  advanceInOrder(c, len);
  c.ctx.event(AppEvent.RX, c, bytes.subarray(off, off + len));
}

/**
 * takeInOrder without the event: RCV.NXT moves over `len` bytes the application gets straight from
 * the packet, and the ACK they call for is counted. The header prediction's text step
 * (segment-arrives.ts `predicted`), whose caller hands the text over itself.
 */
export function advanceInOrder(c: TcpConnection, len: number): void {
  c.lastDataAt = c.ctx.now;
  c.rcvNxt = seqAdd(c.rcvNxt, len);
  c.bytesIn += len;
  countSegmentForAck(c, len);
}

/** Text that is out of order, or arrives while data is held or delivery paused: into the receive buffer. */
function receiveIntoBuffer(c: TcpConnection, s: Arrival, offset: number, len: number): void {
  const counters = c.ctx.counters;
  const rb = c.recvBuffer;
  const hadGap = rb.hasOutOfOrder;
  const grown = rb.insert(offset, s.seg.bytes, s.dataOff, len);
  if (grown < 0) {
    if (grown === MEMORY_REFUSED) {
      // The memory budget: dropped, the window kept as advertised (the peer retransmits; RFC 9293
      // §3.8.6.2.2 never lets us take back the window instead). Linux: tcp_try_rmem_schedule fails.
      if (offset > 0) counters.memoryDroppedOutOfOrder++;
      else counters.memoryDroppedInOrder++;
    } else {
      counters.drop(EngineDrop.REASSEMBLY_FULL);
    }
    c.ackNow = true;
    return;
  }
  c.lastDataAt = c.ctx.now;
  if (offset > 0) {
    // Out of order: RFC 5681 §4.2 "an immediate duplicate ACK SHOULD be sent" (with SACK blocks).
    counters.tcpOutOfOrderSegments++;
    c.ackNow = true;
    counters.tcpDupAcksSent++;
  } else {
    c.rcvNxt = seqAdd(c.rcvNxt, grown);
    c.bytesIn += grown;
    // RFC 5681 §4.2: an ACK SHOULD be sent at once when a segment fills (part of) a gap.
    if (hadGap) c.ackNow = true;
    else countSegmentForAck(c, len);
  }
}

/** The FIN may arrive ahead of missing data: it takes effect once RCV.NXT reaches it (checkFin). */
function finArrives(c: TcpConnection, s: Arrival, offset: number, len: number): void {
  c.pendingFinSeq = seqAdd(s.seq, len);
  c.hasPendingFin = true;
  if (offset > 0) c.ackNow = true;
}

/** RFC 9293 §3.10.7.4 eighth step: the FIN bit, once the text before it has all arrived. */
export function checkFin(c: TcpConnection): void {
  if (!c.hasPendingFin) return;
  if (c.pendingFinSeq === c.rcvNxt && !c.finReceived) finReached(c);
}

/** checkFin, RCV.NXT has reached the peer's FIN. */
function finReached(c: TcpConnection): void {
  c.finReceived = true;
  c.hasPendingFin = false;
  // "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN".
  c.rcvNxt = seqAdd(c.rcvNxt, 1);
  c.ackNow = true;
  switch (c.state) {
    case "SYN-RECEIVED":
    case "ESTABLISHED":
      setState(c, "CLOSE-WAIT");
      // Half-closed from now: the half-open idle time counts from here (timers.ts updateDeadline), as
      // it does from l4LocalClose for our own FIN.
      c.lastDataAt = c.ctx.now;
      break;
    case "FIN-WAIT-1":
      // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
      setState(c, "CLOSING");
      break;
    case "FIN-WAIT-2":
      // "Enter the TIME-WAIT state. Start the time-wait timer, turn off the other timers."
      sendAck(c);
      enterTimeWait(c);
      break;
    default:
      break;
  }
}

/** After a step: the application has buffered data or the peer's FIN to hear about (fireDrain). */
export function queueDelivery(c: TcpConnection): void {
  if (c.rxPaused) return;
  if (c.recvBuffer.readable > 0 || (c.finReceived && !c.remoteClosedNotified)) c.ctx.event(AppEvent.DRAIN, c, null);
}

/** The RX event: the fast path's bytes to l4Rx, or into the buffer if delivery was paused meanwhile. */
export function fireRx(c: TcpConnection, cb: AnyCallbacks, data: Uint8Array): void {
  if (hasEnded(c)) return;
  // Paused by an earlier callback of the same step (l4TxReady): the buffer is still empty, so the
  // bytes, which RCV.NXT already covers, become its readable front.
  if (c.rxPaused) c.recvBuffer.insert(0, data, 0, data.length);
  else cb.l4Rx(c.flow, data);
}

/**
 * The DRAIN event: hand contiguous data to the application unless paused; then the peer's FIN
 * (l4RemoteClosed); then, both FINs done and everything delivered, the connection ends (its TIME-WAIT
 * record stays).
 * Each callback may pause, close or abort the flow: that is checked after each.
 */
export function fireDrain(c: TcpConnection, cb: AnyCallbacks): void {
  const flow = c.flow;
  const rb = c.recvBuffer;
  if (hasEnded(c)) return;
  while (!c.rxPaused && rb.readable > 0) {
    const view = rb.peekContiguous();
    const n = view.length;
    cb.l4Rx(flow, view);
    if (hasEnded(c)) return;
    rb.consume(n);
  }
  if (c.finReceived && !c.remoteClosedNotified && rb.readable === 0 && !c.rxPaused) {
    c.remoteClosedNotified = true;
    cb.l4RemoteClosed?.(flow);
    if (hasEnded(c)) return;
  }
  if (c.state === "TIME-WAIT" && c.remoteClosedNotified) finish(c, CloseCause.TIME_WAIT);
}

/**
 * RFC 5681 §4.2: ACK at least every second full-sized segment; the rest wait for the delayed-ACK
 * timer (RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: under 0.5 s; ours tcpDelayedAckMs, Linux's 40 ms).
 *
 * Quick-ACK mode (as Linux's, tcp_event_data_recv): the first QUICKACK_SEGMENTS full-sized segments
 * of a connection, and of a burst after the peer's data paused longer than the RTO, are ACKed one by
 * one, so that the peer's slow start (or its restart after idle, RFC 5681 §4.1) is not held back.
 * Where we differ from Linux: a segment smaller than full-sized is never quick-ACKed. Linux ACKs a
 * small request at once too, and the reply that follows a moment later needs a segment of its own;
 * here the reply carries the ACK (a request/response connection sends one packet fewer), and a
 * sender that is not cwnd-limited loses nothing by it. The cost, as everywhere outside Linux's
 * quick-ACK mode: a peer that runs Nagle and writes a request in two small pieces waits for the
 * delayed ACK (at most tcpDelayedAckMs) before its second piece.
 *
 * A super-segment (l3RxTrusted: TSO from the local kernel, larger than the MSS we offered) counts as
 * the full-sized segments it carries, and does not raise rcvMss beyond that MSS: Linux does the same
 * with a GRO packet (tcp_measure_rcv_mss takes its gso_size; __tcp_ack_snd_check ACKs at once once
 * more than one rcv_mss is unacknowledged), so a 64 KiB segment is acknowledged at once.
 */
function countSegmentForAck(c: TcpConnection, len: number): void {
  // Linux tcp_measure_rcv_mss: the largest segment seen, quick-ACK or not.
  if (len > c.rcvMss) measureRcvMss(c, len);
  c.ctx.counters.receiveBudget.grow(c, len);
  const now = c.ctx.now;
  // Linux tcp_event_data_recv: "Too long gap. Apparently sender failed to restart window, so that we
  // send ACKs quickly."
  if (now - c.lastDataRecvAt > c.rtt.rto) c.quickAcks = QUICKACK_SEGMENTS;
  c.lastDataRecvAt = now;
  const fullSized = len >= c.rcvMss;
  if (!fullSized) {
    if (c.delayedAckAt === Infinity) c.delayedAckAt = now + c.ctx.config.tcpDelayedAckMs;
    return;
  }
  if (c.quickAcks > 0) {
    c.quickAcks--;
    c.ackNow = true;
    return;
  }
  c.unackedSegments += len < 2 * c.rcvMss ? 1 : Math.floor(len / c.rcvMss);
  if (c.unackedSegments >= ACK_EVERY_SEGMENTS) c.ackNow = true;
  else if (c.delayedAckAt === Infinity) c.delayedAckAt = now + c.ctx.config.tcpDelayedAckMs;
}

/**
 * A segment larger than rcvMss. Up to the MSS we offered, it is the new rcvMss. Larger, it is a
 * super-segment, whose gso_size the engine is not told: the kernel's segments would have been the
 * sender's MSS less the options every segment carries (our smss(): both ends of a TUN device offer
 * the same MSS), so rcvMss is raised to that at most.
 */
function measureRcvMss(c: TcpConnection, len: number): void {
  if (len <= c.mtuMss()) c.rcvMss = len;
  else if (c.smss() > c.rcvMss) c.rcvMss = c.smss();
}

/** After the application consumed data: a window update when the window grew enough (RFC 9293 §3.8.6.2.2). */
export function maybeWindowUpdate(c: TcpConnection): void {
  const cap = c.recvBuffer.capacity;
  const advertised = seqSub(c.rcvAdv, c.rcvNxt);
  const possible = offeredWindow(c);
  // Receiver SWS avoidance: move the right edge only by min(RCV.BUFF/2, Eff.snd.MSS) or more.
  if (possible - advertised >= Math.min(cap >>> 1, c.sndMss) && advertised < cap >>> 1) c.ackNow = true;
}
