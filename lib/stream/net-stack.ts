/**
 * NetStack: an engine's flows as Node sockets. TCP flows become FlowSockets (stream.Duplex, shaped
 * like net.Socket), UDP flows FlowDatagrams (shaped like a connected dgram.Socket).
 *
 *   const engine = new L3L4Builder<number>().build();
 *   const stack = new NetStack(engine);
 *   runTun(engine, openTun({ name: "l3l4s0" }), stack);          // all the wiring there is
 *   stack.on("connection", (socket) => httpServer.emit("connection", socket));
 *   const client = stack.connect({ host: "10.0.0.1", port: 80, localAddress: "10.0.0.2" });
 *
 * NetStack is a TunApp: any driver hands it the engine's flow events (l4Accept, l4Rx, l4TxReady,
 * l4RemoteClosed) and, through attach(), the callbacks and schedule() its sockets use when they call
 * the engine on their own time. runTun, joinEngines (lib/debug/engine-pair.ts) and MemoryLink call
 * attach() and afterRx() themselves; a loop of your own calls them as the README shows.
 *
 * Engine callbacks never run user code (endpoint.ts): the sockets record what happened and one
 * process.nextTick flush per batch turns it into events. A handshake completing raises no engine
 * callback, so afterRx() (after each batch of packets) looks at the flows still handshaking, as a
 * smoltcp application looks at its sockets after each poll; data or a FIN arriving first also
 * completes it.
 */
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import type { Callbacks, EngineDriver, Flow } from "../api.js";
import type { L3L4 } from "../engine.js";
import { FlowExistsError, InvalidArgumentError } from "../errors.js";
import {
  kEstablished,
  kFlush,
  kRemoteClosed,
  kRx,
  kTxReady,
  type FlowEndpoint,
  type NetStackStats,
  type StackContext,
} from "./endpoint.js";
import { FlowDatagram, type RemoteInfo } from "./flow-datagram.js";
import { FlowSocket } from "./flow-socket.js";

export interface NetStackOptions {
  /**
   * Called for each new flow (a TCP SYN, a UDP flow's first datagram); false refuses it: TCP answers
   * RST, UDP ICMP port unreachable. Runs inside the engine's callback: decide from the flow, touch
   * nothing else. Default: accept TCP while someone listens for 'connection', UDP while someone
   * listens for 'udp' (as a kernel answers a port nobody listens on).
   */
  accept?(flow: Flow): boolean;
  /** As net.createServer's: false (default) ends our side of a FlowSocket once the peer's FIN is read. */
  allowHalfOpen?: boolean;
  /** Each FlowSocket's stream buffer limits (default 64 KiB, flow-socket.ts DEFAULT_HIGH_WATER_MARK). */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** The engine's own addresses: connect() and udp() use the first of the right family when not given one. */
  localAddresses?: readonly string[];
  /**
   * A socket destroyed in order (FIN, see FlowSocket) whose flow has not finished closing this many
   * ms later is aborted (RST): Linux's tcp_fin_timeout for orphaned sockets, 60 s by default.
   */
  orphanTimeoutMs?: number;
}

export interface StackConnectOptions {
  /** The peer: an IP address (NetStack resolves no names). */
  host: string;
  port: number;
  /** The engine's end; default: the first of NetStackOptions.localAddresses of the family. */
  localAddress?: string;
  /** Default: an unused port of 49152..65535 (RFC 6335 §6's dynamic range). */
  localPort?: number;
  /** Checked against the addresses when given. */
  family?: 4 | 6;
  /** Overrides NetStackOptions.allowHalfOpen for this socket. */
  allowHalfOpen?: boolean;
  /** setTimeout(timeout) on the socket. */
  timeout?: number;
}

export type StackUdpOptions = Pick<StackConnectOptions, "host" | "port" | "localAddress" | "localPort" | "family">;

export interface NetStackEvents {
  connection: [socket: FlowSocket];
  udp: [datagram: FlowDatagram];
}

/** Linux tcp_fin_timeout (net.ipv4.tcp_fin_timeout, 60 s): how long an orphaned socket may take to close. */
export const DEFAULT_ORPHAN_TIMEOUT_MS = 60_000;

/** Dynamic ports (RFC 6335 §6). */
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_FIRST;

function newStats(): NetStackStats {
  return {
    tcpAccepted: 0,
    tcpConnected: 0,
    udpAccepted: 0,
    udpOpened: 0,
    refused: 0,
    rxPauses: 0,
    rxResumes: 0,
    txBlocked: 0,
    bytesRead: 0,
    bytesWritten: 0,
    datagramsIn: 0,
    datagramsOut: 0,
    datagramsDropped: 0,
    resetsAfterClose: 0,
    orphans: 0,
    orphansAborted: 0,
  };
}

function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

/** The stack's side of the endpoint contract. */
class Core implements StackContext {
  readonly stats = newStats();
  driver: EngineDriver<unknown> | undefined;
  readonly endpoints = new Map<Flow, FlowEndpoint>();
  /** Accepted TCP flows whose handshake has not completed: no socket yet. */
  readonly handshaking = new Set<Flow>();
  /** Sockets from connect() waiting for the handshake. */
  readonly connecting = new Set<FlowSocket>();
  private readonly dirty: FlowEndpoint[] = [];
  private flushQueued = false;
  /** Flushing from afterRx: inside the driver's turn, between its l3Rx batch and its l4Poll. */
  inTurn = false;
  private refCount = 0;
  stackRef = true;
  private refed = true;
  /** Flows of destroyed sockets still closing, and when to abort each (insertion order is deadline order). */
  private readonly orphans = new Map<Flow, number>();
  private orphanTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly engine: L3L4<unknown>,
    private readonly stack: EventEmitter,
    private readonly orphanTimeoutMs: number,
  ) {}

  get callbacks(): Callbacks<unknown> {
    const driver = this.driver;
    if (driver === undefined) throw new InvalidArgumentError("this NetStack is not attached to a driver (runTun, joinEngines, MemoryLink or attach())");
    return driver.callbacks;
  }

  wake(): void {
    // Inside the driver's turn (afterRx) it polls and sends right after: no turn to ask for.
    if (!this.inTurn) this.driver?.schedule();
  }

  markDirty(endpoint: FlowEndpoint): void {
    this.dirty.push(endpoint);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(this.flush);
    }
  }

  /**
   * Every endpoint's recorded events, in the order they were recorded; endpoints marked meanwhile
   * too. Runs from afterRx (inside the driver's turn, so what the handlers send goes out with the
   * turn's own packets) or else from the process.nextTick queued when the first event was recorded.
   */
  readonly flush = (): void => {
    const dirty = this.dirty;
    if (dirty.length === 0) return;
    for (let i = 0; i < dirty.length; i++) {
      try {
        dirty[i]![kFlush]();
      } catch (error) {
        // A handler threw: the other endpoints still get their events; the error surfaces as net's would.
        rethrowLater(error);
      }
    }
    dirty.length = 0;
    this.flushQueued = false;
  };

  unregister(endpoint: FlowEndpoint): void {
    const flow = endpoint.flow;
    if (this.endpoints.get(flow) === endpoint) this.endpoints.delete(flow);
    if (endpoint instanceof FlowSocket) this.connecting.delete(endpoint);
    if (this.orphans.delete(flow)) {
      this.stats.orphans++;
      if (this.orphans.size === 0 && this.orphanTimer !== undefined) {
        clearTimeout(this.orphanTimer);
        this.orphanTimer = undefined;
      }
    }
  }

  orphaned(endpoint: FlowEndpoint): void {
    if (!this.endpoints.has(endpoint.flow)) return;
    this.orphans.set(endpoint.flow, performance.now() + this.orphanTimeoutMs);
    if (this.orphanTimer === undefined) this.armOrphanTimer();
  }

  private armOrphanTimer(): void {
    const first = this.orphans.values().next();
    if (first.done === true) return;
    this.orphanTimer = setTimeout(this.expireOrphans, Math.max(0, first.value - performance.now()));
    // An orphan does not keep the process alive (the kernel finishes closes after a process exits).
    this.orphanTimer.unref();
  }

  private readonly expireOrphans = (): void => {
    this.orphanTimer = undefined;
    const now = performance.now();
    for (const [flow, deadline] of this.orphans) {
      if (deadline > now) break;
      this.orphans.delete(flow);
      this.stats.orphansAborted++;
      if (this.driver !== undefined) this.engine.l4Abort(this.driver.callbacks, flow);
    }
    this.wake();
    this.armOrphanTimer();
  };

  refChanged(delta: number): void {
    this.refCount += delta;
    this.updateRef();
  }

  updateRef(): void {
    const refed = this.stackRef || this.refCount > 0;
    if (refed === this.refed) return;
    this.refed = refed;
    this.driver?.setRef?.(refed);
  }

  get isRefed(): boolean {
    return this.refed;
  }

  announce(event: "connection" | "udp", endpoint: FlowEndpoint): void {
    this.stack.emit(event, endpoint);
  }
}

export class NetStack<T = number> extends EventEmitter<NetStackEvents> {
  readonly engine: L3L4<T>;
  readonly #core: Core;
  readonly #options: NetStackOptions;
  #nextPort = EPHEMERAL_FIRST + Math.floor(Math.random() * EPHEMERAL_COUNT);

  constructor(engine: L3L4<T>, options: NetStackOptions = {}) {
    super();
    if (typeof engine !== "object" || engine === null || typeof engine.l4Tx !== "function") {
      throw new InvalidArgumentError("NetStack needs an engine (L3L4Builder.build())");
    }
    for (const address of options.localAddresses ?? []) {
      if (isIP(address) === 0) throw new InvalidArgumentError(`localAddresses: not an IP address: ${String(address)}`);
    }
    const orphanTimeoutMs = options.orphanTimeoutMs ?? DEFAULT_ORPHAN_TIMEOUT_MS;
    if (typeof orphanTimeoutMs !== "number" || !(orphanTimeoutMs >= 0) || !Number.isFinite(orphanTimeoutMs)) {
      throw new InvalidArgumentError(`orphanTimeoutMs must be a finite number of ms >= 0: ${String(orphanTimeoutMs)}`);
    }
    this.engine = engine;
    this.#options = { ...options };
    this.#core = new Core(engine as unknown as L3L4<unknown>, this, orphanTimeoutMs);
  }

  /** Counters (see NetStackStats). */
  get stats(): Readonly<NetStackStats> {
    return this.#core.stats;
  }

  /** Sockets and datagram flows alive. */
  get endpointCount(): number {
    return this.#core.endpoints.size;
  }

  get attached(): boolean {
    return this.#core.driver !== undefined;
  }

  // ---------------------------------------------------------------- what a driver calls

  /**
   * Called by the driver before its first turn (runTun, joinEngines and MemoryLink do); again with
   * the same driver is a no-op, with another one an InvalidArgumentError.
   */
  attach(driver: EngineDriver<T>): void {
    const core = this.#core;
    if (core.driver === driver) return;
    if (core.driver !== undefined) throw new InvalidArgumentError("this NetStack is attached to another driver already");
    if (driver.engine !== this.engine) throw new InvalidArgumentError("the driver drives another engine than this NetStack's");
    core.driver = driver as EngineDriver<unknown>;
    if (!core.isRefed) driver.setRef?.(false);
  }

  /**
   * After each batch of packets went into l3Rx, before the driver's l4Poll: handshakes that completed
   * become sockets, and what the batch delivered becomes stream events now, inside the driver's turn,
   * so that what the handlers write (and what l4TxReady lets out) leaves in the same turn.
   */
  afterRx(): void {
    const core = this.#core;
    try {
      this.#handshakes();
      core.inTurn = true;
      core.flush();
    } finally {
      core.inTurn = false;
    }
  }

  /** Flows still handshaking: completed ones become sockets ('connection', 'connect'). */
  #handshakes(): void {
    const core = this.#core;
    if (core.handshaking.size > 0) {
      for (const flow of core.handshaking) {
        const state = this.engine.l4State(flow);
        if (state === "SYN-RECEIVED" || state === "SYN-SENT") continue;
        core.handshaking.delete(flow);
        if (state !== undefined) this.#established(flow);
      }
    }
    if (core.connecting.size > 0) {
      for (const socket of core.connecting) {
        const state = this.engine.l4State(socket.flow);
        if (state === "SYN-SENT" || state === "SYN-RECEIVED") continue;
        core.connecting.delete(socket);
        if (state !== undefined) socket[kEstablished]();
      }
    }
  }

  l4Accept(flow: Flow): boolean {
    const core = this.#core;
    let accepted: boolean;
    const accept = this.#options.accept;
    if (accept !== undefined) {
      try {
        accepted = accept(flow) === true;
      } catch (error) {
        accepted = false;
        rethrowLater(error);
      }
    } else {
      accepted = this.listenerCount(flow.protocol === "tcp" ? "connection" : "udp") > 0;
    }
    if (!accepted) {
      core.stats.refused++;
      return false;
    }
    if (flow.protocol === "tcp") {
      core.handshaking.add(flow);
    } else {
      const datagram = new FlowDatagram(core, flow, false);
      core.endpoints.set(flow, datagram);
      core.stats.udpAccepted++;
      datagram[kEstablished]();
    }
    return true;
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    const endpoint = this.#core.endpoints.get(flow) ?? this.#fromHandshake(flow, data !== null);
    endpoint?.[kRx](data);
  }

  l4TxReady(flow: Flow): void {
    this.#core.endpoints.get(flow)?.[kTxReady]();
  }

  l4RemoteClosed(flow: Flow): void {
    (this.#core.endpoints.get(flow) ?? this.#fromHandshake(flow, true))?.[kRemoteClosed]();
  }

  /** An event for a flow afterRx has not seen established: data or FIN mean it is; null means it is gone. */
  #fromHandshake(flow: Flow, established: boolean): FlowEndpoint | undefined {
    const core = this.#core;
    if (!core.handshaking.delete(flow) || !established) return undefined;
    return this.#established(flow);
  }

  #established(flow: Flow): FlowSocket {
    const core = this.#core;
    const socket = new FlowSocket(core, flow, false, this.#socketOptions(this.#options.allowHalfOpen));
    core.endpoints.set(flow, socket);
    core.stats.tcpAccepted++;
    socket[kEstablished]();
    return socket;
  }

  #socketOptions(allowHalfOpen: boolean | undefined) {
    const o = this.#options;
    return {
      allowHalfOpen: allowHalfOpen ?? false,
      ...(o.readableHighWaterMark === undefined ? {} : { readableHighWaterMark: o.readableHighWaterMark }),
      ...(o.writableHighWaterMark === undefined ? {} : { writableHighWaterMark: o.writableHighWaterMark }),
    };
  }

  // ---------------------------------------------------------------- opening flows

  /**
   * Open a TCP connection from the engine (active open: the SYN goes at once); 'connect' when the
   * handshake completes. Writes before that are queued by the engine and sent with it. Throws
   * InvalidArgumentError for a host that is not an IP address, a bad port or a missing localAddress.
   */
  connect(options: StackConnectOptions, connectListener?: () => void): FlowSocket {
    const core = this.#core;
    const flow = this.#open("tcp", options);
    const socket = new FlowSocket(core, flow, true, this.#socketOptions(options.allowHalfOpen ?? this.#options.allowHalfOpen));
    core.endpoints.set(flow, socket);
    core.connecting.add(socket);
    core.stats.tcpConnected++;
    if (options.timeout !== undefined) socket.setTimeout(options.timeout);
    if (connectListener !== undefined) socket.once("connect", connectListener);
    return socket;
  }

  /** Open a UDP flow from the engine to host:port; send() sends, 'message' receives. */
  udp(options: StackUdpOptions, messageListener?: (message: Buffer, rinfo: RemoteInfo) => void): FlowDatagram {
    const core = this.#core;
    const flow = this.#open("udp", options);
    const datagram = new FlowDatagram(core, flow, true);
    core.endpoints.set(flow, datagram);
    core.stats.udpOpened++;
    if (messageListener !== undefined) datagram.on("message", messageListener);
    return datagram;
  }

  #open(protocol: "tcp" | "udp", options: StackUdpOptions): Flow {
    const core = this.#core;
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError(`${protocol === "tcp" ? "connect" : "udp"}() needs an options object`);
    const host = options.host;
    const family = typeof host === "string" ? isIP(host) : 0;
    if (family === 0) {
      throw new InvalidArgumentError(`host must be an IP address (NetStack resolves no names): ${String(host)}`);
    }
    if (options.family !== undefined && options.family !== family) {
      throw new InvalidArgumentError(`family ${String(options.family)} does not match host ${host}`);
    }
    const localAddress = options.localAddress ?? this.#options.localAddresses?.find((a) => isIP(a) === family);
    if (localAddress === undefined) {
      throw new InvalidArgumentError(`no localAddress for IPv${family}: pass one, or set NetStackOptions.localAddresses`);
    }
    const callbacks = core.callbacks;
    const engine = this.engine;
    const connect = (srcPort: number): Flow =>
      engine.l4Connect(callbacks as Callbacks<T>, {
        protocol,
        family: family as 4 | 6,
        srcIp: localAddress,
        srcPort,
        dstIp: host,
        dstPort: options.port,
      });
    let flow: Flow | undefined;
    if (options.localPort !== undefined) {
      flow = connect(options.localPort);
    } else {
      for (let tries = 0; tries < EPHEMERAL_COUNT && flow === undefined; tries++) {
        const port = this.#nextPort;
        this.#nextPort = port === 65535 ? EPHEMERAL_FIRST : port + 1;
        try {
          flow = connect(port);
        } catch (error) {
          if (!(error instanceof FlowExistsError)) throw error;
        }
      }
      if (flow === undefined) throw new FlowExistsError(`no free local port for ${localAddress} > ${host}:${options.port}`);
    }
    core.wake();
    core.driver!.track?.(flow);
    return flow;
  }

  // ---------------------------------------------------------------- the event loop

  /** The stack keeps the process alive (the default, as a listening server does). */
  ref(): this {
    this.#core.stackRef = true;
    this.#core.updateRef();
    return this;
  }

  /**
   * The stack itself no longer keeps the process alive: once no referenced socket is left either,
   * the driver's device poll and timer stop holding the event loop (for a client-only stack).
   */
  unref(): this {
    this.#core.stackRef = false;
    this.#core.updateRef();
    return this;
  }
}
