import type { CongestionControl } from "../../../lib/tcp/congestion/index.js";

/**
 * One RTT of an ACK clock: a full cwnd sent, then acknowledged `segmentsPerAck` segments at a time
 * (the last ACK covering what is left), spread evenly over the RTT.
 */
export function oneRtt(cc: CongestionControl, now: number, rttMs: number, segmentsPerAck = 1): number {
  const window = cc.cwnd;
  const step = segmentsPerAck * cc.mss;
  const acks = Math.ceil(window / step);
  for (let i = 0; i < acks; i++) {
    now += rttMs / acks;
    cc.onAck(Math.min(step, window - i * step), now, rttMs, false);
  }
  return now;
}
