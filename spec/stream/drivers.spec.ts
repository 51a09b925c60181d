/**
 * The same NetStack on every driver: MemoryLink on its virtual clock (with faults), and a packet loop
 * written by hand; what attach() checks; and ref/unref reaching the driver.
 */
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Callbacks, EngineDriver } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { MemoryLink } from "../../lib/debug/link.js";
import type { L3L4 } from "../../lib/engine.js";
import { InvalidArgumentError } from "../../lib/errors.js";
import { NetStack } from "../../lib/stream/net-stack.js";
import { CLIENT4, readAll, SERVER4 } from "../support/stream-pair.js";

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("NetStack on MemoryLink (virtual clock, seeded faults)", () => {
  it("echoes 1 MB byte-exact over a lossy, reordering link; the clock only moves when the link says", async () => {
    const link = new MemoryLink({ seed: 7, faults: "loss=0.02,reorder=0.05,delay=5" });
    const engineA = new L3L4Builder<number>().clock(link.clock.now).build();
    const engineB = new L3L4Builder<number>().clock(link.clock.now).build();
    const a = new NetStack(engineA, { localAddresses: [CLIENT4] });
    const b = new NetStack(engineB);
    link.attach("a", engineA, a);
    link.attach("b", engineB, b);
    expect(a.attached && b.attached).toBe(true);
    b.on("connection", (socket) => socket.pipe(socket));
    const data = randomBytes(1_000_000);
    const client = a.connect({ host: SERVER4, port: 7 });
    let echoed: Buffer | undefined;
    void readAll(client).then((buffer) => (echoed = buffer));
    client.end(data);
    // Stream events need the event loop: run the link a virtual millisecond, then let them flush.
    for (let i = 0; i < 200_000 && echoed === undefined; i++) {
      link.runFor(1);
      await turn();
    }
    expect(echoed).toBeDefined();
    expect(sha256(echoed!)).toBe(sha256(data));
    expect(link.stats.aToB.lost + link.stats.bToA.lost).toBeGreaterThan(0);
    expect(engineA.stats().tcpRetransmits).toBeGreaterThan(0);
  });
});

/** Two engines whose packets a test loop carries by hand: what a user with their own packet source writes. */
class HandLoop {
  readonly toA: Uint8Array[] = [];
  readonly toB: Uint8Array[] = [];
  readonly cbA: Callbacks<Uint8Array>;
  readonly cbB: Callbacks<Uint8Array>;
  scheduled = 0;

  constructor(
    readonly engineA: L3L4<Uint8Array>,
    readonly a: NetStack<Uint8Array>,
    readonly engineB: L3L4<Uint8Array>,
    readonly b: NetStack<Uint8Array>,
  ) {
    this.cbA = HandLoop.callbacks(a, this.toB);
    this.cbB = HandLoop.callbacks(b, this.toA);
    a.attach({ engine: engineA, callbacks: this.cbA, schedule: () => this.scheduled++ });
    b.attach({ engine: engineB, callbacks: this.cbB, schedule: () => this.scheduled++ });
  }

  /** The packet callbacks are ours; the flow callbacks go to the stack. */
  static callbacks(stack: NetStack<Uint8Array>, peer: Uint8Array[]): Callbacks<Uint8Array> {
    return {
      l3TxBuffer: (size) => new Uint8Array(size),
      l3TxBufferMut: (buffer) => buffer,
      l3Tx: (buffer, length) => peer.push(buffer.subarray(0, length)),
      l4Rx: (flow, data) => stack.l4Rx(flow, data),
      l4Accept: (flow) => stack.l4Accept(flow),
      l4TxReady: (flow) => stack.l4TxReady(flow),
      l4RemoteClosed: (flow) => stack.l4RemoteClosed(flow),
    };
  }

  /** One turn each way: deliver what is queued, tell the stack (afterRx), poll. */
  step(): void {
    for (const [queue, engine, stack, cb] of [
      [this.toA, this.engineA, this.a, this.cbA],
      [this.toB, this.engineB, this.b, this.cbB],
    ] as const) {
      const packets = queue.splice(0);
      for (const packet of packets) engine.l3Rx(cb, packet);
      if (packets.length > 0) stack.afterRx();
      engine.l4Poll(cb);
    }
  }
}

describe("NetStack on a packet loop written by hand", () => {
  it("echoes byte-exact, and asks the loop for turns after calls it makes on its own", async () => {
    const engineA = new L3L4Builder<Uint8Array>().build();
    const engineB = new L3L4Builder<Uint8Array>().build();
    const loop = new HandLoop(engineA, new NetStack(engineA, { localAddresses: [CLIENT4] }), engineB, new NetStack(engineB));
    loop.b.on("connection", (socket) => socket.pipe(socket));
    const data = randomBytes(300_000);
    const client = loop.a.connect({ host: SERVER4, port: 7 });
    let echoed: Buffer | undefined;
    void readAll(client).then((buffer) => (echoed = buffer));
    client.end(data);
    for (let i = 0; i < 100_000 && echoed === undefined; i++) {
      loop.step();
      await turn();
    }
    expect(sha256(echoed!)).toBe(sha256(data));
    expect(loop.scheduled).toBeGreaterThan(0);
  });
});

describe("NetStack.attach and the event loop", () => {
  function recordingDriver(engine: object): EngineDriver<number> & { refs: boolean[] } {
    const refs: boolean[] = [];
    const callbacks: Callbacks<number> = {
      l3TxBuffer: () => undefined,
      l3TxBufferMut: () => new Uint8Array(0),
      l3Tx: () => {},
      l4Rx: () => {},
    };
    return { engine, callbacks, schedule: () => {}, setRef: (on) => refs.push(on), refs };
  }

  it("takes one driver, for its own engine; connect() before attach() throws", () => {
    const engine = new L3L4Builder<number>().build();
    const stack = new NetStack(engine, { localAddresses: [CLIENT4] });
    expect(() => stack.connect({ host: SERVER4, port: 80 })).toThrow(InvalidArgumentError);
    expect(() => stack.attach(recordingDriver(new L3L4Builder<number>().build()))).toThrow(/another engine/);
    stack.attach(recordingDriver(engine));
    expect(() => stack.attach(recordingDriver(engine))).toThrow(/attached/);
    expect(() => new NetStack(engine, { localAddresses: ["not-an-ip"] })).toThrow(InvalidArgumentError);
    expect(() => new NetStack(engine, { orphanTimeoutMs: -1 })).toThrow(InvalidArgumentError);
  });

  it("keeps the driver's handles referenced while the stack or any socket is: ref/unref as net's", () => {
    const engine = new L3L4Builder<number>().build();
    const stack = new NetStack(engine, { localAddresses: [CLIENT4] });
    const driver = recordingDriver(engine);
    stack.unref(); // before attach: the driver hears it on attach
    stack.attach(driver);
    expect(driver.refs).toEqual([false]);
    const socket = stack.connect({ host: SERVER4, port: 80 });
    expect(driver.refs).toEqual([false, true]); // a new socket is referenced, as net's are
    socket.unref();
    expect(driver.refs).toEqual([false, true, false]);
    socket.ref();
    stack.ref();
    socket.unref(); // the stack still holds the loop
    expect(driver.refs).toEqual([false, true, false, true]);
    stack.unref();
    expect(driver.refs).toEqual([false, true, false, true, false]);
    socket.ref();
    socket.destroy(); // a destroyed socket holds nothing
    expect(driver.refs).toEqual([false, true, false, true, false, true, false]);
  });
});
