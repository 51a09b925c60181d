/**
 * What a connection sends, and the segments themselves. `output` decides what to send now: in SACK
 * recovery what RFC 6675 picks (recovery.ts), then new data and FIN within min(cwnd, SND.WND) with
 * sender-side SWS avoidance (RFC 9293 §3.8.6.2.1) and optional Nagle (§3.7.4), then an ACK if one is
 * owed and nothing else carried it. The send* functions fill one scratch TcpOutSegment and hand it to
 * the engine's segment writer (writer.ts): data, FIN, pure ACKs, SYN and SYN-ACK, RSTs and probes.
 * Under txSuperSegments (config.ts) new data goes as super-segments, many MSS in one packet
 * (`superLength`); the writer's header tells the device to cut it at the MSS (`segmentSize`).
 *
 * Nothing here allocates: the scratch segment and its options serve every connection (the engine is
 * single-threaded and a segment is written before the next is made).
 */
import { ipHeaderLength } from "../ip/output.js";
import { MAX_SACK_BLOCKS, TCP_MIN_HEADER, TcpFlag, TcpOptions } from "../wire/tcp.js";
import { MemoryPressure } from "../memory.js";
import type { TcpConnection } from "./connection.js";
import { tcpOutSegment } from "./context.js";
import { inFlight, sackRecoveryOutput } from "./recovery.js";
import { DUP_THRESH } from "./sack-scoreboard.js";
import { seq, seqAdd, seqGe, seqGt, seqLe, seqLt, seqSub, type Seq } from "./seq.js";
import { isSynchronized } from "./state.js";
import { armPersist } from "./timers.js";
import { tsClock } from "./timestamps.js";

/** Retry period when the caller had no transmit buffer (l3TxBuffer returned undefined). */
const TX_RETRY_MS = 1;
/** RFC 5961 §7: challenge ACKs are rate-limited; Linux allows 1000 a second per host, we keep it per flow. */
const CHALLENGE_ACK_INTERVAL_MS = 1;
/**
 * Answers to unacceptable bare ACKs, at most one per this interval (Linux tcp_invalid_ratelimit:
 * 500 ms). TIME-WAIT records (time-wait.ts) keep the same limit.
 */
export const OOW_ACK_INTERVAL_MS = 500;

const ACK = TcpFlag.ACK;
const SYN = TcpFlag.SYN;
const FIN = TcpFlag.FIN;
const RST = TcpFlag.RST;
const PSH = TcpFlag.PSH;

/** Shared scratch: one outgoing segment and its options at a time. */
const out = tcpOutSegment();
const outOpts = new TcpOptions();
/** Scratch for SACK ranges read out of the receive buffer (start, end pairs). */
const sackScratch = new Uint32Array(MAX_SACK_BLOCKS * 2);

/** Send whatever the state, the windows and the queue allow; then an ACK if one is owed. */
export function output(c: TcpConnection): void {
  if (!isSynchronized(c.state) || c.state === "TIME-WAIT") {
    if (c.ackNow && c.state === "SYN-RECEIVED") c.ackNow = false;
    return;
  }
  let sent = false;
  if (c.inRecovery && c.sackOk) sent = sackRecoveryOutput(c);
  sent = sendNewData(c) || sent;
  if (c.ackNow || (c.unackedSegments > 0 && c.delayedAckAt <= c.ctx.now)) {
    if (!sent) sendAck(c);
  }
}

/**
 * New data (and FIN) from SND.NXT, within min(cwnd, peer window). The FIN takes a sequence number,
 * so it too must lie inside the window, SEQ < SND.UNA + SND.WND (RFC 9293 §3.8.6; Linux's
 * tcp_snd_wnd_test counts the FIN in end_seq): against a full window it waits for the ACK that
 * opens it, or for the persist timer's probe when nothing is outstanding.
 */
function sendNewData(c: TcpConnection): boolean {
  let sent = false;
  const maxSeg = maxPayload(c);
  const superMax = c.ctx.config.txSuperSegments === 0 ? 0 : superPayload(c, maxSeg);
  for (let guard = 0; guard < 4096; guard++) {
    const nxtOff = seqSub(c.sndNxt, c.sndUna);
    const dataLeft = c.sendBuffer.length - nxtOff;
    const wndLeft = c.sndWnd - nxtOff;
    if (dataLeft <= 0) {
      // (output() never runs this in SYN-RECEIVED: a FIN queued there waits for ESTABLISHED, RFC 9293 §3.10.4.)
      if (finWaiting(c)) {
        if (wndLeft <= 0) {
          if (c.sndUna === c.sndMax && c.persistAt === Infinity) armPersist(c);
          break;
        }
        if (!sendFinAt(c, c.sndNxt)) break;
        sent = true;
      }
      break;
    }
    // RFC 5681 §3.2 / RFC 3042 Limited Transmit: on the first and second duplicate ACKs a sender
    // "SHOULD send a segment of previously unsent data ... provided that ... the total FlightSize would
    // remain less than or equal to cwnd plus 2*SMSS"; cwnd itself is not changed. Without it a window
    // of three or four segments with one lost never sees the third duplicate ACK and waits for the RTO.
    const limitedTransmit =
      !c.inRecovery && c.dupAcks > 0 && c.dupAcks < DUP_THRESH && seqGe(c.sndNxt, c.sndMax) ? c.dupAcks * c.smss() : 0;
    const cwndLeft = c.cc.cwnd + limitedTransmit - inFlight(c);
    let len = Math.min(dataLeft, maxSeg, wndLeft, cwndLeft);
    if (len <= 0) {
      // Zero window with nothing outstanding: the persist timer probes it (RFC 9293 §3.8.6.1).
      if (wndLeft <= 0 && c.sndUna === c.sndMax && c.persistAt === Infinity) armPersist(c);
      break;
    }
    if (len < maxSeg && len < dataLeft) {
      // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a partial segment only if it is at least half
      // the largest window the peer offered, or if nothing is outstanding (so no ACK will come).
      if (len < c.maxSndWnd >>> 1 && c.sndUna !== c.sndMax) break;
    }
    // Nagle (RFC 9293 §3.7.4), off by default.
    if (!c.ctx.config.tcpNoDelay && len < maxSeg && c.sndUna !== c.sndMax) break;
    if (len === maxSeg && superMax > maxSeg && seqGe(c.sndNxt, c.sndMax)) {
      len = superLength(c, maxSeg, Math.min(dataLeft, superMax, wndLeft, cwndLeft), dataLeft);
    }
    const withFin = c.finQueued && len === dataLeft && len < wndLeft;
    if (!sendData(c, c.sndNxt, len, withFin)) break;
    sent = true;
  }
  if (!sent && c.sendBuffer.length === 0 && !(finWaiting(c) && c.sndWnd <= 0)) c.persistAt = Infinity;
  return sent;
}

/**
 * The payload of one super-segment under txSuperSegments (config.ts): as many whole segments of
 * `maxSeg` as fit one IP packet of txSuperSegments bytes with this connection's headers (so that
 * every piece the device cuts but the last is full-sized).
 */
function superPayload(c: TcpConnection, maxSeg: number): number {
  const headers = ipHeaderLength(c.flow.family) + TCP_MIN_HEADER + (c.sndMss - maxSeg);
  const room = Math.max(c.ctx.config.txSuperSegments, c.ctx.config.mtu) - headers;
  return room - (room % maxSeg);
}

/**
 * A super-segment's length: the first segment is full-sized and `n` (the data, the windows, cwnd
 * and superPayload allow it) goes as the whole segments it holds, plus the partial one at its end
 * only if that one could be sent on its own right after them: it ends the data, or is at least half
 * the largest window the peer offered (sender SWS avoidance, RFC 9293 §3.8.6.2.1), and Nagle is off
 * (§3.7.4: the whole segments are outstanding by then). The kernel cuts it at every `maxSeg` bytes,
 * so the peer, and our scoreboard of its SACKs, see exactly the segments sendNewData would have sent
 * one by one; only new data is sent so (a super-segment is never a retransmission, rtt.ts's Karn
 * check stays per segment).
 */
function superLength(c: TcpConnection, maxSeg: number, n: number, dataLeft: number): number {
  const tail = n % maxSeg;
  if (tail === 0) return n;
  const full = n - tail;
  if (!c.ctx.config.tcpNoDelay) return full;
  if (tail < dataLeft - full && tail < c.maxSndWnd >>> 1) return full;
  return n;
}

/** Our FIN has gone out from SND.NXT (it lies below it). */
function finIsOut(c: TcpConnection): boolean {
  return c.finSent && seqGt(c.sndNxt, c.finSeq);
}

/** The application closed and the FIN has not gone out from SND.NXT yet. */
export function finWaiting(c: TcpConnection): boolean {
  return c.finQueued && !finIsOut(c);
}

/** Payload that fits in one segment with the options this connection sends on data. */
export function maxPayload(c: TcpConnection): number {
  // RFC 6691 §2: the data must shrink by the options the segment carries: timestamps on every
  // segment, and SACK blocks while we hold out-of-order data (as Linux's tcp_current_mss counts them).
  let opts = c.tsOk ? 12 : 0;
  if (c.sackOk && c.recvBuffer.hasOutOfOrder) {
    const blocks = Math.min(c.recvBuffer.oooRangeCount, c.tsOk ? 3 : MAX_SACK_BLOCKS);
    opts += 4 + 8 * blocks;
  }
  return c.sndMss - opts;
}

/**
 * Send `len` bytes of data starting at `s` (with FIN if asked and it is the end of the data).
 * Advances SND.NXT when the segment is new. Returns false when no transmit buffer was available.
 */
export function sendData(c: TcpConnection, s: Seq, len: number, withFin: boolean): boolean {
  const now = c.ctx.now;
  out.flags = ACK | (withFin ? FIN : 0);
  const end = seqAdd(s, len);
  if (end === c.dataEnd()) out.flags |= PSH;
  out.seq = s;
  fillAck(c);
  out.options = ackOptions(c);
  out.payloadOffset = seqSub(s, c.sndUna);
  out.payloadLength = len;
  out.segmentSize = c.ctx.config.txSuperSegments === 0 ? 0 : maxPayload(c);
  if (!transmit(c)) {
    txBlocked(c);
    return false;
  }
  afterAckSent(c);
  const segEnd = withFin ? seqAdd(end, 1) : end;
  if (withFin) {
    c.finSent = true;
    c.finSeq = end;
  }
  if (seqLt(s, c.sndMax)) {
    c.ctx.counters.tcpRetransmits++;
    c.retransmits++;
    if (c.rttTiming && seqLe(s, c.rttSeq)) c.rttTiming = false; // Karn
  } else if (!c.rttTiming) {
    c.rttTiming = true;
    c.rttSeq = s;
    c.rttTime = now;
  }
  if (seqGt(segEnd, c.sndNxt)) c.sndNxt = segEnd;
  if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
  if (c.rtoAt === Infinity) c.rtoAt = now + c.rtt.rto;
  c.lastDataAt = now;
  return true;
}

/** A FIN with no data at `s`. Returns false when no transmit buffer was available. */
export function sendFinAt(c: TcpConnection, s: Seq): boolean {
  out.flags = ACK | FIN;
  out.seq = s;
  fillAck(c);
  out.options = ackOptions(c);
  out.payloadOffset = 0;
  out.payloadLength = 0;
  if (!transmit(c)) {
    txBlocked(c);
    return false;
  }
  afterAckSent(c);
  if (c.finSent && seqLt(s, c.sndMax)) {
    c.ctx.counters.tcpRetransmits++;
    c.retransmits++;
  }
  c.finSent = true;
  c.finSeq = s;
  const after = seqAdd(s, 1);
  if (seqGt(after, c.sndNxt)) c.sndNxt = after;
  if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
  if (c.rtoAt === Infinity) c.rtoAt = c.ctx.now + c.rtt.rto;
  return true;
}

/** <SYN> (SYN-SENT) or <SYN,ACK> (SYN-RECEIVED) with the options we offer or accepted. */
export function sendSyn(c: TcpConnection): void {
  const passive = c.state === "SYN-RECEIVED";
  const o = outOpts.reset();
  o.mss = c.mtuMss();
  if (passive) {
    if (c.sackOk) o.sackPermitted = true;
    if (c.tsOk) fillTimestamps(c, o);
    if (c.wsOk) o.windowScale = c.rcvWscale;
  } else {
    o.sackPermitted = true;
    fillTimestamps(c, o);
    o.tsEcr = 0;
    o.windowScale = c.rcvWscale;
  }
  out.flags = passive ? SYN | ACK : SYN;
  out.seq = c.iss;
  out.ack = passive ? c.rcvNxt : 0;
  // RFC 7323 §2.2: the window in a SYN or SYN-ACK is not scaled. A SYN-ACK's comes from the receive
  // budget like any other (offeredWindow), and a retransmitted one repeats at least what the first offered.
  out.window = passive ? Math.min(Math.max(offeredWindow(c), seqSub(c.rcvAdv, c.rcvNxt)), 0xffff) : Math.min(c.recvBuffer.window, 0xffff);
  out.options = o;
  out.payloadOffset = 0;
  out.payloadLength = 0;
  if (passive) {
    c.rcvAdv = seqAdd(c.rcvNxt, out.window);
    c.ctx.counters.receiveBudget.account(c);
  }
  // Karn (RFC 6298 §3): only a SYN sent once can be timed; sndMax is past the ISS once one went out.
  const first = c.sndMax === c.iss;
  c.synSentAt = first ? c.ctx.now : -1;
  if (transmit(c)) {
    c.sndNxt = seqAdd(c.iss, 1);
    c.sndMax = c.sndNxt;
    if (passive) c.lastAckSent = c.rcvNxt;
  } else {
    // No transmit buffer: try again shortly (timers.ts onTimer's txRetryAt), as for data and ACKs.
    txBlocked(c);
  }
  c.rtoAt = c.ctx.now + c.rtt.rto;
}

/** A pure ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
export function sendAck(c: TcpConnection): void {
  if (c.state === "SYN-SENT" || c.state === "CLOSED") return;
  out.flags = ACK;
  out.seq = ackSeq(c);
  fillAck(c);
  out.options = ackOptions(c);
  out.payloadOffset = 0;
  out.payloadLength = 0;
  if (!transmit(c)) {
    // The ACK is still owed (RFC 9293 §3.8.6.3: delayed, never dropped): the retry's output sends it.
    // Without this a delayed ACK for less than a full segment, whose timer has already been cleared
    // and which never re-arms it, would be lost.
    c.ackNow = true;
    txBlocked(c);
    return;
  }
  afterAckSent(c);
}

/**
 * The persist timer's zero-window probe (RFC 9293 §3.8.6.1) and the keep-alive probe (§3.8.4): like
 * Linux, <SEQ=SND.UNA-1><ACK=RCV.NXT><CTL=ACK> with no data, which the peer must answer with an ACK
 * carrying its current window. The one segment outside the peer's window.
 */
export function sendProbe(c: TcpConnection): void {
  out.flags = ACK;
  out.seq = seqAdd(c.sndUna, -1);
  fillAck(c);
  out.options = ackOptions(c);
  out.payloadOffset = 0;
  out.payloadLength = 0;
  if (transmit(c)) afterAckSent(c);
}

/** A RST for this connection: <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.5 ABORT). */
export function sendReset(c: TcpConnection): void {
  if (c.state === "SYN-SENT" || c.state === "CLOSED" || c.state === "TIME-WAIT") return;
  sendRawReset(c, c.sndNxt, seq(0), false);
}

/** <SEQ=s><ACK=a><CTL=RST(,ACK)>; not retried. */
export function sendRawReset(c: TcpConnection, s: Seq, a: Seq, withAck: boolean): void {
  out.flags = RST | (withAck ? ACK : 0);
  out.seq = s;
  out.ack = a;
  out.window = 0;
  out.options = null;
  out.payloadOffset = 0;
  out.payloadLength = 0;
  transmit(c); // the writer counts it (tcpResetsSent)
}

/**
 * The SEQ of a segment without data: SND.MAX, unless that lies beyond the peer's window, then the
 * window's right edge SND.UNA + SND.WND. A receiver whose window is zero accepts a segment only at
 * exactly RCV.NXT (RFC 9293 §3.10.7.4 acceptability test); data sent before its window closed can put
 * SND.NXT past that, and an ACK carrying SEQ = SND.NXT would then be dropped, ACK field and all: if
 * that ACK is what frees the peer's send buffer (and so lets it read and reopen its window), both
 * sides wait for each other. Linux does the same (tcp_acceptable_seq()), allowing SND.NXT within one
 * unit of the window scale.
 */
function ackSeq(c: TcpConnection): Seq {
  // SND.MAX, not SND.NXT: after a timeout SND.NXT goes back to SND.UNA to resend (go-back-N), but the
  // peer may hold everything up to SND.MAX, and a bare ACK below its RCV.NXT would be unacceptable
  // to it (RFC 793's SND.NXT never goes back; Linux's snd_nxt neither).
  const nxt = c.sndMax;
  const wndEnd = seqAdd(c.sndUna, c.sndWnd);
  if (!seqGt(nxt, wndEnd)) return nxt;
  if (c.wsOk && seqSub(nxt, wndEnd) < 1 << c.sndWscale) return nxt;
  return wndEnd;
}

/**
 * The ACK that answers an unacceptable segment (RFC 9293 §3.10.7.4: out of window, PAWS, an ACK of
 * data not yet sent). When the segment carried nothing but an ACK, at most one answer per
 * OOW_ACK_INTERVAL_MS: two ends that disagree (each finding the other's ACKs out of window) would
 * otherwise answer each other forever, an ACK storm. Linux does the same (tcp_oow_rate_limited(),
 * tcp_invalid_ratelimit = 500 ms); segments with data are always answered (they are not part of a loop).
 */
export function ackUnacceptable(c: TcpConnection, carriesSomething: boolean): void {
  if (!carriesSomething) {
    const now = c.ctx.now;
    if (now - c.lastOowAckAt < OOW_ACK_INTERVAL_MS) return;
    c.lastOowAckAt = now;
  }
  sendAck(c);
}

/** RFC 5961 §7: challenge ACKs, rate-limited. */
export function challengeAck(c: TcpConnection): void {
  const now = c.ctx.now;
  if (now - c.lastChallengeAckAt < CHALLENGE_ACK_INTERVAL_MS) return;
  c.lastChallengeAckAt = now;
  c.ctx.counters.tcpChallengeAcks++;
  sendAck(c);
}

/** ACK number and window for an outgoing segment. */
function fillAck(c: TcpConnection): void {
  out.ack = c.rcvNxt;
  out.window = windowField(c);
  // RFC 7323 §2.4 / RFC 9293 §3.8.6.2.2: never shrink the window (the right edge never moves left).
  const right = seqAdd(c.rcvNxt, out.window << c.rcvWscale);
  if (seqGt(right, c.rcvAdv)) c.rcvAdv = right;
  c.ctx.counters.receiveBudget.account(c);
}

/**
 * The window we would offer now: the free receive space, clamped under memory pressure (lib/memory.ts,
 * SHRINK and up) to two segments of the peer's, as Linux's tcp_clamp_window clamps rcv_ssthresh to
 * 2 * rcv_mss under tcp_memory_pressure. The clamp only slows the right edge: `windowField` never
 * moves it left (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4), so a window already offered shrinks only as
 * data fills it. Two segments keep every flow moving while the budget recovers. A flow holding no
 * storage whose delivery runs is not clamped: its in-order data goes to the application straight
 * from the packet and costs nothing.
 */
export function offeredWindow(c: TcpConnection): number {
  // The global receive budget (receive-budget.ts) first: a share of it, never below two segments.
  const free = c.ctx.counters.receiveBudget.clamp(c, c.recvBuffer.window);
  // A flow that holds nothing and delivers as data comes costs the budget nothing: not clamped.
  if (c.ctx.counters.memory.pressure === MemoryPressure.NONE || (c.recvBuffer.capacityBytes === 0 && !c.rxPaused)) {
    return free;
  }
  const clamp = 2 * c.rcvMss; // rcvMss starts at 536 (RFC 9293 §3.7.1's default) and only grows
  return free < clamp ? free : clamp;
}

/** The window field: free receive space (offeredWindow), scaled down, never moving the right edge left. */
export function windowField(c: TcpConnection): number {
  const free = offeredWindow(c);
  const promised = Math.max(0, seqSub(c.rcvAdv, c.rcvNxt));
  const field = free >= promised ? free >>> c.rcvWscale : Math.ceil(promised / (1 << c.rcvWscale));
  return Math.min(field, 0xffff);
}

/** Options on a non-SYN segment: timestamps (RFC 7323 §3.2) and SACK blocks (RFC 2018 §4). */
function ackOptions(c: TcpConnection): TcpOptions | null {
  if (!c.tsOk && !(c.sackOk && c.recvBuffer.hasOutOfOrder)) return null;
  const o = outOpts.reset();
  if (c.tsOk) fillTimestamps(c, o);
  if (c.sackOk && c.recvBuffer.hasOutOfOrder) {
    const max = c.tsOk ? 3 : MAX_SACK_BLOCKS;
    const n = c.recvBuffer.oooRanges(sackScratch, max);
    for (let i = 0; i < n; i++) {
      o.sackBlocks[i * 2] = seqAdd(c.rcvNxt, sackScratch[i * 2]!);
      o.sackBlocks[i * 2 + 1] = seqAdd(c.rcvNxt, sackScratch[i * 2 + 1]!);
    }
    o.sackCount = n;
  }
  return o;
}

function fillTimestamps(c: TcpConnection, o: TcpOptions): void {
  o.hasTimestamps = true;
  o.tsVal = tsClock(c.ctx.now, c.tsOffset);
  o.tsEcr = c.tsRecent;
}

/** An ACK went out (alone or on data): nothing more is owed. */
function afterAckSent(c: TcpConnection): void {
  c.lastAckSent = c.rcvNxt;
  c.ackNow = false;
  c.unackedSegments = 0;
  c.delayedAckAt = Infinity;
}

/** No transmit buffer: try again shortly (timers.ts). */
function txBlocked(c: TcpConnection): void {
  c.txRetryAt = c.ctx.now + TX_RETRY_MS;
}

/** Hand the scratch segment to the engine; count it for l4Info when it went out. */
function transmit(c: TcpConnection): boolean {
  if (!c.ctx.transmit(c, out)) return false;
  const size = out.segmentSize;
  c.segmentsOut += size > 0 && out.payloadLength > size ? Math.ceil(out.payloadLength / size) : 1;
  c.bytesOut += out.payloadLength;
  return true;
}
