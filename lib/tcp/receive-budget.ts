/**
 * The global receive budget (`receiveBudget(bytes)` on the builder): a bound on the sum, over every
 * connection, of the receive window the engine has advertised and the peer has not filled yet,
 * RCV.ADV - RCV.NXT (RFC 9293 §3.3.1 RCV.WND as last sent). Each such byte may be on its way to us
 * at the same moment, so the sum is what the reading side must be able to hold: a TUN device queues
 * at most txqueuelen packets for us and drops the rest (Linux tun_net_xmit), and N flows whose windows
 * add up past that lose packets at the queue however fast each flow alone would be served. Linux
 * bounds each socket's window (tcp_rmem) and all of them only by memory (tcp_mem); the bound on the
 * sum here is ours, for a userspace reader behind a device queue of fixed size.
 *
 * A connection's offered window (tcp/output.ts offeredWindow) is, besides its free buffer:
 *   - at most its own growth limit, Linux's rcv_ssthresh (tcp_grow_window): 64 KiB at first (the
 *     SYN-ACK's window), two segments more for each segment of data received. A window opens as its
 *     flow shows it uses it: an idle connection (iperf3's control connection, a keep-alive) keeps
 *     what it was first offered and does not sit on the budget the busy ones need, since a promise
 *     once made is only ever given back by the data that fills it;
 *   - at most its fair share, limit / connections, so that a flow that came first does not keep the
 *     whole budget as its data arrives and it re-offers what it freed;
 *   - at most what it has promised already plus the room left under the limit;
 *   - never below FLOOR_SEGMENTS of the peer's segments, as Linux's tcp_clamp_window never clamps
 *     below 2 * rcv_mss: every flow keeps moving, and no flow waits for a window update that only
 *     another flow's data would trigger. So the sum stays within the limit plus a floor per
 *     connection (a promise made before the others came is kept): the reader's queue must hold the
 *     floors of all its flows too (README: --txqueuelen, 4 per flow).
 * And the right edge never moves left (windowField: RFC 9293 §3.8.6.2.2, RFC 7323 §2.4): under a
 * tighter budget a window already offered shrinks only as data fills it.
 *
 * Accounting is lazy and allocation-free: each connection's charge is its promise as last measured
 * (`account`: when its right edge moves and when its window is computed). Data received in between
 * lowers the true promise but not the charge, so the sum charged is never below the truth.
 * `limit` Infinity (the default): nothing is counted.
 */
import type { Tcb } from "./tcb.js";
import { seqSub } from "./seq.js";

/** The least a connection may always offer, in the peer's segments (Linux tcp_clamp_window: 2 * rcv_mss). */
export const FLOOR_SEGMENTS = 2;
/** Where a connection's growth limit starts: the largest unscaled window, what a SYN-ACK offers (RFC 7323 §2.2). */
export const INITIAL_GROWTH_LIMIT = 0xffff;
/** Bytes the growth limit gains per byte of data received (Linux tcp_grow_window: 2 * advmss a segment). */
const GROWTH_PER_BYTE = 2;

export class ReceiveBudget {
  /** Bytes promised (charged) over all connections. */
  private promisedBytes = 0;
  /** Connections holding a charge (their share of the limit is limit / connections). */
  private charged = 0;
  /** Windows the budget made smaller than the free buffer (stats: receiveBudgetLimited). */
  limited = 0;

  /** @param limit bytes, or Infinity: no bound, nothing counted. */
  constructor(readonly limit = Infinity) {}

  /** Bytes promised now (as last measured), all connections. */
  get promised(): number {
    return this.promisedBytes;
  }

  /** Connections counted. */
  get connections(): number {
    return this.charged;
  }

  /** The connection's promise, RCV.ADV - RCV.NXT, becomes its charge. */
  account(c: Tcb): void {
    if (this.limit === Infinity) return;
    const promise = Math.max(0, seqSub(c.rcvAdv, c.rcvNxt));
    if (!c.rcvBudgetCounted) {
      c.rcvBudgetCounted = true;
      this.charged++;
    }
    this.promisedBytes += promise - c.rcvBudgetCharge;
    c.rcvBudgetCharge = promise;
  }

  /** `len` bytes of data arrived: the connection's growth limit opens by twice as much (module comment). */
  grow(c: Tcb, len: number): void {
    if (this.limit === Infinity) return;
    const limit = (c.rcvSsthresh === 0 ? INITIAL_GROWTH_LIMIT : c.rcvSsthresh) + GROWTH_PER_BYTE * len;
    c.rcvSsthresh = limit < this.limit ? limit : this.limit;
  }

  /** The connection ended: its charge is given back. */
  release(c: Tcb): void {
    if (!c.rcvBudgetCounted) return;
    c.rcvBudgetCounted = false;
    this.charged--;
    this.promisedBytes -= c.rcvBudgetCharge;
    c.rcvBudgetCharge = 0;
  }

  /**
   * The most connection `c` may offer given `free` bytes of buffer: within its share and the room
   * left, never below the floor (module comment). The caller keeps the right edge where it was if
   * this is less than already promised.
   */
  clamp(c: Tcb, free: number): number {
    if (this.limit === Infinity) return free;
    this.account(c);
    const segment = c.rcvMss > c.sndMss ? c.rcvMss : c.sndMss;
    const floor = FLOOR_SEGMENTS * segment;
    if (free <= floor) return free;
    let allowed = this.limit - (this.promisedBytes - c.rcvBudgetCharge);
    const share = Math.floor(this.limit / this.charged);
    if (allowed > share) allowed = share;
    if (c.rcvSsthresh === 0) c.rcvSsthresh = INITIAL_GROWTH_LIMIT;
    if (allowed > c.rcvSsthresh) allowed = c.rcvSsthresh;
    if (allowed < floor) allowed = floor;
    if (free <= allowed) return free;
    this.limited++;
    return allowed;
  }
}
