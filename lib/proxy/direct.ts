/**
 * direct://: each flow is dialled from this host to its destination with node:net / node:dgram. A
 * destination that is a name (a fake-IP flow) is resolved by the host's resolver (dns.lookup).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { constants } from "node:os";
import { getSystemErrorName } from "node:util";
import type { Socket } from "node:net";
import type { Endpoint } from "./options.js";
import {
  describeError,
  timeoutReason,
  UDP_EARLY_DATAGRAMS,
  upstreamSocket,
  type Dial,
  type TcpDialer,
  type TcpSink,
  type UdpChannel,
  type UdpDialer,
  type UdpSink,
} from "./upstream.js";
import { sharedUdpBatch, type BatchSender, type UdpSendBatch } from "../tun/udp-batch.js";
import { NativeUdpSocket, sharedNativeUdp, type NativeUdp, type UdpSocketOwner } from "../tun/udp-socket.js";

const { EAGAIN, ENOBUFS } = constants.errno;

/**
 * A node:net connection to `target` (any host:port), reported to `sink`, read into `sink.reads` when
 * it has them; `what` prefixes reasons.
 */
export function dialSocket(target: Endpoint, timeoutMs: number, what: string, sink: TcpSink): Dial & { readonly socket: Socket } {
  return new SocketDial(target, timeoutMs, what, sink);
}

/** The dial's own listeners find it through the socket: no closure per connection. */
const DIAL = Symbol("l3l4.dial");
type DialSocket = Socket & { [DIAL]?: SocketDial };

function onDialConnect(this: Socket): void {
  (this as DialSocket)[DIAL]?.connected();
}
function onDialError(this: Socket, error: Error): void {
  (this as DialSocket)[DIAL]?.failed(error);
}
function onDialTimeout(dial: SocketDial): void {
  dial.timedOut();
}

class SocketDial implements Dial {
  readonly socket: Socket;
  private settled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    target: Endpoint,
    private readonly timeoutMs: number,
    private readonly what: string,
    private readonly sink: TcpSink,
  ) {
    const socket = upstreamSocket(sink.reads);
    this.socket = socket;
    sink.adopt?.(socket);
    (socket as DialSocket)[DIAL] = this;
    socket.on("error", onDialError);
    socket.on("connect", onDialConnect);
    socket.connect(target.port, target.host);
    this.timer = setTimeout(onDialTimeout, timeoutMs, this);
  }

  /** Settle once: stop the timer and hand the socket's events over to the sink. */
  private settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    const socket = this.socket;
    (socket as DialSocket)[DIAL] = undefined;
    socket.off("error", onDialError);
    socket.off("connect", onDialConnect);
  }

  connected(): void {
    if (this.settled) return;
    this.settle();
    this.sink.upstreamConnected(this.socket, undefined);
  }

  failed(error: Error): void {
    if (this.settled) return;
    this.settle();
    // An error after this one (none is expected) must not go unhandled.
    this.socket.on("error", ignoreError);
    this.sink.upstreamFailed(`${this.what}: ${describeError(error)}`);
  }

  timedOut(): void {
    if (this.settled) return;
    this.settle();
    this.socket.on("error", ignoreError);
    this.socket.destroy();
    this.sink.upstreamFailed(`${this.what}: connect ${timeoutReason(this.timeoutMs)}`);
  }

  cancel(): void {
    if (this.settled) return;
    this.settle();
    this.socket.on("error", ignoreError);
    this.socket.destroy();
  }
}

function ignoreError(): void {}

export class DirectTcp implements TcpDialer {
  constructor(private readonly timeoutMs: number) {}

  dial(target: Endpoint, sink: TcpSink): Dial {
    return dialSocket(target, this.timeoutMs, "direct", sink);
  }
}

/**
 * A node:dgram socket connected to the destination. Where the addon is there (tun/udp-batch.ts), the
 * socket is the addon's, wrapped by dgram, and datagrams go up in the turn's batch (sendmmsg) rather
 * than a dgram send() each; dgram still receives, connects, reports errors and closes.
 */
class DirectChannel implements UdpChannel, BatchSender {
  private readonly socket: UdpSocket;
  private early: Buffer[] | undefined = [];
  private closed = false;
  /** The batch and the socket's descriptor in it, once connected; undefined: dgram's send(). */
  private batch: UdpSendBatch | undefined;
  private fd = -1;
  batched = 0;

  constructor(
    target: Endpoint,
    family: 4 | 6,
    private readonly sink: UdpSink,
    batch: UdpSendBatch | undefined,
  ) {
    const type = family === 6 ? "udp6" : "udp4";
    let socket = createSocket(type);
    let fd = -1;
    if (batch !== undefined) {
      try {
        fd = batch.openSocket(family);
        socket.bind({ fd });
      } catch {
        // No descriptor to spare (EMFILE): dgram makes its own, and its error says why. A descriptor
        // dgram refused is still ours: closed here, or it would leak; and a dgram socket whose
        // bind threw stays "binding" for ever (its connect never completes): a fresh one.
        if (fd >= 0) {
          batch.closeSocket(fd);
          socket.close();
          socket = createSocket(type);
        }
        fd = -1;
      }
    }
    this.socket = socket;
    socket.on("connect", () => {
      const early = this.early ?? [];
      this.early = undefined;
      if (this.closed) return;
      if (fd >= 0) {
        this.batch = batch;
        this.fd = fd;
      }
      for (const datagram of early) this.send(datagram);
      sink.upstreamReady();
    });
    socket.on("message", (message: Buffer) => {
      if (!this.closed) sink.upstreamDatagram(message);
    });
    socket.on("error", (error: Error) => {
      if (this.closed) return;
      this.close();
      sink.upstreamFailed(`direct: udp ${describeError(error)}`);
    });
    socket.connect(target.port, target.host);
  }

  send(data: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.batch !== undefined && this.batch.queue(this, this.fd, data)) return true;
    // dgram keeps the buffer until the datagram is sent: a copy of the borrowed view.
    if (this.early !== undefined) {
      if (this.early.length >= UDP_EARLY_DATAGRAMS) return false;
      this.early.push(Buffer.from(data));
      return true;
    }
    this.socket.send(Buffer.from(data));
    return true;
  }

  /**
   * The batch's report: the kernel refused `count` datagrams. A full send buffer drops them (counted
   * by the sink); any other error (ECONNREFUSED after an ICMP error from the destination) fails the
   * channel, as the same error from dgram would.
   */
  datagramsDropped(count: number, errno: number): void {
    if (this.closed) return;
    this.sink.upstreamDropped?.(count);
    if (errno === EAGAIN || errno === ENOBUFS) return;
    this.close();
    this.sink.upstreamFailed(`direct: udp ${describeError({ code: getSystemErrorName(-errno) })}`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // What this channel queued goes before dgram closes the descriptor (udp-batch.ts).
    this.batch?.flushFor(this);
    this.socket.close();
  }
}

/** A sink that takes a run of datagrams of one size in one call (UdpRelay: one l4TxDatagrams). */
export interface UdpRunSink extends UdpSink {
  /** Datagrams of `segment` bytes (the last may be shorter), in order; the view is valid only during the call. */
  upstreamDatagramRun(data: Uint8Array, segment: number): void;
}

/**
 * The addon's own connected socket (tun/udp-socket.ts): datagrams up in the turn's batch, down by
 * recvmmsg (with UDP GRO), no node:dgram.
 */
class NativeChannel implements UdpChannel, UdpSocketOwner {
  private early: Uint8Array[] | undefined = [];
  private closed = false;
  private readonly socket: NativeUdpSocket;

  constructor(target: Endpoint, family: 4 | 6, private readonly sink: UdpSink, native: NativeUdp) {
    this.socket = new NativeUdpSocket(native.addon, native.batch, family, this);
    this.socket.connect(target.host, target.port);
  }

  send(data: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.early === undefined) return this.socket.send(data);
    if (this.early.length >= UDP_EARLY_DATAGRAMS) return false;
    this.early.push(data.slice()); // the engine's view is borrowed
    return true;
  }

  connected(): void {
    const early = this.early ?? [];
    this.early = undefined;
    if (this.closed) return;
    for (const datagram of early) if (!this.socket.send(datagram)) this.sink.upstreamDropped?.(1);
    this.sink.upstreamReady();
  }

  datagram(data: Uint8Array): void {
    if (!this.closed) this.sink.upstreamDatagram(data);
  }

  datagramRun(data: Uint8Array, segment: number): void {
    if (this.closed) return;
    const sink = this.sink as Partial<UdpRunSink>;
    if (sink.upstreamDatagramRun !== undefined) {
      sink.upstreamDatagramRun(data, segment);
      return;
    }
    for (let at = 0; at < data.length && !this.closed; at += segment) this.sink.upstreamDatagram(data.subarray(at, at + segment));
  }

  /** Refused by the kernel (a full send buffer drops; another errno fails the channel, as DirectChannel), or received unusable. */
  dropped(count: number, errno: number): void {
    if (this.closed) return;
    this.sink.upstreamDropped?.(count);
    if (errno === 0 || errno === EAGAIN || errno === ENOBUFS) return;
    this.failed({ code: getSystemErrorName(-errno), message: "" });
  }

  failed(error: { code: string; message: string }): void {
    if (this.closed) return;
    this.close();
    this.sink.upstreamFailed(`direct: udp ${describeError(error)}`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

export class DirectUdp implements UdpDialer {
  /**
   * `batch`: the process's (sharedUdpBatch) unless given, null: node:dgram alone; either given, the
   * channel is dgram's. `native`: the addon's own sockets (sharedNativeUdp) unless given; null: none.
   */
  constructor(
    private readonly batch?: UdpSendBatch | null,
    private readonly native?: NativeUdp | null,
  ) {}

  open(target: Endpoint, family: 4 | 6, sink: UdpSink): UdpChannel {
    const native = this.native === undefined ? (this.batch === undefined ? sharedNativeUdp() : undefined) : (this.native ?? undefined);
    if (native !== undefined) {
      try {
        return new NativeChannel(target, family, sink, native);
      } catch {
        // no descriptor to spare (EMFILE): dgram's, whose error says why
      }
    }
    const batch = this.batch === undefined ? sharedUdpBatch() : (this.batch ?? undefined);
    return new DirectChannel(target, family, sink, batch);
  }
}
