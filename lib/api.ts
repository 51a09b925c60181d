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
  /**
   * A new flow (TCP SYN, first UDP datagram); false refuses it: TCP answers RST, UDP answers ICMP port
   * unreachable. Past the SYN backlog (synBacklog) a TCP flow is offered when the ACK returning its
   * SYN cookie arrives, and a refusal answers that ACK with RST.
   */
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

/**
 * Why a flow ended, from its `l4Rx(flow, null)` on (`L3L4.l4CloseReason`). The Node error code a
 * socket would report is given for each.
 */
export type CloseReason =
  /** Orderly: TCP both FINs exchanged (TIME-WAIT included); UDP closed by l4LocalClose. */
  | "closed"
  /** The peer reset an open connection (ECONNRESET). */
  | "reset"
  /** The peer refused our SYN: a RST answering it, or ICMP port or protocol unreachable (ECONNREFUSED). */
  | "refused"
  /** The application aborted the flow with l4Abort (TCP sent RST). */
  | "aborted"
  /** Retransmissions, zero-window probes or keep-alive probes went unanswered (ETIMEDOUT). */
  | "timeout"
  /** The handshake did not complete: SYN or SYN-ACK retransmissions ran out (ETIMEDOUT). */
  | "handshake-timeout"
  /** tcpIdleTimeout, tcpHalfOpenIdleTimeout or udpIdleTimeout passed without traffic. */
  | "idle"
  /** ICMP host unreachable (or administratively prohibited, or time exceeded) during the handshake (EHOSTUNREACH). */
  | "host-unreachable"
  /** ICMP network unreachable during the handshake (ENETUNREACH). */
  | "net-unreachable";

/**
 * A snapshot of one flow, like Linux's TCP_INFO (`L3L4.l4Info`). Times are milliseconds, sizes bytes.
 * For UDP only `state` ("ESTABLISHED"), the byte and segment (datagram) counts are set; the rest are 0.
 * A TIME-WAIT record keeps no counters: everything but `state` is 0.
 */
export interface FlowInfo {
  state: TcpState;
  /** Payload bytes received in order (tcpi_bytes_received), delivered or still held for the application. */
  bytesIn: number;
  /** Payload bytes sent, retransmissions included (tcpi_bytes_sent). */
  bytesOut: number;
  /** Payload bytes the peer acknowledged (tcpi_bytes_acked). */
  bytesAcked: number;
  /** Segments (UDP: datagrams) received and sent for this flow. */
  segmentsIn: number;
  segmentsOut: number;
  /** Segments sent again (tcpi_total_retrans). */
  retransmits: number;
  /** Smoothed round-trip time and its variation (RFC 6298); 0 before the first sample. */
  srtt: number;
  rttvar: number;
  /** The retransmission timeout now, backoff included. */
  rto: number;
  /** Congestion window and slow-start threshold (Infinity until the first loss). */
  cwnd: number;
  ssthresh: number;
  /** The peer's advertised window (scaled), and the window we advertised last. */
  sndWnd: number;
  rcvWnd: number;
  /** Largest segment we send, and the largest the peer has sent us. */
  sndMss: number;
  rcvMss: number;
  /** Bytes sent and not yet acknowledged (in flight). */
  unacked: number;
  /** Bytes in the send buffer: accepted by l4Tx and not yet acknowledged. */
  sendQueue: number;
  /** Bytes received and held: not yet delivered (paused) or out of order. */
  recvQueue: number;
}

/**
 * What drives an engine (reads packets into l3Rx, calls l4Poll by its deadline, writes what l3Tx
 * hands over), as an application sees it: runTun's runner, joinEngines, MemoryLink, or a loop of
 * your own. An application that calls the engine on its own time (from a stream's write(), a
 * timer) needs one; runTun hands it to a TunApp through `attach`.
 */
export interface EngineDriver<T> {
  /** The engine driven. */
  readonly engine: object;
  /**
   * The callbacks to pass to engine calls the application makes, inside callbacks and outside a
   * turn alike (engine.l4Tx(driver.callbacks, flow, data)).
   */
  readonly callbacks: Callbacks<T>;
  /**
   * Ask for a turn soon (l4Poll, re-arm the timer, send what is queued). Call it after engine calls
   * made outside a turn: they may have queued packets or moved a deadline.
   */
  schedule(): void;
  /** Close this flow at shutdown, as the flows the engine accepted are (for flows opened with l4Connect). */
  track?(flow: Flow): void;
  /** false: the driver's handles (device poll, timer) no longer keep the Node process alive; true: they do again. */
  setRef?(on: boolean): void;
}
