/**
 * Callbacks that record everything an engine does, for specs.
 *
 *   const cap = new Capture();
 *   engine.l3Rx(cap, tcp({ flags: "S" }));
 *   cap.sent       // copies of every packet handed to l3Tx
 *   cap.rx         // every l4Rx call: { flow, data (a copy) | null }
 *
 * Transmit buffers are fresh arrays pre-filled with 0xA5, so a byte the engine forgot to write shows.
 * `noBuffers = true` makes l3TxBuffer return undefined; `acceptIf(fn)` installs l4Accept (absent = accept all).
 */
import type { Callbacks, Flow } from "../../lib/api.js";
import { parse, type Parsed } from "./packets.js";

export interface RxEvent {
  flow: Flow;
  data: Uint8Array | null;
}

export class Capture implements Callbacks<Uint8Array> {
  /** Copies of the packets given to l3Tx, in order. */
  readonly sent: Uint8Array[] = [];
  readonly rx: RxEvent[] = [];
  readonly accepted: Flow[] = [];
  readonly remoteClosed: Flow[] = [];
  readonly txReady: Flow[] = [];
  /** Sizes asked of l3TxBuffer. */
  readonly asked: number[] = [];
  /** Absent until `acceptIf` sets it: then the engine accepts every new flow. */
  l4Accept?: (flow: Flow) => boolean;
  /** l3TxBuffer returns undefined while this is true. */
  noBuffers = false;
  /** Extra bytes given beyond the size asked (0: exactly the size). */
  slack = 16;
  /** Called after each l4Rx is recorded (to test re-entrancy). */
  onRx: ((flow: Flow, data: Uint8Array | null) => void) | undefined = undefined;

  l3TxBuffer(size: number): Uint8Array | undefined {
    this.asked.push(size);
    if (this.noBuffers) return undefined;
    return new Uint8Array(size + this.slack).fill(0xa5);
  }

  l3TxBufferMut(buffer: Uint8Array): Uint8Array {
    return buffer;
  }

  l3Tx(buffer: Uint8Array, length: number): void {
    this.sent.push(buffer.slice(0, length));
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    this.rx.push({ flow, data: data === null ? null : data.slice() });
    this.onRx?.(flow, data);
  }

  l4RemoteClosed(flow: Flow): void {
    this.remoteClosed.push(flow);
  }

  l4TxReady(flow: Flow): void {
    this.txReady.push(flow);
  }

  /** Install l4Accept answering with `decide` (recording every flow asked about in `accepted`). */
  acceptIf(decide: (flow: Flow) => boolean): this {
    this.l4Accept = (flow: Flow) => {
      this.accepted.push(flow);
      return decide(flow);
    };
    return this;
  }

  /** The packets sent so far, parsed; clears them. */
  take(): Parsed[] {
    const out = this.sent.map(parse);
    this.sent.length = 0;
    return out;
  }

  /** The raw packets sent so far; clears them. */
  takeRaw(): Uint8Array[] {
    const out = this.sent.slice();
    this.sent.length = 0;
    return out;
  }

  /** l4Rx data events of one flow, as text. */
  textOf(flow: Flow): string {
    const dec = new TextDecoder();
    return this.rx
      .filter((e) => e.flow === flow && e.data !== null)
      .map((e) => dec.decode(e.data!))
      .join("");
  }

  /** How many l4Rx(flow, null) calls a flow got. */
  closes(flow: Flow): number {
    return this.rx.filter((e) => e.flow === flow && e.data === null).length;
  }
}
