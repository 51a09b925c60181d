/**
 * What a relay (tcp-relay.ts, udp-relay.ts, dns-relay.ts) needs of the proxy that owns it: the
 * engine and the callbacks to call it with, the staging pool, the counters, and where to report a
 * failure and the end of a relay. ProxyApp (proxy.ts) is the one implementation.
 */
import type { Callbacks, Flow } from "../api.js";
import type { L3L4 } from "../engine.js";
import type { StagingPool } from "./staging.js";

export interface ProxyCounters {
  /** Bytes device -> upstream (delivered by the engine) and upstream -> device (taken by l4Tx). */
  bytesUp: number;
  bytesDown: number;
  tcpFlows: number;
  udpFlows: number;
  /** Flows failed because the upstream refused, failed authentication, timed out or broke. */
  upstreamFailures: number;
  /** Open upstream connections that ended with an error (reset, EPIPE): passed on to the client as RST. */
  upstreamResets: number;
  /** UDP flows refused with ICMP port unreachable (HTTP upstream with --udp refuse, recent failure). */
  udpRefused: number;
  /** UDP datagrams dropped (early queue full, too big, socket error). */
  udpDropped: number;
  /** Times a flow was paused because its socket's buffer was full, and sockets paused for l4Tx. */
  flowPauses: number;
  socketPauses: number;
  /** --dns fake-ip: queries answered here, forwarded, and dropped (not a DNS query). */
  dnsAnswered: number;
  dnsForwarded: number;
  dnsDropped: number;
  /** Flows to a fake address the table has no name for (expired, or never given out). */
  fakeIpMisses: number;
}

export function newCounters(): ProxyCounters {
  return {
    bytesUp: 0,
    bytesDown: 0,
    tcpFlows: 0,
    udpFlows: 0,
    upstreamFailures: 0,
    upstreamResets: 0,
    udpRefused: 0,
    udpDropped: 0,
    flowPauses: 0,
    socketPauses: 0,
    dnsAnswered: 0,
    dnsForwarded: 0,
    dnsDropped: 0,
    fakeIpMisses: 0,
  };
}

/** What every relay has, for /flows and the failure log. */
export interface RelayInfo {
  readonly flow: Flow;
  /** The name the flow was addressed by (fake-IP flows), else undefined. */
  readonly host: string | undefined;
  /** "direct", "socks5://10.0.0.1:1080", "fake-ip dns". */
  readonly upstream: string;
  /** Date.now() when the flow was accepted. */
  readonly startedAt: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** "dialing", "open", "closing". */
  readonly phase: string;
}

export interface RelayHost {
  readonly engine: L3L4<number>;
  /** The runner's callbacks: pass them to every engine call. */
  readonly cb: Callbacks<number>;
  readonly pool: StagingPool;
  readonly counters: ProxyCounters;
  /** Ask the runner for a turn (engine calls made outside one, from socket events). */
  schedule(): void;
  /** Write `relay`'s staged bytes after the current turn (once per turn, however many deliveries). */
  flushLater(relay: { flush(): void; flushQueued: boolean }): void;
  /** Call relay.releaseHeld() in the loop iteration after this one (after its I/O poll). */
  holdLater(relay: { releaseHeld(): void }): void;
  /** The upstream failed `relay`'s flow: counted and logged (rate-limited); the relay aborts the flow. */
  failed(relay: RelayInfo, reason: string): void;
}
