/**
 * A transparent proxy in a few lines: a TUN device, an engine for its MTU, and ProxyApp (lib/proxy)
 * carrying every TCP and UDP flow that enters the device through an upstream: direct://, a SOCKS5
 * proxy or an HTTP CONNECT proxy. `l3l4 proxy` (lib/cli/proxy.ts) is the full command, with fake-IP
 * DNS, the JSON API, pcap and tracing.
 *
 *   npx tsc -b && sudo node dist/examples/proxy_server.js l3l4p socks5://user:pass@127.0.0.1:1080
 *   # then route something into l3l4p (see the README's tun2socks section)
 */
import { DEFAULT_PROXY_OPTIONS, L3L4Builder, openTun, parseProxyUrl, ProxyApp, runTun } from "../lib/index.js";

const [name = "l3l4p", url = "direct://"] = process.argv.slice(2);
const device = openTun({ name });
const engine = new L3L4Builder<number>().mtu(device.mtu).build();
const proxy = new ProxyApp(engine, { ...DEFAULT_PROXY_OPTIONS, upstream: parseProxyUrl(url) });
// The runner reads the device into the engine and writes what it sends; Ctrl-C closes the flows (2 s grace).
proxy.attach(runTun(engine, device, proxy, { handleSignals: { graceMs: 2000 } }));
console.log(`proxying ${device.name} (mtu ${device.mtu}) via ${proxy.upstream.name}; Ctrl-C to stop`);
