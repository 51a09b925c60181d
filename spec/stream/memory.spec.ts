/**
 * A slow reader cannot make the stack hold more than its buffers: 100 MB offered as fast as the
 * writer may, read a little per event-loop turn, and the heap (JS heap plus ArrayBuffers, after a
 * full GC) never grows by more than the buffers the configuration allows, plus a fixed allowance.
 * Needs node --expose-gc (spec/vitest.config.ts gives it).
 */
import { describe, expect, it } from "vitest";
import { nextConnection, SERVER4, useStreamPairs } from "../support/stream-pair.js";

const MB = 1_000_000;
const KiB = 1024;

/**
 * Bytes the JS heap and the ArrayBuffers (Buffers, Uint8Arrays) hold after a full GC. V8 frees
 * ArrayBuffer memory after the collection that found it dead (off the main thread): collect, give it
 * a turn of the event loop, collect again.
 */
async function heapBytes(): Promise<number> {
  globalThis.gc!();
  await new Promise((resolve) => setImmediate(resolve));
  globalThis.gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe("memory under a slow reader", () => {
  const streamPair = useStreamPairs();

  it.skipIf(typeof globalThis.gc !== "function")(
    "100 MB offered to a reader taking 16 KiB per turn: heap growth stays within the configured buffers",
    async () => {
      const bufferSize = 256 * KiB; // the engines' tcpBufferSize (each direction, each end)
      const highWaterMark = 64 * KiB; // the sockets' readable and writable highWaterMark
      const writeChunk = 64 * KiB;
      const { a, b } = streamPair({
        configure: (x) => x.tcpBufferSize(bufferSize),
        a: { readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark },
        b: { readableHighWaterMark: highWaterMark, writableHighWaterMark: highWaterMark },
      });
      const offered = 100 * MB;
      const accepted = nextConnection(b);
      const reader = a.connect({ host: SERVER4, port: 80 });
      const writer = await accepted;

      // The writer: as fast as write() allows, one chunk object reused (its bytes are copied by l4Tx).
      const chunk = Buffer.alloc(writeChunk, 0x5a);
      let written = 0;
      let drains = 0;
      const pump = (): void => {
        while (written < offered) {
          const n = Math.min(chunk.length, offered - written);
          written += n;
          if (!writer.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            drains++;
            writer.once("drain", pump);
            return;
          }
        }
        writer.end();
      };
      // The reader: 16 KiB per event-loop turn, heap sampled every 2 MB against what it was before.
      const baseline = await heapBytes();
      pump();
      let read = 0;
      let peak = 0;
      let nextSample = 2 * MB;
      reader.pause();
      let ended = false;
      reader.once("end", () => (ended = true));
      while (!ended) {
        await new Promise((resolve) => setImmediate(resolve));
        for (let got = 0; got < 16 * KiB; ) {
          const data = reader.read() as Buffer | null;
          if (data === null) break;
          got += data.length;
          read += data.length;
        }
        if (read >= nextSample) {
          nextSample += 2 * MB;
          const now = await heapBytes();
          peak = Math.max(peak, now - baseline);
        }
      }
      expect(read).toBe(offered);

      // What the configuration lets the stack hold at once: each engine's send and receive buffers,
      // each socket's readable highWaterMark plus one engine delivery past it (up to a buffer), the
      // writable highWaterMark, and the write in progress. The allowance covers the GC's own slack.
      const configured = 4 * bufferSize + 2 * (highWaterMark + bufferSize) + 2 * highWaterMark + writeChunk;
      const allowance = 2 * MB;
      console.log(
        `slow reader: ${offered / MB} MB through, heap growth peak ${(peak / MB).toFixed(2)} MB ` +
          `(configured buffers ${(configured / MB).toFixed(2)} MB + allowance ${allowance / MB} MB); ` +
          `receive paused ${a.stats.rxPauses} times, writer waited for drain ${drains} times`,
      );
      expect(a.stats.rxPauses).toBeGreaterThan(10); // the reader's flow really was paused
      expect(drains).toBeGreaterThan(10); // and the writer really was held back
      expect(peak).toBeLessThan(configured + allowance);
    },
    180_000,
  );
});
