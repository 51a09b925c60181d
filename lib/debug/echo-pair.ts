/**
 * Two engines talking to each other in memory: a client engine opens TCP flows (l4Connect) to an echo
 * service on a server engine, sends a known byte stream on each and checks, byte for byte, that the
 * same stream comes back; then both ends close and every flow must be gone on both engines.
 *
 * The pieces are independent of the transport:
 * - `Pattern`: the data. Flow i's stream is a seeded random block read from a phase of its own, so a
 *   byte delivered to the wrong flow or the wrong offset is caught without storing anything.
 * - `EchoApp` (echo-app.ts, the application of `l3l4 echo` too) on the server engine, keeping a record
 *   of every flow: echoes what it receives with l4Tx; what the send buffer does not take waits while
 *   the flow's receive is paused (l4PauseRx), and goes out on l4TxReady, after which receive resumes
 *   (l4ResumeRx). It closes when the peer has closed and everything was echoed.
 * - `EchoClient`: the application of the client engine. Writes each flow's stream as fast as l4Tx
 *   takes it, closes after the last byte (l4LocalClose: FIN after the queued data), and verifies the
 *   echo.
 * - `EchoPair`: the two over a `MemoryLink` (lib/debug/link.ts) on its virtual clock, which jumps from
 *   event to event: the run takes as long as the CPU needs, not as long as the virtual time says.
 *
 * The demo (`l3l4 demo`, lib/cli/demo.ts), the two-engine specs and the engine benches all run this.
 */
import { DEFAULT_CONFIG } from "../config.js";
import { EchoApp } from "./echo-app.js";
import { MemoryLink, type FaultsInput, type LinkCallbacks } from "./link.js";
import { Random } from "./random.js";
import type { Callbacks, Flow } from "../api.js";
import { L3L4Builder } from "../builder.js";
import type { CongestionControlName } from "../config.js";
import type { ConnectOptions, L3L4 } from "../engine.js";
import type { EngineStats } from "../stats.js";

/** What an application gives an engine besides the packet callbacks. */
export type L4Handlers = Pick<Callbacks<unknown>, "l4Rx" | "l4Accept" | "l4TxReady" | "l4RemoteClosed">;

/** Problems recorded (not thrown: a throw inside an engine callback would unwind the engine). */
const MAX_PROBLEMS = 20;

// ------------------------------------------------------------------------------------------------
// The data
// ------------------------------------------------------------------------------------------------

/** Length of the random block: a prime, so no segment size lines up with it. */
export const PATTERN_PERIOD = 65521;
/** Distance between two flows' phases in the block: flow i starts at (i * PHASE_STEP) mod period. */
const PHASE_STEP = 7919;

export class Pattern {
  /** The block twice over, so any PATTERN_PERIOD bytes from any phase are one contiguous view. */
  readonly bytes = new Uint8Array(2 * PATTERN_PERIOD);

  constructor(seed: number) {
    const rng = new Random(seed);
    for (let i = 0; i < PATTERN_PERIOD; i += 4) {
      const v = rng.nextU32();
      for (let k = 0; k < 4 && i + k < PATTERN_PERIOD; k++) this.bytes[i + k] = v >>> (8 * k);
    }
    this.bytes.copyWithin(PATTERN_PERIOD, 0, PATTERN_PERIOD);
  }

  private phase(flowIndex: number, offset: number): number {
    return (offset + ((flowIndex * PHASE_STEP) % PATTERN_PERIOD)) % PATTERN_PERIOD;
  }

  /** Up to `max` bytes (at most PATTERN_PERIOD) of flow `flowIndex`'s stream from `offset`, as a view. */
  view(flowIndex: number, offset: number, max: number): Uint8Array {
    const start = this.phase(flowIndex, offset);
    return this.bytes.subarray(start, start + Math.min(max, PATTERN_PERIOD));
  }

  /** Index in `data` of the first byte that differs from the stream at `offset`, or -1. */
  mismatch(flowIndex: number, offset: number, data: Uint8Array): number {
    const block = this.bytes;
    let p = this.phase(flowIndex, offset);
    for (let i = 0; i < data.length; ) {
      const n = Math.min(data.length - i, PATTERN_PERIOD);
      // memcmp first (Buffer.compare takes any Uint8Array); byte by byte only to say where.
      if (Buffer.compare(data.subarray(i, i + n), block.subarray(p, p + n)) !== 0) {
        for (let k = 0; k < n; k++) if (data[i + k] !== block[p + k]) return i + k;
      }
      i += n;
      p = (p + n) % PATTERN_PERIOD;
    }
    return -1;
  }
}

// ------------------------------------------------------------------------------------------------
// The client: send a known stream, verify the echo
// ------------------------------------------------------------------------------------------------

export class ClientFlowState {
  sent = 0;
  received = 0;
  /** Engine time of l4Connect and of l4Rx(flow, null). */
  openedAt = 0;
  goneAt = NaN;
  closeCalled = false;
  remoteClosed = false;
  gone = 0;
  /** Stream offset of the first wrong byte echoed, or -1. */
  mismatchAt = -1;
  constructor(
    readonly index: number,
    readonly flow: Flow,
  ) {}
}

export interface EchoClientOptions {
  bytesPerFlow: number;
  /** Largest l4Tx call, bytes (default PATTERN_PERIOD). */
  chunk?: number;
}

export class EchoClient<T> {
  readonly flows = new Map<Flow, ClientFlowState>();
  readonly problems: string[] = [];
  bytesSent = 0;
  bytesVerified = 0;
  flowsGone = 0;
  /** Flows whose echo came back complete and correct. */
  flowsVerified = 0;
  private readonly bytesPerFlow: number;
  private readonly chunk: number;

  constructor(
    private readonly engine: L3L4<T>,
    private readonly cb: Callbacks<T>,
    private readonly pattern: Pattern,
    options: EchoClientOptions,
  ) {
    this.bytesPerFlow = options.bytesPerFlow;
    this.chunk = Math.min(options.chunk ?? PATTERN_PERIOD, PATTERN_PERIOD);
  }

  readonly handlers: L4Handlers = {
    // The client takes no incoming flows.
    l4Accept: () => false,
    l4Rx: (flow, data) => {
      const st = this.flows.get(flow);
      if (st === undefined) return;
      if (data === null) {
        this.flowsGone++;
        if (++st.gone > 1) this.problem(`client: l4Rx(null) twice for ${String(flow)}`);
        else st.goneAt = this.engine.now();
        // A flow that ended short is judged by EchoPair.report(): a handshake that timed out is not a bug.
        return;
      }
      if (st.gone > 0) this.problem(`client: data after l4Rx(null) on ${String(flow)}`);
      if (st.received + data.length > this.bytesPerFlow) {
        this.problem(`client: ${String(flow)} echoed ${st.received + data.length} bytes, more than the ${this.bytesPerFlow} sent`);
      } else if (st.mismatchAt < 0) {
        const at = this.pattern.mismatch(st.index, st.received, data);
        if (at >= 0) {
          st.mismatchAt = st.received + at;
          this.problem(`client: ${String(flow)} echo differs at stream offset ${st.mismatchAt}`);
        }
      }
      st.received += data.length;
      this.bytesVerified += data.length;
    },
    l4TxReady: (flow) => {
      const st = this.flows.get(flow);
      if (st !== undefined) this.pump(st);
    },
    l4RemoteClosed: (flow) => {
      const st = this.flows.get(flow);
      if (st === undefined) return;
      st.remoteClosed = true;
      if (st.received === this.bytesPerFlow && st.mismatchAt < 0) this.flowsVerified++;
      else if (st.received !== this.bytesPerFlow) {
        this.problem(`client: the server closed ${String(flow)} after ${st.received} of ${this.bytesPerFlow} bytes echoed`);
      }
    },
  };

  /** Open flow number `index` (l4Connect) and start writing its stream. */
  connect(index: number, options: ConnectOptions): ClientFlowState {
    const flow = this.engine.l4Connect(this.cb, options);
    const st = new ClientFlowState(index, flow);
    st.openedAt = this.engine.now();
    this.flows.set(flow, st);
    this.pump(st);
    return st;
  }

  /** Write as much of the stream as the send buffer takes; close after the last byte. */
  pump(st: ClientFlowState): void {
    const total = this.bytesPerFlow;
    while (st.sent < total) {
      const view = this.pattern.view(st.index, st.sent, Math.min(this.chunk, total - st.sent));
      const n = this.engine.l4Tx(this.cb, st.flow, view);
      if (n === undefined) {
        if (st.gone === 0) this.problem(`client: l4Tx on a gone flow ${String(st.flow)}`);
        return;
      }
      st.sent += n;
      this.bytesSent += n;
      if (n < view.length) return; // l4TxReady will call again
    }
    this.closeWhenSent(st);
  }

  /** l4LocalClose once the whole stream is queued: the FIN follows the data (even from SYN-SENT). */
  private closeWhenSent(st: ClientFlowState): void {
    if (st.closeCalled || st.sent < this.bytesPerFlow) return;
    st.closeCalled = true;
    this.engine.l4LocalClose(this.cb, st.flow);
  }

  private problem(text: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text);
  }
}

// ------------------------------------------------------------------------------------------------
// Addresses
// ------------------------------------------------------------------------------------------------

export const CLIENT_IP4 = "10.0.0.1";
export const SERVER_IP4 = "10.0.0.2";
export const CLIENT_IP6 = "fd00::1";
export const SERVER_IP6 = "fd00::2";
export const ECHO_PORT = 7;
const FIRST_CLIENT_PORT = 10000;
const CLIENT_PORTS = 65536 - FIRST_CLIENT_PORT;

/** The 5-tuple of client flow `index`: a new source port each, a new source address every 55,536. */
export function clientTuple(family: 4 | 6, index: number, protocol: "tcp" | "udp" = "tcp"): ConnectOptions {
  const hostPart = Math.floor(index / CLIENT_PORTS);
  const srcPort = FIRST_CLIENT_PORT + (index % CLIENT_PORTS);
  if (family === 4) {
    if (hostPart > 0xfffe) throw new RangeError(`too many flows: ${index}`);
    const ip = hostPart === 0 ? CLIENT_IP4 : `10.1.${hostPart >> 8}.${(hostPart & 0xff) + 1}`;
    return { protocol, family, srcIp: ip, srcPort, dstIp: SERVER_IP4, dstPort: ECHO_PORT };
  }
  const ip = hostPart === 0 ? CLIENT_IP6 : `fd00::1:${hostPart.toString(16)}`;
  return { protocol, family, srcIp: ip, srcPort, dstIp: SERVER_IP6, dstPort: ECHO_PORT };
}

// ------------------------------------------------------------------------------------------------
// The pair over a MemoryLink
// ------------------------------------------------------------------------------------------------

export interface EchoPairOptions {
  flows: number;
  bytesPerFlow: number;
  family?: 4 | 6;
  mtu?: number;
  /** Seed of the link's faults and of the data. */
  seed: number;
  /** Faults both ways (parseFaults syntax or fields); aToB / bToA override per direction. */
  faults?: FaultsInput;
  aToB?: FaultsInput;
  bToA?: FaultsInput;
  tcpBufferSize?: number;
  congestion?: CongestionControlName;
  /** Both engines' receiveBudget (builder; default none). */
  receiveBudget?: number;
  /** Largest l4Tx call of the client. */
  chunk?: number;
}

/** What a run did, for the summary and for tests. */
export interface EchoReport {
  flows: number;
  bytesPerFlow: number;
  /** Client to server (sent by the client and taken by l4Tx) and back (verified by the client). */
  bytesSent: number;
  bytesEchoed: number;
  bytesVerified: number;
  flowsVerified: number;
  /** Every flow: l4Rx(flow, null) exactly once on both engines, and no state left on either. */
  allGone: boolean;
  problems: string[];
  client: EngineStats;
  server: EngineStats;
  link: MemoryLink["stats"];
  /**
   * Flows that never connected: SYN or SYN-ACK lost again and again until the engine's handshake
   * timeout (15 s) gave up. Correct TCP behaviour on a lossy enough link, not a failure of the engine;
   * such flows echo nothing but must still end with l4Rx(null) once and leave nothing behind.
   */
  handshakeFailures: number;
  /** Virtual ms from start until the last echoed byte was verified. */
  virtualMs: number;
}

/**
 * How long after l4Connect an unanswered handshake ends: the engine's handshake timeout (config.ts
 * tcpHandshakeTimeoutMs) plus a little for the timer to run.
 */
const HANDSHAKE_GIVE_UP_MS = DEFAULT_CONFIG.tcpHandshakeTimeoutMs + 1000;

function tupleKey(f: Flow): string {
  return `${f.srcIp} ${f.srcPort} ${f.dstIp} ${f.dstPort}`;
}

/** Virtual time after which an unfinished run is called stuck: TCP gives up on a dead flow well before. */
export const DEFAULT_MAX_VIRTUAL_MS = 3 * 3_600_000;

export class EchoPair {
  readonly link: MemoryLink;
  readonly client: L3L4<number>;
  readonly server: L3L4<number>;
  readonly clientCb: LinkCallbacks;
  readonly serverCb: LinkCallbacks;
  readonly echoClient: EchoClient<number>;
  readonly echoServer: EchoApp<number>;
  readonly options: Readonly<EchoPairOptions>;
  private readonly family: 4 | 6;
  private startedAt = 0;
  /** Virtual time at which every echo had come back (NaN until then). */
  transferDoneAt = NaN;

  constructor(options: EchoPairOptions) {
    this.options = options;
    this.family = options.family ?? 4;
    const mtu = options.mtu ?? 1500;
    this.link = new MemoryLink({
      seed: options.seed,
      faults: options.faults,
      aToB: options.aToB,
      bToA: options.bToA,
      slotSize: Math.min(mtu, 65535),
    });
    const build = (): L3L4<number> => {
      const b = new L3L4Builder<number>().mtu(mtu).clock(this.link.clock.now);
      if (options.tcpBufferSize !== undefined) b.tcpBufferSize(options.tcpBufferSize);
      if (options.congestion !== undefined) b.tcpCongestionControl(options.congestion);
      if (options.receiveBudget !== undefined) b.receiveBudget(options.receiveBudget);
      return b.build();
    };
    this.client = build();
    this.server = build();
    this.clientCb = this.link.callbacks("a");
    this.serverCb = this.link.callbacks("b");
    const pattern = new Pattern(options.seed);
    this.echoClient = new EchoClient(this.client, this.clientCb, pattern, {
      bytesPerFlow: options.bytesPerFlow,
      chunk: options.chunk,
    });
    this.echoServer = new EchoApp(this.server, () => this.serverCb, undefined, { port: ECHO_PORT, keepRecords: true });
    this.link.attach("a", this.client, this.echoClient.handlers);
    this.link.attach("b", this.server, this.echoServer);
  }

  /** Open every flow (each SYN goes out now; data is queued behind it). */
  start(): void {
    this.startedAt = this.link.clock.now();
    for (let i = 0; i < this.options.flows; i++) this.echoClient.connect(i, clientTuple(this.family, i));
  }

  /** Every byte echoed and verified (or failed), and every flow closed on both engines (l4Rx(null)). */
  isFinished(): boolean {
    const c = this.echoClient;
    const s = this.echoServer;
    return (
      c.flowsGone >= this.options.flows && s.counters.flowsGone >= s.counters.tcpFlowsOpened && this.server.flowCount === 0 && this.client.flowCount === 0
    );
  }

  /** Every flow closed and, on both engines, forgotten: TIME-WAIT records expired too. */
  isGone(): boolean {
    if (!this.isFinished() || this.client.flowCount !== 0 || this.server.flowCount !== 0) return false;
    for (const flow of this.echoClient.flows.keys()) if (this.client.l4State(flow) !== undefined) return false;
    for (const flow of this.echoServer.records.keys()) if (this.server.l4State(flow) !== undefined) return false;
    return true;
  }

  /**
   * Run until every flow has finished (see isFinished), calling `onSlice` about every `sliceMs` of
   * wall-clock time (progress lines). Returns undefined when finished, else why it stopped: nothing
   * left to do (a stall), or `maxVirtualMs` of virtual time gone by.
   */
  runToCompletion(onSlice?: () => void, sliceMs = 100, maxVirtualMs = DEFAULT_MAX_VIRTUAL_MS): string | undefined {
    const end = this.link.clock.now() + maxVirtualMs;
    for (;;) {
      // The link checks the predicate after every step (every packet arrival or timer time).
      const sliceEnd = onSlice === undefined ? Infinity : performance.now() + sliceMs;
      const stop = (): boolean => this.noteProgress() || performance.now() >= sliceEnd;
      const stopped = this.link.runUntil(stop, { maxSteps: 10_000_000, maxTimeMs: Math.max(0, end - this.link.clock.now()) });
      if (this.isFinished()) return undefined;
      const now = this.link.clock.now();
      if (!stopped && this.link.stopReason === "idle") {
        return `stalled at virtual ${now.toFixed(1)} ms: nothing left to do before every flow finished`;
      }
      if (now >= end) return `not finished after ${maxVirtualMs} ms of virtual time`;
      onSlice?.();
    }
  }

  /** Run until every TIME-WAIT record has expired (virtual time jumps there); returns isGone(). */
  runUntilGone(maxTimeMs = 600_000): boolean {
    this.link.runUntil(() => this.isGone(), { maxTimeMs, maxSteps: 10_000_000 });
    return this.isGone();
  }

  private noteProgress(): boolean {
    const c = this.echoClient;
    if (Number.isNaN(this.transferDoneAt) && c.bytesVerified === this.options.flows * this.options.bytesPerFlow) {
      this.transferDoneAt = this.link.clock.now();
    }
    return this.isFinished();
  }

  /**
   * Distinct 5-tuples among the flows the server accepted: one per client flow that connected (an
   * old duplicate SYN arriving after its flow closed may open a second, short-lived server flow for
   * the same 5-tuple, which the client's TIME-WAIT record gets reset: RFC 9293 §3.5).
   */
  serverTuples(): number {
    return this.serverBytesByTuple().size;
  }

  private serverBytesByTuple(): Map<string, number> {
    const out = new Map<string, number>();
    for (const st of this.echoServer.records.values()) {
      const k = tupleKey(st.flow);
      out.set(k, (out.get(k) ?? 0) + st.received);
    }
    return out;
  }

  report(): EchoReport {
    const c = this.echoClient;
    const s = this.echoServer;
    const problems = [...c.problems, ...s.problems];
    let allGone = this.isGone();
    for (const st of c.flows.values()) if (st.gone !== 1) allGone = false;
    for (const st of s.records.values()) if (st.gone !== 1) allGone = false;
    let handshakeFailures = 0;
    const echoedByServer = this.serverBytesByTuple();
    for (const st of c.flows.values()) {
      if (st.received === this.options.bytesPerFlow || st.gone === 0) continue;
      // Nothing came back, the server got nothing on that 5-tuple (so the client never reached
      // ESTABLISHED: it sends only then), and the end came when the handshake timeout fires.
      const serverGot = echoedByServer.get(tupleKey(st.flow)) ?? 0;
      if (st.received === 0 && serverGot === 0 && st.goneAt - st.openedAt <= HANDSHAKE_GIVE_UP_MS) {
        handshakeFailures++;
      } else {
        problems.push(`client: ${String(st.flow)} ended after ${st.received} of ${this.options.bytesPerFlow} bytes echoed`);
      }
    }
    const end = Number.isNaN(this.transferDoneAt) ? this.link.clock.now() : this.transferDoneAt;
    return {
      flows: this.options.flows,
      bytesPerFlow: this.options.bytesPerFlow,
      bytesSent: c.bytesSent,
      bytesEchoed: s.counters.tcpBytes,
      bytesVerified: c.bytesVerified,
      flowsVerified: c.flowsVerified,
      allGone,
      problems,
      handshakeFailures,
      client: this.client.stats(),
      server: this.server.stats(),
      link: this.link.stats,
      virtualMs: end - this.startedAt,
    };
  }

  /**
   * Byte-exact echo on every flow, every flow gone on both engines, no problem seen. With
   * `allowHandshakeFailures`, flows that never connected (see EchoReport) are allowed.
   */
  static ok(r: EchoReport, allowHandshakeFailures = false): boolean {
    const connected = r.flows - (allowHandshakeFailures ? r.handshakeFailures : 0);
    const total = connected * r.bytesPerFlow;
    return (
      r.problems.length === 0 &&
      r.allGone &&
      r.flowsVerified === connected &&
      r.bytesEchoed === total &&
      r.bytesVerified === total &&
      (r.handshakeFailures === 0 ? r.bytesSent === total : r.bytesSent >= total)
    );
  }
}
