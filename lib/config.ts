/**
 * Engine settings and their defaults. Each default names where it comes from.
 * L3L4Builder validates and fills one of these; the engine and its flows read it.
 */

import { DEFAULT_SYN_COOKIE_RATE } from "./tcp/syn-budget.js";

export type CongestionControlName = "reno" | "cubic";

export interface EngineConfig {
  /** Largest IP packet handed to l3Tx. RFC 894 Ethernet: 1500. */
  mtu: number;
  /** Bytes buffered per TCP flow in each direction (send queue; receive window + reassembly). */
  tcpBufferSize: number;
  /** ESTABLISHED with no data either way for this long: close (FIN). */
  tcpIdleTimeoutMs: number;
  /** Half-closed (FIN sent or received) with no data for this long: abort (RST). */
  tcpHalfOpenIdleTimeoutMs: number;
  /**
   * An unfinished handshake (SYN-RECEIVED / SYN-SENT) gives up after this long. 15 s by default: the
   * SYN or SYN-ACK goes out at 0, 1, 3 and 7 s (RFC 6298 back-off from 1 s), so tcpSynRetries' fifth
   * retransmission is not reached. Linux waits longer (tcp_synack_retries 5: about 63 s for a
   * SYN-ACK; tcp_syn_retries 6: about 127 s for a SYN); 63_000 here gives Linux's SYN-ACK timing. We
   * keep the shorter timer, one of RFC 4987's defences (§3.3, "Reducing SYN-RECEIVED Timer"): a
   * half-open record gives its place in the SYN backlog back four times sooner (past the backlog,
   * SYN cookies keep no timer at all).
   */
  tcpHandshakeTimeoutMs: number;
  /** Keep-alive idle time; 0 = off (RFC 9293 §3.8.4: off by default, >= 2 h if on). */
  tcpKeepAliveMs: number;
  /** Interval between keep-alive probes (Linux tcp_keepalive_intvl: 75 s). */
  tcpKeepAliveIntervalMs: number;
  /** Unanswered probes before the flow is aborted (Linux tcp_keepalive_probes: 9). */
  tcpKeepAliveProbes: number;
  /** TIME-WAIT length: 2*MSL; Linux uses a fixed 60 s (TCP_TIMEWAIT_LEN), as do we. */
  tcpTimeWaitMs: number;
  /** Delayed-ACK timer (RFC 9293 §3.8.6.3: MUST be < 0.5 s; Linux's minimum, 40 ms). */
  tcpDelayedAckMs: number;
  /** Minimum RTO: Linux's 200 ms (TCP_RTO_MIN), below RFC 6298 §2.4's 1 s as every modern stack. */
  tcpMinRtoMs: number;
  /** Retransmissions of one segment before the flow is aborted (Linux tcp_retries2: 15). */
  tcpMaxRetries: number;
  /** SYN-ACK / SYN retransmissions before giving up (Linux tcp_synack_retries: 5, tcp_syn_retries: 6). */
  tcpSynRetries: number;
  tcpCongestionControl: CongestionControlName;
  /** Nagle's algorithm (RFC 9293 §3.7.4); off by default: proxies want latency. */
  tcpNoDelay: boolean;
  /**
   * TCP output of l4Tx and l4LocalClose called outside a turn (the outermost engine call) waits for
   * the next l4Poll, so that what an application writes and closes in one iteration of its loop
   * shares segments (data and FIN in one). Like Linux's tcp_autocorking in spirit; off by default:
   * only for drivers that call l4Poll on EngineDriver.schedule() (runTun does).
   */
  tcpAutocork: boolean;
  /** Out-of-order ranges held per flow before new ones are dropped. */
  tcpMaxReassemblyRanges: number;
  /** UDP flow idle timeout. */
  udpIdleTimeoutMs: number;
  /** Datagrams kept per UDP flow while its receive is paused. */
  udpMaxQueuedDatagrams: number;
  /** Most flows (TCP + UDP) at once; new ones are refused past it. */
  maxFlows: number;
  /**
   * Most flows one source (an IPv4 address, an IPv6 /64) may have opened at once (flow/sources.ts);
   * past it its new flows are refused (TCP RST, UDP ICMP port unreachable). Infinity: off. Linux has
   * no such setting in TCP itself; netfilter's connlimit is the usual way there.
   */
  maxFlowsPerSource: number;
  /**
   * Most TIME-WAIT records kept at once (about 240 bytes each); past it the oldest is reused. Linux's
   * tcp_max_tw_buckets defaults to 262144 on a machine this size (it drops the new one instead).
   */
  maxTimeWait: number;
  /**
   * Passive opens in SYN-RECEIVED at once (Linux's tcp_max_syn_backlog, whose default on a machine
   * with memory to spare is 4096); past it a SYN is answered with a SYN cookie (RFC 4987 §3.6).
   */
  synBacklog: number;
  /**
   * The SYN budget's floor (tcp/syn-budget.ts): SYNs a second that get a SYN cookie past the backlog
   * with no other traffic (established traffic earns more). Infinity: every such SYN gets one. Linux
   * has no such bound (tcp_syncookies answers every SYN past tcp_max_syn_backlog).
   */
  synCookieRate: number;
  /**
   * The memory budget (lib/memory.ts): bytes peers can make the engine hold (TCP buffers and
   * out-of-order data, fragments, half-open and TIME-WAIT records, UDP queues). Default Infinity:
   * counted, never refused (the per-kind bounds above still hold).
   */
  maxMemory: number;
  /**
   * The global receive budget (tcp/receive-budget.ts): bytes of receive window all TCP connections
   * together may have advertised and not yet received. Default Infinity: each window is bounded by its
   * buffer alone.
   */
  receiveBudget: number;
  /** IP reassembly: datagrams being reassembled at once, and their timeout (RFC 791: 15 s; Linux ipfrag_time 30 s). */
  maxReassemblies: number;
  reassemblyTimeoutMs: number;
  /** Largest reassembled datagram. */
  maxDatagramSize: number;
  /** Verify checksums of incoming packets (turn off only when the device already did: checksum offload). */
  verifyChecksums: boolean;
  /** TTL / hop limit of packets we originate. */
  ttl: number;
  /**
   * Transmit super-segments (builder txSuperSegments): 0 = off, every packet handed to l3Tx is a bare IP
   * packet. Otherwise the largest IP packet of one TCP super-segment (mtu..65535): every packet goes
   * behind a 12-byte virtio-net header the engine writes (wire/virtio-net.ts), TCP checksums are left
   * partial (NEEDS_CSUM) and a flow's consecutive new data leaves as one packet of many MSS
   * (GSO_TCPV4/TCPV6, gso_size = MSS) for the device to cut, as Linux's TSO/GSO.
   */
  txSuperSegments: number;
  /**
   * UDP segmentation offload (builder txUdpSegments), under txSuperSegments only: bit 1 IPv4, bit 2
   * IPv6 (the device took TUN_F_USO4 / USO6). l4TxDatagrams then sends a run of one size as one IP
   * packet (GSO_UDP_L4, gso_size = the datagram size) for the device to cut. 0: every datagram a packet.
   */
  txUdpSegments: number;
  /** Minimum gap between ICMP errors we send (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f) rate limiting). */
  icmpErrorIntervalMs: number;
}

export const DEFAULT_CONFIG: Readonly<EngineConfig> = Object.freeze({
  mtu: 1500,
  tcpBufferSize: 256 * 1024,
  tcpIdleTimeoutMs: 7200_000,
  tcpHalfOpenIdleTimeoutMs: 7200_000,
  tcpHandshakeTimeoutMs: 15_000,
  tcpKeepAliveMs: 0,
  tcpKeepAliveIntervalMs: 75_000,
  tcpKeepAliveProbes: 9,
  tcpTimeWaitMs: 60_000,
  tcpDelayedAckMs: 40,
  tcpMinRtoMs: 200,
  tcpMaxRetries: 15,
  tcpSynRetries: 5,
  tcpCongestionControl: "cubic",
  tcpNoDelay: true,
  tcpAutocork: false,
  tcpMaxReassemblyRanges: 32,
  udpIdleTimeoutMs: 300_000,
  udpMaxQueuedDatagrams: 256,
  maxFlows: 1_000_000,
  maxFlowsPerSource: Infinity,
  maxTimeWait: 262_144,
  synBacklog: 4096,
  synCookieRate: DEFAULT_SYN_COOKIE_RATE,
  maxMemory: Infinity,
  receiveBudget: Infinity,
  maxReassemblies: 256,
  reassemblyTimeoutMs: 30_000,
  maxDatagramSize: 65535,
  verifyChecksums: true,
  ttl: 64,
  txSuperSegments: 0,
  txUdpSegments: 0,
  icmpErrorIntervalMs: 1,
});
