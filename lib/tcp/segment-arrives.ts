/**
 * SEGMENT ARRIVES (RFC 9293 §3.10.7) for a connection. SYN-SENT has its own section (§3.10.7.3); every
 * later state follows §3.10.7.4's eight checks, one function each, in the RFC's order. Each opens with
 * its section and returns CONTINUE or DROP ("drop the segment and return"). What the steps queue for
 * the application fires after the last one (events.ts), and output follows (connection.ts).
 *
 * Read with it: RFC 5961 (blind RST, SYN and data injection: challenge ACKs), RFC 7323 §5 (PAWS),
 * and, for the sender's side of the ACK, recovery.ts.
 */
import { AppEvent } from "../events.js";
import { EngineDrop } from "../stats.js";
import { TcpFlag, type TcpOptions, type TcpPacket } from "../wire/tcp.js";
import type { TcpConnection } from "./connection.js";
import { CloseCause } from "./context.js";
import { completeHandshake, negotiate } from "./open.js";
import { ackUnacceptable, challengeAck, sendRawReset, sendSyn } from "./output.js";
import { advanceInOrder, checkFin, queueDelivery, receiveText, trimToWindow } from "./receive.js";
import { onDupAck, onNewAck } from "./recovery.js";
import { seq, seqAdd, seqGt, seqInWindow, seqLe, seqLt, seqSub, type Seq } from "./seq.js";
import { enterTimeWait, finish, setState } from "./state.js";

const ACK = TcpFlag.ACK;
const SYN = TcpFlag.SYN;
const FIN = TcpFlag.FIN;
const RST = TcpFlag.RST;

const CONTINUE = true;
const DROP = false;

/** The arriving segment as the steps see it; the text step trims it to the window. */
export interface Arrival {
  seg: TcpPacket;
  opts: TcpOptions;
  flags: number;
  /** SEG.SEQ, of the first byte of text once trimmed. */
  seq: Seq;
  ack: Seq;
  /** SEG.LEN: text plus SYN and FIN. */
  len: number;
  /** The text: where it is in `seg.bytes`, how long. */
  dataOff: number;
  dataLen: number;
  syn: boolean;
  fin: boolean;
}

/** One segment at a time: the engine is single-threaded and a step finishes before the next begins. */
const a: Arrival = {
  seg: null as unknown as TcpPacket,
  opts: null as unknown as TcpOptions,
  flags: 0,
  seq: seq(0),
  ack: seq(0),
  len: 0,
  dataOff: 0,
  dataLen: 0,
  syn: false,
  fin: false,
};

/**
 * RFC 9293 §3.10.7: the segment for this connection, by state. Returns how many bytes of text the
 * header prediction took (`predicted`: the caller hands them to the application once the step is
 * complete), else 0 (any text was queued as an RX event, or buffered).
 */
export function segmentArrives(c: TcpConnection, seg: TcpPacket, opts: TcpOptions): number {
  c.segmentsIn++;
  c.lastRecvAt = c.ctx.now;
  c.keepAliveProbes = 0;
  const flags = seg.flags;
  const segSeq = seq(seg.seq);
  const segAck = seq(seg.ack);
  if (predicted(c, seg, opts, flags, segSeq, segAck)) return seg.payloadLength;
  if (predictedAck(c, seg, opts, flags, segSeq, segAck)) return 0;
  a.seg = seg;
  a.opts = opts;
  a.flags = flags;
  a.seq = segSeq;
  a.ack = segAck;
  a.dataOff = seg.payloadOffset;
  a.dataLen = seg.payloadLength;
  a.syn = (a.flags & SYN) !== 0;
  a.fin = (a.flags & FIN) !== 0;
  a.len = a.dataLen + (a.syn ? 1 : 0) + (a.fin ? 1 : 0);
  switch (c.state) {
    case "CLOSED":
      break;
    case "SYN-SENT":
      synSentArrives(c, a);
      break;
    default:
      synchronizedArrives(c, a);
  }
  return 0;
}

/**
 * Header prediction, as Linux's tcp_rcv_established does it (RFC 9293 does not ask for one): the
 * common segment of a connection that only receives, taken without the record and the eight steps.
 * It is exact: it applies only when every step of `synchronizedArrives` would take its common case,
 * and then does what those steps would do, through the same helpers; any other segment returns
 * false and takes the general way. The segment is: ESTABLISHED; ACK, perhaps PSH, no other flag
 * (so no SYN, RST, FIN or URG step applies); SEG.SEQ = RCV.NXT with 0 < SEG.LEN =< RCV.WND (the
 * sequence check and the trim to the window pass untouched); no TSval older than TS.Recent (PAWS
 * passes); SEG.ACK = SND.UNA (acceptable, nothing newly acknowledged: no RTT sample, no congestion
 * step, and with text in the segment no duplicate ACK either); no SACK blocks (the scoreboard is
 * untouched); nothing held in the receive buffer, delivery running and no FIN pending (the text goes
 * straight to the application, the FIN step has nothing to do). ESTABLISHED has
 * no state-specific ACK step.
 *
 * The text is the step's last event (nothing is buffered to drain and no FIN is received), so it is
 * not queued: the caller (connection.ts afterStep) hands it to the application right after the events
 * queued before it, which is when the queue would fire it (events.ts). The queue's push and firing
 * cost about 5 % of an in-order segment's l3Rx (spec/bench/ab-l3rx.ts).
 */
function predicted(c: TcpConnection, seg: TcpPacket, opts: TcpOptions, flags: number, segSeq: Seq, segAck: Seq): boolean {
  if ((flags & ~TcpFlag.PSH) !== ACK || segSeq !== c.rcvNxt || segAck !== c.sndUna || c.state !== "ESTABLISHED") return false;
  const len = seg.payloadLength;
  if (len === 0 || len > seqSub(c.rcvAdv, segSeq)) return false;
  if (c.tsOk && ((opts.tsVal - c.tsRecent) | 0) < 0) return false;
  const rb = c.recvBuffer;
  if (opts.sackCount > 0 || rb.readable !== 0 || rb.hasOutOfOrder || c.rxPaused || c.hasPendingFin) return false;
  // Fifth step (the first four pass), RFC 7323 §4.3 first.
  updateTsRecent(c, opts, segSeq);
  c.probesOut = 0;
  updateSendWindow(c, segSeq, segAck, 0, seg.window << c.sndWscale);
  sendSpace(c);
  // Seventh step (the text is handed over by the caller); the eighth (FIN) has nothing to do, and
  // neither has queueDelivery, which the general way ends with.
  advanceInOrder(c, len);
  return true;
}

/**
 * Header prediction's other half, as Linux's tcp_rcv_established takes a pure ACK: the common segment
 * of a connection that only sends, an ACK of new data. Exact in the same way as `predicted`: the
 * segment is ESTABLISHED; ACK, perhaps PSH, no other flag; no text; SEG.SEQ = RCV.NXT (acceptable
 * whatever the window, RFC 9293 §3.10.7.4 first check); no TSval older than TS.Recent; SND.UNA <
 * SEG.ACK =< SND.MAX (acceptable, RFC 5961 §5.2, and new: no duplicate ACK); no SACK blocks. The
 * fifth step then does what `checkAck` does for it, through the same helpers (ESTABLISHED has no
 * state-specific ACK step), and the seventh and eighth have nothing to do (`trimToWindow` would drop
 * the empty segment).
 */
function predictedAck(c: TcpConnection, seg: TcpPacket, opts: TcpOptions, flags: number, segSeq: Seq, segAck: Seq): boolean {
  if ((flags & ~TcpFlag.PSH) !== ACK || segSeq !== c.rcvNxt || c.state !== "ESTABLISHED" || seg.payloadLength !== 0) return false;
  const acked = seqSub(segAck, c.sndUna);
  if (acked <= 0 || seqGt(segAck, c.sndMax)) return false;
  if (c.tsOk && ((opts.tsVal - c.tsRecent) | 0) < 0) return false;
  if (opts.sackCount > 0) return false;
  updateTsRecent(c, opts, segSeq);
  c.probesOut = 0;
  updateSendWindow(c, segSeq, segAck, acked, seg.window << c.sndWscale);
  onNewAck(c, segAck, acked, opts);
  sendSpace(c);
  return true;
}

/** RFC 9293 §3.10.7.3 SYN-SENT STATE. */
function synSentArrives(c: TcpConnection, s: Arrival): void {
  const flags = s.flags;
  // First, check the ACK bit.
  if (flags & ACK) {
    if (seqLe(s.ack, c.iss) || seqGt(s.ack, c.sndMax)) {
      // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set)".
      if (!(flags & RST)) sendRawReset(c, s.ack, seq(0), false);
      c.ctx.counters.drop(EngineDrop.BAD_ACK);
      return;
    }
  }
  // Second, check the RST bit: acceptable only with an acceptable ACK (RFC 5961 §3.2 adds nothing here).
  // "signal to the user 'error: connection reset'"; the user of a socket knows it as ECONNREFUSED.
  if (flags & RST) {
    if (flags & ACK) finish(c, CloseCause.REFUSED);
    else c.ctx.counters.drop(EngineDrop.RST_INVALID);
    return;
  }
  // Third, the security check: nothing to check (RFC 9293 §3.10.7.3 "If the security/compartment ...").
  // Fourth, check the SYN bit.
  if (!s.syn) return;
  c.irs = s.seq;
  c.rcvNxt = seqAdd(c.irs, 1);
  c.rcvAdv = c.rcvNxt;
  negotiate(c, s.opts, false);
  if (c.tsOk) c.tsRecent = s.opts.tsVal;
  if (!(flags & ACK)) {
    // Simultaneous open: SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    c.sndWnd = s.seg.window;
    c.maxSndWnd = c.sndWnd;
    setState(c, "SYN-RECEIVED");
    c.sndNxt = c.iss;
    sendSyn(c);
    return;
  }
  // Our SYN is acknowledged. The window of a SYN-ACK is not scaled (RFC 7323 §2.2).
  completeHandshake(c, s.seg.window, c.irs, s.ack, s.opts);
  c.ackNow = true;
  // "If there are other controls or text in the segment, continue processing at the sixth step."
  if (s.dataLen > 0 || s.fin) {
    const len = Math.min(s.dataLen, c.recvBuffer.window);
    s.fin = s.fin && len === s.dataLen;
    s.dataLen = len;
    s.seq = c.rcvNxt;
    receiveText(c, s);
    checkFin(c);
    queueDelivery(c);
  }
}

/** RFC 9293 §3.10.7.4 "Otherwise": SYN-RECEIVED and every later state, eight checks in order. */
function synchronizedArrives(c: TcpConnection, s: Arrival): void {
  if (retransmittedSyn(c, s) === DROP) return;
  if (checkPaws(c, s) === DROP) return;
  if (checkSequence(c, s) === DROP) return;
  if (checkRst(c, s) === DROP) return;
  // Third, check security: RFC 9293 §3.10.7.4 "If the security/compartment ..."; we have none to check.
  if (checkSyn(c, s) === DROP) return;
  updateTsRecent(c, s.opts, s.seq);
  if (checkAck(c, s) === DROP) return;
  // Sixth, check the URG bit: RFC 6093 §5, urgent data is delivered in line; nothing to do.
  // Seventh, process the segment text; eighth, check the FIN bit (receive.ts).
  if (trimToWindow(c, s) === DROP) return;
  receiveText(c, s);
  checkFin(c);
  queueDelivery(c);
}

/**
 * A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost; answer with the SYN-ACK again. It must
 * be recognised before the sequence check, which would find it below RCV.NXT and answer with a bare
 * ACK (RFC 9293 §3.10.7.4 first check); Linux does the same (tcp_check_req: "retransmitted SYN").
 */
function retransmittedSyn(c: TcpConnection, s: Arrival): boolean {
  if (!s.syn) return CONTINUE;
  return synAgain(c, s);
}

/** retransmittedSyn, a segment with SYN: the peer's SYN again, in SYN-RECEIVED, gets the SYN-ACK again. */
function synAgain(c: TcpConnection, s: Arrival): boolean {
  if ((s.flags & (ACK | RST)) !== 0 || c.state !== "SYN-RECEIVED" || s.seq !== c.irs) return CONTINUE;
  c.sndNxt = c.iss;
  sendSyn(c);
  return DROP;
}

/** RFC 7323 §5.3 R1: PAWS, before the sequence check. A RST is exempt (§5.3 R1 / Linux). */
function checkPaws(c: TcpConnection, s: Arrival): boolean {
  if (!c.tsOk || ((s.opts.tsVal - c.tsRecent) | 0) >= 0) return CONTINUE;
  return pawsFails(c, s);
}

/** checkPaws, a TSval older than TS.Recent: PAWS drops it unless the segment is exempt. */
function pawsFails(c: TcpConnection, s: Arrival): boolean {
  if (!s.opts.hasTimestamps || (s.flags & RST) !== 0 || c.state === "SYN-RECEIVED") return CONTINUE;
  c.ctx.counters.drop(EngineDrop.PAWS);
  ackUnacceptable(c, s.dataLen > 0 || s.syn || s.fin);
  return DROP;
}

/** RFC 7323 §4.3: TS.Recent follows the segment that covers Last.ACK.sent (a segment past the checks above). */
function updateTsRecent(c: TcpConnection, opts: TcpOptions, segSeq: Seq): void {
  if (c.tsOk && opts.hasTimestamps && seqLe(segSeq, c.lastAckSent) && ((opts.tsVal - c.tsRecent) | 0) >= 0) {
    c.tsRecent = opts.tsVal;
  }
}

/** RFC 9293 §3.10.7.4 first: the sequence number, by the four cases of the acceptability test. */
function checkSequence(c: TcpConnection, s: Arrival): boolean {
  // The common case first: text at RCV.NXT inside an open window.
  if (s.seq === c.rcvNxt && s.len > 0 && seqSub(c.rcvAdv, c.rcvNxt) > 0) return CONTINUE;
  return sequenceOther(c, s);
}

/** checkSequence for every other segment: the four cases in full. */
function sequenceOther(c: TcpConnection, s: Arrival): boolean {
  const rcvWnd = c.rcvWnd();
  if (acceptable(c, s.seq, s.len, rcvWnd)) return CONTINUE;
  // A zero window still takes valid ACKs, URGs and RSTs: a segment exactly at RCV.NXT has its text
  // dropped below (trimmed to the window) but its ACK processed.
  if (rcvWnd === 0 && s.seq === c.rcvNxt) return CONTINUE;
  const counters = c.ctx.counters;
  if (!(s.flags & RST)) {
    // "If an incoming segment is not acceptable, an acknowledgment should be sent in reply".
    ackUnacceptable(c, s.len > 0);
    if (s.len > 0 && seqLt(seqAdd(s.seq, s.len), seqAdd(c.rcvNxt, 1))) counters.tcpDupAcksSent++;
  }
  counters.drop(EngineDrop.OUT_OF_WINDOW);
  return DROP;
}

function acceptable(c: TcpConnection, segSeq: Seq, segLen: number, rcvWnd: number): boolean {
  if (segLen === 0) {
    if (rcvWnd === 0) return segSeq === c.rcvNxt;
    return seqInWindow(segSeq, c.rcvNxt, rcvWnd);
  }
  if (rcvWnd === 0) return false;
  return seqInWindow(segSeq, c.rcvNxt, rcvWnd) || seqInWindow(seqAdd(segSeq, segLen - 1), c.rcvNxt, rcvWnd);
}

/** RFC 9293 §3.10.7.4 second: the RST bit, as RFC 5961 §3.2 narrows it. */
function checkRst(c: TcpConnection, s: Arrival): boolean {
  if (!(s.flags & RST)) return CONTINUE;
  return rstArrives(c, s);
}

/** checkRst, the RST bit set: exactly at RCV.NXT it resets the connection, else a challenge ACK. */
function rstArrives(c: TcpConnection, s: Arrival): boolean {
  if (s.seq === c.rcvNxt) {
    finish(c, CloseCause.RESET_RECEIVED);
  } else {
    // In the window but not exact: a challenge ACK (RFC 5961 §3.2).
    c.ctx.counters.drop(EngineDrop.RST_INVALID);
    challengeAck(c);
  }
  return DROP;
}

/** RFC 9293 §3.10.7.4 fourth: the SYN bit. RFC 5961 §4.2: any SYN in a synchronized state gets a challenge ACK. */
function checkSyn(c: TcpConnection, s: Arrival): boolean {
  if (!s.syn) return CONTINUE;
  return synInWindow(c);
}

function synInWindow(c: TcpConnection): boolean {
  c.ctx.counters.drop(EngineDrop.SYN_IN_WINDOW);
  challengeAck(c);
  return DROP;
}

/**
 * RFC 9293 §3.10.7.4 fifth: the ACK field. "If the ACK bit is off, drop the segment and return."
 * SYN-RECEIVED completes the handshake; then, for every state, the acceptability of SEG.ACK
 * (RFC 5961 §5.2), the send window, the sender's bookkeeping (recovery.ts) and the state-specific
 * steps (FIN-WAIT-1, CLOSING, LAST-ACK).
 */
function checkAck(c: TcpConnection, s: Arrival): boolean {
  const counters = c.ctx.counters;
  if (!(s.flags & ACK)) {
    counters.drop(EngineDrop.NO_ACK);
    return DROP;
  }
  const segAck = s.ack;
  if (c.state === "SYN-RECEIVED") {
    if (seqLe(segAck, c.sndUna) || seqGt(segAck, c.sndMax)) {
      // "If the segment acknowledgment is not acceptable, form a reset segment, <SEQ=SEG.ACK><CTL=RST>".
      sendRawReset(c, segAck, seq(0), false);
      counters.drop(EngineDrop.BAD_ACK);
      return DROP;
    }
    // The window of the ACK that completes the handshake is scaled (RFC 7323 §2.2).
    completeHandshake(c, s.seg.window << c.sndWscale, s.seq, segAck, s.opts);
  }
  // RFC 5961 §5.2: acceptable if (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT.
  if (seqGt(segAck, c.sndMax)) {
    // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the segment."
    counters.drop(EngineDrop.BAD_ACK);
    ackUnacceptable(c, s.dataLen > 0 || s.fin);
    return DROP;
  }
  if (seqLt(segAck, seqAdd(c.sndUna, -Math.max(c.maxSndWnd, 1)))) {
    counters.drop(EngineDrop.BAD_ACK);
    challengeAck(c);
    return DROP;
  }

  // An acceptable ACK answers any zero-window probe (as Linux resets icsk_probes_out in tcp_ack).
  c.probesOut = 0;
  const acked = seqSub(segAck, c.sndUna);
  const window = s.seg.window << c.sndWscale;
  const opts = s.opts;
  let newlySacked = 0;
  if (c.sackOk && opts.sackCount > 0 && c.scoreboard !== null) {
    newlySacked = c.scoreboard.update(c.sndUna, c.sndMax, opts.sackBlocks, opts.sackCount);
  }
  // RFC 5681 §2 (e): a duplicate ACK advertises the window the last one did.
  const sameWindow = window === c.sndWnd;

  // "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated. If (SND.WL1 < SEG.SEQ or
  // (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set SND.WND <- SEG.WND ...". SND.WND counts from
  // SND.UNA, so the window must move with it; like Linux (tcp_may_update_window, and tcp_ack's
  // old_ack) we take it from every segment that acknowledges new data, whatever its SEQ (a
  // retransmission carries an old SEQ with the latest ACK), and from no segment whose ACK is older
  // than SND.UNA. Else the right edge SND.UNA + SND.WND would move past anything the peer offered.
  // This runs before the loss-recovery steps below, whose retransmissions must fit the window this
  // ACK advertises (RFC 9293 §3.8.6), as tcp_ack runs tcp_ack_update_window before
  // tcp_fastretrans_alert.
  updateSendWindow(c, s.seq, segAck, acked, window);

  // "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK": the sender's side (recovery.ts).
  if (acked > 0) onNewAck(c, segAck, acked, opts);
  if (newlySacked > 0 && seqGt(c.sndMax, c.sndUna)) {
    // RFC 6675 §2: with SACK, "an ACK which carries new SACK data is counted as a duplicate
    // acknowledgment ... even if it carries new data, changes the advertised window, or moves the
    // cumulative acknowledgment point"; §5: a cumulative ACK first resets DupAcks (onNewAck).
    onDupAck(c);
  } else if (acked === 0 && s.dataLen === 0 && !s.fin && sameWindow && seqGt(c.sndMax, c.sndUna)) {
    // RFC 5681 §2 DUPLICATE ACKNOWLEDGMENT (a) .. (e).
    onDupAck(c);
  }
  sendSpace(c);

  // The state-specific steps.
  const finAcked = c.finSent && seqGt(c.sndUna, c.finSeq);
  if (!finAcked) return CONTINUE;
  switch (c.state) {
    case "FIN-WAIT-1":
      // "if the FIN segment is now acknowledged, then enter FIN-WAIT-2 and continue processing".
      setState(c, "FIN-WAIT-2");
      return CONTINUE;
    case "CLOSING":
      // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state; otherwise, ignore the segment."
      enterTimeWait(c);
      return DROP;
    case "LAST-ACK":
      // "If our FIN is now acknowledged, delete the TCB, enter the CLOSED state, and return."
      finish(c, CloseCause.CLOSED);
      return DROP;
    default:
      return CONTINUE;
  }
}

/** checkAck: the send window update (SND.WND, SND.WL1, SND.WL2), by the rule quoted there. */
function updateSendWindow(c: TcpConnection, segSeq: Seq, segAck: Seq, acked: number, window: number): void {
  if (acked > 0 || (acked === 0 && (seqLt(c.sndWl1, segSeq) || (c.sndWl1 === segSeq && seqLe(c.sndWl2, segAck))))) {
    c.sndWnd = window;
    c.sndWl1 = segSeq;
    c.sndWl2 = segAck;
    if (window > c.maxSndWnd) c.maxSndWnd = window;
    if (window > 0) {
      c.persistAt = Infinity;
      c.persistBackoff = 0;
    }
  }
}

/**
 * checkAck: send space freed: l4TxReady, fired after this step, so an l4Tx from it sizes its segments
 * against the window just updated (as Linux's tcp_check_space runs after tcp_ack).
 */
function sendSpace(c: TcpConnection): void {
  if (c.txWanted && c.sendBuffer.free > 0) {
    c.txWanted = false;
    c.ctx.event(AppEvent.TX_READY, c, null);
  }
}
