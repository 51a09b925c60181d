/**
 * Engine counters. Incremented in place on the hot path (plain number fields, no allocation);
 * `snapshot()` copies them into a fresh object for `L3L4.stats()`.
 */
import { ReceiveBudget } from "./tcp/receive-budget.js";
import { MemoryBudget, type MemoryKindName } from "./memory.js";
import { dropReasonName } from "./wire/drop.js";

/**
 * Drops the engine decides on above the parsers (lib/wire/drop.ts holds the parser reasons, 0..31,
 * BAD_ADDRESS among them, which the engine's address checks use too). Numbered from 32 so both share
 * one counter array; each has its own name in stats().drops.
 */
export const EngineDrop = {
  /** No flow for the segment and it was a RST (RFC 9293 §3.10.7.1: never answer a RST). */
  NO_FLOW_RST: 32,
  /** TCP segment for no flow, answered with RST. */
  NO_FLOW: 33,
  /** Refused by l4Accept. */
  REFUSED: 34,
  /** Outside the receive window (answered with an ACK, RFC 9293 §3.10.7.4 first check). */
  OUT_OF_WINDOW: 35,
  /** PAWS: timestamp older than TS.Recent (RFC 7323 §5.3). */
  PAWS: 36,
  /** Unacceptable ACK (acks something not yet sent, RFC 9293 §3.10.7.4 fifth check). */
  BAD_ACK: 37,
  /** RST that failed RFC 5961 §3 validation (answered with a challenge ACK when in window). */
  RST_INVALID: 38,
  /** SYN on a synchronized connection (RFC 5961 §4: challenge ACK). */
  SYN_IN_WINDOW: 39,
  /** Reassembly queue full: too many out-of-order ranges. */
  REASSEMBLY_FULL: 40,
  /** The flow table is at its limit. */
  FLOW_LIMIT: 41,
  /** IP fragment could not be reassembled (overlap, too many, timeout, too large). */
  FRAGMENT_INVALID: 42,
  /** ICMP message we do not act on (an error about an error, an unknown type, a reply nobody asked for). */
  ICMP_IGNORED: 43,
  /** No transmit buffer was available from l3TxBuffer for a reply that is not retried (RST, ICMP, ACK). */
  NO_TX_BUFFER: 44,
  /** UDP datagram for a flow whose receive was paused and whose queue is full. */
  UDP_QUEUE_FULL: 45,
  /** Segment that carried data or FIN after the receive side was closed. */
  DATA_AFTER_CLOSE: 46,
  /** The packet would open a flow whose 5-tuple l4Accept itself opened meanwhile (with l4Connect). */
  FLOW_EXISTS: 47,
  /** l3Rx from inside a callback while MAX_DEFERRED_PACKETS such packets already wait (core.ts). */
  REENTRANT_QUEUE_FULL: 48,
  /** A new flow from a source that has maxFlowsPerSource flows already (answered with RST or ICMP). */
  SOURCE_FLOW_LIMIT: 49,
  /** A SYN past the SYN backlog that found no token in the SYN budget (synCookieRate): dropped unanswered. */
  SYN_BUDGET: 50,
  /** A segment without ACK on a synchronized connection (RFC 9293 §3.10.7.4 fifth: "If the ACK bit is off, drop the segment"). */
  NO_ACK: 51,
} as const;

const ENGINE_DROP_NAMES: string[] = [];
for (const [k, v] of Object.entries(EngineDrop)) ENGINE_DROP_NAMES[v] = k.toLowerCase();

const DROP_SLOTS = 64;

function anyDropName(reason: number): string {
  return reason >= 32 ? (ENGINE_DROP_NAMES[reason] ?? `unknown_${reason}`) : dropReasonName(reason);
}

/** What `L3L4.stats()` returns. */
export interface EngineStats {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** Packets dropped, by reason name (only reasons that happened appear). */
  drops: Record<string, number>;
  /** All drops together. */
  dropped: number;
  tcpFlowsOpened: number;
  tcpFlowsClosed: number;
  udpFlowsOpened: number;
  udpFlowsClosed: number;
  tcpSegmentsIn: number;
  /** TCP segments sent, each piece of a super-segment counted (what the wire carries). */
  tcpSegmentsOut: number;
  /** Super-segments handed to l3Tx (txSuperSegments): IP packets of more than one MSS for the device to cut. */
  tcpSuperSegmentsOut: number;
  tcpRetransmits: number;
  tcpFastRetransmits: number;
  tcpRtoTimeouts: number;
  tcpResetsSent: number;
  tcpResetsReceived: number;
  tcpChallengeAcks: number;
  tcpDupAcksSent: number;
  tcpOutOfOrderSegments: number;
  tcpTimeWait: number;
  /** TIME-WAIT records reused past maxTimeWait (the oldest gives way; Linux counts TCPTimeWaitOverflow). */
  tcpTimeWaitOverflow: number;
  tcpKeepAlivesSent: number;
  tcpZeroWindowProbes: number;
  tcpAborts: number;
  tcpIdleTimeouts: number;
  /** SYNs that would open a connection (no ACK, no flow), whatever became of them. */
  tcpSynsReceived: number;
  /** SYN-ACKs carrying a SYN cookie (RFC 4987 §3.6): the SYN backlog was full. */
  tcpSynCookiesSent: number;
  /** ACKs that carried a valid SYN cookie back: each rebuilt a connection (unless l4Accept refused it). */
  tcpSynCookiesValidated: number;
  /** ACKs for no flow, while cookies were in use, that carried no valid cookie: answered with RST. */
  tcpSynCookiesRejected: number;
  /**
   * SYNs past the SYN backlog dropped unanswered, before any cookie was made, because the SYN budget
   * (synCookieRate; tcp/syn-budget.ts) had no token: the peer retransmits. Also in drops.syn_budget.
   */
  tcpSynsOverBudget: number;
  /** Passive opens in SYN-RECEIVED now: what synBacklog bounds. */
  tcpHalfOpen: number;
  udpDatagramsIn: number;
  udpDatagramsOut: number;
  icmpEchoReplies: number;
  icmpErrorsSent: number;
  icmpErrorsReceived: number;
  fragmentsIn: number;
  fragmentsOut: number;
  reassembled: number;
  txBufferUnavailable: number;
  /** Flows alive now (TCP, UDP). TIME-WAIT records are not flows. */
  flows: number;
  /** Bytes charged to the memory budget now, by kind (lib/memory.ts); maxMemory bounds their sum. */
  memory: Record<MemoryKindName, number>;
  /** All of `memory` together. */
  memoryInUse: number;
  /** maxMemory (Infinity: unbounded). */
  memoryLimit: number;
  /** New flows refused for memory (TCP SYN answered with RST, UDP with ICMP port unreachable). */
  memoryRefusedFlows: number;
  /**
   * Out-of-order TCP segments dropped for memory, or past their flow's share of the budget (an eighth;
   * the window was kept; RFC 2018 reneging avoided).
   */
  memoryDroppedOutOfOrder: number;
  /** In-order TCP segments dropped for memory (delivery paused and no storage left): the peer retransmits. */
  memoryDroppedInOrder: number;
  /** IP fragments dropped for memory, or past the per-source share. */
  memoryDroppedFragments: number;
  /** UDP datagrams dropped for memory on a paused flow. */
  memoryDroppedDatagrams: number;
  /**
   * SYNs answered with a SYN cookie, not a half-open record, for memory: the SYN backlog had room,
   * but the budget was at its first step (SHRINK, half the limit) or the record would not fit.
   */
  memorySynCookies: number;
  /** Application writes (l4Tx) cut short because the send buffer could not grow under the budget. */
  memorySendLimited: number;
  /** New flows refused because their source had maxFlowsPerSource flows (TCP RST, UDP ICMP port unreachable). */
  flowsRefusedPerSource: number;
  /** Sources with flows counted against maxFlowsPerSource now (0 when it is off). */
  flowSources: number;
  /** Receive window advertised and not yet received, all TCP connections (as last measured; 0 without receiveBudget). */
  receiveWindowPromised: number;
  /** receiveBudget (Infinity: unbounded). */
  receiveBudget: number;
  /** Windows the receive budget offered smaller than the free buffer. */
  receiveBudgetLimited: number;
}

export class Counters {
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  bytesOut = 0;
  readonly drops = new Float64Array(DROP_SLOTS);
  tcpFlowsOpened = 0;
  tcpFlowsClosed = 0;
  udpFlowsOpened = 0;
  udpFlowsClosed = 0;
  tcpSegmentsIn = 0;
  tcpSegmentsOut = 0;
  tcpSuperSegmentsOut = 0;
  tcpRetransmits = 0;
  tcpFastRetransmits = 0;
  tcpRtoTimeouts = 0;
  tcpResetsSent = 0;
  tcpResetsReceived = 0;
  tcpChallengeAcks = 0;
  tcpDupAcksSent = 0;
  tcpOutOfOrderSegments = 0;
  tcpTimeWait = 0;
  tcpTimeWaitOverflow = 0;
  tcpKeepAlivesSent = 0;
  tcpZeroWindowProbes = 0;
  tcpAborts = 0;
  tcpIdleTimeouts = 0;
  tcpSynsReceived = 0;
  tcpSynCookiesSent = 0;
  tcpSynCookiesValidated = 0;
  tcpSynCookiesRejected = 0;
  tcpSynsOverBudget = 0;
  /** A gauge, not a counter: passive opens in SYN-RECEIVED (tcp/syn-backlog.ts keeps it). */
  tcpHalfOpen = 0;
  udpDatagramsIn = 0;
  udpDatagramsOut = 0;
  icmpEchoReplies = 0;
  icmpErrorsSent = 0;
  icmpErrorsReceived = 0;
  fragmentsIn = 0;
  fragmentsOut = 0;
  reassembled = 0;
  txBufferUnavailable = 0;
  /** The engine's memory budget (core.ts sets it from maxMemory); everything that charges reaches it here. */
  memory = new MemoryBudget();
  memoryRefusedFlows = 0;
  memoryDroppedOutOfOrder = 0;
  memoryDroppedInOrder = 0;
  memoryDroppedFragments = 0;
  memoryDroppedDatagrams = 0;
  memorySynCookies = 0;
  memorySendLimited = 0;
  flowsRefusedPerSource = 0;
  /** The global receive budget (core.ts sets it from receiveBudget; tcp/receive-budget.ts). */
  receiveBudget = new ReceiveBudget();

  drop(reason: number): void {
    this.drops[reason] = this.drops[reason]! + 1;
  }

  snapshot(flows: number, flowSources: number): EngineStats {
    const drops: Record<string, number> = {};
    let dropped = 0;
    for (let i = 1; i < DROP_SLOTS; i++) {
      const n = this.drops[i]!;
      if (n > 0) {
        drops[anyDropName(i)] = n;
        dropped += n;
      }
    }
    return {
      packetsIn: this.packetsIn,
      bytesIn: this.bytesIn,
      packetsOut: this.packetsOut,
      bytesOut: this.bytesOut,
      drops,
      dropped,
      tcpFlowsOpened: this.tcpFlowsOpened,
      tcpFlowsClosed: this.tcpFlowsClosed,
      udpFlowsOpened: this.udpFlowsOpened,
      udpFlowsClosed: this.udpFlowsClosed,
      tcpSegmentsIn: this.tcpSegmentsIn,
      tcpSegmentsOut: this.tcpSegmentsOut,
      tcpSuperSegmentsOut: this.tcpSuperSegmentsOut,
      tcpRetransmits: this.tcpRetransmits,
      tcpFastRetransmits: this.tcpFastRetransmits,
      tcpRtoTimeouts: this.tcpRtoTimeouts,
      tcpResetsSent: this.tcpResetsSent,
      tcpResetsReceived: this.tcpResetsReceived,
      tcpChallengeAcks: this.tcpChallengeAcks,
      tcpDupAcksSent: this.tcpDupAcksSent,
      tcpOutOfOrderSegments: this.tcpOutOfOrderSegments,
      tcpTimeWait: this.tcpTimeWait,
      tcpTimeWaitOverflow: this.tcpTimeWaitOverflow,
      tcpKeepAlivesSent: this.tcpKeepAlivesSent,
      tcpZeroWindowProbes: this.tcpZeroWindowProbes,
      tcpAborts: this.tcpAborts,
      tcpIdleTimeouts: this.tcpIdleTimeouts,
      tcpSynsReceived: this.tcpSynsReceived,
      tcpSynCookiesSent: this.tcpSynCookiesSent,
      tcpSynCookiesValidated: this.tcpSynCookiesValidated,
      tcpSynCookiesRejected: this.tcpSynCookiesRejected,
      tcpSynsOverBudget: this.tcpSynsOverBudget,
      tcpHalfOpen: this.tcpHalfOpen,
      udpDatagramsIn: this.udpDatagramsIn,
      udpDatagramsOut: this.udpDatagramsOut,
      icmpEchoReplies: this.icmpEchoReplies,
      icmpErrorsSent: this.icmpErrorsSent,
      icmpErrorsReceived: this.icmpErrorsReceived,
      fragmentsIn: this.fragmentsIn,
      fragmentsOut: this.fragmentsOut,
      reassembled: this.reassembled,
      txBufferUnavailable: this.txBufferUnavailable,
      flows,
      memory: this.memory.snapshot(),
      memoryInUse: this.memory.total,
      memoryLimit: this.memory.limit,
      memoryRefusedFlows: this.memoryRefusedFlows,
      memoryDroppedOutOfOrder: this.memoryDroppedOutOfOrder,
      memoryDroppedInOrder: this.memoryDroppedInOrder,
      memoryDroppedFragments: this.memoryDroppedFragments,
      memoryDroppedDatagrams: this.memoryDroppedDatagrams,
      memorySynCookies: this.memorySynCookies,
      memorySendLimited: this.memorySendLimited,
      flowsRefusedPerSource: this.flowsRefusedPerSource,
      flowSources,
      receiveWindowPromised: this.receiveBudget.promised,
      receiveBudget: this.receiveBudget.limit,
      receiveBudgetLimited: this.receiveBudget.limited,
    };
  }
}
