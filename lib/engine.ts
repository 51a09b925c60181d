/**
 * The engine: IP packets in, flow data out; flow data in, IP packets out.
 *
 * `L3L4` is the public face: it checks arguments, brackets each call (Core.enter / Core.leave) and
 * hands over to `Core` (core.ts), which dispatches: packets to IP input and on to TCP, UDP or ICMP,
 * timers to what owns them. lib/README.md maps the code and follows one segment through it.
 *
 * Re-entrancy: callbacks may call back into the engine. l4Tx, l4LocalClose, l4Abort, l4PauseRx and
 * l4ResumeRx run at once (a flow closed from its own callback is gone when the callback returns, and
 * gets its l4Rx(flow, null) exactly once); with tcpAutocork (builder), the TCP segments of an l4Tx or
 * l4LocalClose made outside a turn are built at the next l4Poll. l3Rx from inside a callback is queued (copied) and processed
 * when the outermost call returns, since the packet views are in use; it returns undefined. l4Poll from
 * inside a callback runs no timers and just reports the next deadline.
 */
import type { Callbacks, CloseReason, Flow, FlowInfo, TcpState } from "./api.js";
import type { EngineConfig } from "./config.js";
import { Core } from "./core.js";
import { InvalidArgumentError, UnknownFlowError } from "./errors.js";
import type { ConnectOptions } from "./flow/connect.js";
import { FlowRecord } from "./flow/flow.js";
import { newFlowInfo, timeWaitInfo, udpInfo } from "./flow/info.js";
import type { AnyCallbacks } from "./ip/output.js";
import type { EngineStats } from "./stats.js";
import { CLOSE_REASON_NAMES, CloseCause } from "./tcp/context.js";

export type { ConnectOptions } from "./flow/connect.js";

/**
 * A userspace TCP/IP engine. Build one with `L3L4Builder`. Every method that may send or deliver takes
 * the callbacks to use for the duration of the call.
 */
export class L3L4<T> {
  readonly #core: Core;
  readonly #clock: () => number;

  /** @internal Use L3L4Builder. */
  constructor(config: EngineConfig, clock: () => number) {
    this.#core = new Core(config, clock, this);
    this.#clock = clock;
  }

  /** The engine's clock (milliseconds). */
  now(): number {
    return this.#clock();
  }

  /**
   * Bytes before the IP packet in every buffer the engine hands to l3Tx: the 12-byte virtio-net
   * header it writes under txSuperSegments (L3L4Builder), else 0.
   */
  get txHeaderLength(): number {
    return this.#core.out.head;
  }

  /** Flows alive (TCP + UDP); TIME-WAIT records are not flows. */
  get flowCount(): number {
    return this.#core.flowCount;
  }

  /**
   * One IP packet from the network (IPv4 or IPv6, from its IP header on; the view is not kept).
   * Returns the packet's flow if it is established: a TCP flow past its handshake (TIME-WAIT
   * included), any UDP flow; else undefined. Nothing from the wire throws: bad packets are counted.
   */
  l3Rx(cb: Callbacks<T>, packet: Uint8Array): Flow | undefined {
    if (!(packet instanceof Uint8Array)) throw new InvalidArgumentError("packet must be a Uint8Array");
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.receive(cb as AnyCallbacks, packet);
    } finally {
      core.leave(prev);
    }
  }

  /**
   * l3Rx for a packet whose TCP or UDP checksum the caller vouches for: it is not verified (the IPv4
   * header checksum still is). For a TUN device opened with offloads (lib/tun/runner.ts): a packet the
   * local kernel wrote with NEEDS_CSUM (its data never left memory; the checksum field holds only the
   * pseudo-header sum, as Linux's own stack leaves it for a device that offloads checksums) or
   * DATA_VALID (already verified). The packet may be a TCP super-segment (TSO, IP length up to 65535),
   * larger than the MTU: the engine takes it as one segment, as Linux's stack takes a GRO packet.
   * Never for packets from a wire or another process: a corrupt packet would be taken as it is.
   * Fragments are reassembled and their datagram verified as l3Rx does.
   */
  l3RxTrusted(cb: Callbacks<T>, packet: Uint8Array): Flow | undefined {
    if (!(packet instanceof Uint8Array)) throw new InvalidArgumentError("packet must be a Uint8Array");
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.receive(cb as AnyCallbacks, packet, true);
    } finally {
      core.leave(prev);
    }
  }

  /**
   * Send data on a flow. TCP: copies what fits in the send buffer and returns the bytes taken (maybe
   * fewer than offered: l4TxReady tells when there is room again). UDP: sends `data` as one datagram
   * (IP-fragmented if larger than the MTU) and returns `data.length`, or 0 if l3TxBuffer had no buffer
   * (the datagram is dropped: UDP is unreliable); larger than 65507 (IPv4) / 65527 (IPv6) bytes throws
   * InvalidArgumentError. Undefined: the flow is gone.
   */
  l4Tx(cb: Callbacks<T>, flow: Flow, data: Uint8Array): number | undefined {
    const f = this.#own(flow);
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError("data must be a Uint8Array");
    const st = f.state;
    if (st === null) return undefined;
    // TIME-WAIT: nothing more may be sent (0 while the application still has data to take, like any
    // connection after its FIN), and the flow is gone for the application once it took it.
    if (st.kind === "time-wait") return st.held === null ? undefined : 0;
    const core = this.#core;
    if (st.kind === "udp") {
      const max = core.udp.out.maxPayload(f.family);
      if (data.length > max) {
        throw new InvalidArgumentError(`a UDP datagram over IPv${f.family} carries at most ${max} bytes, not ${data.length}`);
      }
    }
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return st.kind === "tcp" ? st.send(data) : core.udp.send(cb as AnyCallbacks, st, data, core.now);
    } finally {
      core.leave(prev);
    }
  }

  /**
   * Send `data` on a UDP flow as consecutive datagrams of `segmentSize` bytes (the last may be
   * shorter), as that many l4Tx calls would; under txUdpSegments the run may leave as one UDP GSO
   * packet for the device to cut. Returns the bytes sent (less than data.length: the rest dropped
   * for want of a buffer, as l4Tx's 0). Throws InvalidArgumentError for a TCP flow, a segmentSize
   * that is not a positive integer, or one larger than a datagram can carry. Undefined: the flow is gone.
   */
  l4TxDatagrams(cb: Callbacks<T>, flow: Flow, data: Uint8Array, segmentSize: number): number | undefined {
    const f = this.#own(flow);
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError("data must be a Uint8Array");
    const st = f.state;
    if (st === null) return undefined;
    if (st.kind !== "udp") throw new InvalidArgumentError("l4TxDatagrams is for UDP flows");
    const core = this.#core;
    const max = core.udp.out.maxPayload(f.family);
    if (!Number.isInteger(segmentSize) || segmentSize < 1 || segmentSize > max) {
      throw new InvalidArgumentError(`segmentSize must be an integer in 1..${max}, not ${segmentSize}`);
    }
    if (data.length === 0) return 0;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.udp.sendRun(cb as AnyCallbacks, st, data, segmentSize, core.now);
    } finally {
      core.leave(prev);
    }
  }

  /**
   * Run every timer that is due (retransmissions, delayed ACKs, idle timeouts, TIME-WAIT expiry,
   * fragment reassembly timeouts). Returns the next deadline on now()'s clock (Infinity if flows exist
   * but none has a timer), or undefined when nothing is scheduled at all.
   */
  l4Poll(cb: Callbacks<T>): number | undefined {
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.poll(cb as AnyCallbacks);
    } finally {
      core.leave(prev);
    }
  }

  /** TCP: send FIN after the queued data. UDP: forget the flow (l4Rx(flow, null) follows). Gone: no-op. */
  l4LocalClose(cb: Callbacks<T>, flow: Flow): void {
    this.#end(cb, flow, false);
  }

  /** TCP: send RST now and forget the flow. UDP: forget the flow. Gone: no-op. Both end in l4Rx(flow, null). */
  l4Abort(cb: Callbacks<T>, flow: Flow): void {
    this.#end(cb, flow, true);
  }

  /**
   * Stop delivering data: it stays buffered and TCP's advertised window closes as it fills; UDP queues
   * up to a bound and drops beyond it. Sends nothing.
   */
  l4PauseRx(flow: Flow): void {
    const st = this.#own(flow).state;
    if (st === null) return;
    switch (st.kind) {
      case "tcp":
        st.pauseRx();
        return;
      case "udp":
        st.paused = true;
        return;
      case "time-wait":
        st.held?.pauseRx();
        return;
    }
  }

  /** Deliver what was buffered while paused and reopen the window (TCP sends a window update). */
  l4ResumeRx(cb: Callbacks<T>, flow: Flow): void {
    const st = this.#own(flow).state;
    if (st === null) return;
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      if (st.kind === "tcp") st.resumeRx();
      else if (st.kind === "udp") core.udp.resume(st);
      else st.held?.resumeRx();
    } finally {
      core.leave(prev);
    }
  }

  /** TCP: the RFC 9293 state ("TIME-WAIT" for a record); UDP: "ESTABLISHED"; a gone or foreign flow: undefined. */
  l4State(flow: Flow): TcpState | undefined {
    if (!(flow instanceof FlowRecord) || flow.owner !== this) return undefined;
    const st = flow.state;
    if (st === null) return undefined;
    switch (st.kind) {
      case "tcp":
        return st.state;
      case "time-wait":
        return st.held !== null || this.#core.tcp.timeWaitAlive(flow) ? "TIME-WAIT" : undefined;
      case "udp":
        return "ESTABLISHED";
    }
  }

  /** Has the peer finished sending (FIN received)? UDP: false. A gone flow: true. */
  l4IsRemoteClosed(flow: Flow): boolean {
    const st = this.#own(flow).state;
    if (st === null) return true;
    switch (st.kind) {
      case "tcp":
        return st.remoteClosed;
      case "udp":
        return false;
      case "time-wait":
        return true;
    }
  }

  /** Have both sides finished sending? UDP: false. A gone flow or TIME-WAIT: true. */
  l4IsLocalAndRemoteClosed(flow: Flow): boolean {
    const st = this.#own(flow).state;
    if (st === null) return true;
    switch (st.kind) {
      case "tcp":
        return st.localAndRemoteClosed;
      case "udp":
        return false;
      case "time-wait":
        return true;
    }
  }

  /**
   * Open a flow from the engine's side: TCP sends a SYN now; UDP creates the flow, whose first
   * datagram goes out with l4Tx. `srcIp`/`srcPort` are the engine's end. Throws InvalidArgumentError
   * for bad addresses or ports, FlowExistsError if the 5-tuple is in use (a TIME-WAIT record
   * included). Not subject to maxFlows, which bounds what peers can open.
   */
  l4Connect(cb: Callbacks<T>, options: ConnectOptions): Flow {
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      return core.connect(options);
    } finally {
      core.leave(prev);
    }
  }

  /**
   * A TCP_INFO-like snapshot of a flow (api.ts FlowInfo): state, RTT, windows, byte and segment
   * counts. Fills and returns `out` when given, so a caller polling many flows allocates nothing;
   * else a new object. Undefined when the flow is gone; UnknownFlowError for another engine's flow.
   */
  l4Info(flow: Flow, out?: FlowInfo): FlowInfo | undefined {
    const f = this.#own(flow);
    const st = f.state;
    if (st === null) return undefined;
    const o = out ?? newFlowInfo();
    switch (st.kind) {
      case "tcp":
        st.info(o);
        break;
      case "udp":
        udpInfo(st, o);
        break;
      case "time-wait":
        if (st.held !== null) st.held.info(o);
        else if (this.#core.tcp.timeWaitAlive(f)) timeWaitInfo(o);
        else return undefined;
        break;
    }
    return o;
  }

  /**
   * Why the flow ended (api.ts CloseReason), from the moment its l4Rx(flow, null) is called (inside
   * that call too); undefined while it is alive. UnknownFlowError for another engine's flow.
   */
  l4CloseReason(flow: Flow): CloseReason | undefined {
    const r = this.#own(flow).closeReason;
    return r < 0 ? undefined : CLOSE_REASON_NAMES[r];
  }

  /** Counters since the engine was built. */
  stats(): EngineStats {
    return this.#core.stats();
  }

  #own(flow: Flow): FlowRecord {
    if (!(flow instanceof FlowRecord) || flow.owner !== this) {
      throw new UnknownFlowError("not a flow of this engine");
    }
    return flow;
  }

  #end(cb: Callbacks<T>, flow: Flow, abort: boolean): void {
    const st = this.#own(flow).state;
    if (st === null) return;
    // TIME-WAIT: closed already; an abort drops what the application has not taken (the record stays).
    const conn = st.kind === "time-wait" ? (abort ? st.held : null) : st;
    if (conn === null) return;
    const core = this.#core;
    const prev = core.enter(cb as AnyCallbacks);
    try {
      if (conn.kind === "udp") core.udp.close(conn, abort ? CloseCause.ABORTED : CloseCause.CLOSED);
      else if (abort) conn.abort();
      else conn.close();
    } finally {
      core.leave(prev);
    }
  }
}
