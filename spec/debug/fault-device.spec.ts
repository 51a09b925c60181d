/**
 * FaultyDevice (lib/debug/fault-device.ts) over a fake device: what each fault does to packets in
 * both directions, determinism per seed, and held packets released by the (faked) clock.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseFaults, NO_FAULTS, type Faults } from "../../lib/debug/faults.js";
import { FaultyDevice } from "../../lib/debug/fault-device.js";
import { InvalidArgumentError } from "../../lib/errors.js";
import { FakeDevice } from "../tun/fake-device.js";

class NamedFakeDevice extends FakeDevice {
  readonly name = "fake0";
}

const SLOT = 1600;

function packets(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => Uint8Array.from({ length: 40 + (i % 7) }, (_, j) => (i * 31 + j) & 0xff));
}

/** Reads everything ready through `device` (one batch of up to `max`). */
function read(device: FaultyDevice, max = 256): Uint8Array[] {
  const pool = new Uint8Array(max * SLOT);
  const lengths = new Int32Array(max);
  const count = device.readBatch(pool, SLOT, max, lengths);
  return Array.from({ length: count }, (_, i) => pool.slice(i * SLOT, i * SLOT + lengths[i]!));
}

/** Writes `list` through `device` as the runner does (one pool, offsets, lengths); returns consumed. */
function write(device: FaultyDevice, list: Uint8Array[]): number {
  const pool = new Uint8Array(list.length * SLOT);
  const offsets = new Int32Array(list.length);
  const lengths = new Int32Array(list.length);
  list.forEach((p, i) => {
    pool.set(p, i * SLOT);
    offsets[i] = i * SLOT;
    lengths[i] = p.length;
  });
  return device.writeBatch(pool, offsets, lengths, list.length);
}

function faulty(rx: Faults, tx: Faults, seed = 1) {
  const inner = new NamedFakeDevice();
  return { inner, device: new FaultyDevice(inner, rx, tx, seed) };
}

describe("FaultyDevice", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("refuses a device with a virtio-net header: its faults work on plain IP packets", () => {
    const offloaded = Object.assign(new FakeDevice(1500, ["csum"]), { name: "fake1" });
    expect(() => new FaultyDevice(offloaded, NO_FAULTS, NO_FAULTS, 1)).toThrow(InvalidArgumentError);
    expect(() => new FaultyDevice(offloaded, NO_FAULTS, NO_FAULTS, 1)).toThrow(/fake1 has a virtio-net header/);
  });

  it("passes everything through unchanged without faults", () => {
    const { inner, device } = faulty(NO_FAULTS, NO_FAULTS);
    const sent = packets(20);
    inner.inbound.push(...sent);
    expect(read(device)).toEqual(sent);
    expect(write(device, sent)).toBe(20);
    expect(inner.written).toEqual(sent);
    expect(device.rxCounters.passed).toBe(20);
    expect(device.txCounters.passed).toBe(20);
    expect(device.name).toBe("fake0");
  });

  it("loses everything at loss=1 (and the writes still count as consumed)", () => {
    const { inner, device } = faulty(parseFaults("loss=1"), parseFaults("loss=1"));
    inner.inbound.push(...packets(10));
    expect(read(device)).toEqual([]);
    expect(write(device, packets(10))).toBe(10);
    expect(inner.written).toEqual([]);
    expect(device.rxCounters.lost).toBe(10);
    expect(device.txCounters.lost).toBe(10);
  });

  it("sends each packet twice at duplicate=1, in order", () => {
    const { inner, device } = faulty(parseFaults("duplicate=1"), parseFaults("duplicate=1"));
    const sent = packets(5);
    inner.inbound.push(...sent);
    const got = read(device);
    expect(got).toEqual(sent.flatMap((p) => [p, p]));
    write(device, sent);
    expect(inner.written).toEqual(sent.flatMap((p) => [p, p]));
  });

  it("flips exactly one bit per packet at corrupt=1", () => {
    const { inner, device } = faulty(parseFaults("corrupt=1"), NO_FAULTS);
    const sent = packets(8);
    inner.inbound.push(...sent.map((p) => p.slice()));
    const got = read(device);
    expect(got).toHaveLength(8);
    got.forEach((p, i) => {
      let bits = 0;
      for (let j = 0; j < p.length; j++) {
        let x = p[j]! ^ sent[i]![j]!;
        for (; x !== 0; x &= x - 1) bits++;
      }
      expect(bits).toBe(1);
    });
  });

  it("makes the same choices for the same seed", () => {
    const spec = parseFaults("loss=0.3,duplicate=0.2");
    const runs = [1, 1, 2].map((seed) => {
      const { inner, device } = faulty(spec, spec, seed);
      inner.inbound.push(...packets(100));
      return read(device).map((p) => p[0]);
    });
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]).not.toEqual(runs[2]);
  });

  it("holds delayed packets until their time, then signals readable / writes them", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const { inner, device } = faulty(parseFaults("delay=5"), parseFaults("delay=5"));
    let readable = 0;
    device.onReadable(() => readable++);
    const sent = packets(3);
    inner.inbound.push(...sent);
    expect(read(device)).toEqual([]);
    expect(write(device, sent)).toBe(3);
    expect(inner.written).toEqual([]);
    vi.advanceTimersByTime(4);
    expect(readable).toBe(0);
    expect(inner.written).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(readable).toBe(1);
    expect(read(device)).toEqual(sent);
    expect(inner.written).toEqual(sent);
    expect(device.rxCounters.delayed).toBe(3);
  });

  it("lets later packets overtake a reordered one (held for `hold` ms)", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const { inner, device } = faulty(parseFaults("reorder=0.5,hold=10"), NO_FAULTS, 3);
    const sent = packets(40);
    inner.inbound.push(...sent);
    const first = read(device);
    expect(device.rxCounters.reordered).toBeGreaterThan(0);
    expect(first.length).toBe(40 - device.rxCounters.reordered);
    vi.advanceTimersByTime(10);
    const later = read(device);
    expect([...first, ...later].map((p) => p[0]).sort()).toEqual(sent.map((p) => p[0]).sort());
    expect([...first, ...later]).not.toEqual(sent); // the order changed
  });

  it("drops what it holds and closes the inner device on close()", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const { inner, device } = faulty(NO_FAULTS, parseFaults("delay=5"));
    write(device, packets(2));
    device.close();
    vi.advanceTimersByTime(10);
    expect(inner.written).toEqual([]);
    expect(inner.closed).toBe(true);
  });
});
