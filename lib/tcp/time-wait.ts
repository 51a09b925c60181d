/**
 * TIME-WAIT as a compact record (RFC 9293 §3.6.1, §3.10.7.4): after an active close the connection's
 * buffers and timers are gone; what remains is enough to re-acknowledge a retransmitted FIN for 2*MSL
 * and to tell a new SYN for the same 4-tuple from an old duplicate (RFC 6191).
 */
import type { FlowRecord } from "../flow/flow.js";
import { TcpFlag, TcpOptions, type TcpPacket } from "../wire/tcp.js";
import { tcpOutSegment, type TcpContext } from "./context.js";
import { seq, seqGt, type Seq } from "./seq.js";

/** What the engine does with a segment that hit a TIME-WAIT record. */
export const TimeWaitVerdict = { DROP: 0, NEW_SYN: 1 } as const;
export type TimeWaitVerdict = (typeof TimeWaitVerdict)[keyof typeof TimeWaitVerdict];

const out = tcpOutSegment();
const outOpts = new TcpOptions();

export class TimeWait {
  deadline = Infinity;
  heapIndex = -1;
  readonly flow: FlowRecord;
  sndNxt: Seq = seq(0);
  rcvNxt: Seq = seq(0);
  tsOk = false;
  tsRecent = 0;
  tsOffset = 0;
  /** The window field we last sent, repeated on our ACKs. */
  window = 0;

  constructor(flow: FlowRecord) {
    this.flow = flow;
  }

  /**
   * RFC 9293 §3.10.7.4 in TIME-WAIT:
   * - a RST: RFC 1337 (TIME-WAIT assassination hazards): ignore it and keep the record;
   * - a SYN whose sequence number is above RCV.NXT, or whose timestamp is newer than TS.Recent
   *   (RFC 6191 §2), may open a new incarnation: the engine drops this record and treats the SYN as new;
   * - a retransmitted FIN: acknowledge it and restart the 2 MSL timeout;
   * - anything else: acknowledge (the peer lost our last ACK) and drop.
   */
  segmentArrives(ctx: TcpContext, seg: TcpPacket, opts: TcpOptions): TimeWaitVerdict {
    const flags = seg.flags;
    if (flags & TcpFlag.RST) return TimeWaitVerdict.DROP;
    if (flags & TcpFlag.SYN && !(flags & TcpFlag.ACK)) {
      const newer =
        this.tsOk && opts.hasTimestamps
          ? ((opts.tsVal - this.tsRecent) | 0) > 0
          : seqGt(seq(seg.seq), this.rcvNxt);
      if (newer) return TimeWaitVerdict.NEW_SYN;
      this.sendAck(ctx);
      return TimeWaitVerdict.DROP;
    }
    if (flags & TcpFlag.FIN) {
      this.deadline = ctx.now() + ctx.config.tcpTimeWaitMs;
      ctx.reschedule(this);
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
      o.tsVal = (Math.floor(ctx.now()) + this.tsOffset) >>> 0;
      o.tsEcr = this.tsRecent;
      out.options = o;
    } else {
      out.options = null;
    }
    ctx.transmit(this, out);
  }
}
