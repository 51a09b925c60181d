/**
 * Opening a connection: the passive open (RFC 9293 §3.10.7.2, LISTEN receives a SYN), the passive
 * open a SYN cookie's ACK completes (RFC 4987 §3.6, `acceptCookie`), the active open (§3.10.1 OPEN),
 * the options both SYNs agree on (RFC 9293 §3.7.1 MSS, RFC 7323 window scale and timestamps,
 * RFC 2018 SACK-permitted), and the one place the handshake completes (§3.10.7.3 and §3.10.7.4 both
 * move to ESTABLISHED through `completeHandshake`).
 *
 * A passive open waits in SYN-RECEIVED counted in the SYN backlog (stats' tcpHalfOpen, bounded by
 * synBacklog; tcp/syn-backlog.ts answers with cookies past it) until its handshake completes or it
 * ends: `leaveSynBacklog`, exactly once. A simultaneous open is not counted: it is our own.
 */
import { HALF_OPEN_BYTES, MemoryKind } from "../memory.js";
import type { TcpOptions, TcpPacket } from "../wire/tcp.js";
import type { CookieOptions } from "./syn-cookie.js";
import { createCongestionControl } from "./congestion/index.js";
import type { TcpConnection } from "./connection.js";
import { fourTupleWords } from "./isn.js";
import { sendSyn } from "./output.js";
import { SackScoreboard } from "./sack-scoreboard.js";
import { seq, seqAdd, type Seq } from "./seq.js";
import { setState } from "./state.js";
import { DEFAULT_MSS_V4, DEFAULT_MSS_V6, MAX_WINDOW_SCALE } from "./tcb.js";
import { updateDeadline } from "./timers.js";
import { tsRttSample } from "./timestamps.js";

/** Scratch for the 4-tuple words that key the ISN and timestamp-offset hashes. */
const tupleWords = new Uint32Array(9);

/** RFC 9293 §3.10.7.2 LISTEN, a SYN arrives: go to SYN-RECEIVED and send <SYN,ACK>. */
export function acceptSyn(c: TcpConnection, seg: TcpPacket, opts: TcpOptions): void {
  c.segmentsIn++;
  c.inSynBacklog = true;
  c.ctx.counters.tcpHalfOpen++;
  // The memory budget: demux.ts accept charged the record before making the connection (else a SYN
  // cookie went out); leaveSynBacklog gives it back.
  c.irs = seq(seg.seq);
  c.rcvNxt = seqAdd(c.irs, 1);
  c.rcvAdv = c.rcvNxt;
  c.lastAckSent = c.rcvNxt;
  chooseIss(c);
  negotiate(c, opts, true);
  // RFC 7323 §2.2: the window field of a SYN is never scaled.
  c.sndWnd = seg.window;
  c.maxSndWnd = c.sndWnd;
  c.sndWl1 = c.irs;
  c.sndWl2 = c.iss;
  if (c.tsOk) c.tsRecent = opts.tsVal;
  setState(c, "SYN-RECEIVED");
  c.idleAt = c.ctx.now + c.ctx.config.tcpHandshakeTimeoutMs;
  sendSyn(c);
  updateDeadline(c);
}

/**
 * RFC 4987 §3.6: the ACK of a SYN-ACK whose ISS was a SYN cookie (tcp/syn-backlog.ts checked it and
 * gives the MSS and the options the cookie carried). Rebuilds what that SYN-ACK agreed, as Linux's
 * cookie_v4_check / cookie_v6_check: IRS = SEG.SEQ - 1, ISS = SEG.ACK - 1, the MSS from the cookie's
 * table, window scale and SACK-permitted from the TSecr's low bits, and none of them when the ACK
 * carries no timestamps (Linux's tcp_clear_options); our window shift and timestamp offset are what
 * the SYN-ACK used (they depend on the configuration and the 4-tuple alone). Then the handshake
 * completes with this ACK (SYN-RECEIVED, ESTABLISHED), taking no RTT sample: the TSecr echoes a TSval
 * whose low bits were the options, and we never timed the SYN-ACK. The caller then processes the
 * segment as an ESTABLISHED connection's (its data and FIN).
 */
export function acceptCookie(c: TcpConnection, seg: TcpPacket, opts: TcpOptions, mss: number, cookie: CookieOptions): void {
  c.irs = seqAdd(seq(seg.seq), -1);
  c.rcvNxt = seq(seg.seq);
  c.lastAckSent = c.rcvNxt;
  // The SYN-ACK's window (syn-backlog.ts): the whole fresh buffer, unscaled, at most 65535.
  c.rcvAdv = seqAdd(c.rcvNxt, Math.min(c.recvBuffer.window, 0xffff));
  c.ctx.counters.receiveBudget.account(c);
  c.tsOffset = c.ctx.isn.tsOffset(tupleWords, tupleOf(c));
  c.iss = seqAdd(seq(seg.ack), -1);
  c.sndUna = c.iss;
  c.sndNxt = seqAdd(c.iss, 1);
  c.sndMax = c.sndNxt;
  c.recover = c.iss;
  const ts = opts.hasTimestamps;
  useOptions(c, mss, ts ? cookie.windowScale : -1, ts && cookie.sackPermitted, ts);
  if (c.tsOk) c.tsRecent = opts.tsVal;
  setState(c, "SYN-RECEIVED");
  // The window of the ACK that completes the handshake is scaled (RFC 7323 §2.2).
  completeHandshake(c, seg.window << c.sndWscale, seq(seg.seq), seq(seg.ack), null);
}

/** RFC 9293 §3.10.1 OPEN (active): send <SYN>, go to SYN-SENT. */
export function connect(c: TcpConnection): void {
  chooseIss(c);
  // Offer every option; what the SYN-ACK echoes is what we use (RFC 7323 §2.2, §3.2; RFC 2018 §2).
  c.tsOk = true;
  c.sackOk = true;
  setState(c, "SYN-SENT");
  c.idleAt = c.ctx.now + c.ctx.config.tcpHandshakeTimeoutMs;
  sendSyn(c);
  updateDeadline(c);
}

/** RFC 6528: ISN = M + F(4-tuple, secret); RFC 7323 §5.4: a per-connection timestamp offset. */
function chooseIss(c: TcpConnection): void {
  const n = tupleOf(c);
  c.iss = c.ctx.isn.isn(c.ctx.now, tupleWords, n);
  c.tsOffset = c.ctx.isn.tsOffset(tupleWords, n);
  c.sndUna = c.iss;
  c.sndNxt = c.iss;
  c.sndMax = c.iss;
  c.recover = c.iss;
}

/** The connection's 4-tuple into `tupleWords` (the engine's end first); returns the word count. */
function tupleOf(c: TcpConnection): number {
  const f = c.flow;
  // FlowRecord.addr: remote at 0, local at 16.
  return fourTupleWords(tupleWords, f.addr, 16, f.addr, 0, f.family === 6 ? 16 : 4, f.localPort, f.remotePort);
}

/** Options the peer's SYN (or SYN-ACK) carried decide what the connection uses. */
export function negotiate(c: TcpConnection, opts: TcpOptions, passive: boolean): void {
  const peerMss = opts.mss > 0 ? opts.mss : c.flow.family === 6 ? DEFAULT_MSS_V6 : DEFAULT_MSS_V4;
  useOptions(c, peerMss, opts.windowScale, opts.sackPermitted && (passive || c.sackOk), opts.hasTimestamps && (passive || c.tsOk));
}

/** What both ends agreed: the peer's MSS, its window shift (-1: no scaling), SACK, timestamps. */
function useOptions(c: TcpConnection, peerMss: number, windowScale: number, sackOk: boolean, tsOk: boolean): void {
  c.sndMss = Math.max(64, Math.min(peerMss, c.mtuMss()));
  c.wsOk = windowScale >= 0;
  if (c.wsOk) {
    c.sndWscale = Math.min(windowScale, MAX_WINDOW_SCALE);
  } else {
    // RFC 7323 §2.2: scaling is used only when both sides sent the option.
    c.sndWscale = 0;
    c.rcvWscale = 0;
  }
  c.sackOk = sackOk;
  c.tsOk = tsOk;
  if (c.sackOk && c.scoreboard === null) c.scoreboard = new SackScoreboard();
  // Nothing has been sent yet: start congestion control afresh at the negotiated SMSS, so the initial
  // window is exactly 10 segments (RFC 6928) rather than a rescaled, rounded 536-byte window.
  c.cc = createCongestionControl(c.ctx.config.tcpCongestionControl, c.smss());
}

/**
 * Our SYN is acknowledged: ESTABLISHED (FIN-WAIT-1 if the application closed meanwhile). From
 * SYN-SENT, with the SYN-ACK (RFC 9293 §3.10.7.3 fourth step; its window is not scaled, RFC 7323
 * §2.2), and from SYN-RECEIVED, with the ACK that completes the handshake (§3.10.7.4 fifth step;
 * scaled). `window` is the peer's window in bytes, `wl1`/`wl2` the segment's SEQ and ACK, `opts`
 * its options for the handshake's RTT sample (null: none, for a SYN cookie's ACK).
 */
export function completeHandshake(c: TcpConnection, window: number, wl1: Seq, wl2: Seq, opts: TcpOptions | null): void {
  leaveSynBacklog(c);
  c.sndUna = seqAdd(c.iss, 1); // our SYN
  c.sndWnd = window;
  if (window > c.maxSndWnd) c.maxSndWnd = window;
  c.sndWl1 = wl1;
  c.sndWl2 = wl2;
  if (opts !== null) takeHandshakeRttSample(c, opts);
  c.rtoAt = Infinity;
  c.retries = 0;
  setState(c, c.finQueued ? "FIN-WAIT-1" : "ESTABLISHED");
  c.idleAt = Infinity;
  c.lastDataAt = c.ctx.now;
}

/** A passive open leaves the SYN backlog: its handshake completed, or it ended (tcp/demux.ts closed). */
export function leaveSynBacklog(c: TcpConnection): void {
  if (!c.inSynBacklog) return;
  c.inSynBacklog = false;
  c.ctx.counters.tcpHalfOpen--;
  c.ctx.counters.memory.release(MemoryKind.HALF_OPEN, HALF_OPEN_BYTES);
}

/** Record a timestamp-based RTT sample from the handshake's ACK (RFC 7323 §4), or the SYN's timing. */
function takeHandshakeRttSample(c: TcpConnection, opts: TcpOptions): void {
  if (c.tsOk && opts.hasTimestamps && opts.tsEcr !== 0) {
    // RFC 7323 §4.1: the echoed timestamp says which transmission is acknowledged, even after a
    // retransmitted SYN.
    const sample = tsRttSample(c.ctx.now, c.tsOffset, opts.tsEcr);
    if (sample >= 0) c.rtt.sample(sample);
  } else if (c.synSentAt >= 0) {
    // RFC 6298 §3 (Karn): time the SYN (or SYN-ACK) only if it was sent once.
    c.rtt.sample(c.ctx.now - c.synSentAt);
  }
  // RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP implementation
  // is using an RTO less than 3 seconds, the RTO MUST be re-initialized to 3 seconds when data
  // transmission begins" (when no sample was taken: RttEstimator keeps a sampled RTO).
  if (c.retries > 0) c.rtt.restartAfterSynTimeout();
}
