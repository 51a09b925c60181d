/**
 * The contract between NetStack and its sockets (FlowSocket, FlowDatagram). Internal.
 *
 * Engine callbacks never run user code: inside them an endpoint only records what happened (a copy
 * of the data, "the peer sent FIN", "send space opened", "the flow is gone") and asks the stack to
 * flush it. The flush runs in process.nextTick, after the engine call and the driver's turn have
 * returned, and turns the records into stream events ('connect', 'data', 'end', 'drain', 'error',
 * 'close'). So a 'data' handler that throws, destroys its socket or writes to another cannot
 * unwind the engine half-way through a segment (the lesson of "callbacks in the middle of a step"),
 * and every event of one turn comes out in one batch.
 */
import type { Callbacks, EngineDriver, Flow } from "../api.js";
import type { L3L4 } from "../engine.js";

/** The handshake completed (or, for UDP, the first datagram came): announce the endpoint. */
export const kEstablished = Symbol("l3l4.established");
/** l4Rx: data (a view valid during the call) or null (the flow is gone). Inside an engine callback. */
export const kRx = Symbol("l3l4.rx");
/** l4TxReady. Inside an engine callback. */
export const kTxReady = Symbol("l3l4.txReady");
/** l4RemoteClosed. Inside an engine callback. */
export const kRemoteClosed = Symbol("l3l4.remoteClosed");
/** Turn what was recorded into events. Outside engine callbacks. */
export const kFlush = Symbol("l3l4.flush");

export interface FlowEndpoint {
  readonly flow: Flow;
  [kEstablished](): void;
  [kRx](data: Uint8Array | null): void;
  [kTxReady](): void;
  [kRemoteClosed](): void;
  [kFlush](): void;
}

/** Counters of a NetStack, for tests and monitoring. */
export interface NetStackStats {
  /** FlowSockets announced by 'connection', and opened by connect(). */
  tcpAccepted: number;
  tcpConnected: number;
  /** FlowDatagrams announced by 'udp', and opened by udp(). */
  udpAccepted: number;
  udpOpened: number;
  /** Flows refused (accept() said false, or nobody listens for the protocol). */
  refused: number;
  /** Times a flow's receive was paused because its reader stopped reading (l4PauseRx), and resumed. */
  rxPauses: number;
  rxResumes: number;
  /** Times l4Tx took less than a write offered: the writer waits for l4TxReady. */
  txBlocked: number;
  /** Bytes delivered to readers and taken by the engine from writers. */
  bytesRead: number;
  bytesWritten: number;
  /** Datagrams received and sent; sent datagrams the engine had no buffer for (dropped, as UDP may). */
  datagramsIn: number;
  datagramsOut: number;
  datagramsDropped: number;
  /** Resets sent for data arriving on a socket already destroyed (as Linux does for a closed socket). */
  resetsAfterClose: number;
  /** Sockets destroyed without unread data, whose close the engine finished on its own, or aborted at orphanTimeoutMs. */
  orphans: number;
  orphansAborted: number;
}

/** What an endpoint needs of its stack. */
export interface StackContext {
  readonly engine: L3L4<unknown>;
  /** The driver's callbacks (throws when the stack is not attached). */
  readonly callbacks: Callbacks<unknown>;
  readonly driver: EngineDriver<unknown> | undefined;
  readonly stats: NetStackStats;
  /** After engine calls made outside engine callbacks: ask the driver for a turn. */
  wake(): void;
  /** The endpoint recorded something: flush it (in process.nextTick, once per batch). */
  markDirty(endpoint: FlowEndpoint): void;
  /** The flow is gone: forget the endpoint. */
  unregister(endpoint: FlowEndpoint): void;
  /** A referenced endpoint came (+1) or went (-1): the driver keeps the process alive while any is. */
  refChanged(delta: number): void;
  /** destroy() left the flow to finish its close: abort it if it has not after orphanTimeoutMs. */
  orphaned(endpoint: FlowEndpoint): void;
  /** Emit on the NetStack ('connection', 'udp'). */
  announce(event: "connection" | "udp", endpoint: FlowEndpoint): void;
}
