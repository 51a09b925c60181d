/**
 * http://[user:pass@]host:port: TCP flows through an HTTP proxy's CONNECT method (RFC 9110 §9.3.6),
 * with Basic authentication (RFC 7617) in Proxy-Authorization (RFC 9110 §11.7.2) when a user is
 * given. node:http writes the request and parses the response; a 2xx response turns the connection
 * into a tunnel ("any 2xx (Successful) response indicates that the sender (and all inbound proxies)
 * will switch to tunnel mode immediately after the response header section"), and whatever the
 * proxy sent after the header is the first of the tunnel's bytes (`head`). Anything else fails the
 * flow with the status. UDP cannot go through an HTTP proxy (see ProxyApp: --udp refuse | direct).
 */
import { request, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Endpoint } from "./options.js";
import { describeError, endpointText, timeoutReason, upstreamSocket, type Dial, type ProxyServerAddress, type TcpDialer, type TcpSink } from "./upstream.js";

export class HttpConnectTcp implements TcpDialer {
  private readonly authorization: string | undefined;

  constructor(private readonly server: ProxyServerAddress) {
    this.authorization =
      server.username === undefined ? undefined : `Basic ${Buffer.from(`${server.username}:${server.password ?? ""}`).toString("base64")}`;
  }

  dial(target: Endpoint, sink: TcpSink): Dial {
    const server = this.server;
    const authority = endpointText(target);
    const headers: Record<string, string> = { host: authority };
    if (this.authorization !== undefined) headers["proxy-authorization"] = this.authorization;
    const req = request({
      host: server.host,
      port: server.port,
      method: "CONNECT",
      path: authority,
      headers,
      setHost: false,
      agent: false,
      createConnection: () => upstreamSocket().connect({ host: server.host, port: server.port }),
    });
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      sink.upstreamFailed(`${server.name}: ${why}`);
    };
    const timer = setTimeout(() => fail(timeoutReason(server.timeoutMs)), server.timeoutMs);
    req.once("connect", (res: IncomingMessage, socket: Socket, head: Buffer) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        socket.destroy();
        fail(`the proxy answered ${status} ${res.statusMessage ?? ""}`.trimEnd());
        return;
      }
      if (settled) {
        socket.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      req.removeAllListeners("error");
      req.on("error", () => {});
      sink.upstreamConnected(socket, head.length > 0 ? head : undefined);
    });
    req.once("error", (error: Error) => fail(`cannot reach the proxy: ${describeError(error)}`));
    req.end();
    return {
      cancel() {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.removeAllListeners("error");
        req.on("error", () => {});
        req.destroy();
      },
    };
  }
}
