/**
 * L3L4Builder: collects settings, checks them in build() (a RangeError naming the first bad setting)
 * and makes the engine. Every setting has a default (config.ts says where each comes from).
 *
 *   const engine = new L3L4Builder<Buffer>().mtu(1400).tcpIdleTimeout(600).build();
 */
import type { CongestionControlName, EngineConfig } from "./config.js";
import { DEFAULT_CONFIG } from "./config.js";
import { L3L4 } from "./engine.js";
import { MAX_TIME_WAIT_LIMIT } from "./tcp/time-wait.js";

/** Largest TCP buffer: a window cannot exceed 2^30 bytes (RFC 7323 §2.3, window scale 14). */
export const MAX_TCP_BUFFER_SIZE = 0x4000_0000;
/** Largest maxFlows: the flow table's slot arrays stay below a few hundred MiB. */
export const MAX_FLOWS_LIMIT = 1 << 24;

/** Smallest maxMemory: a few segments' worth for each kind. */
export const MIN_MEMORY_BUDGET = 65536;

/** Smallest receiveBudget: one 64 KiB window. */
export const MIN_RECEIVE_BUDGET = 65536;

type Check = () => void;

export class L3L4Builder<T> {
  private readonly config: EngineConfig = { ...DEFAULT_CONFIG };
  private nowFn: () => number = () => performance.now();
  /** Checks run by build(), in the order the settings were made. */
  private readonly checks = new Map<string, Check>();

  /**
   * Largest packet given to l3Tx, in bytes; default 1500. Integer in 576..65535: 576 is the datagram
   * every IPv4 host must accept (RFC 791, RFC 1122 §3.3.2). The cap holds for IPv6 too: a value below
   * 1280 (RFC 8200 §5's minimum link MTU) keeps IPv6 packets smaller, it is not raised.
   */
  mtu(bytes: number): this {
    this.config.mtu = bytes;
    this.checks.set("mtu", () => integerIn("mtu", bytes, 576, 65535));
    return this;
  }

  /** Most bytes buffered per TCP flow in each direction; default 256 KiB. Integer in 1..2^30. */
  tcpBufferSize(bytes: number): this {
    this.config.tcpBufferSize = bytes;
    this.checks.set("tcpBufferSize", () => integerIn("tcpBufferSize", bytes, 1, MAX_TCP_BUFFER_SIZE));
    return this;
  }

  /** ESTABLISHED with no data either way for this long: close. Seconds > 0 (Infinity: never); default 7200. */
  tcpIdleTimeout(seconds: number): this {
    this.config.tcpIdleTimeoutMs = seconds * 1000;
    this.checks.set("tcpIdleTimeout", () => positiveSeconds("tcpIdleTimeout", seconds));
    return this;
  }

  /**
   * Half-closed (FIN sent or received) with no data for this long: abort. Seconds > 0 (Infinity:
   * never); default 7200. An unfinished handshake gives up after 15 s regardless.
   */
  tcpHalfOpenIdleTimeout(seconds: number): this {
    this.config.tcpHalfOpenIdleTimeoutMs = seconds * 1000;
    this.checks.set("tcpHalfOpenIdleTimeout", () => positiveSeconds("tcpHalfOpenIdleTimeout", seconds));
    return this;
  }

  /** A UDP flow with no datagram either way for this long is forgotten. Seconds > 0 (Infinity: never); default 300. */
  udpIdleTimeout(seconds: number): this {
    this.config.udpIdleTimeoutMs = seconds * 1000;
    this.checks.set("udpIdleTimeout", () => positiveSeconds("udpIdleTimeout", seconds));
    return this;
  }

  /** The time source, in milliseconds, never going backwards; default performance.now. */
  clock(now: () => number): this {
    this.nowFn = now;
    this.checks.set("clock", () => {
      if (typeof now !== "function") throw new RangeError("clock must be a function returning milliseconds");
    });
    return this;
  }

  /**
   * TCP keep-alive: probe after this many idle seconds (RFC 9293 §3.8.4; RFC 1122 §4.2.3.6: off by
   * default, and at least two hours when on by default). 0 turns it off; default off.
   */
  tcpKeepAlive(seconds: number): this {
    this.config.tcpKeepAliveMs = seconds * 1000;
    this.checks.set("tcpKeepAlive", () => {
      if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
        throw new RangeError(`tcpKeepAlive must be a finite number of seconds >= 0 (0 = off): ${String(seconds)}`);
      }
    });
    return this;
  }

  /** Congestion control of new TCP flows: "reno" (RFC 5681) or "cubic" (RFC 9438); default cubic. */
  tcpCongestionControl(name: CongestionControlName): this {
    this.config.tcpCongestionControl = name;
    this.checks.set("tcpCongestionControl", () => {
      if (name !== "reno" && name !== "cubic") {
        throw new RangeError(`tcpCongestionControl must be "reno" or "cubic": ${String(name)}`);
      }
    });
    return this;
  }

  /** true: send small segments at once (no Nagle, RFC 9293 §3.7.4); default true. */
  tcpNoDelay(on: boolean): this {
    this.config.tcpNoDelay = on;
    this.checks.set("tcpNoDelay", () => boolean("tcpNoDelay", on));
    return this;
  }

  /**
   * true: TCP segments of an l4Tx or l4LocalClose made outside a turn (not from inside a callback)
   * are built at the next l4Poll instead of in the call, so data written and the FIN of one loop
   * iteration leave together. For a driver that calls l4Poll soon after such calls (EngineDriver
   * schedule(): runTun does). Default false: they go in the call.
   */
  tcpAutocork(on: boolean): this {
    this.config.tcpAutocork = on;
    this.checks.set("tcpAutocork", () => boolean("tcpAutocork", on));
    return this;
  }

  /** Most flows (TCP + UDP) peers may have open at once; past it new ones are dropped. Default 1,000,000. */
  maxFlows(n: number): this {
    this.config.maxFlows = n;
    this.checks.set("maxFlows", () => integerIn("maxFlows", n, 1, MAX_FLOWS_LIMIT));
    return this;
  }

  /**
   * Most flows one source may have open at once: TCP connections it opened (half-open included) and
   * UDP flows its datagrams made; flows the application opened with l4Connect are not counted. A
   * source is an IPv4 address, or an IPv6 address's /64 (one host may use its whole /64). Past it a
   * new flow from that source is refused with a TCP RST or ICMP port unreachable, counted in
   * stats().flowsRefusedPerSource. An integer in 1..2^24, or Infinity (default: off).
   */
  maxFlowsPerSource(n: number): this {
    this.config.maxFlowsPerSource = n;
    this.checks.set("maxFlowsPerSource", () => {
      if (n !== Infinity) integerIn("maxFlowsPerSource", n, 1, MAX_FLOWS_LIMIT);
    });
    return this;
  }

  /**
   * Most TIME-WAIT records (RFC 9293 §3.6.1) kept at once, about 240 bytes each; past it the oldest
   * is reused and counted (stats().tcpTimeWaitOverflow). Default 262,144 (Linux tcp_max_tw_buckets).
   */
  maxTimeWait(n: number): this {
    this.config.maxTimeWait = n;
    this.checks.set("maxTimeWait", () => integerIn("maxTimeWait", n, 1, MAX_TIME_WAIT_LIMIT));
    return this;
  }

  /**
   * Most half-open TCP connections (SYN received, SYN-ACK sent, no ACK yet) at once; default 4096.
   * Past it a SYN is answered with a SYN cookie (RFC 4987 §3.6) and nothing is kept until the ACK that
   * completes the handshake; then l4Accept is asked. Integer in 0..2^24 (0: every SYN gets a cookie).
   */
  synBacklog(n: number): this {
    this.config.synBacklog = n;
    this.checks.set("synBacklog", () => integerIn("synBacklog", n, 0, MAX_FLOWS_LIMIT));
    return this;
  }

  /**
   * The SYN budget, for SYN floods: past the SYN backlog (cookie mode) at most this many SYNs a second
   * are answered with a SYN cookie when nothing else is going on, plus one for every 8 segments that
   * reach established connections, with bursts of up to 64; any other SYN past the backlog is dropped
   * unanswered before the cookie is made, counted in stats().tcpSynsOverBudget, and its peer
   * retransmits it. So a flood cannot take the CPU that established flows need. SYNs within the
   * backlog, retransmitted SYNs of existing connections and SYNs reopening TIME-WAIT are never
   * counted. Default 20,000; an integer in 1..2^24, or Infinity (off: every SYN gets its cookie).
   */
  synCookieRate(perSecond: number): this {
    this.config.synCookieRate = perSecond;
    this.checks.set("synCookieRate", () => {
      if (perSecond !== Infinity) integerIn("synCookieRate", perSecond, 1, MAX_FLOWS_LIMIT);
    });
    return this;
  }

  /**
   * A budget for everything peers can make the engine hold, in bytes: TCP send and receive buffers and
   * out-of-order data, IP fragments, half-open and TIME-WAIT records, queued UDP datagrams. Under
   * pressure receive windows stop growing (from half the budget), out-of-order data is refused (from
   * three quarters), new flows are refused with RST or ICMP (from 90 %); nothing is charged past it.
   * stats().memory reports the bytes in use by kind. An integer >= 65536, or Infinity (default:
   * counted, never refused).
   */
  maxMemory(bytes: number): this {
    this.config.maxMemory = bytes;
    this.checks.set("maxMemory", () => {
      if (bytes !== Infinity) integerIn("maxMemory", bytes, MIN_MEMORY_BUDGET, Number.MAX_SAFE_INTEGER);
    });
    return this;
  }

  /**
   * The global receive budget (tcp/receive-budget.ts): the receive windows of all TCP connections
   * together, advertised and not yet filled, stay within `bytes`, so that what every peer may send at
   * once fits the queue the reader drains (a TUN device's txqueuelen: `l3l4 proxy` sets half of it,
   * in segments). Each flow gets at most limit / flows, and always at least two segments (Linux's
   * tcp_clamp_window floor); an advertised window is never retracted (RFC 9293 §3.8.6.2.2, RFC 7323
   * §2.4). An integer >= 65536, or Infinity (default: every window bounded by its buffer alone).
   */
  receiveBudget(bytes: number): this {
    this.config.receiveBudget = bytes;
    this.checks.set("receiveBudget", () => {
      if (bytes !== Infinity) integerIn("receiveBudget", bytes, MIN_RECEIVE_BUDGET, Number.MAX_SAFE_INTEGER);
    });
    return this;
  }

  /** Verify IP/TCP/UDP/ICMP checksums of incoming packets; turn off only behind checksum offload. Default true. */
  verifyChecksums(on: boolean): this {
    this.config.verifyChecksums = on;
    this.checks.set("verifyChecksums", () => boolean("verifyChecksums", on));
    return this;
  }

  /** TTL / hop limit of packets the engine sends; integer in 1..255, default 64 (RFC 1700's recommendation, Linux's default). */
  ttl(n: number): this {
    this.config.ttl = n;
    this.checks.set("ttl", () => integerIn("ttl", n, 1, 255));
    return this;
  }

  /**
   * Transmit super-segments, for a TUN device opened with offloads (IFF_VNET_HDR). Every packet the
   * engine hands to l3Tx then starts with a 12-byte virtio-net header (`struct virtio_net_hdr_v1`,
   * little-endian, as TUNSETVNETHDRSZ 12 and TUNSETVNETLE set it) that the engine writes, and the IP
   * packet follows it: l3TxBuffer and l3Tx count the header in their sizes. TCP segments go with
   * NEEDS_CSUM (csum_start at the TCP header, csum_offset 16, only the pseudo-header sum in the
   * checksum field, as Linux hands a CHECKSUM_PARTIAL skb to a device), and a flow's consecutive new
   * data within the windows leaves as one IP packet of up to `maxBytes` bytes with gso_type
   * TCPV4/TCPV6 and gso_size = the MSS: the kernel cuts it (PSH and FIN on its last piece only). UDP,
   * ICMP and fragments go with a header of zeros. Integer in 1280..65535 (below the MTU: the MTU);
   * 0 (the default): off, bare IP packets as before.
   */
  txSuperSegments(maxBytes = 65535): this {
    this.config.txSuperSegments = maxBytes;
    this.checks.set("txSuperSegments", () => {
      if (maxBytes !== 0) integerIn("txSuperSegments", maxBytes, 1280, 65535);
    });
    return this;
  }

  /**
   * UDP segmentation offload through a TUN device that took TUN_F_USO4 / USO6 (Linux 6.2), under
   * txSuperSegments: l4TxDatagrams's run of datagrams of one size leaves as one IP packet with
   * gso_type UDP_L4, gso_size = the datagram size, NEEDS_CSUM (the checksum field holds the
   * pseudo-header sum of the whole run: Linux's __udp_gso_segment adjusts it per datagram), and the
   * kernel cuts it into datagrams. Off (the default): each datagram its own packet, as l4Tx sends it.
   */
  txUdpSegments(ipv4 = true, ipv6 = true): this {
    this.config.txUdpSegments = (ipv4 ? 1 : 0) | (ipv6 ? 2 : 0);
    this.checks.set("txUdpSegments", () => {
      if (this.config.txUdpSegments !== 0 && this.config.txSuperSegments === 0) {
        throw new RangeError("txUdpSegments needs txSuperSegments (the virtio-net header)");
      }
    });
    return this;
  }

  /** Check every setting (RangeError naming the first bad one) and make the engine. */
  build(): L3L4<T> {
    for (const check of this.checks.values()) check();
    return new L3L4<T>({ ...this.config }, this.nowFn);
  }
}

function integerIn(name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}: ${String(v)}`);
  }
}

function positiveSeconds(name: string, v: unknown): void {
  if (typeof v !== "number" || Number.isNaN(v) || v <= 0) {
    throw new RangeError(`${name} must be a number of seconds > 0 (Infinity: never): ${String(v)}`);
  }
}

function boolean(name: string, v: unknown): void {
  if (typeof v !== "boolean") throw new RangeError(`${name} must be true or false: ${String(v)}`);
}
