/**
 * What the transparent proxy is told: where flows go (`--proxy URL`), what UDP does behind an HTTP
 * proxy, how DNS is handled, the fake-IP ranges, timeouts. Parsing never half-succeeds: a bad URL or
 * range throws InvalidArgumentError naming what is wrong (the CLI turns it into exit status 2).
 *
 *   direct://                         dial each flow's destination from this host (the default)
 *   socks5://[user:pass@]host:port    SOCKS5 (RFC 1928), username/password auth (RFC 1929)
 *   http://[user:pass@]host:port      HTTP CONNECT (RFC 9110 §9.3.6), Basic auth (RFC 7617)
 */
import { isIP } from "node:net";
import { InvalidArgumentError } from "../errors.js";
import { parseIpv4 } from "../wire/ipv4.js";
import { parseIpv6 } from "../wire/ipv6.js";

export interface Endpoint {
  /** An IP literal (IPv6 without brackets) or a name. */
  readonly host: string;
  readonly port: number;
}

export type Upstream =
  | { readonly kind: "direct" }
  | {
      readonly kind: "socks5" | "http";
      readonly host: string;
      readonly port: number;
      /** Both or neither. */
      readonly username: string | undefined;
      readonly password: string | undefined;
    };

export type UdpPolicy = "refuse" | "direct";
export type DnsMode = "fake-ip" | "proxy" | "direct";

/** An IP prefix, e.g. 198.18.0.0/15. */
export interface Cidr {
  readonly family: 4 | 6;
  /** The network address, in wire order (4 or 16 bytes). */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

export interface ProxyOptions {
  readonly upstream: Upstream;
  /** UDP behind an HTTP proxy, which cannot carry it: refused (ICMP port unreachable) or sent direct. */
  readonly udp: UdpPolicy;
  readonly dns: DnsMode;
  /** Fake addresses for --dns fake-ip, one range per family. */
  readonly fakeIpV4: Cidr;
  readonly fakeIpV6: Cidr;
  /** Names the fake-IP table remembers at most (least recently used first out, unless in use). */
  readonly fakeIpEntries: number;
  /** Where --dns fake-ip forwards queries other than A/AAAA; undefined: to the query's own destination. */
  readonly dnsUpstream: Endpoint | undefined;
  /** An upstream connection (or SOCKS5/HTTP handshake) not done after this long fails its flow. */
  readonly connectTimeoutMs: number;
  /** Every flow goes to this instead of its destination (the examples' --upstream). */
  readonly destination: Endpoint | undefined;
}

export const DEFAULT_FAKE_IP_V4 = "198.18.0.0/15";
export const DEFAULT_FAKE_IP_V6 = "fc00::/18";
export const DEFAULT_FAKE_IP_ENTRIES = 65_536;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export const DEFAULT_PROXY_OPTIONS: ProxyOptions = {
  upstream: { kind: "direct" },
  udp: "refuse",
  dns: "proxy",
  fakeIpV4: parseCidr(DEFAULT_FAKE_IP_V4),
  fakeIpV6: parseCidr(DEFAULT_FAKE_IP_V6),
  fakeIpEntries: DEFAULT_FAKE_IP_ENTRIES,
  dnsUpstream: undefined,
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  destination: undefined,
};

/** `--proxy URL`: direct://, socks5://[user:pass@]host:port, http://[user:pass@]host:port. */
export function parseProxyUrl(text: string): Upstream {
  const bad = (why: string) => new InvalidArgumentError(`--proxy ${JSON.stringify(text)}: ${why}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad("not a URL (socks5://[user:pass@]host:port, http://[user:pass@]host:port or direct://)");
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme === "direct") {
    if (url.host !== "" || url.pathname !== "") throw bad("direct:// takes nothing after it");
    return { kind: "direct" };
  }
  if (scheme !== "socks5" && scheme !== "http") {
    throw bad(`unsupported scheme ${scheme}:// (socks5://, http:// or direct://${scheme === "https" ? "; TLS to the proxy is not supported" : ""})`);
  }
  if (url.hostname === "") throw bad("no host");
  if (url.port === "") throw bad(`no port (e.g. ${scheme}://${url.host}:${scheme === "socks5" ? 1080 : 3128})`);
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") throw bad("a proxy URL has no path, query or fragment");
  const username = url.username === "" ? undefined : decodeURIComponent(url.username);
  const password = url.password === "" ? undefined : decodeURIComponent(url.password);
  if ((username === undefined) !== (password === undefined)) throw bad("give both user and password (user:pass@), or neither");
  // RFC 1929 §2: ULEN and PLEN are one byte each.
  if (scheme === "socks5" && username !== undefined && (Buffer.byteLength(username) > 255 || Buffer.byteLength(password!) > 255)) {
    throw bad("a SOCKS5 user name and password have at most 255 bytes each");
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return { kind: scheme, host, port: Number(url.port), username, password };
}

/** How an upstream is shown in logs and /flows: the URL without the password. */
export function upstreamName(upstream: Upstream): string {
  if (upstream.kind === "direct") return "direct";
  const host = isIP(upstream.host) === 6 ? `[${upstream.host}]` : upstream.host;
  const user = upstream.username === undefined ? "" : `${encodeURIComponent(upstream.username)}@`;
  return `${upstream.kind}://${user}${host}:${upstream.port}`;
}

/** "198.18.0.0/15" or "fc00::/18": the host bits must be zero. */
export function parseCidr(text: string): Cidr {
  const bad = (why: string) => new InvalidArgumentError(`${JSON.stringify(text)} is not an IP prefix: ${why}`);
  const slash = text.indexOf("/");
  if (slash < 0) throw bad("no /length");
  const address = text.slice(0, slash);
  const lengthText = text.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) throw bad(`${address} is not an IP address`);
  const bits = family === 4 ? 32 : 128;
  const prefix = Number(lengthText);
  if (!/^\d+$/.test(lengthText) || prefix > bits) throw bad(`the length must be 0..${bits}`);
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  if (family === 4) {
    const v = parseIpv4(address);
    bytes[0] = v >>> 24;
    bytes[1] = v >>> 16;
    bytes[2] = v >>> 8;
    bytes[3] = v;
  } else {
    parseIpv6(address, bytes, 0);
  }
  for (let bit = prefix; bit < bits; bit++) {
    if ((bytes[bit >> 3]! & (0x80 >> (bit & 7))) !== 0) throw bad(`host bits set beyond /${prefix}`);
  }
  return { family: family as 4 | 6, bytes, prefix };
}
