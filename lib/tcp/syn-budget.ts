/**
 * The SYN admission budget: how many SYNs past the SYN backlog get a SYN cookie (tcp/syn-backlog.ts).
 * A token bucket on the engine's clock; a cookie SYN takes a token, and one that finds none is dropped
 * unanswered before any hashing (tcp/demux.ts `accept`, counted in stats().tcpSynsOverBudget).
 *
 * Why: a SYN cookie keeps no state (RFC 4987 §3.6), but answering one costs CPU (a keyed hash, a
 * SYN-ACK written: about 1 µs here), and the engine is single-threaded, so an established flow pays
 * for every cookie the flood gets: under about one SYN per data segment a bulk flow kept about half
 * its throughput (0.41-0.58, spec/bench/flood-cost.ts). RFC 4987 §3.5 (SYN cache) bounds the state a flood may
 * take; this bounds the time it may take, which §3.6 leaves unbounded. §3.1 (filtering) is what it is
 * not: the engine cannot tell a spoofed source from a real one, so the budget is blind to the source,
 * and a legitimate client's SYN competes with the flood's for tokens (README.md gives its chances).
 *
 * Tokens come from two places:
 * - a floor rate on the clock (synCookieRate, default DEFAULT_SYN_COOKIE_RATE a second), so that an
 *   engine with no traffic still takes new connections under a flood;
 * - SYN_CREDIT_PER_SEGMENT for every non-SYN segment that reached an existing connection, counted by
 *   the demux in `earned`: established traffic earns handshakes in proportion, and a flood cannot
 *   take more than about that share of the CPU from it. Spoofed segments that match no flow earn
 *   nothing.
 * and the bucket holds at most SYN_BURST tokens.
 *
 * Applies only in cookie mode, the SYN backlog full (a flood: synBacklog half-open connections at
 * once): a SYN that makes a half-open connection, one the memory budget answers with a cookie while
 * the backlog has room, a retransmitted SYN for an existing flow and a SYN that reopens a TIME-WAIT
 * record (RFC 9293 §3.10.7.4, RFC 6191) never take a token.
 *
 * Linux has no such bucket: with tcp_syncookies it answers every SYN past tcp_max_syn_backlog with a
 * cookie, and drops SYNs only when the listener's accept queue is full (tcp_conn_request,
 * LISTENOVERFLOWS); rate limits are netfilter's (`-p tcp --syn -m limit` / hashlimit). Linux spreads
 * the cookies over every core; we have one thread to share with the established flows, hence a budget.
 *
 * Refilled lazily, only when a cookie SYN arrives: nothing per segment but `earned++`.
 */

/**
 * SYNs a second with no other traffic; default of synCookieRate. 20,000: about 2 % of one core at 1 µs
 * a cookie, and far above any single client's SYN rate, while a heavy flood (160,000 a second, the
 * engine's measured SYN rate) gets one answer in eight.
 */
export const DEFAULT_SYN_COOKIE_RATE = 20_000;

/**
 * Tokens per non-SYN segment to an existing connection: 1/8. Measured (spec/bench/flood-cost.ts, a
 * bulk flow between two engines under about one SYN per data segment): a data segment costs about
 * 2.1 µs of CPU (both ends), a cookie SYN about 1.0 µs and a SYN dropped here about 0.18 µs. At 1/8
 * the cookies the flow earns the flood take at most about 6 % of the flow's CPU (1/4: 12 %; 1/16: 3 %,
 * but half the handshakes for a busy engine's legitimate clients), and the drops about 8 % more; the
 * flooded flow kept 0.57-0.68 of its throughput instead of 0.46-0.52 (the 4096 half-open records
 * that fill the backlog first take most of the rest). A busy engine (100,000 segments
 * a second) earns 12,500 cookies a second on top of the floor.
 */
export const SYN_CREDIT_PER_SEGMENT = 0.125;

/**
 * Most tokens held: 64, about 3 ms of the floor rate, so a batch of SYNs read together (the TUN
 * runner reads up to 64 packets a batch at first, runner.ts) passes whole after a quiet spell; small
 * enough that a flood starting finds almost nothing saved.
 */
export const SYN_BURST = 64;

export class SynBudget {
  /** Non-SYN segments that reached an existing connection since the last refill (tcp/demux.ts counts them). */
  earned = 0;
  private tokens: number;
  /** When tokens were last counted (engine clock, ms); NaN before the first SYN. */
  private at = NaN;
  private readonly perMs: number;

  constructor(
    /** Floor rate, SYNs a second; Infinity: no budget (every cookie SYN answered). */
    readonly rate: number,
  ) {
    this.perMs = rate / 1000;
    this.tokens = SYN_BURST;
  }

  /** Take a token for a cookie SYN at `now` (engine clock, ms): false when there is none. */
  take(now: number): boolean {
    if (this.rate === Infinity) return true;
    let t = this.tokens + this.earned * SYN_CREDIT_PER_SEGMENT;
    this.earned = 0;
    // The clock never goes back; a first call (NaN) counts no time.
    const dt = now - this.at;
    if (dt > 0) t += dt * this.perMs;
    this.at = now;
    if (t > SYN_BURST) t = SYN_BURST;
    if (t < 1) {
      this.tokens = t;
      return false;
    }
    this.tokens = t - 1;
    return true;
  }

  /** Tokens now, before the next refill (specs). */
  get available(): number {
    return this.tokens;
  }
}
