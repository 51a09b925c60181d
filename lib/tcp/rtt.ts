/**
 * Retransmission timeout computation, RFC 6298 ("Computing TCP's Retransmission Timer").
 *
 * Where the samples come from is the caller's business; this only averages them. The caller must
 * follow Karn's algorithm (RFC 6298 §3): never take a sample from a segment that was retransmitted,
 * unless the timestamp option disambiguates it.
 *
 * With timestamps (RFC 7323 §4), a sample is `now - TSecr` taken only from an ACK that advances
 * SND.UNA (RFC 7323's RTTM rule); the peer echoes the TSval of the earliest segment it has not yet
 * acknowledged (§4.3), so delayed ACKs lengthen samples rather than shorten them. A TSecr that is
 * zero, or from the future, gives no sample. Sampling on every ACK gives many samples per RTT,
 * which makes RFC 6298's gains (tuned for one sample per RTT) forget history too fast; RFC 7323
 * Appendix G suggests dividing alpha and beta by the expected number of samples per RTT, which
 * `sample`'s second argument does. Linux samples per ACK with the plain gains; which to use is the
 * caller's choice.
 */
import { InvalidArgumentError } from "../errors.js";

/** RFC 6298 §2.1: "Until a round-trip time (RTT) measurement has been made ... RTO <- 1 second". */
export const RTO_INITIAL_MS = 1000;

/**
 * Lower bound on the RTO. RFC 6298 §2.4 says 1 second; we follow Linux (TCP_RTO_MIN = HZ/5 =
 * 200 ms): 1 s stalls short flows badly on any path with loss.
 * Precisely, Linux applies its floor to the variance term, RTO = SRTT + max(4*RTTVAR, 200 ms);
 * we keep RFC 6298's shape, RTO = max(200 ms, SRTT + max(G, 4*RTTVAR)). The two agree when SRTT
 * is small (LAN, loopback: both ~200 ms); with a larger SRTT and a steady path ours can be up to
 * SRTT shorter, so a peer's delayed ACK is more likely to cost a spurious retransmission.
 */
export const RTO_MIN_MS = 200;

/** Upper bound on the RTO: Linux TCP_RTO_MAX, 120 s (RFC 6298 §2.5 allows any maximum >= 60 s). */
export const RTO_MAX_MS = 120_000;

/**
 * RFC 6298 §5.7: if the SYN (or SYN-ACK) timed out and no RTT sample was taken, the RTO MUST be
 * re-initialised to 3 seconds when data transmission begins.
 */
export const RTO_AFTER_SYN_TIMEOUT_MS = 3000;

/** RFC 6298 §2.3: alpha = 1/8. */
const ALPHA = 1 / 8;
/** RFC 6298 §2.3: beta = 1/4. */
const BETA = 1 / 4;
/** RFC 6298 §2.2: K = 4. */
const K = 4;

/** SRTT, RTTVAR and the RTO of one connection (RFC 6298 §2, §5). Allocation-free. */
export class RttEstimator {
  /** Clock granularity G in ms (RFC 6298 §2.2, §4): the least the variance term can add. */
  readonly granularityMs: number;
  readonly minRtoMs: number;
  readonly maxRtoMs: number;
  private smoothed = 0;
  private variation = 0;
  private timeout: number;
  private sampled = false;

  /**
   * @param granularityMs clock granularity G in ms, > 0 (default 1 ms: the engine clock's unit).
   * @param minRtoMs lower bound on the RTO (default 200 ms, Linux; see RTO_MIN_MS).
   * @param maxRtoMs upper bound on the RTO (default 120 s), >= minRtoMs.
   */
  constructor(granularityMs = 1, minRtoMs = RTO_MIN_MS, maxRtoMs = RTO_MAX_MS) {
    if (!(granularityMs > 0 && granularityMs < Infinity)) {
      throw new InvalidArgumentError(`RttEstimator granularity must be a positive number of ms, got ${granularityMs}`);
    }
    if (!(minRtoMs > 0 && maxRtoMs >= minRtoMs && maxRtoMs < Infinity)) {
      throw new InvalidArgumentError(`RttEstimator needs 0 < minRtoMs <= maxRtoMs, got ${minRtoMs}, ${maxRtoMs}`);
    }
    this.granularityMs = granularityMs;
    this.minRtoMs = minRtoMs;
    this.maxRtoMs = maxRtoMs;
    this.timeout = this.clamp(RTO_INITIAL_MS);
  }

  /** The retransmission timeout in ms, backoff included. */
  get rto(): number {
    return this.timeout;
  }

  /** Smoothed RTT (SRTT) in ms; 0 until the first sample. */
  get srtt(): number {
    return this.smoothed;
  }

  /** RTT variation (RTTVAR) in ms; 0 until the first sample. */
  get rttvar(): number {
    return this.variation;
  }

  /** True once a sample has been taken. */
  get hasSample(): boolean {
    return this.sampled;
  }

  /**
   * Takes one RTT measurement `rttMs` (>= 0) and recomputes the RTO, which also ends any backoff
   * (RFC 6298 §5: the backed-off RTO is kept until a new sample arrives). Returns false, changing
   * nothing, for a sample that is negative or not finite (e.g. from a bogus echoed timestamp).
   *
   * @param samplesPerRtt RFC 7323 Appendix G: when sampling every ACK, the expected number of
   *   samples per RTT, ceil(FlightSize / (2 * SMSS)); alpha and beta are divided by it. Default 1.
   */
  sample(rttMs: number, samplesPerRtt = 1): boolean {
    if (!(rttMs >= 0 && rttMs < Infinity)) return false;
    const expected = samplesPerRtt > 1 ? samplesPerRtt : 1;
    if (!this.sampled) {
      // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
      this.smoothed = rttMs;
      this.variation = rttMs / 2;
      this.sampled = true;
    } else {
      // RFC 6298 §2.3, RTTVAR first (it uses the old SRTT):
      //   RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|
      //   SRTT <- (1 - alpha) * SRTT + alpha * R'
      const alpha = ALPHA / expected;
      const beta = BETA / expected;
      this.variation = (1 - beta) * this.variation + beta * Math.abs(this.smoothed - rttMs);
      this.smoothed = (1 - alpha) * this.smoothed + alpha * rttMs;
    }
    // RFC 6298 §2.2/§2.3: RTO <- SRTT + max(G, K*RTTVAR), then §2.4/§2.5 bounds.
    const kv = K * this.variation;
    this.timeout = this.clamp(this.smoothed + (kv > this.granularityMs ? kv : this.granularityMs));
    return true;
  }

  /** The retransmission timer expired: RTO <- RTO * 2, up to the maximum (RFC 6298 §5.5). */
  backoff(): void {
    const doubled = this.timeout * 2;
    this.timeout = doubled < this.maxRtoMs ? doubled : this.maxRtoMs;
  }

  /**
   * The handshake is complete after the SYN (or SYN-ACK) was retransmitted: if no sample was
   * taken, RTO <- 3 s (RFC 6298 §5.7), within the bounds.
   */
  restartAfterSynTimeout(): void {
    if (!this.sampled) this.timeout = this.clamp(RTO_AFTER_SYN_TIMEOUT_MS);
  }

  private clamp(ms: number): number {
    return ms < this.minRtoMs ? this.minRtoMs : ms > this.maxRtoMs ? this.maxRtoMs : ms;
  }
}
