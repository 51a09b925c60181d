/**
 * IP fragment reassembly: IPv4 (RFC 791 §3.2 "reassembly", RFC 1122 §3.3.2) and IPv6 (RFC 8200 §4.5).
 *
 * Fragments are the rare path, so this module allocates freely (each fragment's data is copied; a
 * datagram's key is a string) but bounds everything a peer can grow:
 * - at most `config.maxReassemblies` datagrams are in progress; a new one evicts the least recently
 *   touched (mnemonist's LRUMapWithDelete), as Linux evicts old queues past its memory threshold;
 * - a datagram may arrive in at most MAX_FRAGMENTS_PER_DATAGRAM fragments;
 * - a reassembled datagram may not exceed `config.maxDatagramSize` (measured as its length field would
 *   read: IPv4 Total Length, IPv6 Payload Length) nor the 65535 its header can describe ("ping of death");
 * - a datagram not complete `config.reassemblyTimeoutMs` after its first fragment arrived is discarded
 *   (RFC 791's timer starts at the first fragment and, as in Linux, later fragments do not extend it).
 *   RFC 8200 §4.5 names 60 s for IPv6; one setting serves both families.
 *
 * Overlaps: RFC 5722 §4 (IPv6): if any fragment overlaps another, "the entire datagram (and any
 * constituent fragments, including those not yet received) MUST be silently discarded". An exact
 * duplicate is not an overlap (RFC 5722 erratum 3089): only the duplicate is dropped. We do the same
 * for IPv4, as Linux has since 4.19 ("ip: discard IPv4 datagrams with overlapping segments",
 * net/ipv4/inet_fragment.c): overlap-based evasion and poisoning attacks (RFC 1858, RFC 3128) then have
 * nothing to work with. A discarded datagram leaves a dead entry that eats its later fragments until
 * the timeout, so "not yet received" fragments are discarded too.
 *
 * A fragment other than the last must carry a multiple of 8 bytes (RFC 8200 §4.5; implied for IPv4 by
 * the 8-byte offset unit): otherwise it alone is dropped.
 *
 * The reassembled packet is a fresh Uint8Array laid out as if it had never been fragmented: the
 * first fragment's header (IPv4: header and options, with MF and offset cleared and the checksum
 * recomputed; IPv6: the per-fragment headers with the Fragment header removed and the Next Header
 * that pointed at it taking the Fragment header's value), then the data. The engine dispatches it as
 * it would any packet.
 *
 * The memory budget (lib/memory.ts): each fragment held is charged its bytes plus
 * RECORD_OVERHEAD_BYTES (the first fragment's header copy too) when placed, and a datagram gives back
 * all it was charged when it completes, is discarded (dead), times out or is evicted. A fragment the
 * budget refuses is dropped (stats memoryDroppedFragments); so is one from a source already holding
 * SOURCE_SHARE of the budget, so one source flooding fragments cannot starve the others (Linux has
 * one ipfrag_high_thresh for all; the share is ours).
 *
 * When a datagram times out and its first fragment (offset 0) was received, the listener hears of it
 * so the engine can send ICMP Time Exceeded, code 1 (RFC 792 "may"; RFC 1122 §3.3.2; RFC 8200 §4.5
 * "should ... be sent to the source of that fragment").
 */
import { MemoryKind, RECORD_OVERHEAD_BYTES } from "../memory.js";
import { LRUMapWithDelete } from "mnemonist";
import type { EngineConfig } from "../config.js";
import { EngineDrop, type Counters } from "../stats.js";
import { read32, write16 } from "../wire/bytes.js";
import { checksum } from "../wire/checksum.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import type { Ipv4Packet } from "../wire/ipv4.js";
import { IPV6_FRAGMENT_HEADER, IPV6_HEADER, type Ipv6Packet } from "../wire/ipv6.js";

/** What the IPv4 Total Length / IPv6 Payload Length field can hold. */
const MAX_LENGTH_FIELD = 65535;
/**
 * Fragments held per datagram. A 64 KiB datagram over a 576-byte link needs 120; more is a peer
 * trying to make us keep thousands of 8-byte pieces, so the datagram is discarded.
 */
export const MAX_FRAGMENTS_PER_DATAGRAM = 256;

/** The most of the memory budget one source address may hold in fragments. */
export const SOURCE_SHARE = 0.25;

/** Told about datagrams that timed out with their first fragment in hand. */
export interface ReassemblyListener {
  /** `firstFragment` is a copy of the whole first fragment as it arrived (IP header onwards). */
  reassemblyTimedOut(family: 4 | 6, firstFragment: Uint8Array): void;
}

interface Piece {
  offset: number;
  end: number;
  data: Uint8Array;
}

class PendingDatagram {
  /** Data pieces, sorted by offset, never overlapping. */
  pieces: Piece[] = [];
  /** Sum of the pieces' lengths. */
  received = 0;
  /** Data length of the whole datagram: known once the last fragment (MF = 0) arrived, else -1. */
  totalLength = -1;
  /** End of the furthest piece seen. */
  furthest = 0;
  /** The first fragment (offset 0), copied whole; null until it arrives. */
  first: Uint8Array | null = null;
  /** IPv4: header length of the first fragment. IPv6: length of its per-fragment headers. */
  headerLength = 0;
  /** IPv6: where, in the per-fragment headers, the Next Header byte that named the Fragment header is. */
  nextHeaderAt = 0;
  /** IPv6: the Fragment header's Next Header in the first fragment. */
  upperProtocol = 0;
  /** Discarded (overlap or inconsistency): later fragments are dropped until the timeout. */
  dead = false;
  /** Bytes charged to the memory budget for this datagram (and to its source's share). */
  charged = 0;

  constructor(
    readonly family: 4 | 6,
    readonly expires: number,
    /** The source address, as the key spells it: whose share this datagram counts in. */
    readonly source: string,
  ) {}

  /** Fragments held, for counting them as dropped. */
  get fragmentCount(): number {
    return this.pieces.length;
  }
}

/** The sweeper sits in the engine's timer heap: `deadline` is the earliest expiry of any datagram. */
export class Reassembler {
  readonly kind = "reassembly";
  deadline = Infinity;
  heapIndex = -1;
  private readonly table: LRUMapWithDelete<string, PendingDatagram> | null;
  /** Bytes charged per source address (see SOURCE_SHARE); entries leave when they reach 0. */
  private readonly bySource = new Map<string, number>();

  constructor(
    private readonly config: EngineConfig,
    private readonly counters: Counters,
    private readonly listener: ReassemblyListener,
  ) {
    this.table = config.maxReassemblies > 0 ? new LRUMapWithDelete(config.maxReassemblies) : null;
  }

  /** Datagrams in progress (dead ones included until they expire). */
  get pending(): number {
    return this.table === null ? 0 : this.table.size;
  }

  /**
   * Add an IPv4 fragment (the view has passed `check()` and `isFragment` is true). Returns the
   * reassembled packet when this fragment completed it, else undefined.
   */
  add4(ip: Ipv4Packet, now: number): Uint8Array | undefined {
    this.counters.fragmentsIn++;
    const b = ip.bytes;
    const source = `4 ${ip.src}`;
    const key = `${source} ${ip.dst} ${ip.protocol} ${ip.ident}`;
    const offset = ip.fragmentOffset;
    const len = ip.payloadLength;
    const more = ip.moreFragments;
    const hl = ip.headerLength;
    if (more && (len === 0 || (len & 7) !== 0)) return this.dropFragment();
    const d = this.datagram(key, 4, now, source);
    if (d === undefined) return this.dropFragment();
    if (hl + offset + len > Math.min(MAX_LENGTH_FIELD, this.config.maxDatagramSize)) return this.kill(d, true);
    if (!this.place(d, offset, len, more, b, ip.payloadOffset, offset === 0 ? ip.totalLength : 0)) return undefined;
    if (offset === 0) {
      d.first = b.slice(ip.offset, ip.offset + ip.totalLength);
      d.headerLength = hl;
    }
    return this.complete(key, d);
  }

  /**
   * Add an IPv6 fragment (the view has passed `check()` and `isFragment` is true). Returns the
   * reassembled packet when this fragment completed it, else undefined.
   */
  add6(ip: Ipv6Packet, now: number): Uint8Array | undefined {
    this.counters.fragmentsIn++;
    const b = ip.bytes;
    const base = ip.offset;
    const source = `6 ${hex16(b, ip.srcOffset)}`;
    const key = `${source} ${hex16(b, ip.dstOffset)} ${ip.fragmentIdent}`;
    const offset = ip.fragmentOffset;
    const more = ip.moreFragments;
    const dataOff = ip.fragmentHeaderOffset + IPV6_FRAGMENT_HEADER;
    const len = base + IPV6_HEADER + ip.payloadLength - dataOff;
    if (more && (len === 0 || (len & 7) !== 0)) return this.dropFragment();
    const d = this.datagram(key, 6, now, source);
    if (d === undefined) return this.dropFragment();
    const perFragment = ip.fragmentHeaderOffset - base;
    // RFC 8200 §4.5: a fragment whose reassembled Payload Length would exceed 65,535 is discarded.
    if (perFragment - IPV6_HEADER + offset + len > Math.min(MAX_LENGTH_FIELD, this.config.maxDatagramSize)) {
      return this.kill(d, true);
    }
    if (!this.place(d, offset, len, more, b, dataOff, offset === 0 ? IPV6_HEADER + ip.payloadLength : 0)) return undefined;
    if (offset === 0) {
      const at = nextHeaderPointingAt(b, base, perFragment);
      if (at < 0) return this.kill(d, false);
      d.first = b.slice(base, base + IPV6_HEADER + ip.payloadLength);
      d.headerLength = perFragment;
      d.nextHeaderAt = at;
      d.upperProtocol = b[ip.fragmentHeaderOffset]!;
    }
    return this.complete(key, d);
  }

  /**
   * Discard every datagram whose time is up (telling the listener about those with a first fragment)
   * and move `deadline` to the next expiry (Infinity when none is left).
   */
  expire(now: number): void {
    const table = this.table;
    this.deadline = Infinity;
    if (table === null) return;
    const expired: [string, PendingDatagram][] = [];
    for (const [key, d] of table) {
      if (d.expires <= now) expired.push([key, d]);
      else if (d.expires < this.deadline) this.deadline = d.expires;
    }
    for (const [key, d] of expired) {
      table.delete(key);
      this.uncharge(d);
      if (d.dead) continue;
      this.countDropped(d.fragmentCount);
      if (d.first !== null) this.listener.reassemblyTimedOut(d.family, d.first);
    }
  }

  /** The datagram for `key`, created if new (evicting the least recently used one when full). */
  private datagram(key: string, family: 4 | 6, now: number, source: string): PendingDatagram | undefined {
    const table = this.table;
    if (table === null) return undefined;
    const found = table.get(key);
    if (found !== undefined) return found;
    const d = new PendingDatagram(family, now + this.config.reassemblyTimeoutMs, source);
    const evicted = table.setpop(key, d);
    if (evicted !== null && evicted.evicted) {
      this.uncharge(evicted.value);
      if (!evicted.value.dead) this.countDropped(evicted.value.fragmentCount);
    }
    if (d.expires < this.deadline) this.deadline = d.expires;
    return d;
  }

  /**
   * Record one fragment's data in `d`. False when the fragment, or the whole datagram, was dropped
   * (and counted).
   */
  private place(
    d: PendingDatagram,
    offset: number,
    len: number,
    more: boolean,
    b: Uint8Array,
    dataOff: number,
    firstCopy: number,
  ): boolean {
    if (d.dead) {
      this.dropFragment();
      return false;
    }
    const end = offset + len;
    if (!more) {
      // The last fragment fixes the length; a second, different one, or data already past it, is
      // an inconsistency no honest sender produces.
      if ((d.totalLength >= 0 && d.totalLength !== end) || d.furthest > end) {
        this.kill(d, true);
        return false;
      }
    } else if (d.totalLength >= 0 && end > d.totalLength) {
      this.kill(d, true);
      return false;
    }
    const pieces = d.pieces;
    let i = 0;
    while (i < pieces.length && pieces[i]!.offset < offset) i++;
    const prev = pieces[i - 1];
    const next = pieces[i];
    if (next !== undefined && next.offset === offset && next.end === end) {
      // RFC 5722 erratum 3089: an exact duplicate is ignored, the datagram kept.
      this.dropFragment();
      return false;
    }
    if (
      (prev !== undefined && prev.end > offset) ||
      (next !== undefined && next.offset < end) ||
      pieces.length >= MAX_FRAGMENTS_PER_DATAGRAM
    ) {
      this.kill(d, true);
      return false;
    }
    if (!this.chargeFragment(d, len + firstCopy + RECORD_OVERHEAD_BYTES)) return false;
    pieces.splice(i, 0, { offset, end, data: b.slice(dataOff, dataOff + len) });
    d.received += len;
    if (end > d.furthest) d.furthest = end;
    if (!more) d.totalLength = end;
    return true;
  }

  /** If `d` has every byte and its first fragment, build the packet and forget the datagram. */
  private complete(key: string, d: PendingDatagram): Uint8Array | undefined {
    if (d.totalLength < 0 || d.received !== d.totalLength || d.first === null) return undefined;
    this.table!.delete(key);
    this.uncharge(d);
    const hl = d.headerLength;
    const out = new Uint8Array(hl + d.totalLength);
    out.set(d.first.subarray(0, hl), 0);
    for (const p of d.pieces) out.set(p.data, hl + p.offset);
    if (d.family === 4) {
      write16(out, 2, out.length);
      write16(out, 6, 0); // flags and fragment offset: DF, MF and offset all clear
      write16(out, 10, 0);
      write16(out, 10, checksum(out, 0, hl));
    } else {
      write16(out, 4, out.length - IPV6_HEADER);
      out[d.nextHeaderAt] = d.upperProtocol;
    }
    this.counters.reassembled++;
    return out;
  }

  /** Discard the whole datagram (overlap, inconsistency, too large); it stays as a dead entry. */
  private kill(d: PendingDatagram, countThisFragment: boolean): undefined {
    if (!d.dead) {
      this.countDropped(d.fragmentCount);
      d.dead = true;
      this.uncharge(d);
      d.pieces = [];
      d.first = null;
      d.received = 0;
    }
    if (countThisFragment) this.countDropped(1);
    return undefined;
  }

  /**
   * Charge one fragment to the budget and to its source's share; false (dropped, counted) when the
   * budget refuses or the source already holds its share.
   */
  private chargeFragment(d: PendingDatagram, bytes: number): boolean {
    const memory = this.counters.memory;
    const held = this.bySource.get(d.source) ?? 0;
    if (held + bytes > memory.limit * SOURCE_SHARE || !memory.tryCharge(MemoryKind.FRAGMENTS, bytes)) {
      this.counters.memoryDroppedFragments++;
      this.countDropped(1);
      return false;
    }
    this.bySource.set(d.source, held + bytes);
    d.charged += bytes;
    return true;
  }

  /** Give back all `d` was charged (it completed, died, timed out or was evicted). */
  private uncharge(d: PendingDatagram): void {
    if (d.charged === 0) return;
    this.counters.memory.release(MemoryKind.FRAGMENTS, d.charged);
    const left = (this.bySource.get(d.source) ?? 0) - d.charged;
    if (left > 0) this.bySource.set(d.source, left);
    else this.bySource.delete(d.source);
    d.charged = 0;
  }

  private dropFragment(): undefined {
    this.countDropped(1);
    return undefined;
  }

  private countDropped(n: number): void {
    this.counters.drops[EngineDrop.FRAGMENT_INVALID] = this.counters.drops[EngineDrop.FRAGMENT_INVALID]! + n;
  }
}

/**
 * In the per-fragment headers of an IPv6 packet at `base` (`length` bytes: fixed header plus the
 * extension headers before the Fragment header), the offset (from `base`) of the Next Header byte
 * that names the Fragment header; -1 if the chain does not end exactly there.
 */
function nextHeaderPointingAt(b: Uint8Array, base: number, length: number): number {
  let at = 6;
  let nh = b[base + 6]!;
  let pos = IPV6_HEADER;
  for (let n = 0; n < 16 && pos < length; n++) {
    const hdrLen = nh === IpProtocol.AH ? (b[base + pos + 1]! + 2) * 4 : (b[base + pos + 1]! + 1) * 8;
    at = pos;
    nh = b[base + pos]!;
    pos += hdrLen;
  }
  return pos === length && nh === IpProtocol.IPV6_FRAGMENT ? at : -1;
}

function hex16(b: Uint8Array, off: number): string {
  return `${read32(b, off).toString(16)}:${read32(b, off + 4).toString(16)}:${read32(b, off + 8).toString(16)}:${read32(b, off + 12).toString(16)}`;
}
