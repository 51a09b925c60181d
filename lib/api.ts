/**
 * The public shapes every part of l3l4 shares: a flow, the callbacks through which the engine
 * hands packets and data out, and the TCP state names (RFC 9293 §3.3.2, spelled as the RFC spells them).
 */

/** One object per flow, the same object for the flow's whole life: a valid Map key. */
export interface Flow {
  readonly protocol: "tcp" | "udp";
  readonly family: 4 | 6;
  /** As in the flow's first packet: the peer that opened it. */
  readonly srcIp: string;
  readonly srcPort: number;
  /** Where it was sent: the engine answers as this address. */
  readonly dstIp: string;
  readonly dstPort: number;
}

export interface Callbacks<T> {
  /** A buffer for one outgoing packet of `size` bytes; undefined = none now (TCP data stays queued and goes later). */
  l3TxBuffer(size: number): T | undefined;
  /** The writable bytes of that buffer (length >= size); the packet is written at offset 0. */
  l3TxBufferMut(buffer: T): Uint8Array;
  /** Transmit: the packet is the first `length` bytes. */
  l3Tx(buffer: T, length: number): void;
  /** Data in order (a view valid only during the call); null: the flow is gone, exactly once per flow. */
  l4Rx(flow: Flow, data: Uint8Array | null): void;
  /** A new flow (TCP SYN, first UDP datagram); false refuses it: TCP answers RST, UDP answers ICMP port unreachable. */
  l4Accept?(flow: Flow): boolean;
  /** Send space opened on a flow whose last l4Tx took fewer bytes than offered. */
  l4TxReady?(flow: Flow): void;
  /** The peer has finished sending (FIN), after all its data was delivered. */
  l4RemoteClosed?(flow: Flow): void;
}

export type TcpState =
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT"
  | "CLOSED";
