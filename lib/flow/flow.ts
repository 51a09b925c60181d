/**
 * The engine's flow object: the public `Flow` shape plus what the engine needs to find the flow's
 * protocol state without a lookup. Made once, when the flow is born; the same object for its life.
 */
import type { Flow } from "../api.js";

export class FlowRecord implements Flow {
  readonly protocol: "tcp" | "udp";
  readonly family: 4 | 6;
  readonly srcIp: string;
  readonly srcPort: number;
  readonly dstIp: string;
  readonly dstPort: number;

  /**
   * Addresses in wire form, 32 bytes: the remote (peer) address at 0..15 and the local (engine-side)
   * address at 16..31. IPv4 uses the first 4 bytes of each half. Outgoing packets copy from here.
   * @internal
   */
  readonly addr: Uint8Array;
  /** @internal */ readonly remotePort: number;
  /** @internal */ readonly localPort: number;
  /**
   * True when the engine opened the flow (l4Connect): then src* is the engine side.
   * @internal
   */
  readonly activeOpen: boolean;
  /**
   * The flow's protocol state (TcpConnection, UdpFlowState, TimeWait); null once the flow is gone.
   * @internal
   */
  state: unknown;
  /** The engine that owns this flow. @internal */
  readonly owner: object;

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
    this.owner = owner;
    this.protocol = protocol;
    this.family = family;
    this.addr = addr;
    this.remotePort = remotePort;
    this.localPort = localPort;
    this.activeOpen = activeOpen;
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
    this.state = null;
  }

  toString(): string {
    const a = (ip: string) => (this.family === 6 ? `[${ip}]` : ip);
    return `${this.protocol} ${a(this.srcIp)}:${this.srcPort} > ${a(this.dstIp)}:${this.dstPort}`;
  }
}
