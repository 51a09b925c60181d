/**
 * Why a flow ended, as the Node error a socket emits: the codes, errno numbers, syscall names and
 * message shapes net.Socket uses ("connect ECONNREFUSED 10.0.0.1:80", "read ECONNRESET"), so code
 * written against node:net (and node:http, node:tls, undici on top of it) handles them unchanged.
 *
 *   refused                      ECONNREFUSED  RST answering our SYN (RFC 9293 §3.10.7.3)
 *   reset                        ECONNRESET    RST on a synchronized connection (§3.10.7.4)
 *   timeout, handshake-timeout   ETIMEDOUT     retransmissions, keep-alive probes or the handshake gave up
 *   host-unreachable             EHOSTUNREACH  ICMP hard error that aborted the handshake (RFC 1122 §4.2.3.9)
 *   net-unreachable              ENETUNREACH   likewise
 *   closed, idle, aborted        no error      the flow ended without losing data the socket was told about
 */
import { constants } from "node:os";
import type { CloseReason } from "../api.js";

export type FlowErrorCode = "ECONNREFUSED" | "ECONNRESET" | "ETIMEDOUT" | "EHOSTUNREACH" | "ENETUNREACH" | "EPIPE";

/** A Node system error, as net.Socket emits one. */
export interface FlowError extends Error {
  code: FlowErrorCode;
  /** Negative errno, as libuv reports it (ECONNREFUSED: -111 on Linux). */
  errno: number;
  syscall: "connect" | "read" | "write" | "recv";
  address?: string;
  port?: number;
}

/** "connect ECONNREFUSED 10.0.0.1:80" when an address is given (as net does for connect), else "read ECONNRESET". */
export function flowError(code: FlowErrorCode, syscall: FlowError["syscall"], address?: string, port?: number): FlowError {
  const where = address === undefined ? "" : ` ${address}:${port}`;
  const error = new Error(`${syscall} ${code}${where}`) as FlowError;
  error.errno = -(constants.errno[code] ?? 0);
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) {
    error.address = address;
    error.port = port;
  }
  return error;
}

/**
 * The error for a flow that ended for `reason` while the socket still used it; undefined when it
 * ended without one. `connecting`: the handshake had not completed (errors then name connect and
 * the remote address, as net's do).
 */
export function closeReasonError(
  reason: CloseReason | undefined,
  connecting: boolean,
  remoteAddress: string,
  remotePort: number,
  protocol: "tcp" | "udp" = "tcp",
): FlowError | undefined {
  const at = (code: FlowErrorCode): FlowError =>
    connecting
      ? flowError(code, "connect", remoteAddress, remotePort)
      : flowError(code, protocol === "udp" ? "recv" : "read");
  switch (reason) {
    case "refused":
      return protocol === "udp" ? flowError("ECONNREFUSED", "recv") : flowError("ECONNREFUSED", "connect", remoteAddress, remotePort);
    case "reset":
      return connecting ? flowError("ECONNREFUSED", "connect", remoteAddress, remotePort) : at("ECONNRESET");
    case "timeout":
    case "handshake-timeout":
      return at("ETIMEDOUT");
    case "host-unreachable":
      return at("EHOSTUNREACH");
    case "net-unreachable":
      return at("ENETUNREACH");
    case "closed":
    case "idle":
    case "aborted":
    case undefined:
      return undefined;
  }
}
