/**
 * The connection states of RFC 9293 §3.3.2 and what each allows. One definition each, used by the
 * state machine and the engine alike.
 */
import type { TcpState } from "../api.js";

/**
 * RFC 9293 §3.3.2's synchronized states: the handshake is done (ESTABLISHED and every later state).
 * l3Rx reports a TCP flow from here on.
 */
export function isSynchronized(s: TcpState): boolean {
  return s !== "SYN-SENT" && s !== "SYN-RECEIVED" && s !== "CLOSED";
}
