/**
 * What a TCP connection needs from the engine that owns it, and the one record through which it asks
 * for a segment to be sent. The connection decides *what* to send (RFC 9293 state machine); the engine
 * decides *how* (tcp/writer.ts): it frames the segment in IP, copies the payload out of the send buffer
 * straight into the caller's transmit buffer, and checksums it. What the application is to hear goes
 * through the engine's event queue (events.ts).
 */
import type { CloseReason } from "../api.js";
import type { EngineConfig } from "../config.js";
import type { EventSink } from "../events.js";
import type { FlowRecord } from "../flow/flow.js";
import type { Counters } from "../stats.js";
import type { TcpOptions } from "../wire/tcp.js";
import type { TcpConnection } from "./connection.js";
import type { IsnGenerator } from "./isn.js";
import type { SendBuffer } from "./send-buffer.js";

/** One segment to send. The connection fills one scratch record and hands it to `transmit`. */
export interface TcpOutSegment {
  flags: number;
  seq: number;
  ack: number;
  /** The window field as sent (already shifted right by our window scale). */
  window: number;
  /** Options to send, or null for none. */
  options: TcpOptions | null;
  /** Where the payload starts in the connection's send buffer, counted from its front (SND.UNA). */
  payloadOffset: number;
  payloadLength: number;
  /**
   * Payload bytes per segment on the wire when payloadLength is more (a super-segment under
   * txSuperSegments: the device cuts it, tcp/writer.ts); 0: the segment goes as it is.
   */
  segmentSize: number;
}

export function tcpOutSegment(): TcpOutSegment {
  return { flags: 0, seq: 0, ack: 0, window: 0, options: null, payloadOffset: 0, payloadLength: 0, segmentSize: 0 };
}

/**
 * Why a connection ended: the engine counts it, records it on the flow (the public names are in
 * CLOSE_REASON_NAMES, for l4CloseReason) and, for TIME_WAIT, keeps a compact record.
 */
export const CloseCause = {
  /** Both FINs exchanged and acknowledged (LAST-ACK done, or CLOSING/FIN-WAIT to TIME-WAIT). */
  CLOSED: 0,
  /** We enter TIME-WAIT: the engine keeps a compact record for 2*MSL. */
  TIME_WAIT: 1,
  /** The peer reset the connection. */
  RESET_RECEIVED: 2,
  /** The application aborted (we sent RST). */
  ABORTED: 3,
  /** Retransmissions or keep-alive probes went unanswered. */
  TIMED_OUT: 4,
  /** Idle timeout. */
  IDLE: 5,
  /** Handshake never completed. */
  HANDSHAKE_TIMEOUT: 6,
  /** Our SYN was answered with RST. */
  REFUSED: 7,
  /** ICMP host unreachable (or prohibited, or time exceeded) during the handshake. */
  HOST_UNREACHABLE: 8,
  /** ICMP network unreachable during the handshake. */
  NET_UNREACHABLE: 9,
  /** ICMP port or protocol unreachable during the handshake. */
  PORT_UNREACHABLE: 10,
} as const;
export type CloseCause = (typeof CloseCause)[keyof typeof CloseCause];

/** The public name of each CloseCause (api.ts CloseReason), indexed by cause. */
export const CLOSE_REASON_NAMES: readonly CloseReason[] = [
  "closed",
  "closed",
  "reset",
  "aborted",
  "timeout",
  "idle",
  "handshake-timeout",
  "refused",
  "host-unreachable",
  "net-unreachable",
  "refused",
];

/** What sends segments for a flow: a connection or a TIME-WAIT record. */
export interface TcpEndpoint {
  readonly flow: FlowRecord;
  /** Where segment payloads are copied from (a TIME-WAIT record sends none). */
  readonly sendBuffer?: SendBuffer;
  /** Earliest time any of its timers is due; Infinity when none. */
  deadline: number;
  /** Position in the engine's timer heap (-1: not in it). Owned by the engine. */
  heapIndex: number;
}

/** The engine side of a connection. */
export interface TcpContext extends EventSink {
  readonly config: EngineConfig;
  readonly counters: Counters;
  readonly isn: IsnGenerator;
  /** The time of the API call in progress (ms): the clock is read once per call. */
  readonly now: number;
  /**
   * Frame and transmit one segment of `conn` (tcp/writer.ts), copying `seg.payloadLength` bytes from
   * `conn.sendBuffer` at `seg.payloadOffset`. Returns false when no transmit buffer was available
   * (l3TxBuffer returned undefined): nothing was sent, the caller retries later.
   */
  transmit(conn: TcpEndpoint, seg: TcpOutSegment): boolean;
  /** The `deadline` of a connection changed. */
  reschedule(item: TcpConnection): void;
  /**
   * The connection's empty send buffer could not take a page under the memory budget: l4TxReady is
   * queued for it once the budget has room for one (core.ts).
   */
  waitForMemory(conn: TcpConnection): void;
  /**
   * The application queued output on `conn` (l4Tx, l4LocalClose). True: it was called outside a turn
   * under tcpAutocork, and the engine flushes `conn` (TcpConnection.flushCorked) at the next l4Poll;
   * false: send now.
   */
  cork(conn: TcpConnection): boolean;
  /** The connection enters TIME-WAIT holding data for the application: its TIME-WAIT row is made (time-wait.ts). */
  timeWait(conn: TcpConnection): void;
  /**
   * The connection is finished: it leaves the flow table (a live connection closed with
   * CloseCause.TIME_WAIT leaves a TIME-WAIT record) or its TIME-WAIT record, and l4Rx(flow, null) is
   * queued, once.
   */
  closed(conn: TcpConnection, reason: CloseCause): void;
}
