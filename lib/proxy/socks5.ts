/**
 * socks5://[user:pass@]host:port: flows through a SOCKS5 server (RFC 1928) with no authentication or
 * username/password (RFC 1929). The handshakes are the `socks` package's (SocksClient); the sockets
 * are ours, so they are half-open capable and carry no listener of the library once established.
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
import { SocksClient, type SocksClientOptions, type SocksRemoteHost } from "socks";
import type { Endpoint } from "./options.js";
import { udpDataOffset, udpHeader } from "./socks5-frame.js";
import {
  describeError,
  timeoutReason,
  UDP_EARLY_DATAGRAMS,
  upstreamSocket,
  type Dial,
  type ProxyServerAddress,
  type TcpDialer,
  type TcpSink,
  type UdpChannel,
  type UdpDialer,
  type UdpSink,
} from "./upstream.js";

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

/**
 * Connects a socket of ours to the server and runs the SocksClient handshake on it (`existing_socket`:
 * the library writes its greeting at once; node queues it until the TCP connection is up).
 */
function handshake(
  server: ProxyServerAddress,
  command: "connect" | "associate",
  destination: SocksRemoteHost,
  onDone: (error: unknown, socket: Socket, remote: SocksRemoteHost | undefined) => void,
): Dial {
  const socket = upstreamSocket();
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
  let settled = false;
  const client = new SocksClient(options);
  client.once("established", (info: { socket: Socket; remoteHost?: SocksRemoteHost }) => {
    if (settled) return;
    settled = true;
    client.removeAllListeners();
    onDone(undefined, socket, info.remoteHost);
  });
  client.once("error", (error: unknown) => {
    if (settled) return;
    settled = true;
    client.removeAllListeners();
    socket.destroy();
    onDone(error, socket, undefined);
  });
  client.connect(socket);
  return {
    cancel() {
      if (settled) return;
      settled = true;
      client.removeAllListeners();
      client.on("error", () => {}); // the library reports the destroyed socket; nobody listens
      socket.destroy();
    },
  };
}

export class Socks5Tcp implements TcpDialer {
  constructor(private readonly server: ProxyServerAddress) {}

  dial(target: Endpoint, sink: TcpSink): Dial {
    return handshake(this.server, "connect", { host: target.host, port: target.port }, (error, socket) => {
      if (error !== undefined) sink.upstreamFailed(socksReason(this.server, error));
      // The library paused the socket and resumes it in setImmediate (after re-emitting what it read
      // past its reply): the relay's 'data' listener is in place by then.
      else sink.upstreamConnected(socket, undefined);
    });
  }
}

/** One UDP ASSOCIATE: its control connection and the datagram socket to the relay. */
class Association implements UdpChannel {
  private readonly header: Buffer;
  private readonly dial: Dial;
  private control: Socket | undefined;
  private socket: UdpSocket | undefined;
  private early: Buffer[] | undefined = [];
  private closed = false;

  constructor(
    private readonly server: ProxyServerAddress,
    target: Endpoint,
    private readonly sink: UdpSink,
  ) {
    this.header = udpHeader(target);
    this.dial = handshake(server, "associate", { host: "0.0.0.0", port: 0 }, (error, control, relay) => {
      if (this.closed) {
        control.destroy();
        return;
      }
      if (error !== undefined) this.fail(socksReason(server, error));
      else this.associated(control, relay);
    });
  }

  private associated(control: Socket, relay: SocksRemoteHost | undefined): void {
    this.control = control;
    // Nothing more comes on the control connection; its end is the association's end.
    control.on("data", () => {});
    control.on("error", () => this.fail(`${this.server.name}: the UDP association's control connection failed`));
    control.on("close", () => this.fail(`${this.server.name}: the proxy closed the UDP association`));
    let host = relay?.host ?? "";
    // BND.ADDR all zeros: the address of the server the control connection reached.
    if (host === "" || host === "0.0.0.0" || host === "::" || isIP(host) === 0) host = control.remoteAddress ?? this.server.host;
    const port = relay?.port ?? 0;
    if (port === 0) {
      this.fail(`${this.server.name}: the UDP ASSOCIATE reply gave no relay port`);
      return;
    }
    const socket = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
    this.socket = socket;
    socket.on("message", (message: Buffer) => {
      if (this.closed) return;
      const offset = udpDataOffset(message);
      if (offset >= 0) this.sink.upstreamDatagram(message.subarray(offset));
    });
    socket.on("error", (e: Error) => this.fail(`${this.server.name}: udp relay ${describeError(e)}`));
    // Connected: the kernel delivers datagrams from the relay's address only (§7: drop the others).
    socket.connect(port, host, () => {
      const early = this.early ?? [];
      this.early = undefined;
      if (this.closed) return;
      for (const datagram of early) socket.send(datagram);
      this.sink.upstreamReady();
    });
  }

  send(data: Uint8Array): boolean {
    if (this.closed) return false;
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
  }
}

export class Socks5Udp implements UdpDialer {
  constructor(private readonly server: ProxyServerAddress) {}

  open(target: Endpoint, _family: 4 | 6, sink: UdpSink): UdpChannel {
    return new Association(this.server, target, sink);
  }
}

