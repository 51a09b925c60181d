/**
 * The transparent proxy (tun2socks): a TunApp that carries every TCP and UDP flow the engine accepts
 * to an upstream, directly or through a SOCKS5 or HTTP CONNECT proxy, and answers DNS itself under
 * --dns fake-ip. It decides, per new flow, where it goes and which relay carries it:
 *
 * - UDP or TCP to port 53 with --dns direct: dialled directly, whatever the upstream.
 * - UDP to port 53 with --dns fake-ip: a DnsRelay (A/AAAA answered here, the rest forwarded).
 * - A flow to a fake address: upstream as the name the address was given out for. An address no
 *   name has (any more) is refused: TCP RST, UDP ICMP port unreachable.
 * - Any other TCP flow: a TcpRelay over upstream.tcp. Any other UDP flow: a UdpRelay over
 *   upstream.udp; behind an HTTP proxy (no UDP) it is refused or sent direct, as --udp says.
 * - A UDP destination whose channel just failed is refused for REFUSE_MS, so the client's next
 *   datagram gets ICMP port unreachable (the engine cannot send one for an accepted flow).
 *
 * Usage (see examples/proxy_server.ts):
 *   const proxy = new ProxyApp(engine, { ...DEFAULT_PROXY_OPTIONS, upstream: parseProxyUrl(url) });
 *   proxy.attach(runTun(engine, device, proxy));
 */
import type { Callbacks, Flow, FlowInfo } from "../api.js";
import type { L3L4 } from "../engine.js";
import type { EngineStats } from "../stats.js";
import type { TunApp, TunRunner } from "../tun/runner.js";
import { directUpstream, makeUpstream } from "./dialers.js";
import { DnsRelay } from "./dns-relay.js";
import { FailureLog } from "./failure-log.js";
import { FakeDns } from "./fake-dns.js";
import { FakeIpPool, type FakeEntry } from "./fake-ip.js";
import type { Endpoint, ProxyOptions } from "./options.js";
import { newCounters, type ProxyCounters, type RelayHost, type RelayInfo } from "./relay-host.js";
import { StagingPool } from "./staging.js";
import { NextIteration, TcpRelay } from "./tcp-relay.js";
import { UdpRelay } from "./udp-relay.js";
import { endpointText, type Upstream } from "./upstream.js";

export type Relay = TcpRelay | UdpRelay | DnsRelay;

/** How long a UDP destination whose channel failed is refused (ICMP port unreachable). */
export const REFUSE_MS = 2000;
/** UDP destinations remembered as refused at most (oldest forgotten first). */
export const MAX_REFUSALS = 4096;

/** One live flow, as GET /flows shows it. */
export interface FlowReport {
  protocol: "tcp" | "udp";
  family: 4 | 6;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  host: string | null;
  upstream: string;
  state: string | null;
  phase: string;
  bytesUp: number;
  bytesDown: number;
  startedAt: string;
  srtt?: number;
  cwnd?: number;
  retransmits?: number;
}

export interface ProxyStats {
  flows: number;
  tcpFlows: number;
  udpFlows: number;
  totals: ProxyCounters;
  failures: number;
  staging: { allocated: number; reused: number; free: number };
  fakeIp: { names: number; capacity: number } | null;
  engine: EngineStats;
  runner: Readonly<Record<string, number>> | null;
}

export class ProxyApp implements TunApp, RelayHost {
  /** Per-flow state, keyed by the engine's flow object (the same object for the flow's whole life). */
  readonly relays = new Map<Flow, Relay>();
  readonly counters: ProxyCounters = newCounters();
  readonly pool = new StagingPool();
  readonly failures: FailureLog;
  readonly upstream: Upstream;
  readonly fakeIps: FakeIpPool | undefined;
  /** Called after each flow is gone (tests wait on it for the engine's flowCount). */
  onFlowGone: ((flow: Flow) => void) | undefined;
  cb!: Callbacks<number>;

  private runner: TunRunner | undefined;
  private readonly direct: Upstream;
  private readonly fakeDns: FakeDns | undefined;
  private readonly fakeEntries = new Map<Flow, FakeEntry>();
  private readonly refusals = new Map<string, number>();
  private readonly trace: ((line: string) => void) | undefined;
  private readonly dirty: { flush(): void; flushQueued: boolean }[] = [];
  private flushScheduled = false;
  private readonly held = new NextIteration();
  /** Filled by l4Info for each flow /flows reports (one object for all). */
  private readonly infoScratch = {} as FlowInfo;

  constructor(
    readonly engine: L3L4<number>,
    readonly options: ProxyOptions,
    log: (line: string) => void = (line) => console.log(line),
    trace?: (line: string) => void,
  ) {
    this.upstream = makeUpstream(options.upstream, options.connectTimeoutMs);
    this.direct = directUpstream(options.connectTimeoutMs);
    this.failures = new FailureLog(log);
    this.trace = trace;
    if (options.dns === "fake-ip") {
      this.fakeIps = new FakeIpPool(options.fakeIpV4, options.fakeIpV6, options.fakeIpEntries);
      this.fakeDns = new FakeDns(this.fakeIps);
    }
    if (this.upstream.udp === undefined) {
      log(
        options.udp === "refuse"
          ? `udp: refused with ICMP port unreachable (${this.upstream.name} carries TCP only; --udp direct sends UDP direct)`
          : `udp: sent direct (${this.upstream.name} carries TCP only)`,
      );
    }
  }

  /** The runner that drives the engine: its callbacks for engine calls, its schedule() for turns. */
  attach(runner: TunRunner): void {
    this.runner = runner;
    this.cb = runner.callbacks;
  }

  schedule(): void {
    this.runner?.schedule();
  }

  // ---------------------------------------------------------------- engine events

  l4Accept(flow: Flow): boolean {
    const relay = this.relayFor(flow);
    if (relay === undefined) return false;
    this.relays.set(flow, relay);
    if (flow.protocol === "tcp") this.counters.tcpFlows++;
    else this.counters.udpFlows++;
    this.trace?.(`open  ${String(flow)} -> ${relay.upstream}${relay.host === undefined ? "" : ` as ${relay.host}`}`);
    return true;
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    const relay = this.relays.get(flow);
    if (relay === undefined) return;
    if (data !== null) {
      relay.received(data);
      return;
    }
    this.relays.delete(flow);
    relay.flowGone();
    const fake = this.fakeEntries.get(flow);
    if (fake !== undefined) {
      fake.users--;
      this.fakeEntries.delete(flow);
    }
    this.trace?.(`gone  ${String(flow)}`);
    this.onFlowGone?.(flow);
  }

  l4TxReady(flow: Flow): void {
    const relay = this.relays.get(flow);
    if (relay instanceof TcpRelay) relay.txReady();
  }

  l4RemoteClosed(flow: Flow): void {
    const relay = this.relays.get(flow);
    if (relay instanceof TcpRelay) relay.clientFinished();
  }

  // ---------------------------------------------------------------- where a flow goes

  private relayFor(flow: Flow): Relay | undefined {
    const o = this.options;
    if (flow.dstPort === 53 && o.dns !== "proxy" && o.destination === undefined) {
      const dst = { host: flow.dstIp, port: 53 };
      if (o.dns === "direct") return this.relayVia(flow, dst, undefined, this.direct);
      if (flow.protocol === "udp") {
        const target = o.dnsUpstream ?? dst;
        return new DnsRelay(this, flow, this.fakeDns!, target, `${this.upstream.name} (dns)`, this.upstream.udp, this.upstream.tcp);
      }
    }
    if (o.destination !== undefined) return this.relayVia(flow, o.destination, undefined, this.upstream);
    const fakeIps = this.fakeIps;
    if (fakeIps !== undefined && fakeIps.contains(flow.dstIp, flow.family)) {
      const entry = fakeIps.byAddress(flow.dstIp, flow.family);
      if (entry === undefined) {
        this.counters.fakeIpMisses++;
        this.failures.report("fake-ip: no name for this address (expired from the table, or never given out)", String(flow));
        return undefined;
      }
      const relay = this.relayVia(flow, { host: entry.name, port: flow.dstPort }, entry.name, this.upstream);
      if (relay !== undefined) {
        entry.users++;
        this.fakeEntries.set(flow, entry);
      }
      return relay;
    }
    return this.relayVia(flow, { host: flow.dstIp, port: flow.dstPort }, undefined, this.upstream);
  }

  private relayVia(flow: Flow, target: Endpoint, host: string | undefined, upstream: Upstream): Relay | undefined {
    if (flow.protocol === "tcp") return new TcpRelay(this, flow, target, host, upstream.name, upstream.tcp);
    let via = upstream;
    if (via.udp === undefined) {
      if (this.options.udp === "refuse") {
        this.counters.udpRefused++;
        return undefined;
      }
      via = this.direct;
    }
    const key = endpointText(target);
    const until = this.refusals.get(key);
    if (until !== undefined) {
      if (performance.now() < until) {
        this.counters.udpRefused++;
        return undefined;
      }
      this.refusals.delete(key);
    }
    return new UdpRelay(this, flow, target, host, via.name, via.udp!, (relay) => this.refuseFor(relay.target));
  }

  private refuseFor(target: Endpoint): void {
    const key = endpointText(target);
    this.refusals.delete(key);
    if (this.refusals.size >= MAX_REFUSALS) this.refusals.delete(this.refusals.keys().next().value!);
    this.refusals.set(key, performance.now() + REFUSE_MS);
  }

  // ---------------------------------------------------------------- RelayHost

  flushLater(relay: { flush(): void; flushQueued: boolean }): void {
    if (relay.flushQueued) return;
    relay.flushQueued = true;
    this.dirty.push(relay);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushDirty); // after the runner's turn: one write per flow per turn
    }
  }

  private readonly flushDirty = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    // flush() may resume a flow, whose delivery queues it again: those wait for the next tick.
    const n = dirty.length;
    for (let i = 0; i < n; i++) dirty[i]!.flush();
    dirty.splice(0, n);
  };

  holdLater(relay: { releaseHeld(): void }): void {
    this.held.add(relay);
  }

  failed(relay: RelayInfo, reason: string): void {
    this.counters.upstreamFailures++;
    this.failures.report(reason, relay.host === undefined ? String(relay.flow) : `${String(relay.flow)} (${relay.host})`);
  }

  // ---------------------------------------------------------------- observability

  /** Every live flow, for GET /flows. */
  flows(): FlowReport[] {
    const reports: FlowReport[] = [];
    const engine = this.engine;
    const info = this.infoScratch;
    for (const relay of this.relays.values()) {
      const f = relay.flow;
      const report: FlowReport = {
        protocol: f.protocol,
        family: f.family,
        srcIp: f.srcIp,
        srcPort: f.srcPort,
        dstIp: f.dstIp,
        dstPort: f.dstPort,
        host: relay.host ?? null,
        upstream: relay.upstream,
        state: engine.l4State(f) ?? null,
        phase: relay.phase,
        bytesUp: relay.bytesUp,
        bytesDown: relay.bytesDown,
        startedAt: new Date(relay.startedAt).toISOString(),
      };
      if (f.protocol === "tcp") {
        if (engine.l4Info(f, info) !== undefined) {
          report.srtt = info.srtt;
          report.cwnd = info.cwnd;
          report.retransmits = info.retransmits;
        }
      }
      reports.push(report);
    }
    return reports;
  }

  /** Totals, for GET /stats and the status line. */
  stats(): ProxyStats {
    let tcp = 0;
    for (const relay of this.relays.values()) if (relay.flow.protocol === "tcp") tcp++;
    return {
      flows: this.relays.size,
      tcpFlows: tcp,
      udpFlows: this.relays.size - tcp,
      totals: { ...this.counters },
      failures: this.failures.total,
      staging: { allocated: this.pool.allocated, reused: this.pool.reused, free: this.pool.freeBlocks },
      fakeIp: this.fakeIps === undefined ? null : { names: this.fakeIps.size, capacity: this.fakeIps.capacity },
      engine: this.engine.stats(),
      runner: this.runner === undefined ? null : { ...this.runner.stats },
    };
  }

  /** Destroys every relay's socket at once (shutdown). */
  destroyAll(): void {
    for (const relay of this.relays.values()) relay.destroy();
    this.relays.clear();
    this.fakeEntries.clear();
  }
}
