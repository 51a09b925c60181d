/**
 * Memory: an idle ESTABLISHED flow must cost at most 4 KiB (its buffers hold nothing, storage.ts); a
 * half-open (SYN-RECEIVED) connection at most what the memory budget charges for it (HALF_OPEN_BYTES),
 * so a SYN flood under maxMemory cannot make the heap grow past the budget.
 * 10,000 flows are opened with real handshakes (Linux-like SYN options: MSS, SACK, timestamps, window
 * scale) and the heap is measured after a full GC (the spec config runs node with --expose-gc).
 */
import { describe, expect, it } from "vitest";
import type { Callbacks, Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { HALF_OPEN_BYTES } from "../../lib/memory.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import { Flag as TcpFlag } from "../support/oracle/numbers.js";
import { get32 as read32 } from "../support/oracle/octets.js";
import { tcp } from "../support/packets.js";
import { skipOrFailInCi } from "../support/privileges.js";

const FLOWS = 10_000;
const LIMIT_BYTES = 4096;
const gc = (globalThis as { gc?: () => void }).gc;

function heapBytes(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe("memory per idle flow", () => {
  it(`${FLOWS} idle ESTABLISHED flows cost at most 4 KiB of heap each`, (ctx) => {
    skipOrFailInCi(ctx, gc === undefined ? "global.gc (run node with --expose-gc, as spec/vitest.config.ts does)" : undefined);
    const clock = new VirtualClock(1000);
    const engine = new L3L4Builder<Uint8Array>().clock(clock.now).build();
    const tx = new Uint8Array(2048);
    let lastTxLength = 0;
    let established = 0;
    const cb: Callbacks<Uint8Array> = {
      l3TxBuffer: () => tx,
      l3TxBufferMut: (b) => b,
      l3Tx: (_b, len) => {
        lastTxLength = len;
      },
      l4Rx: () => {},
    };
    const peer = (i: number) => ({ src: `10.${(i >> 8) & 255}.${i & 255}.9`, dst: "198.51.100.7", srcPort: 10000 + i, dstPort: 443 });
    const before = heapBytes();
    for (let i = 0; i < FLOWS; i++) {
      const syn = tcp({
        ...peer(i),
        seq: 1000,
        flags: TcpFlag.SYN,
        window: 65535,
        options: { mss: 1460, sackPermitted: true, timestamps: [1, 0], windowScale: 7 },
      });
      lastTxLength = 0;
      engine.l3Rx(cb, syn);
      expect(lastTxLength).toBeGreaterThan(40);
      // The SYN-ACK (IPv4, 20-byte header): seq at 20 + 4; options at 40: MSS, SACK-permitted, TS (TSval at 48).
      const iss = read32(tx, 24);
      const tsVal = read32(tx, 48);
      const ack = tcp({ ...peer(i), seq: 1001, ack: (iss + 1) >>> 0, flags: TcpFlag.ACK, window: 512, options: { timestamps: [2, tsVal] } });
      const flow: Flow | undefined = engine.l3Rx(cb, ack);
      if (flow !== undefined && engine.l4State(flow) === "ESTABLISHED") established++;
    }
    const after = heapBytes();
    const perFlow = (after - before) / FLOWS;
    console.log(`memory: ${FLOWS} idle established flows, ${(perFlow / 1024).toFixed(2)} KiB each (${Math.round(perFlow)} bytes)`);
    expect(established).toBe(FLOWS);
    expect(engine.flowCount).toBe(FLOWS);
    expect(perFlow).toBeLessThanOrEqual(LIMIT_BYTES);
    // Keep the engine alive until after the measurement.
    expect(engine.stats().tcpFlowsOpened).toBe(FLOWS);
  });

  for (const family of [4, 6] as const) it(`a half-open connection (IPv${family}) costs at most the HALF_OPEN_BYTES the memory budget charges for it`, (ctx) => {
    skipOrFailInCi(ctx, gc === undefined ? "global.gc (run node with --expose-gc, as spec/vitest.config.ts does)" : undefined);
    const SYNS = 4000;
    const engine = new L3L4Builder<Uint8Array>().clock(new VirtualClock(1000).now).build();
    const tx = new Uint8Array(2048);
    const cb: Callbacks<Uint8Array> = { l3TxBuffer: () => tx, l3TxBufferMut: (b) => b, l3Tx: () => {}, l4Rx: () => {} };
    // Linux's SYN options; the packets are made first, so only the engine's part is measured.
    const syns = Array.from({ length: SYNS }, (_, i) =>
      tcp({
        src: family === 4 ? `10.${(i >> 8) & 255}.${i & 255}.9` : `2001:db8:${(i >> 8) & 255}::${(i & 255).toString(16)}:9`,
        dst: family === 4 ? "198.51.100.7" : "2001:db8:ffff::7",
        srcPort: 10000 + i,
        dstPort: 443,
        seq: 1000,
        flags: TcpFlag.SYN,
        window: 65535,
        options: { mss: 1400, sackPermitted: true, timestamps: [1, 0], windowScale: 7 },
      }),
    );
    const before = heapBytes();
    for (const syn of syns) engine.l3Rx(cb, syn);
    const perRecord = (heapBytes() - before) / SYNS;
    console.log(`memory: ${SYNS} half-open IPv${family} connections, ${Math.round(perRecord)} bytes each (charged ${HALF_OPEN_BYTES})`);
    expect(engine.stats().tcpHalfOpen).toBe(SYNS);
    expect(engine.stats().memory.halfOpen).toBe(SYNS * HALF_OPEN_BYTES);
    expect(perRecord).toBeLessThanOrEqual(HALF_OPEN_BYTES);
  });
});
