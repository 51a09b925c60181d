/**
 * One TCP flow relayed to one upstream connection, with backpressure and half-close both ways. The
 * connection is a node:net Socket (SOCKS5, HTTP CONNECT, names, no addon) or the addon's own socket
 * (native-tcp.ts: direct:// to an IP address); the relay drives both through UpstreamConnection and
 * hears from both through UpstreamEvents (upstream.ts): node:net's through the listeners below, a
 * native one calling it directly.
 *
 * - Dialing: the upstream (direct, SOCKS5 CONNECT, HTTP CONNECT) is dialled when the engine accepts
 *   the SYN. What the client sends meanwhile is staged; once a full block waits, the flow is paused
 *   (l4PauseRx: the engine keeps the rest and its receive window closes) until the upstream is
 *   connected. A failure aborts the flow (RST to the client).
 * - Device -> upstream: the engine's data (a view valid only during l4Rx) is copied into a staging
 *   block from the shared pool (staging.ts) and written once per event-loop turn. When socket.write()
 *   says the socket's buffer is full, l4PauseRx stops the engine delivering until 'drain'.
 * - Upstream -> device: each chunk the socket reads goes to l4Tx; what the flow's send buffer does
 *   not take is kept and the socket paused (the kernel closes the upstream's window), and l4TxReady
 *   sends the rest and resumes the socket. A direct or SOCKS5 connection reads into one buffer shared
 *   by every relay (`reads`: node:net's onread), so a read allocates nothing; only what l4Tx does not
 *   take is copied out, into a staging block, until l4TxReady. What a handshake read past its end
 *   (`head`) goes first. HTTP CONNECT sockets (node:http made them) come with 'data' events, whose
 *   chunks are the relay's to keep. A short first read (HOLD_MAX_BYTES) waits one loop iteration
 *   (NextIteration), so that the upstream's FIN behind it goes to the client in the same segment.
 * - Half-close: the client's FIN (l4RemoteClosed) ends the socket's writing side after the staged
 *   data (close(2) instead of shutdown(2) when the upstream's FIN came first and the kernel has every
 *   byte); the upstream's FIN ('end') becomes l4LocalClose after what is queued for the flow.
 * - The end: a flow that goes away (l4Rx null: closed, reset, timed out) destroys its socket, with a
 *   RST unless both sides had finished (then the socket flushes and closes by itself).
 *
 * Nothing is allocated per chunk but the views socket.write() and l4Tx need. The socket's event
 * handlers (and its onread callback) are functions of this module, shared by every relay: each finds
 * its relay through the socket (`this` is the socket for an EventEmitter listener and for onread),
 * so a connection costs no closure per event; the one closure per relay is the write callback.
 */
import { Socket } from "node:net";
import type { Flow } from "../api.js";
import type { Endpoint } from "./options.js";
import type { RelayHost, RelayInfo } from "./relay-host.js";
import { BLOCK_BYTES, type StagingBlock } from "./staging.js";
import type { BorrowedReads, Dial, TcpDialer, TcpSink, UpstreamConnection, UpstreamEvents } from "./upstream.js";

/**
 * A first upstream read of at most this many bytes (a response, a banner) is held for one loop
 * iteration (RelayHost.holdLater): the upstream's FIN, if it follows, goes out with it.
 */
export const HOLD_MAX_BYTES = 16 * 1024;

/**
 * RelayHost.holdLater: each relay added is released (releaseHeld) in the check phase of the next
 * event-loop iteration, after that iteration's I/O poll. libuv stops reading a socket at a read that
 * did not fill the buffer, so the upstream's FIN behind a short answer is read one iteration after
 * the answer: released then, the answer and the FIN (l4Tx, then l4LocalClose) share one segment to
 * the client, whose FIN then acknowledges both (measured: 7 TUN packets per short connection
 * instead of 9.5).
 */
export class NextIteration {
  private added: { releaseHeld(): void }[] = [];
  private armed = false;

  add(relay: { releaseHeld(): void }): void {
    this.added.push(relay);
    if (this.armed) return;
    this.armed = true;
    setImmediate(ripen, this);
  }

  /** This iteration's check phase: what was added in it is released in the next one's. */
  ripen(): void {
    this.armed = false;
    const ripe = this.added;
    this.added = [];
    setImmediate(releaseAll, ripe);
  }
}

function ripen(held: NextIteration): void {
  held.ripen();
}

function releaseAll(relays: readonly { releaseHeld(): void }[]): void {
  for (const relay of relays) relay.releaseHeld();
}

/** A socket whose writes are not done after both sides finished gets this long before destroy. */
export const LINGER_MS = 30_000;

/**
 * What every direct and SOCKS5 upstream socket reads into (one read at a time: the bytes are handed
 * to l4Tx, or copied out, before the next read of any socket). A staging block holds a whole read.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(BLOCK_BYTES);

type Phase = "dialing" | "open" | "closing";

/** The relay a socket carries, for the shared handlers below. */
const RELAY = Symbol("l3l4.relay");
type RelaySocket = Socket & { [RELAY]?: TcpRelay };

function relayOf(socket: Socket): TcpRelay | undefined {
  return (socket as RelaySocket)[RELAY];
}

function onSocketData(this: Socket, chunk: Buffer): void {
  relayOf(this)?.upstreamData(chunk);
}
function onSocketRead(this: Socket, bytes: number, buffer: Uint8Array): boolean {
  const relay = relayOf(this);
  return relay === undefined ? false : relay.upstreamRead(buffer, 0, bytes);
}
function onSocketDrain(this: Socket): void {
  relayOf(this)?.upstreamDrained();
}
function onSocketEnd(this: Socket): void {
  relayOf(this)?.upstreamEnd();
}
function onSocketError(this: Socket): void {
  relayOf(this)?.upstreamBroke();
}
function onSocketClose(this: Socket): void {
  relayOf(this)?.upstreamClosed();
}

/**
 * TcpSink.reads of every relay: a direct or SOCKS5 socket reads into READ_BUFFER, and the callback
 * finds the relay through the socket (dialSocket and SocksHandshake have the relay adopt it before
 * its first read).
 */
const SHARED_READS: BorrowedReads = { buffer: READ_BUFFER, callback: onSocketRead };

export class TcpRelay implements TcpSink, UpstreamEvents, RelayInfo {
  readonly kind = "tcp";
  readonly startedAt = Date.now();
  bytesUp = 0;
  bytesDown = 0;
  phase: Phase = "dialing";
  flushQueued = false;
  socket: UpstreamConnection | undefined;

  private dial: Dial | undefined;
  /** Staging: block.bytes[start, used) is not written yet. */
  private block: StagingBlock | undefined;
  private start = 0;
  private used = 0;
  /** Full blocks staged before the upstream was connected, oldest first. */
  private waiting: StagingBlock[] | undefined;
  /** The block of every write not completed yet, oldest first (writes complete in order). */
  private readonly inflight: StagingBlock[] = [];
  /** We paused the flow: not connected yet, or socket.write() said its buffer is full. */
  private rxPaused = false;
  /** Upstream -> device bytes l4Tx did not take yet (the socket is paused meanwhile). */
  private toDevice: Uint8Array | undefined;
  /** The staging block toDevice lies in, when it was copied out of READ_BUFFER. */
  private toDeviceBlock: StagingBlock | undefined;
  /** The first upstream read, held for one loop iteration (HOLD_MAX_BYTES, NextIteration), in toDeviceBlock. */
  private held: Uint8Array | undefined;
  /** No upstream read yet: the first one may be held. */
  private firstRead = true;
  private remoteClosed = false;
  private upstreamEnded = false;
  private localClosed = false;
  private socketEnded = false;
  private gone = false;

  constructor(
    private readonly app: RelayHost,
    readonly flow: Flow,
    readonly target: Endpoint,
    /** The name, for a fake-IP flow. */
    readonly host: string | undefined,
    readonly upstream: string,
    dialer: TcpDialer,
  ) {
    this.dial = dialer.dial(target, this);
  }

  /** TcpSink.reads: a direct or SOCKS5 socket reads into the shared buffer (the latter after its handshake). */
  get reads(): BorrowedReads {
    return SHARED_READS;
  }

  /** TcpSink.upstreamEvents: a native connection (native-tcp.ts) reports to the relay itself. */
  get upstreamEvents(): UpstreamEvents {
    return this;
  }

  /** TcpSink.adopt: the socket being dialled belongs to this relay (before it can read or fail). */
  adopt(socket: Socket): void {
    (socket as RelaySocket)[RELAY] = this;
  }

  // ---------------------------------------------------------------- the upstream (TcpSink)

  upstreamConnected(socket: UpstreamConnection, head: Buffer | undefined): void {
    this.dial = undefined;
    if (this.gone) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    this.phase = "open";
    if (socket instanceof Socket) {
      // node:net: its events reach this relay through the shared listeners; a native connection calls it itself.
      this.adopt(socket);
      socket.on("data", onSocketData);
      socket.on("drain", onSocketDrain);
      socket.on("end", onSocketEnd);
      socket.on("error", onSocketError);
      socket.on("close", onSocketClose);
    }
    if (head !== undefined) this.fromUpstream(head, false);
    if (this.gone) return;
    // What the client sent while we dialled: write it, then let the engine deliver again.
    this.flush();
    if (this.remoteClosed) this.endSocket();
    if (this.rxPaused && socket.writableNeedDrain !== true) this.resumeFlow();
    this.app.schedule();
  }

  upstreamFailed(reason: string): void {
    this.dial = undefined;
    if (this.gone) return;
    this.app.failed(this, reason);
    this.app.engine.l4Abort(this.app.cb, this.flow); // RST to the client; l4Rx(flow, null) follows
    this.app.schedule();
  }

  // ---------------------------------------------------------------- the engine (via ProxyApp)

  /** l4Rx with data: stage it; written after this turn (or once connected). */
  received(data: Uint8Array): void {
    this.bytesUp += data.length;
    this.app.counters.bytesUp += data.length;
    this.stage(data);
    if (this.socket === undefined) {
      // Dialing: a first block of what the client sends (a request) is only staged. Pausing for it
      // would cost a window-update ACK on resume (the engine's delivery had taken the bytes already);
      // a full block waiting pauses the flow, so staging stays within a block and one delivery.
      if (this.waiting !== undefined) this.pauseFlow();
      return;
    }
    this.app.flushLater(this);
  }

  /** l4TxReady: send what l4Tx did not take before. */
  txReady(): void {
    const rest = this.toDevice;
    if (rest === undefined) return;
    this.toDevice = undefined;
    this.fromUpstream(rest, false);
    if (this.toDevice === undefined) this.releaseToDeviceBlock();
  }

  /** l4RemoteClosed: everything the client sent came before its FIN: write it, then FIN upstream. */
  clientFinished(): void {
    this.remoteClosed = true;
    if (this.socket === undefined) return; // ended once connected
    this.flush();
    this.endSocket();
  }

  /** l4Rx(flow, null): the flow is gone. */
  flowGone(): void {
    this.gone = true;
    this.phase = "closing";
    this.dial?.cancel();
    this.dial = undefined;
    const socket = this.socket;
    if (socket === undefined) {
      this.releaseBlocks();
      return;
    }
    if (this.socketEnded && this.upstreamEnded) {
      // Both finished: the socket flushes what it holds and closes by itself; a stuck one is destroyed.
      if (socket.writableLength > 0) socket.setTimeout(LINGER_MS, () => socket.destroy());
    } else if (!socket.destroyed) {
      socket.resetAndDestroy(); // reset, timeout or abort: the upstream learns with a RST
    }
    this.releaseBlocks();
  }

  /** Shutdown: destroy the socket at once. */
  destroy(): void {
    this.gone = true;
    this.dial?.cancel();
    this.dial = undefined;
    this.socket?.destroy();
  }

  // ---------------------------------------------------------------- device -> upstream

  private stage(data: Uint8Array): void {
    const pool = this.app.pool;
    for (let offset = 0; offset < data.length; ) {
      let block = this.block;
      if (block === undefined) {
        block = pool.acquire();
        this.block = block;
        this.start = 0;
        this.used = 0;
      }
      const n = Math.min(data.length - offset, block.bytes.length - this.used);
      block.bytes.set(offset === 0 && n === data.length ? data : data.subarray(offset, offset + n), this.used);
      this.used += n;
      offset += n;
      if (this.used === block.bytes.length) {
        // Full: write it now (or keep it for the connection), and stage into a fresh block. The block
        // is let go first: a write may complete at once (a native socket), and its block then goes back.
        this.block = undefined; // back to the pool when its writes complete (onWritten)
        if (this.socket === undefined) (this.waiting ??= []).push(block);
        else this.write(block, this.start, this.used);
      }
    }
  }

  /** Writes what is staged (ProxyApp calls this once per turn; the engine events call it before FIN). */
  flush(): void {
    this.flushQueued = false;
    if (this.socket === undefined || this.gone) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      for (const block of waiting) this.write(block, 0, block.bytes.length);
    }
    const block = this.block;
    if (block === undefined || this.used === this.start) return;
    const from = this.start;
    this.start = this.used; // first: a write completed at once (a native socket) lets an idle flow's block go
    this.write(block, from, this.used);
  }

  private write(block: StagingBlock, from: number, to: number): void {
    const socket = this.socket!;
    block.refs++;
    this.inflight.push(block);
    const ok = socket.write(block.bytes.subarray(from, to), this.onWritten);
    if (!ok) this.pauseFlow();
  }

  /** A write completed: its block may go back to the pool. */
  private readonly onWritten = (): void => {
    const block = this.inflight.shift();
    if (block === undefined) return;
    block.refs--;
    if (block.refs !== 0) return;
    if (block !== this.block) {
      this.app.pool.release(block);
    } else if (this.used === this.start) {
      // Nothing more staged: an idle flow holds no block.
      this.block = undefined;
      this.app.pool.release(block);
    }
  };

  private pauseFlow(): void {
    if (this.rxPaused || this.gone) return;
    this.rxPaused = true;
    if (this.socket !== undefined) this.app.counters.flowPauses++;
    this.app.engine.l4PauseRx(this.flow);
  }

  private resumeFlow(): void {
    if (!this.rxPaused || this.gone) return;
    this.rxPaused = false;
    this.app.engine.l4ResumeRx(this.app.cb, this.flow); // may deliver at once: received() runs again
  }

  /** 'drain': the socket took what it held; the engine may deliver again. */
  upstreamDrained(): void {
    if (this.gone || !this.rxPaused) return;
    this.resumeFlow();
    this.app.schedule();
  }

  private endSocket(): void {
    if (this.socketEnded) return;
    this.socketEnded = true;
    const socket = this.socket!;
    // The upstream has sent its FIN and every write has reached the kernel: close(2) sends our FIN as
    // shutdown(2) would, without the shutdown request (a syscall and a callback per connection).
    if (this.upstreamEnded && socket.writableLength === 0) socket.destroy();
    else socket.end();
  }

  // ---------------------------------------------------------------- upstream -> device

  /** 'data' (an HTTP CONNECT socket): the chunk is ours to keep. */
  upstreamData(chunk: Buffer): void {
    if (this.gone) return;
    this.fromUpstream(chunk, false);
    this.app.schedule();
  }

  /**
   * A read into a shared buffer, buffer[offset, offset + bytes) (READ_BUFFER for direct and SOCKS5
   * node:net sockets, the addon's pool for native ones): l4Tx copies it, and what it does not take is copied out.
   */
  upstreamRead(buffer: Uint8Array, offset: number, bytes: number): boolean {
    if (this.gone) return false;
    if (this.firstRead) {
      this.firstRead = false;
      if (bytes <= HOLD_MAX_BYTES) {
        const block = (this.toDeviceBlock ??= this.app.pool.acquire());
        block.bytes.set(buffer.subarray(offset, offset + bytes), 0);
        this.held = block.bytes.subarray(0, bytes);
        this.app.holdLater(this);
        return true;
      }
    }
    if (this.held !== undefined) {
      this.releaseHeld();
      if (this.toDevice !== undefined) {
        // The engine did not take all of the held bytes (the socket is paused now): this read waits behind them.
        this.toDevice = Buffer.concat([this.toDevice, buffer.subarray(offset, offset + bytes)]);
        this.releaseToDeviceBlock();
        return true;
      }
    }
    this.fromUpstream(buffer.subarray(offset, offset + bytes), true);
    this.app.schedule();
    return true;
  }

  /** The held first read goes to the flow now (the loop iteration after it was read, or a read after it). */
  releaseHeld(): void {
    const held = this.held;
    if (held === undefined) return;
    this.held = undefined;
    if (this.gone) return;
    this.fromUpstream(held, false);
    if (this.toDevice === undefined) this.releaseToDeviceBlock();
    this.app.schedule();
  }

  /**
   * l4Tx; what it does not take waits, with the socket paused, for l4TxReady. `borrowed`: the chunk
   * is READ_BUFFER's, so the rest is copied into a staging block; else the chunk is ours to keep
   * (node gives each 'data' event a buffer of its own).
   */
  private fromUpstream(chunk: Uint8Array, borrowed: boolean): void {
    const app = this.app;
    const taken = app.engine.l4Tx(app.cb, this.flow, chunk);
    if (taken === undefined) return; // the flow is gone; l4Rx(flow, null) destroys the socket
    this.bytesDown += taken;
    app.counters.bytesDown += taken;
    const socket = this.socket!;
    if (taken < chunk.length) {
      const rest = chunk.subarray(taken);
      if (borrowed) {
        const block = (this.toDeviceBlock ??= app.pool.acquire());
        block.bytes.set(rest, 0);
        this.toDevice = block.bytes.subarray(0, rest.length);
      } else {
        this.toDevice = rest;
      }
      if (!socket.isPaused()) {
        socket.pause();
        app.counters.socketPauses++;
      }
      return;
    }
    if (this.upstreamEnded) this.closeFlow();
    else if (socket.isPaused()) socket.resume();
  }

  private releaseToDeviceBlock(): void {
    const block = this.toDeviceBlock;
    if (block === undefined) return;
    this.toDeviceBlock = undefined;
    this.app.pool.release(block);
  }

  /** 'end': the upstream's FIN. */
  upstreamEnd(): void {
    this.upstreamEnded = true;
    if (this.gone) return;
    if (this.toDevice === undefined && this.held === undefined) this.closeFlow(); // else txReady() or releaseHeld() closes after the rest
    this.app.schedule();
  }

  private closeFlow(): void {
    if (this.localClosed) return;
    this.localClosed = true;
    this.phase = "closing";
    this.app.engine.l4LocalClose(this.app.cb, this.flow);
  }

  /** The open connection broke (reset by the far side, EPIPE): the client gets a RST, as from the server itself. */
  upstreamBroke(): void {
    if (this.gone) return;
    this.app.counters.upstreamResets++;
    this.app.engine.l4Abort(this.app.cb, this.flow);
    this.app.schedule();
  }

  /** 'close' without FIN or error (destroyed elsewhere): the flow cannot go on. */
  upstreamClosed(): void {
    if (this.gone || this.upstreamEnded) return;
    this.app.engine.l4Abort(this.app.cb, this.flow);
    this.app.schedule();
  }

  /** The flow is gone: blocks without writes in flight go back to the pool now, the rest on completion. */
  private releaseBlocks(): void {
    this.toDevice = undefined;
    this.held = undefined;
    this.releaseToDeviceBlock();
    const pool = this.app.pool;
    const block = this.block;
    this.block = undefined;
    this.start = this.used = 0;
    if (block !== undefined && block.refs === 0) pool.release(block);
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting !== undefined) for (const b of waiting) pool.release(b);
  }
}
