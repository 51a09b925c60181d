/**
 * One UDP flow relayed through one upstream channel (a dgram socket, or a SOCKS5 UDP association).
 * Each datagram from the device is one datagram upstream and back. The engine forgets the flow after
 * udpIdleTimeout without a datagram either way (l4Rx null), and the channel closes with it; a failing
 * channel (ICMP from the destination, the association's end) forgets the flow, and ProxyApp refuses
 * the destination's next flow with ICMP port unreachable for a while (RefusalList).
 */
import type { Flow } from "../api.js";
import { InvalidArgumentError } from "../errors.js";
import type { Endpoint } from "./options.js";
import type { RelayHost, RelayInfo } from "./relay-host.js";
import type { UdpRunSink } from "./direct.js";
import type { UdpChannel, UdpDialer } from "./upstream.js";

export class UdpRelay implements UdpRunSink, RelayInfo {
  readonly kind = "udp";
  readonly startedAt = Date.now();
  bytesUp = 0;
  bytesDown = 0;
  phase: "dialing" | "open" | "closing" = "dialing";
  private readonly channel: UdpChannel;
  private gone = false;

  constructor(
    private readonly app: RelayHost,
    readonly flow: Flow,
    readonly target: Endpoint,
    readonly host: string | undefined,
    readonly upstream: string,
    dialer: UdpDialer,
    /** Called when the channel failed, before the flow is forgotten (ProxyApp's refusal list). */
    private readonly onFailed: (relay: UdpRelay) => void,
  ) {
    this.channel = dialer.open(target, flow.family, this);
  }

  /** l4Rx with data: one datagram upstream (the channel copies it). */
  received(data: Uint8Array): void {
    this.bytesUp += data.length;
    this.app.counters.bytesUp += data.length;
    if (!this.channel.send(data)) this.app.counters.udpDropped++;
  }

  upstreamDropped(count: number): void {
    this.app.counters.udpDropped += count;
  }

  upstreamReady(): void {
    if (!this.gone) this.phase = "open";
  }

  upstreamDatagram(data: Uint8Array): void {
    if (this.gone) return;
    const app = this.app;
    let sent: number | undefined;
    try {
      sent = app.engine.l4Tx(app.cb, this.flow, data);
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      sent = 0; // larger than a datagram over this flow's IP version can carry
    }
    if (sent === 0) app.counters.udpDropped++;
    else if (sent !== undefined) {
      this.bytesDown += sent;
      app.counters.bytesDown += sent;
    }
    app.schedule();
  }

  /** A run of datagrams of one size (direct.ts UdpRunSink): one l4TxDatagrams, maybe one UDP GSO packet. */
  upstreamDatagramRun(data: Uint8Array, segment: number): void {
    if (this.gone) return;
    const app = this.app;
    let sent: number | undefined;
    try {
      sent = app.engine.l4TxDatagrams(app.cb, this.flow, data, segment);
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      sent = 0; // larger than a datagram over this flow's IP version can carry
    }
    if (sent !== undefined) {
      if (sent < data.length) app.counters.udpDropped += Math.ceil((data.length - sent) / segment);
      this.bytesDown += sent;
      app.counters.bytesDown += sent;
    }
    app.schedule();
  }

  upstreamFailed(reason: string): void {
    if (this.gone) return;
    this.app.failed(this, reason);
    this.onFailed(this);
    this.app.engine.l4Abort(this.app.cb, this.flow); // forget the flow: l4Rx(flow, null) follows
    this.app.schedule();
  }

  /** l4Rx(flow, null). */
  flowGone(): void {
    this.gone = true;
    this.phase = "closing";
    this.channel.close();
  }

  destroy(): void {
    this.flowGone();
  }
}
