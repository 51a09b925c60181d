/**
 * A tap around an engine's callbacks: sees every packet going out (at l3Tx) and, when the
 * caller reports it, every packet coming in. The tracer (--trace) and the pcap writer (--pcap)
 * hang off it, as smoltcp's phy/tracer.rs and phy/pcap_writer.rs wrap a device.
 *
 * Debug path: the outgoing packet is a fresh subarray per packet.
 */

import type { Callbacks } from "../api.js";
import type { PcapWriter } from "./pcap.js";

export type PacketDirection = "in" | "out";

/** Sees a packet; the view is valid only during the call. */
export type PacketTap = (direction: PacketDirection, packet: Uint8Array) => void;

export interface TappedCallbacks<T> extends Callbacks<T> {
  /** Report an incoming packet: call it just before engine.l3Rx(tapped, packet). */
  rx(packet: Uint8Array): void;
}

/**
 * Wrap `cb` so `onPacket` sees each outgoing packet before `cb.l3Tx` sends it. Every other call
 * goes straight through; optional callbacks stay absent when `cb` lacks them.
 */
export function tapCallbacks<T>(cb: Callbacks<T>, onPacket: PacketTap): TappedCallbacks<T> {
  const tapped: TappedCallbacks<T> = {
    l3TxBuffer: (size) => cb.l3TxBuffer(size),
    l3TxBufferMut: (buffer) => cb.l3TxBufferMut(buffer),
    l3Tx(buffer, length) {
      onPacket("out", cb.l3TxBufferMut(buffer).subarray(0, length));
      cb.l3Tx(buffer, length);
    },
    l4Rx: (flow, data) => cb.l4Rx(flow, data),
    rx(packet) {
      onPacket("in", packet);
    },
  };
  if (cb.l4Accept !== undefined) tapped.l4Accept = (flow) => cb.l4Accept!(flow);
  if (cb.l4TxReady !== undefined) tapped.l4TxReady = (flow) => cb.l4TxReady!(flow);
  if (cb.l4RemoteClosed !== undefined) tapped.l4RemoteClosed = (flow) => cb.l4RemoteClosed!(flow);
  return tapped;
}

/** One tap that calls each of `taps` in turn. */
export function combineTaps(...taps: PacketTap[]): PacketTap {
  return (direction, packet) => {
    for (const tap of taps) tap(direction, packet);
  };
}

/** A tap that records both directions in a pcap file, stamped by `now()` (ms). */
export function pcapTap(writer: PcapWriter, now: () => number): PacketTap {
  return (_direction, packet) => writer.write(packet, 0, packet.length, now());
}

/** The first bytes in hex and the length: a stand-in formatter when no decoder is at hand. */
export function hexSummary(packet: Uint8Array, maxBytes = 16): string {
  let hex = "";
  const n = Math.min(packet.length, maxBytes);
  for (let i = 0; i < n; i++) hex += (i > 0 ? " " : "") + packet[i]!.toString(16).padStart(2, "0");
  return `${packet.length} bytes: ${hex}${packet.length > n ? " ..." : ""}`;
}

export interface TraceOptions {
  /** One line per packet (e.g. `describe` from lib/wire/describe.ts); default hexSummary. */
  format?: (packet: Uint8Array) => string;
  /** Where lines go; default stderr. */
  write?: (line: string) => void;
  /** Time source for the line prefix (ms); no prefix without it. */
  now?: () => number;
}

/** A tap that prints one line per packet: `[time] in|out <format(packet)>`. */
export function traceTap(options: TraceOptions = {}): PacketTap {
  const format = options.format ?? hexSummary;
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const now = options.now;
  return (direction, packet) => {
    const prefix = now === undefined ? "" : `${now().toFixed(3)} `;
    write(`${prefix}${direction === "in" ? "in " : "out"} ${format(packet)}`);
  };
}
