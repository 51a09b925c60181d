/**
 * The sender's SACK scoreboard and the loss-recovery helpers of RFC 6675 ("A Conservative Loss
 * Recovery Algorithm Based on Selective Acknowledgment (SACK) for TCP"): Update(), IsLost(),
 * SetPipe() and NextSeg() of §4, plus the HighRxt / RescueRxt / RecoveryPoint state of §5.
 *
 * The scoreboard holds what the peer reported receiving above SND.UNA (RFC 2018 SACK blocks) as
 * a sorted list of disjoint, non-adjacent ranges [left, right) of sequence numbers. The list is
 * bounded (`maxRanges`): a peer reporting more islands than that makes us forget the highest one,
 * which only costs us extra retransmissions or a more cautious pipe, never correctness (SACK
 * information is advisory anyway: the receiver may renege, RFC 2018 §8).
 *
 * Conventions. RFC 6675 names sequence numbers of single octets (HighACK, HighRxt, HighData are
 * the highest octet ACKed, retransmitted, sent). We keep exclusive ends instead, as SND.UNA and
 * SND.NXT are: `sndUna` = HighACK + 1, `sndNxt` = HighData + 1, `highRxt` = HighRxt + 1,
 * `recoveryPoint` = RecoveryPoint + 1. Each comparison below is the RFC's, shifted accordingly.
 *
 * HighRxt, RescueRxt and RecoveryPoint are kept here (they belong to one recovery episode, as the
 * ranges do); the connection tells the scoreboard when recovery starts (`enterRecovery`) and what
 * it retransmitted (`onRetransmitted`). The episode ends by itself when SND.UNA reaches the
 * recovery point, or on `clear()`. Deciding when to enter recovery (RFC 6675 §5 steps 1-4), the
 * window and congestion control stay with the connection.
 *
 * Each call is O(ranges) and allocation-free; the range table itself (2 * (maxRanges + 1) uint32)
 * is allocated when a SACK block first arrives and dropped again once nothing is SACKed, so a
 * connection without loss holds none.
 */
import { InvalidArgumentError } from "../errors.js";
import { checkInt, isIndex } from "./copy.js";
import { seq, seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax } from "./seq.js";
import type { Seq } from "./seq.js";

/** RFC 6675 §2 DupThresh (RFC 5681 §3.2): duplicate ACKs, or SACKed segments, that signal loss. */
export const DUP_THRESH = 3;

/** Default bound on scoreboard ranges. */
export const DEFAULT_MAX_SACK_RANGES = 64;

/** Largest `maxRanges` accepted. */
export const MAX_SACK_RANGES = 4096;

/** Which rule of RFC 6675 §4 NextSeg() chose the segment. */
export const NextSegRule = {
  /** Rule (5): nothing to send. */
  NONE: 0,
  /** Rule (1): the first hole above HighRxt that IsLost() says is lost. Retransmit it. */
  LOST: 1,
  /** Rule (2): new data, starting at SND.NXT (HighData + 1). */
  NEW_DATA: 2,
  /** Rule (3): the first hole above HighRxt below the highest SACKed octet, not yet deemed lost. */
  UNSACKED: 3,
  /** Rule (4): the once-per-recovery rescue retransmission of the highest unSACKed data. */
  RESCUE: 4,
} as const;
/** One of the NextSegRule values. */
export type NextSegRule = (typeof NextSegRule)[keyof typeof NextSegRule];

/** The RFC 6675 scoreboard of one connection's sender (see the module comment). */
export class SackScoreboard {
  /** Most ranges kept; beyond it the highest range is forgotten. */
  readonly maxRanges: number;

  /** Ranges as [left0, right0, left1, right1, ...], sorted; room for one extra while inserting. */
  private edges: Uint32Array | null = null;
  private count = 0;
  private sacked = 0;
  private una: Seq = seq(0);
  private forgotten = 0;

  /** A recovery episode begun by `enterRecovery` is running: HighRxt and RescueRxt mean something. */
  private recovering = false;
  private highRxtEnd: Seq = seq(0);
  private rescueEnd: Seq = seq(0);
  private recoveryEnd: Seq = seq(0);

  private segSeq: Seq = seq(0);
  private segLen = 0;

  /** @param maxRanges bound on the ranges kept (default 64), an integer in [1, 4096]. */
  constructor(maxRanges: number = DEFAULT_MAX_SACK_RANGES) {
    checkInt(maxRanges, 1, MAX_SACK_RANGES, "SackScoreboard maxRanges");
    this.maxRanges = maxRanges;
  }

  /** Number of disjoint SACKed ranges held. */
  get rangeCount(): number {
    return this.count;
  }

  /** Bytes SACKed above SND.UNA. */
  get sackedBytes(): number {
    return this.sacked;
  }

  /**
   * One past the highest SACKed octet (RFC 6675's "highest octet covered by any received SACK",
   * plus one); SND.UNA when nothing is SACKed.
   */
  get highestSacked(): Seq {
    return this.count === 0 ? this.una : (this.edges![2 * this.count - 1]! as Seq);
  }

  /** Ranges forgotten because `maxRanges` were in use (a counter for stats). */
  get droppedRanges(): number {
    return this.forgotten;
  }

  /**
   * True from `enterRecovery` until SND.UNA reaches the recovery point (RFC 6675 §5: "When the
   * TCP sender receives a cumulative ACK for this data octet, the loss recovery phase is
   * terminated") or `clear()`.
   */
  get inRecovery(): boolean {
    return this.recovering;
  }

  /**
   * HighRxt + 1: one past the highest octet retransmitted in this recovery; SND.UNA when none, or
   * outside recovery.
   */
  get highRxt(): Seq {
    return this.recovering ? seqMax(this.highRxtEnd, this.una) : this.una;
  }

  /** RecoveryPoint + 1: SND.NXT when recovery was entered (RFC 6675 §5 step 4.1). */
  get recoveryPoint(): Seq {
    return this.recoveryEnd;
  }

  /** Start of the segment the last `nextSeg` chose. */
  get nextSegSeq(): Seq {
    return this.segSeq;
  }

  /**
   * Length of the segment the last `nextSeg` chose: at most SMSS, and for retransmissions never
   * reaching into SACKed data. For NEW_DATA it is SMSS: the caller trims it to the data it has
   * and to the peer's window.
   */
  get nextSegLength(): number {
    return this.segLen;
  }

  /** Left edge of range `i` (0 = lowest), for inspection. */
  rangeLeft(i: number): Seq {
    this.checkRange(i);
    return this.edges![2 * i]! as Seq;
  }

  /** Right edge (exclusive) of range `i`, for inspection. */
  rangeRight(i: number): Seq {
    this.checkRange(i);
    return this.edges![2 * i + 1]! as Seq;
  }

  /**
   * RFC 6675 §4 Update(): records the SACK blocks of an arriving ACK, after discarding what
   * `sndUna` (the ACK's cumulative acknowledgment, once processed) covers.
   *
   * `blocks` holds `count` blocks as left/right edge pairs [l0, r0, l1, r1, ...], as the SACK
   * option carries them (RFC 2018 §3: left edge = first SACKed octet, right edge = one past the
   * last). Blocks that carry no scoreboard information are ignored, as never happens from a
   * well-behaved peer: left >= right, right at or below SND.UNA (stale, or D-SACK, RFC 2883),
   * or right beyond `sndNxt` (SACKs data never sent). A block straddling SND.UNA counts from SND.UNA.
   *
   * Returns the bytes newly SACKed by this ACK: > 0 makes the ACK a "duplicate acknowledgment"
   * in RFC 6675 §2's sense (it SACKs new data) even if SEG.ACK did not change.
   */
  update(sndUna: Seq, sndNxt: Seq, blocks: Uint32Array, count: number): number {
    if (!isIndex(count) || 2 * count > blocks.length) {
      throw new InvalidArgumentError(`SackScoreboard.update: ${count} blocks in an array of ${blocks.length} numbers`);
    }
    this.advance(sndUna);
    const before = this.sacked;
    for (let b = 0; b < count; b++) {
      let left = blocks[2 * b]! as Seq;
      const right = blocks[2 * b + 1]! as Seq;
      if (!seqLt(left, right) || seqGt(right, sndNxt) || seqLe(right, sndUna)) continue;
      if (seqLt(left, sndUna)) left = sndUna;
      this.add(left, right);
    }
    const gained = this.sacked - before;
    return gained > 0 ? gained : 0;
  }

  /**
   * SND.UNA moved to `sndUna`: forget everything below it, and end the recovery episode if the
   * recovery point is reached. Call on every ACK that advances SND.UNA (`update` does it too);
   * `isLost` relies on it.
   */
  advance(sndUna: Seq): void {
    this.una = sndUna;
    if (this.recovering && seqGe(sndUna, this.recoveryEnd)) this.recovering = false;
    const n = this.count;
    if (n === 0) return;
    const e = this.edges!;
    let k = 0;
    while (k < n && seqLe(e[2 * k + 1]! as Seq, sndUna)) {
      this.sacked -= (e[2 * k + 1]! - e[2 * k]!) >>> 0;
      k++;
    }
    if (k > 0) {
      e.copyWithin(0, 2 * k, 2 * n);
      this.count = n - k;
      if (this.count === 0) {
        this.release();
        return;
      }
    }
    if (seqLt(e[0]! as Seq, sndUna)) {
      this.sacked -= (sndUna - e[0]!) >>> 0;
      e[0] = sndUna;
    }
  }

  /**
   * Forgets all SACK information and ends the recovery episode: after a retransmission timeout
   * (RFC 2018 §8: the receiver may have reneged, so the sender "SHOULD turn off all of the SACKed
   * bits"; RFC 6675 §5.1). RFC 6675 §5.1 also says no new recovery may start until SND.UNA passes
   * the HighData of the timeout: the connection keeps that point.
   */
  clear(): void {
    this.count = 0;
    this.sacked = 0;
    this.release();
    this.recovering = false;
  }

  /** True if octet `s` has been SACKed. */
  isSacked(s: Seq): boolean {
    const e = this.edges;
    for (let k = 0; k < this.count; k++) {
      if (seqLt(s, e![2 * k]! as Seq)) return false;
      if (seqLt(s, e![2 * k + 1]! as Seq)) return true;
    }
    return false;
  }

  /**
   * RFC 6675 §4 IsLost(SeqNum): true when octet `s` (at or above SND.UNA, not SACKed) has either
   * `dupThresh` discontiguous SACKed ranges above it, or more than (dupThresh - 1) * smss SACKed
   * bytes above it. (The scoreboard knows ranges, not segments: consecutive SACKed segments count
   * as one range, and by their bytes.)
   */
  isLost(s: Seq, dupThresh: number, smss: number): boolean {
    if (seqLt(s, this.una) || this.isSacked(s)) return false;
    return seqLt(s, this.lostBoundary(this.una, dupThresh, smss));
  }

  /**
   * RFC 6675 §4 SetPipe(): the sender's estimate of the bytes in the network, over the unSACKed
   * octets between SND.UNA and SND.NXT: (a) one for each octet not deemed lost (the original is
   * still in flight) plus (b) one for each octet below HighRxt (its retransmission is).
   * Anything still recorded below `sndUna` is discarded first, as by `advance`.
   */
  pipe(sndUna: Seq, sndNxt: Seq, dupThresh: number, smss: number): number {
    if (sndUna !== this.una) this.advance(sndUna);
    if (!seqLt(sndUna, sndNxt)) return 0;
    const unsacked = ((sndNxt - sndUna) >>> 0) - this.sackedWithin(sndUna, sndNxt);
    const lostEnd = this.lostBoundary(sndUna, dupThresh, smss);
    const lost = seqGt(lostEnd, sndUna) ? ((lostEnd - sndUna) >>> 0) - this.sackedWithin(sndUna, lostEnd) : 0;
    if (!this.recovering) return unsacked - lost;
    let rxtEnd = seqMax(this.highRxtEnd, sndUna);
    if (seqGt(rxtEnd, sndNxt)) rxtEnd = sndNxt;
    const retransmitted = ((rxtEnd - sndUna) >>> 0) - this.sackedWithin(sndUna, rxtEnd);
    return unsacked - lost + retransmitted;
  }

  /**
   * Loss recovery begins (RFC 6675 §5 step 4): RecoveryPoint = HighData (`sndNxt`), and the first
   * segment, `firstSegLength` bytes from SND.UNA, is retransmitted now (step 4.3), so HighRxt and
   * RescueRxt are set to its end. The episode lasts until SND.UNA reaches `sndNxt` (see
   * `inRecovery`); the rescue retransmission (NextSeg rule 4) is available once in it.
   */
  enterRecovery(sndUna: Seq, sndNxt: Seq, firstSegLength: number): void {
    this.una = sndUna;
    this.recovering = true;
    this.recoveryEnd = sndNxt;
    this.highRxtEnd = seqAdd(sndUna, firstSegLength);
    this.rescueEnd = this.highRxtEnd;
  }

  /**
   * RFC 6675 §4 NextSeg(): what to send next during loss recovery, when the pipe leaves room
   * (cwnd - pipe >= SMSS, §5 step C). Returns the rule that chose, and puts the segment in
   * `nextSegSeq` / `nextSegLength`; NONE when nothing should be sent. Chooses only; report what
   * was actually retransmitted with `onRetransmitted`. Anything still recorded below `sndUna` is
   * discarded first, as by `advance`.
   *
   * @param canSendNew rule (2)'s condition: unsent data is available and the peer's window allows it.
   */
  nextSeg(sndUna: Seq, sndNxt: Seq, canSendNew: boolean, dupThresh: number, smss: number): NextSegRule {
    if (sndUna !== this.una) this.advance(sndUna);
    const e = this.edges;
    const n = this.count;
    // The smallest unSACKed octet above HighRxt (rule 1.a) and the end of its hole.
    let s = this.recovering ? seqMax(this.highRxtEnd, sndUna) : sndUna;
    let holeEnd = sndNxt;
    let belowHighestSacked = false;
    for (let k = 0; k < n; k++) {
      const left = e![2 * k]! as Seq;
      const right = e![2 * k + 1]! as Seq;
      if (seqLe(right, s)) continue;
      if (seqLe(left, s)) {
        s = right;
        continue;
      }
      // s is in the hole below range k: below the highest SACKed octet (rule 1.b).
      holeEnd = left;
      belowHighestSacked = true;
      break;
    }
    if (belowHighestSacked && seqLt(s, this.lostBoundary(sndUna, dupThresh, smss))) {
      return this.choose(NextSegRule.LOST, s, holeEnd, smss); // Rule (1).
    }
    if (canSendNew) {
      this.segSeq = sndNxt; // Rule (2).
      this.segLen = smss;
      return NextSegRule.NEW_DATA;
    }
    if (belowHighestSacked) return this.choose(NextSegRule.UNSACKED, s, holeEnd, smss); // Rule (3).
    // Rule (4): once per recovery, when HighACK > RescueRxt, the highest unSACKed data.
    if (this.recovering && seqGt(sndUna, this.rescueEnd) && seqLt(sndUna, sndNxt)) {
      let hole = sndNxt;
      let holeStart: Seq = n > 0 ? (e![2 * n - 1]! as Seq) : sndUna;
      if (n > 0 && !seqLt(holeStart, sndNxt)) {
        // The highest range reaches SND.NXT: the highest unSACKed octet is just below it.
        hole = e![2 * n - 2]! as Seq;
        holeStart = n > 1 ? (e![2 * n - 3]! as Seq) : sndUna;
      }
      if (seqLt(holeStart, hole)) {
        const len = (hole - holeStart) >>> 0;
        this.segSeq = len > smss ? seqAdd(hole, -smss) : holeStart;
        this.segLen = len > smss ? smss : len;
        return NextSegRule.RESCUE;
      }
    }
    this.segLen = 0; // Rule (5).
    return NextSegRule.NONE;
  }

  /**
   * Reports a retransmission of `length` bytes from `start`, chosen by `rule` (RFC 6675 §5 step C):
   * C.3, HighRxt moves to its end unless it was the rescue; C.4, a rescue sets RescueRxt to
   * RecoveryPoint (no second rescue in this episode). NEW_DATA and NONE, and any call outside
   * recovery, change nothing.
   */
  onRetransmitted(start: Seq, length: number, rule: NextSegRule): void {
    if (!this.recovering) return;
    if (rule === NextSegRule.RESCUE) {
      this.rescueEnd = this.recoveryEnd;
      return;
    }
    if (rule !== NextSegRule.LOST && rule !== NextSegRule.UNSACKED) return;
    const end = seqAdd(start, length);
    if (seqGt(end, this.highRxtEnd)) this.highRxtEnd = end;
  }

  /**
   * The lowest octet at or above which nothing is lost: unSACKed octets below it are lost
   * (IsLost is monotonic: the SACK information above an octet only shrinks as the octet grows).
   * It is the left edge of the highest range that has, counting itself and those above it,
   * `dupThresh` ranges or more than (dupThresh - 1) * smss bytes; `sndUna` if none has.
   */
  private lostBoundary(sndUna: Seq, dupThresh: number, smss: number): Seq {
    const e = this.edges;
    const limit = (dupThresh - 1) * smss;
    let bytes = 0;
    for (let k = this.count - 1; k >= 0; k--) {
      bytes += (e![2 * k + 1]! - e![2 * k]!) >>> 0;
      if (this.count - k >= dupThresh || bytes > limit) return e![2 * k]! as Seq;
    }
    return sndUna;
  }

  /** SACKed bytes in [from, to). */
  private sackedWithin(from: Seq, to: Seq): number {
    const e = this.edges;
    let bytes = 0;
    for (let k = 0; k < this.count; k++) {
      const left = seqMax(e![2 * k]! as Seq, from);
      const right = e![2 * k + 1]! as Seq;
      if (!seqLt(left, to)) break;
      const end = seqLt(right, to) ? right : to;
      if (seqLt(left, end)) bytes += (end - left) >>> 0;
    }
    return bytes;
  }

  /** Merges [left, right) (inside [SND.UNA, SND.NXT)) into the ranges. */
  private add(left: Seq, right: Seq): void {
    let e = this.edges;
    if (e === null) e = this.edges = new Uint32Array(2 * (this.maxRanges + 1));
    const una = this.una;
    const lo = (left - una) >>> 0;
    const hi = (right - una) >>> 0;
    const n = this.count;
    // Ranges i..j-1 overlap or touch [lo, hi].
    let i = 0;
    while (i < n && ((e[2 * i + 1]! - una) >>> 0) < lo) i++;
    let j = i;
    while (j < n && ((e[2 * j]! - una) >>> 0) <= hi) j++;
    let newLeft = left;
    let newRight = right;
    if (i < j) {
      if (((e[2 * i]! - una) >>> 0) < lo) newLeft = e[2 * i]! as Seq;
      if (((e[2 * j - 1]! - una) >>> 0) > hi) newRight = e[2 * j - 1]! as Seq;
      for (let k = i; k < j; k++) this.sacked -= (e[2 * k + 1]! - e[2 * k]!) >>> 0;
    }
    // Ranges i..j-1 become the one range at i.
    if (j !== i + 1) e.copyWithin(2 * (i + 1), 2 * j, 2 * n);
    const count = n - (j - i) + 1;
    e[2 * i] = newLeft;
    e[2 * i + 1] = newRight;
    this.sacked += (newRight - newLeft) >>> 0;
    if (count > this.maxRanges) {
      // Full: forget the highest range (the least useful for retransmission decisions).
      this.sacked -= (e[2 * count - 1]! - e[2 * count - 2]!) >>> 0;
      this.count = count - 1;
      this.forgotten++;
    } else {
      this.count = count;
    }
  }

  private checkRange(i: number): void {
    if (!isIndex(i) || i >= this.count) {
      throw new InvalidArgumentError(`SackScoreboard range ${i} of ${this.count}`);
    }
  }

  private release(): void {
    this.edges = null;
  }

  private choose(rule: NextSegRule, s: Seq, holeEnd: Seq, smss: number): NextSegRule {
    const room = (holeEnd - s) >>> 0;
    this.segSeq = s;
    this.segLen = room < smss ? room : smss;
    return rule;
  }
}
