/**
 * `l3l4 proxy`: the transparent proxy (lib/proxy) on a TUN device. Every TCP and UDP flow that
 * reaches the device is carried to its destination directly or through a SOCKS5 or HTTP CONNECT
 * proxy (--proxy URL); DNS can be answered with fake addresses (--dns fake-ip) so that names, not
 * addresses, go upstream; --api serves the live flows and totals as JSON.
 *
 *   sudo l3l4 proxy --tun l3l4p --proxy socks5://user:pass@127.0.0.1:1080 --api 127.0.0.1:9090
 *
 * A status line once a second: flows, throughput each way, failures.
 */
import { isIP } from "node:net";
import { InvalidArgumentError } from "../errors.js";
import { startApiServer, type ApiServer } from "../proxy/api-server.js";
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_FAKE_IP_V4,
  DEFAULT_FAKE_IP_V6,
  DEFAULT_PROXY_OPTIONS,
  parseCidr,
  parseProxyUrl,
  type Cidr,
  type DnsMode,
  type Endpoint,
  type ProxyOptions,
  type UdpPolicy,
} from "../proxy/options.js";
import { ProxyApp } from "../proxy/proxy.js";
import { runUntilSignal, type Command } from "./command.js";
import { describeDevice, startDevice, type DeviceSource, type RunningDevice } from "./device.js";
import {
  choiceOption,
  DEVICE_OPTIONS,
  DEVICE_USAGE,
  deviceOptions,
  formatRate,
  parseCommandLine,
  parseHostPort,
  secondsOption,
  UsageError,
  type DeviceOptions,
} from "./options.js";

export interface ProxyCommandLine {
  device: DeviceOptions;
  proxy: ProxyOptions;
  /** --api HOST:PORT */
  api: Endpoint | undefined;
  help: boolean;
}

const PROXY_OPTIONS = {
  ...DEVICE_OPTIONS,
  proxy: { type: "string" },
  udp: { type: "string" },
  dns: { type: "string" },
  "fake-ip-range": { type: "string" },
  "dns-upstream": { type: "string" },
  "connect-timeout": { type: "string" },
  api: { type: "string" },
  upstream: { type: "string" },
} as const;

/** An InvalidArgumentError of lib/proxy as a UsageError. */
function usageError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new UsageError(error.message);
    throw error;
  }
}

/** --fake-ip-range "CIDR[,CIDR]": at most one IPv4 and one IPv6 prefix; the defaults for the rest. */
function fakeIpRanges(text: string | undefined): { v4: Cidr; v6: Cidr } {
  let v4 = DEFAULT_PROXY_OPTIONS.fakeIpV4;
  let v6 = DEFAULT_PROXY_OPTIONS.fakeIpV6;
  if (text === undefined) return { v4, v6 };
  const seen = new Set<number>();
  for (const part of text.split(",")) {
    const cidr = usageError(() => parseCidr(part.trim()));
    if (seen.has(cidr.family)) throw new UsageError(`--fake-ip-range: one IPv${cidr.family} prefix at most: ${text}`);
    seen.add(cidr.family);
    if (cidr.prefix > (cidr.family === 4 ? 30 : 126)) throw new UsageError(`--fake-ip-range: ${part.trim()} is too small a range`);
    if (cidr.family === 4) v4 = cidr;
    else v6 = cidr;
  }
  return { v4, v6 };
}

/** The proxy's command line (without node, the script and "proxy"). Throws UsageError. */
export function parseProxyArgs(argv: readonly string[]): ProxyCommandLine {
  const v = parseCommandLine(argv, PROXY_OPTIONS);
  const device = deviceOptions(v);
  const upstream = v.proxy === undefined ? DEFAULT_PROXY_OPTIONS.upstream : usageError(() => parseProxyUrl(v.proxy!));
  const udp = choiceOption<UdpPolicy>("udp", v.udp, ["refuse", "direct"], "refuse");
  const dns = choiceOption<DnsMode>("dns", v.dns, ["proxy", "fake-ip", "direct"], "proxy");
  const ranges = fakeIpRanges(v["fake-ip-range"]);
  if (v["fake-ip-range"] !== undefined && dns !== "fake-ip") throw new UsageError("--fake-ip-range is for --dns fake-ip");
  if (v["dns-upstream"] !== undefined && dns !== "fake-ip") throw new UsageError("--dns-upstream is for --dns fake-ip");
  const proxy: ProxyOptions = {
    ...DEFAULT_PROXY_OPTIONS,
    upstream,
    udp,
    dns,
    fakeIpV4: ranges.v4,
    fakeIpV6: ranges.v6,
    dnsUpstream: v["dns-upstream"] === undefined ? undefined : dnsUpstream(v["dns-upstream"]),
    connectTimeoutMs: secondsOption("connect-timeout", v["connect-timeout"], 3600) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    destination: v.upstream === undefined ? undefined : parseHostPort(v.upstream, "upstream"),
  };
  return { device, proxy, api: v.api === undefined ? undefined : parseHostPort(v.api, "api", true), help: v.help === true };
}

/** --dns-upstream HOST:PORT, [V6]:PORT, or an address alone (port 53). */
function dnsUpstream(text: string): Endpoint {
  if (isIP(text) !== 0) return { host: text, port: 53 };
  return parseHostPort(text, "dns-upstream");
}

export interface ProxyServer extends RunningDevice {
  readonly app: ProxyApp;
}

/** Opens the device (or uses source.device) and proxies until close(). */
export function startProxy(device: DeviceOptions, proxy: ProxyOptions, source: DeviceSource = {}): ProxyServer {
  const log = source.log ?? ((line: string) => console.log(line));
  const running = startDevice(device, source, (engine) => new ProxyApp(engine, proxy, log, device.trace ? log : undefined));
  const close = running.close;
  return Object.assign(running, {
    async close(graceMs = 0): Promise<void> {
      await close(graceMs);
      running.app.destroyAll();
    },
  });
}

/** The status line, every `intervalMs`; returns the function that stops it. */
export function startStatusLine(app: ProxyApp, log: (line: string) => void, intervalMs = 1000): () => void {
  let last = { up: 0, down: 0, at: performance.now() };
  const timer = setInterval(() => {
    const c = app.counters;
    const now = performance.now();
    const seconds = (now - last.at) / 1000;
    let tcp = 0;
    for (const relay of app.relays.values()) if (relay.flow.protocol === "tcp") tcp++;
    log(
      `flows ${app.relays.size} (tcp ${tcp}, udp ${app.relays.size - tcp})  ` +
        `up ${formatRate(c.bytesUp - last.up, seconds)}  down ${formatRate(c.bytesDown - last.down, seconds)}  ` +
        `failed ${c.upstreamFailures}`,
    );
    last = { up: c.bytesUp, down: c.bytesDown, at: now };
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

const SUMMARY =
  "Transparent proxy (tun2socks): carries every TCP and UDP flow that reaches the device to its destination, " +
  "directly or through a SOCKS5 or HTTP CONNECT proxy, with backpressure and half-close both ways.";

/**
 * Not the echo and http commands' footer (DEVICE_USAGE_FOOTER): its route into the device from this
 * namespace would carry the proxy's own dials of those addresses back into the device, a loop of new
 * flows. The clients go in another namespace, as in the README.
 */
const PROXY_USAGE_FOOTER: readonly string[] = [
  "Opening /dev/net/tun needs root or CAP_NET_ADMIN. Flows are dialled from this namespace, so put the clients in",
  "another one whose default route is the device (a route here into it would loop the proxy's own dials), e.g.:",
  "  ip netns add l3l4-client && ip link set NAME netns l3l4-client && ip -n l3l4-client link set NAME up",
  "  ip -n l3l4-client addr add 10.77.0.2/24 dev NAME && ip -n l3l4-client route add default dev NAME",
];

export const PROXY_COMMAND: Command = {
  name: "proxy",
  summary: "transparent proxy on a TUN device: direct, SOCKS5 or HTTP CONNECT upstream, fake-IP DNS, a JSON API",
  usage: [
    "usage: l3l4 proxy [--tun NAME] [--proxy URL] [--udp refuse|direct] [--dns proxy|fake-ip|direct] [--api HOST:PORT] [options]",
    "",
    SUMMARY,
    "",
    "  --proxy URL       where flows go: direct:// (default: each flow's own destination, dialled from this host),",
    "                    socks5://[user:pass@]host:port (SOCKS5 CONNECT and UDP ASSOCIATE),",
    "                    http://[user:pass@]host:port (HTTP CONNECT; TCP only)",
    "  --udp POLICY      UDP behind an http:// proxy: refuse (ICMP port unreachable, default) or direct",
    "  --dns MODE        proxy: DNS is UDP like any other (default); direct: port 53 is dialled directly;",
    "                    fake-ip: A/AAAA queries to port 53 of any address are answered here with addresses",
    "                    from the fake ranges, and flows to those go upstream as the name (the far side resolves it)",
    `  --fake-ip-range R one IPv4 and/or one IPv6 prefix, comma-separated (default ${DEFAULT_FAKE_IP_V4},${DEFAULT_FAKE_IP_V6})`,
    "  --dns-upstream H:P  with fake-ip: where other queries go, through the proxy (default: where each was sent)",
    `  --connect-timeout S  an upstream not connected after S seconds resets its flow (default ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`,
    "  --api HOST:PORT   serve GET /flows and GET /stats (JSON) there, e.g. 127.0.0.1:9090 (port 0: any, printed)",
    "  --upstream H:P    send every flow to H:P ([v6]:port for IPv6) instead of its destination",
    ...DEVICE_USAGE,
    "",
    ...PROXY_USAGE_FOOTER,
  ].join("\n"),
  run(argv, io) {
    const line = parseProxyArgs(argv);
    if (line.help) {
      io.log(PROXY_COMMAND.usage);
      return Promise.resolve(0);
    }
    return runUntilSignal("proxy", io, async () => {
      const server = startProxy(line.device, line.proxy, { log: io.log });
      const upstream = server.app.upstream.name;
      const to = line.proxy.destination === undefined ? upstream : `${line.proxy.destination.host}:${line.proxy.destination.port} via ${upstream}`;
      io.log(`l3l4 proxy: ${describeDevice(server.device)} -> ${to}; dns ${line.proxy.dns}; Ctrl-C to stop`);
      let api: ApiServer | undefined;
      if (line.api !== undefined) {
        try {
          api = await startApiServer(server.app, line.api);
        } catch (error) {
          await server.close();
          throw new Error(`--api ${line.api.host}:${line.api.port}: ${(error as Error).message}`);
        }
        io.log(`l3l4 proxy: api on ${api.url}/flows and ${api.url}/stats`);
      }
      const stopStatus = line.device.quiet ? () => {} : startStatusLine(server.app, io.log);
      return {
        failed: server.failed,
        async close(graceMs?: number) {
          stopStatus();
          await api?.close();
          await server.close(graceMs);
        },
      };
    });
  },
};
