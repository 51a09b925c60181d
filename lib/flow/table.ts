/**
 * The flow table: 5-tuple -> FlowRecord, looked up straight from packet bytes.
 *
 * Open addressing with linear probing over a power-of-two number of slots; deletion by backward
 * shift (no tombstones, so probe sequences never rot under churn). A key is ten 32-bit words kept in
 * one Int32Array:
 *
 *   word 0     family << 8 | protocol
 *   words 1-4  remote (peer) address; IPv4 uses word 1, the rest are 0
 *   words 5-8  local (engine-side) address
 *   word 9     remotePort << 16 | localPort
 *
 * An inbound packet's (source, destination) is (remote, local); a packet we sent, quoted back in an
 * ICMP error, is the other way round. The hash is a Murmur3-style mix seeded at random per table, so a
 * peer cannot precompute 5-tuples that all land in one probe run (hash flooding).
 *
 * A lookup reads the words into a scratch array of the table, hashes and compares them: no string and
 * no object is made.
 *
 * Under churn (millions of inserts and deletes: every connection comes and goes, while TIME-WAIT
 * records live in their own table, tcp/time-wait.ts) the table stays as fast as a fresh one:
 * backward-shift deletion leaves no tombstones, and the table halves once fewer than MIN_LOAD of its
 * slots are in use, so the memory of a peak goes back too (spec/bench/flow.ts measures lookups after
 * 4 million of each).
 */
import type { FlowRecord } from "./flow.js";
import { hashWords, randomSeed } from "./hash.js";

const KEY_WORDS = 10;
const MIN_CAPACITY = 16;
/** Grow when more than this fraction of slots is in use (linear probing stays short below ~0.7). */
const MAX_LOAD = 0.625;
/**
 * Halve when fewer than this fraction is in use. A halved table is then at 0.5 and a doubled one at
 * 0.3125, so a size hovering at either edge does not resize back and forth.
 */
const MIN_LOAD = 0.25;


export class FlowTable {
  private capacity: number;
  private mask: number;
  private keys: Int32Array;
  /** The full hash of each occupied slot (to find its home slot when shifting, and to compare fast). */
  private hashes: Int32Array;
  private values: (FlowRecord | undefined)[];
  private count = 0;
  private readonly seed: number;
  /** The capacity asked for at construction: the table never shrinks below it. */
  private readonly minCapacity: number;
  /** The key being looked up or inserted. */
  private readonly scratch = new Int32Array(KEY_WORDS);
  /** The hash of `scratch`. */
  private scratchHash = 0;

  /** `seed`: for reproducible tests only; by default a random one. */
  constructor(initialCapacity = MIN_CAPACITY, seed?: number) {
    let cap = MIN_CAPACITY;
    while (cap < initialCapacity) cap *= 2;
    this.capacity = cap;
    this.minCapacity = cap;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * KEY_WORDS);
    this.hashes = new Int32Array(cap);
    this.values = new Array<FlowRecord | undefined>(cap).fill(undefined);
    this.seed = seed === undefined ? randomSeed() : seed | 0;
  }

  /**
   * The key of the last lookup, insert, remove or keyOf, and its hash: the TIME-WAIT table
   * (tcp/time-wait.ts) finds its records by the same key without computing it again.
   */
  get key(): Int32Array {
    return this.scratch;
  }

  get keyHash(): number {
    return this.scratchHash;
  }

  /** Load `flow`'s key (see `key`); returns its hash. */
  keyOf(flow: FlowRecord): number {
    this.loadFlowKey(flow);
    return this.hashScratch();
  }

  /** Flows (and held TIME-WAIT connections) in the table. */
  get size(): number {
    return this.count;
  }

  /**
   * The flow for a packet: `bytes` holds both addresses (4 bytes for family 4, 16 for family 6) at
   * `remoteAddrOff` and `localAddrOff`.
   */
  lookup(
    family: 4 | 6,
    protocol: number,
    bytes: Uint8Array,
    remoteAddrOff: number,
    localAddrOff: number,
    remotePort: number,
    localPort: number,
  ): FlowRecord | undefined {
    this.loadKey(family, protocol, bytes, remoteAddrOff, localAddrOff, remotePort, localPort);
    const h = this.hashScratch();
    const slot = this.findScratch(h);
    return slot < 0 ? undefined : this.values[slot];
  }

  /** Add a flow; false (and nothing changed) if its 5-tuple is already present. */
  insert(flow: FlowRecord): boolean {
    this.loadFlowKey(flow);
    const h = this.hashScratch();
    if (this.findScratch(h) >= 0) return false;
    if (this.count + 1 > this.capacity * MAX_LOAD) this.resize(this.capacity * 2);
    this.place(h, this.scratch, 0, flow);
    this.count++;
    return true;
  }

  /** Remove this flow (by identity); false if it was not in the table. */
  remove(flow: FlowRecord): boolean {
    this.loadFlowKey(flow);
    const h = this.hashScratch();
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const v = this.values[i];
      if (v === undefined) return false;
      if (v === flow) break;
      i = (i + 1) & mask;
    }
    this.deleteSlot(i);
    this.count--;
    if (this.capacity > this.minCapacity && this.count < this.capacity * MIN_LOAD) this.resize(this.capacity / 2);
    return true;
  }

  /** Slots allocated now (a power of two): grows with the flows, and halves when they are gone. */
  get slots(): number {
    return this.capacity;
  }

  /** Every flow, in slot order (for shutdown and debugging; allocates). */
  flows(): FlowRecord[] {
    const out: FlowRecord[] = [];
    for (const v of this.values) if (v !== undefined) out.push(v);
    return out;
  }

  private loadKey(
    family: 4 | 6,
    protocol: number,
    b: Uint8Array,
    remoteOff: number,
    localOff: number,
    remotePort: number,
    localPort: number,
  ): void {
    const k = this.scratch;
    k[0] = (family << 8) | protocol;
    if (family === 4) {
      k[1] = (b[remoteOff]! << 24) | (b[remoteOff + 1]! << 16) | (b[remoteOff + 2]! << 8) | b[remoteOff + 3]!;
      k[2] = 0;
      k[3] = 0;
      k[4] = 0;
      k[5] = (b[localOff]! << 24) | (b[localOff + 1]! << 16) | (b[localOff + 2]! << 8) | b[localOff + 3]!;
      k[6] = 0;
      k[7] = 0;
      k[8] = 0;
    } else {
      for (let w = 0; w < 4; w++) {
        const r = remoteOff + w * 4;
        const l = localOff + w * 4;
        k[1 + w] = (b[r]! << 24) | (b[r + 1]! << 16) | (b[r + 2]! << 8) | b[r + 3]!;
        k[5 + w] = (b[l]! << 24) | (b[l + 1]! << 16) | (b[l + 2]! << 8) | b[l + 3]!;
      }
    }
    k[9] = ((remotePort & 0xffff) << 16) | (localPort & 0xffff);
  }

  private loadFlowKey(flow: FlowRecord): void {
    this.loadKey(
      flow.family,
      flow.protocol === "tcp" ? 6 : 17,
      flow.addr,
      0,
      16,
      flow.remotePort,
      flow.localPort,
    );
  }

  /** Murmur3-style mix of the ten scratch words (x86_32 body and finaliser). */
  private hashScratch(): number {
    const h = hashWords(this.scratch, KEY_WORDS, this.seed);
    this.scratchHash = h;
    return h;
  }

  /** The slot holding the scratch key, or -1. */
  private findScratch(h: number): number {
    const mask = this.mask;
    const keys = this.keys;
    const k = this.scratch;
    let i = h & mask;
    for (;;) {
      if (this.values[i] === undefined) return -1;
      if (this.hashes[i] === h) {
        const base = i * KEY_WORDS;
        let same = true;
        for (let w = 0; w < KEY_WORDS; w++) {
          if (keys[base + w] !== k[w]) {
            same = false;
            break;
          }
        }
        if (same) return i;
      }
      i = (i + 1) & mask;
    }
  }

  /** Put a key (from `src` at word `srcBase`) known to be absent into its first free slot. */
  private place(h: number, src: Int32Array, srcBase: number, flow: FlowRecord): void {
    const mask = this.mask;
    let i = h & mask;
    while (this.values[i] !== undefined) i = (i + 1) & mask;
    const base = i * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) this.keys[base + w] = src[srcBase + w]!;
    this.hashes[i] = h;
    this.values[i] = flow;
  }

  /**
   * Empty slot `i` and shift later members of its probe run back so that every key stays reachable
   * from its home slot without crossing an empty slot (Knuth vol. 3, 6.4, Algorithm R).
   */
  private deleteSlot(i: number): void {
    const mask = this.mask;
    const keys = this.keys;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = this.values[j];
      if (v === undefined) break;
      const home = this.hashes[j]! & mask;
      // Can the entry at j move to the hole? Only if its home is not cyclically in (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (inRange) continue;
      const from = j * KEY_WORDS;
      const to = hole * KEY_WORDS;
      for (let w = 0; w < KEY_WORDS; w++) keys[to + w] = keys[from + w]!;
      this.hashes[hole] = this.hashes[j]!;
      this.values[hole] = v;
      hole = j;
    }
    this.values[hole] = undefined;
  }

  /** Rehash into `capacity` slots (a power of two holding every flow below MAX_LOAD). */
  private resize(capacity: number): void {
    const oldKeys = this.keys;
    const oldHashes = this.hashes;
    const oldValues = this.values;
    const oldCap = this.capacity;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.keys = new Int32Array(capacity * KEY_WORDS);
    this.hashes = new Int32Array(capacity);
    this.values = new Array<FlowRecord | undefined>(capacity).fill(undefined);
    for (let i = 0; i < oldCap; i++) {
      const v = oldValues[i];
      if (v !== undefined) this.place(oldHashes[i]!, oldKeys, i * KEY_WORDS, v);
    }
  }
}
