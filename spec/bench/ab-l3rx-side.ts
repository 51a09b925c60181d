/**
 * The engine bench's l3Rx loop over one build's public API: spec/bench/engine.ts l3RxRows runs it on
 * this build, and spec/bench/ab-l3rx.ts on two. The driver imports this module once per build under a distinct URL,
 * so each build gets its own copy of these functions and no call site sees both builds.
 */
import type { Callbacks } from "../../lib/api.js";
import type { L3L4Builder } from "../../lib/builder.js";
import { parse, tcp } from "../support/packets.js";

/*
 * The segment rewrite's own byte helpers, not lib/wire's: a copy of this module is loaded per build
 * (ab-l3rx.ts), and with lib/wire's helpers every copy called THIS tree's read32/write32/checksum
 * functions, the very ones this tree's engine calls, so the two builds did not run alike (the build
 * whose helpers the bench shared measured slower, whichever it was: 1.042 this/other one way round,
 * 1.025 the other, the same two builds).
 */
const read16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const read32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const write16 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 8;
  b[o + 1] = v;
};
const write32 = (b: Uint8Array, o: number, v: number): void => {
  write16(b, o, v >>> 16);
  write16(b, o + 2, v & 0xffff);
};
/** RFC 1624 eqn. 3 for a 32-bit field: HC' = ~(~HC + ~m + m'), two 16-bit words each. */
const checksumUpdateU32 = (hc: number, m: number, m2: number): number => {
  let sum = (~hc & 0xffff) + (~(m >>> 16) & 0xffff) + (~m & 0xffff) + (m2 >>> 16) + (m2 & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
};

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
