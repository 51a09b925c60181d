/**
 * The sender's side of an acknowledgment: what a new ACK frees and measures (RFC 6298 RTT and RTO,
 * RFC 7323 §4 timestamps), congestion control (RFC 5681, the algorithm behind congestion/), and loss
 * recovery: fast retransmit and NewReno (RFC 5681 §3.2, RFC 6582), and SACK-based recovery
 * (RFC 6675, with the scoreboard of sack-scoreboard.ts). RACK-TLP (RFC 8985) would live here too.
 *
 * Every retransmission stays inside the peer's window, SND.UNA + SND.WND (RFC 9293 §3.8.6), as
 * Linux's __tcp_retransmit_skb keeps it: see `retransmitRoom`.
 */
import type { TcpOptions } from "../wire/tcp.js";
import type { TcpConnection } from "./connection.js";
import { maxPayload, sendData, sendFinAt } from "./output.js";
import { DUP_THRESH, NextSegRule } from "./sack-scoreboard.js";
import { seqAdd, seqGe, seqGt, seqLt, seqSub, type Seq } from "./seq.js";
import { tsRttSample } from "./timestamps.js";

/** SEG.ACK advanced SND.UNA by `acked` (data, FIN, or both). */
export function onNewAck(c: TcpConnection, segAck: Seq, acked: number, opts: TcpOptions): void {
  const now = c.ctx.now;
  // Bytes of data acknowledged (the FIN takes a sequence number but no buffer space).
  const dataAcked = Math.min(acked, c.sendBuffer.length);
  const flightBefore = c.flightSize();
  c.sendBuffer.consume(dataAcked);
  c.bytesAcked += dataAcked;
  c.sndUna = segAck;
  if (seqLt(c.sndNxt, c.sndUna)) c.sndNxt = c.sndUna;
  c.scoreboard?.advance(segAck);
  if (dataAcked > 0) c.lastDataAt = now;

  // RTT (RFC 7323 §4 with timestamps, else RFC 6298 §3 Karn's algorithm). One segment is timed
  // even with timestamps: a peer whose ACKs echo no TSval (TSecr 0) still gives samples, as Linux
  // falls back to sequence-based timing; without any sample a backed-off RTO would never come down.
  const timed = c.rttTiming && seqGt(segAck, c.rttSeq);
  if (timed) c.rttTiming = false;
  if (c.tsOk && opts.hasTimestamps && opts.tsEcr !== 0) {
    const sample = tsRttSample(now, c.tsOffset, opts.tsEcr);
    if (sample >= 0) c.rtt.sample(sample);
  } else if (timed) {
    c.rtt.sample(now - c.rttTime);
  }
  c.retries = 0;

  // Congestion control and recovery.
  if (c.inRecovery) {
    if (seqGe(segAck, c.recover)) {
      // Full ACK: leave recovery (RFC 6582 §3.2 step 6; RFC 6675 §5 "RecoveryPoint").
      c.inRecovery = false;
      c.dupAcks = 0;
      c.cc.onExitRecovery(flightBefore - acked);
    } else if (!c.sackOk) {
      // NewReno partial ACK (RFC 6582 §3.2 step 5): retransmit the first unacknowledged segment,
      // deflate the window by the amount acknowledged, add back one SMSS if at least that much.
      retransmitFirst(c);
      c.cc.deflate(acked);
      if (acked >= c.smss()) c.cc.inflate(c.smss());
      // "reset the retransmit timer" for the first partial ACK only (§3.2 step 5 "Impatient" variant is not used).
      c.rtoAt = now + c.rtt.rto;
    }
  } else {
    c.dupAcks = 0;
    // RFC 7661 §4.3: grow cwnd only while it was what limited the sender.
    const cwndLimited = flightBefore + c.smss() >= c.cc.cwnd;
    c.cc.onAck(dataAcked, now, c.rtt.srtt, false, cwndLimited);
  }

  // RFC 6298 §5.2/5.3: all acked: stop the timer; else restart it.
  if (c.sndUna === c.sndMax) c.rtoAt = Infinity;
  else if (!c.inRecovery || c.sackOk) c.rtoAt = now + c.rtt.rto;
}

/** RFC 5681 §3.2 / RFC 6675 §5: a duplicate ACK. */
export function onDupAck(c: TcpConnection): void {
  c.dupAcks++;
  if (c.inRecovery) {
    // RFC 5681 §3.2 step 4 (NewReno): inflate by one SMSS per further duplicate ACK.
    if (!c.sackOk) c.cc.inflate(c.smss());
    return;
  }
  const lost = c.sackOk && c.scoreboard !== null && c.scoreboard.isLost(c.sndUna, DUP_THRESH, c.smss());
  if (c.dupAcks < DUP_THRESH && !lost) return;
  // RFC 6582 §3.2 step 2: only if the ACK covers more than "recover" (no new recovery for old loss).
  // With SACK the same: after a timeout no new recovery "until HighACK is greater than or equal to
  // the new value of RecoveryPoint" (RFC 6675 §5.1; Linux stays in CA_Loss until snd_una passes high_seq).
  if (!seqGt(c.sndUna, c.recover) && c.recover !== c.iss) {
    if (seqLt(c.sndUna, c.recover)) return;
  }
  enterRecovery(c);
}

/** Fast retransmit (RFC 5681 §3.2 steps 2-3; RFC 6675 §5 step 4). */
function enterRecovery(c: TcpConnection): void {
  c.inRecovery = true;
  c.recover = c.sndMax;
  c.cc.onEnterRecovery(c.flightSize(), c.ctx.now);
  // RFC 5681 §3.2 step 3 (NewReno only): cwnd = ssthresh + 3*SMSS for the segments that left.
  if (!c.sackOk) c.cc.inflate(DUP_THRESH * c.smss());
  c.ctx.counters.tcpFastRetransmits++;
  c.rttTiming = false;
  const len = retransmitFirst(c);
  // RFC 6675 §5 step 4: RecoveryPoint = HighData; HighRxt and RescueRxt after the first retransmission.
  c.scoreboard?.enterRecovery(c.sndUna, c.sndMax, len);
  c.rtoAt = c.ctx.now + c.rtt.rto;
}

/**
 * Retransmit the first unacknowledged segment (RTO, fast retransmit, NewReno partial ACK): at most
 * one SMSS from SND.UNA and never past SND.UNA + SND.WND (RFC 9293 §3.8.6); returns the bytes of
 * data it covered. A FIN rides along only when it, too, is inside the window.
 */
export function retransmitFirst(c: TcpConnection): number {
  const room = retransmitRoom(c, c.sndUna);
  const len = Math.min(maxPayload(c), Math.max(0, seqSub(c.dataEnd(), c.sndUna)), room);
  if (len > 0) {
    const withFin = c.finSent && seqAdd(c.sndUna, len) === c.finSeq && len < room;
    sendData(c, c.sndUna, len, withFin);
  } else if (c.finSent) {
    sendFinAt(c, c.sndUna);
  }
  return len;
}

/**
 * Sequence space a retransmission starting at `s` may use: up to the right edge of the peer's
 * window, SND.UNA + SND.WND (RFC 9293 §3.8.6: the sender must not send beyond it); 0 when `s` is
 * at or past it. The one exception is a zero window at SND.UNA: then the retransmission of one
 * segment from SND.UNA serves as the zero-window probe RFC 9293 §3.8.6.1 requires ("retransmit ...
 * even if the send window is zero"), and it may be a full segment. Linux does exactly this
 * (__tcp_retransmit_skb: avail_wnd = tcp_wnd_end() - seq; at or below 0 it gives up unless seq is
 * snd_una, where it sends cur_mss; otherwise it cuts the segment to avail_wnd, sub-MSS if need be).
 */
function retransmitRoom(c: TcpConnection, s: Seq): number {
  const room = seqSub(seqAdd(c.sndUna, c.sndWnd), s);
  if (room > 0) return room;
  return s === c.sndUna ? Infinity : 0;
}

/** Bytes the network holds by our estimate: RFC 6675 pipe in SACK recovery, else SND.NXT - SND.UNA. */
export function inFlight(c: TcpConnection): number {
  if (c.inRecovery && c.sackOk && c.scoreboard !== null) {
    return c.scoreboard.pipe(c.sndUna, c.sndMax, DUP_THRESH, c.smss());
  }
  return seqSub(c.sndNxt, c.sndUna);
}

/** RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, send what NextSeg() picks. Returns true if it sent. */
export function sackRecoveryOutput(c: TcpConnection): boolean {
  const sb = c.scoreboard;
  if (sb === null) return false;
  const smss = c.smss();
  let sent = false;
  for (let guard = 0; guard < 1024; guard++) {
    const pipe = sb.pipe(c.sndUna, c.sndMax, DUP_THRESH, smss);
    if (c.cc.cwnd - pipe < smss) break;
    const nxtOff = seqSub(c.sndNxt, c.sndUna);
    const canSendNew = c.sendBuffer.length > nxtOff && c.sndWnd > nxtOff;
    const rule = sb.nextSeg(c.sndUna, c.sndMax, canSendNew, DUP_THRESH, smss);
    if (rule === NextSegRule.NONE) break;
    if (rule === NextSegRule.NEW_DATA) {
      const wndLeft = c.sndWnd - nxtOff;
      const len = Math.min(maxPayload(c), c.sendBuffer.length - nxtOff, wndLeft);
      if (len <= 0) break;
      const withFin = c.finQueued && len === c.sendBuffer.length - nxtOff && len < wndLeft;
      if (!sendData(c, c.sndNxt, len, withFin)) break;
      sent = true;
      continue;
    }
    // Holes and the rescue retransmission (RFC 6675 §4 rules 1, 3, 4) stay inside the peer's window
    // too: a hole beyond its right edge waits (Linux: tcp_xmit_retransmit_queue stops at -EAGAIN).
    const s = sb.nextSegSeq;
    const len = Math.min(sb.nextSegLength, maxPayload(c), seqSub(c.dataEnd(), s), retransmitRoom(c, s));
    if (len <= 0) break;
    if (!sendData(c, s, len, false)) break;
    sb.onRetransmitted(s, len, rule);
    sent = true;
  }
  return sent;
}
