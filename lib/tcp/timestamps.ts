/**
 * Our timestamp clock (RFC 7323 §5.4: milliseconds, plus a per-connection offset so the values say
 * nothing about other connections or the host's uptime), and the RTT sample an echoed value gives
 * (RFC 7323 §4.1). Used by connections and TIME-WAIT records alike.
 */

/**
 * No round trip takes ten minutes: an echoed value further back than this (or ahead of our clock) is
 * a bogus echo or a wrapped clock, not a sample. RTOs stop growing at 120 s (RFC 6298 §2.5).
 */
const MAX_RTT_SAMPLE_MS = 600_000;

/** The TSval we send at `now` on a connection with timestamp offset `offset`. */
export function tsClock(now: number, offset: number): number {
  return (Math.floor(now) + offset) >>> 0;
}

/** The round trip an echoed TSval (a TSecr we receive) measures; -1 when it measures none. */
export function tsRttSample(now: number, offset: number, tsEcr: number): number {
  const sample = (tsClock(now, offset) - tsEcr) | 0;
  return sample >= 0 && sample < MAX_RTT_SAMPLE_MS ? sample : -1;
}
