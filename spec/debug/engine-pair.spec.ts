/**
 * The memory device pair under joinEngines: what one end writes the other reads in a later turn of
 * the event loop, in batches, through a bounded queue that pushes back as a full device does; and
 * two raw engines talking through it on the real clock.
 */
import { describe, expect, it } from "vitest";
import type { Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { joinEngines, memoryDevicePair, type MemoryDevice } from "../../lib/debug/engine-pair.js";
import { InvalidArgumentError } from "../../lib/errors.js";
import type { TunApp } from "../../lib/tun/runner.js";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Writes `count` packets of `length` bytes (byte 0 = index) from `device`; returns how many it took. */
function write(device: MemoryDevice, count: number, length = 100, first = 0): number {
  const pool = new Uint8Array(count * length);
  const offsets = new Int32Array(count);
  const lengths = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    offsets[i] = i * length;
    lengths[i] = length;
    pool[i * length] = first + i;
  }
  return device.writeBatch(pool, offsets, lengths, count);
}

function read(device: MemoryDevice, max: number, slotSize = 1512): number[] {
  const pool = new Uint8Array(max * slotSize);
  const lengths = new Int32Array(max);
  const n = device.readBatch(pool, slotSize, max, lengths);
  return Array.from({ length: n }, (_, i) => pool[i * slotSize]!);
}

describe("memoryDevicePair", () => {
  it("delivers what one end writes to the other, in order, signalling readability in a later turn", async () => {
    const [a, b] = memoryDevicePair();
    let readable = 0;
    b.onReadable(() => readable++);
    expect(write(a, 3)).toBe(3);
    expect(readable).toBe(0); // not from inside the write
    await turn();
    expect(readable).toBe(1);
    expect(read(b, 2)).toEqual([0, 1]);
    await turn(); // level-triggered: one left
    expect(readable).toBe(2);
    expect(read(b, 10)).toEqual([2]);
    expect(a.counters.written).toBe(3);
    expect(b.counters.read).toBe(3);
  });

  it("a full queue takes fewer packets (as EAGAIN) and signals writability once the reader made room", async () => {
    const [a, b] = memoryDevicePair({ queue: 4 });
    let writable = 0;
    a.onWritable(() => writable++);
    expect(write(a, 6)).toBe(4);
    expect(a.counters.blocked).toBe(1);
    a.pollWritable(true);
    await turn();
    expect(writable).toBe(0); // still full
    expect(read(b, 2)).toEqual([0, 1]);
    await turn();
    expect(writable).toBe(1);
    expect(write(a, 2, 100, 4)).toBe(2);
    expect(read(b, 10)).toEqual([2, 3, 4, 5]);
  });

  it("after close, reads give nothing and writes to it are dropped and counted", () => {
    const [a, b] = memoryDevicePair();
    write(a, 2);
    b.close();
    expect(read(b, 10)).toEqual([]);
    expect(write(a, 3)).toBe(3);
    expect(a.counters.droppedClosed).toBe(3);
  });

  it("rejects a bad MTU or queue size", () => {
    expect(() => memoryDevicePair({ mtu: 10 })).toThrow(InvalidArgumentError);
    expect(() => memoryDevicePair({ queue: 0 })).toThrow(InvalidArgumentError);
  });
});

describe("joinEngines", () => {
  it("joins two engines on the real clock: a raw flow carries bytes exactly and closes on both", async () => {
    const a = new L3L4Builder<number>().build();
    const b = new L3L4Builder<number>().build();
    const received: number[] = [];
    let gone = 0;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    const appB: TunApp = {
      l4Rx: (_flow, data) => {
        if (data === null) return;
        for (const byte of data) received.push(byte);
      },
      l4RemoteClosed: (flow) => b.l4LocalClose(pair.b.callbacks, flow),
    };
    const appA: TunApp = {
      l4Rx: (_flow: Flow, data) => {
        if (data === null && ++gone === 1) done();
      },
    };
    const pair = joinEngines(a, appA, b, appB);
    const flow = a.l4Connect(pair.a.callbacks, { protocol: "tcp", srcIp: "10.1.0.1", srcPort: 40000, dstIp: "10.1.0.2", dstPort: 80 });
    pair.a.track(flow);
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
    expect(a.l4Tx(pair.a.callbacks, flow, data)).toBe(5000);
    a.l4LocalClose(pair.a.callbacks, flow);
    pair.a.schedule();
    await finished;
    expect(received).toEqual(Array.from(data));
    expect(pair.devices[0].counters.written).toBeGreaterThan(0);
    pair.stop();
    expect(pair.a.running || pair.b.running).toBe(false);
  });

  it("refuses one engine on both ends", () => {
    const a = new L3L4Builder<number>().build();
    expect(() => joinEngines(a, { l4Rx: () => {} }, a, { l4Rx: () => {} })).toThrow(InvalidArgumentError);
  });
});
