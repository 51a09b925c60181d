/**
 * l3l4: a userspace TCP/IP engine. IP packets in, flow data out; flow data in, IP packets out.
 *
 * Build an engine with `new L3L4Builder<YourBufferType>()...build()`, feed it packets with `l3Rx`,
 * call `l4Poll` by the deadline it returns, and send with `l4Tx`.
 */
export { L3L4Builder } from "./builder.js";
export { L3L4 } from "./engine.js";
export type { ConnectOptions } from "./engine.js";
export type { Callbacks, CloseReason, EngineDriver, Flow, FlowInfo, TcpState } from "./api.js";
export type { EngineStats } from "./stats.js";
export type { CongestionControlName } from "./config.js";
export * from "./errors.js";
export { describe } from "./wire/describe.js";
export * as wire from "./wire/index.js";

// Linux TUN device (native addon, loaded lazily: importing this never fails) and its event-loop runner.
export { openTun, TunDevice, TunError, tunAddonAvailable, type OpenTunOptions } from "./tun/tun.js";
export { runTun, type RunTunOptions, type TunApp, type TunRunner, type TunRunnerStats } from "./tun/runner.js";

// Flows as Node sockets: TCP as stream.Duplex (like net.Socket), UDP like a connected dgram.Socket.
export {
  NetStack,
  type NetStackEvents,
  type NetStackOptions,
  type StackConnectOptions,
  type StackUdpOptions,
} from "./stream/net-stack.js";
export { FlowSocket, type FlowSocketOptions, type FlowSocketReadyState } from "./stream/flow-socket.js";
export { FlowDatagram, type AddressInfo, type RemoteInfo, type SendCallback } from "./stream/flow-datagram.js";
export type { NetStackStats } from "./stream/endpoint.js";
export { closeReasonError, flowError, type FlowError, type FlowErrorCode } from "./stream/errors.js";

// Debugging and testing: two engines joined on the real clock (runners over an in-memory device pair);
// an in-memory link with seeded faults on a virtual clock, a pcap writer, a packet tap.
export {
  joinEngines,
  memoryDevicePair,
  MemoryDevice,
  type EnginePair,
  type JoinOptions,
  type MemoryDeviceOptions,
} from "./debug/engine-pair.js";
export { MemoryLink, VirtualClock, parseFaults, type Faults, type LinkEndpoint } from "./debug/link.js";
export { PcapWriter } from "./debug/pcap.js";
export { tapCallbacks, pcapTap, traceTap, type PacketTap } from "./debug/tap.js";

// The transparent proxy (tun2socks) and its JSON API; `l3l4 proxy` is the command around them.
export { ProxyApp, type FlowReport, type ProxyStats } from "./proxy/proxy.js";
export {
  DEFAULT_PROXY_OPTIONS,
  parseCidr,
  parseProxyUrl,
  upstreamName,
  type Cidr,
  type DnsMode,
  type Endpoint,
  type ProxyOptions,
  type UdpPolicy,
  type Upstream,
} from "./proxy/options.js";
export { startApiServer, type ApiServer } from "./proxy/api-server.js";
export type { ProxyCounters } from "./proxy/relay-host.js";

// The echo application of `l3l4 echo` (any TunApp runs on runTun the same way).
export { EchoApp, type EchoCounters } from "./cli/echo.js";
