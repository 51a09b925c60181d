/**
 * Transparent proxy on a TUN device: every TCP flow that reaches the device is connected with
 * node:net to where it was going (its destination address and port), or to --upstream HOST:PORT;
 * every UDP flow gets its own node:dgram socket the same way. Data is relayed both ways.
 *
 *   sudo npm run proxy -- --tun proxy0
 *   sudo ip addr add 10.99.0.1/24 dev proxy0; sudo ip route add 10.99.1.0/24 dev proxy0
 *   # in a namespace or container whose traffic goes to proxy0: every connection is made again
 *   # by this process, from its own network namespace.
 *
 * Backpressure, both ways:
 * - device -> upstream: data the engine delivers is copied into a per-flow staging buffer and
 *   written once per turn (node's socket buffers it while connecting, too); when socket.write()
 *   says the socket's buffer is full, l4PauseRx stops the engine delivering (the flow's receive
 *   window closes) until 'drain', then l4ResumeRx.
 * - upstream -> device: what l4Tx does not take (the flow's send buffer is full) is kept and the
 *   socket paused (the kernel then closes the upstream window); l4TxReady sends the rest and
 *   resumes the socket.
 * Half-close, both ways: the client's FIN (l4RemoteClosed) ends the socket's writing side after the
 * data; the upstream's FIN (socket 'end') becomes l4LocalClose after what is queued for the flow.
 * An upstream that refuses or fails aborts the flow (RST to the client); a flow that goes away
 * (l4Rx null: reset, timeout) destroys its socket (with RST unless both sides had finished).
 * UDP flows are forgotten by the engine after udpIdleTimeout; their socket is closed with them.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, isIP, type Socket } from "node:net";
import type { Callbacks, Flow } from "../lib/api.js";
import type { L3L4 } from "../lib/engine.js";
import type { TunApp, TunRunner } from "../lib/tun/runner.js";
import {
  flowName,
  formatRate,
  isMain,
  runMain,
  startExample,
  type DeviceSource,
  type ExampleOptions,
  type ExampleSpec,
  type HostPort,
  type RunningExample,
} from "./utils.js";

export const PROXY_SPEC: ExampleSpec = {
  name: "proxy_server",
  summary:
    "Transparent proxy: connects every TCP and UDP flow that reaches the device to its original destination " +
    "(or to --upstream) from this process, and relays both ways with backpressure and half-close.",
  upstream: true,
};

/** Device -> upstream data is staged in buffers of this size (one allocation per this many bytes). */
export const STAGING_BYTES = 64 * 1024;
/** An upstream TCP connection not established after this long fails the flow (RST). */
export const CONNECT_TIMEOUT_MS = 10_000;
/** UDP datagrams kept for a socket that is still connecting; beyond, dropped (UDP may drop). */
export const UDP_EARLY_DATAGRAMS = 64;
/** After both sides finished, a socket still flushing to the upstream gets this long before destroy. */
export const LINGER_MS = 30_000;

interface TcpRelay {
  readonly kind: "tcp";
  readonly flow: Flow;
  readonly socket: Socket;
  /** Staging for device -> upstream: staged[start, used) is not written yet. */
  staged: Buffer | undefined;
  start: number;
  used: number;
  /** We paused the flow: socket.write() said its buffer is full. */
  rxPaused: boolean;
  /** Upstream -> device bytes l4Tx did not take yet (the socket is paused meanwhile). */
  toDevice: Buffer | undefined;
  /** Upstream sent FIN ('end'). */
  upstreamEnded: boolean;
  /** We called l4LocalClose (after upstream's FIN and everything before it). */
  localClosed: boolean;
  /** The client sent FIN and we ended the socket's writing side. */
  socketEnded: boolean;
  gone: boolean;
}

interface UdpRelay {
  readonly kind: "udp";
  readonly flow: Flow;
  readonly socket: UdpSocket;
  /** Datagrams from the device before the socket connected. */
  early: Buffer[] | undefined;
  gone: boolean;
}

type Relay = TcpRelay | UdpRelay;

export interface ProxyCounters {
  /** Bytes device -> upstream (delivered by the engine) and upstream -> device (taken by l4Tx). */
  bytesUp: number;
  bytesDown: number;
  tcpFlows: number;
  udpFlows: number;
  /** Flows aborted because the upstream refused or failed. */
  upstreamFailures: number;
  /** UDP datagrams dropped (early queue full, too big, socket error). */
  udpDropped: number;
  /** Times a flow was paused because its socket's buffer was full, and sockets paused for l4Tx. */
  flowPauses: number;
  socketPauses: number;
}

export class ProxyApp implements TunApp {
  /** Per-flow state, keyed by the engine's flow object (the same object for the flow's whole life). */
  readonly relays = new Map<Flow, Relay>();
  readonly counters: ProxyCounters = {
    bytesUp: 0,
    bytesDown: 0,
    tcpFlows: 0,
    udpFlows: 0,
    upstreamFailures: 0,
    udpDropped: 0,
    flowPauses: 0,
    socketPauses: 0,
  };
  /** Called after each flow is gone (tests wait on it for the engine's flowCount). */
  onFlowGone: ((flow: Flow) => void) | undefined;
  private readonly engine: L3L4<number>;
  private readonly runner: () => TunRunner;
  private readonly upstream: HostPort | undefined;
  private readonly log: ((line: string) => void) | undefined;
  /** TCP relays with staged bytes, written after the current turn (process.nextTick). */
  private readonly dirty = new Set<TcpRelay>();
  private flushQueued = false;

  constructor(engine: L3L4<number>, runner: () => TunRunner, upstream: HostPort | undefined, log?: (line: string) => void) {
    this.engine = engine;
    this.runner = runner;
    this.upstream = upstream;
    this.log = log;
  }

  private get cb(): Callbacks<number> {
    return this.runner().callbacks;
  }

  /** Where a flow goes: --upstream, or where its packets were addressed. */
  target(flow: Flow): HostPort {
    return this.upstream ?? { host: flow.dstIp, port: flow.dstPort };
  }

  // ---------------------------------------------------------------- engine events

  l4Accept(flow: Flow): boolean {
    if (flow.protocol === "tcp") this.openTcp(flow);
    else this.openUdp(flow);
    return true;
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    const relay = this.relays.get(flow);
    if (relay === undefined) return;
    if (data === null) {
      this.flowGone(relay);
      return;
    }
    this.counters.bytesUp += data.length;
    if (relay.kind === "udp") this.udpUp(relay, data);
    else this.stage(relay, data);
  }

  l4TxReady(flow: Flow): void {
    const relay = this.relays.get(flow);
    if (relay?.kind !== "tcp" || relay.toDevice === undefined) return;
    const rest = relay.toDevice;
    relay.toDevice = undefined;
    this.toDevice(relay, rest);
  }

  l4RemoteClosed(flow: Flow): void {
    const relay = this.relays.get(flow);
    if (relay?.kind !== "tcp") return;
    // Everything the client sent came before its FIN: write it, then FIN to the upstream.
    this.writeStaged(relay);
    relay.socketEnded = true;
    relay.socket.end();
  }

  // ---------------------------------------------------------------- TCP

  private openTcp(flow: Flow): void {
    const { host, port } = this.target(flow);
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true });
    const relay: TcpRelay = {
      kind: "tcp",
      flow,
      socket,
      staged: undefined,
      start: 0,
      used: 0,
      rxPaused: false,
      toDevice: undefined,
      upstreamEnded: false,
      localClosed: false,
      socketEnded: false,
      gone: false,
    };
    this.relays.set(flow, relay);
    this.counters.tcpFlows++;
    this.log?.(`open  ${flowName(flow)} -> ${host}:${port}`);

    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`connect to ${host}:${port} timed out`)));
    socket.once("connect", () => socket.setTimeout(0));
    socket.on("data", (chunk: Buffer) => {
      if (relay.gone) return;
      this.toDevice(relay, chunk);
      this.runner().schedule();
    });
    socket.on("drain", () => {
      if (relay.gone || !relay.rxPaused) return;
      relay.rxPaused = false;
      this.engine.l4ResumeRx(this.cb, flow); // may deliver at once: stage() runs again
      this.runner().schedule();
    });
    socket.on("end", () => {
      relay.upstreamEnded = true;
      if (relay.gone) return;
      if (relay.toDevice === undefined) this.closeFlow(relay); // else l4TxReady closes after the rest
      this.runner().schedule();
    });
    socket.on("error", (error: Error) => {
      if (relay.gone) return;
      this.counters.upstreamFailures++;
      this.log?.(`fail  ${flowName(flow)}: ${error.message}`);
      this.engine.l4Abort(this.cb, flow); // RST to the client; l4Rx(flow, null) follows
      this.runner().schedule();
    });
    socket.on("close", () => {
      // Closed without FIN or error (destroyed elsewhere): the flow cannot go on.
      if (relay.gone || relay.upstreamEnded) return;
      this.engine.l4Abort(this.cb, flow);
      this.runner().schedule();
    });
  }

  /** Upstream -> device: what l4Tx does not take waits, with the socket paused, for l4TxReady. */
  private toDevice(relay: TcpRelay, chunk: Buffer): void {
    const taken = this.engine.l4Tx(this.cb, relay.flow, chunk);
    if (taken === undefined) return; // the flow is gone; l4Rx(flow, null) destroys the socket
    this.counters.bytesDown += taken;
    if (taken < chunk.length) {
      relay.toDevice = chunk.subarray(taken); // node gives each read its own buffer: safe to keep
      if (!relay.socket.isPaused()) {
        relay.socket.pause();
        this.counters.socketPauses++;
      }
      return;
    }
    if (relay.upstreamEnded) {
      this.closeFlow(relay);
    } else if (relay.socket.isPaused()) {
      relay.socket.resume();
    }
  }

  private closeFlow(relay: TcpRelay): void {
    if (relay.localClosed) return;
    relay.localClosed = true;
    this.engine.l4LocalClose(this.cb, relay.flow);
  }

  /** Device -> upstream: copy into the staging buffer (the view lives only during l4Rx). */
  private stage(relay: TcpRelay, data: Uint8Array): void {
    let staged = relay.staged;
    if (staged === undefined || staged.length - relay.used < data.length) {
      this.writeStaged(relay);
      staged = Buffer.allocUnsafe(Math.max(STAGING_BYTES, data.length));
      relay.staged = staged;
      relay.start = 0;
      relay.used = 0;
    }
    staged.set(data, relay.used);
    relay.used += data.length;
    if (!this.dirty.has(relay)) {
      this.dirty.add(relay);
      if (!this.flushQueued) {
        this.flushQueued = true;
        process.nextTick(this.flushDirty); // after the runner's turn: one write per flow per turn
      }
    }
  }

  private readonly flushDirty = (): void => {
    this.flushQueued = false;
    for (const relay of this.dirty) this.writeStaged(relay);
    this.dirty.clear();
  };

  private writeStaged(relay: TcpRelay): void {
    this.dirty.delete(relay);
    if (relay.staged === undefined || relay.used === relay.start || relay.gone) return;
    const chunk = relay.staged.subarray(relay.start, relay.used);
    relay.start = relay.used; // the rest of the staging buffer stays ours for later data
    if (!relay.socket.write(chunk) && !relay.rxPaused) {
      relay.rxPaused = true;
      this.counters.flowPauses++;
      this.engine.l4PauseRx(relay.flow); // until 'drain'
    }
  }

  // ---------------------------------------------------------------- UDP

  private openUdp(flow: Flow): void {
    const { host, port } = this.target(flow);
    const socket = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
    const relay: UdpRelay = { kind: "udp", flow, socket, early: [], gone: false };
    this.relays.set(flow, relay);
    this.counters.udpFlows++;
    this.log?.(`open  ${flowName(flow)} -> ${host}:${port}`);
    socket.on("connect", () => {
      const early = relay.early ?? [];
      relay.early = undefined;
      if (relay.gone) return;
      for (const datagram of early) socket.send(datagram);
    });
    socket.on("message", (message: Buffer) => {
      if (relay.gone) return;
      let sent: number | undefined = 0;
      try {
        sent = this.engine.l4Tx(this.cb, flow, message);
      } catch {
        // Larger than a datagram over this flow's IP version can carry.
      }
      if (sent === 0) this.counters.udpDropped++;
      else if (sent !== undefined) this.counters.bytesDown += sent;
      this.runner().schedule();
    });
    socket.on("error", (error: Error) => {
      if (relay.gone) return;
      this.counters.upstreamFailures++;
      this.log?.(`fail  ${flowName(flow)}: ${error.message}`);
      this.engine.l4Abort(this.cb, flow); // forget the flow; the next datagram opens a new one
      this.runner().schedule();
    });
    socket.connect(port, host);
  }

  private udpUp(relay: UdpRelay, data: Uint8Array): void {
    // dgram keeps the buffer until sent: a copy.
    if (relay.early !== undefined) {
      if (relay.early.length < UDP_EARLY_DATAGRAMS) relay.early.push(Buffer.from(data));
      else this.counters.udpDropped++;
      return;
    }
    relay.socket.send(Buffer.from(data));
  }

  // ---------------------------------------------------------------- both

  private flowGone(relay: Relay): void {
    relay.gone = true;
    this.relays.delete(relay.flow);
    this.log?.(`gone  ${flowName(relay.flow)}`);
    if (relay.kind === "udp") {
      relay.socket.close();
      this.onFlowGone?.(relay.flow);
      return;
    }
    this.dirty.delete(relay);
    const socket = relay.socket;
    if (relay.socketEnded && relay.upstreamEnded) {
      // Both finished: let the socket flush what it still holds for the upstream, then close.
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    } else if (!socket.destroyed) {
      // Reset, timeout or abort: the upstream learns with a RST.
      if (socket.connecting) socket.destroy();
      else socket.resetAndDestroy();
    }
    this.onFlowGone?.(relay.flow);
  }

  /** Sockets still open (for shutdown). */
  destroyAll(): void {
    for (const relay of this.relays.values()) {
      relay.gone = true;
      if (relay.kind === "udp") relay.socket.close();
      else relay.socket.destroy();
    }
    this.relays.clear();
  }
}

export interface ProxyServer extends RunningExample {
  readonly app: ProxyApp;
}

export interface ProxySource extends DeviceSource {
  /** Status line interval (ms); 0: none. Default 1000, or none with --quiet. */
  statusIntervalMs?: number;
}

/** Opens the device (or uses source.device) and proxies until close(). */
export function startProxy(options: ExampleOptions, source: ProxySource = {}): ProxyServer {
  const log = source.log ?? ((line: string) => console.log(line));
  let app: ProxyApp | undefined;
  const running = startExample(options, source, (engine, runner) => {
    app = new ProxyApp(engine, runner, options.upstream, options.trace ? log : undefined);
    return app;
  });
  const proxy = app!;
  const interval = source.statusIntervalMs ?? (options.quiet ? 0 : 1000);
  let status: NodeJS.Timeout | undefined;
  if (interval > 0) {
    let last = { up: 0, down: 0, at: performance.now() };
    status = setInterval(() => {
      const c = proxy.counters;
      const now = performance.now();
      const seconds = (now - last.at) / 1000;
      let tcp = 0;
      for (const relay of proxy.relays.values()) if (relay.kind === "tcp") tcp++;
      log(
        `flows ${proxy.relays.size} (tcp ${tcp}, udp ${proxy.relays.size - tcp})  ` +
          `up ${formatRate(c.bytesUp - last.up, seconds)}  down ${formatRate(c.bytesDown - last.down, seconds)}  ` +
          `failed ${c.upstreamFailures}`,
      );
      last = { up: c.bytesUp, down: c.bytesDown, at: now };
    }, interval);
    status.unref();
  }
  const close = running.close;
  return Object.assign(running, {
    app: proxy,
    async close(graceMs = 0): Promise<void> {
      if (status !== undefined) clearInterval(status);
      await close(graceMs);
      proxy.destroyAll();
    },
  });
}

if (isMain(import.meta.url)) {
  runMain(PROXY_SPEC, (options) => {
    const proxy = startProxy(options);
    const to = options.upstream === undefined ? "each flow's destination" : `${options.upstream.host}:${options.upstream.port}`;
    console.log(`proxy_server: proxying ${proxy.device.name} (mtu ${proxy.device.mtu}) to ${to}; Ctrl-C to stop`);
    return proxy;
  });
}
