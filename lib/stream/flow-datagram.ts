/**
 * FlowDatagram: one UDP flow of an engine (one local and one remote address and port), shaped like a
 * connected dgram.Socket: 'message' (data, rinfo), send(), close(), 'close', address() and
 * remoteAddress().
 *
 * Each datagram l4Rx delivers is copied once and emitted at the next flush. pause() stops delivery
 * (l4PauseRx: the engine keeps up to udpMaxQueuedDatagrams and drops beyond, as a full socket
 * buffer does); resume() lets it go on. send() hands the datagram to l4Tx, which writes it into a
 * packet at once (fragmented beyond the MTU) or, without a transmit buffer, drops it: UDP may lose.
 */
import { EventEmitter } from "node:events";
import type { CloseReason, Flow } from "../api.js";
import { InvalidArgumentError, UnknownFlowError } from "../errors.js";
import { closeReasonError } from "./errors.js";
import {
  kEstablished,
  kFlush,
  kRemoteClosed,
  kRx,
  kTxReady,
  type FlowEndpoint,
  type StackContext,
} from "./endpoint.js";

export interface RemoteInfo {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: "IPv4" | "IPv6";
  port: number;
}

export type SendCallback = (error: Error | null, bytes: number) => void;

const EV_ESTABLISHED = 1;
const EV_GONE = 2;

export class FlowDatagram extends EventEmitter implements FlowEndpoint {
  readonly flow: Flow;
  readonly #ctx: StackContext;
  readonly #local: AddressInfo;
  readonly #remote: AddressInfo;
  #events = 0;
  #dirty = false;
  #announced = false;
  /** Copies of the datagrams delivered, to emit at the next flush (or after resume()). */
  readonly #rx: Buffer[] = [];
  #paused = false;
  #gone = false;
  #closing = false;
  #closed = false;
  #closeReason: CloseReason | undefined;
  #refed = true;

  /** @internal Made by NetStack (its 'udp' event and udp()). */
  constructor(ctx: StackContext, flow: Flow, active: boolean) {
    super();
    this.#ctx = ctx;
    this.flow = flow;
    const family = flow.family === 4 ? "IPv4" : "IPv6";
    const [local, localPort, remote, remotePort] = active
      ? [flow.srcIp, flow.srcPort, flow.dstIp, flow.dstPort]
      : [flow.dstIp, flow.dstPort, flow.srcIp, flow.srcPort];
    this.#local = { address: local, family, port: localPort };
    this.#remote = { address: remote, family, port: remotePort };
    this.#announced = active;
    ctx.refChanged(1);
  }

  /** The engine's end: { address, family, port }. */
  address(): AddressInfo {
    return { ...this.#local };
  }

  /** The peer: { address, family, port } (as a connected dgram.Socket's remoteAddress()). */
  remoteAddress(): AddressInfo {
    return { ...this.#remote };
  }

  get closed(): boolean {
    return this.#closed || this.#closing;
  }

  /**
   * Send one datagram to the peer. Returns whether it went out: false when the engine had no transmit
   * buffer (dropped, as UDP may be). More than 65507 (IPv4) / 65527 (IPv6) bytes throws
   * InvalidArgumentError; sending after close() throws UnknownFlowError. The callback, if given, runs
   * on the next tick with (null, bytes) or an error.
   */
  send(data: Uint8Array | string, callback?: SendCallback): boolean {
    if (this.#gone || this.#closing) throw new UnknownFlowError("send on a closed FlowDatagram");
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError("send() takes a Uint8Array or a string");
    const ctx = this.#ctx;
    const sent = ctx.engine.l4Tx(ctx.callbacks, this.flow, bytes);
    ctx.wake();
    const ok = sent !== undefined && sent === bytes.length;
    if (ok) ctx.stats.datagramsOut++;
    else ctx.stats.datagramsDropped++;
    if (callback !== undefined) {
      process.nextTick(callback, null, ok ? bytes.length : 0);
    }
    return ok;
  }

  /** Stop emitting 'message': the engine queues a bounded number of datagrams, then drops. */
  pause(): this {
    if (!this.#paused && !this.#gone) {
      this.#paused = true;
      this.#ctx.engine.l4PauseRx(this.flow);
    }
    return this;
  }

  /** Emit what was held, and let the engine deliver again. */
  resume(): this {
    if (!this.#paused) return this;
    this.#paused = false;
    if (this.#rx.length > 0) this.#emitMessages();
    if (!this.#gone && !this.#paused) {
      const ctx = this.#ctx;
      ctx.engine.l4ResumeRx(ctx.callbacks, this.flow);
      ctx.wake();
    }
    return this;
  }

  get isPaused(): boolean {
    return this.#paused;
  }

  /** Forget the flow (l4LocalClose); 'close' follows. */
  close(callback?: () => void): this {
    if (callback !== undefined) this.once("close", callback);
    if (this.#closing || this.#closed) return this;
    this.#closing = true;
    if (!this.#gone) {
      const ctx = this.#ctx;
      ctx.engine.l4LocalClose(ctx.callbacks, this.flow);
      ctx.wake();
    }
    return this;
  }

  ref(): this {
    if (!this.#refed && !this.#closed) {
      this.#refed = true;
      this.#ctx.refChanged(1);
    }
    return this;
  }

  unref(): this {
    if (this.#refed) {
      this.#refed = false;
      this.#ctx.refChanged(-1);
    }
    return this;
  }

  // ---------------------------------------------------------------- engine events (inside callbacks)

  [kEstablished](): void {
    if (!this.#announced) this.#record(EV_ESTABLISHED);
  }

  [kRx](data: Uint8Array | null): void {
    if (data === null) {
      this.#gone = true;
      this.#closeReason = this.#ctx.engine.l4CloseReason(this.flow);
      this.#record(EV_GONE);
      return;
    }
    if (this.#closing) return;
    const copy = Buffer.allocUnsafe(data.length);
    copy.set(data);
    this.#rx.push(copy);
    this.#record(0);
  }

  [kTxReady](): void {}

  [kRemoteClosed](): void {}

  #record(events: number): void {
    this.#events |= events;
    if (!this.#dirty) {
      this.#dirty = true;
      this.#ctx.markDirty(this);
    }
  }

  // ---------------------------------------------------------------- the flush (outside callbacks)

  [kFlush](): void {
    this.#dirty = false;
    const events = this.#events;
    this.#events = 0;
    if ((events & EV_ESTABLISHED) !== 0 && !this.#announced) {
      this.#announced = true;
      this.#ctx.announce("udp", this);
    }
    if (this.#rx.length > 0 && !this.#paused) this.#emitMessages();
    if ((events & EV_GONE) !== 0) this.#flowGone();
  }

  #emitMessages(): void {
    const rx = this.#rx;
    const remote = this.#remote;
    const stats = this.#ctx.stats;
    let i = 0;
    for (; i < rx.length && !this.#paused && !this.#closing; i++) {
      const message = rx[i]!;
      stats.datagramsIn++;
      const rinfo: RemoteInfo = { address: remote.address, family: remote.family, port: remote.port, size: message.length };
      this.emit("message", message, rinfo);
    }
    if (i >= rx.length || this.#closing) rx.length = 0;
    else rx.splice(0, i);
  }

  #flowGone(): void {
    this.#ctx.unregister(this);
    if (this.#closed) return;
    this.#closed = true;
    if (this.#refed) {
      this.#refed = false;
      this.#ctx.refChanged(-1);
    }
    const error = this.#closing
      ? undefined
      : closeReasonError(this.#closeReason, false, this.#remote.address, this.#remote.port, "udp");
    if (error !== undefined) this.emit("error", error);
    this.#rx.length = 0;
    this.emit("close");
  }
}
