/**
 * The fake-IP table of --dns fake-ip: every name asked for (A or AAAA) gets an index into the fake
 * ranges, which gives it one IPv4 and one IPv6 address; a flow to one of those addresses is carried
 * upstream as the name, so the far side resolves it.
 *
 * - Stable: a name keeps its index while it is in the table. Asking again, or a flow to its address,
 *   makes it the most recently used.
 * - Bounded: at most `capacity` names (the smaller of the ranges' sizes and `maxEntries`). When full,
 *   the least recently used name that no live flow uses gives its index to the new name; if every
 *   candidate looked at is in use, the lookup fails (the DNS answer is SERVFAIL) rather than
 *   re-pointing an address a flow is using.
 *
 * A JS Map keeps the names in recency order (delete and set again to touch), so a touch, a lookup and
 * an eviction are O(1).
 */
import { ipv4ToString, parseIpv4 } from "../wire/ipv4.js";
import { ipv6ToString, parseIpv6 } from "../wire/ipv6.js";
import type { Cidr } from "./options.js";

export interface FakeEntry {
  readonly name: string;
  readonly index: number;
  readonly v4: string;
  readonly v6: string;
  /** Live flows to this entry's addresses: while > 0 the entry is not evicted. */
  users: number;
}

/** How many least-recently-used entries an insertion into a full table looks at before giving up. */
export const EVICTION_CANDIDATES = 64;

/** A name as the table keys it: lower case, no trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

export class FakeIpPool {
  readonly capacity: number;
  private readonly byName = new Map<string, FakeEntry>();
  private readonly byIndex = new Map<number, FakeEntry>();
  private nextIndex = 1;
  private readonly base4: number;
  private readonly size4: number;
  private readonly base6: Uint8Array;
  private readonly size6: number;
  private readonly scratch6 = new Uint8Array(16);

  constructor(v4: Cidr, v6: Cidr, maxEntries: number) {
    if (v4.family !== 4 || v6.family !== 6) throw new RangeError("the fake-IP ranges are one IPv4 and one IPv6 prefix");
    this.base4 = ((v4.bytes[0]! << 24) | (v4.bytes[1]! << 16) | (v4.bytes[2]! << 8) | v4.bytes[3]!) >>> 0;
    // Index 0 (the network address) and the last (the broadcast address) are never given out.
    this.size4 = 2 ** (32 - v4.prefix);
    this.base6 = v6.bytes;
    this.size6 = 2 ** Math.min(128 - v6.prefix, 32);
    this.capacity = Math.max(0, Math.min(this.size4 - 2, this.size6 - 2, maxEntries));
  }

  get size(): number {
    return this.byName.size;
  }

  /** The entry for `name`, given out now if new; undefined when the table is full of names in use. */
  lookup(name: string): FakeEntry | undefined {
    const key = normalizeName(name);
    const known = this.byName.get(key);
    if (known !== undefined) {
      this.touch(known);
      return known;
    }
    let index: number;
    if (this.nextIndex <= this.capacity) {
      index = this.nextIndex++;
    } else {
      const victim = this.evictable();
      if (victim === undefined) return undefined;
      this.byName.delete(victim.name);
      this.byIndex.delete(victim.index);
      index = victim.index;
    }
    const entry: FakeEntry = { name: key, index, v4: this.v4At(index), v6: this.v6At(index), users: 0 };
    this.byName.set(key, entry);
    this.byIndex.set(index, entry);
    return entry;
  }

  /** Whether `ip` is an address the table gives out (a name may have it now or not). */
  contains(ip: string, family: 4 | 6): boolean {
    return this.indexOf(ip, family) !== undefined;
  }

  /** The entry whose address `ip` is (touched), or undefined: not fake, or no name has it now. */
  byAddress(ip: string, family: 4 | 6): FakeEntry | undefined {
    const index = this.indexOf(ip, family);
    if (index === undefined) return undefined;
    const entry = this.byIndex.get(index);
    if (entry !== undefined) this.touch(entry);
    return entry;
  }

  private touch(entry: FakeEntry): void {
    this.byName.delete(entry.name);
    this.byName.set(entry.name, entry);
  }

  /** The least recently used entry no flow uses, among the first EVICTION_CANDIDATES; in-use ones move back. */
  private evictable(): FakeEntry | undefined {
    for (let tries = 0; tries < EVICTION_CANDIDATES; tries++) {
      const oldest = this.byName.values().next().value;
      if (oldest === undefined) return undefined;
      if (oldest.users === 0) return oldest;
      this.touch(oldest);
    }
    return undefined;
  }

  /** The index `ip` has in its family's range, or undefined when outside it. */
  private indexOf(ip: string, family: 4 | 6): number | undefined {
    let offset: number;
    if (family === 4) {
      const a = parseIpv4(ip);
      if (a < 0) return undefined;
      offset = a - this.base4;
      if (offset < 0 || offset >= this.size4) return undefined;
    } else {
      const b = this.scratch6;
      if (!parseIpv6(ip, b, 0)) return undefined;
      const base = this.base6;
      // Everything above the index's 32 bits must be the base's (its host bits there are zero).
      for (let i = 0; i < 12; i++) if (b[i] !== base[i]) return undefined;
      offset = (((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0) - (((base[12]! << 24) | (base[13]! << 16) | (base[14]! << 8) | base[15]!) >>> 0);
      if (offset < 0 || offset >= this.size6) return undefined;
    }
    return offset >= 1 && offset <= this.capacity ? offset : undefined;
  }

  private v4At(index: number): string {
    return ipv4ToString((this.base4 + index) >>> 0);
  }

  private v6At(index: number): string {
    const b = this.scratch6;
    b.set(this.base6);
    const low = (((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) + index) >>> 0;
    b[12] = low >>> 24;
    b[13] = low >>> 16;
    b[14] = low >>> 8;
    b[15] = low;
    return ipv6ToString(b, 0);
  }
}
