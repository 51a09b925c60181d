/**
 * TIME-WAIT as a compact record (RFC 9293 §3.6.1, §3.10.7.4), and the only form TIME-WAIT takes:
 * when a connection enters it, the record takes the connection's place in the flow table at once, with
 * the 2*MSL timer, and answers every segment from then on. What remains is enough to re-acknowledge a
 * retransmitted FIN and to tell a new SYN for the same 4-tuple from an old duplicate (RFC 6191).
 *
 * If the application has not taken all it received yet (it paused delivery), the connection lives on
 * beside the record, `held`, for that alone: it delivers what it holds and l4RemoteClosed on
 * l4ResumeRx, then ends (l4Rx(flow, null)). tcp/demux.ts keeps the record while it holds one.
 */
import type { FlowRecord } from "../flow/flow.js";
import type { TcpConnection } from "./connection.js";
import { TcpFlag, TcpOptions, type TcpPacket } from "../wire/tcp.js";
import { tcpOutSegment, type TcpContext } from "./context.js";
import { OOW_ACK_INTERVAL_MS } from "./output.js";
import { seq, seqGt, SEQ_ZERO, UINT32_FIELD_ZERO, type Seq } from "./seq.js";
import { tsClock } from "./timestamps.js";

/** What the engine does with a segment that hit a TIME-WAIT record. */
export const TimeWaitVerdict = { DROP: 0, NEW_SYN: 1 } as const;
export type TimeWaitVerdict = (typeof TimeWaitVerdict)[keyof typeof TimeWaitVerdict];

const out = tcpOutSegment();
const outOpts = new TcpOptions();

export class TimeWait {
  /** The FlowState tag (flow/flow.ts): on the prototype, so it costs the per-flow object nothing. */
  get kind(): "time-wait" {
    return "time-wait";
  }
  deadline = Infinity;
  heapIndex = -1;
  readonly flow: FlowRecord;
  sndNxt: Seq = SEQ_ZERO;
  rcvNxt: Seq = SEQ_ZERO;
  tsOk = false;
  tsRecent = UINT32_FIELD_ZERO;
  tsOffset = UINT32_FIELD_ZERO;
  /** The window field we last sent, repeated on our ACKs. */
  window = 0;
  /** When the last ACK answering a bare ACK went out. */
  lastOowAckAt = -Infinity;
  /** The connection, while the application has still to take what it received (see the module comment). */
  held: TcpConnection | null = null;

  constructor(flow: FlowRecord) {
    this.flow = flow;
  }

  /**
   * RFC 9293 §3.10.7.4 in TIME-WAIT:
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
  segmentArrives(ctx: TcpContext, seg: TcpPacket, opts: TcpOptions): TimeWaitVerdict {
    const flags = seg.flags;
    if (flags & TcpFlag.RST) return TimeWaitVerdict.DROP;
    if (flags & TcpFlag.SYN && !(flags & TcpFlag.ACK)) {
      const newer =
        this.tsOk && opts.hasTimestamps
          ? ((opts.tsVal - this.tsRecent) | 0) > 0
          : seqGt(seq(seg.seq), this.rcvNxt);
      if (newer && this.held === null) return TimeWaitVerdict.NEW_SYN;
    } else if (flags & TcpFlag.FIN) {
      this.deadline = ctx.now + ctx.config.tcpTimeWaitMs;
      ctx.reschedule(this);
      this.sendAck(ctx);
      return TimeWaitVerdict.DROP;
    }
    // Data (without SYN) is never part of an ACK loop: always answered. A bare ACK at RCV.NXT is not
    // answered at all; other bare ACKs and old SYNs at most once per interval.
    const syn = (flags & TcpFlag.SYN) !== 0;
    if (seg.payloadLength === 0 || syn) {
      if (!syn && seg.seq === this.rcvNxt) return TimeWaitVerdict.DROP;
      const now = ctx.now;
      if (now - this.lastOowAckAt < OOW_ACK_INTERVAL_MS) return TimeWaitVerdict.DROP;
      this.lastOowAckAt = now;
    }
    this.sendAck(ctx);
    return TimeWaitVerdict.DROP;
  }

  private sendAck(ctx: TcpContext): void {
    out.flags = TcpFlag.ACK;
    out.seq = this.sndNxt;
    out.ack = this.rcvNxt;
    out.window = this.window;
    out.payloadOffset = 0;
    out.payloadLength = 0;
    if (this.tsOk) {
      const o = outOpts.reset();
      o.hasTimestamps = true;
      o.tsVal = tsClock(ctx.now, this.tsOffset);
      o.tsEcr = this.tsRecent;
      out.options = o;
    } else {
      out.options = null;
    }
    ctx.transmit(this, out);
  }
}
