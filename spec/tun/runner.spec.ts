import { EventEmitter } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import type { EngineDriver } from "../../lib/api.js";
import { runTun, type TunApp, type TunRunner } from "../../lib/tun/runner.js";
import { VNET_HEADER_ROOM } from "../../lib/tun/tun.js";
import { VNET_HEADER_LENGTH, VnetFlag, VnetGso, writeVnetHeader } from "../../lib/wire/virtio-net.js";
import { FakeDevice } from "./fake-device.js";
import { EchoEngine, echoRequest, echoRequestLength, testFlow } from "./icmp-echo.js";

const PEER = [10, 9, 9, 2];
const US = [10, 9, 9, 1];

function requests(count: number, payloadLength = 8): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => echoRequest(PEER, US, i + 1, payloadLength));
}

function isReplyTo(reply: Uint8Array, request: Uint8Array): boolean {
  return (
    reply.length === request.length &&
    reply[20] === 0 &&
    reply.subarray(12, 16).join() === request.subarray(16, 20).join() &&
    reply.subarray(16, 20).join() === request.subarray(12, 16).join() &&
    reply.subarray(24).join() === request.subarray(24).join()
  );
}

const quietApp: TunApp = { l4Rx: () => {} };

/** The event loop's own setImmediate, before the fake timers replace it. */
const realSetImmediate = globalThis.setImmediate;

/**
 * Lets the nextTick and microtask queues that follow a turn run out: a send made after it is "outside
 * a turn" (setImmediate), one made inside it belongs to the turn's tail (process.nextTick).
 */
async function endOfTurnTail(): Promise<void> {
  await Promise.resolve();
}

describe("runTun", () => {
  let runner: TunRunner | undefined;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });

  afterEach(() => {
    runner?.stop();
    runner = undefined;
    vi.useRealTimers();
  });

  it("hands each packet of a read batch to l3Rx and writes the replies with one writeBatch", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp, { rxSlots: 16 });
    const sent = requests(5);

    device.receive(...sent);

    expect(engine.received).toBe(5);
    expect(device.readCalls).toEqual([16]);
    expect(device.writeCalls).toEqual([5]);
    expect(device.written).toHaveLength(5);
    device.written.forEach((reply, i) => expect(isReplyTo(reply, sent[i]!)).toBe(true));
    expect(echoRequestLength(device.written[0]!)).toBe(0); // replies, not requests
    expect(runner.stats).toMatchObject({ rxPackets: 5, rxBatches: 1, txPackets: 5, txBatches: 1 });
    expect(runner.txSlotsFree).toBe(1024);
  });

  it("reads at most rxSlots packets per batch and leaves the rest for the next readable event", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp, { rxSlots: 4 });

    device.receive(...requests(6));
    expect(engine.received).toBe(4);
    device.receive();
    expect(engine.received).toBe(6);
    expect(device.writeCalls).toEqual([4, 2]);
  });

  it("calls l4Poll once per batch and fires one timer at the deadline it returns", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    vi.runOnlyPendingTimers(); // the initial turn
    const pollsBefore = engine.polls;

    engine.nextDeadline = engine.now() + 50;
    device.receive(...requests(3));
    expect(engine.polls).toBe(pollsBefore + 1);

    engine.nextDeadline = undefined;
    vi.advanceTimersByTime(49);
    expect(runner.stats.timerFires).toBe(0);
    vi.advanceTimersByTime(1);
    expect(runner.stats.timerFires).toBe(1);
    expect(engine.polls).toBe(pollsBefore + 2);
    vi.advanceTimersByTime(10_000);
    expect(runner.stats.timerFires).toBe(1);
  });

  it("when the timer fires, reads what waits in the device before l4Poll (no spurious RTO)", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    vi.runOnlyPendingTimers(); // the initial turn
    engine.nextDeadline = engine.now() + 50;
    device.receive(...requests(1));
    const received = engine.received;
    // Packets arrive but their readable event has not run yet when the timer is due.
    device.inbound.push(...requests(2));
    vi.advanceTimersByTime(50);
    expect(runner.stats.timerFires).toBe(1);
    expect(engine.received).toBe(received + 2);
  });

  it("keeps an earlier timer when the deadline moves later, and re-arms when it moves earlier", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    vi.runOnlyPendingTimers(); // the initial turn
    const start = engine.now();

    engine.nextDeadline = start + 100;
    device.receive(...requests(1));
    engine.nextDeadline = start + 300;
    device.receive(...requests(1));
    expect(vi.getTimerCount()).toBe(1);

    vi.advanceTimersByTime(100); // fires at the earlier deadline; the poll re-arms for +300
    expect(runner.stats.timerFires).toBe(1);
    engine.nextDeadline = start + 150;
    device.receive(...requests(1)); // earlier than +300: re-armed
    vi.advanceTimersByTime(50);
    expect(runner.stats.timerFires).toBe(2);
  });

  it("keeps what EAGAIN left queued, waits for writability, then writes it", () => {
    const device = new FakeDevice();
    device.capacity = 3;
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    const sent = requests(5);

    device.receive(...sent);
    expect(device.written).toHaveLength(3);
    expect(device.writablePolled).toBe(true);
    expect(runner.txQueued).toBe(2);
    expect(runner.stats.txBlocked).toBe(1);

    device.drain();
    expect(device.writablePolled).toBe(false);
    expect(runner.txQueued).toBe(0);
    expect(device.written).toHaveLength(5);
    device.written.forEach((reply, i) => expect(isReplyTo(reply, sent[i]!)).toBe(true));
    expect(runner.txSlotsFree).toBe(1024);
  });

  it("returns undefined from l3TxBuffer when the pool is exhausted and polls again once slots free up", async () => {
    const device = new FakeDevice();
    device.capacity = 0;
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp, { txSlots: 4 });
    vi.runOnlyPendingTimers();
    await endOfTurnTail();

    device.receive(...requests(6));
    await endOfTurnTail();
    expect(engine.replied).toBe(4);
    expect(engine.starved).toBe(2);
    expect(runner.stats.txPoolExhausted).toBe(2);
    expect(runner.txSlotsFree).toBe(0);

    const pollsBefore = engine.polls;
    device.drain();
    expect(device.written).toHaveLength(4);
    expect(runner.txSlotsFree).toBe(4);
    expect(engine.polls).toBe(pollsBefore);
    vi.runOnlyPendingTimers(); // the engine, starved before, gets a turn now that slots are free
    expect(engine.polls).toBe(pollsBefore + 1);
  });

  it("refuses a buffer larger than a slot", () => {
    const device = new FakeDevice(100);
    runner = runTun(new EchoEngine(), device, quietApp);
    expect(runner.callbacks.l3TxBuffer(100 + VNET_HEADER_ROOM)).toBeTypeOf("number");
    expect(runner.callbacks.l3TxBuffer(100 + VNET_HEADER_ROOM + 1)).toBeUndefined();
    expect(runner.stats.txOversize).toBe(1);
  });

  it("flushes sends from outside a turn together, in one writeBatch on the next setImmediate", async () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    vi.runOnlyPendingTimers();
    await endOfTurnTail(); // from a later event, not from the turn's own nextTick queue
    const pollsBefore = engine.polls;

    expect(engine.send(runner.callbacks, requests(1)[0]!)).toBe(true);
    expect(engine.send(runner.callbacks, requests(2)[1]!)).toBe(true);
    expect(device.written).toHaveLength(0);
    expect(runner.txQueued).toBe(2);

    vi.runOnlyPendingTimers();
    expect(device.writeCalls).toEqual([2]);
    expect(device.written).toHaveLength(2);
    expect(engine.polls).toBe(pollsBefore + 1);
  });

  it("runs a turn at the end of the nextTick queue that follows a turn for sends made in it, not a loop iteration later", async () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    vi.runOnlyPendingTimers();
    await endOfTurnTail();
    const r = runner;
    const sent = requests(3);
    // As a stream reacts to a turn's events: in process.nextTick callbacks queued during the turn.
    engine.onPoll = () => {
      engine.onPoll = undefined;
      process.nextTick(() => engine.send(r.callbacks, sent[1]!));
      process.nextTick(() => engine.send(r.callbacks, sent[2]!));
    };
    // Readability comes from the event loop (a macrotask): its nextTick queue runs before microtasks.
    const calls = await new Promise<number[][]>((resolve) =>
      realSetImmediate(() => {
        device.receive(sent[0]!);
        const inTurn = [...device.writeCalls];
        queueMicrotask(() => resolve([inTurn, [...device.writeCalls]]));
      }),
    );
    expect(calls[0]).toEqual([1]); // the turn's own reply
    expect(calls[1]).toEqual([1, 2]); // both tail sends in one batch, before any timer or immediate
    expect(vi.getTimerCount()).toBe(0);
  });

  it("hands l3TxBufferMut the same preallocated view for a slot every time", () => {
    const device = new FakeDevice();
    runner = runTun(new EchoEngine(), device, quietApp, { txSlots: 2 });
    const slot = runner.callbacks.l3TxBuffer(60)!;
    const first = runner.callbacks.l3TxBufferMut(slot);
    expect(runner.callbacks.l3TxBufferMut(slot)).toBe(first);
    expect(first.length).toBe(1500 + VNET_HEADER_ROOM);
  });

  it("reuses the rx view of a slot for packets of a length it has seen", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp, { rxSlots: 2 });

    device.receive(...requests(2, 8));
    device.receive(...requests(2, 100));
    device.receive(...requests(2, 8));
    const [a, b, c, d, e, f] = engine.seen;
    expect(e).toBe(a);
    expect(f).toBe(b);
    expect(c).not.toBe(a);
    expect(a!.length).toBe(36);
    expect(c!.length).toBe(128);
    expect(d).not.toBe(c);
  });

  it("shows every packet in and out to the packet tap", () => {
    const device = new FakeDevice();
    const tapped: string[] = [];
    const app: TunApp = {
      l4Rx: () => {},
      packetTap: (direction, packet) => tapped.push(`${direction}:${packet.length}:${packet[20]}`),
    };
    runner = runTun(new EchoEngine(), device, app);
    device.receive(...requests(2));
    expect(tapped).toEqual(["rx:36:8", "tx:36:0", "rx:36:8", "tx:36:0"]);
  });

  it("tracks accepted flows, forgets ended ones, and aborts the rest at shutdown", async () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    const refused = testFlow(3);
    const app: TunApp = { l4Rx: () => {}, l4Accept: (flow) => flow !== refused };
    runner = runTun(engine, device, app);
    const [one, two] = [testFlow(1), testFlow(2)];
    expect(engine.accept(runner.callbacks, one)).toBe(true);
    expect(engine.accept(runner.callbacks, two)).toBe(true);
    expect(engine.accept(runner.callbacks, refused)).toBe(false);
    runner.callbacks.l4Rx(two, null); // flow two ended on its own

    await runner.shutdown();
    expect(engine.aborted).toEqual([one]);
    expect(device.closed).toBe(true);
    expect(runner.running).toBe(false);
  });

  it("closes flows gracefully first when given a grace period, and aborts none that ended", async () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    engine.closeEndsFlow = true;
    runner = runTun(engine, device, quietApp);
    const flow = testFlow(1);
    engine.accept(runner.callbacks, flow);

    await runner.shutdown({ graceMs: 5000 });
    expect(engine.closed).toEqual([flow]);
    expect(engine.aborted).toEqual([]);
    expect(device.closed).toBe(true);
  });

  it("aborts what did not close within the grace period", async () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    const flow = testFlow(1);
    engine.accept(runner.callbacks, flow);

    const done = runner.shutdown({ graceMs: 1000 });
    await vi.advanceTimersByTimeAsync(999);
    expect(device.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(engine.closed).toEqual([flow]);
    expect(engine.aborted).toEqual([flow]);
    expect(device.closed).toBe(true);
  });

  it("shuts down and exits on SIGTERM, and exits at once on a second signal", async () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    const signals = new EventEmitter();
    const exits: number[] = [];
    runner = runTun(engine, device, quietApp, {
      handleSignals: { target: signals, graceMs: 1000, exit: (code) => exits.push(code) },
    });
    runner.track(testFlow(1));

    signals.emit("SIGTERM", "SIGTERM");
    expect(engine.closed).toHaveLength(1);
    signals.emit("SIGINT", "SIGINT");
    expect(exits).toEqual([130]);

    await vi.advanceTimersByTimeAsync(1000);
    expect(exits).toEqual([130, 0]);
    expect(device.closed).toBe(true);
    expect(signals.listenerCount("SIGTERM")).toBe(0);
  });

  it("stops and reports a read error to onError", () => {
    const device = new FakeDevice();
    const errors: unknown[] = [];
    runner = runTun(new EchoEngine(), device, quietApp, { onError: (error) => errors.push(error) });
    device.readError = new Error("EBADFD");
    device.receive();
    expect(errors).toEqual([device.readError]);
    expect(runner.running).toBe(false);
    expect(device.closed).toBe(true);
  });

  it("stops and reports a failing device poll (the device was deleted) to onError", () => {
    const device = new FakeDevice();
    const errors: unknown[] = [];
    runner = runTun(new EchoEngine(), device, quietApp, { onError: (error) => errors.push(error) });
    const pollError = new Error("EBADF");
    device.errorHandler!(pollError);
    expect(errors).toEqual([pollError]);
    expect(runner.running).toBe(false);
    expect(device.closed).toBe(true);
  });

  it("rejects pool sizes that are not positive integers", () => {
    expect(() => runTun(new EchoEngine(), new FakeDevice(), quietApp, { rxSlots: 0 })).toThrow(InvalidArgumentError);
    expect(() => runTun(new EchoEngine(), new FakeDevice(), quietApp, { txSlots: 1.5 })).toThrow(InvalidArgumentError);
  });

  it("stop() cancels the timer and the pending turn", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    engine.nextDeadline = engine.now() + 10;
    runner = runTun(engine, device, quietApp);
    vi.runOnlyPendingTimers(); // initial turn arms the timer
    expect(vi.getTimerCount()).toBe(1);
    runner.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(device.closed).toBe(true);
  });

  describe("for an app that calls the engine itself (TunApp.attach, afterRx)", () => {
    it("hands the app its driver once, before the first turn: the engine, the runner's callbacks, schedule, track", async () => {
      const device = new FakeDevice();
      const engine = new EchoEngine();
      const drivers: EngineDriver<number>[] = [];
      let pollsAtAttach = -1;
      runner = runTun(engine, device, {
        l4Rx: () => {},
        attach: (driver) => {
          drivers.push(driver);
          pollsAtAttach = engine.polls;
        },
      });
      expect(drivers).toHaveLength(1);
      expect(pollsAtAttach).toBe(0);
      const driver = drivers[0]!;
      expect(driver.engine).toBe(engine);
      expect(driver.callbacks).toBe(runner.callbacks);

      // schedule() asks for a turn in setImmediate.
      vi.runOnlyPendingTimers();
      await endOfTurnTail();
      const polls = engine.polls;
      driver.schedule();
      driver.schedule();
      vi.runOnlyPendingTimers();
      expect(engine.polls).toBe(polls + 1);

      // track(): the flow is aborted at shutdown like an accepted one.
      const flow = testFlow(1);
      driver.track!(flow);
      void runner.shutdown();
      expect(engine.aborted).toEqual([flow]);
    });

    it("calls afterRx after each read batch went into l3Rx, before the turn's l4Poll; not on timer turns", () => {
      const device = new FakeDevice();
      const engine = new EchoEngine();
      const seen: Array<[received: number, polls: number]> = [];
      runner = runTun(engine, device, { l4Rx: () => {}, afterRx: () => seen.push([engine.received, engine.polls]) }, { rxSlots: 4 });
      vi.runOnlyPendingTimers();
      const polls = engine.polls;

      device.receive(...requests(6));
      expect(seen).toEqual([[4, polls]]);
      device.receive();
      expect(seen).toEqual([
        [4, polls],
        [6, polls + 1],
      ]);

      engine.nextDeadline = engine.now() + 10;
      device.receive(...requests(1));
      vi.advanceTimersByTime(10); // a timer turn with nothing to read
      expect(runner.stats.timerFires).toBe(1);
      expect(seen).toHaveLength(3);
    });

    it("setRef(false) unrefs the deadline timer and the device poll, and setRef(true) refs them again", () => {
      const device = new FakeDevice();
      const engine = new EchoEngine();
      const timeouts = vi.spyOn(globalThis, "setTimeout");
      runner = runTun(engine, device, quietApp);
      vi.runOnlyPendingTimers();
      engine.nextDeadline = engine.now() + 100;
      device.receive(...requests(1));
      const timer = timeouts.mock.results.at(-1)!.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(true);

      runner.setRef(false);
      runner.setRef(false);
      expect(timer.hasRef()).toBe(false);
      expect(device.refCalls).toEqual([false]);
      // A timer armed while unref'd is unref'd too.
      vi.advanceTimersByTime(100);
      engine.nextDeadline = engine.now() + 50;
      device.receive(...requests(1));
      const next = timeouts.mock.results.at(-1)!.value as NodeJS.Timeout;
      expect(next).not.toBe(timer);
      expect(next.hasRef()).toBe(false);

      runner.setRef(true);
      expect(next.hasRef()).toBe(true);
      expect(device.refCalls).toEqual([false, true]);
      timeouts.mockRestore();
    });
  });

  it("grows the read batch while the device is busy: 16 packets, then 32, ... up to rxSlots", () => {
    const device = new FakeDevice();
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp, { rxSlots: 64 });
    device.receive(...requests(200));
    for (let i = 0; i < 5; i++) device.receive();
    expect(device.readCalls).toEqual([16, 32, 64, 64, 64, 64]);
    expect(engine.received).toBe(200);
    expect(runner.stats.rxBatchLimit).toBe(64);
  });

  it("keeps the read batch when reads do not fill it", () => {
    const device = new FakeDevice();
    runner = runTun(new EchoEngine(), device, quietApp, { rxSlots: 64 });
    for (let i = 0; i < 3; i++) device.receive(...requests(15));
    expect(device.readCalls).toEqual([16, 16, 16]);
  });
});

describe("runTun on a device with offloads (virtio-net headers)", () => {
  let runner: TunRunner | undefined;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });

  afterEach(() => {
    runner?.stop();
    runner = undefined;
    vi.useRealTimers();
  });

  function withHeader(packet: Uint8Array, flags = 0): Uint8Array {
    const read = new Uint8Array(VNET_HEADER_LENGTH + packet.length);
    writeVnetHeader(read, 0, flags);
    read.set(packet, VNET_HEADER_LENGTH);
    return read;
  }

  it("hands l3Rx the packet after the header, and writes each reply behind a header of zeros", () => {
    const device = new FakeDevice(1500, ["csum"]);
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    const sent = requests(3);
    device.receive(...sent.map((p) => withHeader(p, VnetFlag.DATA_VALID)));
    expect(engine.received).toBe(3);
    expect(device.written).toHaveLength(3);
    device.written.forEach((written, i) => {
      expect(written.subarray(0, VNET_HEADER_LENGTH)).toEqual(new Uint8Array(VNET_HEADER_LENGTH));
      expect(isReplyTo(written.subarray(VNET_HEADER_LENGTH), sent[i]!)).toBe(true);
    });
  });

  it("gives the engine the slot after the header room: MTU-sized packets fit, larger ones do not", () => {
    runner = runTun(new EchoEngine(), new FakeDevice(1500, ["csum"]), quietApp, { txSlots: 2 });
    const slot = runner.callbacks.l3TxBuffer(1500)!;
    expect(runner.callbacks.l3TxBufferMut(slot).length).toBe(1500 + VNET_HEADER_ROOM - VNET_HEADER_LENGTH);
    expect(runner.callbacks.l3TxBuffer(1501)).toBeUndefined();
    expect(runner.stats.txOversize).toBe(1);
  });

  it("drops and counts a read whose header is bad; the next packets still go through", () => {
    const device = new FakeDevice(1500, ["csum", "tso4"]);
    const engine = new EchoEngine();
    runner = runTun(engine, device, quietApp);
    const bad = withHeader(requests(1)[0]!);
    bad[1] = VnetGso.TCPV4; // TSO on an ICMP packet
    device.receive(bad, withHeader(requests(1)[0]!));
    expect(engine.received).toBe(1);
    expect(runner.stats.rxBadVnetHeaders).toBe(1);
    expect(runner.vnetDrops).toMatchObject({ bad_csum_offsets: 1 });
  });

  /** An engine with l3RxTrusted: which entry point each packet took, and its length. */
  class TrustingEngine extends EchoEngine {
    readonly trusted: number[] = [];
    l3RxTrusted(_cb: unknown, packet: Uint8Array): undefined {
      this.trusted.push(packet.length);
      return undefined;
    }
  }

  function tcpSuperPacket(payload: number): Uint8Array {
    const read = new Uint8Array(VNET_HEADER_LENGTH + 40 + payload);
    const ip = read.subarray(VNET_HEADER_LENGTH);
    ip[0] = 0x45;
    ip[2] = (ip.length >> 8) & 0xff;
    ip[3] = ip.length & 0xff;
    ip[8] = 64;
    ip[9] = 6;
    ip[32] = 0x50; // TCP data offset 5
    ip[33] = 0x10; // ACK
    writeVnetHeader(read, 0, VnetFlag.NEEDS_CSUM, VnetGso.TCPV4, 40, 1448, 20, 16);
    return read;
  }

  it("hands a TCP super-packet to l3RxTrusted whole, and a plain packet to l3Rx", () => {
    const device = new FakeDevice(1500, ["csum", "tso4"]);
    const engine = new TrustingEngine();
    runner = runTun(engine, device, quietApp);
    device.receive(tcpSuperPacket(60_000), withHeader(requests(1)[0]!));
    expect(engine.trusted).toEqual([60_040]);
    expect(engine.received).toBe(1);
    expect(runner.stats).toMatchObject({ rxSuperSegments: 1, rxChecksumsTrusted: 1, rxSuperPackets: 0, rxPieces: 0, rxChecksumsCompleted: 0 });
  });

  it("wholeSuperPackets false: the super-packet is cut for l3Rx, l3RxTrusted never called", () => {
    const device = new FakeDevice(1500, ["csum", "tso4"]);
    const engine = new TrustingEngine();
    runner = runTun(engine, device, quietApp, { wholeSuperPackets: false });
    device.receive(tcpSuperPacket(3000));
    expect(engine.trusted).toEqual([]);
    expect(engine.seen.map((p) => p.length)).toEqual([1488, 1488, 144]);
    expect(runner.stats).toMatchObject({ rxSuperSegments: 0, rxSuperPackets: 1, rxPieces: 3 });
  });

  /** An engine built with txSuperSegments: it writes the virtio-net header before each packet itself. */
  class HeaderWritingEngine extends EchoEngine {
    readonly txHeaderLength = VNET_HEADER_LENGTH;
  }

  /** Takes a slot of `size` bytes, fills it with `fill`, hands it to l3Tx; returns the slot. */
  function sendThrough(r: TunRunner, size: number, fill: number): number | undefined {
    const slot = r.callbacks.l3TxBuffer(size);
    if (slot === undefined) return undefined;
    r.callbacks.l3TxBufferMut(slot).fill(fill, 0, size);
    r.callbacks.l3Tx(slot, size);
    return slot;
  }

  it("an engine that writes its own headers (txHeaderLength): its buffers go as they are, super-segments in large slots", async () => {
    const device = new FakeDevice(1500, ["csum", "tso4"]);
    runner = runTun(new HeaderWritingEngine(), device, quietApp, { txSuperSlots: 2 });
    vi.runOnlyPendingTimers(); // the initial turn
    await endOfTurnTail(); // from a later event: the sends below wait for a turn in setImmediate
    // The whole slot is the engine's: header room included.
    const slot = runner.callbacks.l3TxBuffer(VNET_HEADER_LENGTH + 1500)!;
    expect(runner.callbacks.l3TxBufferMut(slot).length).toBe(1500 + VNET_HEADER_ROOM);
    runner.callbacks.l3TxBufferMut(slot).fill(1);
    runner.callbacks.l3Tx(slot, VNET_HEADER_LENGTH + 1500);
    sendThrough(runner, VNET_HEADER_LENGTH + 60_000, 2);
    sendThrough(runner, VNET_HEADER_LENGTH + 65535, 3);
    expect(runner.callbacks.l3TxBuffer(VNET_HEADER_LENGTH + 20_000)).toBeUndefined(); // both large slots in use
    expect(runner.stats.txPoolExhausted).toBe(1);
    expect(runner.callbacks.l3TxBuffer(VNET_HEADER_LENGTH + 65536)).toBeUndefined();
    expect(runner.stats.txOversize).toBe(1);
    vi.runOnlyPendingTimers(); // the turn that flushes
    expect(device.written.map((w) => w.length)).toEqual([1512, 60_012, 65_547]);
    expect(device.written.map((w) => w.every((b) => b === w[0]))).toEqual([true, true, true]); // no header written over
    expect(runner.stats.txSuperSegments).toBe(2);
    // The large slots are free again.
    expect(sendThrough(runner, VNET_HEADER_LENGTH + 20_000, 4)).toBeDefined();
  });

  it("refuses an engine that writes headers on a device without them", () => {
    expect(() => runTun(new HeaderWritingEngine(), new FakeDevice(1500), quietApp)).toThrow(InvalidArgumentError);
  });

  it("reads super-packets into 64 KiB slots when segmentation offload is on", () => {
    const device = new FakeDevice(1500, ["csum", "tso4"]);
    runner = runTun(new EchoEngine(), device, quietApp);
    const big = new Uint8Array(VNET_HEADER_LENGTH + 60_000);
    device.receive(big);
    expect(device.readCalls).toEqual([16]);
    expect(device.lastSlotSize).toBeGreaterThanOrEqual(VNET_HEADER_LENGTH + 65535);
  });
});
