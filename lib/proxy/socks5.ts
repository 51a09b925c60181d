/**
 * socks5://[user:pass@]host:port: flows through a SOCKS5 server (RFC 1928) with no authentication or
 * username/password (RFC 1929). The handshakes are the `socks` package's (SocksClient); the sockets
 * are ours, so they are half-open capable and carry no listener of the library once established. A
 * CONNECT socket reads with onread into the relay's shared buffer from the start, as a direct one
 * does: the library gets the handshake's reads as copies ('data'), and after it the relay reads the
 * socket without a buffer or an event per read (SocksHandshake).
 *
 * - TCP: CONNECT to the destination: an IPv4 or IPv6 address (ATYP 1, 4) or, for fake-IP flows, the
 *   name (ATYP 3), which the SOCKS server resolves.
 * - UDP: one UDP ASSOCIATE per flow. The control connection asks with DST.ADDR 0.0.0.0, DST.PORT 0
 *   ("If the client is not in possession of the information at the time of the UDP ASSOCIATE, the
 *   client MUST use a port number and address of all zeros", §6), and the reply's BND.ADDR:BND.PORT
 *   is where datagrams go; an all-zeros BND.ADDR means the server's own address, the one the control
 *   connection reached. Each datagram carries the §7 header (socks5-frame.ts). The association ends
 *   with the flow, or when the control connection closes ("A UDP association terminates when the TCP
 *   connection that the UDP ASSOCIATE request arrived on terminates", §7).
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { isIP, type Socket } from "node:net";
import { constants } from "node:os";
import { getSystemErrorName } from "node:util";
import { SocksClient, type SocksClientOptions, type SocksRemoteHost } from "socks";
import type { Endpoint } from "./options.js";
import { udpDataOffset, udpHeader } from "./socks5-frame.js";
import { NativeUdpSocket, sharedNativeUdp, type NativeUdp, type UdpSocketOwner } from "../tun/udp-socket.js";
import {
  describeError,
  timeoutReason,
  UDP_EARLY_DATAGRAMS,
  upstreamSocket,
  type BorrowedReads,
  type Dial,
  type ProxyServerAddress,
  type TcpDialer,
  type TcpSink,
  type UdpChannel,
  type UdpDialer,
  type UdpSink,
} from "./upstream.js";

const { EAGAIN, ENOBUFS } = constants.errno;

/** A SocksClient error (its message) as a reason. */
export function socksReason(server: ProxyServerAddress, error: unknown): string {
  const message = String((error as Error)?.message ?? error);
  let why: string;
  if (message.startsWith("Socks5 Authentication failed")) why = "authentication failed (wrong user or password)";
  else if (message.startsWith("Socks5 proxy rejected connection - ")) why = `the proxy refused: ${spaced(message.slice(35))}`;
  else if (message.includes("no accepted authentication type")) why = "the proxy accepts none of our authentication methods (user:pass@ needed?)";
  else if (message.startsWith("Proxy connection timed out")) why = timeoutReason(server.timeoutMs);
  else if (message.startsWith("Socket closed")) why = "the proxy closed the connection during the handshake";
  else if (/\bE[A-Z]{3,}\b/.test(message)) why = `cannot reach the proxy: ${describeError(error)}`;
  else why = message;
  return `${server.name}: ${why}`;
}

/** "ConnectionRefused" -> "connection refused" */
function spaced(name: string): string {
  return name.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

/** Who a handshake reports to: a TCP flow's sink (CONNECT) or a UDP association (its control connection). */
type HandshakeOwner = TcpSink | Association;

/**
 * The handshake a socket is in, from its creation until it is handed over (or fails): its reads then
 * go to the library as 'data' events. Listeners and the onread callback find it through the socket
 * or the client (`this`), so a handshake costs no closure.
 */
const HANDSHAKE = Symbol("l3l4.socks5.handshake");
type HandshakeCarrier = { [HANDSHAKE]?: SocksHandshake };

function handshakeOf(carrier: unknown): SocksHandshake | undefined {
  return (carrier as HandshakeCarrier)[HANDSHAKE];
}

/**
 * The onread of a SOCKS socket whose sink reads into a shared buffer (TcpSink.reads). During the
 * handshake each read is re-emitted as 'data' for SocksClient, as a copy (the buffer is shared: the
 * next read of any socket overwrites it); once the socket is handed over, reads go to the sink's own
 * callback, exactly as a direct socket's do. One wrapper per distinct `reads` (in practice one: every
 * TcpRelay shares its BorrowedReads).
 */
const handshakeReadsFor = new WeakMap<BorrowedReads, BorrowedReads>();

function handshakeReads(reads: BorrowedReads): BorrowedReads {
  let wrapped = handshakeReadsFor.get(reads);
  if (wrapped === undefined) {
    const relayed = reads.callback;
    wrapped = {
      buffer: reads.buffer,
      callback(this: Socket, bytes: number, buffer: Uint8Array): boolean {
        if (handshakeOf(this) === undefined) return relayed.call(this, bytes, buffer);
        this.emit("data", Buffer.copyBytesFrom(buffer, 0, bytes));
        return true;
      },
    };
    handshakeReadsFor.set(reads, wrapped);
  }
  return wrapped;
}

function onEstablished(this: SocksClient, info: { remoteHost?: SocksRemoteHost }): void {
  handshakeOf(this)?.established(info.remoteHost);
}
function onHandshakeError(this: SocksClient, error: unknown): void {
  handshakeOf(this)?.failed(error);
}
/** 'data' between 'established' and the handover: what SocksClient read past its reply. */
function onExcess(this: Socket, chunk: Buffer): void {
  handshakeOf(this)?.excess(chunk);
}
/** The server's FIN before the handover (our sockets are half-open capable: 'end', no 'close'). */
function onHandshakeEnd(this: Socket): void {
  handshakeOf(this)?.serverEnded();
}
function onHandover(handshake: SocksHandshake): void {
  handshake.handOver();
}
/** The 'error' of a client whose handshake was cancelled: it is in its Error state, done with the socket. */
function onCancelledError(this: SocksClient): void {
  forgetSocket(this);
}

/**
 * SocksClient.connect starts a handshake timer it never clears (socks 2.8.11,
 * build/client/socksclient.js:228; only unref'd since 2.2.1, JoshGlazebrook/socks#32). When it fires
 * after the handshake it does nothing (onEstablishedTimeout acts only before 'established' and before
 * an error), but until then, --connect-timeout (10 s) after every connection, its closure holds the
 * client, the client its socket (this.socket, options.existing_socket) and its 4 KiB receive buffer,
 * and the socket its relay (tcp-relay.ts RELAY) with the flow: at 3,000 connections/s, 30,000 relays
 * the GC kept and traced. So once the client is done with the socket (its state Established or
 * Error: the timer's callback then reads only `state`), it lets go of everything but its state.
 */
function forgetSocket(client: SocksClient): void {
  const internals = client as unknown as { socket?: unknown; options?: unknown; receiveBuffer?: unknown };
  internals.socket = undefined;
  internals.options = undefined;
  internals.receiveBuffer = undefined;
}

/**
 * Connects a socket of ours to the server and runs the SocksClient handshake on it (`existing_socket`:
 * the library writes its greeting at once; node queues it until the TCP connection is up).
 *
 * With `reads` the socket reads with onread into the shared buffer, like a direct socket
 * (handshakeReads): the relay gets every byte after the handshake without a 'data' event or a buffer
 * per read. On 'established' the library has removed its listeners and paused the socket; in a
 * setImmediate it re-emits as one 'data' event what it read past the reply (the server may send the
 * reply and the destination's first bytes in one segment), then resumes the socket. Our handover is
 * queued after that setImmediate (the library's listener on 'established' is prepended, so its runs
 * first), with nothing read in between: it takes what onExcess caught, exactly once, as `head`, which
 * the sink delivers before any later read.
 */
class SocksHandshake implements Dial {
  readonly socket: Socket;
  private readonly client: SocksClient;
  private settled = false;
  private remote: SocksRemoteHost | undefined;
  private head: Buffer | undefined;

  constructor(
    private readonly server: ProxyServerAddress,
    command: "connect" | "associate",
    destination: SocksRemoteHost,
    private readonly owner: HandshakeOwner,
  ) {
    // An association's control connection carries nothing after the reply: 'data' events, no shared buffer.
    const tcp = owner instanceof Association ? undefined : owner;
    const reads = tcp?.reads;
    const socket = upstreamSocket(reads === undefined ? undefined : handshakeReads(reads));
    this.socket = socket;
    (socket as HandshakeCarrier)[HANDSHAKE] = this;
    tcp?.adopt?.(socket);
    socket.on("end", onHandshakeEnd);
    socket.connect({ host: server.host, port: server.port });
    const options: SocksClientOptions = {
      command,
      destination,
      proxy: {
        host: server.host,
        port: server.port,
        type: 5,
        ...(server.username === undefined ? {} : { userId: server.username, password: server.password }),
      },
      timeout: server.timeoutMs,
      existing_socket: socket,
    };
    const client = new SocksClient(options);
    this.client = client;
    (client as HandshakeCarrier)[HANDSHAKE] = this;
    client.once("established", onEstablished);
    client.once("error", onHandshakeError);
    client.connect(socket);
  }

  /** The reply arrived: the library's listeners are off the socket; ours catches the excess. */
  established(remote: SocksRemoteHost | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.release();
    this.remote = remote;
    this.socket.on("data", onExcess);
    setImmediate(onHandover, this);
  }

  /**
   * The server's FIN before its reply: it will not answer, and the library would wait out
   * --connect-timeout (it listens for 'close', which a half-open socket does not emit on a FIN).
   * Destroying the socket ends the handshake now, through the library's own 'close' path ("Socket
   * closed", then failed()): the flow is reset at once. (A FIN right behind the reply reaches the
   * sink: the library keeps the socket paused until its setImmediate, after which the sink listens.)
   */
  serverEnded(): void {
    if (!this.settled) this.socket.destroy();
  }

  excess(chunk: Buffer): void {
    this.head = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
  }

  /** After the library's setImmediate: the socket is the sink's, reads and all. */
  handOver(): void {
    const socket = this.socket;
    socket.off("data", onExcess);
    (socket as HandshakeCarrier)[HANDSHAKE] = undefined;
    forgetSocket(this.client); // after the library's setImmediate, which read them
    if (socket.destroyed) return; // cancelled meanwhile
    const head = this.head;
    this.head = undefined;
    const owner = this.owner;
    if (owner instanceof Association) owner.handshakeDone(undefined, socket, this.remote);
    else owner.upstreamConnected(socket, head);
  }

  failed(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.release();
    forgetSocket(this.client); // its 'error' comes from its Error state
    (this.socket as HandshakeCarrier)[HANDSHAKE] = undefined;
    this.socket.destroy();
    const owner = this.owner;
    if (owner instanceof Association) owner.handshakeDone(error, this.socket, undefined);
    else owner.upstreamFailed(socksReason(this.server, error));
  }

  cancel(): void {
    const pending = !this.settled;
    this.settled = true;
    if (pending) {
      this.release();
      // The library reports the destroyed socket ('close', then its 'error'): nobody listens, and
      // then it is done with the socket.
      this.client.once("error", onCancelledError);
    }
    this.socket.destroy(); // between 'established' and the handover too: handOver then stops
  }

  /** The client is done with us: nothing of ours stays on it, nor our listener for the server's FIN. */
  private release(): void {
    this.socket.off("end", onHandshakeEnd);
    const client = this.client;
    client.removeAllListeners();
    (client as HandshakeCarrier)[HANDSHAKE] = undefined;
  }
}

export class Socks5Tcp implements TcpDialer {
  constructor(private readonly server: ProxyServerAddress) {}

  dial(target: Endpoint, sink: TcpSink): Dial {
    return new SocksHandshake(this.server, "connect", { host: target.host, port: target.port }, sink);
  }
}

/**
 * One UDP ASSOCIATE: its control connection and the datagram socket to the relay. Where the addon
 * is there (tun/udp-socket.ts), that socket is the addon's: datagrams up in the turn's batch
 * (sendmmsg, the request header copied in front of each), down by recvmmsg; else node:dgram's.
 */
class Association implements UdpChannel, UdpSocketOwner {
  private readonly header: Buffer;
  private readonly dial: Dial;
  private control: Socket | undefined;
  private socket: UdpSocket | undefined;
  private relaySocket: NativeUdpSocket | undefined;
  private early: Buffer[] | undefined = [];
  private closed = false;

  constructor(
    private readonly server: ProxyServerAddress,
    target: Endpoint,
    private readonly sink: UdpSink,
    private readonly native: NativeUdp | undefined,
  ) {
    this.header = udpHeader(target);
    this.dial = new SocksHandshake(server, "associate", { host: "0.0.0.0", port: 0 }, this);
  }

  /** The UDP ASSOCIATE handshake's end (SocksHandshake). */
  handshakeDone(error: unknown, control: Socket, relay: SocksRemoteHost | undefined): void {
    if (this.closed) {
      control.destroy();
      return;
    }
    if (error !== undefined) this.fail(socksReason(this.server, error));
    else this.associated(control, relay);
  }

  private associated(control: Socket, relay: SocksRemoteHost | undefined): void {
    this.control = control;
    // Nothing more comes on the control connection; its end is the association's end.
    control.on("data", () => {});
    control.on("error", () => this.fail(`${this.server.name}: the UDP association's control connection failed`));
    // Our upstream sockets are half-open-capable (allowHalfOpen, upstream.ts), so the server's FIN
    // comes as 'end' with no 'close' behind it: either one ends the association (§7).
    const closedByServer = (): void => this.fail(`${this.server.name}: the proxy closed the UDP association`);
    control.on("end", closedByServer);
    control.on("close", closedByServer);
    let host = relay?.host ?? "";
    // BND.ADDR all zeros: the address of the server the control connection reached.
    if (host === "" || host === "0.0.0.0" || host === "::" || isIP(host) === 0) host = control.remoteAddress ?? this.server.host;
    const port = relay?.port ?? 0;
    if (port === 0) {
      this.fail(`${this.server.name}: the UDP ASSOCIATE reply gave no relay port`);
      return;
    }
    const family = isIP(host) === 6 ? 6 : 4;
    if (this.native !== undefined) {
      try {
        // Connected: the kernel delivers datagrams from the relay's address only (§7: drop the others).
        this.relaySocket = new NativeUdpSocket(this.native.addon, this.native.batch, family, this);
        this.relaySocket.connect(host, port);
        return;
      } catch {
        // no descriptor to spare (EMFILE): dgram's, whose error says why
      }
    }
    const socket = createSocket(family === 6 ? "udp6" : "udp4");
    this.socket = socket;
    socket.on("message", (message: Buffer) => this.datagram(message));
    socket.on("error", (e: Error) => this.failed(e));
    socket.connect(port, host, () => this.connected());
  }

  /** The relay's socket is connected (dgram's callback, or NativeUdpSocket's). */
  connected(): void {
    const early = this.early ?? [];
    this.early = undefined;
    if (this.closed) return;
    for (const datagram of early) this.sendDatagram(datagram);
    this.sink.upstreamReady();
  }

  /** A datagram from the relay: its data past the header (§7), or nothing when the header is bad. */
  datagram(message: Uint8Array): void {
    if (this.closed) return;
    const offset = udpDataOffset(message);
    if (offset >= 0) this.sink.upstreamDatagram(message.subarray(offset));
  }

  /** NativeUdpSocket's report: refused by the kernel (a full send buffer) or received unusable: counted. */
  dropped(count: number, errno: number): void {
    if (this.closed) return;
    this.sink.upstreamDropped?.(count);
    if (errno !== 0 && errno !== EAGAIN && errno !== ENOBUFS) this.failed({ code: getSystemErrorName(-errno) });
  }

  failed(error: unknown): void {
    this.fail(`${this.server.name}: udp relay ${describeError(error)}`);
  }

  send(data: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.early === undefined && this.relaySocket !== undefined) return this.relaySocket.send(data, this.header);
    const datagram = Buffer.allocUnsafe(this.header.length + data.length);
    this.header.copy(datagram, 0);
    datagram.set(data, this.header.length);
    if (this.early !== undefined) {
      if (this.early.length >= UDP_EARLY_DATAGRAMS) return false;
      this.early.push(datagram);
      return true;
    }
    this.socket!.send(datagram);
    return true;
  }

  /** One whole datagram (header included) on whichever socket carries the association. */
  private sendDatagram(datagram: Buffer): void {
    if (this.relaySocket !== undefined) {
      if (!this.relaySocket.send(datagram)) this.sink.upstreamDropped?.(1);
    } else this.socket!.send(datagram);
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.close();
    this.sink.upstreamFailed(reason);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dial.cancel();
    this.control?.destroy();
    this.socket?.close();
    this.relaySocket?.close();
  }
}

export class Socks5Udp implements UdpDialer {
  /** `native`: the addon's sockets for the relay (sharedNativeUdp) unless given; null: node:dgram. */
  constructor(
    private readonly server: ProxyServerAddress,
    private readonly native?: NativeUdp | null,
  ) {}

  open(target: Endpoint, _family: 4 | 6, sink: UdpSink): UdpChannel {
    return new Association(this.server, target, sink, this.native === undefined ? sharedNativeUdp() : (this.native ?? undefined));
  }
}
