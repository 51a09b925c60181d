/**
 * A connection's timers, each an absolute time on the engine clock (Infinity: off), and the one
 * `deadline` the engine's timer heap sees (their minimum):
 *
 * - retransmission (RFC 6298 §5, RFC 5681 §3.1 after a timeout);
 * - persist: zero-window probes (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17);
 * - keep-alive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6), off by default;
 * - delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2);
 * - idle: the handshake's, the established connection's and the half-closed one's (config.ts);
 * - a retry when l3TxBuffer had no buffer.
 */
import type { TcpConnection } from "./connection.js";
import { CloseCause } from "./context.js";
import { finWaiting, output, sendAck, sendProbe, sendReset, sendSyn } from "./output.js";
import { retransmitFirst } from "./recovery.js";
import { finish, isHalfClosed, isSynchronized } from "./state.js";

/** Persist (zero-window probe) interval bounds: Linux TCP_RTO_MIN .. TCP_RTO_MAX. */
const PERSIST_MAX_MS = 120_000;

/** Run the timers that are due at `now`. */
export function onTimer(c: TcpConnection, now: number): void {
  if (c.state === "CLOSED") return;
  // Each expiry may end the connection: then the later ones have nothing left to do.
  if (c.idleAt <= now && idleExpired(c)) return;
  if (c.rtoAt <= now && rtoExpired(c, now)) return;
  if (c.persistAt <= now && persistExpired(c)) return;
  if (c.keepAliveAt <= now && keepAliveExpired(c, now)) return;
  if (c.txRetryAt <= now) {
    c.txRetryAt = Infinity;
    if (c.state === "SYN-RECEIVED" || c.state === "SYN-SENT") {
      if (c.sndNxt === c.iss) sendSyn(c);
    } else {
      output(c);
    }
  }
  if (c.delayedAckAt <= now) {
    c.delayedAckAt = Infinity;
    if (isSynchronized(c.state)) sendAck(c);
  }
  updateDeadline(c);
}

/** The idle timer; true if it ended the connection. */
function idleExpired(c: TcpConnection): boolean {
  c.idleAt = Infinity;
  switch (c.state) {
    case "SYN-SENT":
    case "SYN-RECEIVED":
      finish(c, CloseCause.HANDSHAKE_TIMEOUT);
      return true;
    case "ESTABLISHED":
      // tcpIdleTimeout: no data either way: close (FIN after the queued data; FIN-WAIT-1).
      c.ctx.counters.tcpIdleTimeouts++;
      c.close();
      return false;
    default:
      // tcpHalfOpenIdleTimeout: half-closed with no data: abort (the engine counts CloseCause.IDLE).
      sendReset(c);
      finish(c, CloseCause.IDLE);
      return true;
  }
}

/** RFC 6298 §5.4-5.7; true if the connection gave up. */
function rtoExpired(c: TcpConnection, now: number): boolean {
  const cfg = c.ctx.config;
  c.rtoAt = Infinity;
  c.ctx.counters.tcpRtoTimeouts++;
  c.retries++;
  if (c.state === "SYN-SENT" || c.state === "SYN-RECEIVED") {
    if (c.retries > cfg.tcpSynRetries) {
      finish(c, CloseCause.HANDSHAKE_TIMEOUT);
      return true;
    }
    c.rtt.backoff();
    c.sndNxt = c.iss;
    c.ctx.counters.tcpRetransmits++;
    c.retransmits++;
    sendSyn(c);
    return false;
  }
  if (c.sndUna === c.sndMax) return false; // nothing outstanding (a stale timer)
  if (c.retries > cfg.tcpMaxRetries) {
    sendReset(c);
    finish(c, CloseCause.TIMED_OUT);
    return true;
  }
  // §5.5 back off; RFC 5681 §3.1 eq. 4 ssthresh and a loss window of one segment.
  c.rtt.backoff();
  c.cc.onRto(c.flightSize(), now, c.retries > 1);
  c.inRecovery = false;
  c.dupAcks = 0;
  c.recover = c.sndMax;
  c.rttTiming = false;
  // RFC 6675 §5.1: the scoreboard may be kept, but data SACKed may be reneged (RFC 2018 §8): clear it.
  c.scoreboard?.clear();
  // Go back: retransmit from SND.UNA (§5.4), later segments follow as the window opens.
  c.sndNxt = c.sndUna;
  retransmitFirst(c);
  c.rtoAt = now + c.rtt.rto;
  return false;
}

/** Start the persist timer: the RTO, backed off per unanswered probe, up to PERSIST_MAX_MS. */
export function armPersist(c: TcpConnection): void {
  const base = Math.max(c.rtt.rto, c.ctx.config.tcpMinRtoMs);
  c.persistAt = c.ctx.now + Math.min(base * 2 ** c.persistBackoff, PERSIST_MAX_MS);
}

/**
 * RFC 9293 §3.8.6.1: probe a zero window (output.ts sendProbe) while data or a FIN waits for it;
 * true if the connection gave up.
 */
function persistExpired(c: TcpConnection): boolean {
  c.persistAt = Infinity;
  // Stryker disable next-line LogicalOperator: both operands are false whenever the timer expires (spec/mutate/equivalent-mutants.md)
  if (c.sndWnd > 0 || c.sndUna !== c.sndMax) return false;
  if (c.sendBuffer.length === 0 && !finWaiting(c)) return false;
  // RFC 1122 §4.2.2.17: a zero window MUST NOT close the connection "as long as the receiving TCP
  // continues to send acknowledgments in response to the probe segments". When the probes go
  // unanswered, give up as after unanswered retransmissions (Linux tcp_probe_timer: tcp_retries2).
  if (c.probesOut >= c.ctx.config.tcpMaxRetries) {
    sendReset(c);
    finish(c, CloseCause.TIMED_OUT);
    return true;
  }
  c.probesOut++;
  c.ctx.counters.tcpZeroWindowProbes++;
  sendProbe(c);
  c.persistBackoff = Math.min(c.persistBackoff + 1, 16);
  armPersist(c);
  return false;
}

/** RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6: keep-alive probe <SEQ=SND.NXT-1>, no data; true if it gave up. */
function keepAliveExpired(c: TcpConnection, now: number): boolean {
  const cfg = c.ctx.config;
  if (c.keepAliveProbes >= cfg.tcpKeepAliveProbes) {
    sendReset(c);
    finish(c, CloseCause.TIMED_OUT);
    return true;
  }
  c.keepAliveProbes++;
  c.ctx.counters.tcpKeepAlivesSent++;
  sendProbe(c);
  c.keepAliveAt = now + cfg.tcpKeepAliveIntervalMs;
  return false;
}

/** Recompute the one deadline the engine sees. */
export function updateDeadline(c: TcpConnection): void {
  if (c.state === "CLOSED") return;
  const cfg = c.ctx.config;
  // Idle timers follow the last data (or the moment the connection became half-closed).
  if (c.state === "ESTABLISHED") c.idleAt = c.lastDataAt + cfg.tcpIdleTimeoutMs;
  else if (isHalfClosed(c.state)) c.idleAt = c.lastDataAt + cfg.tcpHalfOpenIdleTimeoutMs;
  if (cfg.tcpKeepAliveMs > 0 && isSynchronized(c.state)) {
    if (c.keepAliveProbes === 0) c.keepAliveAt = c.lastRecvAt + cfg.tcpKeepAliveMs;
  } else {
    c.keepAliveAt = Infinity;
  }
  if (c.unackedSegments > 0 && c.delayedAckAt === Infinity) {
    c.delayedAckAt = c.ctx.now + cfg.tcpDelayedAckMs;
  }
  const d = Math.min(c.rtoAt, c.delayedAckAt, c.persistAt, c.keepAliveAt, c.txRetryAt, c.idleAt);
  if (d !== c.deadline) {
    c.deadline = d;
    c.ctx.reschedule(c);
  }
}
