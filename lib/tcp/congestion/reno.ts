/**
 * Reno / NewReno window arithmetic: RFC 5681 §3.1 (slow start, congestion avoidance) with
 * appropriate byte counting (RFC 3465), RFC 5681 §3.2 / RFC 6582 for the window during fast
 * recovery (the recovery logic itself is the connection's).
 */
import { CongestionBase } from "./congestion.js";
import type { CongestionAlgorithm } from "./congestion.js";

/** Reno / NewReno congestion control: RFC 5681 with byte counting (RFC 3465). */
export class Reno extends CongestionBase {
  readonly algorithm: CongestionAlgorithm = "reno";
  /** RFC 3465 §2.1 bytes_acked: bytes acknowledged in congestion avoidance not yet turned into cwnd. */
  private bytesAcked = 0;

  /** @param mss sender maximum segment size (SMSS) in bytes. */
  constructor(mss: number) {
    super(mss);
  }

  onAck(ackedBytes: number, _now: number, _srttMs: number, inRecovery: boolean, cwndLimited = true): void {
    if (!(ackedBytes > 0) || inRecovery || !cwndLimited) return;
    let acked = ackedBytes;
    if (this.cw < this.thresh) {
      acked = this.slowStart(acked);
      if (acked === 0) return;
    }
    // RFC 3465 §2.1 (RFC 5681 §3.1 allows it): count acknowledged bytes; each time a full cwnd has
    // been acknowledged, cwnd grows by one SMSS, so about 1 SMSS per RTT.
    this.bytesAcked += acked;
    if (this.bytesAcked >= this.cw) {
      this.bytesAcked -= this.cw;
      this.cw += this.smss;
    }
  }

  onEnterRecovery(flightSize: number, _now: number): void {
    // RFC 5681 §3.2 step 2 (eq. 4), RFC 6675 §5 step 4.2: ssthresh = cwnd = max(FlightSize/2, 2*SMSS).
    this.thresh = this.renoSsthresh(flightSize);
    this.cw = this.thresh;
    this.bytesAcked = 0;
    this.afterRto = false;
  }

  onRto(flightSize: number, _now: number, repeated: boolean): void {
    // RFC 5681 §3.1: ssthresh per eq. (4) on the first timeout of a segment, cwnd = LW = 1 SMSS.
    if (!repeated) this.thresh = this.renoSsthresh(flightSize);
    this.cw = this.smss;
    this.bytesAcked = 0;
    this.afterRto = true;
  }

  protected override onMssChange(): void {
    this.bytesAcked = 0;
  }
}
