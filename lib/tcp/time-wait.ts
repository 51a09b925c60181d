/**
 * TIME-WAIT (RFC 9293 §3.6.1, §3.10.7.4) as rows of typed arrays, the only form it takes: when a
 * connection enters it, its row takes the connection's place at once, with the 2*MSL expiry, and
 * answers every segment from then on. A row keeps what is needed to re-acknowledge a retransmitted FIN
 * and to tell a new SYN for the same 4-tuple from an old duplicate (RFC 6191): the flow key (ten
 * words, as the flow table's), SND.NXT, RCV.NXT, the window we sent, TS.Recent and our timestamp
 * offset, the expiry, and when we last answered a bare ACK; and a weak reference to its flow (flow()).
 * Under 256 bytes a record, no object of its own.
 *
 * Rows are found by their own open-addressing index (linear probing, backward-shift deletion, as
 * flow/table.ts), looked up with the key and hash the flow table just computed for the same packet.
 * They expire in order: every record starts with the same 2*MSL, so a FIFO (a doubly linked list
 * through `prev`/`next`, oldest first) expires each in O(1), and the whole table is one item in the
 * engine's timer heap. A retransmitted FIN restarts 2*MSL: the row moves to the tail.
 *
 * The number is bounded (maxTimeWait). Past the bound the oldest record is reused, counted as
 * tcpTimeWaitOverflow. Linux instead drops the new one ("TCP: time wait bucket table overflow",
 * LINUX_MIB_TCPTIMEWAITOVERFLOW, net/ipv4/tcp_minisocks.c tcp_time_wait): we keep the newest, since a
 * lost last ACK (the reason TIME-WAIT exists) is most likely for the connection that closed last, and
 * the oldest record is the nearest to its end anyway.
 *
 * If the application has not taken all it received yet (it paused delivery), the connection lives on
 * in the flow table beside its row, `held` by a TimeWaitState: it delivers what it holds and
 * l4RemoteClosed on l4ResumeRx, then ends (l4Rx(flow, null)), and only then does its row join the
 * index and the FIFO. tcp/demux.ts does that.
 *
 * The memory budget (lib/memory.ts) is charged TIME_WAIT_BYTES for every listed row, never past its
 * limit: past it the oldest record gives way (as past maxTimeWait), and with none to give way the
 * connection gets no TIME-WAIT at all, counted as tcpTimeWaitOverflow: what Linux's tcp_time_wait
 * does when it cannot allocate the record ("just CLOSE this socket up", LINUX_MIB_TCPTIMEWAITOVERFLOW).
 * A held row is charged when it is made if it fits, else when it is listed, under the same rule: until
 * then it is part of a live connection, which the budget does not charge either.
 */
import { MemoryKind, TIME_WAIT_BYTES, type MemoryBudget } from "../memory.js";
import type { FlowRecord } from "../flow/flow.js";
import type { AnyCallbacks } from "../ip/output.js";
import { TcpFlag, TcpOptions, type TcpPacket } from "../wire/tcp.js";
import type { TcpConnection } from "./connection.js";
import { tcpOutSegment } from "./context.js";
import { OOW_ACK_INTERVAL_MS } from "./output.js";
import { seq, seqGt } from "./seq.js";
import { tsClock } from "./timestamps.js";
import type { TcpSegmentWriter } from "./writer.js";

/** What the engine does with a segment that hit a TIME-WAIT record. */
export const TimeWaitVerdict = { DROP: 0, NEW_SYN: 1 } as const;
export type TimeWaitVerdict = (typeof TimeWaitVerdict)[keyof typeof TimeWaitVerdict];

/** Words in a flow key (flow/table.ts). */
const KEY_WORDS = 10;
const MIN_ROWS = 16;
const MAX_LOAD = 0.625;
/** Rows are numbered below this; a reference packs a row and its generation into one safe integer. */
export const MAX_TIME_WAIT_LIMIT = 1 << 22;
const ROW_SPACE = MAX_TIME_WAIT_LIMIT;
const TS_OK = 1;
/** The row is in the index and the FIFO (not held by a connection). */
const LISTED = 2;
/** The row is in use (held or listed). */
const IN_USE = 4;
/** We opened the connection (l4Connect): the flow's source is our end. */
const ACTIVE_OPEN = 8;
/** The row is charged to the memory budget (every listed row is; a held one may not be yet). */
const CHARGED = 16;

/**
 * A flow's state while its TIME-WAIT record lives (flow/flow.ts FlowState). Shared by every record
 * (TIME_WAIT) once the connection is over; its own while a connection is `held` (module comment).
 * Which row is the flow's is in FlowRecord.timeWaitRef.
 */
export class TimeWaitState {
  get kind(): "time-wait" {
    return "time-wait";
  }
  /** The held connection's deadline in the timer heap (the idle check), and its place there. */
  deadline = Infinity;
  heapIndex = -1;

  constructor(
    readonly flow: FlowRecord | null,
    /** The connection, while the application has still to take what it received. */
    public held: TcpConnection | null,
    readonly row: number,
  ) {}
}

/** The state of every flow whose TIME-WAIT record is only a row. */
export const TIME_WAIT = new TimeWaitState(null, null, -1);

const out = tcpOutSegment();
const outOpts = new TcpOptions();

export class TimeWaitTable {
  /** The timer heap's tag (core.ts): the whole table is one item, due when its oldest row expires. */
  get kind(): "time-wait-queue" {
    return "time-wait-queue";
  }
  deadline = Infinity;
  heapIndex = -1;

  private rows = 0;
  private keys = new Int32Array(0);
  private hashes = new Int32Array(0);
  private sndNxt = new Uint32Array(0);
  private rcvNxt = new Uint32Array(0);
  private tsRecent = new Uint32Array(0);
  private tsOffset = new Uint32Array(0);
  private window = new Uint16Array(0);
  private bits = new Uint8Array(0);
  /** Each row's flow, held weakly (see flow()). */
  private readonly flows: (WeakRef<FlowRecord> | undefined)[] = [];
  private gen = new Uint32Array(0);
  private expiry = new Float64Array(0);
  private lastOowAckAt = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  /** Rows handed out so far; below them, `free` chains the unused ones through `next`. */
  private highWater = 0;
  private free = -1;
  private head = -1;
  private tail = -1;
  /** Rows in the FIFO (what maxTimeWait bounds). */
  private listed = 0;

  private index = new Int32Array(MIN_ROWS * 2).fill(-1);
  private mask = MIN_ROWS * 2 - 1;
  /** Addresses in FlowRecord.addr form, for the ACKs a row sends. */
  private readonly addr = new Uint8Array(32);

  constructor(
    private readonly writer: TcpSegmentWriter,
    /** maxTimeWait. */
    readonly max: number,
    /** The memory budget: TIME_WAIT_BYTES a row in use (add charges, forget releases). */
    private readonly memory: MemoryBudget | null = null,
  ) {
    this.grow(MIN_ROWS);
  }

  /** Records in the index (held ones not included). */
  get size(): number {
    return this.listed;
  }

  /** The row holding `key` (hash `h`, both as flow/table.ts computes them), or -1. An expired row is freed here. */
  find(key: Int32Array, h: number, now: number): number {
    const mask = this.mask;
    const index = this.index;
    const keys = this.keys;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const r = index[i]!;
      if (r < 0) return -1;
      if (this.hashes[r] !== h) continue;
      const base = r * KEY_WORDS;
      let w = 0;
      while (w < KEY_WORDS && keys[base + w] === key[w]) w++;
      if (w < KEY_WORDS) continue;
      if (this.expiry[r]! > now) return r;
      this.forget(r); // its time is over; the queue had not reached it yet
      return -1;
    }
  }

  /** A reference to row `r` as it is now (FlowRecord.timeWaitRef); stale once the row is reused. */
  ref(r: number): number {
    return this.gen[r]! * ROW_SPACE + r;
  }

  /**
   * Row `r`'s flow, which l3Rx returns for a segment that reaches the record: the application's object
   * while anyone holds it (a Flow is one object for its whole life, TIME-WAIT included), held weakly so
   * that a record does not keep the ~440 bytes of a FlowRecord alive; undefined once collected (no one
   * can tell a new object from it then: see TcpDemux.timeWaitFlow).
   */
  flow(r: number): FlowRecord | undefined {
    return this.flows[r]?.deref();
  }

  /** Did we open row `r`'s connection (its flow's source is our end)? */
  activeOpen(r: number): boolean {
    return (this.bits[r]! & ACTIVE_OPEN) !== 0;
  }

  /** Does `ref` still name a live row? */
  alive(ref: number, now: number): boolean {
    if (ref < 0) return false;
    const r = ref % ROW_SPACE;
    return r < this.highWater && this.gen[r]! * ROW_SPACE + r === ref && this.bits[r] !== 0 && this.expiry[r]! > now;
  }

  /**
   * A row for a connection entering TIME-WAIT, under `key` (hash `h`); `listed`: into the index and the
   * FIFO now (else held, see the module comment). Returns the row, and counts a reused oldest record
   * through `overflowed`; -1 (counted too) for a listed row the memory budget has no room for: no
   * TIME-WAIT. A held row is always made.
   */
  add(
    key: Int32Array,
    h: number,
    expiry: number,
    conn: { readonly sndMax: number; readonly rcvNxt: number; readonly tsOk: boolean; readonly tsRecent: number; readonly tsOffset: number; readonly flow: FlowRecord | undefined },
    window: number,
    listed: boolean,
    overflowed: () => void,
  ): number {
    if (listed && this.listed >= this.max) {
      overflowed();
      this.forget(this.head);
    }
    // A held row is charged now only if that fits as it is (release charges it otherwise).
    const charged = listed ? this.chargeRow(overflowed) : this.memory === null || this.memory.tryCharge(MemoryKind.TIME_WAIT, TIME_WAIT_BYTES);
    if (!charged && listed) {
      overflowed(); // no TIME-WAIT (see the module comment)
      return -1;
    }
    const r = this.take();
    const base = r * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) this.keys[base + w] = key[w]!;
    this.hashes[r] = h;
    this.sndNxt[r] = conn.sndMax;
    this.rcvNxt[r] = conn.rcvNxt;
    this.tsRecent[r] = conn.tsRecent;
    this.tsOffset[r] = conn.tsOffset;
    this.window[r] = window;
    this.bits[r] = (conn.tsOk ? TS_OK | IN_USE : IN_USE) | (conn.flow?.activeOpen === true ? ACTIVE_OPEN : 0) | (charged ? CHARGED : 0);
    this.flows[r] = conn.flow === undefined ? undefined : new WeakRef(conn.flow);
    this.expiry[r] = expiry;
    this.lastOowAckAt[r] = -Infinity;
    if (listed) this.list(r);
    return r;
  }

  /**
   * A held row's connection is over: the row joins the index and the FIFO for the rest of its 2*MSL.
   * False when the budget has no room for it even after the oldest record gave way: the row is
   * forgotten, counted through `overflowed` (see the module comment).
   */
  release(r: number, overflowed: () => void): boolean {
    if (this.listed >= this.max) {
      overflowed();
      this.forget(this.head);
    }
    if ((this.bits[r]! & CHARGED) === 0) {
      if (!this.chargeRow(overflowed)) {
        overflowed();
        this.forget(r);
        return false;
      }
      this.bits[r]! |= CHARGED;
    }
    this.list(r);
    return true;
  }

  /**
   * Charge one row to the budget; past it the oldest listed record gives way (its charge makes the
   * room) and the charge is tried again. False when there is none to give way.
   */
  private chargeRow(overflowed: () => void): boolean {
    const memory = this.memory;
    if (memory === null || memory.tryCharge(MemoryKind.TIME_WAIT, TIME_WAIT_BYTES)) return true;
    if (this.head < 0) return false;
    overflowed();
    this.forget(this.head);
    return memory.tryCharge(MemoryKind.TIME_WAIT, TIME_WAIT_BYTES);
  }

  /** Drop a row (expired, reopened by a new SYN, or the oldest past the bound). */
  forget(r: number): void {
    const b = this.bits[r]!;
    if (b & LISTED) {
      this.unindex(r);
      this.unlink(r);
      this.listed--;
    }
    this.bits[r] = 0;
    if (b & CHARGED) this.memory?.release(MemoryKind.TIME_WAIT, TIME_WAIT_BYTES);
    this.flows[r] = undefined;
    this.gen[r] = (this.gen[r]! + 1) & 0x7fffffff;
    this.next[r] = this.free;
    this.free = r;
  }

  /** The rows whose 2*MSL is over leave (oldest first); the queue's deadline moves to the next one. */
  expire(now: number): void {
    while (this.head >= 0 && this.expiry[this.head]! <= now) this.forget(this.head);
    this.deadline = this.head < 0 ? Infinity : this.expiry[this.head]!;
  }

  /** The expiry of row `r` (a held row's idle check reads and moves it). */
  expiryOf(r: number): number {
    return this.expiry[r]!;
  }

  setExpiry(r: number, t: number): void {
    this.expiry[r] = t;
  }

  /** The earliest expiry, where the queue's heap item should stand; Infinity when empty. */
  get nextExpiry(): number {
    return this.head < 0 ? Infinity : this.expiry[this.head]!;
  }

  /**
   * RFC 9293 §3.10.7.4 in TIME-WAIT, for row `r` (`held`: the connection still holds data for the
   * application):
   * - a RST: RFC 1337 (TIME-WAIT assassination hazards): ignore it and keep the record;
   * - a SYN whose sequence number is above RCV.NXT, or whose timestamp is newer than TS.Recent
   *   (RFC 6191 §2), may open a new incarnation: the engine drops this record and treats the SYN as new
   *   (not while the old incarnation still holds data for the application: then it is an old SYN);
   * - a retransmitted FIN: acknowledge it and restart the 2 MSL timeout;
   * - a bare ACK exactly at RCV.NXT is acceptable and needs no answer (§3.10.7.4: in TIME-WAIT only a
   *   retransmitted FIN is acknowledged). Answering it would loop forever against another TIME-WAIT
   *   (simultaneous close): each record's ACK would draw the other's;
   * - anything else: acknowledge (the peer lost our last ACK) and drop; when the segment carried
   *   nothing but an ACK (or was an old SYN), at most once per OOW_ACK_INTERVAL_MS (Linux
   *   tcp_timewait_check_oow_rate_limit).
   */
  segmentArrives(cb: AnyCallbacks, r: number, seg: TcpPacket, opts: TcpOptions, now: number, msl2: number): TimeWaitVerdict {
    const flags = seg.flags;
    if (flags & TcpFlag.RST) return TimeWaitVerdict.DROP;
    if (flags & TcpFlag.SYN && !(flags & TcpFlag.ACK)) {
      // RFC 6191 §2: with timestamps, a newer TSval; an equal TSval with a higher sequence number;
      // without them, a higher sequence number (RFC 1122 §4.2.2.13). An older TSval is an old
      // duplicate whatever its sequence number (PAWS, RFC 7323 §5). Linux tcp_timewait_state_process.
      const seqNewer = seqGt(seq(seg.seq), seq(this.rcvNxt[r]!));
      let newer = seqNewer;
      if (this.bits[r]! & TS_OK && opts.hasTimestamps) {
        const age = (opts.tsVal - this.tsRecent[r]!) | 0;
        newer = age > 0 || (age === 0 && seqNewer);
      }
      if (newer && this.bits[r]! & LISTED) return TimeWaitVerdict.NEW_SYN;
    } else if (flags & TcpFlag.FIN) {
      this.restart(r, now + msl2);
      this.sendAck(cb, r, now);
      return TimeWaitVerdict.DROP;
    }
    // Data (without SYN) is never part of an ACK loop: always answered. A bare ACK at RCV.NXT is not
    // answered at all; other bare ACKs and old SYNs at most once per interval.
    const syn = (flags & TcpFlag.SYN) !== 0;
    if (seg.payloadLength === 0 || syn) {
      if (!syn && seg.seq === this.rcvNxt[r]) return TimeWaitVerdict.DROP;
      if (now - this.lastOowAckAt[r]! < OOW_ACK_INTERVAL_MS) return TimeWaitVerdict.DROP;
      this.lastOowAckAt[r] = now;
    }
    this.sendAck(cb, r, now);
    return TimeWaitVerdict.DROP;
  }

  /** 2*MSL again from now: a listed row goes to the tail of the FIFO, so the order stays by expiry. */
  private restart(r: number, expiry: number): void {
    this.expiry[r] = expiry;
    if (this.bits[r]! & LISTED && this.tail !== r) {
      this.unlink(r);
      this.append(r);
    }
    this.deadline = this.nextExpiry;
  }

  private sendAck(cb: AnyCallbacks, r: number, now: number): void {
    out.flags = TcpFlag.ACK;
    out.seq = this.sndNxt[r]!;
    out.ack = this.rcvNxt[r]!;
    out.window = this.window[r]!;
    out.payloadOffset = 0;
    out.payloadLength = 0;
    if (this.bits[r]! & TS_OK) {
      const o = outOpts.reset();
      o.hasTimestamps = true;
      o.tsVal = tsClock(now, this.tsOffset[r]!);
      o.tsEcr = this.tsRecent[r]!;
      out.options = o;
    } else {
      out.options = null;
    }
    // The key back to FlowRecord.addr form: remote address at 0, local at 16 (flow/table.ts words).
    const k = this.keys;
    const base = r * KEY_WORDS;
    const a = this.addr;
    for (let w = 0; w < 4; w++) {
      writeWord(a, w * 4, k[base + 1 + w]!);
      writeWord(a, 16 + w * 4, k[base + 5 + w]!);
    }
    const family = (k[base]! >>> 8) === 6 ? 6 : 4;
    const ports = k[base + 9]!;
    this.writer.write(cb, family, a, 16, 0, ports & 0xffff, ports >>> 16, out, undefined);
  }

  // ---------------------------------------------------------------- rows, FIFO, index

  private take(): number {
    let r = this.free;
    if (r >= 0) {
      this.free = this.next[r]!;
    } else {
      if (this.highWater === this.rows) this.grow(this.rows * 2);
      r = this.highWater++;
    }
    return r;
  }

  private list(r: number): void {
    this.bits[r]! |= LISTED;
    this.listed++;
    if (this.listed > (this.mask + 1) * MAX_LOAD) this.reindex((this.mask + 1) * 2);
    this.insertIndex(r);
    this.append(r);
    this.deadline = this.nextExpiry;
  }

  private append(r: number): void {
    this.prev[r] = this.tail;
    this.next[r] = -1;
    if (this.tail >= 0) this.next[this.tail] = r;
    else this.head = r;
    this.tail = r;
  }

  private unlink(r: number): void {
    const p = this.prev[r]!;
    const n = this.next[r]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
  }

  private insertIndex(r: number): void {
    const mask = this.mask;
    let i = this.hashes[r]! & mask;
    while (this.index[i]! >= 0) i = (i + 1) & mask;
    this.index[i] = r;
  }

  /** Backward-shift deletion (Knuth vol. 3, 6.4, Algorithm R), as flow/table.ts deleteSlot. */
  private unindex(r: number): void {
    const mask = this.mask;
    const index = this.index;
    let hole = this.hashes[r]! & mask;
    while (index[hole] !== r) hole = (hole + 1) & mask;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const v = index[j]!;
      if (v < 0) break;
      const home = this.hashes[v]! & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (inRange) continue;
      index[hole] = v;
      hole = j;
    }
    index[hole] = -1;
  }

  private reindex(slots: number): void {
    this.index = new Int32Array(slots).fill(-1);
    this.mask = slots - 1;
    for (let r = this.head; r >= 0; r = this.next[r]!) this.insertIndex(r);
  }

  private grow(rows: number): void {
    this.rows = rows;
    this.keys = resized(this.keys, rows * KEY_WORDS);
    this.hashes = resized(this.hashes, rows);
    this.sndNxt = resized(this.sndNxt, rows);
    this.rcvNxt = resized(this.rcvNxt, rows);
    this.tsRecent = resized(this.tsRecent, rows);
    this.tsOffset = resized(this.tsOffset, rows);
    this.window = resized(this.window, rows);
    this.bits = resized(this.bits, rows);
    this.gen = resized(this.gen, rows);
    this.expiry = resized(this.expiry, rows);
    this.lastOowAckAt = resized(this.lastOowAckAt, rows);
    this.prev = resized(this.prev, rows);
    this.next = resized(this.next, rows);
  }
}

type Typed = Int32Array | Uint32Array | Uint16Array | Uint8Array | Float64Array;

function resized<A extends Typed>(a: A, n: number): A {
  const b = new (a.constructor as new (n: number) => A)(n);
  b.set(a as never);
  return b;
}

function writeWord(a: Uint8Array, at: number, v: number): void {
  a[at] = v >>> 24;
  a[at + 1] = v >>> 16;
  a[at + 2] = v >>> 8;
  a[at + 3] = v;
}
