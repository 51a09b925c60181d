/**
 * How a flow leaves the proxy: an `Upstream` dials TCP connections and opens UDP channels to a
 * destination (an IP address or, for fake-IP flows, a name), directly or through a SOCKS5 or HTTP
 * CONNECT proxy. The relays (tcp-relay.ts, udp-relay.ts) do not know which: they get a connected
 * node:net Socket, or a channel that carries datagrams, or a failure reason.
 *
 * A failure reason is a short text without per-flow detail ("socks5://10.0.0.1:1080: authentication
 * failed"): the failure log (failure-log.ts) prints one line per distinct reason.
 */
import { Socket, type SocketConstructorOpts } from "node:net";
import type { Endpoint, Upstream as UpstreamUrl } from "./options.js";
import { upstreamName } from "./options.js";

/**
 * The upstream connection as the relay drives it: node:net's Socket has this shape, and so has
 * native-tcp.ts's NativeSocket (the addon's socket, direct:// only). write()'s `done` is called once
 * the kernel has every byte; false: the rest waits, and 'drain' (UpstreamEvents.upstreamDrained)
 * follows when it went.
 */
export interface UpstreamConnection {
  readonly destroyed: boolean;
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
  write(data: Uint8Array, done: () => void): boolean;
  /** Our FIN after what waits. */
  end(): void;
  destroy(): void;
  /** Closed with a RST. */
  resetAndDestroy(): void;
  pause(): void;
  resume(): void;
  isPaused(): boolean;
  setTimeout(ms: number, onTimeout: () => void): void;
}

/**
 * What a connection tells its relay: the node:net listeners (tcp-relay.ts) call these, and a
 * NativeSocket calls them directly. upstreamRead's bytes are buffer[offset, offset + bytes), valid
 * only during the call.
 */
export interface UpstreamEvents {
  upstreamRead(buffer: Uint8Array, offset: number, bytes: number): boolean;
  /** The writes that waited went. */
  upstreamDrained(): void;
  /** The upstream's FIN. */
  upstreamEnd(): void;
  /** Reset by the far side, EPIPE: the connection is gone. */
  upstreamBroke(): void;
}

export interface TcpSink {
  /** The upstream connection now carries the flow; `head`: bytes the handshake read past its end. */
  upstreamConnected(socket: UpstreamConnection, head: Buffer | undefined): void;
  upstreamFailed(reason: string): void;
  /**
   * Where the dialer has the socket read into (onread), instead of 'data' events with a new buffer
   * per read: direct from the start; SOCKS5 too, handing the handshake's reads to its library as
   * copies until it is done. HTTP CONNECT (node:http makes the socket's reads its own) ignores it.
   */
  readonly reads?: BorrowedReads;
  /**
   * The socket a dialer is about to connect for this sink, before it reads or fails: a sink whose
   * `reads` callback is shared by every sink finds itself from the socket (`this` in the callback).
   */
  adopt?(socket: Socket): void;
  /** A sink that takes a connection's events directly (the relay) may get a native connection (native-tcp.ts). */
  readonly upstreamEvents?: UpstreamEvents;
}

/**
 * node:net's `onread`: every read of the socket goes into `buffer`, and `callback(bytes, buffer)`
 * gets the bytes (valid only during the call: the next read of any socket sharing the buffer
 * overwrites them), with `this` the socket. No buffer, no stream chunk, no 'data' event per read.
 */
export interface BorrowedReads {
  readonly buffer: Uint8Array;
  readonly callback: (bytes: number, buffer: Uint8Array) => boolean;
}

/** A dial in progress: cancel() gives up on it (the flow went away), and no sink method follows. */
export interface Dial {
  cancel(): void;
}

export interface TcpDialer {
  dial(target: Endpoint, sink: TcpSink): Dial;
}

export interface UdpSink {
  /** Datagrams can go now (the ones sent before were queued or dropped by the channel). */
  upstreamReady(): void;
  /** A datagram from the destination; the view is valid only during the call. */
  upstreamDatagram(data: Uint8Array): void;
  upstreamFailed(reason: string): void;
  /** `count` datagrams sent earlier were dropped after all (the socket's send buffer was full). */
  upstreamDropped?(count: number): void;
}

export interface UdpChannel {
  /** Sends (copies) one datagram; false: dropped (not ready and the queue is full, or too big). */
  send(data: Uint8Array): boolean;
  /** Closes the channel; no sink method follows. */
  close(): void;
}

export interface UdpDialer {
  /** A channel to `target`; `family` is the flow's, for a target that is a name. */
  open(target: Endpoint, family: 4 | 6, sink: UdpSink): UdpChannel;
}

/** A SOCKS5 or HTTP proxy server as its dialer needs it. */
export interface ProxyServerAddress {
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** "socks5://user@host:port": prefixes every failure reason. */
  readonly name: string;
  /** The connection and the handshake together. */
  readonly timeoutMs: number;
}

export interface Upstream {
  /** As logs and /flows show it: "direct", "socks5://user@10.0.0.1:1080". */
  readonly name: string;
  readonly url: UpstreamUrl;
  readonly tcp: TcpDialer;
  /** undefined: this upstream cannot carry UDP (HTTP CONNECT). */
  readonly udp: UdpDialer | undefined;
}

/**
 * The writable buffer of an upstream socket before write() says "full" and the relay pauses its flow.
 * node's default (16 KiB) is less than one turn's staged data at speed, so every write would pause and
 * resume the flow; the bytes queued are views of staging blocks, not copies.
 */
export const UPSTREAM_WRITE_HIGH_WATER = 512 * 1024;

/**
 * A socket for an upstream connection: half-open capable (the relay passes each side's FIN on), no
 * Nagle, UPSTREAM_WRITE_HIGH_WATER (net.Socket hands its options to stream.Duplex; @types/node does
 * not list the stream options); with `reads`, read into that buffer (onread) rather than by 'data'.
 */
export function upstreamSocket(reads?: BorrowedReads): Socket {
  const options = { allowHalfOpen: true, writableHighWaterMark: UPSTREAM_WRITE_HIGH_WATER, onread: reads };
  const socket = new Socket(options as SocketConstructorOpts);
  socket.setNoDelay(true);
  return socket;
}

/** Datagrams a channel keeps while it is not ready yet; beyond, dropped (UDP may drop). */
export const UDP_EARLY_DATAGRAMS = 64;

const ERROR_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRNOTAVAIL: "address not available",
  ENOTFOUND: "name not found",
  EAI_AGAIN: "name lookup failed (try again)",
  EPIPE: "connection closed",
  ECONNABORTED: "connection aborted",
};

/** A node error as a short reason: "connection refused", "name not found", or its message. */
export function describeError(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === "string" ? e.code : /\b(E[A-Z0-9_]{3,})\b/.exec(String(e?.message ?? ""))?.[1];
  if (code !== undefined && ERROR_TEXT[code] !== undefined) return ERROR_TEXT[code]!;
  if (code !== undefined) return code;
  return String(e?.message ?? error);
}

/** "timed out after 10 s" */
export function timeoutReason(ms: number): string {
  return `timed out after ${ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`}`;
}

/** host:port, [v6]:port */
export function endpointText(target: Endpoint): string {
  return target.host.includes(":") ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

export { upstreamName };
