/**
 * The parts of the in-memory link (link.ts): what travels on it (WirePacket), what each direction
 * keeps (its faults' random stream, its serialisation queue, its counters), the events it reports,
 * and the callbacks each side's engine is given (LinkCallbacks), which hand the l4 calls on to the
 * application's handlers.
 */
import type { Callbacks, EngineDriver, Flow } from "../api.js";
import { InvalidArgumentError } from "../errors.js";
import type { Faults } from "./faults.js";
import { Random } from "./random.js";
import type { SlotPool } from "./slot-pool.js";
import type { Timed } from "./timed-queue.js";

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


export const EMPTY = new Uint8Array(0);

/** One packet on the wire; recycled through the link's free list. */
export class WirePacket implements Timed {
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

export class MutableLinkEvent implements LinkEvent {
  kind: LinkEventKind = "send";
  direction: Direction = "aToB";
  packetId = 0;
  time = 0;
  arrival = NaN;
  packet: Uint8Array = EMPTY;
  corruptOffset = -1;
  corruptXor = 0;
}

export class DirectionState {
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
