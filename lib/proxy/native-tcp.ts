/**
 * direct:// TCP upstreams on the addon's own sockets (lib/tun/sock.c) instead of node:net: no
 * net.Socket, StreamBase, libuv stream, async hooks or EventEmitter per connection and per event.
 *
 * - One `NativeSockets` per process (sharedNativeSockets): the addon's epoll set is watched by one
 *   handle on Node's loop, and each wake is ONE call here (`dispatch`) with every socket's events in
 *   a shared Int32Array; reads are spans of one shared pool, valid during the call only (as the
 *   node:net path's shared READ_BUFFER: the relay copies what l4Tx does not take).
 * - `NativeSocket` has the shape the relay drives (UpstreamConnection: node:net's Socket has it
 *   too), and reports to the relay through UpstreamEvents, the same methods the node:net listeners
 *   call: one relay (tcp-relay.ts) for both kinds of socket.
 * - Writes: send(2) at once; what the kernel does not take waits here (views of the relay's staging
 *   blocks) for WRITABLE. Past UPSTREAM_WRITE_HIGH_WATER waiting, write() returns false and the relay
 *   pauses its flow, as node:net's does (the same high-water mark: a kernel buffer that fills once
 *   does not stop the flow at once); 'drain' (upstreamDrained) when all of it went.
 * - Dial timeouts: every dial of a dialer has the same timeout, so the dials are a FIFO in deadline
 *   order under one timer, rather than a timer per connection.
 * - The end: end() is shutdown(SHUT_WR) after what waits; a socket whose both sides are done closes;
 *   resetAndDestroy() closes with SO_LINGER 0 (a RST). A read or write error closes the socket and
 *   reports upstreamBroke (the relay resets the flow).
 */
import { isIP } from "node:net";
import { getSystemErrorName } from "node:util";
import { loadTunAddon } from "../tun/tun.js";
import type { Endpoint } from "./options.js";
import { describeError, timeoutReason, UPSTREAM_WRITE_HIGH_WATER, type Dial, type TcpDialer, type TcpSink, type UpstreamConnection, type UpstreamEvents } from "./upstream.js";

/** The part of the addon this module uses (tun.c exports it; sock.c has the calls). */
export interface SockAddon {
  sockInit(pool: Uint8Array, events: Int32Array, callback: (count: number) => void): void;
  /** A token, or a negative errno. */
  sockConnect(host: string, port: number): number;
  /** Bytes taken, or a negative errno. */
  sockWrite(token: number, data: Uint8Array): number;
  sockRead(token: number, on: boolean): void;
  /** 0 or a negative errno. */
  sockShutdown(token: number): number;
  sockClose(token: number, reset?: boolean): void;
  sockCount(): number;
}

/** sock.c's event kinds. */
export const SockEvent = { CONNECTED: 1, FAILED: 2, DATA: 3, EOF: 4, ERROR: 5, WRITABLE: 6 } as const;

/** sock.c: a token's slot is its low 22 bits. */
const SLOT_MASK = (1 << 22) - 1;
/** The read pool of one wake (each read takes at most 64 KiB) and its events (4 int32s each). */
export const POOL_BYTES = 1024 * 1024;
export const MAX_EVENTS = 2048;

/** "ECONNREFUSED" for 111 (errno as sock.c reports it, positive). */
function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function errnoReason(errno: number): string {
  return describeError({ code: errnoName(errno) });
}

export class NativeSockets {
  private readonly pool = new Uint8Array(POOL_BYTES);
  private readonly events = new Int32Array(MAX_EVENTS * 4);
  /** The socket of each slot (sock.c's tokens: slot | generation). */
  private readonly bySlot: (NativeSocket | undefined)[] = [];
  /** Dials in progress, oldest first (deadline order: one timeout per dialer). */
  private readonly dials: NativeDial[] = [];
  private dialsHead = 0;
  private dialTimer: NodeJS.Timeout | undefined;

  constructor(readonly addon: SockAddon) {
    addon.sockInit(this.pool, this.events, (count) => this.dispatch(count));
  }

  /** The sockets open (for specs: nothing leaks). */
  get openCount(): number {
    return this.addon.sockCount();
  }

  /** A connect to an IP literal under way, or the errno of an immediate failure (negative). */
  connect(host: string, port: number): NativeSocket | number {
    const token = this.addon.sockConnect(host, port);
    if (token < 0) return token;
    const socket = new NativeSocket(this, token);
    this.bySlot[token & SLOT_MASK] = socket;
    return socket;
  }

  /** The socket's token is dead (sock.c closed it): its slot may name another. */
  forget(socket: NativeSocket): void {
    const slot = socket.token & SLOT_MASK;
    if (this.bySlot[slot] === socket) this.bySlot[slot] = undefined;
  }

  /** One wake of the epoll set: every ready socket's events. */
  private dispatch(count: number): void {
    const ev = this.events;
    const pool = this.pool;
    for (let i = 0; i < count; i++) {
      const k = i * 4;
      const token = ev[k]!;
      const socket = this.bySlot[token & SLOT_MASK];
      if (socket === undefined || socket.token !== token) continue; // closed during this call
      socket.event(ev[k + 1]!, ev[k + 2]!, ev[k + 3]!, pool);
    }
  }

  // ---------------------------------------------------------------- dial timeouts

  watchDial(dial: NativeDial): void {
    this.dropSettledDials(); // dials settle about in order: the FIFO stays as long as the dials in progress
    this.dials.push(dial);
    if (this.dialTimer === undefined) this.armDialTimer();
  }

  /** Steps the head over settled dials; compacts once more than half the array is behind it. */
  private dropSettledDials(): void {
    while (this.dialsHead < this.dials.length && this.dials[this.dialsHead]!.settled) this.dialsHead++;
    if (this.dialsHead === this.dials.length) {
      this.dials.length = 0;
      this.dialsHead = 0;
    } else if (this.dialsHead > 1024 && this.dialsHead * 2 > this.dials.length) {
      this.dials.splice(0, this.dialsHead);
      this.dialsHead = 0;
    }
  }

  private armDialTimer(): void {
    this.dropSettledDials();
    if (this.dials.length === 0) {
      this.dialTimer = undefined;
      return;
    }
    const wait = Math.max(0, this.dials[this.dialsHead]!.deadline - Date.now());
    this.dialTimer = setTimeout(() => this.dialsDue(), wait);
    this.dialTimer.unref();
  }

  private dialsDue(): void {
    const now = Date.now();
    while (this.dialsHead < this.dials.length) {
      const dial = this.dials[this.dialsHead]!;
      if (!dial.settled && dial.deadline > now) break;
      this.dialsHead++;
      if (!dial.settled) dial.timedOut();
    }
    this.armDialTimer();
  }
}

/** A connection on the addon's socket: the shape of node:net's Socket the relay uses (UpstreamConnection). */
export class NativeSocket implements UpstreamConnection {
  destroyed = false;
  writableLength = 0;
  /** The relay, once connected; the dial before. */
  events: UpstreamEvents | undefined;
  dial: NativeDial | undefined;
  /** What the kernel has not taken yet, and the callback of each write (called when all of it went). */
  private readonly queue: Uint8Array[] = [];
  private readonly dones: (() => void)[] = [];
  private paused = false;
  private endWanted = false;
  private shut = false;
  private eof = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly set: NativeSockets,
    readonly token: number,
  ) {}

  /** A write returned false, and 'drain' has not come yet. */
  writableNeedDrain = false;

  /** sock.c's event for this socket; DATA is pool[a, a + b). */
  event(kind: number, a: number, b: number, pool: Uint8Array): void {
    switch (kind) {
      case SockEvent.DATA:
        this.events?.upstreamRead(pool, a, b);
        return;
      case SockEvent.EOF:
        this.eof = true;
        if (this.shut) this.close(false); // both sides done
        this.events?.upstreamEnd();
        return;
      case SockEvent.WRITABLE:
        this.flushQueue();
        return;
      case SockEvent.CONNECTED:
        this.dial?.connected();
        return;
      case SockEvent.FAILED:
        this.dial?.failed(a);
        return;
      case SockEvent.ERROR:
        this.broke();
        return;
    }
  }

  write(data: Uint8Array, done: () => void): boolean {
    if (this.destroyed) return false;
    let rest = data;
    if (this.queue.length === 0) {
      const n = this.set.addon.sockWrite(this.token, data);
      if (n === data.length) {
        done();
        return true;
      }
      if (n < 0) {
        process.nextTick(brokeLater, this); // as node reports a write's error: after the call
        return false;
      }
      rest = data.subarray(n);
    }
    this.queue.push(rest);
    this.dones.push(done);
    this.writableLength += rest.length;
    if (this.writableLength < UPSTREAM_WRITE_HIGH_WATER) return true;
    this.writableNeedDrain = true;
    return false;
  }

  /** WRITABLE: send what waits; all of it gone, 'drain' (and the FIN end() asked for). */
  private flushQueue(): void {
    const queue = this.queue;
    while (queue.length > 0 && !this.destroyed) {
      const head = queue[0]!;
      const n = this.set.addon.sockWrite(this.token, head);
      if (n < 0) return this.broke();
      this.writableLength -= n;
      if (n < head.length) {
        queue[0] = head.subarray(n);
        return; // sock.c waits for the next WRITABLE
      }
      queue.shift();
      this.dones.shift()!();
    }
    if (this.destroyed) return;
    if (this.endWanted) this.shutdown();
    if (!this.writableNeedDrain) return;
    this.writableNeedDrain = false;
    this.events?.upstreamDrained();
  }

  end(): void {
    if (this.destroyed || this.endWanted) return;
    this.endWanted = true;
    if (this.queue.length === 0) this.shutdown();
  }

  private shutdown(): void {
    if (this.shut) return;
    this.shut = true;
    if (this.eof) this.close(false); // the upstream finished first: close(2) sends our FIN
    else if (this.set.addon.sockShutdown(this.token) < 0) this.broke();
  }

  pause(): void {
    if (this.paused || this.destroyed) return;
    this.paused = true;
    this.set.addon.sockRead(this.token, false);
  }

  resume(): void {
    if (!this.paused || this.destroyed) return;
    this.paused = false;
    this.set.addon.sockRead(this.token, true);
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Only for a socket left to flush after its flow went (the relay's linger). */
  setTimeout(ms: number, onTimeout: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(onTimeout, ms);
    this.timer.unref();
  }

  destroy(): void {
    this.close(false);
  }

  resetAndDestroy(): void {
    this.close(true);
  }

  private close(reset: boolean): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearTimeout(this.timer);
    this.set.addon.sockClose(this.token, reset);
    this.set.forget(this);
    this.queue.length = 0;
    this.dones.length = 0;
    this.writableLength = 0;
  }

  /** A read or write failed (ECONNRESET, EPIPE): closed, and the relay resets its flow. */
  broke(): void {
    if (this.destroyed) return;
    this.close(false);
    this.events?.upstreamBroke();
  }
}

function brokeLater(socket: NativeSocket): void {
  socket.broke();
}

export class NativeDial implements Dial {
  settled = false;
  readonly deadline: number;
  // Dropped when the dial settles: the dialer's FIFO keeps a settled dial until the head's deadline
  // passes (10 s of dials at the default timeout), and must not keep its socket and relay with it.
  private socket: NativeSocket | undefined;
  private sink: TcpSink | undefined;
  private events: UpstreamEvents | undefined;

  constructor(
    socket: NativeSocket,
    sink: TcpSink,
    events: UpstreamEvents,
    private readonly timeoutMs: number,
    private readonly what: string,
  ) {
    this.socket = socket;
    this.sink = sink;
    this.events = events;
    this.deadline = Date.now() + timeoutMs;
    socket.dial = this;
  }

  /** Settles the dial and lets go of what it held; returns its socket (undefined: settled before). */
  private settle(): NativeSocket | undefined {
    const socket = this.socket;
    if (this.settled || socket === undefined) return undefined;
    this.settled = true;
    this.socket = undefined;
    socket.dial = undefined;
    return socket;
  }

  connected(): void {
    const sink = this.sink;
    const events = this.events;
    const socket = this.settle();
    if (socket === undefined) return;
    this.sink = this.events = undefined;
    socket.events = events!;
    sink!.upstreamConnected(socket, undefined);
  }

  failed(errno: number): void {
    this.fail(`${this.what}: ${errnoReason(errno)}`);
  }

  timedOut(): void {
    this.fail(`${this.what}: connect ${timeoutReason(this.timeoutMs)}`);
  }

  private fail(reason: string): void {
    const sink = this.sink;
    const socket = this.settle();
    if (socket === undefined) return;
    this.sink = this.events = undefined;
    socket.destroy();
    sink!.upstreamFailed(reason);
  }

  cancel(): void {
    this.sink = this.events = undefined;
    this.settle()?.destroy();
  }
}

/** A dial that failed before it began (ENETUNREACH, EMFILE): reported after the call, as a socket's error is. */
class FailedDial implements Dial {
  private cancelled = false;

  constructor(sink: TcpSink, reason: string) {
    queueMicrotask(() => {
      if (!this.cancelled) sink.upstreamFailed(reason);
    });
  }

  cancel(): void {
    this.cancelled = true;
  }
}

/**
 * direct:// TCP on native sockets, for sinks that take UpstreamEvents (the relay) and IP-literal
 * targets; anything else (a name from fake-IP, the DNS relay's TCP) goes to `fallback` (node:net).
 */
export class NativeDirectTcp implements TcpDialer {
  constructor(
    private readonly sockets: NativeSockets,
    private readonly timeoutMs: number,
    private readonly fallback: TcpDialer,
    private readonly what = "direct",
  ) {}

  dial(target: Endpoint, sink: TcpSink): Dial {
    const events = sink.upstreamEvents;
    if (events === undefined || isIP(target.host) === 0) return this.fallback.dial(target, sink);
    const socket = this.sockets.connect(target.host, target.port);
    if (typeof socket === "number") return new FailedDial(sink, `${this.what}: ${errnoReason(-socket)}`);
    const dial = new NativeDial(socket, sink, events, this.timeoutMs, this.what);
    this.sockets.watchDial(dial);
    return dial;
  }
}

let shared: NativeSockets | null | undefined;

/**
 * The process's native sockets, or undefined where the addon cannot be loaded or predates sock.c, or
 * L3L4_NATIVE_TCP=0 asks for node:net.
 */
export function sharedNativeSockets(): NativeSockets | undefined {
  if (shared === undefined) {
    shared = null;
    if (process.env.L3L4_NATIVE_TCP !== "0") {
      try {
        const addon = loadTunAddon() as unknown as Partial<SockAddon>;
        if (typeof addon.sockInit === "function" && typeof addon.sockConnect === "function") shared = new NativeSockets(addon as SockAddon);
      } catch {
        shared = null;
      }
    }
  }
  return shared ?? undefined;
}
