/**
 * The SYN backlog's overflow: SYN cookies on the wire (RFC 4987 §3.6, in the Linux manner). While
 * fewer than synBacklog passive opens wait in SYN-RECEIVED (open.ts counts them), a SYN makes a
 * connection as RFC 9293 §3.10.7.2 says; past it the SYN is answered by `sendCookie`, statelessly:
 * the SYN-ACK's ISS is a cookie (syn-cookie.ts) and nothing is kept. The ACK that brings it back
 * (ACK = ISS + 1) is checked by `check`, and tcp/demux.ts rebuilds the connection from what it gives
 * (open.ts acceptCookie).
 *
 * The cookie SYN-ACK offers what a connection's would (output.ts sendSyn) as far as the cookie can
 * carry it: our MSS; with timestamps in the SYN, timestamps whose TSval holds the peer's window
 * scale and SACK-permitted in its low bits (Linux's cookie_init_timestamp), SACK-permitted, and our
 * window scale (which depends on the configuration alone, tcb.ts rcvWscaleFor); without timestamps,
 * neither window scale nor SACK, which the cookie could not bring back (Linux's tcp_clear_options).
 * The peer's MSS is rounded down to the cookie's table.
 *
 * An ACK for no flow is checked for a cookie only while one went out in the last COOKIE_LIFETIME_MS
 * (Linux's tcp_synq_no_recent_overflow): otherwise no cookie can be valid, and RFC 9293 §3.10.7.1's
 * RST answers it as before.
 *
 * Allocation-free: one scratch segment and option record, the codec's preallocated words.
 */
import type { EngineConfig } from "../config.js";
import type { L4Packet } from "../ip/input.js";
import type { AnyCallbacks } from "../ip/output.js";
import type { Counters } from "../stats.js";
import { TcpFlag, TcpOptions, type TcpPacket } from "../wire/tcp.js";
import { tcpOutSegment } from "./context.js";
import { fourTupleWords, type IsnGenerator } from "./isn.js";
import { seq, seqAdd } from "./seq.js";
import {
  COOKIE_LIFETIME_MS,
  COOKIE_MSS_V4,
  COOKIE_MSS_V6,
  SynCookies,
  cookieMssIndex,
  decodeTimestamp,
  encodeTimestamp,
  type CookieOptions,
} from "./syn-cookie.js";
import { rcvWscaleFor } from "./tcb.js";
import { tsClock } from "./timestamps.js";
import type { TcpSegmentWriter } from "./writer.js";

export class SynBacklog {
  private readonly cookies: SynCookies;
  private readonly synAck = tcpOutSegment();
  private readonly synAckOpts = new TcpOptions();
  /** The options the SYN-ACK folds into its TSval; after `check`, those the ACK brought back. */
  readonly options: CookieOptions = { windowScale: -1, sackPermitted: false, ecn: false };
  private readonly words = new Uint32Array(9);
  /** When the last cookie went out (engine clock, ms). */
  private lastCookieAt = -Infinity;

  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
    private readonly isn: IsnGenerator,
    private readonly writer: TcpSegmentWriter,
  ) {
    // RFC 4987 §3.6 / RFC 6528: the keyed hash under the engine's ISN secret; t rotates it.
    this.cookies = new SynCookies(isn.keyedHash);
  }

  /** The backlog is full: a new SYN gets a cookie. */
  get full(): boolean {
    return this.counters.tcpHalfOpen >= this.config.synBacklog;
  }

  /** A cookie went out recently enough that an ACK for no flow may carry one back. */
  cookiesOut(now: number): boolean {
    return now - this.lastCookieAt < COOKIE_LIFETIME_MS;
  }

  /**
   * RFC 4987 §3.6: answer the SYN `seg` (of `p`, options `opts`) with <SEQ=cookie><ACK=SEG.SEQ+1>
   * <CTL=SYN,ACK>, keeping nothing. Not retried: the peer retransmits its SYN if it is lost.
   */
  sendCookie(cb: AnyCallbacks, p: L4Packet, seg: TcpPacket, opts: TcpOptions, now: number): void {
    const family = p.family;
    const clientIsn = seq(seg.seq);
    // No MSS option (opts.mss 0) falls to the table's first entry, which is the family's default MSS
    // (RFC 9293 §3.7.1: 536; RFC 8200 §5: 1220), as a peer MSS below the second entry does.
    const iss = this.tuple(p, seg).make(clientIsn, cookieMssIndex(opts.mss, family), now);
    const o = this.synAckOpts.reset();
    // Our MSS, as a connection's SYN-ACK (tcb.ts mtuMss).
    o.mss = this.config.mtu - (family === 6 ? 60 : 40);
    if (opts.hasTimestamps) {
      const c = this.options;
      c.windowScale = opts.windowScale;
      c.sackPermitted = opts.sackPermitted;
      c.ecn = false; // we negotiate no ECN
      const n = fourTupleWords(this.words, p.bytes, p.dstOffset, p.bytes, p.srcOffset, family === 6 ? 16 : 4, seg.dstPort, seg.srcPort);
      o.hasTimestamps = true;
      o.tsVal = encodeTimestamp(tsClock(now, this.isn.tsOffset(this.words, n)), c);
      o.tsEcr = opts.tsVal;
      o.sackPermitted = opts.sackPermitted;
      if (opts.windowScale >= 0) o.windowScale = rcvWscaleFor(this.config.tcpBufferSize);
    }
    const r = this.synAck;
    r.flags = TcpFlag.SYN | TcpFlag.ACK;
    r.seq = iss;
    r.ack = seqAdd(clientIsn, 1);
    // RFC 7323 §2.2: not scaled; a fresh connection's whole buffer, as output.ts sendSyn offers it.
    r.window = Math.min(this.config.tcpBufferSize, 0xffff);
    r.options = o;
    r.payloadOffset = 0;
    r.payloadLength = 0;
    if (this.writer.write(cb, family, p.bytes, p.dstOffset, p.srcOffset, seg.dstPort, seg.srcPort, r, undefined)) {
      this.counters.tcpSynCookiesSent++;
      this.lastCookieAt = now;
    }
  }

  /**
   * The ACK `seg` (no SYN, no RST, no flow): the MSS its cookie carried, and in `options` the window
   * scale and SACK-permitted its TSecr brought back (when it has timestamps); or -1 when it carries no
   * valid cookie. Counts either way.
   */
  check(p: L4Packet, seg: TcpPacket, opts: TcpOptions, now: number): number {
    const table = p.family === 6 ? COOKIE_MSS_V6 : COOKIE_MSS_V4;
    const index = this.tuple(p, seg).check(seq(seg.ack), seq(seg.seq), now, table.length);
    if (index < 0) {
      this.counters.tcpSynCookiesRejected++;
      return -1;
    }
    this.counters.tcpSynCookiesValidated++;
    // Without timestamps the ACK brings no options back: open.ts acceptCookie then uses none
    // (Linux's tcp_clear_options), whatever `options` holds.
    if (opts.hasTimestamps) decodeTimestamp(opts.tsEcr, this.options);
    return table[index]!;
  }

  /** The codec, set to the packet's connection (the engine's end first). */
  private tuple(p: L4Packet, seg: TcpPacket): SynCookies {
    return this.cookies.tuple(p.bytes, p.dstOffset, p.bytes, p.srcOffset, p.family === 6 ? 16 : 4, seg.dstPort, seg.srcPort);
  }
}
