/**
 * The connection states of RFC 9293 §3.3.2: what each allows, the one `setState` every transition
 * goes through (and which a debugger can trace), and the end of a connection.
 */
import type { Flow, TcpState } from "../api.js";
import type { TcpConnection } from "./connection.js";
import { CloseCause } from "./context.js";

/**
 * RFC 9293 §3.3.2's synchronized states: the handshake is done (ESTABLISHED and every later state).
 * l3Rx reports a TCP flow from here on.
 */
export function isSynchronized(s: TcpState): boolean {
  return s !== "SYN-SENT" && s !== "SYN-RECEIVED" && s !== "CLOSED";
}

/** States in which SEND queues data (RFC 9293 §3.10.2). */
export function canSend(s: TcpState): boolean {
  return s === "SYN-SENT" || s === "SYN-RECEIVED" || s === "ESTABLISHED" || s === "CLOSE-WAIT";
}

/**
 * States that take segment text (RFC 9293 §3.10.7.4 seventh step). In CLOSE-WAIT, CLOSING, LAST-ACK
 * and TIME-WAIT "this should not occur since a FIN has been received from the remote side. Ignore the
 * segment text."
 */
export function receivesText(s: TcpState): boolean {
  return s === "ESTABLISHED" || s === "FIN-WAIT-1" || s === "FIN-WAIT-2";
}

/** One side has sent its FIN (or both, not yet acknowledged): tcpHalfOpenIdleTimeout applies. */
export function isHalfClosed(s: TcpState): boolean {
  return s === "CLOSE-WAIT" || s === "FIN-WAIT-1" || s === "FIN-WAIT-2" || s === "CLOSING" || s === "LAST-ACK";
}

/** Told of every state change of every connection (debugging). */
export type TcpStateTrace = (flow: Flow, from: TcpState, to: TcpState) => void;

let trace: TcpStateTrace | null = null;

/** Trace every TCP state change from now on (null: stop). */
export function traceTcpStates(hook: TcpStateTrace | null): void {
  trace = hook;
}

/** The one way a connection changes state. */
export function setState(c: TcpConnection, s: TcpState): void {
  const from = c.state;
  c.state = s;
  if (trace !== null && from !== s) trace(c.flow, from, s);
}

/**
 * The connection is over: timers off, the engine told once (it swaps in a TIME-WAIT record or forgets
 * the flow, and queues l4Rx(flow, null)), buffers released.
 */
export function finish(c: TcpConnection, reason: CloseCause): void {
  c.rtoAt = c.delayedAckAt = c.persistAt = c.keepAliveAt = c.txRetryAt = c.idleAt = Infinity;
  c.deadline = Infinity;
  c.ctx.closed(c, reason);
  c.ctx.counters.receiveBudget.release(c);
  setState(c, "CLOSED");
  c.sendBuffer.clear();
  c.recvBuffer.clear();
}

/**
 * RFC 9293 §3.10.7.4: both FINs are exchanged and ours is acknowledged. The TIME-WAIT record
 * (time-wait.ts) takes the connection's place at once: its timers stop and what is left to send is
 * gone. The connection ends as soon as the application has taken what it received and heard
 * l4RemoteClosed: now, or from receive.ts fireDrain (on l4ResumeRx if it paused delivery).
 */
export function enterTimeWait(c: TcpConnection): void {
  setState(c, "TIME-WAIT");
  if (c.recvBuffer.readable === 0 && c.remoteClosedNotified) {
    finish(c, CloseCause.TIME_WAIT);
    return;
  }
  c.rtoAt = c.delayedAckAt = c.persistAt = c.keepAliveAt = c.txRetryAt = c.idleAt = Infinity;
  c.deadline = Infinity;
  c.sendBuffer.clear();
  c.ctx.timeWait(c);
}

/** The connection has ended (finish): a callback or a step may end it while its events are fired. */
export function hasEnded(c: TcpConnection): boolean {
  return c.state === "CLOSED";
}
