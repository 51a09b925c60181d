/**
 * The engine's memory budget (`maxMemory(bytes)` on the builder): one account of every byte peers
 * can make the engine hold, by kind, and the pressure that follows from it. Linux keeps the same
 * account for TCP (tcp_mem: low, pressure, high, in pages) and for fragments (ipfrag_high_thresh);
 * here one budget covers them all, so a flood of one kind cannot starve the others unnoticed.
 *
 * Under pressure the holders act in this order (issue 13):
 *   1. SHRINK  (from half the budget): the receive window of a flow holding data is clamped to two
 *              segments (tcp/output.ts offeredWindow; Linux tcp_clamp_window), so it shrinks as data
 *              fills it; never below what was already advertised (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4:
 *              the right edge never moves left); and a SYN gets a SYN cookie, not a half-open
 *              record (tcp/demux.ts accept; RFC 4987 §3.6), so a SYN flood stops at this step;
 *   2. PRUNE   (from three quarters): out-of-order data that needs more storage is refused
 *              (tcp/receive-buffer.ts reserve). RFC 2018 §8 allows reneging on data already SACKed;
 *              Linux's tcp_prune_ofo_queue does it as a last resort; we never do: only new
 *              out-of-order data is refused, and in-order data keeps its storage to the limit;
 *   3. REFUSE  (from 90 %): new flows are refused (TCP RST, UDP ICMP port unreachable), counted;
 * and nothing is ever charged past the limit: `tryCharge` is the only way to charge; it says no, and the
 * holder drops (or, for an application's write, waits: `wantRoom`).
 *
 * Allocation-free and O(1) per charge: counts in a Float64Array, kinds as small integers.
 */
import { InvalidArgumentError } from "./errors.js";

export const MemoryKind = {
  /** TCP send buffers: accepted by l4Tx, not yet acknowledged. */
  SEND: 0,
  /** TCP receive buffers: in order, not yet delivered (paused flows). */
  RECEIVE: 1,
  /** TCP out-of-order data held for reassembly (RFC 9293 §3.10.7.4 "seventh"). */
  OUT_OF_ORDER: 2,
  /** IP fragments held for reassembly. */
  FRAGMENTS: 3,
  /** Half-open (SYN-RECEIVED) connections. */
  HALF_OPEN: 4,
  /** TIME-WAIT records. */
  TIME_WAIT: 5,
  /** Datagrams queued on paused UDP flows. */
  UDP_QUEUE: 6,
} as const;
export type MemoryKind = (typeof MemoryKind)[keyof typeof MemoryKind];

const KIND_NAMES = ["send", "receive", "outOfOrder", "fragments", "halfOpen", "timeWait", "udpQueue"] as const;
export type MemoryKindName = (typeof KIND_NAMES)[number];

export const MemoryPressure = { NONE: 0, SHRINK: 1, PRUNE: 2, REFUSE: 3 } as const;
export type MemoryPressure = (typeof MemoryPressure)[keyof typeof MemoryPressure];

/**
 * What a half-open (SYN-RECEIVED) connection is charged: its TcpConnection, FlowRecord and table slot.
 * Measured on Node 20 (spec/tcp/memory.spec.ts, heap after a full GC): 2067 bytes (IPv4), 2152 (IPv6);
 * charged with room to spare, so the heap a SYN flood makes the engine hold stays under the budget.
 */
export const HALF_OPEN_BYTES = 2560;
/** What a TIME-WAIT record is charged (time-wait.ts: about 240 bytes a row at 20,000 rows). */
export const TIME_WAIT_BYTES = 240;
/** Overhead charged per queued UDP datagram and per held IP fragment, beyond its bytes (the copy's object). */
export const RECORD_OVERHEAD_BYTES = 64;

/**
 * The most of the limit one TCP flow's out-of-order data may make its receive ring grow by
 * (tcp/receive-buffer.ts). Out-of-order storage is the ring up to the furthest byte held, so one
 * byte at the far edge of a 256 KiB window costs 256 KiB: without a share a handful of flows (one
 * peer) could take the budget to PRUNE, and every other flow's reordering would then be refused. With
 * an eighth it takes six flows to reach PRUNE (3/4), and maxFlowsPerSource can keep one peer below that.
 * Linux bounds the same per socket (out-of-order skbs count in sk_rmem_alloc against sk_rcvbuf, and
 * tcp_prune_ofo_queue drops from the far end when it is passed); the share is ours.
 */
export const FLOW_OUT_OF_ORDER_SHARE = 0.125;

/** Where each pressure level starts, as a share of the limit. */
const SHRINK_AT = 0.5;
const PRUNE_AT = 0.75;
const REFUSE_AT = 0.9;

export class MemoryBudget {
  private readonly used = new Float64Array(KIND_NAMES.length);
  private inUse = 0;
  /** tryCharge calls refused, by kind. */
  readonly refused = new Float64Array(KIND_NAMES.length);

  /** @param limit bytes, or Infinity: everything is counted, nothing refused. */
  constructor(readonly limit = Infinity) {
    if (!(limit > 0)) throw new InvalidArgumentError(`maxMemory must be a positive number of bytes: ${limit}`);
  }

  /** Bytes held now, all kinds. */
  get total(): number {
    return this.inUse;
  }

  /** Bytes that can still be charged. */
  get available(): number {
    return Math.max(0, this.limit - this.inUse);
  }

  get pressure(): MemoryPressure {
    const share = this.inUse / this.limit;
    if (share >= REFUSE_AT) return MemoryPressure.REFUSE;
    if (share >= PRUNE_AT) return MemoryPressure.PRUNE;
    if (share >= SHRINK_AT) return MemoryPressure.SHRINK;
    return MemoryPressure.NONE;
  }

  of(kind: MemoryKind): number {
    return this.used[kind]!;
  }

  /** Charges `bytes` of `kind` if they fit under the limit; false (nothing charged, counted) if not. */
  tryCharge(kind: MemoryKind, bytes: number): boolean {
    if (this.inUse + bytes > this.limit) {
      this.refused[kind]!++;
      return false;
    }
    this.used[kind]! += bytes;
    this.inUse += bytes;
    return true;
  }

  /** True when `bytes` more would fit under the limit now. */
  fits(bytes: number): boolean {
    return this.inUse + bytes <= this.limit;
  }

  /**
   * Someone was refused `bytes` and has no other way to hear when they fit (an empty TCP send buffer:
   * nothing in flight whose ACK would bring l4TxReady). `onRoom` is called once, from the `release`
   * after which `bytes` fit again; the largest amount asked since the last call is what must fit.
   */
  wantRoom(bytes: number): void {
    if (bytes > this.roomWanted) this.roomWanted = bytes;
  }

  /** What `wantRoom` calls back (core.ts: the waiting connections get l4TxReady). */
  onRoom: (() => void) | null = null;
  private roomWanted = 0;

  /** Gives back what `tryCharge` took. */
  release(kind: MemoryKind, bytes: number): void {
    this.used[kind]! -= bytes;
    this.inUse -= bytes;
    if (this.roomWanted > 0 && this.inUse + this.roomWanted <= this.limit) {
      this.roomWanted = 0;
      this.onRoom?.();
    }
  }

  /** In use by kind, for stats(). */
  snapshot(): Record<MemoryKindName, number> {
    const out = {} as Record<MemoryKindName, number>;
    for (let k = 0; k < KIND_NAMES.length; k++) out[KIND_NAMES[k]!] = this.used[k]!;
    return out;
  }
}
