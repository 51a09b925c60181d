/**
 * What the engine tells the application: l4Rx (data, and the final l4Rx(flow, null)), l4RemoteClosed
 * and l4TxReady. A step of the state machine (a segment, a timer, an API call) never calls the
 * application itself: it queues an event here, and the events are fired when the step is complete,
 * before the connection's output is flushed. So the state machine never finds its connection changed
 * under its feet, and what the application sends from l4Rx still rides on the ACK of what it got.
 *
 * Events belong to the API call that queued them (a frame). A callback that calls back into the engine
 * opens a frame of its own, whose events are fired before that inner call returns; the outer call's
 * remaining events keep their order and fire after. So l4Abort from inside l4Rx has delivered its
 * l4Rx(flow, null) when it returns, and a segment's l4RemoteClosed still follows its data.
 *
 * The queue is preallocated and reused: a step queues a handful of events (data, FIN, send space, the
 * end), so it never grows in practice.
 */
import type { FlowRecord } from "./flow/flow.js";
import type { AnyCallbacks } from "./ip/output.js";

/** The kinds of event. */
export const AppEvent = {
  /** In-order data straight from the packet (valid until l3Rx returns): l4Rx(flow, view). */
  RX: 0,
  /** Deliver what the flow holds for the application, then the peer's FIN (l4RemoteClosed). */
  DRAIN: 1,
  /** Send space opened after an l4Tx that took fewer bytes than offered: l4TxReady. */
  TX_READY: 2,
  /** The flow is gone: l4Rx(flow, null), exactly once. */
  CLOSED: 3,
} as const;
export type AppEvent = (typeof AppEvent)[keyof typeof AppEvent];

/** What events are about: a TCP connection or a UDP flow. Each decides, when fired, what still applies. */
export interface EventTarget {
  readonly flow: FlowRecord;
  fireRx(cb: AnyCallbacks, data: Uint8Array): void;
  fireDrain(cb: AnyCallbacks): void;
  fireTxReady(cb: AnyCallbacks): void;
}

/** Where a step queues events (the engine), and when it fires them. */
export interface EventSink {
  /** Queue an event of the API call in progress; outside any call it fires at once. */
  event(kind: AppEvent, target: EventTarget, view: Uint8Array | null): void;
  /** Fire the events the API call in progress has queued so far. */
  fire(): void;
  /** Fire an RX event now, with the callbacks of the API call in progress (none: nobody to tell). */
  fireRx(target: EventTarget, data: Uint8Array): void;
}

const INITIAL_CAPACITY = 16;
/** Nested API calls (callbacks calling back in) the frame stack holds before it grows. */
const INITIAL_FRAMES = 16;

/** A packed array of `n` copies of `v` (V8 keeps it packed: `new Array(n).fill(v)` stays holey). */
function packed<T>(n: number, v: T): T[] {
  const a: T[] = [];
  for (let i = 0; i < n; i++) a.push(v);
  return a;
}

export class AppEvents {
  private readonly kinds: AppEvent[] = packed<AppEvent>(INITIAL_CAPACITY, AppEvent.RX);
  private readonly targets: (EventTarget | null)[] = packed<EventTarget | null>(INITIAL_CAPACITY, null);
  private readonly views: (Uint8Array | null)[] = packed<Uint8Array | null>(INITIAL_CAPACITY, null);
  private tail = 0;
  /** The frame in progress: its first slot, and the next event to fire. */
  private start = 0;
  private cursor = 0;
  /** Outer frames of nested calls, (start, cursor) pairs; `depth - 1` pairs in use (none outermost). */
  private frames = new Int32Array(2 * INITIAL_FRAMES);
  private depth = 0;

  /** Queue an event of the frame in progress. */
  push(kind: AppEvent, target: EventTarget, view: Uint8Array | null): void {
    const i = this.tail++;
    if (i < this.kinds.length) {
      this.kinds[i] = kind;
      this.targets[i] = target;
      this.views[i] = view;
    } else {
      this.kinds.push(kind);
      this.targets.push(target);
      this.views.push(view);
    }
  }

  /**
   * An API call begins: what it queues is fired before it returns. The outermost call's frame starts
   * at slot 0 (between calls nothing is queued: `event` outside any call fires at once) and has no
   * outer frame to save, so only a nested call touches `frames`: l3Rx's in-order segment, an
   * outermost call, skips the save and the restore (spec/bench/ab-l3rx.ts, see the commit).
   */
  open(): void {
    if (this.depth++ === 0) return;
    const d = 2 * (this.depth - 2);
    if (d === this.frames.length) {
      const grown = new Int32Array(2 * d);
      grown.set(this.frames);
      this.frames = grown;
    }
    this.frames[d] = this.start;
    this.frames[d + 1] = this.cursor;
    this.start = this.cursor = this.tail;
  }

  /** The API call ends: fire the rest of its events, back to the outer call's. */
  close(cb: AnyCallbacks | undefined): void {
    if (this.cursor < this.tail) this.fire(cb);
    if (--this.depth === 0) return; // the outermost frame: start and cursor are back at 0 (fire)
    const d = 2 * (this.depth - 1);
    this.start = this.frames[d]!;
    this.cursor = this.frames[d + 1]!;
  }

  /** Fire the events of the frame in progress, in order (none without callbacks: nobody to tell). */
  fire(cb: AnyCallbacks | undefined): void {
    while (this.cursor < this.tail) {
      const i = this.cursor++;
      const target = this.targets[i]!;
      const view = this.views[i];
      this.targets[i] = null;
      this.views[i] = null;
      if (cb === undefined) continue;
      switch (this.kinds[i]!) {
        case AppEvent.RX:
          if (view != null) target.fireRx(cb, view);
          break;
        case AppEvent.DRAIN:
          target.fireDrain(cb);
          break;
        case AppEvent.TX_READY:
          target.fireTxReady(cb);
          break;
        case AppEvent.CLOSED:
          cb.l4Rx(target.flow, null);
          break;
      }
    }
    this.tail = this.cursor = this.start;
  }
}
