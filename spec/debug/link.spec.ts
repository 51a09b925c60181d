import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { EngineDriver } from "../../lib/api.js";
import { InvalidArgumentError } from "../../lib/errors.js";
import { MemoryLink, type LinkEvent, type MemoryLinkOptions, type Side } from "../../lib/debug/link.js";
import { Random } from "../../lib/debug/random.js";
import { FAKE_FLOW, FakeEndpoint, type Received } from "./fake-endpoint.js";

/** A packet whose first 4 bytes carry `id` (big-endian) and the rest a pattern of it. */
function packet(id: number, length = 40): Uint8Array {
  const p = new Uint8Array(length);
  for (let i = 0; i < length; i++) p[i] = (id * 7 + i) & 0xff;
  if (length >= 4) {
    p[0] = id >>> 24;
    p[1] = id >>> 16;
    p[2] = id >>> 8;
    p[3] = id;
  }
  return p;
}

function idOf(p: Uint8Array): number {
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** A link with test scripts on both sides, recording what each receives and when. */
function scripted(options: MemoryLinkOptions = {}): { link: MemoryLink; atA: Received[]; atB: Received[] } {
  const link = new MemoryLink(options);
  const atA: Received[] = [];
  const atB: Received[] = [];
  link.attachScript("a", (p) => atA.push({ time: link.clock.now(), bytes: p.slice() }));
  link.attachScript("b", (p) => atB.push({ time: link.clock.now(), bytes: p.slice() }));
  return { link, atA, atB };
}

function drain(link: MemoryLink): void {
  expect(link.runUntil(() => link.inFlight === 0, { maxSteps: 1_000_000 })).toBe(true);
}

/** Within `sigmas` standard deviations of a binomial(n, p) proportion. */
function expectRate(observed: number, n: number, p: number, sigmas = 5): void {
  const sd = Math.sqrt((p * (1 - p)) / n);
  expect(Math.abs(observed / n - p)).toBeLessThan(sigmas * sd);
}

function expectCounterBalance(link: MemoryLink): void {
  for (const dir of ["aToB", "bToA"] as const) {
    const c = link.stats[dir];
    expect(c.sent + c.duplicated).toBe(c.delivered + c.lost + c.droppedMtu + c.droppedQueue);
  }
}

describe("MemoryLink delivery", () => {
  it("delivers a packet after the delay, byte for byte, on the virtual clock", () => {
    const { link, atB, atA } = scripted({ faults: "delay=5" });
    const p = packet(1, 60);
    link.send("a", p);
    expect(link.inFlight).toBe(1);
    expect(link.runUntil(() => atB.length === 1)).toBe(true);
    expect(link.stopReason).toBe("predicate");
    expect(atB[0]!.time).toBe(5);
    expect(atB[0]!.bytes).toEqual(p);
    expect(atA).toEqual([]);
    expect(link.clock.now()).toBe(5);
    expect(link.stats.aToB).toMatchObject({ sent: 1, delivered: 1, bytesSent: 60, bytesDelivered: 60, lost: 0 });
    expect(link.stats.bToA.sent).toBe(0);
    expect(link.stats.b.received).toBe(1);
  });

  it("sends a range of a larger buffer", () => {
    const { link, atB } = scripted();
    const big = packet(9, 100);
    link.send("a", big, 10, 30);
    drain(link);
    expect(atB[0]!.bytes).toEqual(big.subarray(10, 40));
    expect(() => link.send("a", big, 90, 20)).toThrow(InvalidArgumentError);
  });

  it("keeps each direction's faults separate", () => {
    const { link, atA, atB } = scripted({ aToB: "delay=3", bToA: "delay=7" });
    link.send("a", packet(1));
    link.send("b", packet(2));
    drain(link);
    expect(atB.map((r) => r.time)).toEqual([3]);
    expect(atA.map((r) => r.time)).toEqual([7]);
    expect(link.faults("aToB").delayMs).toBe(3);
    expect(link.faults("bToA").delayMs).toBe(7);
  });

  it("discards, and counts, packets for a side with nothing attached", () => {
    const link = new MemoryLink();
    link.send("a", packet(1));
    drain(link);
    expect(link.stats.b.discarded).toBe(1);
    expect(link.stats.aToB.delivered).toBe(1);
  });

  it("recycles wire buffers: allocation stays flat over many packets", () => {
    const { link, atB } = scripted({ faults: "delay=1" });
    for (let i = 0; i < 5000; i++) {
      link.send("a", packet(i, 100 + (i % 50)));
      link.runUntil(() => atB.length === i + 1, { maxSteps: 10 });
    }
    expect(atB.length).toBe(5000);
    expect(link.wireBuffersAllocated).toBeLessThanOrEqual(2);
  });

  it("setFaults changes the fate of later packets only", () => {
    const { link, atB } = scripted({ faults: "loss=1" });
    link.send("a", packet(1));
    link.setFaults("aToB", { delayMs: 2 });
    link.send("a", packet(2));
    drain(link);
    expect(atB.map((r) => idOf(r.bytes))).toEqual([2]);
    expect(link.stats.aToB.lost).toBe(1);
    expect(() => link.setFaults("aToB", "loss=7")).toThrow(InvalidArgumentError);
  });
});

describe("MemoryLink with engines (fake endpoint)", () => {
  it("jumps the clock event by event: poll deadlines and arrivals", () => {
    const link = new MemoryLink({ faults: "delay=5" });
    const a = new FakeEndpoint(link.clock.now);
    a.timers.push(10, 25, 40);
    link.attach("a", a);
    const atB: Received[] = [];
    link.attachScript("b", (p) => atB.push({ time: link.clock.now(), bytes: p.slice() }));
    expect(link.runUntil(() => atB.length === 3)).toBe(true);
    expect(atB.map((r) => r.time)).toEqual([15, 30, 45]);
    expect(atB.map((r) => r.bytes[0])).toEqual([10, 25, 40]);
    expect(link.clock.now()).toBe(45);
    // Polled once at the start, then exactly at each deadline: never in between.
    expect(a.polls).toEqual([
      [0, 10],
      [10, 25],
      [25, 40],
      [40, undefined],
    ]);
    expect(link.stats.a.polls).toBe(4);
  });

  it("hands packets to the engine's l3Rx and forwards its l4 callbacks to the side's handlers", () => {
    const link = new MemoryLink({ faults: "delay=5" });
    const b = new FakeEndpoint(link.clock.now);
    b.echo = true;
    const rx: [unknown, number[] | null][] = [];
    link.attach("b", b, { l4Rx: (flow, data) => rx.push([flow, data === null ? null : [...data]]) });
    const atA: Received[] = [];
    link.attachScript("a", (p) => atA.push({ time: link.clock.now(), bytes: p.slice() }));
    link.send("a", Uint8Array.of(1, 2, 3));
    expect(link.runUntil(() => atA.length === 1)).toBe(true);
    expect(atA[0]).toEqual({ time: 10, bytes: Uint8Array.of(2, 2, 3) });
    expect(b.received).toEqual([{ time: 5, bytes: Uint8Array.of(1, 2, 3) }]);
    expect(rx).toEqual([[FAKE_FLOW, [1, 2, 3]]]);
    // Receiving made it due for a poll at 5 even though it had no deadline.
    expect(b.polls.map(([t]) => t)).toEqual([0, 5]);
  });

  it("polls an engine right after it receives, even when it sends nothing back", () => {
    const link = new MemoryLink({ faults: "delay=7" });
    const b = new FakeEndpoint(link.clock.now);
    link.attach("b", b);
    link.send("a", packet(1));
    expect(link.runUntil(() => b.received.length === 1 && b.polls.length === 2)).toBe(true);
    expect(b.polls.map(([t]) => t)).toEqual([0, 7]);
  });

  it("forwards every l4 callback, accepting by default", () => {
    const link = new MemoryLink();
    const cb = link.callbacks("a");
    const seen: string[] = [];
    expect(cb.l4Accept(FAKE_FLOW)).toBe(true);
    cb.l4TxReady(FAKE_FLOW);
    cb.l4RemoteClosed(FAKE_FLOW);
    cb.l4Rx(FAKE_FLOW, null);
    cb.handlers = {
      l4Accept: () => (seen.push("accept"), false),
      l4TxReady: () => seen.push("ready"),
      l4RemoteClosed: () => seen.push("closed"),
      l4Rx: (_f, d) => seen.push(d === null ? "gone" : "data"),
    };
    expect(cb.l4Accept(FAKE_FLOW)).toBe(false);
    cb.l4TxReady(FAKE_FLOW);
    cb.l4RemoteClosed(FAKE_FLOW);
    cb.l4Rx(FAKE_FLOW, null);
    expect(seen).toEqual(["accept", "ready", "closed", "gone"]);
  });

  it("refuses an engine on another clock, a second endpoint, and a bad side", () => {
    const link = new MemoryLink();
    link.clock.advance(100);
    expect(() => link.attach("a", new FakeEndpoint(() => 0))).toThrow(InvalidArgumentError);
    link.attach("a", new FakeEndpoint(link.clock.now));
    expect(() => link.attach("a", new FakeEndpoint(link.clock.now))).toThrow(InvalidArgumentError);
    expect(() => link.attachScript("a", () => {})).toThrow(InvalidArgumentError);
    expect(() => link.callbacks("c" as Side)).toThrow(InvalidArgumentError);
  });

  it("rejects an l4Poll answer that is not a time", () => {
    const link = new MemoryLink();
    link.attach("a", { l3Rx: () => {}, l4Poll: () => NaN, now: link.clock.now });
    expect(() => link.runUntil(() => false)).toThrow(InvalidArgumentError);
  });

  it("wake() makes an engine due for a poll at the next step", () => {
    const link = new MemoryLink();
    const a = new FakeEndpoint(link.clock.now);
    link.attach("a", a);
    link.step();
    link.step();
    expect(a.polls.length).toBe(1);
    link.wake("a");
    link.step();
    expect(a.polls.length).toBe(2);
  });
  it("hands an app with attach() its side's driver, and calls afterRx after each step that delivered to it", () => {
    const link = new MemoryLink({ faults: "delay=5" });
    const b = new FakeEndpoint(link.clock.now);
    const drivers: EngineDriver<number>[] = [];
    const afterRx: number[] = [];
    link.attach("b", b, {
      attach: (driver) => drivers.push(driver),
      afterRx: () => afterRx.push(b.received.length),
    });
    expect(drivers).toHaveLength(1);
    expect(drivers[0]!.engine).toBe(b);
    expect(drivers[0]!.callbacks).toBe(link.callbacks("b"));

    link.send("a", packet(1));
    link.send("a", packet(2));
    expect(link.runUntil(() => b.received.length === 2)).toBe(true);
    expect(afterRx).toEqual([2]); // one step delivered both
    link.step();
    expect(afterRx).toEqual([2]);

    // schedule() makes the side due for a poll at the next step, as wake() does.
    const polls = b.polls.length;
    drivers[0]!.schedule();
    link.step();
    expect(b.polls.length).toBe(polls + 1);
  });
});

describe("MemoryLink.runUntil bounds", () => {
  function ticking(): { link: MemoryLink; a: FakeEndpoint; atB: Received[] } {
    const link = new MemoryLink();
    const a = new FakeEndpoint(link.clock.now);
    for (let t = 1; t <= 10_000; t++) a.timers.push(t);
    link.attach("a", a);
    const atB: Received[] = [];
    link.attachScript("b", (p) => atB.push({ time: link.clock.now(), bytes: p.slice() }));
    return { link, a, atB };
  }

  it("returns true at once when the predicate already holds", () => {
    const { link, a } = ticking();
    expect(link.runUntil(() => true)).toBe(true);
    expect(link.stopReason).toBe("predicate");
    expect(link.clock.now()).toBe(0);
    expect(a.polls.length).toBe(0);
  });

  it("stops at maxTimeMs with the clock at the bound, having done everything due by then", () => {
    const { link, atB } = ticking();
    expect(link.runUntil(() => false, { maxTimeMs: 50 })).toBe(false);
    expect(link.stopReason).toBe("max-time");
    expect(link.clock.now()).toBe(50);
    expect(atB.length).toBe(50);
    expect(atB.at(-1)!.time).toBe(50);
  });

  it("stops after maxSteps clock moves", () => {
    const { link, a } = ticking();
    expect(link.runUntil(() => false, { maxSteps: 7 })).toBe(false);
    expect(link.stopReason).toBe("max-steps");
    expect(a.polls.length).toBeLessThanOrEqual(7);
    expect(link.clock.now()).toBeLessThan(10);
  });

  it("stops when idle without moving the clock; runFor moves it to the end", () => {
    const link = new MemoryLink();
    const a = new FakeEndpoint(link.clock.now);
    link.attach("a", a);
    expect(link.runUntil(() => false, { maxTimeMs: 1000 })).toBe(false);
    expect(link.stopReason).toBe("idle");
    expect(link.clock.now()).toBe(0);
    expect(link.runFor(250)).toBe(true);
    expect(link.clock.now()).toBe(250);
  });

  it("bounds a zero-delay exchange that never ends: one delivery round per step", () => {
    const link = new MemoryLink();
    const a = new FakeEndpoint(link.clock.now);
    const b = new FakeEndpoint(link.clock.now);
    a.echo = true;
    b.echo = true;
    link.attach("a", a);
    link.attach("b", b);
    a.send(link.callbacks("a"), Uint8Array.of(0));
    expect(link.runUntil(() => false, { maxSteps: 100, maxTimeMs: 10 })).toBe(false);
    expect(link.stopReason).toBe("max-steps");
    expect(link.clock.now()).toBe(0);
    expect(a.received.length + b.received.length).toBe(100);
    expect(b.received.at(-1)!.bytes[0]).toBe(98);
  });

  it("rejects bad limits and re-entry", () => {
    const { link } = scripted();
    expect(() => link.runUntil(() => true, { maxTimeMs: -1 })).toThrow(InvalidArgumentError);
    expect(() => link.runUntil(() => true, { maxSteps: NaN })).toThrow(InvalidArgumentError);
    expect(() => link.runFor(Infinity)).toThrow(InvalidArgumentError);
    expect(() => link.runUntil(() => link.runUntil(() => true))).toThrow(InvalidArgumentError);
  });

  it("refuses a step from inside a step", () => {
    const link = new MemoryLink();
    link.attachScript("b", () => link.step());
    link.send("a", packet(1));
    expect(() => link.runUntil(() => false)).toThrow(InvalidArgumentError);
    // The link is still usable afterwards.
    link.send("b", packet(2));
    expect(link.runUntil(() => link.inFlight === 0)).toBe(true);
  });
});

describe("MemoryLink buffer pool", () => {
  it("returns undefined when every slot is taken, and again a slot once one is sent", () => {
    const link = new MemoryLink({ slots: 4 });
    const cb = link.callbacks("a");
    const slots = [0, 1, 2, 3].map(() => cb.l3TxBuffer(100));
    expect(slots.every((s) => s !== undefined)).toBe(true);
    expect(new Set(slots).size).toBe(4);
    expect(cb.l3TxBuffer(100)).toBeUndefined();
    expect(link.stats.a.poolExhausted).toBe(1);
    expect(cb.freeSlots).toBe(0);
    cb.l3TxBufferMut(slots[2]!).set(packet(5, 100));
    cb.l3Tx(slots[2]!, 100);
    expect(cb.freeSlots).toBe(1);
    expect(cb.l3TxBuffer(100)).toBe(slots[2]);
    expect(link.callbacks("b").l3TxBuffer(100)).not.toBeUndefined();
  });

  it("gives a preallocated view: the same object for a slot, long enough for the request", () => {
    const link = new MemoryLink({ slots: 2, slotSize: 1500 });
    const cb = link.callbacks("a");
    const s = cb.l3TxBuffer(1400)!;
    const view = cb.l3TxBufferMut(s);
    expect(view.length).toBeGreaterThanOrEqual(1400);
    expect(cb.l3TxBufferMut(s)).toBe(view);
    cb.l3Tx(s, 0);
    expect(cb.l3TxBufferMut(cb.l3TxBuffer(10)!)).toBe(view);
  });

  it("carries a packet bigger than a slot intact (the slot grows once)", () => {
    const { link, atB } = scripted({ slotSize: 1500 });
    const cb = link.callbacks("a");
    const big = packet(3, 9000);
    const s = cb.l3TxBuffer(9000)!;
    cb.l3TxBufferMut(s).set(big);
    cb.l3Tx(s, 9000);
    drain(link);
    expect(atB[0]!.bytes).toEqual(big);
    expect(() => cb.l3TxBuffer(70_000)).toThrow(InvalidArgumentError);
  });

  it("rejects l3Tx of a slot not handed out, or of more bytes than it holds", () => {
    const link = new MemoryLink({ slots: 2, slotSize: 100 });
    const cb = link.callbacks("a");
    expect(() => cb.l3Tx(0, 10)).toThrow(InvalidArgumentError);
    expect(() => cb.l3TxBufferMut(1)).toThrow(InvalidArgumentError);
    const s = cb.l3TxBuffer(10)!;
    expect(() => cb.l3Tx(s, 101)).toThrow(InvalidArgumentError);
    cb.l3Tx(s, 10);
    expect(() => cb.l3Tx(s, 10)).toThrow(InvalidArgumentError);
    expect(link.stats.aToB.sent).toBe(1);
  });
});

describe("MemoryLink faults", () => {
  const ALL = "loss=0.1,duplicate=0.05,reorder=0.05,corrupt=0.02,delay=3,jitter=2,hold=4,rate=10e6,queue=16";

  function fateLog(seed: number, spec: string): string[] {
    const { link } = scripted({ seed, faults: spec });
    const log: string[] = [];
    link.onEvent = (e: LinkEvent) => {
      let sum = 0;
      for (const byte of e.packet) sum = (sum * 31 + byte) >>> 0;
      log.push(`${e.kind} ${e.direction} ${e.packetId} ${e.time} ${e.arrival} ${e.corruptOffset} ${e.corruptXor} ${sum}`);
    };
    for (let i = 0; i < 2000; i++) {
      link.send(i % 3 === 0 ? "b" : "a", packet(i, 20 + (i % 200)));
      if (i % 10 === 9) link.runFor(1);
    }
    drain(link);
    return log;
  }

  it("replays exactly for the same seed, and differs for another", () => {
    const first = fateLog(5, ALL);
    expect(first.length).toBeGreaterThan(4000);
    expect(fateLog(5, ALL)).toEqual(first);
    expect(fateLog(6, ALL)).not.toEqual(first);
  });

  it("keeps each fault's fate sequence independent of the other faults' settings", () => {
    const lostIds = (spec: string): number[] => {
      const { link } = scripted({ seed: 11, faults: spec });
      const lost: number[] = [];
      link.onEvent = (e) => {
        if (e.kind === "lose") lost.push(e.packetId);
      };
      for (let i = 0; i < 1000; i++) link.send("a", packet(i));
      return lost;
    };
    const alone = lostIds("loss=0.1");
    expect(alone.length).toBeGreaterThan(50);
    expect(lostIds("loss=0.1,corrupt=0.5,duplicate=0.3,reorder=0.2,jitter=5")).toEqual(alone);
  });

  it("loses, duplicates, reorders and corrupts at the configured rates", () => {
    const n = 20_000;
    const { link, atB } = scripted({ seed: 3, faults: "loss=0.1,duplicate=0.05,reorder=0.05,corrupt=0.02" });
    for (let i = 0; i < n; i++) link.send("a", packet(i));
    drain(link);
    const c = link.stats.aToB;
    expect(c.sent).toBe(n);
    expectRate(c.lost, n, 0.1);
    const survivors = n - c.lost;
    expectRate(c.duplicated, survivors, 0.05);
    expectRate(c.reordered, survivors, 0.05);
    expectRate(c.corrupted, survivors, 0.02);
    expect(c.delivered).toBe(survivors + c.duplicated);
    expect(atB.length).toBe(c.delivered);
    expectCounterBalance(link);
  });

  it("duplicates arrive right after their original, identical", () => {
    const { link, atB } = scripted({ faults: "duplicate=1,delay=1" });
    for (let i = 0; i < 10; i++) link.send("a", packet(i));
    drain(link);
    expect(atB.map((r) => idOf(r.bytes))).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
    for (let i = 0; i < 20; i += 2) expect(atB[i]!.bytes).toEqual(atB[i + 1]!.bytes);
    expect(link.stats.aToB).toMatchObject({ sent: 10, duplicated: 10, delivered: 20 });
  });

  it("reorders by holding packets back: later packets overtake them", () => {
    const { link, atB } = scripted({ seed: 8, faults: "reorder=0.2,hold=10" });
    const held: number[] = [];
    link.onEvent = (e) => {
      if (e.kind === "reorder") held.push(e.packetId - 1);
    };
    for (let i = 0; i < 100; i++) link.send("a", packet(i));
    drain(link);
    expect(held.length).toBeGreaterThan(5);
    expect(link.stats.aToB.reordered).toBe(held.length);
    const inOrder = [...Array(100).keys()].filter((i) => !held.includes(i));
    expect(atB.map((r) => idOf(r.bytes))).toEqual([...inOrder, ...held]);
    expect(atB.map((r) => r.time)).toEqual([...inOrder.map(() => 0), ...held.map(() => 10)]);
  });

  it("jitter delays packets but keeps them in order", () => {
    const { link, atB } = scripted({ seed: 4, faults: "delay=5,jitter=50" });
    for (let i = 0; i < 200; i++) {
      link.send("a", packet(i));
      link.runFor(1);
    }
    drain(link);
    expect(atB.map((r) => idOf(r.bytes))).toEqual([...Array(200).keys()]);
    const lateness = atB.map((r, i) => r.time - (i + 5));
    expect(lateness.every((l) => l >= 0)).toBe(true);
    expect(new Set(lateness.map((l) => Math.round(l))).size).toBeGreaterThan(10);
  });

  it.each(["bit", "byte"] as const)("corruption (%s) changes exactly the byte it reports, as it reports", (unit) => {
    const { link, atB } = scripted({ seed: 21, faults: { corrupt: 1, corruptUnit: unit } });
    const sent = new Map<number, Uint8Array>();
    const claims = new Map<number, [number, number]>();
    link.onEvent = (e) => {
      if (e.kind === "send") sent.set(e.packetId, e.packet.slice());
      if (e.kind === "corrupt") claims.set(e.packetId, [e.corruptOffset, e.corruptXor]);
    };
    const rng = new Random(99);
    const n = 500;
    for (let i = 0; i < n; i++) {
      const p = new Uint8Array(1 + rng.int(300));
      for (let j = 0; j < p.length; j++) p[j] = rng.int(256);
      link.send("a", p);
    }
    drain(link);
    expect(link.stats.aToB.corrupted).toBe(n);
    expect(atB.length).toBe(n);
    const offsets = new Set<number>();
    atB.forEach((got, i) => {
      const original = sent.get(i + 1)!;
      const [offset, xor] = claims.get(i + 1)!;
      const differing = [...got.bytes.keys()].filter((k) => got.bytes[k] !== original[k]);
      expect(differing).toEqual([offset]);
      expect(got.bytes[offset]! ^ original[offset]!).toBe(xor);
      if (unit === "bit") expect([1, 2, 4, 8, 16, 32, 64, 128]).toContain(xor);
      else expect(xor >= 1 && xor <= 255).toBe(true);
      offsets.add(offset);
    });
    // Anywhere in the packet, not just the first bytes.
    expect(Math.max(...offsets)).toBeGreaterThan(200);
  });

  it("does not corrupt an empty packet", () => {
    const { link, atB } = scripted({ faults: "corrupt=1" });
    link.send("a", new Uint8Array(0));
    drain(link);
    expect(atB[0]!.bytes.length).toBe(0);
    expect(link.stats.aToB.corrupted).toBe(0);
  });

  it("drops packets longer than the mtu, counted", () => {
    const { link, atB } = scripted({ faults: "mtu=100" });
    link.send("a", packet(1, 100));
    link.send("a", packet(2, 101));
    drain(link);
    expect(atB.map((r) => r.bytes.length)).toEqual([100]);
    expect(link.stats.aToB).toMatchObject({ sent: 2, delivered: 1, droppedMtu: 1 });
  });
});

describe("MemoryLink rate limiting", () => {
  it("spaces packets by their serialisation time", () => {
    // 8000 bit/s = 1 byte per ms.
    const { link, atB } = scripted({ faults: "rate=8000,delay=2" });
    for (let i = 0; i < 3; i++) link.send("a", packet(i, 100));
    drain(link);
    expect(atB.map((r) => r.time)).toEqual([102, 202, 302]);
    // An idle serialiser starts at once.
    link.runFor(1000);
    link.send("a", packet(3, 50));
    drain(link);
    expect(atB.at(-1)!.time).toBe(1302 + 50 + 2);
  });

  it("tail-drops beyond the queue limit", () => {
    const { link, atB } = scripted({ faults: "rate=8000,queue=2" });
    for (let i = 0; i < 3; i++) link.send("a", packet(i, 100));
    expect(link.stats.aToB.droppedQueue).toBe(1);
    link.runFor(100);
    // The first has left the serialiser: room for one more, after the second.
    link.send("a", packet(3, 100));
    link.send("a", packet(4, 100));
    expect(link.stats.aToB.droppedQueue).toBe(2);
    drain(link);
    expect(atB.map((r) => [idOf(r.bytes), r.time])).toEqual([
      [0, 100],
      [1, 200],
      [3, 300],
    ]);
    expectCounterBalance(link);
  });

  it("reads rate=100e6 as 100 Mbit/s", () => {
    const { link, atB } = scripted({ faults: "rate=100e6" });
    for (let i = 0; i < 10; i++) link.send("a", packet(i, 1500));
    drain(link);
    expect(atB.length).toBe(10);
    expect(atB[0]!.time).toBeCloseTo(0.12, 9);
    expect(atB[9]!.time).toBeCloseTo(1.2, 9);
  });
});

describe("MemoryLink invariants (property)", () => {
  it("accounts for every packet and delivers only bytes that were sent (or reported corrupted)", () => {
    const faults = fc.record({
      loss: fc.double({ min: 0, max: 0.5, noNaN: true }),
      duplicate: fc.double({ min: 0, max: 0.5, noNaN: true }),
      reorder: fc.double({ min: 0, max: 0.5, noNaN: true }),
      corrupt: fc.double({ min: 0, max: 0.5, noNaN: true }),
      delayMs: fc.integer({ min: 0, max: 20 }),
      jitterMs: fc.integer({ min: 0, max: 20 }),
      rateBitsPerSecond: fc.oneof(fc.constant(Infinity), fc.integer({ min: 10_000, max: 10_000_000 })),
      queueLimit: fc.integer({ min: 1, max: 20 }),
      mtu: fc.oneof(fc.constant(Infinity), fc.integer({ min: 50, max: 400 })),
    });
    const sends = fc.array(
      fc.record({ side: fc.constantFrom<Side>("a", "b"), length: fc.integer({ min: 4, max: 500 }), gap: fc.integer({ min: 0, max: 5 }) }),
      { maxLength: 150 },
    );
    fc.assert(
      fc.property(fc.nat(), faults, faults, sends, (seed, aToB, bToA, plan) => {
        const { link, atA, atB } = scripted({ seed, aToB, bToA });
        let corruptedDeliveries = 0;
        const corrupted = new Set<number>();
        link.onEvent = (e) => {
          if (e.kind === "corrupt") corrupted.add(e.packetId);
          if (e.kind === "deliver" && corrupted.has(e.packetId)) corruptedDeliveries++;
        };
        plan.forEach((s, i) => {
          link.send(s.side, packet(i, s.length));
          link.runFor(s.gap);
        });
        drain(link);
        expectCounterBalance(link);
        expect(atB.length).toBe(link.stats.aToB.delivered);
        expect(atA.length).toBe(link.stats.bToA.delivered);
        const bytes = (rs: Received[]): number => rs.reduce((n, r) => n + r.bytes.length, 0);
        expect(bytes(atB)).toBe(link.stats.aToB.bytesDelivered);
        expect(bytes(atA)).toBe(link.stats.bToA.bytesDelivered);
        // Every uncorrupted delivery is a packet that was sent, unchanged.
        let intact = 0;
        for (const r of [...atA, ...atB]) {
          const id = idOf(r.bytes);
          if (id < plan.length && r.bytes.length === plan[id]!.length && packet(id, r.bytes.length).every((v, k) => v === r.bytes[k])) intact++;
        }
        expect(intact).toBeGreaterThanOrEqual(atA.length + atB.length - corruptedDeliveries);
      }),
      { numRuns: 60 },
    );
  });
});
