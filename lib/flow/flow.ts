/**
 * The engine's flow object: the public `Flow` shape plus what the engine needs to find the flow's
 * protocol state without a lookup. Made once, when the flow is born; the same object for its life.
 *
 * Only the six pinned fields are own, enumerable properties. The engine's parts are ES private fields
 * behind accessors on the prototype, so `JSON.stringify(flow)` gives exactly the six fields,
 * `Object.keys`, spreads and deep-equality see only them, nothing of the engine is reachable through
 * the object's properties, and `console.log(flow)` prints one line (`tcp 10.0.0.2:41000 > 192.0.2.7:80`).
 * Private fields cost nothing per access once V8 has inlined the accessors.
 */
import { inspect } from "node:util";
import type { Flow } from "../api.js";
import type { TcpConnection } from "../tcp/connection.js";
import type { TimeWaitState } from "../tcp/time-wait.js";
import type { UdpFlow } from "../udp/udp-flow.js";
import type { FlowsPerSource } from "./sources.js";
import { read32 } from "../wire/bytes.js";
import { ipv4ToString } from "../wire/ipv4.js";
import { ipv6ToString } from "../wire/ipv6.js";

/**
 * What a flow is now, by protocol state: a TCP connection, the TIME-WAIT record that follows an
 * active close, or a UDP flow. The engine switches on `kind`; a new kind makes every such switch a
 * compile error until it is handled.
 */
export type FlowState = TcpConnection | TimeWaitState | UdpFlow;

/** Live flows by protocol: what maxFlows bounds (TIME-WAIT records are not flows). */
export class FlowCounts {
  tcp = 0;
  udp = 0;
  /** The flows peers opened, by source: what maxFlowsPerSource bounds (flow/sources.ts); null when off. */
  perSource: FlowsPerSource | null = null;

  get flows(): number {
    return this.tcp + this.udp;
  }
}

export class FlowRecord implements Flow {
  readonly protocol: "tcp" | "udp";
  readonly family: 4 | 6;
  readonly srcIp: string;
  readonly srcPort: number;
  readonly dstIp: string;
  readonly dstPort: number;

  readonly #addr: Uint8Array;
  readonly #remotePort: number;
  readonly #localPort: number;
  readonly #activeOpen: boolean;
  readonly #owner: object;
  #state: FlowState | null = null;
  #closeReason = -1;
  #timeWaitRef = -1;

  /** @internal */
  constructor(
    owner: object,
    protocol: "tcp" | "udp",
    family: 4 | 6,
    addr: Uint8Array,
    remoteIp: string,
    remotePort: number,
    localIp: string,
    localPort: number,
    activeOpen: boolean,
  ) {
    this.protocol = protocol;
    this.family = family;
    if (activeOpen) {
      this.srcIp = localIp;
      this.srcPort = localPort;
      this.dstIp = remoteIp;
      this.dstPort = remotePort;
    } else {
      this.srcIp = remoteIp;
      this.srcPort = remotePort;
      this.dstIp = localIp;
      this.dstPort = localPort;
    }
    this.#owner = owner;
    this.#addr = addr;
    this.#remotePort = remotePort;
    this.#localPort = localPort;
    this.#activeOpen = activeOpen;
  }

  /**
   * Addresses in wire form, 32 bytes: the remote (peer) address at 0..15 and the local (engine-side)
   * address at 16..31. IPv4 uses the first 4 bytes of each half. Outgoing packets copy from here.
   * @internal
   */
  get addr(): Uint8Array {
    return this.#addr;
  }

  /** @internal */
  get remotePort(): number {
    return this.#remotePort;
  }

  /** @internal */
  get localPort(): number {
    return this.#localPort;
  }

  /**
   * True when the engine opened the flow (l4Connect): then src* is the engine side.
   * @internal
   */
  get activeOpen(): boolean {
    return this.#activeOpen;
  }

  /** The engine that owns this flow. @internal */
  get owner(): object {
    return this.#owner;
  }

  /**
   * The flow's protocol state (see FlowState); null once the flow is gone.
   * @internal
   */
  get state(): FlowState | null {
    return this.#state;
  }

  set state(s: FlowState | null) {
    this.#state = s;
  }

  /**
   * Why the flow ended (a CloseCause, tcp/context.ts); -1 while it lives.
   * @internal
   */
  get closeReason(): number {
    return this.#closeReason;
  }

  set closeReason(r: number) {
    this.#closeReason = r;
  }

  /**
   * The flow's TIME-WAIT row (tcp/time-wait.ts TimeWaitTable.ref), once it has one; -1 before.
   * @internal
   */
  get timeWaitRef(): number {
    return this.#timeWaitRef;
  }

  set timeWaitRef(r: number) {
    this.#timeWaitRef = r;
  }

  toString(): string {
    const a = (ip: string) => (this.family === 6 ? `[${ip}]` : ip);
    return `${this.protocol} ${a(this.srcIp)}:${this.srcPort} > ${a(this.dstIp)}:${this.dstPort}`;
  }

  /** Exactly the six pinned fields. */
  toJSON(): Flow {
    return {
      protocol: this.protocol,
      family: this.family,
      srcIp: this.srcIp,
      srcPort: this.srcPort,
      dstIp: this.dstIp,
      dstPort: this.dstPort,
    };
  }

  /** console.log and util.inspect: the one-line form. */
  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * The flow of a packet from `packet[srcOff..]` to `packet[dstOff..]` (the peer opened it, unless
 * `activeOpen`): its address strings are made here, once per flow.
 */
export function flowFromPacket(
  owner: object,
  protocol: "tcp" | "udp",
  family: 4 | 6,
  packet: Uint8Array,
  srcOff: number,
  dstOff: number,
  srcPort: number,
  dstPort: number,
  activeOpen = false,
): FlowRecord {
  const n = family === 4 ? 4 : 16;
  const addr = new Uint8Array(32);
  addr.set(packet.subarray(srcOff, srcOff + n), 0);
  addr.set(packet.subarray(dstOff, dstOff + n), 16);
  return flowFromAddresses(owner, protocol, family, addr, srcPort, dstPort, activeOpen);
}

/** The flow for `addr` (remote at 0, local at 16, as FlowRecord.addr) and ports; `activeOpen` for l4Connect. */
export function flowFromAddresses(
  owner: object,
  protocol: "tcp" | "udp",
  family: 4 | 6,
  addr: Uint8Array,
  remotePort: number,
  localPort: number,
  activeOpen: boolean,
): FlowRecord {
  const remoteIp = family === 4 ? ipv4ToString(read32(addr, 0)) : ipv6ToString(addr, 0);
  const localIp = family === 4 ? ipv4ToString(read32(addr, 16)) : ipv6ToString(addr, 16);
  return new FlowRecord(owner, protocol, family, addr, remoteIp, remotePort, localIp, localPort, activeOpen);
}
