/**
 * One TCP connection: the RFC 9293 state machine with the sender and receiver it drives.
 *
 * Read first: RFC 9293 §3.10 (event processing: the order of the checks in segmentArrives follows
 * §3.10.7.4 step by step), RFC 7323 (window scale, timestamps, PAWS), RFC 2018 and RFC 6675 (SACK and
 * SACK-based loss recovery), RFC 5681 and RFC 6582 (congestion control, NewReno), RFC 6298 (RTO),
 * RFC 5961 (blind RST/SYN/data injection: challenge ACKs).
 *
 * The connection decides what to send; the engine (TcpContext) frames it and hands it to the
 * caller's buffer. Nothing here allocates per segment: one scratch segment and one option record
 * serve every connection (the engine is single-threaded and `transmit` is synchronous).
 *
 * Counting: the engine counts what it sees (segments in and out in `transmit`, closes by CloseCause
 * in `closed`); the connection counts only what the engine cannot see (retransmissions, RSTs it sends,
 * challenge ACKs, probes, drops by reason).
 */
import type { FlowInfo, TcpState } from "../api.js";
import type { FlowRecord } from "../flow/flow.js";
import { IcmpErrorKind } from "../icmp/icmp.js";
import { EngineDrop } from "../stats.js";
import { MAX_SACK_BLOCKS, TcpFlag, TcpOptions, type TcpPacket } from "../wire/tcp.js";
import { createCongestionControl, type CongestionControl } from "./congestion/index.js";
import { CloseCause, tcpOutSegment, type TcpContext, type TcpEndpoint } from "./context.js";
import { ReceiveBuffer } from "./receive-buffer.js";
import { RttEstimator } from "./rtt.js";
import { fourTupleWords } from "./isn.js";
import { NextSegRule, SackScoreboard } from "./sack-scoreboard.js";
import { SendBuffer } from "./send-buffer.js";
import { seq, seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqSub, type Seq } from "./seq.js";
import { TimeWait } from "./time-wait.js";

/** RFC 9293 §3.7.1 / RFC 1122: the MSS assumed when the peer sends none: 536 (IPv4), 1220 (IPv6, RFC 8200 §5). */
const DEFAULT_MSS_V4 = 536;
const DEFAULT_MSS_V6 = 1220;
/** RFC 7323 §2.3: shift counts above 14 are treated as 14. */
const MAX_WINDOW_SCALE = 14;
/** RFC 5681 §3.2: DupThresh. */
const DUP_THRESH = 3;
/** RFC 5681 §4.2: "an ACK SHOULD be generated for at least every second full-sized segment". */
const ACK_EVERY_SEGMENTS = 2;
/** Linux's quick-ACK at the start of a connection: ACK every segment while the peer's cwnd grows. */
const QUICKACK_SEGMENTS = 16;
/** Retry period when the caller had no transmit buffer (l3TxBuffer returned undefined). */
const TX_RETRY_MS = 1;
/** Persist (zero-window probe) interval bounds: Linux TCP_RTO_MIN .. TCP_RTO_MAX. */
const PERSIST_MAX_MS = 120_000;
/** RFC 5961 §7: challenge ACKs are rate-limited; Linux allows 1000 a second per host, we keep it per flow. */
const CHALLENGE_ACK_INTERVAL_MS = 1;
/** Answers to unacceptable bare ACKs, at most one per this interval (Linux tcp_invalid_ratelimit: 500 ms). */
const OOW_ACK_INTERVAL_MS = 500;

const ACK = TcpFlag.ACK;
const SYN = TcpFlag.SYN;
const FIN = TcpFlag.FIN;
const RST = TcpFlag.RST;
const PSH = TcpFlag.PSH;

/** Shared scratch: one outgoing segment and its options at a time. */
const out = tcpOutSegment();
const outOpts = new TcpOptions();
/** Scratch for the 4-tuple words that key the ISN and timestamp-offset hashes. */
const tupleWords = new Uint32Array(9);
/** Scratch for SACK ranges read out of the receive buffer (start, end pairs). */
const sackScratch = new Uint32Array(MAX_SACK_BLOCKS * 2);

export class TcpConnection implements TcpEndpoint {
  readonly ctx: TcpContext;
  readonly flow: FlowRecord;
  deadline = Infinity;
  heapIndex = -1;
  state: TcpState = "CLOSED";

  // --- Send sequence variables (RFC 9293 §3.3.1) ---
  iss: Seq = seq(0);
  sndUna: Seq = seq(0);
  sndNxt: Seq = seq(0);
  /** Highest sequence number sent plus one (sndNxt can move back after an RTO; this cannot). */
  sndMax: Seq = seq(0);
  /** Peer's window in bytes (already scaled). */
  sndWnd = 0;
  sndWl1: Seq = seq(0);
  sndWl2: Seq = seq(0);
  /** Largest window the peer ever offered (RFC 9293 §3.8.6.2.1 Max(SND.WND); RFC 5961 §5.2 MAX.SND.WND). */
  maxSndWnd = 0;
  /** Shift applied to the peer's window fields (RFC 7323 Snd.Wind.Shift). */
  sndWscale = 0;
  /** MSS the peer can take (its MSS option, bounded by our MTU). */
  sndMss = DEFAULT_MSS_V4;

  // --- Receive sequence variables ---
  irs: Seq = seq(0);
  rcvNxt: Seq = seq(0);
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND then): never moved left (RFC 7323 §2.4). */
  rcvAdv: Seq = seq(0);
  /** Shift applied to our window fields (RFC 7323 Rcv.Wind.Shift). */
  rcvWscale = 0;
  /** Both sides sent the window scale option (RFC 7323 §2.2). */
  wsOk = false;
  /** Largest segment the peer has sent us (Linux's rcv_mss): what "full-sized" means for delayed ACKs. */
  rcvMss = 536;
  /** The ACK number we last sent (RFC 7323 §4.3 Last.ACK.sent). */
  lastAckSent: Seq = seq(0);

  // --- Options negotiated ---
  tsOk = false;
  sackOk = false;
  /** RFC 7323 §4.3 TS.Recent. */
  tsRecent = 0;
  /** Per-connection offset added to our timestamp clock (RFC 7323 §5.4). */
  tsOffset = 0;

  // --- Buffers ---
  readonly sendBuffer: SendBuffer;
  readonly recvBuffer: ReceiveBuffer;

  // --- Close bookkeeping ---
  /** The application closed its side: FIN goes after the queued data. */
  finQueued = false;
  /** Our FIN has been sent at least once (its sequence number is `finSeq`). */
  finSent = false;
  finSeq: Seq = seq(0);
  /** The peer's FIN has been received and acknowledged (RCV.NXT covers it). */
  finReceived = false;
  /** The peer's FIN arrived ahead of missing data: where it sits. */
  pendingFinSeq: Seq = seq(0);
  hasPendingFin = false;
  /** l4RemoteClosed was called. */
  remoteClosedNotified = false;

  // --- Receive-side application state ---
  rxPaused = false;
  /** The last l4Tx took fewer bytes than offered: call txReady when space opens. */
  txWanted = false;

  // --- ACK generation (RFC 9293 §3.8.6.3, RFC 5681 §4.2) ---
  /** Full-sized segments received since we last sent an ACK. */
  unackedSegments = 0;
  /** An ACK must go out now (out-of-order data, gap filled, FIN, window update...). */
  ackNow = false;
  quickAcks = QUICKACK_SEGMENTS;

  // --- Timers (absolute times on the engine clock; Infinity = off) ---
  rtoAt = Infinity;
  delayedAckAt = Infinity;
  persistAt = Infinity;
  keepAliveAt = Infinity;
  txRetryAt = Infinity;
  /** Idle / handshake / half-close deadline. */
  idleAt = Infinity;
  /** Last time data moved either way (for the idle timeouts). */
  lastDataAt = 0;
  /** Last time anything arrived from the peer (keep-alive). */
  lastRecvAt = 0;
  /** Consecutive retransmission timeouts of the same data (or SYN), or unanswered probes. */
  retries = 0;
  persistBackoff = 0;
  /** Zero-window probes sent since the last acceptable ACK. */
  probesOut = 0;
  keepAliveProbes = 0;
  lastChallengeAckAt = -Infinity;
  /** When the last ACK answering an unacceptable bare ACK went out (ackUnacceptable). */
  lastOowAckAt = -Infinity;

  // --- RTT and congestion (RFC 6298, RFC 5681) ---
  readonly rtt: RttEstimator;
  cc: CongestionControl;
  /** Karn's algorithm timing without timestamps: the sequence number being timed and when it left. */
  rttSeq: Seq = seq(0);
  rttTime = 0;
  rttTiming = false;
  /** When our SYN (or SYN-ACK) was sent, if it was sent only once; -1 after a retransmission (Karn). */
  synSentAt = -1;

  // --- Loss recovery (RFC 5681 §3.2, RFC 6582, RFC 6675) ---
  dupAcks = 0;
  inRecovery = false;
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  recover: Seq = seq(0);
  scoreboard: SackScoreboard | null = null;

  // --- Per-flow counters (l4Info, like Linux's tcp_info) ---
  /** Payload bytes received in order (tcpi_bytes_received). */
  bytesIn = 0;
  /** Segments sent, and their payload bytes (retransmissions included). */
  segmentsOut = 0;
  bytesOut = 0;
  /** Payload bytes acknowledged by the peer (tcpi_bytes_acked). */
  bytesAcked = 0;
  segmentsIn = 0;
  /** Segments sent again (tcpi_total_retrans). */
  retransmits = 0;

  constructor(ctx: TcpContext, flow: FlowRecord) {
    this.ctx = ctx;
    this.flow = flow;
    const cfg = ctx.config;
    this.sendBuffer = new SendBuffer(cfg.tcpBufferSize);
    this.recvBuffer = new ReceiveBuffer(cfg.tcpBufferSize, cfg.tcpMaxReassemblyRanges);
    // RFC 6298 §2.2-2.4: G is the clock granularity (the engine clock counts ms); the floor is tcpMinRtoMs.
    this.rtt = new RttEstimator(1, cfg.tcpMinRtoMs);
    const mssCap = this.mtuMss();
    this.cc = createCongestionControl(cfg.tcpCongestionControl, Math.min(mssCap, DEFAULT_MSS_V4));
    // RFC 7323 §2.2: the smallest shift that lets the window field express the whole buffer.
    let shift = 0;
    while (shift < MAX_WINDOW_SCALE && cfg.tcpBufferSize >>> shift > 0xffff) shift++;
    this.rcvWscale = shift;
    const now = ctx.now();
    this.lastDataAt = now;
    this.lastRecvAt = now;
  }

  // =====================================================================================
  // Opening
  // =====================================================================================

  /** RFC 9293 §3.10.7.2 LISTEN, a SYN arrives: go to SYN-RECEIVED and send <SYN,ACK>. */
  acceptSyn(seg: TcpPacket, opts: TcpOptions): void {
    this.segmentsIn++;
    this.irs = seq(seg.seq);
    this.rcvNxt = seqAdd(this.irs, 1);
    this.rcvAdv = this.rcvNxt;
    this.lastAckSent = this.rcvNxt;
    this.chooseIss();
    this.negotiate(opts, true);
    // RFC 7323 §2.2: the window field of a SYN is never scaled.
    this.sndWnd = seg.window;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = this.irs;
    this.sndWl2 = this.iss;
    if (this.tsOk) this.tsRecent = opts.tsVal;
    this.setState("SYN-RECEIVED");
    this.idleAt = this.ctx.now() + this.ctx.config.tcpHandshakeTimeoutMs;
    this.sendSyn();
    this.updateDeadline();
  }

  /** RFC 9293 §3.10.1 OPEN (active): send <SYN>, go to SYN-SENT. */
  connect(): void {
    this.chooseIss();
    // Offer every option; what the SYN-ACK echoes is what we use (RFC 7323 §2.2, §3.2; RFC 2018 §2).
    this.tsOk = true;
    this.sackOk = true;
    this.setState("SYN-SENT");
    this.idleAt = this.ctx.now() + this.ctx.config.tcpHandshakeTimeoutMs;
    this.sendSyn();
    this.updateDeadline();
  }

  /** RFC 6528: ISN = M + F(4-tuple, secret); RFC 7323 §5.4: a per-connection timestamp offset. */
  private chooseIss(): void {
    const f = this.flow;
    // FlowRecord.addr: remote at 0, local at 16.
    const n = fourTupleWords(tupleWords, f.addr, 16, f.addr, 0, f.family === 6 ? 16 : 4, f.localPort, f.remotePort);
    this.iss = this.ctx.isn.isn(this.ctx.now(), tupleWords, n);
    this.tsOffset = this.ctx.isn.tsOffset(tupleWords, n);
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
  }

  /** Options the peer's SYN (or SYN-ACK) carried decide what the connection uses. */
  private negotiate(opts: TcpOptions, passive: boolean): void {
    const mtuMss = this.mtuMss();
    const peerMss = opts.mss > 0 ? opts.mss : this.flow.family === 6 ? DEFAULT_MSS_V6 : DEFAULT_MSS_V4;
    this.sndMss = Math.max(64, Math.min(peerMss, mtuMss));
    this.wsOk = opts.windowScale >= 0;
    if (this.wsOk) {
      this.sndWscale = Math.min(opts.windowScale, MAX_WINDOW_SCALE);
    } else {
      // RFC 7323 §2.2: scaling is used only when both sides sent the option.
      this.sndWscale = 0;
      this.rcvWscale = 0;
    }
    this.sackOk = opts.sackPermitted && (passive || this.sackOk);
    this.tsOk = opts.hasTimestamps && (passive || this.tsOk);
    if (this.sackOk && this.scoreboard === null) this.scoreboard = new SackScoreboard();
    // Nothing has been sent yet: start congestion control afresh at the negotiated SMSS, so the initial
    // window is exactly 10 segments (RFC 6928) rather than a rescaled, rounded 536-byte window.
    this.cc = createCongestionControl(this.ctx.config.tcpCongestionControl, this.smss());
  }

  /** Largest TCP payload our MTU allows, before options. */
  private mtuMss(): number {
    return this.ctx.config.mtu - (this.flow.family === 6 ? 60 : 40);
  }

  /** Sender MSS for congestion accounting (RFC 5681 SMSS): the MSS less the options every segment carries. */
  smss(): number {
    return this.sndMss - (this.tsOk ? 12 : 0);
  }

  private sendSyn(): void {
    const passive = this.state === "SYN-RECEIVED";
    const o = outOpts.reset();
    o.mss = this.mtuMss();
    if (passive) {
      if (this.sackOk) o.sackPermitted = true;
      if (this.tsOk) this.fillTimestamps(o);
      if (this.wsOk) o.windowScale = this.rcvWscale;
    } else {
      o.sackPermitted = true;
      this.fillTimestamps(o);
      o.tsEcr = 0;
      o.windowScale = this.rcvWscale;
    }
    out.flags = passive ? SYN | ACK : SYN;
    out.seq = this.iss;
    out.ack = passive ? this.rcvNxt : 0;
    // RFC 7323 §2.2: the window in a SYN or SYN-ACK is not scaled.
    out.window = Math.min(this.recvBuffer.window, 0xffff);
    out.options = o;
    out.payloadOffset = 0;
    out.payloadLength = 0;
    if (passive) this.rcvAdv = seqAdd(this.rcvNxt, out.window);
    // Karn (RFC 6298 §3): only a SYN sent once can be timed; sndMax is past the ISS once one went out.
    const first = this.sndMax === this.iss;
    this.synSentAt = first ? this.ctx.now() : -1;
    if (this.transmit()) {
      this.sndNxt = seqAdd(this.iss, 1);
      this.sndMax = this.sndNxt;
      if (passive) this.lastAckSent = this.rcvNxt;
    } else {
      // No transmit buffer: try again shortly (onTimer's txRetryAt), as for data and ACKs.
      this.txBlocked();
    }
    this.rtoAt = this.ctx.now() + this.rtt.rto;
  }

  // =====================================================================================
  // Application calls
  // =====================================================================================

  /** l4Tx: copy into the send buffer and send what the windows allow. Returns bytes taken. */
  send(data: Uint8Array): number {
    if (this.finQueued || !this.canSend()) return 0;
    const taken = this.sendBuffer.write(data, 0, data.length);
    this.txWanted = taken < data.length;
    if (taken > 0) {
      this.lastDataAt = this.ctx.now();
      this.output();
    }
    this.updateDeadline();
    return taken;
  }

  private canSend(): boolean {
    switch (this.state) {
      case "SYN-SENT":
      case "SYN-RECEIVED":
      case "ESTABLISHED":
      case "CLOSE-WAIT":
        return true;
      default:
        return false;
    }
  }

  /** l4LocalClose, RFC 9293 §3.10.4 CLOSE: FIN after the queued data. */
  close(): void {
    switch (this.state) {
      case "SYN-SENT":
        // RFC 9293 §3.10.4: "Delete the TCB and return 'error: closing' responses to any queued SENDs."
        // But l4Tx already told the application its bytes were taken: when some are queued, keep the
        // promise as §3.10.4 does for SYN-RECEIVED: FIN after the data once the handshake completes.
        if (this.sendBuffer.length === 0) {
          this.finish(CloseCause.CLOSED);
          return;
        }
        this.finQueued = true;
        this.lastDataAt = this.ctx.now();
        break;
      case "SYN-RECEIVED":
      case "ESTABLISHED":
        this.finQueued = true;
        this.lastDataAt = this.ctx.now();
        if (this.state === "ESTABLISHED") this.setState("FIN-WAIT-1");
        break;
      case "CLOSE-WAIT":
        this.finQueued = true;
        this.lastDataAt = this.ctx.now();
        this.setState("LAST-ACK");
        break;
      default:
        return; // already closing
    }
    this.output();
    this.updateDeadline();
  }

  /** l4Abort, RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST> in a synchronized state, then gone. */
  abort(): void {
    if (this.isClosed()) return;
    this.sendReset();
    this.finish(CloseCause.ABORTED);
  }

  pauseRx(): void {
    this.rxPaused = true;
  }

  resumeRx(): void {
    if (!this.rxPaused) return;
    this.rxPaused = false;
    this.deliver();
    if (this.isClosed()) return;
    this.maybeWindowUpdate();
    this.output();
    this.updateDeadline();
  }

  get remoteClosed(): boolean {
    return this.finReceived;
  }

  get localAndRemoteClosed(): boolean {
    return this.finReceived && this.finQueued;
  }

  /** After ctx.closed(this, CloseCause.TIME_WAIT): the compact record the engine keeps in its place. */
  toTimeWait(): TimeWait {
    const tw = new TimeWait(this.flow);
    tw.sndNxt = this.sndMax;
    tw.rcvNxt = this.rcvNxt;
    tw.tsOk = this.tsOk;
    tw.tsRecent = this.tsRecent;
    tw.tsOffset = this.tsOffset;
    tw.window = this.windowField();
    tw.deadline = this.ctx.now() + this.ctx.config.tcpTimeWaitMs;
    return tw;
  }

  /** Bytes of heap this connection holds in buffers (for memory accounting and tests). */
  bufferBytes(): number {
    return this.sendBuffer.capacityBytes + this.recvBuffer.capacityBytes;
  }

  // =====================================================================================
  // SEGMENT ARRIVES (RFC 9293 §3.10.7)
  // =====================================================================================

  segmentArrives(seg: TcpPacket, opts: TcpOptions): void {
    const now = this.ctx.now();
    this.segmentsIn++;
    this.lastRecvAt = now;
    this.keepAliveProbes = 0;
    switch (this.state) {
      case "SYN-SENT":
        this.synSentArrives(seg, opts);
        break;
      case "CLOSED":
        return;
      default:
        this.synchronizedArrives(seg, opts);
    }
    if (this.isClosed()) return;
    this.output();
    this.updateDeadline();
  }

  /** RFC 9293 §3.10.7.3 SYN-SENT STATE. */
  private synSentArrives(seg: TcpPacket, opts: TcpOptions): void {
    const flags = seg.flags;
    const segAck = seq(seg.ack);
    // First, check the ACK bit.
    if (flags & ACK) {
      if (seqLe(segAck, this.iss) || seqGt(segAck, this.sndMax)) {
        // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set)".
        if (!(flags & RST)) this.sendRawReset(segAck, seq(0), false);
        this.ctx.counters.drop(EngineDrop.BAD_ACK);
        return;
      }
    }
    // Second, check the RST bit: acceptable only with an acceptable ACK (RFC 5961 §3.2 adds nothing here).
    // "signal to the user 'error: connection reset'"; the user of a socket knows it as ECONNREFUSED.
    if (flags & RST) {
      if (flags & ACK) {
        this.finish(CloseCause.REFUSED);
      } else {
        this.ctx.counters.drop(EngineDrop.RST_INVALID);
      }
      return;
    }
    // Fourth, check the SYN bit.
    if (!(flags & SYN)) return;
    this.irs = seq(seg.seq);
    this.rcvNxt = seqAdd(this.irs, 1);
    this.rcvAdv = this.rcvNxt;
    this.negotiate(opts, false);
    if (this.tsOk) this.tsRecent = opts.tsVal;
    if (flags & ACK) {
      // Our SYN is acknowledged: ESTABLISHED. The window of a SYN-ACK is not scaled (RFC 7323 §2.2).
      this.sndUna = segAck;
      this.sndWnd = seg.window;
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = this.irs;
      this.sndWl2 = segAck;
      this.takeHandshakeRttSample(opts);
      this.rtoAt = Infinity;
      this.retries = 0;
      this.setState("ESTABLISHED");
      this.idleAt = Infinity;
      this.lastDataAt = this.ctx.now();
      this.ackNow = true;
      if (this.finQueued) this.setState("FIN-WAIT-1");
      // "If there are other controls or text in the segment, continue processing at the sixth step."
      const fin = (flags & FIN) !== 0;
      if (seg.payloadLength > 0 || fin) {
        const len = Math.min(seg.payloadLength, this.recvBuffer.window);
        this.receiveText(seg.bytes, seg.payloadOffset, len, this.rcvNxt, fin && len === seg.payloadLength);
      }
    } else {
      // Simultaneous open: SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
      this.sndWnd = seg.window;
      this.maxSndWnd = this.sndWnd;
      this.setState("SYN-RECEIVED");
      this.sndNxt = this.iss;
      this.sendSyn();
    }
  }

  /** RFC 9293 §3.10.7.4 "Otherwise": SYN-RECEIVED and every later state. */
  private synchronizedArrives(seg: TcpPacket, opts: TcpOptions): void {
    const c = this.ctx.counters;
    const flags = seg.flags;
    let segSeq = seq(seg.seq);
    let dataOff = seg.payloadOffset;
    let dataLen = seg.payloadLength;
    let fin = (flags & FIN) !== 0;
    const syn = (flags & SYN) !== 0;

    // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost; answer with the SYN-ACK again. It must
    // be recognised before the sequence check, which would find it below RCV.NXT and answer with a bare
    // ACK (RFC 9293 §3.10.7.4 first check); Linux does the same (tcp_check_req: "retransmitted SYN").
    if (syn && !(flags & (ACK | RST)) && this.state === "SYN-RECEIVED" && segSeq === this.irs) {
      this.sndNxt = this.iss;
      this.sendSyn();
      return;
    }

    // RFC 7323 §5.3 R1: PAWS, before the sequence check. A RST is exempt (§5.3 R1 / Linux).
    if (this.tsOk && opts.hasTimestamps && !(flags & RST) && this.state !== "SYN-RECEIVED") {
      if (((opts.tsVal - this.tsRecent) | 0) < 0) {
        c.drop(EngineDrop.PAWS);
        this.ackUnacceptable(dataLen > 0 || syn || fin);
        return;
      }
    }

    // First: sequence number check (the acceptability table of §3.10.7.4).
    const rcvWnd = Math.max(0, seqSub(this.rcvAdv, this.rcvNxt));
    const segLen = dataLen + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (!this.acceptable(segSeq, segLen, rcvWnd)) {
      // A zero window still takes valid ACKs, URGs and RSTs (§3.10.7.4): a segment exactly at RCV.NXT
      // has its text dropped below (trimmed to the window) but its ACK processed.
      if (!(rcvWnd === 0 && segSeq === this.rcvNxt)) {
        if (!(flags & RST)) {
          this.ackUnacceptable(segLen > 0);
          if (segLen > 0 && seqLt(seqAdd(segSeq, segLen), seqAdd(this.rcvNxt, 1))) c.tcpDupAcksSent++;
        }
        c.drop(EngineDrop.OUT_OF_WINDOW);
        return;
      }
    }

    // Second: the RST bit (RFC 5961 §3.2).
    if (flags & RST) {
      if (segSeq === this.rcvNxt) {
        this.finish(CloseCause.RESET_RECEIVED);
      } else {
        // In the window but not exact: challenge ACK.
        c.drop(EngineDrop.RST_INVALID);
        this.challengeAck();
      }
      return;
    }

    // Fourth: the SYN bit (RFC 5961 §4.2): any SYN in a synchronized state gets a challenge ACK.
    if (syn) {
      c.drop(EngineDrop.SYN_IN_WINDOW);
      this.challengeAck();
      return;
    }

    // RFC 7323 §4.3: TS.Recent follows the segment that covers Last.ACK.sent.
    if (this.tsOk && opts.hasTimestamps && seqLe(segSeq, this.lastAckSent)) {
      if (((opts.tsVal - this.tsRecent) | 0) >= 0) this.tsRecent = opts.tsVal;
    }

    // Fifth: the ACK field. "If the ACK bit is off, drop the segment and return."
    if (!(flags & ACK)) return;
    if (this.state === "SYN-RECEIVED") {
      const segAck = seq(seg.ack);
      if (seqLe(segAck, this.sndUna) || seqGt(segAck, this.sndMax)) {
        // "<SEQ=SEG.ACK><CTL=RST>"
        this.sendRawReset(segAck, seq(0), false);
        c.drop(EngineDrop.BAD_ACK);
        return;
      }
      this.setState(this.finQueued ? "FIN-WAIT-1" : "ESTABLISHED");
      this.idleAt = Infinity;
      this.lastDataAt = this.ctx.now();
      // The window of the ACK that completes the handshake is scaled (RFC 7323 §2.2).
      this.sndWnd = seg.window << this.sndWscale;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = segSeq;
      this.sndWl2 = segAck;
      this.takeHandshakeRttSample(opts);
      this.sndUna = seqAdd(this.sndUna, 1); // our SYN
      this.rtoAt = Infinity;
      this.retries = 0;
    }
    if (!this.processAck(seg, opts, segSeq, dataLen, fin)) return;
    if (this.isClosed()) return;

    // Sixth: URG. RFC 6093: urgent data is delivered in line; nothing to do.

    // Seventh: segment text. Trim to the window first (§3.10.7.4: "segments with higher beginning
    // sequence numbers ... held for later processing"; the part before RCV.NXT is a duplicate).
    const before = seqSub(this.rcvNxt, segSeq);
    if (before > 0) {
      if (before >= dataLen) {
        dataOff += dataLen;
        dataLen = 0;
      } else {
        dataOff += before;
        dataLen -= before;
      }
      segSeq = this.rcvNxt;
    }
    const room = seqSub(this.rcvAdv, segSeq);
    if (dataLen > room) {
      dataLen = Math.max(0, room);
      fin = false; // the FIN lay beyond the window
      // Text beyond the window is dropped, and "an acknowledgment should be sent in reply" to a segment
      // that is not (wholly) acceptable (RFC 9293 §3.10.7.4 first check): with a zero window this is how
      // a zero-window probe gets its answer (RFC 9293 §3.8.6.1). Linux: tcp_data_queue() out_of_window.
      this.ackNow = true;
    }
    if (dataLen > 0 || fin) {
      if (this.receivesText()) {
        this.receiveText(seg.bytes, dataOff, dataLen, segSeq, fin);
      } else {
        c.drop(EngineDrop.DATA_AFTER_CLOSE);
      }
    }
  }

  /** §3.10.7.4 first check: the four cases of the acceptability test. */
  private acceptable(segSeq: Seq, segLen: number, rcvWnd: number): boolean {
    if (segLen === 0) {
      if (rcvWnd === 0) return segSeq === this.rcvNxt;
      return seqInWin(segSeq, this.rcvNxt, rcvWnd);
    }
    if (rcvWnd === 0) return false;
    return seqInWin(segSeq, this.rcvNxt, rcvWnd) || seqInWin(seqAdd(segSeq, segLen - 1), this.rcvNxt, rcvWnd);
  }

  private receivesText(): boolean {
    switch (this.state) {
      case "ESTABLISHED":
      case "FIN-WAIT-1":
      case "FIN-WAIT-2":
        return true;
      default:
        // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This should not occur since a FIN has been
        // received from the remote side. Ignore the segment text."
        return false;
    }
  }

  /**
   * §3.10.7.4 fifth check for ESTABLISHED and later. Returns false when the segment must be dropped.
   * Also runs the sender's side: RTT, congestion window, loss recovery (RFC 5681, 6582, 6675).
   */
  private processAck(seg: TcpPacket, opts: TcpOptions, segSeq: Seq, dataLen: number, fin: boolean): boolean {
    const c = this.ctx.counters;
    const segAck = seq(seg.ack);
    // RFC 5961 §5.2: acceptable if (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT.
    if (seqGt(segAck, this.sndMax)) {
      // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the segment."
      c.drop(EngineDrop.BAD_ACK);
      this.ackUnacceptable(dataLen > 0 || fin);
      return false;
    }
    if (seqLt(segAck, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      c.drop(EngineDrop.BAD_ACK);
      this.challengeAck();
      return false;
    }

    // An acceptable ACK answers any zero-window probe (as Linux resets icsk_probes_out in tcp_ack).
    this.probesOut = 0;
    const acked = seqSub(segAck, this.sndUna);
    const window = seg.window << this.sndWscale;
    let newlySacked = 0;
    if (this.sackOk && opts.sackCount > 0 && this.scoreboard !== null) {
      newlySacked = this.scoreboard.update(this.sndUna, this.sndMax, opts.sackBlocks, opts.sackCount);
    }

    if (acked > 0) {
      this.onNewAck(segAck, acked, opts);
      if (this.isClosed()) return false;
    }
    if (newlySacked > 0 && seqGt(this.sndMax, this.sndUna)) {
      // RFC 6675 §2: with SACK, "an ACK which carries new SACK data is counted as a duplicate
      // acknowledgment ... even if it carries new data, changes the advertised window, or moves the
      // cumulative acknowledgment point"; §5: a cumulative ACK first resets DupAcks (onNewAck).
      this.onDupAck();
    } else if (
      acked === 0 &&
      dataLen === 0 &&
      !fin &&
      window === this.sndWnd &&
      seqGt(this.sndMax, this.sndUna)
    ) {
      // RFC 5681 §2 DUPLICATE ACKNOWLEDGMENT (a) .. (e).
      this.onDupAck();
    }

    // Window update (§3.10.7.4): "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)".
    if (seqLt(this.sndWl1, segSeq) || (this.sndWl1 === segSeq && seqLe(this.sndWl2, segAck))) {
      this.sndWnd = window;
      this.sndWl1 = segSeq;
      this.sndWl2 = segAck;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
      if (window > 0) {
        this.persistAt = Infinity;
        this.persistBackoff = 0;
      }
    }
    // Send space freed by this ACK: tell the application only now, after SND.WND and SND.WL1/WL2 are
    // updated, or an l4Tx from inside l4TxReady would size its segments against the old window (as
    // Linux's tcp_check_space runs after tcp_ack).
    if (this.txWanted && this.sendBuffer.free > 0) this.signalTxReady();

    // State-specific ACK processing.
    const finAcked = this.finSent && seqGt(this.sndUna, this.finSeq);
    switch (this.state) {
      case "FIN-WAIT-1":
        if (finAcked) {
          this.setState("FIN-WAIT-2");
        }
        break;
      case "CLOSING":
        if (finAcked) {
          this.enterTimeWait();
          return false;
        }
        break;
      case "LAST-ACK":
        if (finAcked) {
          this.finish(CloseCause.CLOSED);
          return false;
        }
        break;
      default:
        break;
    }
    return true;
  }

  /** SEG.ACK advanced SND.UNA by `acked` (data, FIN, or both). */
  private onNewAck(segAck: Seq, acked: number, opts: TcpOptions): void {
    const now = this.ctx.now();
    // Bytes of data acknowledged (the FIN takes a sequence number but no buffer space).
    const dataAcked = Math.min(acked, this.sendBuffer.length);
    const flightBefore = this.flightSize();
    this.sendBuffer.consume(dataAcked);
    this.bytesAcked += dataAcked;
    this.sndUna = segAck;
    if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
    this.scoreboard?.advance(segAck);
    if (dataAcked > 0) this.lastDataAt = now;

    // RTT (RFC 7323 §4 with timestamps, else RFC 6298 §3 Karn's algorithm). One segment is timed
    // even with timestamps: a peer whose ACKs echo no TSval (TSecr 0) still gives samples, as Linux
    // falls back to sequence-based timing; without any sample a backed-off RTO would never come down.
    const timed = this.rttTiming && seqGt(segAck, this.rttSeq);
    if (timed) this.rttTiming = false;
    if (this.tsOk && opts.hasTimestamps && opts.tsEcr !== 0) {
      const sample = (this.tsNow() - opts.tsEcr) | 0;
      if (sample >= 0 && sample < 600_000) this.rtt.sample(sample);
    } else if (timed) {
      this.rtt.sample(now - this.rttTime);
    }
    this.retries = 0;

    // Congestion control and recovery.
    if (this.inRecovery) {
      if (seqGe(segAck, this.recover)) {
        // Full ACK: leave recovery (RFC 6582 §3.2 step 6; RFC 6675 §5 "RecoveryPoint").
        this.inRecovery = false;
        this.dupAcks = 0;
        this.cc.onExitRecovery(flightBefore - acked);
      } else if (!this.sackOk) {
        // NewReno partial ACK (RFC 6582 §3.2 step 5): retransmit the first unacknowledged segment,
        // deflate the window by the amount acknowledged, add back one SMSS if at least that much.
        this.retransmitFirst();
        this.cc.deflate(acked);
        if (acked >= this.smss()) this.cc.inflate(this.smss());
        // "reset the retransmit timer" for the first partial ACK only (§3.2 step 5 "Impatient" variant is not used).
        this.rtoAt = now + this.rtt.rto;
      }
    } else {
      this.dupAcks = 0;
      // RFC 7661 §4.3: grow cwnd only while it was what limited the sender.
      const cwndLimited = flightBefore + this.smss() >= this.cc.cwnd;
      this.cc.onAck(dataAcked, now, this.rtt.srtt, false, cwndLimited);
    }

    // RFC 6298 §5.2/5.3: all acked: stop the timer; else restart it.
    if (this.sndUna === this.sndMax) this.rtoAt = Infinity;
    else if (!this.inRecovery || this.sackOk) this.rtoAt = now + this.rtt.rto;
  }

  /** RFC 5681 §3.2 / RFC 6675 §5: a duplicate ACK. */
  private onDupAck(): void {
    this.dupAcks++;
    if (this.inRecovery) {
      // RFC 5681 §3.2 step 4 (NewReno): inflate by one SMSS per further duplicate ACK.
      if (!this.sackOk) this.cc.inflate(this.smss());
      return;
    }
    const lost = this.sackOk && this.scoreboard !== null && this.scoreboard.isLost(this.sndUna, DUP_THRESH, this.smss());
    if (this.dupAcks < DUP_THRESH && !lost) return;
    // RFC 6582 §3.2 step 2: only if the ACK covers more than "recover" (no new recovery for old loss).
    if (!this.sackOk && !seqGt(this.sndUna, this.recover) && this.recover !== this.iss) {
      if (seqLt(this.sndUna, this.recover)) return;
    }
    this.enterRecovery();
  }

  /** Fast retransmit (RFC 5681 §3.2 steps 2-3; RFC 6675 §5 step 4). */
  private enterRecovery(): void {
    const c = this.ctx.counters;
    this.inRecovery = true;
    this.recover = this.sndMax;
    this.cc.onEnterRecovery(this.flightSize(), this.ctx.now());
    // RFC 5681 §3.2 step 3 (NewReno only): cwnd = ssthresh + 3*SMSS for the segments that left.
    if (!this.sackOk) this.cc.inflate(DUP_THRESH * this.smss());
    c.tcpFastRetransmits++;
    this.rttTiming = false;
    const len = this.retransmitFirst();
    // RFC 6675 §5 step 4: RecoveryPoint = HighData; HighRxt and RescueRxt after the first retransmission.
    this.scoreboard?.enterRecovery(this.sndUna, this.sndMax, len);
    this.rtoAt = this.ctx.now() + this.rtt.rto;
  }

  /** Retransmit one SMSS from SND.UNA; returns the bytes of data it covered. */
  private retransmitFirst(): number {
    const len = Math.min(this.maxPayload(), Math.max(0, seqSub(this.dataEnd(), this.sndUna)));
    if (len > 0) {
      const withFin = this.finSent && seqAdd(this.sndUna, len) === this.finSeq;
      this.sendData(this.sndUna, len, withFin);
    } else if (this.finSent) {
      this.sendFinAt(this.sndUna);
    }
    return len;
  }

  // =====================================================================================
  // Receiving text and FIN
  // =====================================================================================

  private receiveText(bytes: Uint8Array, off: number, len: number, segSeq: Seq, fin: boolean): void {
    const c = this.ctx.counters;
    const rb = this.recvBuffer;
    const offset = seqSub(segSeq, this.rcvNxt);
    if (len > 0 && offset === 0 && rb.readable === 0 && !rb.hasOutOfOrder && !this.rxPaused) {
      // The common case: in order, nothing held, delivery running. Hand the segment's own bytes to the
      // application (valid during the call, as l4Rx promises) instead of copying them through the buffer.
      this.lastDataAt = this.ctx.now();
      this.rcvNxt = seqAdd(this.rcvNxt, len);
      this.bytesIn += len;
      this.countSegmentForAck(len);
      this.ctx.deliver(this, bytes.subarray(off, off + len));
      if (this.isClosed()) return;
    } else if (len > 0) {
      const hadGap = rb.hasOutOfOrder;
      const grown = rb.insert(offset, bytes, off, len);
      if (grown < 0) {
        c.drop(EngineDrop.REASSEMBLY_FULL);
        this.ackNow = true;
        return;
      }
      this.lastDataAt = this.ctx.now();
      if (offset > 0) {
        // Out of order: RFC 5681 §4.2 "an immediate duplicate ACK SHOULD be sent" (with SACK blocks).
        c.tcpOutOfOrderSegments++;
        this.ackNow = true;
        c.tcpDupAcksSent++;
      } else {
        this.rcvNxt = seqAdd(this.rcvNxt, grown);
        this.bytesIn += grown;
        // RFC 5681 §4.2: an ACK SHOULD be sent at once when a segment fills (part of) a gap.
        if (hadGap) this.ackNow = true;
        else this.countSegmentForAck(len);
      }
    }
    if (fin) {
      this.pendingFinSeq = seqAdd(segSeq, len);
      this.hasPendingFin = true;
      if (offset > 0) this.ackNow = true;
    }
    if (this.hasPendingFin && this.pendingFinSeq === this.rcvNxt && !this.finReceived) this.receiveFin();
    this.deliver();
  }

  /** RFC 9293 §3.10.7.4 eighth check: the FIN bit. */
  private receiveFin(): void {
    this.finReceived = true;
    this.hasPendingFin = false;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
    switch (this.state) {
      case "SYN-RECEIVED":
      case "ESTABLISHED":
        this.setState("CLOSE-WAIT");
        // Half-closed from now: the half-open idle time counts from here (updateDeadline), as it
        // does from l4LocalClose for our own FIN.
        this.lastDataAt = this.ctx.now();
        break;
      case "FIN-WAIT-1":
        // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
        this.setState("CLOSING");
        break;
      case "FIN-WAIT-2":
        this.sendAck();
        this.enterTimeWait();
        return;
      default:
        break;
    }
  }

  /** Hand contiguous data to the application unless paused; then the peer's FIN if it came. */
  private deliver(): void {
    const rb = this.recvBuffer;
    while (!this.rxPaused && rb.readable > 0) {
      const view = rb.peekContiguous();
      const n = view.length;
      this.ctx.deliver(this, view);
      if (this.isClosed()) return;
      rb.consume(n);
    }
    if (this.finReceived && !this.remoteClosedNotified && rb.readable === 0 && !this.rxPaused) {
      this.remoteClosedNotified = true;
      this.ctx.remoteClosed(this);
      if (this.isClosed()) return;
    }
    // Everything delivered after both FINs: now the compact TIME-WAIT record can take over.
    if (this.state === "TIME-WAIT" && this.remoteClosedNotified) this.finish(CloseCause.TIME_WAIT);
  }

  /** RFC 5681 §4.2: ACK at least every second full-sized segment; the rest wait for the delayed-ACK timer. */
  private countSegmentForAck(len: number): void {
    // Linux tcp_measure_rcv_mss: the largest segment seen, quick-ACK or not.
    if (len > this.rcvMss) this.rcvMss = len;
    if (this.quickAcks > 0) {
      this.quickAcks--;
      this.ackNow = true;
      return;
    }
    if (len >= this.rcvMss) this.unackedSegments++;
    if (this.unackedSegments >= ACK_EVERY_SEGMENTS) this.ackNow = true;
    else if (this.delayedAckAt === Infinity) this.delayedAckAt = this.ctx.now() + this.ctx.config.tcpDelayedAckMs;
  }

  /** After the application consumed data: a window update when the window grew enough (RFC 9293 §3.8.6.2.2). */
  private maybeWindowUpdate(): void {
    const cap = this.recvBuffer.capacity;
    const advertised = seqSub(this.rcvAdv, this.rcvNxt);
    const possible = this.recvBuffer.window;
    // Receiver SWS avoidance: move the right edge only by min(RCV.BUFF/2, Eff.snd.MSS) or more.
    if (possible - advertised >= Math.min(cap >>> 1, this.sndMss) && advertised < cap >>> 1) this.ackNow = true;
  }

  // =====================================================================================
  // Output (RFC 9293 §3.8.6.2.1 sender SWS; RFC 5681 windows; RFC 6675 §5 NextSeg)
  // =====================================================================================

  /** Sequence number one past the last byte of data queued. */
  private dataEnd(): Seq {
    return seqAdd(this.sndUna, this.sendBuffer.length);
  }

  /** FlightSize (RFC 5681 §2): data sent and not yet acknowledged. */
  private flightSize(): number {
    return seqSub(this.sndMax, this.sndUna);
  }

  /** Bytes the network holds by our estimate: RFC 6675 pipe in SACK recovery, else SND.NXT - SND.UNA. */
  private inFlight(): number {
    if (this.inRecovery && this.sackOk && this.scoreboard !== null) {
      return this.scoreboard.pipe(this.sndUna, this.sndMax, DUP_THRESH, this.smss());
    }
    return seqSub(this.sndNxt, this.sndUna);
  }

  /** Payload that fits in one segment with the options this connection sends on data. */
  private maxPayload(): number {
    // RFC 6691 §2: the data must shrink by the options the segment carries: timestamps on every
    // segment, and SACK blocks while we hold out-of-order data (as Linux's tcp_current_mss counts them).
    let opts = this.tsOk ? 12 : 0;
    if (this.sackOk && this.recvBuffer.hasOutOfOrder) {
      const blocks = Math.min(this.recvBuffer.oooRangeCount, this.tsOk ? 3 : MAX_SACK_BLOCKS);
      opts += 4 + 8 * blocks;
    }
    return this.sndMss - opts;
  }

  private synchronized(): boolean {
    return this.state !== "SYN-SENT" && this.state !== "SYN-RECEIVED" && this.state !== "CLOSED";
  }

  /** Send whatever the state, the windows and the queue allow; then an ACK if one is owed. */
  output(): void {
    if (!this.synchronized() || this.state === "TIME-WAIT") {
      if (this.ackNow && this.state === "SYN-RECEIVED") this.ackNow = false;
      return;
    }
    let sent = false;
    if (this.inRecovery && this.sackOk) sent = this.sackRecoveryOutput();
    sent = this.sendNewData() || sent;
    if (this.ackNow || (this.unackedSegments > 0 && this.delayedAckAt <= this.ctx.now())) {
      if (!sent) this.sendAck();
    }
  }

  /** RFC 6675 §5 step (C): while cwnd - pipe >= 1 SMSS, send what NextSeg() picks. */
  private sackRecoveryOutput(): boolean {
    const sb = this.scoreboard!;
    const smss = this.smss();
    let sent = false;
    for (let guard = 0; guard < 1024; guard++) {
      const pipe = sb.pipe(this.sndUna, this.sndMax, DUP_THRESH, smss);
      if (this.cc.cwnd - pipe < smss) break;
      const nxtOff = seqSub(this.sndNxt, this.sndUna);
      const canSendNew = this.sendBuffer.length > nxtOff && this.sndWnd > nxtOff;
      const rule = sb.nextSeg(this.sndUna, this.sndMax, canSendNew, DUP_THRESH, smss);
      if (rule === NextSegRule.NONE) break;
      if (rule === NextSegRule.NEW_DATA) {
        const len = Math.min(this.maxPayload(), this.sendBuffer.length - nxtOff, this.sndWnd - nxtOff);
        if (len <= 0) break;
        if (!this.sendData(this.sndNxt, len, this.finQueued && len === this.sendBuffer.length - nxtOff)) break;
        sent = true;
        continue;
      }
      const s = sb.nextSegSeq;
      const len = Math.min(sb.nextSegLength, this.maxPayload(), seqSub(this.dataEnd(), s));
      if (len <= 0) break;
      if (!this.sendData(s, len, false)) break;
      sb.onRetransmitted(s, len, rule);
      sent = true;
    }
    return sent;
  }

  /** New data (and FIN) from SND.NXT, within min(cwnd, peer window). */
  private sendNewData(): boolean {
    let sent = false;
    const maxSeg = this.maxPayload();
    for (let guard = 0; guard < 4096; guard++) {
      const nxtOff = seqSub(this.sndNxt, this.sndUna);
      const dataLeft = this.sendBuffer.length - nxtOff;
      const finPending = this.finQueued && dataLeft <= 0 && !this.finIsOut();
      if (dataLeft <= 0) {
        if (finPending && this.state !== "SYN-RECEIVED") {
          if (!this.sendFinAt(this.sndNxt)) break;
          sent = true;
        }
        break;
      }
      const wndLeft = this.sndWnd - nxtOff;
      // RFC 5681 §3.2 / RFC 3042 Limited Transmit: on the first and second duplicate ACKs a sender
      // "SHOULD send a segment of previously unsent data ... provided that ... the total FlightSize would
      // remain less than or equal to cwnd plus 2*SMSS"; cwnd itself is not changed. Without it a window
      // of three or four segments with one lost never sees the third duplicate ACK and waits for the RTO.
      const limitedTransmit =
        !this.inRecovery && this.dupAcks > 0 && this.dupAcks < DUP_THRESH && seqGe(this.sndNxt, this.sndMax)
          ? this.dupAcks * this.smss()
          : 0;
      const cwndLeft = this.cc.cwnd + limitedTransmit - this.inFlight();
      let len = Math.min(dataLeft, maxSeg, wndLeft, cwndLeft);
      if (len <= 0) {
        // Zero window with nothing outstanding: the persist timer probes it (RFC 9293 §3.8.6.1).
        if (wndLeft <= 0 && this.sndUna === this.sndMax && this.persistAt === Infinity) this.armPersist();
        break;
      }
      if (len < maxSeg && len < dataLeft) {
        // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a partial segment only if it is at least half
        // the largest window the peer offered, or if nothing is outstanding (so no ACK will come).
        if (len < this.maxSndWnd >>> 1 && this.sndUna !== this.sndMax) break;
      }
      // Nagle (RFC 9293 §3.7.4), off by default.
      if (!this.ctx.config.tcpNoDelay && len < maxSeg && this.sndUna !== this.sndMax) break;
      const withFin = this.finQueued && len === dataLeft;
      if (!this.sendData(this.sndNxt, len, withFin)) break;
      sent = true;
    }
    if (!sent && this.sendBuffer.length === 0) this.persistAt = Infinity;
    return sent;
  }

  private finIsOut(): boolean {
    return this.finSent && seqGt(this.sndNxt, this.finSeq);
  }

  /**
   * Send `len` bytes of data starting at `s` (with FIN if asked and it is the end of the data).
   * Advances SND.NXT when the segment is new. Returns false when no transmit buffer was available.
   */
  private sendData(s: Seq, len: number, withFin: boolean): boolean {
    const c = this.ctx.counters;
    const now = this.ctx.now();
    const o = this.ackOptions();
    out.flags = ACK | (withFin ? FIN : 0);
    const end = seqAdd(s, len);
    if (end === this.dataEnd()) out.flags |= PSH;
    out.seq = s;
    this.fillAck();
    out.options = o;
    out.payloadOffset = seqSub(s, this.sndUna);
    out.payloadLength = len;
    if (!this.transmit()) {
      this.txBlocked();
      return false;
    }
    this.afterAckSent();
    const segEnd = withFin ? seqAdd(end, 1) : end;
    if (withFin) {
      this.finSent = true;
      this.finSeq = end;
    }
    if (seqLt(s, this.sndMax)) {
      c.tcpRetransmits++;
      this.retransmits++;
      if (this.rttTiming && seqLe(s, this.rttSeq)) this.rttTiming = false; // Karn
    } else if (!this.rttTiming) {
      this.rttTiming = true;
      this.rttSeq = s;
      this.rttTime = now;
    }
    if (s === this.sndNxt || seqGt(segEnd, this.sndNxt)) {
      if (seqGt(segEnd, this.sndNxt)) this.sndNxt = segEnd;
    }
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rtt.rto;
    this.lastDataAt = now;
    return true;
  }

  private sendFinAt(s: Seq): boolean {
    const c = this.ctx.counters;
    out.flags = ACK | FIN;
    out.seq = s;
    this.fillAck();
    out.options = this.ackOptions();
    out.payloadOffset = 0;
    out.payloadLength = 0;
    if (!this.transmit()) {
      this.txBlocked();
      return false;
    }
    this.afterAckSent();
    if (this.finSent && seqLt(s, this.sndMax)) {
      c.tcpRetransmits++;
      this.retransmits++;
    }
    this.finSent = true;
    this.finSeq = s;
    const after = seqAdd(s, 1);
    if (seqGt(after, this.sndNxt)) this.sndNxt = after;
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    if (this.rtoAt === Infinity) this.rtoAt = this.ctx.now() + this.rtt.rto;
    return true;
  }

  /** A pure ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
  sendAck(): void {
    if (this.state === "SYN-SENT" || this.state === "CLOSED") return;
    out.flags = ACK;
    out.seq = this.ackSeq();
    this.fillAck();
    out.options = this.ackOptions();
    out.payloadOffset = 0;
    out.payloadLength = 0;
    if (!this.transmit()) {
      this.txBlocked();
      return;
    }
    this.afterAckSent();
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
  private ackSeq(): Seq {
    // SND.MAX, not SND.NXT: after a timeout SND.NXT goes back to SND.UNA to resend (go-back-N), but the
    // peer may hold everything up to SND.MAX, and a bare ACK below its RCV.NXT would be unacceptable
    // to it (RFC 793's SND.NXT never goes back; Linux's snd_nxt neither).
    const nxt = this.sndMax;
    const wndEnd = seqAdd(this.sndUna, this.sndWnd);
    if (!seqGt(nxt, wndEnd)) return nxt;
    if (this.wsOk && seqSub(nxt, wndEnd) < 1 << this.sndWscale) return nxt;
    return wndEnd;
  }

  /**
   * The ACK that answers an unacceptable segment (RFC 9293 §3.10.7.4: out of window, PAWS, an ACK of
   * data not yet sent). When the segment carried nothing but an ACK, at most one answer per
   * OOW_ACK_INTERVAL_MS: two ends that disagree (each finding the other's ACKs out of window) would
   * otherwise answer each other forever, an ACK storm. Linux does the same (tcp_oow_rate_limited(),
   * tcp_invalid_ratelimit = 500 ms); segments with data are always answered (they are not part of a loop).
   */
  private ackUnacceptable(carriesSomething: boolean): void {
    if (!carriesSomething) {
      const now = this.ctx.now();
      if (now - this.lastOowAckAt < OOW_ACK_INTERVAL_MS) return;
      this.lastOowAckAt = now;
    }
    this.sendAck();
  }

  /** RFC 5961 §7: challenge ACKs, rate-limited. */
  private challengeAck(): void {
    const now = this.ctx.now();
    if (now - this.lastChallengeAckAt < CHALLENGE_ACK_INTERVAL_MS) return;
    this.lastChallengeAckAt = now;
    this.ctx.counters.tcpChallengeAcks++;
    this.sendAck();
  }

  /** ACK number and window for an outgoing segment. */
  private fillAck(): void {
    out.ack = this.rcvNxt;
    out.window = this.windowField();
    // RFC 7323 §2.4 / RFC 9293 §3.8.6.2.2: never shrink the window (the right edge never moves left).
    const right = seqAdd(this.rcvNxt, out.window << this.rcvWscale);
    if (seqGt(right, this.rcvAdv)) this.rcvAdv = right;
  }

  /** The window field: free receive space, scaled down, never moving the right edge left. */
  private windowField(): number {
    const free = this.recvBuffer.window;
    const promised = Math.max(0, seqSub(this.rcvAdv, this.rcvNxt));
    const field = free >= promised ? free >>> this.rcvWscale : Math.ceil(promised / (1 << this.rcvWscale));
    return Math.min(field, 0xffff);
  }

  /** Options on a non-SYN segment: timestamps (RFC 7323 §3.2) and SACK blocks (RFC 2018 §4). */
  private ackOptions(): TcpOptions | null {
    if (!this.tsOk && !(this.sackOk && this.recvBuffer.hasOutOfOrder)) return null;
    const o = outOpts.reset();
    if (this.tsOk) this.fillTimestamps(o);
    if (this.sackOk && this.recvBuffer.hasOutOfOrder) {
      const max = this.tsOk ? 3 : MAX_SACK_BLOCKS;
      const n = this.recvBuffer.oooRanges(sackScratch, max);
      for (let i = 0; i < n; i++) {
        o.sackBlocks[i * 2] = seqAdd(this.rcvNxt, sackScratch[i * 2]!);
        o.sackBlocks[i * 2 + 1] = seqAdd(this.rcvNxt, sackScratch[i * 2 + 1]!);
      }
      o.sackCount = n;
    }
    return o;
  }

  private fillTimestamps(o: TcpOptions): void {
    o.hasTimestamps = true;
    o.tsVal = this.tsNow();
    o.tsEcr = this.tsRecent;
  }

  /** Our timestamp clock: milliseconds plus the per-connection offset (RFC 7323 §5.4). */
  private tsNow(): number {
    return (Math.floor(this.ctx.now()) + this.tsOffset) >>> 0;
  }

  private afterAckSent(): void {
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.unackedSegments = 0;
    this.delayedAckAt = Infinity;
  }

  private txBlocked(): void {
    this.txRetryAt = this.ctx.now() + TX_RETRY_MS;
  }

  private signalTxReady(): void {
    this.txWanted = false;
    this.ctx.txReady(this);
  }

  /** A RST for this connection: <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.5 ABORT). */
  private sendReset(): void {
    if (this.state === "SYN-SENT" || this.state === "CLOSED" || this.state === "TIME-WAIT") return;
    this.sendRawReset(this.sndNxt, seq(0), false);
  }

  private sendRawReset(s: Seq, a: Seq, withAck: boolean): void {
    out.flags = RST | (withAck ? ACK : 0);
    out.seq = s;
    out.ack = a;
    out.window = 0;
    out.options = null;
    out.payloadOffset = 0;
    out.payloadLength = 0;
    if (this.transmit()) {
      this.ctx.counters.tcpResetsSent++;
    }
  }

  // =====================================================================================
  // Timers (RFC 6298 retransmission, RFC 9293 §3.8.6.1 persist, §3.8.4 keep-alive)
  // =====================================================================================

  onTimer(now: number): void {
    if (this.isClosed()) return;
    if (this.idleAt <= now) {
      this.idleExpired();
      if (this.isClosed()) return;
    }
    if (this.rtoAt <= now) {
      this.rtoExpired(now);
      if (this.isClosed()) return;
    }
    if (this.persistAt <= now) {
      this.persistExpired();
      if (this.isClosed()) return;
    }
    if (this.keepAliveAt <= now) {
      this.keepAliveExpired(now);
      if (this.isClosed()) return;
    }
    if (this.txRetryAt <= now) {
      this.txRetryAt = Infinity;
      if (this.state === "SYN-RECEIVED" || this.state === "SYN-SENT") {
        if (this.sndNxt === this.iss) this.sendSyn();
      } else {
        this.output();
      }
    }
    if (this.delayedAckAt <= now) {
      this.delayedAckAt = Infinity;
      if (this.synchronized()) this.sendAck();
    }
    this.updateDeadline();
  }

  private idleExpired(): void {
    const c = this.ctx.counters;
    this.idleAt = Infinity;
    switch (this.state) {
      case "SYN-SENT":
      case "SYN-RECEIVED":
        this.finish(CloseCause.HANDSHAKE_TIMEOUT);
        return;
      case "ESTABLISHED":
        // tcpIdleTimeout: no data either way: close (FIN).
        c.tcpIdleTimeouts++;
        this.close();
        return;
      default:
        // tcpHalfOpenIdleTimeout: half-closed with no data: abort (the engine counts CloseCause.IDLE).
        this.sendReset();
        this.finish(CloseCause.IDLE);
    }
  }

  /** RFC 6298 §5.4-5.7. */
  private rtoExpired(now: number): void {
    const c = this.ctx.counters;
    const cfg = this.ctx.config;
    this.rtoAt = Infinity;
    c.tcpRtoTimeouts++;
    this.retries++;
    if (this.state === "SYN-SENT" || this.state === "SYN-RECEIVED") {
      if (this.retries > cfg.tcpSynRetries) {
        this.finish(CloseCause.HANDSHAKE_TIMEOUT);
        return;
      }
      this.rtt.backoff();
      this.sndNxt = this.iss;
      c.tcpRetransmits++;
      this.retransmits++;
      this.sendSyn();
      return;
    }
    if (this.sndUna === this.sndMax) return; // nothing outstanding (a stale timer)
    if (this.retries > cfg.tcpMaxRetries) {
      this.sendReset();
      this.finish(CloseCause.TIMED_OUT);
      return;
    }
    // §5.5 back off; RFC 5681 §3.1 eq. 4 ssthresh and a loss window of one segment.
    this.rtt.backoff();
    this.cc.onRto(this.flightSize(), now, this.retries > 1);
    this.inRecovery = false;
    this.dupAcks = 0;
    this.recover = this.sndMax;
    this.rttTiming = false;
    // RFC 6675 §5.1: the scoreboard may be kept, but data SACKed may be reneged (RFC 2018 §8): clear it.
    this.scoreboard?.clear();
    // Go back: retransmit from SND.UNA (§5.4), later segments follow as the window opens.
    this.sndNxt = this.sndUna;
    if (this.finSent && this.sendBuffer.length === 0) {
      this.sendFinAt(this.sndUna);
    } else {
      this.retransmitFirst();
    }
    this.rtoAt = now + this.rtt.rto;
  }

  private armPersist(): void {
    const base = Math.max(this.rtt.rto, this.ctx.config.tcpMinRtoMs);
    this.persistAt = this.ctx.now() + Math.min(base * 2 ** this.persistBackoff, PERSIST_MAX_MS);
  }

  /**
   * RFC 9293 §3.8.6.1: probe a zero window. Like Linux we send a segment with SEQ = SND.UNA - 1 and no
   * data, which the peer must answer with an ACK carrying its current window.
   */
  private persistExpired(): void {
    this.persistAt = Infinity;
    if (this.sndWnd > 0 || this.sendBuffer.length === 0 || this.sndUna !== this.sndMax) return;
    // RFC 1122 §4.2.2.17: a zero window MUST NOT close the connection "as long as the receiving TCP
    // continues to send acknowledgments in response to the probe segments". When the probes go
    // unanswered, give up as after unanswered retransmissions (Linux tcp_probe_timer: tcp_retries2).
    if (this.probesOut >= this.ctx.config.tcpMaxRetries) {
      this.sendReset();
      this.finish(CloseCause.TIMED_OUT);
      return;
    }
    this.probesOut++;
    this.ctx.counters.tcpZeroWindowProbes++;
    this.sendProbe();
    this.persistBackoff = Math.min(this.persistBackoff + 1, 16);
    this.armPersist();
  }

  /** RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6: keep-alive probe <SEQ=SND.NXT-1>, no data. */
  private keepAliveExpired(now: number): void {
    const cfg = this.ctx.config;
    if (this.keepAliveProbes >= cfg.tcpKeepAliveProbes) {
      this.sendReset();
      this.finish(CloseCause.TIMED_OUT);
      return;
    }
    this.keepAliveProbes++;
    this.ctx.counters.tcpKeepAlivesSent++;
    this.sendProbe();
    this.keepAliveAt = now + cfg.tcpKeepAliveIntervalMs;
  }

  private sendProbe(): void {
    out.flags = ACK;
    out.seq = seqAdd(this.sndUna, -1);
    this.fillAck();
    out.options = this.ackOptions();
    out.payloadOffset = 0;
    out.payloadLength = 0;
    if (this.transmit()) {
      this.afterAckSent();
    }
  }

  /** Recompute the one deadline the engine sees. */
  updateDeadline(): void {
    if (this.isClosed()) return;
    const cfg = this.ctx.config;
    // Idle timers follow the last data (or the moment the connection became half-closed).
    if (this.state === "ESTABLISHED") {
      this.idleAt = this.lastDataAt + cfg.tcpIdleTimeoutMs;
    } else if (
      this.state === "CLOSE-WAIT" ||
      this.state === "FIN-WAIT-1" ||
      this.state === "FIN-WAIT-2" ||
      this.state === "CLOSING" ||
      this.state === "LAST-ACK"
    ) {
      this.idleAt = this.lastDataAt + cfg.tcpHalfOpenIdleTimeoutMs;
    }
    if (cfg.tcpKeepAliveMs > 0 && this.synchronized()) {
      if (this.keepAliveProbes === 0) this.keepAliveAt = this.lastRecvAt + cfg.tcpKeepAliveMs;
    } else {
      this.keepAliveAt = Infinity;
    }
    if (this.unackedSegments > 0 && this.delayedAckAt === Infinity) {
      this.delayedAckAt = this.ctx.now() + cfg.tcpDelayedAckMs;
    }
    const d = Math.min(this.rtoAt, this.delayedAckAt, this.persistAt, this.keepAliveAt, this.txRetryAt, this.idleAt);
    if (d !== this.deadline) {
      this.deadline = d;
      this.ctx.reschedule(this);
    }
  }

  /** RFC 1122 §4.2.3.9 and RFC 1191 / RFC 8201: an ICMP error about a segment we sent. */
  icmpUnreachable(fragNeededMtu: number, quotedSeq: number, hard: boolean, kind: IcmpErrorKind): boolean {
    if (this.isClosed()) return false;
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
        if (this.synchronized() && seqGt(this.sndMax, this.sndUna)) {
          this.sndNxt = this.sndUna;
          this.output();
        }
        this.updateDeadline();
      }
      return true;
    }
    // RFC 1122 §4.2.3.9: hard errors abort a connection that is still opening; others are soft. Like
    // Linux (tcp_v4_err, tcp_v6_err) an active open is aborted by any of them: the application that
    // dialled hears "host unreachable" at once instead of after its SYN retries; a passive open (a
    // request socket in Linux, tcp_req_err) only by hard ones.
    const aborts = this.state === "SYN-SENT" ? kind !== IcmpErrorKind.NONE : hard && this.state === "SYN-RECEIVED";
    if (aborts) {
      this.finish(
        kind === IcmpErrorKind.NET
          ? CloseCause.NET_UNREACHABLE
          : kind === IcmpErrorKind.REFUSED
            ? CloseCause.PORT_UNREACHABLE
            : CloseCause.HOST_UNREACHABLE,
      );
    }
    return true;
  }

  // =====================================================================================
  // State changes and the end
  // =====================================================================================

  /** Not narrowed by TypeScript: callbacks and timers can close the connection under our feet. */
  isClosed(): boolean {
    return this.state === "CLOSED";
  }

  private setState(s: TcpState): void {
    this.state = s;
  }

  /**
   * RFC 9293 §3.10.7.4: both FINs are exchanged and ours is acknowledged. The compact record the engine
   * keeps for 2*MSL holds no data, so the connection itself stays (in TIME-WAIT) until the application
   * has taken what it received and heard l4RemoteClosed (it may have paused delivery); deliver() then
   * finishes it.
   */
  private enterTimeWait(): void {
    this.setState("TIME-WAIT");
    if (this.recvBuffer.readable === 0 && this.remoteClosedNotified) this.finish(CloseCause.TIME_WAIT);
  }

  /** The connection is over: timers off, buffers released, the engine told once. */
  private finish(reason: CloseCause): void {
    const tw = reason === CloseCause.TIME_WAIT;
    // Kept as TIME-WAIT while the engine swaps in its record; anything else ends CLOSED at once.
    if (!tw) this.setState("CLOSED");
    this.rtoAt = this.delayedAckAt = this.persistAt = this.keepAliveAt = this.txRetryAt = this.idleAt = Infinity;
    this.deadline = Infinity;
    this.ctx.closed(this, reason);
    if (tw) this.setState("CLOSED");
    this.sendBuffer.clear();
    this.recvBuffer.clear();
  }

  /** Hand the scratch segment `out` to the engine; count it for l4Info when it went out. */
  private transmit(): boolean {
    if (!this.ctx.transmit(this, out)) return false;
    this.segmentsOut++;
    this.bytesOut += out.payloadLength;
    return true;
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
    o.rcvWnd = Math.max(0, seqSub(this.rcvAdv, this.rcvNxt));
    o.sndMss = this.sndMss;
    o.rcvMss = this.rcvMss;
    o.unacked = Math.max(0, seqSub(this.sndMax, this.sndUna));
    o.sendQueue = this.sendBuffer.length;
    o.recvQueue = this.recvBuffer.readable + this.recvBuffer.oooBytes;
  }

  /** Record a timestamp-based RTT sample from the handshake's ACK (RFC 7323 §4), or the SYN's timing. */
  private takeHandshakeRttSample(opts: TcpOptions): void {
    if (this.tsOk && opts.hasTimestamps && opts.tsEcr !== 0) {
      // RFC 7323 §4.1: the echoed timestamp says which transmission is acknowledged, even after a
      // retransmitted SYN.
      const sample = (this.tsNow() - opts.tsEcr) | 0;
      if (sample >= 0 && sample < 600_000) this.rtt.sample(sample);
    } else if (this.synSentAt >= 0) {
      // RFC 6298 §3 (Karn): time the SYN (or SYN-ACK) only if it was sent once.
      this.rtt.sample(this.ctx.now() - this.synSentAt);
    }
    // RFC 6298 §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP implementation
    // is using an RTO less than 3 seconds, the RTO MUST be re-initialized to 3 seconds when data
    // transmission begins" (when no sample was taken: RttEstimator keeps a sampled RTO).
    if (this.retries > 0) this.rtt.restartAfterSynTimeout();
  }
}

/** x in [start, start + len). */
function seqInWin(x: Seq, start: Seq, len: number): boolean {
  const d = seqSub(x, start);
  return d >= 0 && d < len;
}
