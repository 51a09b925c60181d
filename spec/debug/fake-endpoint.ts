/**
 * A stand-in engine for link tests: records what it receives, echoes on request, and sends a
 * packet at each scheduled timer through l4Poll, like a real engine's retransmission timer.
 */

import type { Callbacks, Flow } from "../../lib/api.js";
import type { LinkEndpoint } from "../../lib/debug/link.js";

export const FAKE_FLOW: Flow = {
  protocol: "udp",
  family: 4,
  srcIp: "192.0.2.1",
  srcPort: 1000,
  dstIp: "192.0.2.2",
  dstPort: 2000,
};

export interface Received {
  time: number;
  bytes: Uint8Array;
}

export class FakeEndpoint implements LinkEndpoint<number> {
  readonly received: Received[] = [];
  /** Absolute times at which l4Poll sends a timer packet (kept sorted). */
  readonly timers: number[] = [];
  /** Send every received packet back, first byte + 1. */
  echo = false;
  /** Each l4Poll call: [time, deadline returned]. */
  readonly polls: [number, number | undefined][] = [];
  /** l3TxBuffer refusals. */
  refused = 0;
  timerPacketLength = 20;

  constructor(readonly now: () => number) {}

  l3Rx(cb: Callbacks<number>, packet: Uint8Array): void {
    this.received.push({ time: this.now(), bytes: packet.slice() });
    cb.l4Rx(FAKE_FLOW, packet);
    if (this.echo) {
      const reply = packet.slice();
      reply[0] = (reply[0]! + 1) & 0xff;
      this.send(cb, reply);
    }
  }

  l4Poll(cb: Callbacks<number>): number | undefined {
    const now = this.now();
    while (this.timers.length > 0 && this.timers[0]! <= now) {
      const at = this.timers.shift()!;
      const packet = new Uint8Array(this.timerPacketLength);
      packet[0] = at & 0xff;
      this.send(cb, packet);
    }
    const deadline = this.timers[0];
    this.polls.push([now, deadline]);
    return deadline;
  }

  send(cb: Callbacks<number>, packet: Uint8Array): boolean {
    const slot = cb.l3TxBuffer(packet.length);
    if (slot === undefined) {
      this.refused++;
      return false;
    }
    cb.l3TxBufferMut(slot).set(packet);
    cb.l3Tx(slot, packet.length);
    return true;
  }
}
