/**
 * Many TIME-WAIT records through the public API only (so the same code measures any version of the
 * engine): for each of `n` peers a real handshake (Linux-like SYN options), then the engine closes
 * first (l4LocalClose) and the peer's FIN+ACK acknowledges ours: the engine's side is in TIME-WAIT.
 */
import type { Callbacks, Flow } from "../../lib/api.js";
import type { L3L4 } from "../../lib/engine.js";
import { Flag as TcpFlag } from "./oracle/numbers.js";
import { get32 as read32 } from "./oracle/octets.js";
import { tcp } from "./packets.js";

/** Peer `i`: 10.x.y.9:port > 198.51.100.7:443, a distinct 4-tuple for every i below 2^24. */
export function timeWaitPeer(i: number): { src: string; dst: string; srcPort: number; dstPort: number } {
  return { src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: "198.51.100.7", srcPort: 10000 + (i & 1023), dstPort: 443 };
}

/** Put `n` connections (peers `from`..`from + n - 1`) through to TIME-WAIT on `engine`; returns their flows. */
export function fillTimeWait(engine: L3L4<Uint8Array>, n: number, from = 0, keepFlows = false): Flow[] {
  const tx = new Uint8Array(2048);
  let lastTxLength = 0;
  const cb: Callbacks<Uint8Array> = {
    l3TxBuffer: () => tx,
    l3TxBufferMut: (b) => b,
    l3Tx: (_b, len) => {
      lastTxLength = len;
    },
    l4Rx: () => {},
  };
  const flows: Flow[] = [];
  for (let i = from; i < from + n; i++) {
    const peer = timeWaitPeer(i);
    lastTxLength = 0;
    engine.l3Rx(cb, tcp({ ...peer, seq: 1000, flags: TcpFlag.SYN, window: 65535, options: { mss: 1460, sackPermitted: true, timestamps: [1, 0], windowScale: 7 } }));
    if (lastTxLength < 40) throw new Error(`no SYN-ACK for peer ${i}`);
    // The SYN-ACK (IPv4, 20-byte header): seq at 24; options at 40: MSS, SACK-permitted, TS (TSval at 48).
    const iss = read32(tx, 24);
    const tsVal = read32(tx, 48);
    const flow = engine.l3Rx(cb, tcp({ ...peer, seq: 1001, ack: (iss + 1) >>> 0, flags: TcpFlag.ACK, window: 512, options: { timestamps: [2, tsVal] } }));
    if (flow === undefined) throw new Error(`peer ${i}: no flow after the handshake`);
    engine.l4LocalClose(cb, flow);
    engine.l3Rx(cb, tcp({ ...peer, seq: 1001, ack: (iss + 2) >>> 0, flags: TcpFlag.FIN | TcpFlag.ACK, window: 512, options: { timestamps: [3, tsVal] } }));
    if (engine.l4State(flow) !== "TIME-WAIT") throw new Error(`peer ${i}: ${engine.l4State(flow)}, not TIME-WAIT`);
    if (keepFlows) flows.push(flow);
  }
  return flows;
}
