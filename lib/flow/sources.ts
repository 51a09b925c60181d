/**
 * Flows per source (maxFlowsPerSource): how many live flows each peer address has opened, so that one
 * source cannot take every flow (issue 13, per-peer fairness). Counted: TCP connections a peer opened
 * (SYN-RECEIVED, established, closing, a held TIME-WAIT; not the TIME-WAIT rows, which are not flows)
 * and UDP flows a peer's datagram made. Flows the application opens with l4Connect are its own
 * choice and are not counted.
 *
 * The source is the remote address: an IPv4 address whole, an IPv6 address by its /64. One IPv6 host
 * may hold a whole /64 (RFC 4291 §2.5.1: 64-bit interface identifiers; RFC 8273: a unique /64 per
 * host), picks its own addresses in it with SLAAC (RFC 4862) and rotates temporary ones (RFC 8981),
 * so counting per /128 would give one host 2^64 shares of the flows. Per-source limits on IPv6 mask
 * the source to /64 for the same reason (Linux's iptables hashlimit --hashlimit-srcmask 64, or an
 * nftables meter on the masked saddr); a /64 shared by many hosts shares one quota, the price of it.
 *
 * An open-addressing table (linear probing, backward-shift deletion, as flow/table.ts) of three
 * words per source (family, then the address or the /64's two words) and a count; a source leaves
 * the table when its count reaches 0, so the table never holds more sources than there are counted
 * flows, whatever spread of addresses a hostile peer uses, and it halves as they go. The hash is
 * seeded at random per table (a peer cannot aim addresses at one probe run). Nothing is allocated
 * per flow: only the table's own arrays, when it grows or halves.
 */
import { hashWords, randomSeed } from "./hash.js";

const KEY_WORDS = 3;
const MIN_CAPACITY = 16;
/** Grow above this load, halve below MIN_LOAD (flow/table.ts: the same bounds, for the same reasons). */
const MAX_LOAD = 0.625;
const MIN_LOAD = 0.25;


export class FlowsPerSource {
  private capacity = MIN_CAPACITY;
  private mask = MIN_CAPACITY - 1;
  private keys = new Int32Array(MIN_CAPACITY * KEY_WORDS);
  /** Flows of the source in each slot; 0: the slot is empty. */
  private counts = new Int32Array(MIN_CAPACITY);
  private hashes = new Int32Array(MIN_CAPACITY);
  private used = 0;
  private readonly seed: number;
  private readonly k = new Int32Array(KEY_WORDS);

  /**
   * @param max the most flows one source may have (maxFlowsPerSource).
   * @param seed for reproducible tests only; by default a random one.
   */
  constructor(
    readonly max: number,
    seed?: number,
  ) {
    this.seed = seed === undefined ? randomSeed() : seed | 0;
  }

  /** Sources with at least one flow now. */
  get sources(): number {
    return this.used;
  }

  /** Slots allocated now (a power of two). */
  get slots(): number {
    return this.capacity;
  }

  /** Flows counted for the source at `bytes[off..]` (4 address bytes for family 4, 16 for 6). */
  countOf(family: 4 | 6, bytes: Uint8Array, off: number): number {
    const slot = this.find(this.load(family, bytes, off));
    return slot < 0 ? 0 : this.counts[slot]!;
  }

  /** Does the source at `bytes[off..]` have `max` flows already (a new one must be refused)? */
  full(family: 4 | 6, bytes: Uint8Array, off: number): boolean {
    return this.countOf(family, bytes, off) >= this.max;
  }

  /** One more flow for the source (the caller checked `full` first). */
  add(family: 4 | 6, bytes: Uint8Array, off: number): void {
    const h = this.load(family, bytes, off);
    const slot = this.find(h);
    if (slot >= 0) {
      this.counts[slot]!++;
      return;
    }
    if (this.used + 1 > this.capacity * MAX_LOAD) this.resize(this.capacity * 2);
    this.place(h, this.k, 0, 1);
    this.used++;
  }

  /** One flow of the source is over; the source leaves the table with its last flow. */
  remove(family: 4 | 6, bytes: Uint8Array, off: number): void {
    const slot = this.find(this.load(family, bytes, off));
    if (slot < 0) return;
    if (--this.counts[slot]! > 0) return;
    this.deleteSlot(slot);
    this.used--;
    if (this.capacity > MIN_CAPACITY && this.used < this.capacity * MIN_LOAD) this.resize(this.capacity / 2);
  }

  /** Loads the source's key into `k` and returns its hash. */
  private load(family: 4 | 6, b: Uint8Array, off: number): number {
    const k = this.k;
    k[0] = family;
    k[1] = (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
    // IPv6: the /64 (see the module comment); IPv4: the address alone.
    k[2] = family === 6 ? (b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]! : 0;
    return hashWords(k, KEY_WORDS, this.seed);
  }

  /** The slot holding the key in `k` (hash `h`), or -1. */
  private find(h: number): number {
    const mask = this.mask;
    const keys = this.keys;
    const k = this.k;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      if (this.counts[i] === 0) return -1;
      const base = i * KEY_WORDS;
      if (this.hashes[i] === h && keys[base] === k[0] && keys[base + 1] === k[1] && keys[base + 2] === k[2]) return i;
    }
  }

  private place(h: number, src: Int32Array, srcBase: number, count: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (this.counts[i] !== 0) i = (i + 1) & mask;
    const base = i * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) this.keys[base + w] = src[srcBase + w]!;
    this.hashes[i] = h;
    this.counts[i] = count;
  }

  /** Empty slot `i`, shifting later members of its run back (Knuth vol. 3, 6.4, Algorithm R; as flow/table.ts). */
  private deleteSlot(i: number): void {
    const mask = this.mask;
    const keys = this.keys;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (this.counts[j] === 0) break;
      const home = this.hashes[j]! & mask;
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (inRange) continue;
      const from = j * KEY_WORDS;
      const to = hole * KEY_WORDS;
      for (let w = 0; w < KEY_WORDS; w++) keys[to + w] = keys[from + w]!;
      this.hashes[hole] = this.hashes[j]!;
      this.counts[hole] = this.counts[j]!;
      hole = j;
    }
    this.counts[hole] = 0;
  }

  private resize(capacity: number): void {
    const oldKeys = this.keys;
    const oldHashes = this.hashes;
    const oldCounts = this.counts;
    const oldCap = this.capacity;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.keys = new Int32Array(capacity * KEY_WORDS);
    this.hashes = new Int32Array(capacity);
    this.counts = new Int32Array(capacity);
    for (let i = 0; i < oldCap; i++) {
      const n = oldCounts[i]!;
      if (n !== 0) this.place(oldHashes[i]!, oldKeys, i * KEY_WORDS, n);
    }
  }
}
