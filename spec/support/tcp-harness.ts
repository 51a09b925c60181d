/**
 * Packet-level TCP tests in the spirit of packetdrill: a script injects segments by their fields (not
 * bytes) at given times and expects segments out, checked field by field. It drives the REAL engine
 * (L3L4Builder ... build()) on a virtual clock; nothing is mocked.
 *
 *   const h = new TcpHarness();
 *   h.at(0).in({ flags: "S", seq: 0, win: 65535, mss: 1460, sackOK: true, ts: [100, 0], wscale: 7 });
 *   h.out({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
 *   h.in({ flags: ".", seq: 1, ack: 1 });
 *   h.in({ flags: "P.", seq: 1, ack: 1, data: 100 });
 *   h.out({ flags: ".", ack: 101 });
 *   h.at(200).outNothing();
 *
 * Conventions (as packetdrill's):
 * - Fields left out of an expectation are don't-care; fields left out of an injected segment get
 *   the obvious value (seq: what the peer sends next, ack: what the engine sent last, win: 65535,
 *   timestamps: when negotiated, the peer's clock and the last TSval the engine sent).
 * - Sequence numbers are RELATIVE: what the peer sends counts from the peer's ISN, what the engine
 *   sends counts from the engine's ISN, learned from its SYN-ACK. So an ACK field we inject counts
 *   from the engine's ISN and an ACK field we expect counts from the peer's. SACK blocks likewise.
 * - Timestamps: the peer's TSval is absolute (we choose it); the engine's TSval is relative to its
 *   timestamp clock at time 0 of the script (so it reads as ms since the start); an injected TSecr is
 *   an engine TSval in those relative units; an expected TSecr is absolute (it echoes our TSval).
 * - Times are ms since the harness started. `at(t)` moves the clock to t, running every l4Poll that
 *   falls due on the way, at its due time; each packet the engine sends is stamped with its time.
 * - Strict, as packetdrill: injecting a segment or moving the clock while packets the script has not
 *   expected are waiting is a failure. `drain()` throws them away explicitly.
 *
 * Every packet the engine sends is checked on capture with the packet oracle (spec/support/oracle:
 * written from the RFCs, sharing nothing with lib/wire): well formed, valid IP and TCP checksums,
 * the RFCs' sender rules (engineTcpProblems), addressed to a known peer from the address it was sent
 * to; data bytes equal what the application wrote at that sequence number. The segments the harness
 * injects are built with the oracle too. A packet with a problem fails out() and drain().
 * Every l4Rx(flow, null) is counted: a second one is a failure, as is data after it.
 * Failures print every unmatched packet with describe() and with the harness's relative notation.
 */
import type { Callbacks, Flow, FlowInfo, TcpState } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { RxOffload } from "../../lib/tun/offload.js";
import { DEFAULT_CONFIG } from "../../lib/config.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import type { L3L4 } from "../../lib/engine.js";
import { canonicalAddress } from "./oracle/address.js";
import { decodePacket, engineTcpProblems, flagBits as parseFlags, flagLetters as flagsText, summary } from "./oracle/decode.js";
import { Flag as TcpFlag } from "./oracle/numbers.js";
import { tcp, type TcpOptionSpec } from "./packets.js";

export const PEER4 = "192.0.2.1";
export const LOCAL4 = "198.51.100.7";
export const PEER6 = "2001:db8::1";
export const LOCAL6 = "2001:db8:1::7";
export const PEER_PORT = 40000;
export const LOCAL_PORT = 80;
/** The default peer ISN sits just below 2^32, so every script also crosses the sequence wrap. */
export const DEFAULT_PEER_ISN = 0xffff_ff00;
/** The virtual clock's reading at script time 0 (not 0, so nothing relies on a zero clock). */
export const CLOCK_ORIGIN = 1_000_000;

// Flags as packetdrill writes them: S F R P . (ACK) U E W, in any order (the oracle's notation).
export { parseFlags, flagsText };

// ------------------------------------------------------------------------------------------------
// What a script injects and expects
// ------------------------------------------------------------------------------------------------

/** A segment to inject. Sequence numbers relative (see the file comment). */
export interface SegIn {
  flags: string;
  /** Relative to the peer's ISN; default: the peer's next sequence number. */
  seq?: number;
  /** Relative to the engine's ISN; default: the end of what the engine has sent. */
  ack?: number;
  /** The raw window field; default: the last one given for this peer (65535 at first). */
  win?: number;
  /** Payload: a length (bytes of the peer's stream pattern at that sequence number), or the bytes. */
  data?: number | Uint8Array | string;
  mss?: number;
  wscale?: number;
  sackOK?: boolean;
  /** [TSval (absolute), TSecr (engine TSval, relative; undefined = the last one seen)]; null = none. */
  ts?: readonly [number, number | undefined] | null;
  /** SACK blocks, relative to the engine's ISN. */
  sack?: ReadonlyArray<readonly [number, number]>;
  urg?: number;
  /** Which peer (its port) sends it; default the harness's peer port. */
  port?: number;
  /** Break the TCP checksum (the engine must drop the segment). */
  badChecksum?: boolean;
}

/** A segment expected from the engine. Every field is optional: left out = don't care. */
export interface SegOut {
  flags?: string;
  /** Relative to the engine's ISN. */
  seq?: number;
  /** Relative to the peer's ISN. */
  ack?: number;
  win?: number;
  /** Payload length. */
  len?: number;
  /** Exact payload. */
  data?: Uint8Array | string;
  /** null: the option must be absent. */
  mss?: number | null;
  wscale?: number | null;
  sackOK?: boolean;
  /** null: no timestamps. [TSval relative or undefined, TSecr absolute or undefined]. */
  ts?: readonly [number | undefined, number | undefined] | null;
  /** Exact SACK blocks in order, relative to the peer's ISN; null or []: no SACK option. */
  sack?: ReadonlyArray<readonly [number, number]> | null;
  /** No TCP options at all. */
  noOptions?: boolean;
  /** Sent at this script time (ms). */
  time?: number;
  /** To which peer (its port); default the harness's peer port. */
  port?: number;
}

/** A packet the engine sent, decoded relative to its connection. */
export interface Captured {
  /** Script time (ms) when it was sent. */
  time: number;
  bytes: Uint8Array;
  /** describe() of the bytes. */
  text: string;
  family: 4 | 6;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  flags: number;
  seqAbs: number;
  ackAbs: number;
  /** Relative to the engine's ISN (absolute before it is known). */
  seq: number;
  /** Relative to the peer's ISN. */
  ack: number;
  win: number;
  len: number;
  payload: Uint8Array;
  mss: number;
  wscale: number;
  sackOK: boolean;
  hasTs: boolean;
  tsValAbs: number;
  /** Relative to the engine's timestamp clock at script time 0 (absolute before it is known). */
  tsVal: number;
  tsEcr: number;
  hasOptions: boolean;
  /** Relative to the peer's ISN. */
  sack: Array<[number, number]>;
  /** Problems found on capture (checksums, addressing, payload content). */
  problems: string[];
}

// ------------------------------------------------------------------------------------------------
// Byte patterns: each direction's stream has its own, so crossed or shifted bytes show.
// ------------------------------------------------------------------------------------------------

/** Byte `i` (0 = first byte after the SYN) of the peer's default stream. */
export function peerByte(i: number): number {
  return (i * 13 + 5 + (i >>> 8)) & 0xff;
}

/** Byte `i` of the application's default stream (what `app.send(n)` writes). */
export function appByte(i: number): number {
  return (i * 31 + 7 + (i >>> 9)) & 0xff;
}

function pattern(fn: (i: number) => number, from: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let k = 0; k < len; k++) b[k] = fn(from + k);
  return b;
}

/** A growable byte stream indexed by offset (what one side has sent, by stream position). */
class Stream {
  bytes = new Uint8Array(1024);
  /** 1 where a byte was written (for first-copy-wins writes). */
  have = new Uint8Array(1024);
  /** Highest offset written + 1. */
  length = 0;

  /** Write `data` at `offset`; with `firstWins`, bytes already written keep their value. */
  write(offset: number, data: Uint8Array, firstWins = false): void {
    const end = offset + data.length;
    if (end > this.bytes.length) {
      let size = this.bytes.length;
      while (size < end) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
      const have = new Uint8Array(size);
      have.set(this.have.subarray(0, this.length));
      this.have = have;
    }
    if (firstWins) {
      for (let i = 0; i < data.length; i++) {
        if (this.have[offset + i] === 0) {
          this.bytes[offset + i] = data[i]!;
          this.have[offset + i] = 1;
        }
      }
    } else {
      this.bytes.set(data, offset);
      this.have.fill(1, offset, end);
    }
    if (end > this.length) this.length = end;
  }

  /** Forget everything from `length` on. */
  truncate(length: number): void {
    if (length < this.length) {
      this.have.fill(0, length, this.length);
      this.length = length;
    }
  }

  slice(from: number, to: number): Uint8Array {
    return this.bytes.subarray(from, to);
  }
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

function u32(n: number): number {
  return n >>> 0;
}

/** a - b in sequence space, as a signed 32-bit number. */
function rel(a: number, b: number): number {
  return (a - b) | 0;
}

// ------------------------------------------------------------------------------------------------
// One peer: the 4-tuple seen from the peer, the relative bases and what each side sent.
// ------------------------------------------------------------------------------------------------

export class PeerConn {
  readonly port: number;
  readonly peerIsn: number;
  /** The engine's ISN, learned from its SYN-ACK; 0 until then (numbers stay absolute). */
  engineIss = 0;
  engineIssKnown = false;
  /** Next relative sequence number the peer sends (after the SYN: 1). */
  peerNext = 0;
  /** Highest relative sequence number the engine has sent + 1 (SYN and FIN count). */
  engineNext = 0;
  /** The flow, from l4Accept (or the first l3Rx that returned it). */
  flow: Flow | undefined;
  /** The window field the peer last advertised (after its SYN), the default for what it sends next. */
  peerWin = 65535;
  /** Timestamps: the peer's clock (TSval = tsBase + script time), and what the engine last sent. */
  peerTsBase = 0;
  tsNegotiated = false;
  peerSentTs = false;
  engineTsOrigin = 0;
  engineTsKnown = false;
  lastEngineTsVal = 0;
  /** Bytes the peer sent (by stream offset) and the engine delivered (in order). */
  readonly peerStream = new Stream();
  readonly received = new Stream();
  /** Bytes the application wrote (by stream offset). */
  readonly appStream = new Stream();
  appWritten = 0;
  /** l4Rx(flow, data) calls, with their lengths. */
  readonly rxCalls: number[] = [];
  /** l4Rx(flow, null) calls. */
  closedCount = 0;
  remoteClosedCount = 0;
  /** Bytes delivered when l4RemoteClosed came (-1: not yet). */
  remoteClosedAfter = -1;
  txReadyCount = 0;
  constructor(port: number, peerIsn: number) {
    this.port = port;
    this.peerIsn = peerIsn;
  }
}

// ------------------------------------------------------------------------------------------------
// The harness
// ------------------------------------------------------------------------------------------------

export interface HarnessOptions {
  family?: 4 | 6;
  peerIp?: string;
  localIp?: string;
  peerPort?: number;
  localPort?: number;
  /** The peer's ISN (absolute). */
  peerIsn?: number;
  /** Settings beyond the clock: `b => b.tcpBufferSize(65535)`. */
  configure?: (b: L3L4Builder<Uint8Array>) => L3L4Builder<Uint8Array>;
  /** l4Accept's answer (default: accept every flow). */
  accept?: boolean | ((flow: Flow) => boolean);
  /** packetdrill strictness (default true): see the file comment. */
  strict?: boolean;
  /**
   * The engine is built with txSuperSegments(n) and every packet it sends comes behind a virtio-net
   * header: the harness keeps each as sent (`vnetTx`), then does what the kernel behind a TUN does
   * (lib/tun/offload.ts RxOffload: check the header, complete a partial checksum, cut a super-segment
   * at gso_size), and the script sees the pieces, checked by the oracle as any packet.
   */
  txSuperSegments?: number;
}

type Hook = (flow: Flow, conn: PeerConn) => void;

export type ForwardApp = Pick<Callbacks<Uint8Array>, "l4Rx"> &
  Partial<Pick<Callbacks<Uint8Array>, "l4Accept" | "l4TxReady" | "l4RemoteClosed">> & { afterRx?(): void };

export class TcpHarness {
  readonly clock = new VirtualClock(CLOCK_ORIGIN);
  readonly engine: L3L4<Uint8Array>;
  readonly family: 4 | 6;
  readonly peerIp: string;
  readonly localIp: string;
  readonly localPort: number;
  readonly defaultPort: number;
  readonly strict: boolean;
  readonly callbacks: Callbacks<Uint8Array>;
  /** Packets sent and not yet matched by out(). */
  readonly pending: Captured[] = [];
  /** Every packet sent, in order. */
  readonly sent: Captured[] = [];
  /** Failures detected inside callbacks (thrown at the next check). */
  readonly errors: string[] = [];
  /** When true, l3TxBuffer answers undefined (no transmit buffer: the device pushes back). */
  txBlocked = false;
  /** Called from l4Rx with data (after recording), e.g. to pause from inside the callback. */
  onRx: Hook | undefined;
  onRemoteClosed: Hook | undefined;
  /** Called after the harness counted an l4TxReady (the application may l4Tx from here). */
  onTxReady: Hook | undefined;
  /** The next deadline l4Poll reported (absolute clock), undefined = none. */
  nextDeadline: number | undefined;
  /** Flows offered to l4Accept, in order. */
  readonly accepted: Flow[] = [];
  /**
   * An application behind the harness (a NetStack): every l4 callback goes on to it after the
   * harness recorded it (l4Accept: its answer counts, unless `accept` refuses first), and afterRx
   * after each injected packet.
   */
  forward: ForwardApp | undefined;
  private readonly conns = new Map<number, PeerConn>();
  private readonly peerIsnBase: number;
  private accept: boolean | ((flow: Flow) => boolean);
  /** Under txSuperSegments: every buffer as l3Tx had it, virtio-net header first. */
  readonly vnetTx: Uint8Array[] = [];
  /** Under txSuperSegments: the kernel's side of the header (checks, checksums, cutting). */
  readonly vnetKernel: RxOffload | undefined;

  readonly app: App;

  constructor(options: HarnessOptions = {}) {
    this.family = options.family ?? 4;
    this.peerIp = options.peerIp ?? (this.family === 4 ? PEER4 : PEER6);
    this.localIp = options.localIp ?? (this.family === 4 ? LOCAL4 : LOCAL6);
    this.defaultPort = options.peerPort ?? PEER_PORT;
    this.localPort = options.localPort ?? LOCAL_PORT;
    this.peerIsnBase = options.peerIsn ?? DEFAULT_PEER_ISN;
    this.strict = options.strict ?? true;
    this.accept = options.accept ?? true;
    let b = new L3L4Builder<Uint8Array>().clock(this.clock.now);
    if (options.txSuperSegments !== undefined) {
      b = b.txSuperSegments(options.txSuperSegments);
      this.vnetKernel = new RxOffload((piece) => this.capture(piece.slice()));
    }
    if (options.configure) b = options.configure(b);
    this.engine = b.build();
    this.callbacks = this.makeCallbacks();
    this.app = new App(this, this.defaultPort);
  }

  // ---------------------------------------------------------------- time

  /** Script time now (ms). */
  get now(): number {
    return this.clock.now() - CLOCK_ORIGIN;
  }

  /** Move the clock to script time `t` (ms), running every timer that falls due on the way at its time. */
  at(t: number): this {
    const target = CLOCK_ORIGIN + t;
    if (target < this.clock.now()) throw new Error(`at(${t}): the script is already at ${this.now}`);
    if (target > this.clock.now()) this.checkNoPending(`moving the clock to ${t} ms`);
    this.advanceTo(target);
    return this;
  }

  /** Script time (ms) of the next deadline l4Poll reported; undefined when none (or Infinity). */
  get deadline(): number | undefined {
    const d = this.nextDeadline;
    return d === undefined || d === Infinity ? undefined : d - CLOCK_ORIGIN;
  }

  /** Move the clock forward by `ms`. */
  after(ms: number): this {
    return this.at(this.now + ms);
  }

  /**
   * Move the clock to script time `t` like at(), but without the strictness check: packets waiting to
   * be expected stay waiting (the script parser uses this before a `>` line, whose packet may be one
   * of them).
   */
  advance(t: number): this {
    const target = CLOCK_ORIGIN + t;
    if (target < this.clock.now()) throw new Error(`advance(${t}): the script is already at ${this.now}`);
    this.advanceTo(target);
    return this;
  }

  /** Advance to an absolute clock time, firing due timers at their time; no strictness check. */
  private advanceTo(target: number): void {
    for (let guard = 0; ; guard++) {
      if (guard > 1_000_000) throw new Error(`timers keep firing before ${target - CLOCK_ORIGIN} ms: a timer loop?`);
      const d = this.nextDeadline;
      if (d === undefined || d > target) break;
      if (d > this.clock.now()) this.clock.set(d);
      const before = this.clock.now();
      this.poll();
      // A deadline at or before now that l4Poll does not move is a timer that never fires.
      if (this.nextDeadline !== undefined && this.nextDeadline <= before && guard > 1000) {
        throw new Error(`l4Poll keeps reporting a past deadline ${this.nextDeadline - CLOCK_ORIGIN} ms at ${before - CLOCK_ORIGIN} ms`);
      }
      if (this.nextDeadline !== undefined && this.nextDeadline <= before) {
        // Due now and not fired (an engine may fire only what was due when the poll began): step 1 ms.
        if (before + 1 > target) break;
        this.clock.set(before + 1);
      }
    }
    if (target > this.clock.now()) this.clock.set(target);
    this.poll();
  }

  /** Call l4Poll now and remember the next deadline. */
  poll(): void {
    this.nextDeadline = this.engine.l4Poll(this.callbacks);
    this.throwErrors();
  }

  // ---------------------------------------------------------------- peers

  /** The connection state for a peer port (made on first use). */
  conn(port: number = this.defaultPort): PeerConn {
    let c = this.conns.get(port);
    if (c === undefined) {
      // Each peer port gets its own ISN, still near the wrap.
      c = new PeerConn(port, u32(this.peerIsnBase + (port - this.defaultPort) * 0x0101_0101));
      this.conns.set(port, c);
    }
    return c;
  }

  /** The flow of a peer port (throws if the engine never reported it). */
  flow(port: number = this.defaultPort): Flow {
    const f = this.conn(port).flow;
    if (f === undefined) throw new Error(`no flow for peer port ${port}`);
    return f;
  }

  /** The application side of another peer's flow. */
  appFor(port: number): App {
    return new App(this, port);
  }

  state(port: number = this.defaultPort): TcpState | undefined {
    const f = this.conn(port).flow;
    return f === undefined ? undefined : this.engine.l4State(f);
  }

  get flowCount(): number {
    return this.engine.flowCount;
  }

  /** Active open (l4Connect) from the engine's address and port to a peer port; returns the flow. */
  connect(port: number = this.defaultPort): Flow {
    this.checkNoPending("l4Connect");
    const c = this.conn(port);
    const flow = this.engine.l4Connect(this.callbacks, {
      protocol: "tcp",
      srcIp: this.localIp,
      srcPort: this.localPort,
      dstIp: this.peerIp,
      dstPort: port,
    });
    if (c.flow !== undefined && c.flow !== flow) c.closedCount = 0;
    c.flow = flow;
    this.poll();
    return flow;
  }

  /** Set l4Accept's answer for the SYNs to come. */
  setAccept(accept: boolean | ((flow: Flow) => boolean)): this {
    this.accept = accept;
    return this;
  }

  // ---------------------------------------------------------------- inject

  /** Inject one segment. Returns what l3Rx returned. */
  in(s: SegIn): Flow | undefined {
    this.checkNoPending(`injecting ${s.flags}`);
    const bytes = this.build(s);
    const c = this.conn(s.port);
    const r = this.engine.l3Rx(this.callbacks, bytes);
    if (r !== undefined && c.flow === undefined) c.flow = r;
    if (r !== undefined && c.flow !== r) this.errors.push(`l3Rx returned a different flow object for peer port ${c.port}`);
    this.forward?.afterRx?.();
    this.poll();
    return r;
  }

  /** Inject raw bytes (an IP packet). */
  inRaw(bytes: Uint8Array): Flow | undefined {
    this.checkNoPending("injecting raw bytes");
    const r = this.engine.l3Rx(this.callbacks, bytes);
    this.forward?.afterRx?.();
    this.poll();
    return r;
  }

  /** The IP packet `in(s)` would inject (updates the peer's sequence state as sending it would). */
  build(s: SegIn): Uint8Array {
    const c = this.conn(s.port);
    const flags = parseFlags(s.flags);
    const syn = (flags & TcpFlag.SYN) !== 0;
    const fin = (flags & TcpFlag.FIN) !== 0;
    const seqRel = s.seq ?? c.peerNext;
    let payload: Uint8Array;
    const streamOff = seqRel - 1 + (syn ? 1 : 0);
    if (s.data === undefined) payload = new Uint8Array(0);
    else if (typeof s.data === "number") payload = pattern(peerByte, streamOff, s.data);
    else payload = toBytes(s.data);
    // A retransmission with different bytes keeps the first copy in the model, as the engine must
    // (receive-buffer.ts: the first copy of a byte wins).
    // Bytes far beyond anything sent so far cannot be delivered before the gap is filled; a model that
    // large would only cost memory (a fuzzed sequence number can be 2^31 away).
    const sane = streamOff < c.peerStream.length + 64 * 1024 * 1024;
    if (payload.length > 0 && streamOff + payload.length > 0 && sane) {
      const skip = streamOff < 0 ? -streamOff : 0; // bytes at or before the SYN's sequence number
      c.peerStream.write(streamOff + skip, payload.subarray(skip), true);
    }
    const end = seqRel + (syn ? 1 : 0) + payload.length + (fin ? 1 : 0);
    if (end > c.peerNext) c.peerNext = end;

    const o: TcpOptionSpec = {};
    if (s.mss !== undefined) o.mss = s.mss;
    if (s.wscale !== undefined) o.windowScale = s.wscale;
    if (s.sackOK) o.sackPermitted = true;
    let ts = s.ts;
    if (ts === undefined && c.tsNegotiated && !syn) ts = [c.peerTsBase + this.now, undefined];
    if (ts !== undefined && ts !== null) {
      const ecr = ts[1];
      const tsEcr =
        ecr === undefined ? (syn && !(flags & TcpFlag.ACK) ? 0 : c.lastEngineTsVal) : c.engineTsKnown ? u32(ecr + c.engineTsOrigin) : u32(ecr);
      o.timestamps = [u32(ts[0]), tsEcr];
      if (syn) {
        c.peerSentTs = true;
        c.peerTsBase = ts[0] - this.now;
      }
    }
    if (s.sack !== undefined) o.sack = s.sack.map(([l, r]) => [u32(l + c.engineIss), u32(r + c.engineIss)]);
    // The peer's window stays what it last advertised until a segment says otherwise.
    if (s.win !== undefined && !syn) c.peerWin = s.win;
    const hasOptions = Object.keys(o).length > 0;
    return tcp({
      family: this.family,
      src: this.peerIp,
      dst: this.localIp,
      srcPort: c.port,
      dstPort: this.localPort,
      seq: u32(c.peerIsn + seqRel),
      ack: flags & TcpFlag.ACK ? u32(c.engineIss + (s.ack ?? c.engineNext)) : u32(s.ack === undefined ? 0 : c.engineIss + s.ack),
      flags,
      window: s.win ?? (syn ? 65535 : c.peerWin),
      urgent: s.urg ?? 0,
      ...(hasOptions ? { options: o } : {}),
      payload,
      badChecksum: s.badChecksum ?? false,
    });
  }

  // ---------------------------------------------------------------- expect

  /** Expect the next packet the engine sent to match `e`; returns it. */
  out(e: SegOut = {}): Captured {
    this.throwErrors();
    const p = this.pending.shift();
    if (p === undefined) {
      throw new Error(`expected ${this.expectText(e)} at ${this.now} ms, but the engine sent nothing${this.sentTail()}`);
    }
    const why = this.mismatch(p, e);
    if (why.length > 0) {
      this.pending.unshift(p);
      throw new Error(
        `expected ${this.expectText(e)}\n  got      ${this.line(p)}\n  mismatch: ${why.join("; ")}\n` + this.pendingText(),
      );
    }
    return p;
  }

  /**
   * The delayed ACK of data smaller than full-sized, which quick-ACK mode leaves alone (RFC 5681
   * §4.2; lib/tcp/receive.ts countSegmentForAck): nothing now, then `e` `delayMs` later (the
   * engine's tcpDelayedAckMs). Returns it.
   */
  delayedAck(e: SegOut = {}, delayMs = DEFAULT_CONFIG.tcpDelayedAckMs): Captured {
    this.outNothing();
    return this.after(delayMs).out(e);
  }

  /** Expect nothing sent (and not yet expected). */
  outNothing(): this {
    this.throwErrors();
    if (this.pending.length > 0) throw new Error(`expected no packet at ${this.now} ms\n${this.pendingText()}`);
    return this;
  }

  /**
   * Take the packets not yet expected, without matching them; returns them. Fails when any of them
   * has a problem (a bad checksum, stale bytes, data the application never wrote, ...) unless the
   * test says why it expects one: `drain({ problemsExpected: "the link corrupts packets" })`.
   */
  drain(options: { problemsExpected?: string } = {}): Captured[] {
    this.throwErrors();
    const taken = this.pending.splice(0, this.pending.length);
    if (options.problemsExpected === undefined) {
      const bad = taken.filter((p) => p.problems.length > 0);
      if (bad.length > 0) {
        throw new Error(`drain() at ${this.now} ms: ${bad.length} packet(s) with problems:\n${bad.map((p) => `    ${this.line(p)}`).join("\n")}`);
      }
    }
    return taken;
  }

  private checkNoPending(what: string): void {
    this.throwErrors();
    if (this.strict && this.pending.length > 0) {
      throw new Error(`unexpected packet(s) before ${what} at ${this.now} ms\n${this.pendingText()}`);
    }
  }

  throwErrors(): void {
    if (this.errors.length > 0) {
      const all = this.errors.splice(0, this.errors.length);
      throw new Error(all.join("\n"));
    }
  }

  private mismatch(p: Captured, e: SegOut): string[] {
    const why: string[] = [];
    const port = e.port ?? this.defaultPort;
    if (p.problems.length > 0) why.push(...p.problems);
    if (p.dstPort !== port) why.push(`to peer port ${p.dstPort}, not ${port}`);
    if (e.flags !== undefined && parseFlags(e.flags) !== p.flags) why.push(`flags ${flagsText(p.flags)}, not ${e.flags}`);
    if (e.seq !== undefined && u32(e.seq) !== u32(p.seq)) why.push(`seq ${p.seq}, not ${e.seq}`);
    if (e.ack !== undefined && u32(e.ack) !== u32(p.ack)) why.push(`ack ${p.ack}, not ${e.ack}`);
    if (e.win !== undefined && e.win !== p.win) why.push(`win ${p.win}, not ${e.win}`);
    if (e.len !== undefined && e.len !== p.len) why.push(`len ${p.len}, not ${e.len}`);
    if (e.data !== undefined) {
      const want = toBytes(e.data);
      if (want.length !== p.payload.length || want.some((b, i) => b !== p.payload[i])) why.push(`payload differs`);
    }
    if (e.mss !== undefined && (e.mss === null ? p.mss >= 0 : p.mss !== e.mss)) why.push(`mss ${p.mss < 0 ? "absent" : p.mss}, not ${e.mss ?? "absent"}`);
    if (e.wscale !== undefined && (e.wscale === null ? p.wscale >= 0 : p.wscale !== e.wscale)) {
      why.push(`wscale ${p.wscale < 0 ? "absent" : p.wscale}, not ${e.wscale ?? "absent"}`);
    }
    if (e.sackOK !== undefined && e.sackOK !== p.sackOK) why.push(`sackOK ${p.sackOK}, not ${e.sackOK}`);
    if (e.ts !== undefined) {
      if (e.ts === null) {
        if (p.hasTs) why.push(`has timestamps, expected none`);
      } else if (!p.hasTs) why.push(`no timestamps`);
      else {
        if (e.ts[0] !== undefined && u32(e.ts[0]) !== u32(p.tsVal)) why.push(`TSval ${p.tsVal}, not ${e.ts[0]}`);
        if (e.ts[1] !== undefined && u32(e.ts[1]) !== p.tsEcr) why.push(`TSecr ${p.tsEcr}, not ${e.ts[1]}`);
      }
    }
    if (e.sack !== undefined) {
      const want = e.sack ?? [];
      const same = want.length === p.sack.length && want.every(([l, r], i) => u32(l) === u32(p.sack[i]![0]) && u32(r) === u32(p.sack[i]![1]));
      if (!same) why.push(`sack ${sackText(p.sack)}, not ${sackText(want)}`);
    }
    if (e.noOptions && p.hasOptions) why.push(`has options`);
    if (e.time !== undefined && e.time !== p.time) why.push(`sent at ${p.time} ms, not ${e.time} ms`);
    return why;
  }

  private expectText(e: SegOut): string {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(e)) parts.push(`${k}=${JSON.stringify(v)}`);
    return `{${parts.join(", ")}}`;
  }

  /** One packet in packetdrill's relative notation plus describe(). */
  line(p: Captured): string {
    const opts: string[] = [];
    if (p.mss >= 0) opts.push(`mss ${p.mss}`);
    if (p.sackOK) opts.push("sackOK");
    if (p.hasTs) opts.push(`TS val ${p.tsVal} ecr ${p.tsEcr}`);
    if (p.wscale >= 0) opts.push(`wscale ${p.wscale}`);
    if (p.sack.length > 0) opts.push(`sack ${sackText(p.sack)}`);
    const seqEnd = p.seq + p.len;
    const ack = p.flags & TcpFlag.ACK ? ` ack ${p.ack}` : "";
    const port = p.dstPort !== this.defaultPort ? ` (to :${p.dstPort})` : "";
    const o = opts.length > 0 ? ` <${opts.join(",")}>` : "";
    const problems = p.problems.length > 0 ? ` !! ${p.problems.join("; ")}` : "";
    return `${(p.time / 1000).toFixed(3)} > ${flagsText(p.flags)} ${p.seq}:${seqEnd}(${p.len})${ack} win ${p.win}${o}${port}   | ${p.text}${problems}`;
  }

  pendingText(): string {
    if (this.pending.length === 0) return "  (no other packet pending)";
    return `  unmatched packets (${this.pending.length}):\n` + this.pending.map((p) => `    ${this.line(p)}`).join("\n");
  }

  private sentTail(): string {
    const tail = this.sent.slice(-5);
    return tail.length === 0 ? "" : `\n  last packets sent (already matched):\n${tail.map((p) => `    ${this.line(p)}`).join("\n")}`;
  }

  // ---------------------------------------------------------------- checks on the application side

  /** The peer's bytes delivered so far must be exactly the first `n` bytes it sent, in order. */
  expectRx(n: number, port: number = this.defaultPort): this {
    this.throwErrors();
    const c = this.conn(port);
    if (c.received.length !== n) throw new Error(`expected ${n} bytes delivered to peer port ${port}, got ${c.received.length}`);
    const got = c.received.slice(0, n);
    const want = c.peerStream.slice(0, n);
    for (let i = 0; i < n; i++) {
      if (got[i] !== want[i]) throw new Error(`delivered byte ${i} is ${got[i]}, the peer sent ${want[i]}`);
    }
    return this;
  }

  /** The flow was removed: l4Rx(flow, null) exactly once, and l4State no longer knows it (unless TIME-WAIT). */
  expectClosed(port: number = this.defaultPort, timeWait = false): this {
    this.throwErrors();
    const c = this.conn(port);
    if (c.closedCount !== 1) throw new Error(`expected l4Rx(flow, null) once for peer port ${port}, got ${c.closedCount}`);
    const st = c.flow === undefined ? undefined : this.engine.l4State(c.flow);
    if (timeWait ? st !== "TIME-WAIT" : st !== undefined) throw new Error(`flow state after close: ${st}`);
    return this;
  }

  expectState(s: TcpState | undefined, port: number = this.defaultPort): this {
    const got = this.state(port);
    if (got !== s) throw new Error(`expected state ${s}, got ${got}`);
    return this;
  }

  // ---------------------------------------------------------------- the callbacks

  private makeCallbacks(): Callbacks<Uint8Array> {
    return {
      // Stale bytes, as a reused device buffer has: a byte the engine forgets to write shows.
      l3TxBuffer: (size: number) => (this.txBlocked ? undefined : new Uint8Array(size + 16).fill(0xa5)),
      l3TxBufferMut: (buf: Uint8Array) => buf,
      l3Tx: (buf: Uint8Array, len: number) => {
        if (this.vnetKernel === undefined) {
          this.capture(buf.slice(0, len));
          return;
        }
        const sent = buf.slice(0, len);
        this.vnetTx.push(sent.slice());
        this.vnetKernel.receive(sent, 0, len);
      },
      l4Rx: (flow: Flow, data: Uint8Array | null) => {
        const c = this.connOfFlow(flow);
        if (c === undefined) {
          this.errors.push(`l4Rx for an unknown flow ${String(flow)}`);
          return;
        }
        if (data === null) {
          c.closedCount++;
          if (c.closedCount > 1) this.errors.push(`l4Rx(flow, null) called ${c.closedCount} times for peer port ${c.port}`);
          this.forward?.l4Rx(flow, null);
          return;
        }
        if (c.closedCount > 0) this.errors.push(`l4Rx data after l4Rx(flow, null) for peer port ${c.port}`);
        if (data.length === 0) this.errors.push(`l4Rx with 0 bytes for peer port ${c.port}`);
        c.received.write(c.received.length, data.slice());
        c.rxCalls.push(data.length);
        this.onRx?.(flow, c);
        this.forward?.l4Rx(flow, data);
      },
      l4Accept: (flow: Flow) => {
        this.accepted.push(flow);
        const c = this.conn(flow.srcPort);
        let ok = typeof this.accept === "function" ? this.accept(flow) : this.accept;
        if (ok && this.forward?.l4Accept !== undefined) ok = this.forward.l4Accept(flow);
        if (ok) {
          // A new incarnation of the same 4-tuple (after TIME-WAIT) starts a fresh count.
          if (c.flow !== undefined && c.flow !== flow) c.closedCount = 0;
          c.flow = flow;
        }
        return ok;
      },
      l4TxReady: (flow: Flow) => {
        const c = this.connOfFlow(flow);
        if (c !== undefined) {
          c.txReadyCount++;
          this.onTxReady?.(flow, c);
        }
        this.forward?.l4TxReady?.(flow);
      },
      l4RemoteClosed: (flow: Flow) => {
        const c = this.connOfFlow(flow);
        if (c === undefined) return;
        c.remoteClosedCount++;
        if (c.remoteClosedCount > 1) this.errors.push(`l4RemoteClosed called ${c.remoteClosedCount} times`);
        c.remoteClosedAfter = c.received.length;
        this.onRemoteClosed?.(flow, c);
        this.forward?.l4RemoteClosed?.(flow);
      },
    };
  }

  private connOfFlow(flow: Flow): PeerConn | undefined {
    for (const c of this.conns.values()) if (c.flow === flow) return c;
    return undefined;
  }

  private capture(bytes: Uint8Array): void {
    const p = this.decode(bytes);
    this.sent.push(p);
    this.pending.push(p);
  }

  /** Decode a packet the engine sent, relative to its peer connection, checking it on the way. */
  private decode(bytes: Uint8Array): Captured {
    const problems: string[] = [];
    const p: Captured = {
      time: this.now,
      bytes,
      text: "",
      family: 4,
      srcIp: "",
      dstIp: "",
      srcPort: 0,
      dstPort: 0,
      flags: 0,
      seqAbs: 0,
      ackAbs: 0,
      seq: 0,
      ack: 0,
      win: 0,
      len: 0,
      payload: new Uint8Array(0),
      mss: -1,
      wscale: -1,
      sackOK: false,
      hasTs: false,
      tsValAbs: 0,
      tsVal: 0,
      tsEcr: 0,
      hasOptions: false,
      sack: [],
      problems,
    };
    const d = decodePacket(bytes);
    p.text = summary(d);
    problems.push(...d.problems, ...engineTcpProblems(d));
    const ip = d.ip;
    const t = d.tcp;
    if (ip === undefined || t === undefined) return p;
    p.family = ip.version;
    p.srcIp = ip.src;
    p.dstIp = ip.dst;
    if (p.family !== this.family) problems.push(`IPv${p.family} on an IPv${this.family} harness`);
    if (p.srcIp !== canonicalAddress(this.localIp) || p.dstIp !== canonicalAddress(this.peerIp)) problems.push(`addressed ${p.srcIp} > ${p.dstIp}`);
    p.srcPort = t.srcPort;
    p.dstPort = t.dstPort;
    if (p.srcPort !== this.localPort) problems.push(`from port ${p.srcPort}, not ${this.localPort}`);
    p.flags = t.flags;
    p.seqAbs = t.seq;
    p.ackAbs = t.ack;
    p.win = t.window;
    p.len = t.payload.length;
    p.payload = t.payload.slice();
    p.hasOptions = t.headerLength > 20;
    p.mss = t.mss;
    p.wscale = t.wscale;
    p.sackOK = t.sackOK;
    p.hasTs = t.ts !== undefined;
    p.tsValAbs = t.ts?.[0] ?? 0;
    p.tsEcr = t.ts?.[1] ?? 0;

    const c = this.conn(p.dstPort);
    const syn = (p.flags & TcpFlag.SYN) !== 0;
    if (syn && !c.engineIssKnown) {
      c.engineIss = p.seqAbs;
      c.engineIssKnown = true;
    }
    if (p.hasTs && !c.engineTsKnown && syn) {
      c.engineTsOrigin = u32(p.tsValAbs - this.now);
      c.engineTsKnown = true;
      c.tsNegotiated = c.peerSentTs;
    }
    if (p.hasTs) c.lastEngineTsVal = p.tsValAbs;
    p.seq = rel(p.seqAbs, c.engineIss);
    p.ack = rel(p.ackAbs, c.peerIsn);
    p.tsVal = c.engineTsKnown ? rel(p.tsValAbs, c.engineTsOrigin) : p.tsValAbs;
    for (const [l, r] of t.sack) p.sack.push([rel(l, c.peerIsn), rel(r, c.peerIsn)]);
    if (!(p.flags & TcpFlag.RST) && c.engineIssKnown) {
      const end = p.seq + (syn ? 1 : 0) + p.len + (p.flags & TcpFlag.FIN ? 1 : 0);
      if (end > c.engineNext) c.engineNext = end;
      // The data must be the application's bytes at that sequence number.
      if (p.len > 0) {
        const off = p.seq - 1;
        if (off < 0 || off + p.len > c.appWritten) problems.push(`data ${p.seq}:${p.seq + p.len} beyond the ${c.appWritten} bytes written`);
        else {
          const want = c.appStream.slice(off, off + p.len);
          for (let i = 0; i < p.len; i++) {
            if (want[i] !== p.payload[i]) {
              problems.push(`payload byte at seq ${p.seq + i} is ${p.payload[i]}, the application wrote ${want[i]}`);
              break;
            }
          }
        }
      }
    }
    return p;
  }
}

function sackText(blocks: ReadonlyArray<readonly [number, number]>): string {
  return blocks.length === 0 ? "none" : blocks.map(([l, r]) => `${l}:${r}`).join(" ");
}

// ------------------------------------------------------------------------------------------------
// The application side of one flow
// ------------------------------------------------------------------------------------------------

export class App {
  constructor(
    private readonly h: TcpHarness,
    readonly port: number,
  ) {}

  private get c(): PeerConn {
    return this.h.conn(this.port);
  }

  /**
   * l4Tx: `n` bytes of the application's stream pattern, or these bytes. Returns what l4Tx returned.
   * Then l4Poll, unless `poll` is false (as a driver that polls later: tcpAutocork).
   */
  send(data: number | Uint8Array | string, poll = true): number | undefined {
    const c = this.c;
    const bytes = typeof data === "number" ? pattern(appByte, c.appWritten, data) : toBytes(data);
    // Record before the call: the engine may transmit during it.
    const at = c.appWritten;
    c.appStream.write(at, bytes);
    c.appWritten += bytes.length;
    const taken = this.h.engine.l4Tx(this.h.callbacks, this.h.flow(this.port), bytes);
    // Forget what was not taken (the application offers it again later).
    c.appWritten = at + (taken ?? 0);
    c.appStream.truncate(c.appWritten);
    if (poll) this.h.poll();
    return taken;
  }

  /** l4LocalClose, then l4Poll unless `poll` is false. */
  close(poll = true): void {
    this.h.engine.l4LocalClose(this.h.callbacks, this.h.flow(this.port));
    if (poll) this.h.poll();
  }

  abort(): void {
    this.h.engine.l4Abort(this.h.callbacks, this.h.flow(this.port));
    this.h.poll();
  }

  pause(): void {
    this.h.engine.l4PauseRx(this.h.flow(this.port));
    this.h.poll();
  }

  resume(): void {
    this.h.engine.l4ResumeRx(this.h.callbacks, this.h.flow(this.port));
    this.h.poll();
  }

  /** Bytes delivered so far. */
  get received(): number {
    return this.c.received.length;
  }

  get rxCalls(): readonly number[] {
    return this.c.rxCalls;
  }

  get closedCount(): number {
    return this.c.closedCount;
  }

  get remoteClosedCount(): number {
    return this.c.remoteClosedCount;
  }

  /** Bytes delivered before l4RemoteClosed (-1: not called). */
  get remoteClosedAfter(): number {
    return this.c.remoteClosedAfter;
  }

  get txReadyCount(): number {
    return this.c.txReadyCount;
  }

  /** Bytes the application has written (taken by l4Tx). */
  get written(): number {
    return this.c.appWritten;
  }
}

// ------------------------------------------------------------------------------------------------
// Handshake shortcuts
// ------------------------------------------------------------------------------------------------

export interface HandshakeOptions {
  /** The peer's SYN options; default: mss 1460, sackOK, TS, wscale 7 (as Linux). */
  mss?: number;
  sackOK?: boolean;
  ts?: boolean;
  wscale?: number | null;
  win?: number;
  /** Window field of the handshake's final ACK (scaled by the peer's wscale); default 65535 >> wscale... */
  ackWin?: number;
  port?: number;
}

/** l4Info of the harness's flow (the spec knows it is open). */
export function info(h: TcpHarness): FlowInfo {
  return h.engine.l4Info(h.flow())!;
}

/**
 * The passive open as Linux would do it: SYN, SYN-ACK, ACK. Leaves the flow ESTABLISHED at the
 * current time. Returns the SYN-ACK.
 */
export function establish(h: TcpHarness, o: HandshakeOptions = {}): Captured {
  const ts = o.ts ?? true;
  const wscale = o.wscale === undefined ? 7 : o.wscale;
  const port = o.port ?? h.defaultPort;
  h.in({
    flags: "S",
    seq: 0,
    win: o.win ?? 65535,
    mss: o.mss ?? 1460,
    sackOK: o.sackOK ?? true,
    ts: ts ? [100, 0] : null,
    ...(wscale === null ? {} : { wscale }),
    port,
  });
  const synAck = h.out({ flags: "S.", seq: 0, ack: 1, port });
  const flow = h.in({ flags: ".", seq: 1, ack: 1, win: o.ackWin ?? (wscale === null ? 65535 : 65535 >> Math.min(wscale, 14) || 1), port });
  if (flow === undefined) throw new Error("the handshake's ACK did not establish the flow (l3Rx returned undefined)");
  if (h.state(port) !== "ESTABLISHED") throw new Error(`after the handshake: ${h.state(port)}`);
  return synAck;
}

/**
 * Sends the 16 full-sized segments (MSS 1460 less 12 bytes of timestamps) that Linux-style quick-ACK
 * mode acknowledges one by one, checking each ACK, so that what follows meets delayed ACKs (RFC 5681
 * §4.2). Call it right after `establish`; returns the peer's next sequence number.
 */
export function pastQuickAck(h: TcpHarness): number {
  const seg = 1448;
  let s = 1;
  for (let i = 0; i < 16; i++) {
    h.in({ flags: ".", seq: s, data: seg });
    s += seg;
    h.out({ flags: ".", ack: s });
  }
  return s;
}
