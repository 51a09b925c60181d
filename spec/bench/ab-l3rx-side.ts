/**
 * The engine bench's l3Rx loop over one build's public API: spec/bench/engine.ts l3RxRows runs it on
 * this build, and spec/bench/ab-l3rx.ts on two. The driver imports this module once per build under a distinct URL,
 * so each build gets its own copy of these functions and no call site sees both builds.
 */
import type { Callbacks } from "../../lib/api.js";
import type { L3L4Builder } from "../../lib/builder.js";
import { checksumUpdateU32 } from "../../lib/wire/checksum.js";
import { read16, read32, write16, write32 } from "../../lib/wire/bytes.js";
import { parse, tcp } from "../support/packets.js";

const PAYLOAD = 1448;
const STREAM = new Uint8Array(PAYLOAD).map((_, i) => (i * 131 + 7) & 0xff);

/** A build's public surface, as much of it as this needs. */
export interface Build {
  L3L4Builder: new () => L3L4Builder<number>;
}

/** An established flow (SYN, SYN-ACK, ACK, as the engine bench) and `run(n)`: n in-order 1448-byte segments. */
export function l3RxLoop(build: Build): {
  step(): void;
  run(n: number): void;
  delivered(): number;
  segments(): number;
  drops(): unknown;
} {
  let now = 0;
  const engine = new build.L3L4Builder().clock(() => now).build();
  const out = new Uint8Array(65536);
  let delivered = 0;
  let lastOut = new Uint8Array(0);
  const cb: Callbacks<number> = {
    l3TxBuffer: () => 0,
    l3TxBufferMut: () => out,
    l3Tx: (_id, length) => {
      if (lastOut.length === 0) lastOut = out.slice(0, length);
    },
    l4Rx: (_f, data) => {
      if (data !== null) delivered += data.length;
    },
  };
  const peerIsn = 1_000_000;
  const ts = 5000;
  const ends = { src: "10.0.0.2", dst: "10.0.0.1", srcPort: 40000, dstPort: 80 };
  engine.l3Rx(cb, tcp({ ...ends, flags: "S", seq: peerIsn, window: 65535, options: { mss: 1460, sackPermitted: true, timestamps: [ts, 0], windowScale: 7 } }));
  const synAck = parse(lastOut).tcp;
  if (synAck === undefined) throw new Error("ab-l3rx: no SYN-ACK");
  const common = { ...ends, ack: (synAck.seq + 1) >>> 0, window: 2048 };
  engine.l3Rx(cb, tcp({ ...common, flags: "A", seq: peerIsn + 1, options: { timestamps: [ts, synAck.options.tsVal] } }));
  const segment = tcp({ ...common, flags: "PA", seq: peerIsn + 1, options: { timestamps: [ts, synAck.options.tsVal] }, payload: STREAM });
  let seq = peerIsn + 1;
  let sink = 0;
  let segments = 0;
  /** One segment: its sequence number (and the checksum, RFC 1624) rewritten in place, then l3Rx. */
  const step = (): void => {
    const old = read32(segment, 24);
    write32(segment, 24, seq);
    write16(segment, 36, checksumUpdateU32(read16(segment, 36), old, seq));
    sink += engine.l3Rx(cb, segment) === undefined ? 0 : 1;
    seq = (seq + PAYLOAD) >>> 0;
    segments++;
  };
  return {
    step,
    run(n: number): void {
      for (let i = 0; i < n; i++) step();
      if (sink < 0) throw new Error("unreachable");
    },
    delivered: () => delivered,
    segments: () => segments,
    drops: () => engine.stats().drops,
  };
}
