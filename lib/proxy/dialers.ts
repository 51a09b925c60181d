/**
 * The dialers of an --proxy URL: direct.ts, socks5.ts or http-connect.ts. direct:// TCP goes on the
 * addon's sockets (native-tcp.ts) where the addon is loaded, unless L3L4_NATIVE_TCP=0; node:net else.
 */
import { DirectTcp, DirectUdp } from "./direct.js";
import { NativeDirectTcp, sharedNativeSockets } from "./native-tcp.js";
import { HttpConnectTcp } from "./http-connect.js";
import { upstreamName, type Upstream as UpstreamUrl } from "./options.js";
import { Socks5Tcp, Socks5Udp } from "./socks5.js";
import type { Upstream } from "./upstream.js";

export function makeUpstream(url: UpstreamUrl, connectTimeoutMs: number): Upstream {
  const name = upstreamName(url);
  if (url.kind === "direct") return { name, url, tcp: directTcp(connectTimeoutMs), udp: new DirectUdp() };
  const server = { host: url.host, port: url.port, username: url.username, password: url.password, name, timeoutMs: connectTimeoutMs };
  if (url.kind === "socks5") return { name, url, tcp: new Socks5Tcp(server), udp: new Socks5Udp(server) };
  return { name, url, tcp: new HttpConnectTcp(server), udp: undefined };
}

/** The direct dialers, for --dns direct and --udp direct. */
export function directUpstream(connectTimeoutMs: number): Upstream {
  return makeUpstream({ kind: "direct" }, connectTimeoutMs);
}

function directTcp(connectTimeoutMs: number): DirectTcp | NativeDirectTcp {
  const plain = new DirectTcp(connectTimeoutMs);
  const sockets = sharedNativeSockets();
  return sockets === undefined ? plain : new NativeDirectTcp(sockets, connectTimeoutMs, plain);
}
