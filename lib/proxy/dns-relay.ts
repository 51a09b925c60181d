/**
 * A UDP flow to port 53 under --dns fake-ip: A and AAAA queries are answered here (fake-dns.ts);
 * every other query goes to the DNS upstream (--dns-upstream, else the address the query was sent
 * to) through the proxy: over UDP where the upstream carries UDP (direct, SOCKS5 UDP ASSOCIATE),
 * else over TCP (HTTP CONNECT), one connection per query with the two-byte length prefix of RFC 1035
 * §4.2.2 (RFC 7766).
 */
import type { Socket } from "node:net";
import type { Flow } from "../api.js";
import type { FakeDns } from "./fake-dns.js";
import type { Endpoint } from "./options.js";
import type { RelayHost, RelayInfo } from "./relay-host.js";
import type { Dial, TcpDialer, TcpSink, UdpChannel, UdpDialer, UdpSink } from "./upstream.js";

/** Queries over TCP in flight per flow; beyond, dropped (the client retries). */
export const MAX_TCP_QUERIES = 16;
/** A TCP query not answered after this long is dropped. */
export const TCP_QUERY_TIMEOUT_MS = 5000;

export class DnsRelay implements RelayInfo, UdpSink {
  readonly kind = "udp";
  readonly startedAt = Date.now();
  readonly host = undefined;
  readonly phase = "open";
  bytesUp = 0;
  bytesDown = 0;
  private channel: UdpChannel | undefined;
  private readonly tcpQueries = new Set<TcpQuery>();
  private gone = false;

  constructor(
    private readonly app: RelayHost,
    readonly flow: Flow,
    private readonly fakeDns: FakeDns,
    /** Where other queries go. */
    readonly target: Endpoint,
    readonly upstream: string,
    private readonly udp: UdpDialer | undefined,
    private readonly tcp: TcpDialer,
  ) {}

  /** l4Rx with data: one query. */
  received(query: Uint8Array): void {
    this.bytesUp += query.length;
    const counters = this.app.counters;
    counters.bytesUp += query.length;
    const action = this.fakeDns.handle(query);
    if (action.kind === "answer") {
      counters.dnsAnswered++;
      this.toDevice(action.response);
    } else if (action.kind === "drop") {
      counters.dnsDropped++;
    } else if (this.udp !== undefined) {
      counters.dnsForwarded++;
      this.channel ??= this.udp.open(this.target, this.flow.family, this);
      if (!this.channel.send(query)) counters.dnsDropped++;
    } else if (this.tcpQueries.size < MAX_TCP_QUERIES) {
      counters.dnsForwarded++;
      this.tcpQueries.add(new TcpQuery(this, this.tcp, this.target, query));
    } else {
      counters.dnsDropped++;
    }
  }

  /** An answer for the client (a view valid during the call). */
  toDevice(response: Uint8Array): void {
    if (this.gone) return;
    const app = this.app;
    const sent = app.engine.l4Tx(app.cb, this.flow, response);
    if (sent !== undefined && sent > 0) {
      this.bytesDown += sent;
      app.counters.bytesDown += sent;
    }
  }

  upstreamReady(): void {}

  upstreamDatagram(data: Uint8Array): void {
    this.toDevice(data);
    this.app.schedule();
  }

  upstreamFailed(reason: string): void {
    this.channel = undefined; // closed; the next query opens another
    if (!this.gone) this.app.failed(this, reason);
  }

  /** A TCP query ended (answered, failed or timed out). */
  tcpQueryDone(query: TcpQuery, answer: Uint8Array | undefined, failure: string | undefined): void {
    this.tcpQueries.delete(query);
    if (this.gone) return;
    if (answer !== undefined) this.toDevice(answer);
    else if (failure !== undefined) this.app.failed(this, failure);
    this.app.schedule();
  }

  flowGone(): void {
    this.gone = true;
    this.channel?.close();
    this.channel = undefined;
    for (const query of this.tcpQueries) query.cancel();
    this.tcpQueries.clear();
  }

  destroy(): void {
    this.flowGone();
  }
}

/** One query over a TCP connection through the upstream: length-prefixed out, one answer back. */
class TcpQuery implements TcpSink {
  private readonly dial: Dial;
  private readonly message: Buffer;
  private socket: Socket | undefined;
  private received: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(
    private readonly relay: DnsRelay,
    tcp: TcpDialer,
    target: Endpoint,
    query: Uint8Array,
  ) {
    this.message = Buffer.allocUnsafe(2 + query.length);
    this.message.writeUInt16BE(query.length, 0);
    this.message.set(query, 2);
    this.dial = tcp.dial({ host: target.host, port: target.port }, this);
  }

  upstreamConnected(socket: Socket, head: Buffer | undefined): void {
    if (this.done) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    socket.setTimeout(TCP_QUERY_TIMEOUT_MS, () => this.finish(undefined, undefined));
    socket.on("data", (chunk: Buffer) => this.data(chunk));
    socket.on("error", () => this.finish(undefined, undefined));
    socket.on("close", () => this.finish(undefined, undefined));
    if (head !== undefined) this.data(head);
    socket.write(this.message);
  }

  upstreamFailed(reason: string): void {
    this.finish(undefined, reason);
  }

  private data(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    if (this.received.length < 2) return;
    const length = this.received.readUInt16BE(0);
    if (this.received.length >= 2 + length) this.finish(this.received.subarray(2, 2 + length), undefined);
  }

  private finish(answer: Buffer | undefined, failure: string | undefined): void {
    if (this.done) return;
    this.done = true;
    this.socket?.destroy();
    this.relay.tcpQueryDone(this, answer, failure);
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.dial.cancel();
    this.socket?.destroy();
  }
}
