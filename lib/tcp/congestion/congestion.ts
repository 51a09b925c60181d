/**
 * The congestion window, behind one interface the connection drives (RFC 5681 §3; RFC 9438 for
 * CUBIC). The algorithm owns cwnd and ssthresh and nothing else: detecting loss, choosing what to
 * retransmit (RFC 6675, sack-scoreboard.ts) and deciding when recovery starts and ends stay with
 * the connection, which reports those events here.
 *
 * Units: windows are in bytes; times are the engine clock in milliseconds (injected, never read
 * from a global clock), so behaviour is deterministic under a virtual clock.
 *
 * What the connection calls, and when:
 * - `onAck` for every ACK that advances SND.UNA (in recovery too: the algorithm then holds still).
 * - `onEnterRecovery` on fast retransmit (RFC 5681 §3.2 step 2 / RFC 6675 §5 step 4 /
 *   RFC 6582 §3.2 step 2), `onExitRecovery` when the ACK covering the recovery point arrives.
 * - `inflate` / `deflate` only for NewReno recovery without SACK (RFC 5681 §3.2 steps 3-4,
 *   RFC 6582 §3.2 step 5): SACK recovery uses the pipe estimate and never inflates cwnd.
 * - `onRto` when the retransmission timer expires (RFC 5681 §3.1, RFC 9438 §4.8).
 * - `onIdleRestart` before sending after an idle period longer than the RTO (RFC 5681 §4.1).
 *
 * Not here (yet): ECN (RFC 3168 / RFC 9438 §4.6's ECE case), undo of spurious reductions
 * (RFC 9438 §4.9), HyStart++ (RFC 9406), PRR (RFC 6937).
 */
import { InvalidArgumentError } from "../../errors.js";

/** The congestion control algorithms available (config.ts `tcpCongestionControl`). */
export type CongestionAlgorithm = "reno" | "cubic";

/**
 * RFC 6928 IW10: the initial window is 10 segments. RFC 6928 §2 caps it at
 * min(10*MSS, max(2*MSS, 14600)) bytes; Linux (TCP_INIT_CWND) uses 10 segments whatever the MSS,
 * and so do we. The two agree for every MSS up to 1460.
 */
export const INITIAL_WINDOW_SEGMENTS = 10;

/** RFC 5681 §3.1: "The initial value of ssthresh SHOULD be set arbitrarily high". */
export const SSTHRESH_INFINITE = Infinity;

/** Initial window in bytes for a sender MSS of `mss` (see INITIAL_WINDOW_SEGMENTS). */
export function initialWindow(mss: number): number {
  return INITIAL_WINDOW_SEGMENTS * mss;
}

/** The congestion controller of one connection. */
export interface CongestionControl {
  /** Which algorithm this is. */
  readonly algorithm: CongestionAlgorithm;
  /** Congestion window in bytes (an integer, at least 1 SMSS). */
  readonly cwnd: number;
  /** Slow start threshold in bytes; SSTHRESH_INFINITE until the first congestion event. */
  readonly ssthresh: number;
  /** True while cwnd < ssthresh (RFC 5681 §3.1: slow start). */
  readonly inSlowStart: boolean;
  /**
   * Sender maximum segment size (SMSS) in bytes. Setting it (e.g. after path MTU discovery)
   * rescales cwnd and ssthresh to keep the same number of segments, as Linux does by counting
   * cwnd in packets.
   */
  mss: number;
  /**
   * An ACK advanced SND.UNA by `ackedBytes`.
   * @param now engine clock, ms.
   * @param srttMs the current smoothed RTT (rtt.ts; 0 before the first sample).
   * @param inRecovery true during fast recovery: cwnd does not grow (RFC 5681 §3.2,
   *   RFC 6675 §5) and the call only keeps the algorithm's clock.
   * @param cwndLimited false when the sender was limited by the application or the peer's
   *   window rather than by cwnd: cwnd does not grow then (congestion window validation, RFC 7661;
   *   RFC 9438 §5.8, which also keeps such periods out of CUBIC's clock). Default true.
   */
  onAck(ackedBytes: number, now: number, srttMs: number, inRecovery: boolean, cwndLimited?: boolean): void;
  /**
   * Loss detected by duplicate ACKs or SACK, fast retransmit sent: a congestion event.
   * ssthresh drops (RFC 5681 eq. (4); RFC 9438 §4.6) and cwnd is set to it (RFC 6675 §5 step 4.2);
   * NewReno's "+3 SMSS" inflation (RFC 6582 §3.2 step 2) is a separate `inflate(3 * mss)`.
   * @param flightSize bytes outstanding (SND.NXT - SND.UNA) when the loss was detected.
   */
  onEnterRecovery(flightSize: number, now: number): void;
  /**
   * The recovery point was acknowledged (RFC 6582 §3.2 step 3 "full acknowledgment"):
   * cwnd = min(ssthresh, max(flightSize, SMSS) + SMSS), the first option of RFC 6582, which
   * deflates to ssthresh and also avoids a burst if little data is in flight.
   * @param flightSize bytes outstanding after this ACK.
   */
  onExitRecovery(flightSize: number): void;
  /**
   * The retransmission timer expired (RFC 5681 §3.1): cwnd = 1 SMSS (the loss window) and, unless
   * `repeated`, ssthresh drops as for a loss (RFC 5681 eq. (4); RFC 9438 §4.8).
   * @param flightSize bytes outstanding when the timer expired.
   * @param repeated true when the segment at SND.UNA had already been retransmitted by the timer:
   *   RFC 5681 §3.1 lowers ssthresh only the first time ("the given segment has not yet been resent
   *   by way of the retransmission timer").
   */
  onRto(flightSize: number, now: number, repeated: boolean): void;
  /**
   * The connection is about to send after being idle for longer than the RTO (RFC 5681 §4.1):
   * cwnd = min(RW, cwnd) with the restart window RW = min(IW, cwnd).
   */
  onIdleRestart(now: number): void;
  /** Raises cwnd by `bytes` (NewReno artificial inflation: RFC 5681 §3.2 steps 3-4). */
  inflate(bytes: number): void;
  /** Lowers cwnd by `bytes`, not below 1 SMSS (NewReno partial ACK: RFC 6582 §3.2 step 5). */
  deflate(bytes: number): void;
}

/**
 * What Reno and CUBIC share: the window state, slow start with appropriate byte counting, the
 * idle restart, NewReno inflation and the exit from recovery. Subclasses supply congestion
 * avoidance and the reaction to loss.
 */
export abstract class CongestionBase implements CongestionControl {
  abstract readonly algorithm: CongestionAlgorithm;
  /** Congestion window in bytes; may hold a fraction (CUBIC's per-ACK increments). */
  protected cw: number;
  protected thresh: number = SSTHRESH_INFINITE;
  protected smss: number;
  /**
   * Slow start after an RTO: the byte-counting limit L is 1*SMSS (RFC 3465 §2.3: the first ACKs
   * after a timeout can cover much data the receiver already held), instead of 2*SMSS.
   */
  protected afterRto = false;

  constructor(mss: number) {
    checkMss(mss);
    this.smss = mss;
    this.cw = initialWindow(mss);
  }

  get cwnd(): number {
    return Math.floor(this.cw);
  }

  get ssthresh(): number {
    return this.thresh;
  }

  get inSlowStart(): boolean {
    return this.cw < this.thresh;
  }

  get mss(): number {
    return this.smss;
  }

  set mss(mss: number) {
    checkMss(mss);
    if (mss === this.smss) return;
    const ratio = mss / this.smss;
    this.cw = Math.max(mss, Math.floor(this.cw * ratio));
    if (this.thresh !== SSTHRESH_INFINITE) this.thresh = Math.max(2 * mss, Math.floor(this.thresh * ratio));
    this.smss = mss;
    this.onMssChange();
  }

  abstract onAck(ackedBytes: number, now: number, srttMs: number, inRecovery: boolean, cwndLimited?: boolean): void;
  abstract onEnterRecovery(flightSize: number, now: number): void;
  abstract onRto(flightSize: number, now: number, repeated: boolean): void;

  onExitRecovery(flightSize: number): void {
    const smss = this.smss;
    const burstLimit = (flightSize > smss ? flightSize : smss) + smss;
    this.cw = this.thresh < burstLimit ? this.thresh : burstLimit;
  }

  onIdleRestart(_now: number): void {
    const iw = initialWindow(this.smss);
    if (this.cw > iw) this.cw = iw;
  }

  inflate(bytes: number): void {
    if (bytes > 0) this.cw += bytes;
  }

  deflate(bytes: number): void {
    if (bytes > 0) this.cw = this.cw - bytes > this.smss ? this.cw - bytes : this.smss;
  }

  /**
   * Slow start with appropriate byte counting (RFC 3465 §2.2; RFC 5681 §3.1 allows it):
   * cwnd += min(acked, L), L = 2*SMSS (1*SMSS after an RTO), not beyond ssthresh.
   * Returns the acknowledged bytes left over once cwnd reached ssthresh, for congestion avoidance
   * (0 if still in slow start).
   */
  protected slowStart(acked: number): number {
    const limit = this.afterRto ? this.smss : 2 * this.smss;
    const increase = acked < limit ? acked : limit;
    const room = this.thresh - this.cw;
    if (increase < room) {
      this.cw += increase;
      return 0;
    }
    this.cw = this.thresh;
    this.afterRto = false;
    return acked - room;
  }

  /** RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS). */
  protected renoSsthresh(flightSize: number): number {
    const half = Math.floor(flightSize / 2);
    return half > 2 * this.smss ? half : 2 * this.smss;
  }

  /** Hook for state kept in segments or bytes that must follow an MSS change. */
  protected onMssChange(): void {}
}

function checkMss(mss: number): void {
  if (!Number.isInteger(mss) || mss < 1 || mss > 0xffff) {
    throw new InvalidArgumentError(`MSS must be an integer in [1, 65535], got ${mss}`);
  }
}
