/**
 * FlowSocket: one TCP flow of an engine as a stream.Duplex that behaves like net.Socket, so node:http,
 * node:tls and undici run on it unchanged.
 *
 * Receiving. l4Rx hands a view valid only during the call: it is copied once (the Buffer the reader
 * gets, received-chunks.ts) and pushed at the next flush. Pushing stops when push() says the reader is full, as
 * net.Socket stops reading its fd: the copies not pushed wait, and the flow is paused (l4PauseRx),
 * so the engine keeps what arrives in its receive buffer and its advertised window closes (RFC 9293
 * §3.8.6.2.2). _read() pushes what waits and, once nothing does, resumes the flow (l4ResumeRx). The
 * peer's FIN is push(null) after the last byte ('end'), and only while the reader's buffer is below
 * its highWaterMark, as net reads the EOF only then: undici, reading in paused mode, relies on not
 * seeing 'end' right after a read() that handed it more than it takes.
 *
 * Sending. _write/_writev hand the chunks to l4Tx, which copies what fits in the engine's send buffer.
 * When it takes less, the write's callback waits for l4TxReady: the stream then buffers further
 * writes up to writableHighWaterMark and write() returns false; 'drain' follows when l4TxReady
 * completed the write. So per flow at most the engine's two buffers, the stream's two highWaterMarks
 * and one engine delivery are held, whatever the peer does.
 *
 * Closing, as node:net over Linux. end() sends FIN after the queued data (_final: l4LocalClose).
 * allowHalfOpen false (the default) ends our side when the peer's FIN has been read. destroy() is
 * close(2) of the socket, as net.Socket's is: with received data still unread it sends RST at once
 * (RFC 2525 §2.17, Linux tcp_close); otherwise what the engine already took goes out, then FIN, and
 * the engine finishes the close on its own (Linux's orphan socket; NetStackOptions.orphanTimeoutMs
 * bounds it as tcp_fin_timeout does), answering with RST any data that arrives meanwhile.
 * resetAndDestroy() always sends RST (l4Abort). How the flow ended becomes the error net.Socket
 * would report (errors.ts).
 *
 * node:http relies on this: its server writes "400 Bad Request" and calls destroy() at once, and an
 * RST there would throw the response away before the client reads it.
 *
 * Options that are the engine's: Nagle and keep-alive are engine settings (L3L4Builder.tcpNoDelay,
 * tcpKeepAlive), so setNoDelay and setKeepAlive accept the call and change nothing per flow.
 */
import { Duplex } from "node:stream";
import type { CloseReason, Flow, FlowInfo } from "../api.js";
import { closeReasonError, flowError } from "./errors.js";
import { ReceivedChunks } from "./received-chunks.js";
import {
  kEstablished,
  kFlush,
  kRemoteClosed,
  kRx,
  kTxReady,
  type FlowEndpoint,
  type StackContext,
} from "./endpoint.js";

export interface FlowSocketOptions {
  /** As net.Socket's: false (default) ends our side once the peer's FIN has been read. */
  allowHalfOpen?: boolean;
  /** The stream's buffer limits; default 64 KiB each (Node 22's default, one staging chunk). */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

/**
 * 64 KiB: what Node >= 22 uses for every stream (Node 20 still 16 KiB), and as much as net hands
 * over per read. Enough for the writes a pipe() queued to refill the engine's send buffer within
 * the driver's turn, instead of in the next one.
 */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

export type FlowSocketReadyState = "opening" | "open" | "readOnly" | "writeOnly" | "closed";

/** What a flush has to do, recorded inside engine callbacks. */
const EV_ESTABLISHED = 1;
/** The peer's FIN came (l4RemoteClosed), or _read found it waiting: push(null) when allowed. */
const EV_END = 2;
const EV_TX_READY = 4;
const EV_GONE = 8;

type WriteCallback = (error?: Error | null) => void;

function family(flow: Flow): "IPv4" | "IPv6" {
  return flow.family === 4 ? "IPv4" : "IPv6";
}

export class FlowSocket extends Duplex implements FlowEndpoint {
  /** The engine's flow: the same object for the flow's life. */
  readonly flow: Flow;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: "IPv4" | "IPv6";
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: "IPv4" | "IPv6";

  readonly #ctx: StackContext;
  /** Opened by connect(): 'connect' comes when the handshake completes. */
  readonly #active: boolean;
  #connecting: boolean;
  /** Passive: 'connection' was emitted. */
  #announced = false;
  #events = 0;
  #dirty = false;
  /** Copies of what l4Rx delivered and not yet pushed. */
  readonly #rx = new ReceivedChunks();
  /** Inside #pushReceived (push() may run a handler that reads, and so _read). */
  #pushing = false;
  /** We called l4PauseRx and not yet l4ResumeRx. */
  #rxPaused = false;
  /** The peer's FIN came; push(null) once what came before it is pushed. */
  #remoteEnded = false;
  #endPushed = false;
  /** l4Rx(flow, null) came. */
  #gone = false;
  #closeReason: CloseReason | undefined;
  /** l4LocalClose was called (our FIN is queued). */
  #finSent = false;
  /** _final while connecting: run once connected. */
  #pendingFinal: WriteCallback | undefined;
  /** Destroyed while the engine finishes the close (see the file comment). */
  #orphan = false;
  /** We sent the RST: the flow's end is ours, not an error. */
  #aborting = false;
  #bytesRead = 0;
  /** Bytes l4Tx took. */
  #bytesSent = 0;
  // The write l4Tx has not wholly taken: one chunk (_write) or a list (_writev), from #wIndex/#wOffset.
  #wChunk: Uint8Array | undefined;
  #wList: ReadonlyArray<{ chunk: Buffer }> | undefined;
  #wIndex = 0;
  #wOffset = 0;
  /** Bytes of the pending write already taken (counted in #bytesSent and still in writableLength). */
  #wTaken = 0;
  #wCallback: WriteCallback | undefined;
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #refed = true;

  /** @internal Made by NetStack (its 'connection' event and connect()). */
  constructor(ctx: StackContext, flow: Flow, active: boolean, options: FlowSocketOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      writableHighWaterMark: options.writableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    });
    this.#ctx = ctx;
    this.flow = flow;
    this.#active = active;
    this.#connecting = active;
    const f = family(flow);
    this.remoteFamily = f;
    this.localFamily = f;
    if (active) {
      this.localAddress = flow.srcIp;
      this.localPort = flow.srcPort;
      this.remoteAddress = flow.dstIp;
      this.remotePort = flow.dstPort;
    } else {
      this.remoteAddress = flow.srcIp;
      this.remotePort = flow.srcPort;
      this.localAddress = flow.dstIp;
      this.localPort = flow.dstPort;
    }
    ctx.refChanged(1);
  }

  // ---------------------------------------------------------------- net.Socket's properties

  /** True from connect() until 'connect'. */
  get connecting(): boolean {
    return this.#connecting;
  }

  /** As net.Socket: true while not yet connected. */
  get pending(): boolean {
    return this.#connecting;
  }

  get readyState(): FlowSocketReadyState {
    if (this.#connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  /** Bytes received (handed to the stream). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes written: taken by the engine plus still buffered in the stream (as net.Socket counts). */
  get bytesWritten(): number {
    return this.#bytesSent + this.writableLength - this.#wTaken;
  }

  /** The value setTimeout set, undefined when none. */
  get timeout(): number | undefined {
    return this.#timeoutMs === 0 ? undefined : this.#timeoutMs;
  }

  address(): { address: string; family: "IPv4" | "IPv6"; port: number } {
    return { address: this.localAddress, family: this.localFamily, port: this.localPort };
  }

  /** The engine's TCP_INFO-like snapshot of the flow (RTT, windows, counters); undefined once it is gone. */
  info(out?: FlowInfo): FlowInfo | undefined {
    return this.#gone ? undefined : this.#ctx.engine.l4Info(this.flow, out);
  }

  // ---------------------------------------------------------------- net.Socket's methods

  /**
   * After `ms` without data either way, emit 'timeout' (the socket stays open, as in net). 0 turns
   * it off. The timer does not keep the process alive.
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`timeout must be a finite number of ms >= 0: ${String(ms)}`);
    }
    this.#timeoutMs = ms;
    this.#clearTimer();
    if (ms > 0 && !this.destroyed) {
      this.#timer = setTimeout(this.#onTimeout, ms);
      this.#timer.unref();
    }
    if (callback !== undefined) {
      if (ms === 0) this.removeListener("timeout", callback);
      else this.once("timeout", callback);
    }
    return this;
  }

  /** Nagle is the engine's setting (L3L4Builder.tcpNoDelay, on by default): accepted, changes nothing per flow. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /** Keep-alive is the engine's setting (L3L4Builder.tcpKeepAlive): accepted, changes nothing per flow. */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /** This socket keeps the process alive again (the driver's device poll and timer). */
  ref(): this {
    if (!this.#refed && !this.destroyed) {
      this.#refed = true;
      this.#ctx.refChanged(1);
    }
    return this;
  }

  /** This socket no longer keeps the process alive: once no referenced socket (and no referenced NetStack) is left, the driver lets the process exit. */
  unref(): this {
    if (this.#refed) {
      this.#refed = false;
      this.#ctx.refChanged(-1);
    }
    return this;
  }

  /** As net.Socket: end(), then destroy once our side has finished. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  /** Send RST and destroy, whatever the state (net.Socket.resetAndDestroy). */
  resetAndDestroy(): this {
    if (!this.#gone && !this.#aborting) this.#reset();
    return this.destroy();
  }

  // ---------------------------------------------------------------- engine events (inside callbacks)

  [kEstablished](): void {
    if (this.#active ? this.#connecting : !this.#announced) this.#record(EV_ESTABLISHED);
  }

  [kRx](data: Uint8Array | null): void {
    const ctx = this.#ctx;
    if (data === null) {
      this.#gone = true;
      this.#closeReason = ctx.engine.l4CloseReason(this.flow);
      this.#record(EV_GONE);
      return;
    }
    if (this.#orphan || this.destroyed) {
      // Data for a socket the application closed: Linux answers with RST (tcp_rcv_state_process).
      ctx.stats.resetsAfterClose++;
      this.#aborting = true;
      ctx.engine.l4Abort(ctx.callbacks, this.flow);
      return;
    }
    // Data arrives only on a synchronized connection: the handshake is done.
    if (this.#connecting) this.#events |= EV_ESTABLISHED;
    this.#rx.copyIn(data);
    this.#record(0);
  }

  [kTxReady](): void {
    if (this.#wCallback !== undefined) this.#record(EV_TX_READY);
  }

  [kRemoteClosed](): void {
    if (this.#connecting) this.#events |= EV_ESTABLISHED;
    this.#remoteEnded = true;
    this.#record(EV_END);
  }

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
    if ((events & EV_ESTABLISHED) !== 0) this.#established();
    if (this.#rx.waiting) this.#pushReceived();
    if ((events & EV_END) !== 0) this.#pushEnd();
    if ((events & EV_TX_READY) !== 0) this.#continueWrite();
    if ((events & EV_GONE) !== 0) this.#flowGone();
  }

  #established(): void {
    if (!this.#active) {
      if (this.#announced) return;
      this.#announced = true;
      this.#ctx.announce("connection", this);
      return;
    }
    if (!this.#connecting || this.destroyed) return;
    this.#connecting = false;
    this.#touch();
    this.emit("connect");
    this.emit("ready");
    const final = this.#pendingFinal;
    if (final !== undefined && !this.destroyed) {
      this.#pendingFinal = undefined;
      this.#shutdown();
      final();
    }
  }

  /**
   * Push what waits, while the reader takes more; when it is full, pause the flow. Returns whether
   * everything was pushed and the reader wants more.
   */
  #pushReceived(): boolean {
    const rx = this.#rx;
    rx.beginPush();
    const stats = this.#ctx.stats;
    let more = true;
    this.#pushing = true;
    try {
      while (more && rx.waiting && !this.destroyed) {
        const chunk = rx.take();
        this.#bytesRead += chunk.length;
        stats.bytesRead += chunk.length;
        more = this.push(chunk);
      }
    } finally {
      this.#pushing = false;
    }
    this.#touch();
    if (!more && !this.#rxPaused && !this.#gone && !this.destroyed) {
      this.#rxPaused = true;
      stats.rxPauses++;
      this.#ctx.engine.l4PauseRx(this.flow);
    }
    return more && !rx.waiting;
  }

  /** The peer's FIN as push(null): after everything before it, and only while the reader's buffer has room. */
  #pushEnd(): void {
    if (!this.#remoteEnded || this.#endPushed || this.destroyed) return;
    if (this.#rx.waiting || this.readableLength >= this.readableHighWaterMark) return; // _read comes back for it
    this.#endPushed = true;
    this.push(null);
  }

  #flowGone(): void {
    const ctx = this.#ctx;
    ctx.unregister(this);
    this.#clearTimer();
    if (this.#aborting || this.#orphan || this.destroyed) {
      this.#dropReceived();
      return;
    }
    const error = closeReasonError(this.#closeReason, this.#connecting, this.remoteAddress, this.remotePort);
    this.#connecting = false;
    const writeCallback = this.#takeWrite();
    if (error !== undefined) {
      this.destroy(error);
      writeCallback?.(error);
      return;
    }
    if (this.#closeReason === "aborted") {
      // Aborted by someone else (the runner's shutdown): the handle went away.
      this.destroy();
      writeCallback?.();
      return;
    }
    // Closed in order, or by the engine's idle timeout: what was received stays readable, and
    // writes fail from now on (EPIPE, as writing to a closed kernel socket).
    this.#remoteEnded = true;
    this.#pushEnd();
    writeCallback?.(flowError("EPIPE", "write"));
    const final = this.#pendingFinal;
    this.#pendingFinal = undefined;
    final?.();
  }

  // ---------------------------------------------------------------- stream.Duplex

  override _read(): void {
    if (this.#pushing) return; // the loop pushing now goes on
    if (this.#rx.waiting && !this.#pushReceived()) return; // still full
    if (this.#rxPaused && !this.#gone) {
      this.#rxPaused = false;
      const ctx = this.#ctx;
      ctx.stats.rxResumes++;
      // May deliver at once (into #rx): push it now, as net pushes what a read returns.
      ctx.engine.l4ResumeRx(ctx.callbacks, this.flow);
      ctx.wake();
      if (this.#rx.waiting && !this.#pushReceived()) return;
    }
    // Never push(null) from inside read(): 'end' would follow the data that read() returns.
    if (this.#remoteEnded && !this.#endPushed) this.#record(EV_END);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.#wChunk = chunk;
    this.#wCallback = callback;
    this.#continueWrite();
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: WriteCallback): void {
    this.#wList = chunks;
    this.#wCallback = callback;
    this.#continueWrite();
  }

  /** Offer the pending write to l4Tx from where it stopped; its callback when all is taken. */
  #continueWrite(): void {
    if (this.#wCallback === undefined) return;
    if (this.#gone) {
      this.#takeWrite()!(flowError("EPIPE", "write"));
      return;
    }
    const ctx = this.#ctx;
    const engine = ctx.engine;
    const callbacks = ctx.callbacks;
    const list = this.#wList;
    for (;;) {
      const chunk = list === undefined ? this.#wChunk! : list[this.#wIndex]!.chunk;
      const offset = this.#wOffset;
      const data = offset === 0 ? chunk : chunk.subarray(offset);
      const taken = engine.l4Tx(callbacks, this.flow, data);
      if (taken === undefined) {
        // Gone under us: l4Rx(flow, null) follows.
        ctx.wake();
        this.#takeWrite()!(flowError("EPIPE", "write"));
        return;
      }
      this.#bytesSent += taken;
      this.#wTaken += taken;
      ctx.stats.bytesWritten += taken;
      if (taken < data.length) {
        this.#wOffset = offset + taken;
        ctx.stats.txBlocked++;
        ctx.wake();
        return; // l4TxReady continues
      }
      this.#wOffset = 0;
      if (list === undefined || ++this.#wIndex >= list.length) break;
    }
    ctx.wake();
    this.#touch();
    this.#takeWrite()!();
  }

  /** Clears the pending write; returns its callback. */
  #takeWrite(): WriteCallback | undefined {
    const callback = this.#wCallback;
    this.#wCallback = undefined;
    this.#wChunk = undefined;
    this.#wList = undefined;
    this.#wIndex = 0;
    this.#wOffset = 0;
    this.#wTaken = 0;
    return callback;
  }

  override _final(callback: WriteCallback): void {
    if (this.#connecting && !this.#gone) {
      // As net: the FIN goes once connected (l4LocalClose in SYN-SENT with nothing queued would just forget the flow).
      this.#pendingFinal = callback;
      return;
    }
    this.#shutdown();
    callback();
  }

  #shutdown(): void {
    if (this.#finSent) return;
    this.#finSent = true;
    if (this.#gone) return;
    const ctx = this.#ctx;
    ctx.engine.l4LocalClose(ctx.callbacks, this.flow);
    ctx.wake();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearTimer();
    if (this.#refed) {
      this.#refed = false;
      this.#ctx.refChanged(-1);
    }
    const unread = this.#hasUnread();
    this.#dropReceived();
    const pending = this.#takeWrite();
    if (!this.#gone && !this.#aborting) {
      if (unread) {
        this.#reset();
      } else {
        // close(2) with nothing unread: FIN after what the engine holds; the engine finishes alone.
        this.#orphan = true;
        if (!this.#finSent) {
          this.#finSent = true;
          const ctx = this.#ctx;
          ctx.engine.l4LocalClose(ctx.callbacks, this.flow);
          ctx.wake();
        }
        this.#ctx.orphaned(this);
      }
    }
    callback(error);
    // As net.Socket, whose write requests complete without error once the socket is destroyed.
    pending?.();
  }

  /** Received data the application has not read: in the stream, waiting for the flush, or held by the paused engine. */
  #hasUnread(): boolean {
    if (this.readableLength > 0 || this.#rx.waiting) return true;
    if (!this.#rxPaused || this.#gone) return false;
    return (this.#ctx.engine.l4Info(this.flow)?.recvQueue ?? 0) > 0;
  }

  #dropReceived(): void {
    this.#rx.clear();
  }

  #reset(): void {
    this.#aborting = true;
    const ctx = this.#ctx;
    // l4Rx(flow, null) comes from inside this call; its flush only forgets the flow.
    ctx.engine.l4Abort(ctx.callbacks, this.flow);
    ctx.wake();
  }

  // ---------------------------------------------------------------- the inactivity timer

  readonly #onTimeout = (): void => {
    this.emit("timeout");
  };

  #touch(): void {
    this.#timer?.refresh();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
