/**
 * A small reference TCP peer for link tests, written independently of lib/tcp so that a bug the
 * engine shares with itself cannot hide: it opens a connection to the engine, sends `sendBytes` of its
 * stream (peerByte) and receives `expectBytes` of the engine's (appByte), checking every byte, then
 * closes. It plugs into a MemoryLink like an engine (a LinkEndpoint: l3Rx, l4Poll, now), so its
 * packets cross the same faults.
 *
 * Deliberately plain: Reno congestion control (RFC 5681), SACK on both sides (RFC 2018) with a simple
 * hole-by-hole retransmission in recovery, timestamps (RFC 7323) for its RTT, RFC 6298's RTO with a
 * 200 ms floor and go-back-N on timeout, and an ACK for every segment it receives. Sequence numbers are
 * kept as plain stream offsets (no wrap inside) and put on the wire modulo 2^32; its ISN sits below
 * 2^32 so that the wire numbers wrap during a long transfer.
 */
import type { Callbacks } from "../../lib/api.js";
import type { LinkEndpoint } from "../../lib/debug/link.js";
import { decodePacket, engineTcpProblems } from "./oracle/decode.js";
import { Flag } from "./oracle/numbers.js";
import { parse, tcp, type TcpOptionSpec } from "./packets.js";
import { appByte, peerByte } from "./tcp-harness.js";

export interface ReferenceOptions {
  now: () => number;
  family: 4 | 6;
  /** The reference's own address and port (the peer). */
  ip: string;
  port: number;
  /** The engine's address and port. */
  remoteIp: string;
  remotePort: number;
  /** Bytes to send (peerByte pattern) and to receive (appByte pattern). */
  sendBytes: number;
  expectBytes: number;
  /** Receive window in bytes (sent with window scale 7). Default 1 MiB. */
  rcvWindow?: number;
  iss?: number;
}

const MSS = 1460;
const WSCALE = 7;
const RTO_MIN = 200;
const RTO_MAX = 60_000;

type Range = { start: number; end: number; stamp: number };

export class ReferenceTcp implements LinkEndpoint<number> {
  readonly o: ReferenceOptions;
  readonly errors: string[] = [];
  state: "CLOSED" | "SYN-SENT" | "ESTABLISHED" | "DONE" = "CLOSED";
  private readonly iss: number;

  // Sender (offsets: 0 = first data byte; the FIN is at sendBytes).
  private sndUna = 0;
  private sndNxt = 0;
  private sndMax = 0;
  private peerWnd = 0;
  private peerWscale = 0;
  private smss = MSS;
  private cwnd = 10 * MSS;
  private ssthresh = Infinity;
  private dupAcks = 0;
  private inRecovery = false;
  private recoverPoint = 0;
  /** Next offset worth retransmitting in this recovery. */
  private rxtNext = 0;
  private sacked: Array<[number, number]> = [];
  private finSent = false;
  private finAcked = false;
  private wantFin = false;
  private srtt = 0;
  private rttvar = 0;
  private rto = 1000;
  private rtoAt = Infinity;
  private synAt = 0;

  // Receiver (offsets: 0 = first byte after the engine's SYN).
  private irs = 0;
  private rcvNxt = 0;
  private readonly rcvBuf: Uint8Array;
  private ooo: Range[] = [];
  private stampClock = 0;
  private finReceivedAt = -1;
  finReceived = false;
  tsRecent = 0;
  private ackPending = false;

  /** Counters for the report. */
  readonly stats = { segmentsOut: 0, retransmits: 0, rtos: 0, fastRetransmits: 0, segmentsIn: 0, dupData: 0 };

  private cb: Callbacks<number> | undefined;

  constructor(o: ReferenceOptions) {
    this.o = o;
    this.iss = o.iss ?? 0xfff8_0000;
    this.rcvBuf = new Uint8Array(o.expectBytes);
  }

  now(): number {
    return this.o.now();
  }

  /** Everything sent was acknowledged (FIN included) and everything expected arrived, with the engine's FIN. */
  get done(): boolean {
    return this.finAcked && this.finReceived && this.rcvNxt === this.o.expectBytes;
  }

  get received(): number {
    return this.rcvNxt;
  }

  get acked(): number {
    return Math.min(this.sndUna, this.o.sendBytes);
  }

  // ---------------------------------------------------------------- LinkEndpoint

  l4Poll(cb: Callbacks<number>): number | undefined {
    this.cb = cb;
    const now = this.now();
    if (this.state === "CLOSED") {
      this.state = "SYN-SENT";
      this.sendSyn();
    } else if (this.rtoAt <= now) {
      this.onRto();
    }
    this.flushAck();
    return this.rtoAt === Infinity ? undefined : this.rtoAt;
  }

  l3Rx(cb: Callbacks<number>, packet: Uint8Array): undefined {
    this.cb = cb;
    let p;
    try {
      p = parse(packet);
    } catch (e) {
      this.errors.push(`unparsable packet from the engine: ${String(e)}`);
      return undefined;
    }
    const t = p.tcp;
    if (t === undefined || !p.checksumOk) {
      this.errors.push(`not a valid TCP packet from the engine`);
      return undefined;
    }
    const problems = [...p.problems, ...engineTcpProblems(decodePacket(packet))];
    if (problems.length > 0) this.errors.push(`the engine sent a bad segment at ${this.now()} ms: ${problems.join("; ")}`);
    this.stats.segmentsIn++;
    if (t.flags & Flag.RST) {
      this.errors.push(`the engine sent a RST at ${this.now()} ms`);
      this.state = "DONE";
      this.rtoAt = Infinity;
      return undefined;
    }
    if (t.options.hasTimestamps) {
      // Echo the most recent TSval of in-order data (RFC 7323 §4.3, simplified).
      if (((t.options.tsVal - this.tsRecent) | 0) > 0) this.tsRecent = t.options.tsVal;
    }
    if (this.state === "SYN-SENT") {
      if ((t.flags & (Flag.SYN | Flag.ACK)) !== (Flag.SYN | Flag.ACK)) return undefined;
      if (t.ack !== ((this.iss + 1) >>> 0)) {
        this.errors.push(`SYN-ACK acknowledges ${t.ack}, not ${(this.iss + 1) >>> 0}`);
        return undefined;
      }
      this.irs = t.seq;
      if (t.options.hasTimestamps) this.tsRecent = t.options.tsVal;
      this.peerWscale = t.options.windowScale >= 0 ? t.options.windowScale : 0;
      this.smss = (t.options.mss > 0 ? Math.min(t.options.mss, MSS) : 536) - 12;
      this.cwnd = 10 * this.smss;
      this.peerWnd = t.window; // not scaled in a SYN-ACK
      this.state = "ESTABLISHED";
      this.rtoAt = Infinity;
      this.sampleRtt(this.now() - this.synAt);
      this.ackPending = true;
      this.output();
      this.flushAck();
      return undefined;
    }
    if (this.state !== "ESTABLISHED") return undefined;
    if (t.flags & Flag.SYN) {
      this.ackPending = true; // a retransmitted SYN-ACK: our ACK was lost
      this.flushAck();
      return undefined;
    }
    if (t.flags & Flag.ACK) this.onAck(t.ack, t.window, t.payload.length > 0 || (t.flags & Flag.FIN) !== 0, t.options.tsEcr, t.options.sackCount, t.options.sackBlocks);
    this.onData(t.seq, t.payload, (t.flags & Flag.FIN) !== 0);
    this.output();
    this.flushAck();
    return undefined;
  }

  // ---------------------------------------------------------------- receiving

  private onData(seqAbs: number, payload: Uint8Array, fin: boolean): void {
    const off = ((seqAbs - this.irs - 1) | 0) as number;
    if (payload.length > 0 || fin) this.ackPending = true;
    if (payload.length > 0) {
      const end = off + payload.length;
      if (end > this.o.expectBytes) {
        this.errors.push(`engine data ${off}:${end} beyond the ${this.o.expectBytes} bytes expected`);
        return;
      }
      if (end <= this.rcvNxt) {
        this.stats.dupData++;
      } else {
        const start = Math.max(off, this.rcvNxt);
        this.rcvBuf.set(payload.subarray(start - off), start);
        if (start === this.rcvNxt) {
          this.advance(end);
        } else {
          this.addRange(start, end);
        }
      }
    }
    if (fin) {
      const finOff = off + payload.length;
      this.finReceivedAt = finOff;
    }
    if (!this.finReceived && this.finReceivedAt >= 0 && this.rcvNxt === this.finReceivedAt) {
      this.finReceived = true;
      if (this.rcvNxt !== this.o.expectBytes) this.errors.push(`engine FIN after ${this.rcvNxt} of ${this.o.expectBytes} bytes`);
    }
  }

  /** In-order data now reaches `end` (and whatever out-of-order ranges it joins): check it. */
  private advance(end: number): void {
    let to = end;
    this.ooo = this.ooo.filter((r) => {
      if (r.start <= to) {
        if (r.end > to) to = r.end;
        return false;
      }
      return true;
    });
    // A range may now touch another one it did not before: loop until stable.
    for (let again = true; again; ) {
      again = false;
      this.ooo = this.ooo.filter((r) => {
        if (r.start <= to) {
          if (r.end > to) to = r.end;
          again = true;
          return false;
        }
        return true;
      });
    }
    for (let i = this.rcvNxt; i < to; i++) {
      if (this.rcvBuf[i] !== appByte(i)) {
        this.errors.push(`engine byte ${i} is ${this.rcvBuf[i]}, the application wrote ${appByte(i)}`);
        break;
      }
    }
    this.rcvNxt = to;
  }

  private addRange(start: number, end: number): void {
    const stamp = ++this.stampClock;
    let s = start;
    let e = end;
    this.ooo = this.ooo.filter((r) => {
      if (r.end < s || r.start > e) return true;
      s = Math.min(s, r.start);
      e = Math.max(e, r.end);
      return false;
    });
    this.ooo.push({ start: s, end: e, stamp });
  }

  private flushAck(): void {
    if (!this.ackPending || this.state !== "ESTABLISHED") return;
    this.ackPending = false;
    this.emit(this.sndNxtWire(), false);
  }

  // ---------------------------------------------------------------- sending

  private sndNxtWire(): number {
    // SEQ of an empty ACK: SND.NXT (the FIN, once sent, counts).
    return this.sndNxt + (this.finSent && this.sndNxt >= this.o.sendBytes ? 1 : 0);
  }

  private sendSyn(): void {
    this.synAt = this.now();
    const o: TcpOptionSpec = { mss: MSS, sackPermitted: true, windowScale: WSCALE, timestamps: [this.tsNow(), 0] };
    this.transmit({ seq: this.iss, ack: 0, flags: Flag.SYN, window: 65535, options: o, payload: new Uint8Array(0) });
    this.rtoAt = this.now() + this.rto;
  }

  private tsNow(): number {
    return (Math.floor(this.now()) + 0x1234_5678) >>> 0;
  }

  private sampleRtt(r: number): void {
    if (!(r >= 0)) return;
    if (this.srtt === 0 && this.rttvar === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(RTO_MAX, Math.max(RTO_MIN, this.srtt + 4 * this.rttvar));
  }

  private sackedBytes(): number {
    let n = 0;
    for (const [l, r] of this.sacked) n += r - l;
    return n;
  }

  private onAck(ackAbs: number, win: number, carriesData: boolean, tsEcr: number, sackCount: number, blocks: readonly number[]): void {
    const ack = ((ackAbs - this.iss - 1) | 0) as number; // offset of the next byte the engine wants
    const finOff = this.o.sendBytes;
    const highest = this.sndMax + (this.finSent ? 1 : 0);
    if (ack > highest) {
      this.errors.push(`the engine acknowledges ${ack}, beyond ${highest} sent`);
      return;
    }
    // SACK blocks (offsets), then the cumulative ACK.
    let newSack = false;
    for (let k = 0; k < sackCount; k++) {
      const l = ((blocks[2 * k]! - this.iss - 1) | 0) as number;
      const r = ((blocks[2 * k + 1]! - this.iss - 1) | 0) as number;
      if (r <= l || r > this.sndMax || r <= ack) continue;
      if (this.addSack(Math.max(l, ack), r)) newSack = true;
    }
    const prevWnd = this.peerWnd;
    this.peerWnd = win << this.peerWscale;
    if (ack > this.sndUna) {
      const acked = Math.min(ack, finOff) - this.sndUna;
      this.sndUna = Math.min(ack, finOff);
      if (ack > finOff) this.finAcked = true;
      this.sacked = this.sacked.filter(([, r]) => r > this.sndUna).map(([l, r]) => [Math.max(l, this.sndUna), r]);
      if (tsEcr !== 0) this.sampleRtt((this.tsNow() - tsEcr) | 0);
      this.dupAcks = 0;
      if (this.inRecovery) {
        if (this.sndUna >= this.recoverPoint) {
          this.inRecovery = false;
          this.cwnd = this.ssthresh;
        } else if (this.rxtNext <= this.sndUna) {
          // Partial ACK (RFC 6582): the next hole starts at SND.UNA.
          this.retransmit(this.sndUna);
        }
      } else if (this.cwnd < this.ssthresh) {
        this.cwnd += Math.min(acked, 2 * this.smss);
      } else {
        this.cwnd += Math.max(1, Math.floor((this.smss * this.smss) / this.cwnd));
      }
      this.rtoAt = this.sndUna < this.sndMax || (this.finSent && !this.finAcked) ? this.now() + this.rto : Infinity;
    } else if (ack === this.sndUna && this.sndMax > this.sndUna && ((!carriesData && this.peerWnd === prevWnd) || newSack)) {
      this.dupAcks++;
      if (!this.inRecovery && this.dupAcks >= 3) {
        this.stats.fastRetransmits++;
        this.inRecovery = true;
        this.recoverPoint = this.sndMax;
        this.ssthresh = Math.max(Math.floor((this.sndMax - this.sndUna) / 2), 2 * this.smss);
        this.cwnd = this.ssthresh;
        this.rxtNext = this.sndUna;
        this.retransmit(this.sndUna);
      }
    }
    if (this.inRecovery) this.retransmitHoles(2);
  }

  private addSack(l: number, r: number): boolean {
    const before = this.sackedBytes();
    const all = [...this.sacked, [l, r] as [number, number]].sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const [a, b] of all) {
      const last = merged[merged.length - 1];
      if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b);
      else merged.push([a, b]);
    }
    this.sacked = merged;
    return this.sackedBytes() > before;
  }

  /** Retransmit up to `max` holes below the highest SACKed byte, each once per recovery. */
  private retransmitHoles(max: number): void {
    let sent = 0;
    const top = this.sacked.length > 0 ? this.sacked[this.sacked.length - 1]![1] : this.sndUna;
    let at = Math.max(this.rxtNext, this.sndUna);
    while (sent < max && at < top) {
      const inSack = this.sacked.find(([l, r]) => at >= l && at < r);
      if (inSack !== undefined) {
        at = inSack[1];
        continue;
      }
      this.retransmit(at);
      at = this.rxtNext;
      sent++;
    }
  }

  /** Resend one segment from `off` (up to the next SACKed byte). */
  private retransmit(off: number): void {
    const next = this.sacked.find(([l]) => l > off);
    const end = Math.min(off + this.smss, this.sndMax, next !== undefined ? next[0] : Infinity);
    if (end <= off) return;
    this.stats.retransmits++;
    this.sendData(off, end - off);
    this.rxtNext = end;
  }

  private onRto(): void {
    this.stats.rtos++;
    this.rto = Math.min(RTO_MAX, this.rto * 2);
    if (this.state === "SYN-SENT") {
      this.sendSyn();
      return;
    }
    this.ssthresh = Math.max(Math.floor((this.sndMax - this.sndUna) / 2), 2 * this.smss);
    this.cwnd = this.smss;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.sacked = [];
    this.sndNxt = this.sndUna; // go back N
    if (this.finSent && !this.finAcked && this.sndUna >= this.o.sendBytes) this.finSent = false;
    this.output(true);
    this.rtoAt = this.now() + this.rto;
  }

  private output(force = false): void {
    if (this.state !== "ESTABLISHED") return;
    const total = this.o.sendBytes;
    for (let guard = 0; guard < 1000; guard++) {
      // SACKed bytes have left the network; Limited Transmit (RFC 3042) allows a segment per early dup ACK.
      const inFlight = this.sndNxt - this.sndUna - this.sackedBytes();
      const limited = !this.inRecovery && this.dupAcks > 0 && this.dupAcks < 3 ? this.dupAcks * this.smss : 0;
      const wndEnd = this.sndUna + this.peerWnd;
      const len = Math.min(this.smss, total - this.sndNxt, wndEnd - this.sndNxt);
      if (len <= 0) break;
      if (!force && inFlight + len > this.cwnd + limited) break;
      force = false;
      this.sendData(this.sndNxt, len);
      if (this.sndNxt < this.sndMax) this.stats.retransmits++;
      this.sndNxt += len;
      if (this.sndNxt > this.sndMax) this.sndMax = this.sndNxt;
      if (this.rtoAt === Infinity) this.rtoAt = this.now() + this.rto;
    }
    // FIN once everything is sent and everything expected has arrived.
    this.wantFin = this.rcvNxt === this.o.expectBytes && (this.o.expectBytes === 0 || this.finReceived);
    if (this.wantFin && !this.finSent && this.sndNxt === total) {
      this.finSent = true;
      this.emit(total, true);
      if (this.rtoAt === Infinity) this.rtoAt = this.now() + this.rto;
    }
  }

  private sendData(off: number, len: number): void {
    const payload = new Uint8Array(len);
    for (let i = 0; i < len; i++) payload[i] = peerByte(off + i);
    this.emit(off, false, payload);
  }

  /** One segment: data at offset `off` (or an ACK with seq `off`), our ACK and window, SACK blocks. */
  private emit(off: number, fin: boolean, payload = new Uint8Array(0)): void {
    const o: TcpOptionSpec = { timestamps: [this.tsNow(), this.tsRecent] };
    if (this.ooo.length > 0) {
      o.sack = [...this.ooo]
        .sort((a, b) => b.stamp - a.stamp)
        .slice(0, 3)
        .map((r) => [(this.irs + 1 + r.start) >>> 0, (this.irs + 1 + r.end) >>> 0]);
    }
    const rcvAck = this.rcvNxt + (this.finReceived ? 1 : 0);
    const window = Math.min(0xffff, (this.o.rcvWindow ?? 1 << 20) >> WSCALE);
    this.transmit({
      seq: (this.iss + 1 + off) >>> 0,
      ack: (this.irs + 1 + rcvAck) >>> 0,
      flags: Flag.ACK | (fin ? Flag.FIN : 0) | (payload.length > 0 ? Flag.PSH : 0),
      window,
      options: o,
      payload,
    });
    this.ackPending = false;
  }

  private transmit(f: { seq: number; ack: number; flags: number; window: number; options: TcpOptionSpec; payload: Uint8Array }): void {
    const cb = this.cb;
    if (cb === undefined) return;
    const bytes = tcp({
      family: this.o.family,
      src: this.o.ip,
      dst: this.o.remoteIp,
      srcPort: this.o.port,
      dstPort: this.o.remotePort,
      seq: f.seq,
      ack: f.ack,
      flags: f.flags,
      window: f.window,
      options: f.options,
      payload: f.payload,
    });
    const slot = cb.l3TxBuffer(bytes.length);
    if (slot === undefined) return; // no buffer: as good as lost; the timer recovers
    cb.l3TxBufferMut(slot).set(bytes);
    cb.l3Tx(slot, bytes.length);
    this.stats.segmentsOut++;
  }
}
