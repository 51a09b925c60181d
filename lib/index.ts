/**
 * l3l4: a userspace TCP/IP engine. IP packets in, flow data out; flow data in, IP packets out.
 *
 * Build an engine with `new L3L4Builder<YourBufferType>()...build()`, feed it packets with `l3Rx`,
 * call `l4Poll` by the deadline it returns, and send with `l4Tx`.
 */
export { L3L4Builder } from "./builder.js";
export { L3L4 } from "./engine.js";
export type { ConnectOptions } from "./engine.js";
export type { Callbacks, Flow, TcpState } from "./api.js";
export type { EngineStats } from "./stats.js";
export type { CongestionControlName } from "./config.js";
export * from "./errors.js";
export { describe } from "./wire/describe.js";
export * as wire from "./wire/index.js";
