/**
 * CUBIC, RFC 9438. After a congestion event the window follows
 *
 *     W_cubic(t) = C * (t - K)^3 + W_max            (RFC 9438 §4.2, eq. 1)
 *     K = cubic_root((W_max - cwnd_epoch) / C)      (§4.2, eq. 2)
 *
 * in segments, t in seconds since the congestion avoidance stage began: concave up to the window
 * of the last loss (W_max, reached at t = K), then convex beyond it. Alongside, a Reno estimate
 * W_est keeps CUBIC at least as fast as Reno would be (§4.3).
 *
 * Windows are kept in bytes outside (the interface) and in segments inside the curve, as the RFC
 * writes it. Time comes from the `now` the connection passes in (ms); nothing here is random.
 * Slow start is Reno's with byte counting (§4.10 allows it; HyStart++ is not implemented).
 */
import { CongestionBase } from "./congestion.js";
import type { CongestionAlgorithm } from "./congestion.js";

/** RFC 9438 §4.2 / §5.1: C = 0.4 (segments per second cubed). */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: beta_cubic = 0.7, the window kept on a congestion event. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta) / (1 + beta), Reno-friendly additive increase. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** `now` value meaning "no congestion avoidance stage in progress". */
const NO_EPOCH = -1;

/** CUBIC congestion control, RFC 9438 (see the module comment). */
export class Cubic extends CongestionBase {
  readonly algorithm: CongestionAlgorithm = "cubic";
  /** RFC 9438 §4.7 fast convergence (on, as the RFC recommends and Linux does). */
  readonly fastConvergence: boolean;

  /** W_max: the window (segments) just before the last reduction, adjusted by fast convergence. */
  private wMax = 0;
  /** cwnd_prior: the window (segments) when ssthresh was last set (§4.6), for alpha_cubic (§4.3). */
  private cwndPrior = 0;
  /** W_est (segments), §4.3. */
  private wEst = 0;
  /** K (s), §4.2. */
  private k = 0;
  /** t_epoch (ms): when the current congestion avoidance stage began; NO_EPOCH if none. */
  private epochStart = NO_EPOCH;
  /** Engine time of the last ACK reported (to keep application-limited time out of t). */
  private lastAck = NO_EPOCH;
  /** The next congestion avoidance stage is the first after a timeout (§4.8). */
  private firstStageAfterRto = false;

  /**
   * @param mss sender maximum segment size (SMSS) in bytes.
   * @param fastConvergence RFC 9438 §4.7, default on.
   */
  constructor(mss: number, fastConvergence = true) {
    super(mss);
    this.fastConvergence = fastConvergence;
  }

  /** W_max in segments (0 before the first congestion event). */
  get wMaxSegments(): number {
    return this.wMax;
  }

  /** K in seconds for the current congestion avoidance stage (0 if none has started). */
  get kSeconds(): number {
    return this.k;
  }

  /** W_est in segments (§4.3), for the current congestion avoidance stage. */
  get wEstSegments(): number {
    return this.wEst;
  }

  onAck(ackedBytes: number, now: number, srttMs: number, inRecovery: boolean, cwndLimited = true): void {
    if (!(ackedBytes > 0)) return;
    const sinceLastAck = this.lastAck === NO_EPOCH ? 0 : now - this.lastAck;
    this.lastAck = now;
    if (inRecovery) return;
    if (!cwndLimited) {
      // RFC 9438 §5.8: no growth while application-limited, and t must not count that time:
      // slide the epoch forward by it.
      if (this.epochStart !== NO_EPOCH && sinceLastAck > 0) this.epochStart += sinceLastAck;
      return;
    }
    let acked = ackedBytes;
    if (this.cw < this.thresh) {
      acked = this.slowStart(acked);
      if (acked === 0) return;
    }
    if (this.epochStart === NO_EPOCH) this.startEpoch(now);

    const smss = this.smss;
    const cwnd = this.cw / smss;
    const segmentsAcked = acked / smss;
    const t = (now - this.epochStart) / 1000;

    // §4.3 Reno-friendly region: W_est grows by alpha_cubic per window acknowledged; alpha_cubic
    // becomes 1 once W_est reaches cwnd_prior, Reno's own rate.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segmentsAcked) / cwnd;

    if (this.wCubic(t) < this.wEst) {
      // Reno-friendly region: cwnd = W_est (never lowered on an ACK).
      const est = this.wEst * smss;
      if (est > this.cw) this.cw = est;
      return;
    }
    // §4.4 concave / §4.5 convex region: aim for W_cubic one RTT ahead, the target clamped to
    // [cwnd, 1.5 * cwnd] (§4.2), and close (target - cwnd) / cwnd of the gap per acknowledged segment.
    const ahead = this.wCubic(t + srttMs / 1000);
    const target = ahead < cwnd ? cwnd : ahead > 1.5 * cwnd ? 1.5 * cwnd : ahead;
    this.cw = (cwnd + ((target - cwnd) / cwnd) * segmentsAcked) * smss;
  }

  onEnterRecovery(flightSize: number, _now: number): void {
    this.congestionEvent(flightSize);
    // §4.6: cwnd = max(ssthresh, 2 SMSS) on loss; ssthresh is already at least 2 SMSS.
    this.cw = this.thresh;
    this.afterRto = false;
  }

  onRto(flightSize: number, _now: number, repeated: boolean): void {
    // §4.8: reduce cwnd as Reno does (RFC 5681: the loss window, 1 SMSS) but set ssthresh with
    // beta_cubic as in §4.6. A repeated timeout of the same segment keeps ssthresh (RFC 5681 §3.1).
    if (!repeated) this.congestionEvent(flightSize);
    this.epochStart = NO_EPOCH;
    this.cw = this.smss;
    this.afterRto = true;
    this.firstStageAfterRto = true;
  }

  override onIdleRestart(now: number): void {
    super.onIdleRestart(now);
    // A new stage begins when congestion avoidance resumes: idle time is not curve time (§5.8).
    this.epochStart = NO_EPOCH;
  }

  /** W_cubic(t), RFC 9438 eq. 1, in segments. */
  private wCubic(t: number): number {
    const d = t - this.k;
    return CUBIC_C * d * d * d + this.wMax;
  }

  /** RFC 9438 §4.6 and §4.7: remember the window, lower ssthresh, end the stage. */
  private congestionEvent(flightSize: number): void {
    const cwnd = this.cw / this.smss;
    // §4.7 fast convergence: a flow whose window keeps shrinking releases bandwidth sooner.
    this.wMax = this.fastConvergence && cwnd < this.wMax ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd;
    this.cwndPrior = cwnd;
    // §4.6: ssthresh = max(flight_size * beta_cubic, 2 SMSS). (Linux uses cwnd; the RFC's
    // flight_size cannot exceed what the path actually carried.)
    const reduced = Math.floor(flightSize * CUBIC_BETA);
    this.thresh = reduced > 2 * this.smss ? reduced : 2 * this.smss;
    this.epochStart = NO_EPOCH;
  }

  /** The start of a congestion avoidance stage (§4.2): t_epoch, cwnd_epoch, K, W_est. */
  private startEpoch(now: number): void {
    this.epochStart = now;
    const cwndEpoch = this.cw / this.smss;
    if (this.firstStageAfterRto || cwndEpoch >= this.wMax) {
      // §4.8: after a timeout, K = 0 and W_max = the window at the start of the stage.
      // The same when the window already reached W_max (no loss yet, or W_max lowered by fast
      // convergence below the restart window): the curve starts flat at cwnd and turns convex,
      // rather than taking RFC eq. 2's negative K (a steep start), as Linux does.
      this.wMax = cwndEpoch;
      this.k = 0;
      this.firstStageAfterRto = false;
    } else {
      this.k = Math.cbrt((this.wMax - cwndEpoch) / CUBIC_C);
    }
    // §4.3: W_est starts at cwnd_epoch.
    this.wEst = cwndEpoch;
  }

  protected override onMssChange(): void {
    // The curve lives in segments: an MSS change keeps it. A stage in progress restarts from the
    // rescaled window at the next ACK.
    this.epochStart = NO_EPOCH;
  }
}
