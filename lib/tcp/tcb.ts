/**
 * The transmission control block (RFC 9293 §3.3.1): one connection's variables, under the RFC's names
 * where it has one. A record: the state machine that reads and writes it is spread over the modules
 * named below, one per concept; tcp/connection.ts adds the entry points (RFC 9293 §3.10's events).
 *
 *   open.ts             the handshake: OPEN, LISTEN's SYN, option negotiation (RFC 7323, RFC 2018)
 *   segment-arrives.ts  SEGMENT ARRIVES (§3.10.7), step by step
 *   receive.ts          the receiver: text, FIN, delivery, when to ACK (RFC 5681 §4.2)
 *   recovery.ts         acknowledgments, loss recovery and congestion (RFC 5681, 6582, 6675, 6298)
 *   output.ts           what to send now, and the segments themselves
 *   timers.ts           retransmission, persist, keep-alive, delayed ACK, idle
 *   state.ts            the states, setState, the end of the connection
 */
import type { TcpState } from "../api.js";
import type { FlowRecord } from "../flow/flow.js";
import { createCongestionControl, type CongestionControl } from "./congestion/index.js";
import type { TcpContext } from "./context.js";
import { ReceiveBuffer } from "./receive-buffer.js";
import { RttEstimator } from "./rtt.js";
import type { SackScoreboard } from "./sack-scoreboard.js";
import { sharedStoragePool } from "./storage.js";
import { SendBuffer } from "./send-buffer.js";
import { seq, seqAdd, SEQ_ZERO, seqSub, UINT32_FIELD_ZERO, type Seq } from "./seq.js";

/** RFC 9293 §3.7.1 / RFC 1122: the MSS assumed when the peer sends none: 536 (IPv4), 1220 (IPv6, RFC 8200 §5). */
export const DEFAULT_MSS_V4 = 536;
export const DEFAULT_MSS_V6 = 1220;
/** RFC 7323 §2.3: shift counts above 14 are treated as 14. */
export const MAX_WINDOW_SCALE = 14;
/**
 * RFC 7323 §2.2: the smallest shift that lets the window field express the whole buffer. It depends
 * on the configuration alone: a SYN cookie's ACK (syn-backlog.ts) finds the shift its SYN-ACK offered.
 */
export function rcvWscaleFor(bufferSize: number): number {
  let shift = 0;
  while (shift < MAX_WINDOW_SCALE && bufferSize >>> shift > 0xffff) shift++;
  return shift;
}

/**
 * Linux's quick-ACK mode (tcp_input.c tcp_incr_quickack, TCP_MAX_QUICKACKS): at the start of a
 * connection, and again after the peer was silent longer than an RTO, ACK each full-sized segment
 * at once while the peer's cwnd grows (receive.ts countSegmentForAck).
 */
export const QUICKACK_SEGMENTS = 16;

/**
 * The TCB's yes/no variables, one bit each of `Tcb.bits` (a small integer): fourteen booleans as fields
 * would cost 8 bytes each per connection. Read and written through the accessors of the same names.
 * The setters flip the bit with a number literal (the Bit named beside it): so each stays within the
 * 27 bytes of bytecode that V8's optimizer always inlines (max_inlined_bytecode_size_small), whatever
 * inlining budget its caller has left (the form `on ? bits | Bit.X : bits & ~Bit.X` took 51).
 */
const Bit = {
  WS_OK: 1 << 0,
  TS_OK: 1 << 1,
  SACK_OK: 1 << 2,
  FIN_QUEUED: 1 << 3,
  FIN_SENT: 1 << 4,
  FIN_RECEIVED: 1 << 5,
  HAS_PENDING_FIN: 1 << 6,
  REMOTE_CLOSED_NOTIFIED: 1 << 7,
  IN_SYN_BACKLOG: 1 << 8,
  RX_PAUSED: 1 << 9,
  TX_WANTED: 1 << 10,
  ACK_NOW: 1 << 11,
  RTT_TIMING: 1 << 12,
  IN_RECOVERY: 1 << 13,
} as const;

export class Tcb {
  /** The FlowState tag (flow/flow.ts): on the prototype, so it costs the per-flow object nothing. */
  get kind(): "tcp" {
    return "tcp";
  }
  readonly ctx: TcpContext;
  readonly flow: FlowRecord;
  /** Earliest of the timers below; the engine's timer heap orders connections by it. */
  deadline = Infinity;
  // Stryker disable next-line UnaryOperator: TimerHeap.has checks items[heapIndex] === item (spec/mutate/equivalent-mutants.md)
  heapIndex = -1;
  /** RFC 9293 §3.3.2. Changed only through setState (state.ts). */
  state: TcpState = "CLOSED";

  // --- The yes/no variables (bits of `bits`, see Bit) ---
  private bits = 0;

  /** Both sides sent the window scale option (RFC 7323 §2.2). */
  get wsOk(): boolean {
    // Stryker disable next-line EqualityOperator: read only after a write (spec/mutate/equivalent-mutants.md)
    return (this.bits & Bit.WS_OK) !== 0;
  }
  set wsOk(on: boolean) {
    if (on !== this.wsOk) this.bits ^= 0x1; // Bit.WS_OK
  }
  /** Both sides sent the timestamps option (RFC 7323 §3.2). */
  get tsOk(): boolean {
    // Stryker disable next-line EqualityOperator: read only after a write (spec/mutate/equivalent-mutants.md)
    return (this.bits & Bit.TS_OK) !== 0;
  }
  set tsOk(on: boolean) {
    if (on !== this.tsOk) this.bits ^= 0x2; // Bit.TS_OK
  }
  /** Both sides sent SACK-permitted (RFC 2018 §2). */
  get sackOk(): boolean {
    // Stryker disable next-line EqualityOperator: read only after a write (spec/mutate/equivalent-mutants.md)
    return (this.bits & Bit.SACK_OK) !== 0;
  }
  set sackOk(on: boolean) {
    if (on !== this.sackOk) this.bits ^= 0x4; // Bit.SACK_OK
  }
  /** The application closed its side: FIN goes after the queued data. */
  get finQueued(): boolean {
    return (this.bits & Bit.FIN_QUEUED) !== 0;
  }
  set finQueued(on: boolean) {
    if (on !== this.finQueued) this.bits ^= 0x8; // Bit.FIN_QUEUED
  }
  /** Our FIN has been sent at least once (its sequence number is `finSeq`). */
  get finSent(): boolean {
    return (this.bits & Bit.FIN_SENT) !== 0;
  }
  set finSent(on: boolean) {
    if (on !== this.finSent) this.bits ^= 0x10; // Bit.FIN_SENT
  }
  /** The peer's FIN has been received and acknowledged (RCV.NXT covers it). */
  get finReceived(): boolean {
    return (this.bits & Bit.FIN_RECEIVED) !== 0;
  }
  set finReceived(on: boolean) {
    if (on !== this.finReceived) this.bits ^= 0x20; // Bit.FIN_RECEIVED
  }
  /** The peer's FIN arrived ahead of missing data (at `pendingFinSeq`). */
  get hasPendingFin(): boolean {
    return (this.bits & Bit.HAS_PENDING_FIN) !== 0;
  }
  set hasPendingFin(on: boolean) {
    if (on !== this.hasPendingFin) this.bits ^= 0x40; // Bit.HAS_PENDING_FIN
  }
  /** l4RemoteClosed was called. */
  get remoteClosedNotified(): boolean {
    return (this.bits & Bit.REMOTE_CLOSED_NOTIFIED) !== 0;
  }
  set remoteClosedNotified(on: boolean) {
    if (on !== this.remoteClosedNotified) this.bits ^= 0x80; // Bit.REMOTE_CLOSED_NOTIFIED
  }
  /** A passive open counted in the SYN backlog until its handshake completes or it ends (open.ts). */
  get inSynBacklog(): boolean {
    return (this.bits & Bit.IN_SYN_BACKLOG) !== 0;
  }
  set inSynBacklog(on: boolean) {
    if (on !== this.inSynBacklog) this.bits ^= 0x100; // Bit.IN_SYN_BACKLOG
  }
  /** l4PauseRx: what arrives stays in the receive buffer. */
  get rxPaused(): boolean {
    return (this.bits & Bit.RX_PAUSED) !== 0;
  }
  set rxPaused(on: boolean) {
    if (on !== this.rxPaused) this.bits ^= 0x200; // Bit.RX_PAUSED
  }
  /** The last l4Tx took fewer bytes than offered: l4TxReady when space opens. */
  get txWanted(): boolean {
    return (this.bits & Bit.TX_WANTED) !== 0;
  }
  set txWanted(on: boolean) {
    if (on !== this.txWanted) this.bits ^= 0x400; // Bit.TX_WANTED
  }
  /** An ACK must go out now (out-of-order data, gap filled, FIN, window update...). */
  get ackNow(): boolean {
    return (this.bits & Bit.ACK_NOW) !== 0;
  }
  set ackNow(on: boolean) {
    if (on !== this.ackNow) this.bits ^= 0x800; // Bit.ACK_NOW
  }
  /** Karn's timing without timestamps is on: `rttSeq` left at `rttTime`. */
  get rttTiming(): boolean {
    return (this.bits & Bit.RTT_TIMING) !== 0;
  }
  set rttTiming(on: boolean) {
    if (on !== this.rttTiming) this.bits ^= 0x1000; // Bit.RTT_TIMING
  }
  /** In fast recovery (RFC 5681 §3.2, RFC 6582, RFC 6675), until `recover` is acknowledged. */
  get inRecovery(): boolean {
    return (this.bits & Bit.IN_RECOVERY) !== 0;
  }
  set inRecovery(on: boolean) {
    if (on !== this.inRecovery) this.bits ^= 0x2000; // Bit.IN_RECOVERY
  }

  // --- Send sequence variables (RFC 9293 §3.3.1) ---
  iss: Seq = SEQ_ZERO;
  sndUna: Seq = SEQ_ZERO;
  sndNxt: Seq = SEQ_ZERO;
  /** Highest sequence number sent plus one (sndNxt can move back after an RTO; this cannot). */
  sndMax: Seq = SEQ_ZERO;
  /** Peer's window in bytes (already scaled). */
  sndWnd = 0;
  sndWl1: Seq = SEQ_ZERO;
  sndWl2: Seq = SEQ_ZERO;
  /** Largest window the peer ever offered (RFC 9293 §3.8.6.2.1 Max(SND.WND); RFC 5961 §5.2 MAX.SND.WND). */
  maxSndWnd = 0;
  /** Shift applied to the peer's window fields (RFC 7323 Snd.Wind.Shift). */
  sndWscale = 0;
  /** MSS the peer can take (its MSS option, bounded by our MTU). */
  sndMss = DEFAULT_MSS_V4;

  // --- Receive sequence variables ---
  irs: Seq = SEQ_ZERO;
  rcvNxt: Seq = SEQ_ZERO;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND then): never moved left (RFC 7323 §2.4). */
  rcvAdv: Seq = SEQ_ZERO;
  /** Shift applied to our window fields (RFC 7323 Rcv.Wind.Shift). */
  rcvWscale = 0;
  /** Largest segment the peer has sent us (Linux's rcv_mss): what "full-sized" means for delayed ACKs. */
  rcvMss = 536;
  /** The ACK number we last sent (RFC 7323 §4.3 Last.ACK.sent). */
  lastAckSent: Seq = SEQ_ZERO;
  /** What the global receive budget holds for this connection (receive-budget.ts), and whether it counts it. */
  rcvBudgetCharge = 0;
  rcvBudgetCounted = false;
  /** How far the receive budget lets this connection's window grow (Linux's rcv_ssthresh); 0 until set. */
  rcvSsthresh = 0;

  // --- Options negotiated ---
  /** RFC 7323 §4.3 TS.Recent. */
  tsRecent = UINT32_FIELD_ZERO;
  /** Per-connection offset added to our timestamp clock (RFC 7323 §5.4). */
  tsOffset = UINT32_FIELD_ZERO;

  // --- Buffers ---
  readonly sendBuffer: SendBuffer;
  readonly recvBuffer: ReceiveBuffer;

  // --- Close bookkeeping (and the FIN bits above) ---
  /** Our FIN's sequence number, once `finSent`. */
  finSeq: Seq = seq(0);
  /** The peer's FIN arrived ahead of missing data: where it sits. */
  pendingFinSeq: Seq = seq(0);

  // --- The application's side (the other yes/no variables are bits, above) ---
  /** In the engine's list of connections waiting for the memory budget to have a page (core.ts). */
  waitingForMemory = false;
  /** Output held for the next l4Poll (tcpAutocork; core.ts cork). */
  corked = false;

  // --- ACK generation (RFC 9293 §3.8.6.3, RFC 5681 §4.2) ---
  /** Full-sized segments received since we last sent an ACK. */
  unackedSegments = 0;
  /** Full-sized segments still to be ACKed one by one (quick-ACK mode). */
  quickAcks = QUICKACK_SEGMENTS;
  /** When the peer's last data arrived (Linux icsk_ack.lrcvtime): a longer gap than the RTO re-enters quick-ACK mode. */
  lastDataRecvAt = 0;

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
  /** When the last ACK answering an unacceptable bare ACK went out (output.ts ackUnacceptable). */
  lastOowAckAt = -Infinity;

  // --- RTT and congestion (RFC 6298, RFC 5681) ---
  readonly rtt: RttEstimator;
  cc: CongestionControl;
  /** Karn's algorithm timing without timestamps: the sequence number being timed and when it left. */
  rttSeq: Seq = seq(0);
  rttTime = 0;
  /** When our SYN (or SYN-ACK) was sent, if it was sent only once; -1 after a retransmission (Karn). */
  // Stryker disable next-line UnaryOperator: sendSyn writes it before anything reads it (spec/mutate/equivalent-mutants.md)
  synSentAt = -1;

  // --- Loss recovery (RFC 5681 §3.2, RFC 6582, RFC 6675) ---
  dupAcks = 0;
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  recover: Seq = SEQ_ZERO;
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
    const memory = ctx.counters.memory;
    this.sendBuffer = new SendBuffer(cfg.tcpBufferSize, sharedStoragePool, memory);
    this.recvBuffer = new ReceiveBuffer(cfg.tcpBufferSize, cfg.tcpMaxReassemblyRanges, sharedStoragePool, memory);
    // RFC 6298 §2.2-2.4: G is the clock granularity (the engine clock counts ms); the floor is tcpMinRtoMs.
    this.rtt = new RttEstimator(1, cfg.tcpMinRtoMs);
    this.cc = createCongestionControl(cfg.tcpCongestionControl, Math.min(this.mtuMss(), DEFAULT_MSS_V4));
    this.rcvWscale = rcvWscaleFor(cfg.tcpBufferSize);
    const now = ctx.now;
    this.lastDataAt = now;
    this.lastRecvAt = now;
    this.lastDataRecvAt = now;
  }

  /** Largest TCP payload our MTU allows, before options. */
  mtuMss(): number {
    return this.ctx.config.mtu - (this.flow.family === 6 ? 60 : 40);
  }

  /** Sender MSS for congestion accounting (RFC 5681 SMSS): the MSS less the options every segment carries. */
  smss(): number {
    return this.sndMss - (this.tsOk ? 12 : 0);
  }

  /** Sequence number one past the last byte of data queued. */
  dataEnd(): Seq {
    return seqAdd(this.sndUna, this.sendBuffer.length);
  }

  /** FlightSize (RFC 5681 §2): data sent and not yet acknowledged. */
  flightSize(): number {
    return seqSub(this.sndMax, this.sndUna);
  }

  /** The window we advertised and the peer may still fill: RCV.WND (RFC 9293 §3.3.1). */
  rcvWnd(): number {
    return Math.max(0, seqSub(this.rcvAdv, this.rcvNxt));
  }
}
