/**
 * The echo application: every TCP and UDP flow gets back what it sends. One app for every transport:
 * `l3l4 echo` runs it on a TUN device (lib/cli/echo.ts), the two-engine pair (echo-pair.ts) on the
 * in-memory link, and the specs and benches on both.
 *
 * Backpressure: when l4Tx takes less than offered (the send buffer is full because the peer reads
 * slowly), the rest is copied into the flow's pending buffer (the l4Rx view is only valid during the
 * call) and the flow is paused with l4PauseRx, so the engine stops delivering and its receive window
 * closes; l4TxReady sends the rest and l4ResumeRx lets data in again. Half-close: after the peer's
 * FIN (l4RemoteClosed), what is still pending is echoed, then l4LocalClose sends ours.
 *
 * What a long-running server keeps per flow is only what it must: the flow while it lives, and a
 * pending buffer while its send buffer is full. `keepRecords` (for checks) keeps a record of every
 * flow, gone ones too: bytes received and echoed, and how often l4Rx(flow, null) came.
 */
import type { Callbacks, Flow } from "../api.js";
import type { L3L4 } from "../engine.js";
import type { TunApp } from "../tun/runner.js";

/** Problems recorded (not thrown: a throw inside an engine callback would unwind the engine). */
const MAX_PROBLEMS = 20;
/** Smallest pending buffer. */
const MIN_PENDING = 4096;

export interface EchoCounters {
  /** Bytes echoed on TCP flows (accepted by l4Tx), and UDP datagrams echoed. */
  tcpBytes: number;
  udpDatagrams: number;
  udpBytes: number;
  /** TCP flows opened and gone. */
  tcpFlowsOpened: number;
  flowsGone: number;
  /** Times a flow was paused because the send buffer was full. */
  pauses: number;
}

export interface EchoOptions {
  /** Accept TCP flows to this port only (others, and every UDP flow, are refused); default: every flow. */
  port?: number;
  /** Keep a record of every flow (`records`), gone ones too. Default false. */
  keepRecords?: boolean;
}

/** One TCP flow's echo: what is pending, and (with keepRecords) what it did. */
export class EchoFlow {
  received = 0;
  echoed = 0;
  /** Bytes l4Tx did not take yet: pending[start..end). */
  pending: Uint8Array | null = null;
  start = 0;
  end = 0;
  remoteClosed = false;
  closeCalled = false;
  /** l4Rx(flow, null) calls: exactly 1 at the end. */
  gone = 0;
  constructor(readonly flow: Flow) {}
}

/**
 * The echo application over any engine and callbacks. `cb()` gives the callbacks to pass the engine
 * (the runner's, the link's); engine calls made from inside the callbacks use them too.
 */
export class EchoApp<T = number> implements TunApp {
  readonly counters: EchoCounters = { tcpBytes: 0, udpDatagrams: 0, udpBytes: 0, tcpFlowsOpened: 0, flowsGone: 0, pauses: 0 };
  /** Flows with data waiting to be echoed (paused), keyed by the engine's flow object. */
  readonly backlogs = new Map<Flow, EchoFlow>();
  /** Every flow alive (accepted, not gone yet). */
  readonly flows = new Set<Flow>();
  /** With keepRecords: every TCP flow accepted, gone ones too. */
  readonly records = new Map<Flow, EchoFlow>();
  /** What went wrong on the engine's side (l4Rx(null) twice, data after it, l4Tx on a gone flow). */
  readonly problems: string[] = [];
  /** Called after each flow is gone (tests wait on it for the engine's flowCount). */
  onFlowGone: ((flow: Flow) => void) | undefined;
  private readonly port: number | undefined;
  private readonly keepRecords: boolean;

  constructor(
    private readonly engine: L3L4<T>,
    private readonly cb: () => Callbacks<T>,
    private readonly log?: (line: string) => void,
    options: EchoOptions = {},
  ) {
    this.port = options.port;
    this.keepRecords = options.keepRecords ?? false;
  }

  l4Accept(flow: Flow): boolean {
    if (this.port !== undefined && (flow.protocol !== "tcp" || flow.dstPort !== this.port)) return false;
    if (flow.protocol === "tcp") {
      this.counters.tcpFlowsOpened++;
      if (this.keepRecords) this.records.set(flow, new EchoFlow(flow));
    }
    this.flows.add(flow);
    this.log?.(`open  ${String(flow)}`);
    return true;
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    if (data === null) {
      const rec = this.records.get(flow);
      if (rec !== undefined && ++rec.gone > 1) this.problem(`echo: l4Rx(null) twice for ${String(flow)}`);
      this.backlogs.delete(flow);
      this.flows.delete(flow);
      this.counters.flowsGone++;
      this.log?.(`gone  ${String(flow)}`);
      this.onFlowGone?.(flow);
      return;
    }
    if (flow.protocol === "udp") {
      // One datagram back; l4Tx writes it into a packet before returning. 0: no buffer, dropped (UDP).
      const sent = this.engine.l4Tx(this.cb(), flow, data);
      if (sent !== undefined && sent > 0) {
        this.counters.udpDatagrams++;
        this.counters.udpBytes += sent;
      }
      return;
    }
    let rec = this.backlogs.get(flow) ?? this.records.get(flow);
    if (rec !== undefined) {
      if (rec.gone > 0) this.problem(`echo: data after l4Rx(null) on ${String(flow)}`);
      rec.received += data.length;
      if (rec.end > rec.start) {
        // Delivered while we wait for send space: keep it in order.
        stash(rec, data, 0);
        return;
      }
    }
    const taken = this.engine.l4Tx(this.cb(), flow, data);
    if (taken === undefined) {
      this.problem(`echo: l4Tx on a gone flow ${String(flow)}`);
      return;
    }
    this.sent(rec, taken);
    if (taken < data.length) {
      // The send buffer is full: keep the rest and stop reading until l4TxReady.
      if (rec === undefined) {
        rec = new EchoFlow(flow);
        rec.received = data.length;
        rec.echoed = taken;
      }
      stash(rec, data, taken);
      this.backlogs.set(flow, rec);
      this.counters.pauses++;
      this.engine.l4PauseRx(flow);
    }
  }

  l4TxReady(flow: Flow): void {
    const rec = this.backlogs.get(flow);
    if (rec === undefined || rec.pending === null) return;
    const cb = this.cb();
    while (rec.end > rec.start) {
      const n = this.engine.l4Tx(cb, flow, rec.pending.subarray(rec.start, rec.end));
      if (n === undefined || n === 0) return; // gone, or l4TxReady again when there is room
      rec.start += n;
      this.sent(rec, n);
    }
    rec.start = rec.end = 0;
    this.backlogs.delete(flow);
    if (!this.keepRecords) rec.pending = null;
    // May deliver at once (re-entering l4Rx): the backlog is gone before.
    this.engine.l4ResumeRx(cb, flow);
    this.closeIfDone(rec);
  }

  l4RemoteClosed(flow: Flow): void {
    const rec = this.backlogs.get(flow) ?? this.records.get(flow);
    if (rec === undefined) {
      this.engine.l4LocalClose(this.cb(), flow);
      return;
    }
    rec.remoteClosed = true; // closed once nothing is pending (l4TxReady)
    this.closeIfDone(rec);
  }

  private sent(rec: EchoFlow | undefined, n: number): void {
    this.counters.tcpBytes += n;
    if (rec !== undefined) rec.echoed += n;
  }

  private closeIfDone(rec: EchoFlow): void {
    if (rec.remoteClosed && !rec.closeCalled && rec.end === rec.start) {
      rec.closeCalled = true;
      this.engine.l4LocalClose(this.cb(), rec.flow);
    }
  }

  private problem(text: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text);
  }
}

/** Append data[from..] to the flow's pending bytes, growing (and compacting) the buffer when needed. */
function stash(rec: EchoFlow, data: Uint8Array, from: number): void {
  const len = data.length - from;
  if (rec.pending === null || rec.pending.length - rec.end < len) {
    const kept = rec.end - rec.start;
    const grown = new Uint8Array(Math.max(kept + len, rec.pending === null ? 0 : rec.pending.length, MIN_PENDING));
    if (rec.pending !== null) grown.set(rec.pending.subarray(rec.start, rec.end));
    rec.pending = grown;
    rec.start = 0;
    rec.end = kept;
  }
  rec.pending.set(from === 0 ? data : data.subarray(from), rec.end);
  rec.end += len;
}
