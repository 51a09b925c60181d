/**
 * An in-memory link between two endpoints (two engines, or an engine and a test script), with
 * seeded faults per direction and a virtual clock: smoltcp's loopback device plus its
 * phy/fault_injector.rs, with netem's delay, jitter, rate and queue. Given the same seed, the
 * same faults and the same calls, every run is the same, packet for packet and ms for ms.
 *
 * Each side gets a `Callbacks<number>` (LinkCallbacks) whose buffers are slot indices in a
 * preallocated pool: l3TxBuffer hands out a slot (undefined when the pool is exhausted, which
 * is how a real device pushes back), l3Tx copies the packet onto the "wire" (a recycled
 * buffer in the in-flight queue) and frees the slot. The l4 callbacks go to the handlers the
 * application set for that side.
 *
 * Nothing sleeps: `step()` delivers what is due at the clock's time and polls the endpoints
 * whose deadline has passed; `runUntil()` moves the clock from event to event (next packet
 * arrival, next poll deadline) until a predicate holds or a bound is hit.
 */

import type { Callbacks, EngineDriver, Flow } from "../api.js";
import { InvalidArgumentError } from "../errors.js";
import { resolveFaults, CorruptUnit, type Faults, type FaultsInput } from "./faults.js";
import { Random, deriveSeed } from "./random.js";
import { SlotPool } from "./slot-pool.js";
import { TimedQueue, type Timed } from "./timed-queue.js";
import { VirtualClock } from "./virtual-clock.js";

export { VirtualClock } from "./virtual-clock.js";
export {
  parseFaults,
  resolveFaults,
  formatFaults,
  NO_FAULTS,
  CorruptUnit,
  type Faults,
  type FaultsInput,
} from "./faults.js";

/** What the link needs of an engine: L3L4<number> fits. */
export interface LinkEndpoint<T = number> {
  l3Rx(cb: Callbacks<T>, packet: Uint8Array): unknown;
  /** Runs timers; returns the absolute time (ms, this clock) it next wants to run, or undefined for none. */
  l4Poll(cb: Callbacks<T>): number | undefined;
  now(): number;
}

export type Side = "a" | "b";
export type Direction = "aToB" | "bToA";

/**
 * The application's half of a side's callbacks. A missing l4Accept accepts every flow. A TunApp
 * (NetStack) fits: attach() gets the side's driver (its callbacks; schedule() polls the side at the
 * next step), afterRx() runs after each step that delivered packets to the side.
 */
export interface AppHandlers {
  l4Rx?(flow: Flow, data: Uint8Array | null): void;
  l4Accept?(flow: Flow): boolean;
  l4TxReady?(flow: Flow): void;
  l4RemoteClosed?(flow: Flow): void;
  attach?(driver: EngineDriver<number>): void;
  afterRx?(): void;
}

/** A test script's side: receives each packet (a view valid only during the call). */
export type ScriptReceiver = (packet: Uint8Array, link: MemoryLink) => void;

/** Counters for one direction. sent + duplicated = delivered + lost + droppedMtu + droppedQueue + in flight. */
export class DirectionCounters {
  /** Packets handed to the link (l3Tx or send), and their bytes. */
  sent = 0;
  bytesSent = 0;
  /** Packets handed to the receiving side (duplicates included), and their bytes. */
  delivered = 0;
  bytesDelivered = 0;
  lost = 0;
  duplicated = 0;
  reordered = 0;
  corrupted = 0;
  /** Tail-dropped: the serialisation queue was full. */
  droppedQueue = 0;
  /** Longer than the direction's mtu. */
  droppedMtu = 0;
}

export class SideCounters {
  /** Packets given to this side (to its endpoint's l3Rx or its script). */
  received = 0;
  /** Packets that reached a side with nothing attached. */
  discarded = 0;
  /** l4Poll calls. */
  polls = 0;
  /** l3Tx calls from this side. */
  transmitted = 0;
  /** l3TxBuffer calls answered undefined (all slots taken). */
  poolExhausted = 0;
}

export type LinkEventKind = "send" | "drop-mtu" | "lose" | "drop-queue" | "corrupt" | "reorder" | "duplicate" | "deliver";

/**
 * What happened to a packet, for tracing, pcap and tests. The link reuses one object for all
 * events: copy what you keep. Per packet: "send", then either one drop ("drop-mtu", "lose",
 * "drop-queue") or any of "corrupt", "reorder", "duplicate" and later one "deliver" per copy.
 */
export interface LinkEvent {
  readonly kind: LinkEventKind;
  readonly direction: Direction;
  /** Numbered from 1 per link in send order; a duplicate has its original's id. */
  readonly packetId: number;
  /** Virtual time of the event. */
  readonly time: number;
  /** When the packet is due at the other side (NaN for "send" and drops). */
  readonly arrival: number;
  /** The packet's bytes as they are at this point (a view valid only during the call). */
  readonly packet: Uint8Array;
  /** For "corrupt": the byte changed and the XOR applied to it; otherwise -1 and 0. */
  readonly corruptOffset: number;
  readonly corruptXor: number;
}

export type StopReason = "predicate" | "idle" | "max-time" | "max-steps";

export interface RunLimits {
  /** Virtual ms from now after which to stop (default 1 hour). */
  maxTimeMs?: number;
  /** Clock moves (steps) after which to stop (default 1,000,000). */
  maxSteps?: number;
}

export interface MemoryLinkOptions {
  /** Seed for all faults (default 1). The two directions draw from independent streams. */
  seed?: number;
  /** The clock to use (default: a new one at 0). Build the engines with `link.clock.now`. */
  clock?: VirtualClock;
  /** Faults in both directions (default none) ... */
  faults?: FaultsInput;
  /** ... or per direction (these win). */
  aToB?: FaultsInput;
  bToA?: FaultsInput;
  /** Transmit slots per side (default 64). */
  slots?: number;
  /** Preallocated bytes per slot (default 1500); a bigger request grows that slot once. */
  slotSize?: number;
  /** Largest packet a side may ask a buffer for (default 65575, the IPv6 maximum without jumbograms). */
  maxPacketSize?: number;
}

export const DEFAULT_MAX_TIME_MS = 3_600_000;
export const DEFAULT_MAX_STEPS = 1_000_000;
const DEFAULT_SLOTS = 64;
const DEFAULT_SLOT_SIZE = 1500;
const DEFAULT_MAX_PACKET_SIZE = 65575;

const EMPTY = new Uint8Array(0);

/** One packet on the wire; recycled through the link's free list. */
class WirePacket implements Timed {
  at = 0;
  order = 0;
  packetId = 0;
  direction: Direction = "aToB";
  length = 0;
  data: Uint8Array;
  private view: Uint8Array;

  constructor(capacity: number) {
    this.data = new Uint8Array(capacity);
    this.view = EMPTY;
  }

  fill(src: Uint8Array, offset: number, length: number): void {
    if (this.data.length < length) {
      this.data = new Uint8Array(length);
      this.view = EMPTY;
    }
    this.data.set(offset === 0 && length === src.length ? src : src.subarray(offset, offset + length));
    this.length = length;
  }

  /** The packet's bytes; the same view object while the length repeats (full-sized segments). */
  bytes(): Uint8Array {
    if (this.view.length !== this.length || this.view.buffer !== this.data.buffer) {
      this.view = this.data.subarray(0, this.length);
    }
    return this.view;
  }
}

class MutableLinkEvent implements LinkEvent {
  kind: LinkEventKind = "send";
  direction: Direction = "aToB";
  packetId = 0;
  time = 0;
  arrival = NaN;
  packet: Uint8Array = EMPTY;
  corruptOffset = -1;
  corruptXor = 0;
}

class DirectionState {
  readonly counters = new DirectionCounters();
  readonly rng: Random;
  faults: Faults;
  /** When the serialiser is next free. */
  busyUntil = -Infinity;
  /** Arrival of the last in-order packet: later in-order packets never arrive before it. */
  lastArrival = -Infinity;
  /** Serialisation finish times of queued packets, oldest first, from `head`. */
  private readonly serialising: number[] = [];
  private head = 0;

  constructor(seed: number, faults: Faults) {
    this.rng = new Random(seed);
    this.faults = faults;
  }

  /** Packets still waiting or being serialised at `now`. */
  queuedAt(now: number): number {
    const q = this.serialising;
    while (this.head < q.length && q[this.head]! <= now) this.head++;
    if (this.head > 256 && this.head * 2 > q.length) {
      q.copyWithin(0, this.head);
      q.length -= this.head;
      this.head = 0;
    }
    return q.length - this.head;
  }

  enqueueSerialising(finish: number): void {
    this.serialising.push(finish);
  }
}

/** The callbacks one side's engine is given. `handlers` may be replaced at any time. */
export class LinkCallbacks implements Callbacks<number> {
  handlers: AppHandlers = {};

  constructor(
    private readonly pool: SlotPool,
    private readonly counters: SideCounters,
    private readonly onTx: (bytes: Uint8Array, length: number) => void,
  ) {}

  l3TxBuffer(size: number): number | undefined {
    const slot = this.pool.acquire(size);
    if (slot === undefined) this.counters.poolExhausted++;
    return slot;
  }

  l3TxBufferMut(buffer: number): Uint8Array {
    return this.pool.bytes(buffer);
  }

  l3Tx(buffer: number, length: number): void {
    const bytes = this.pool.bytes(buffer);
    if (!Number.isInteger(length) || length < 0 || length > bytes.length) {
      throw new InvalidArgumentError(`l3Tx length must be an integer in [0, ${bytes.length}]: ${length}`);
    }
    try {
      this.onTx(bytes, length);
    } finally {
      this.pool.release(buffer);
    }
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    this.handlers.l4Rx?.(flow, data);
  }

  l4Accept(flow: Flow): boolean {
    const handlers = this.handlers;
    return handlers.l4Accept === undefined ? true : handlers.l4Accept(flow);
  }

  l4TxReady(flow: Flow): void {
    this.handlers.l4TxReady?.(flow);
  }

  l4RemoteClosed(flow: Flow): void {
    this.handlers.l4RemoteClosed?.(flow);
  }

  /** Slots free in this side's pool now. */
  get freeSlots(): number {
    return this.pool.free;
  }
}

class Port {
  readonly counters = new SideCounters();
  readonly pool: SlotPool;
  readonly callbacks: LinkCallbacks;
  endpoint: LinkEndpoint<number> | undefined;
  script: ScriptReceiver | undefined;
  /** The endpoint's last answer from l4Poll. */
  deadline: number | undefined;
  /** Poll at the next step whatever the deadline (it received or sent something since). */
  dirty = false;
  polling = false;
  /** Packets went to the endpoint in this step: call afterRx. */
  received = false;

  constructor(pool: SlotPool, onTx: (port: Port, bytes: Uint8Array, length: number) => void) {
    this.pool = pool;
    this.callbacks = new LinkCallbacks(pool, this.counters, (bytes, length) => onTx(this, bytes, length));
  }
}

export class MemoryLink {
  readonly clock: VirtualClock;
  readonly seed: number;
  readonly stats: {
    readonly aToB: DirectionCounters;
    readonly bToA: DirectionCounters;
    readonly a: SideCounters;
    readonly b: SideCounters;
  };
  /** Observer of every packet's fate (see LinkEvent); undefined costs nothing. */
  onEvent: ((event: LinkEvent) => void) | undefined;
  /** Why the last runUntil/runFor stopped. */
  stopReason: StopReason | undefined;

  private readonly portA: Port;
  private readonly portB: Port;
  private readonly dirAToB: DirectionState;
  private readonly dirBToA: DirectionState;
  private readonly inFlightQueue = new TimedQueue<WirePacket>();
  private readonly freePackets: WirePacket[] = [];
  private readonly wireCapacity: number;
  private wireAllocated = 0;
  private packetCount = 0;
  private nextOrder = 0;
  private readonly event = new MutableLinkEvent();
  private stepping = false;
  private running = false;

  constructor(options: MemoryLinkOptions = {}) {
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed)) throw new InvalidArgumentError(`seed must be an integer: ${seed}`);
    this.seed = seed;
    this.clock = options.clock ?? new VirtualClock();
    const slots = options.slots ?? DEFAULT_SLOTS;
    const slotSize = options.slotSize ?? DEFAULT_SLOT_SIZE;
    const maxPacketSize = options.maxPacketSize ?? Math.max(DEFAULT_MAX_PACKET_SIZE, slotSize);
    this.wireCapacity = slotSize;
    const onTx = (port: Port, bytes: Uint8Array, length: number): void => {
      port.counters.transmitted++;
      // What an engine sends outside l4Poll (an answer, or data from l4Tx) may have armed a timer.
      if (!port.polling) port.dirty = true;
      this.transmit(port === this.portA ? "aToB" : "bToA", bytes, 0, length);
    };
    this.portA = new Port(new SlotPool(slots, slotSize, maxPacketSize), onTx);
    this.portB = new Port(new SlotPool(slots, slotSize, maxPacketSize), onTx);
    this.dirAToB = new DirectionState(deriveSeed(seed, 0), resolveFaults(options.aToB ?? options.faults));
    this.dirBToA = new DirectionState(deriveSeed(seed, 1), resolveFaults(options.bToA ?? options.faults));
    this.stats = {
      aToB: this.dirAToB.counters,
      bToA: this.dirBToA.counters,
      a: this.portA.counters,
      b: this.portB.counters,
    };
  }

  // ---- attaching the two sides ----

  /** The callbacks for `side` (the same object for the link's life). */
  callbacks(side: Side): LinkCallbacks {
    return this.port(side).callbacks;
  }

  /** Put an engine on `side`; it must run on this link's clock. Returns its callbacks. */
  attach(side: Side, endpoint: LinkEndpoint<number>, handlers: AppHandlers = {}): LinkCallbacks {
    const port = this.port(side);
    this.checkFree(side, port);
    if (endpoint.now() !== this.clock.now()) {
      throw new InvalidArgumentError(
        `endpoint on side ${side} reads time ${endpoint.now()}, the link's clock reads ${this.clock.now()}: build it with link.clock.now`,
      );
    }
    port.endpoint = endpoint;
    port.callbacks.handlers = handlers;
    port.deadline = undefined;
    port.dirty = true;
    handlers.attach?.({
      engine: endpoint,
      callbacks: port.callbacks,
      schedule: () => {
        port.dirty = true;
      },
    });
    return port.callbacks;
  }

  /** Put a test script on `side`: it receives packets through `receive` and sends with `send`. */
  attachScript(side: Side, receive: ScriptReceiver): LinkCallbacks {
    const port = this.port(side);
    this.checkFree(side, port);
    port.script = receive;
    return port.callbacks;
  }

  /** Send `length` bytes of `packet` from `side` into the link, through that direction's faults. */
  send(side: Side, packet: Uint8Array, offset = 0, length = packet.length - offset): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > packet.length) {
      throw new InvalidArgumentError(`send range [${offset}, ${offset}+${length}) is outside the packet (${packet.length} bytes)`);
    }
    this.port(side).counters.transmitted++;
    this.transmit(side === "a" ? "aToB" : "bToA", packet, offset, length);
  }

  // ---- faults ----

  /** Replace a direction's faults from now on (packets already in flight keep their fate). */
  setFaults(direction: Direction, faults: FaultsInput): void {
    this.direction(direction).faults = resolveFaults(faults);
  }

  faults(direction: Direction): Faults {
    return this.direction(direction).faults;
  }

  // ---- driving ----

  /** Packets on the wire, not yet delivered. */
  get inFlight(): number {
    return this.inFlightQueue.size;
  }

  /** Wire buffers ever allocated (they are recycled: this stays small in steady state). */
  get wireBuffersAllocated(): number {
    return this.wireAllocated;
  }

  /** Poll `side` (or both) at the next step whatever its deadline: after calling into the engine directly. */
  wake(side?: Side): void {
    if (side === undefined || side === "a") this.portA.dirty = true;
    if (side === undefined || side === "b") this.portB.dirty = true;
  }

  /**
   * Deliver every packet due at the clock's time (in arrival order; packets sent during this
   * step wait for the next, even with zero delay), then poll each engine whose deadline has
   * passed or that was woken.
   */
  step(): void {
    if (this.stepping) throw new InvalidArgumentError("MemoryLink.step() called from inside a step");
    this.stepping = true;
    try {
      const now = this.clock.now();
      const limit = this.nextOrder;
      const queue = this.inFlightQueue;
      for (;;) {
        const top = queue.peek();
        if (top === undefined || top.at > now || top.order >= limit) break;
        queue.pop();
        this.deliver(top);
      }
      this.afterRx(this.portA);
      this.afterRx(this.portB);
      this.pollIfDue(this.portA, now);
      this.pollIfDue(this.portB, now);
    } finally {
      this.stepping = false;
    }
  }

  /** The time of the next thing to do (never before now), or undefined when nothing is pending. */
  nextEventTime(): number | undefined {
    const now = this.clock.now();
    let t = this.inFlightQueue.peek()?.at ?? Infinity;
    t = Math.min(t, this.portDue(this.portA, now), this.portDue(this.portB, now));
    return t === Infinity ? undefined : Math.max(t, now);
  }

  /**
   * Step from event to event until `predicate()` holds (checked before the first step and
   * after each). Returns whether it held; `stopReason` says why it stopped. At "max-time" the
   * clock is left at start + maxTimeMs; at "idle" (nothing pending) it is left where it was.
   * Both engines are polled at the first step.
   */
  runUntil(predicate: () => boolean, limits: RunLimits = {}): boolean {
    return this.run(predicate, limits, false);
  }

  /** Run for `ms` of virtual time; the clock ends at now + ms unless maxSteps cut it short (then false). */
  runFor(ms: number, limits: Omit<RunLimits, "maxTimeMs"> = {}): boolean {
    this.run(() => false, { maxTimeMs: ms, maxSteps: limits.maxSteps }, true);
    return this.stopReason !== "max-steps";
  }

  // ---- internals ----

  private run(predicate: () => boolean, limits: RunLimits, toEnd: boolean): boolean {
    const maxTimeMs = limits.maxTimeMs ?? DEFAULT_MAX_TIME_MS;
    const maxSteps = limits.maxSteps ?? DEFAULT_MAX_STEPS;
    if (!(maxTimeMs >= 0) || (toEnd && !Number.isFinite(maxTimeMs))) {
      throw new InvalidArgumentError(`maxTimeMs must be >= 0${toEnd ? " and finite" : ""}: ${maxTimeMs}`);
    }
    if (!(maxSteps >= 0)) throw new InvalidArgumentError(`maxSteps must be >= 0: ${maxSteps}`);
    if (this.running || this.stepping) throw new InvalidArgumentError("MemoryLink run re-entered");
    this.running = true;
    try {
      const end = this.clock.now() + maxTimeMs;
      this.wake();
      for (let steps = 0; ; steps++) {
        if (predicate()) return this.stop("predicate");
        const next = this.nextEventTime();
        if (next === undefined || next > end) {
          if (next !== undefined || toEnd) this.clock.set(end);
          return this.stop(next === undefined ? "idle" : "max-time");
        }
        if (steps >= maxSteps) return this.stop("max-steps");
        if (next > this.clock.now()) this.clock.set(next);
        this.step();
      }
    } finally {
      this.running = false;
    }
  }

  private stop(reason: StopReason): boolean {
    this.stopReason = reason;
    return reason === "predicate";
  }

  private port(side: Side): Port {
    if (side === "a") return this.portA;
    if (side === "b") return this.portB;
    throw new InvalidArgumentError(`side must be "a" or "b": ${String(side)}`);
  }

  private direction(direction: Direction): DirectionState {
    if (direction === "aToB") return this.dirAToB;
    if (direction === "bToA") return this.dirBToA;
    throw new InvalidArgumentError(`direction must be "aToB" or "bToA": ${String(direction)}`);
  }

  private checkFree(side: Side, port: Port): void {
    if (port.endpoint !== undefined || port.script !== undefined) {
      throw new InvalidArgumentError(`side ${side} already has an endpoint`);
    }
  }

  private afterRx(port: Port): void {
    if (!port.received) return;
    port.received = false;
    port.callbacks.handlers.afterRx?.();
  }

  private portDue(port: Port, now: number): number {
    if (port.endpoint === undefined) return Infinity;
    if (port.dirty) return now;
    return port.deadline ?? Infinity;
  }

  private pollIfDue(port: Port, now: number): void {
    const endpoint = port.endpoint;
    if (endpoint === undefined) return;
    if (!port.dirty && (port.deadline === undefined || port.deadline > now)) return;
    port.dirty = false;
    port.polling = true;
    port.counters.polls++;
    let deadline: number | undefined;
    try {
      deadline = endpoint.l4Poll(port.callbacks);
    } finally {
      port.polling = false;
    }
    if (deadline !== undefined && (typeof deadline !== "number" || Number.isNaN(deadline))) {
      throw new InvalidArgumentError(`l4Poll must return a time in ms or undefined: ${String(deadline)}`);
    }
    port.deadline = deadline;
  }

  private deliver(packet: WirePacket): void {
    const direction = this.direction(packet.direction);
    const port = packet.direction === "aToB" ? this.portB : this.portA;
    const bytes = packet.bytes();
    direction.counters.delivered++;
    direction.counters.bytesDelivered += packet.length;
    try {
      if (this.onEvent !== undefined) {
        this.emit("deliver", packet.direction, packet.packetId, packet.at, bytes, -1, 0);
      }
      if (port.endpoint !== undefined) {
        port.counters.received++;
        port.dirty = true;
        port.received = true;
        port.endpoint.l3Rx(port.callbacks, bytes);
      } else if (port.script !== undefined) {
        port.counters.received++;
        port.script(bytes, this);
      } else {
        port.counters.discarded++;
      }
    } finally {
      this.freePackets.push(packet);
    }
  }

  private takePacket(): WirePacket {
    const packet = this.freePackets.pop();
    if (packet !== undefined) return packet;
    this.wireAllocated++;
    return new WirePacket(this.wireCapacity);
  }

  /** The fault injector: decide the packet's fate and put the survivors on the wire. */
  private transmit(directionName: Direction, src: Uint8Array, offset: number, length: number): void {
    const direction = this.direction(directionName);
    const faults = direction.faults;
    const counters = direction.counters;
    const rng = direction.rng;
    // Every packet draws the same numbers whatever the faults, so one fault's fate sequence does
    // not depend on the other faults' settings, and a replay with the same seed is exact.
    const uLoss = rng.next();
    const uDuplicate = rng.next();
    const uReorder = rng.next();
    const uCorrupt = rng.next();
    const uJitter = rng.next();
    const uWhere = rng.next();
    const uValue = rng.nextU32();
    const packetId = ++this.packetCount;
    const now = this.clock.now();
    counters.sent++;
    counters.bytesSent += length;
    const observed = this.onEvent !== undefined;
    const srcView = observed ? src.subarray(offset, offset + length) : EMPTY;
    if (observed) this.emit("send", directionName, packetId, NaN, srcView, -1, 0);

    if (length > faults.mtu) {
      counters.droppedMtu++;
      if (observed) this.emit("drop-mtu", directionName, packetId, NaN, srcView, -1, 0);
      return;
    }
    if (uLoss < faults.loss) {
      counters.lost++;
      if (observed) this.emit("lose", directionName, packetId, NaN, srcView, -1, 0);
      return;
    }
    let departure = now;
    if (faults.rateBitsPerSecond !== Infinity) {
      if (direction.queuedAt(now) >= faults.queueLimit) {
        counters.droppedQueue++;
        if (observed) this.emit("drop-queue", directionName, packetId, NaN, srcView, -1, 0);
        return;
      }
      departure = Math.max(now, direction.busyUntil) + (length * 8000) / faults.rateBitsPerSecond;
      direction.busyUntil = departure;
      direction.enqueueSerialising(departure);
    }
    let arrival = departure + faults.delayMs + uJitter * faults.jitterMs;

    const packet = this.takePacket();
    packet.fill(src, offset, length);
    packet.packetId = packetId;
    packet.direction = directionName;

    let corruptOffset = -1;
    let corruptXor = 0;
    if (uCorrupt < faults.corrupt && length > 0) {
      if (faults.corruptUnit === CorruptUnit.Bit) {
        const bit = Math.floor(uWhere * length * 8);
        corruptOffset = bit >>> 3;
        corruptXor = 1 << (bit & 7);
      } else {
        corruptOffset = Math.floor(uWhere * length);
        corruptXor = 1 + (uValue % 255);
      }
      packet.data[corruptOffset]! ^= corruptXor;
      counters.corrupted++;
    }

    const reordered = uReorder < faults.reorder;
    if (reordered) {
      arrival += faults.reorderMs;
      counters.reordered++;
    } else {
      // Jitter delays but does not reorder: an in-order packet never overtakes the one before.
      if (arrival < direction.lastArrival) arrival = direction.lastArrival;
      direction.lastArrival = arrival;
    }
    packet.at = arrival;
    packet.order = this.nextOrder++;
    this.inFlightQueue.push(packet);

    if (observed) {
      if (corruptOffset >= 0) {
        this.emit("corrupt", directionName, packetId, arrival, packet.bytes(), corruptOffset, corruptXor);
      }
      if (reordered) this.emit("reorder", directionName, packetId, arrival, packet.bytes(), -1, 0);
    }

    if (uDuplicate < faults.duplicate) {
      const copy = this.takePacket();
      copy.fill(packet.data, 0, length);
      copy.packetId = packetId;
      copy.direction = directionName;
      copy.at = arrival;
      copy.order = this.nextOrder++;
      this.inFlightQueue.push(copy);
      counters.duplicated++;
      if (observed) this.emit("duplicate", directionName, packetId, arrival, copy.bytes(), -1, 0);
    }
  }

  private emit(
    kind: LinkEventKind,
    direction: Direction,
    packetId: number,
    arrival: number,
    packet: Uint8Array,
    corruptOffset: number,
    corruptXor: number,
  ): void {
    const e = this.event;
    e.kind = kind;
    e.direction = direction;
    e.packetId = packetId;
    e.time = this.clock.now();
    e.arrival = arrival;
    e.packet = packet;
    e.corruptOffset = corruptOffset;
    e.corruptXor = corruptXor;
    this.onEvent?.(e);
  }
}
