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
  #state: unknown = null;
  #closeReason = -1;

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
   * The flow's protocol state (TcpConnection, UdpFlow, TimeWait); null once the flow is gone.
   * @internal
   */
  get state(): unknown {
    return this.#state;
  }

  set state(s: unknown) {
    this.#state = s;
  }

  /**
   * Why the flow ended (an index into CLOSE_REASONS, engine.ts); -1 while it lives.
   * @internal
   */
  get closeReason(): number {
    return this.#closeReason;
  }

  set closeReason(r: number) {
    this.#closeReason = r;
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
