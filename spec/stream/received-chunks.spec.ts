import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_STAGE, ReceivedChunks } from "../../lib/stream/received-chunks.js";

function bytes(n: number, from: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
}

describe("ReceivedChunks (FlowSocket's one copy of received data)", () => {
  it("gives the first delivery since a push a Buffer of its own size, then coalesces into a staging Buffer", () => {
    const rx = new ReceivedChunks();
    rx.beginPush();
    rx.copyIn(bytes(100, 0));
    rx.copyIn(bytes(100, 100)); // 200 since the push: a 200-byte stage holding these 100
    rx.copyIn(bytes(50, 200)); // fits the stage
    const first = rx.take();
    expect(first).toEqual(Buffer.from(bytes(100, 0)));
    expect(rx.waiting).toBe(true);
    const second = rx.take();
    expect(second.length).toBe(150); // only the filled part of the stage
    expect(second).toEqual(Buffer.from(bytes(150, 100)));
    expect(rx.waiting).toBe(false);
  });

  it("never makes a staging Buffer larger than MAX_STAGE", () => {
    const rx = new ReceivedChunks();
    rx.beginPush();
    for (let i = 0; i < 100; i++) rx.copyIn(bytes(1448, i));
    let total = 0;
    while (rx.waiting) {
      const chunk = rx.take();
      expect(chunk.length).toBeLessThanOrEqual(MAX_STAGE);
      total += chunk.length;
    }
    expect(total).toBe(144_800);
  });

  it("property: deliveries and takes in any order hand out exactly the bytes delivered, in order, no unused tail", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(0), fc.constant(-1)), { maxLength: 80 }),
        (steps) => {
          const rx = new ReceivedChunks();
          let delivered = 0;
          const out: number[] = [];
          for (const step of steps) {
            if (step > 0) {
              rx.copyIn(bytes(step, delivered));
              delivered += step;
            } else if (step === 0) {
              rx.beginPush();
            } else if (rx.waiting) {
              for (const b of rx.take()) out.push(b);
            }
          }
          while (rx.waiting) for (const b of rx.take()) out.push(b);
          expect(out.length).toBe(delivered);
          for (let i = 0; i < out.length; i++) if (out[i] !== (i & 0xff)) expect.fail(`byte ${i}`);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it("clear() drops everything waiting", () => {
    const rx = new ReceivedChunks();
    rx.copyIn(bytes(10, 0));
    rx.copyIn(bytes(10, 10));
    rx.clear();
    expect(rx.waiting).toBe(false);
    rx.copyIn(bytes(5, 0));
    expect(rx.take()).toEqual(Buffer.from(bytes(5, 0)));
  });
});
