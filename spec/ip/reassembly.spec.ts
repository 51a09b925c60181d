import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, type EngineConfig } from "../../lib/config.js";
import { MAX_FRAGMENTS_PER_DATAGRAM, Reassembler } from "../../lib/ip/reassembly.js";
import { Counters, EngineDrop } from "../../lib/stats.js";
import { Ipv4Packet } from "../../lib/wire/ipv4.js";
import { Ipv6Packet } from "../../lib/wire/ipv6.js";
import { engineFixture } from "../support/engine-fixture.js";
import { sumsToAllOnes } from "../support/oracle/checksum.js";
import { ipv6FragmentHeader } from "../support/oracle/encode.js";
import { Proto } from "../support/oracle/numbers.js";
import { put16 as write16 } from "../support/oracle/octets.js";
import { fixIpv4HeaderChecksum, fragment, parse, udp } from "../support/packets.js";

const IpProtocol = { UDP: Proto.UDP, IPV6_FRAGMENT: Proto.FRAGMENT, IPV6_DEST_OPTS: Proto.DEST_OPTS } as const;

function emitIpv6FragmentHeader(f: Uint8Array, at: number, nextHeader: number, offset: number, more: boolean, ident: number): void {
  f.set(ipv6FragmentHeader(nextHeader, offset, more, ident), at);
}

/**
 * A reassembled datagram is the original, exactly: for IPv4 but for the Identification (the
 * fragments' own), flags and offset (cleared) and the header checksum (recomputed, and right).
 */
function expectSameDatagram(whole: Uint8Array | undefined, original: Uint8Array): void {
  expect(whole).toBeDefined();
  const w = whole!;
  if (original[0]! >> 4 === 6) {
    expect(Buffer.from(w).toString("hex")).toBe(Buffer.from(original).toString("hex"));
    return;
  }
  expect(w.length).toBe(original.length);
  expect(sumsToAllOnes([w.subarray(0, 20)])).toBe(true);
  expect([w[6], w[7]]).toEqual([0, 0]);
  expect(Array.from(w.subarray(0, 4))).toEqual(Array.from(original.subarray(0, 4)));
  expect(Array.from(w.subarray(8, 10))).toEqual(Array.from(original.subarray(8, 10)));
  expect(Buffer.from(w.subarray(12)).toString("hex")).toBe(Buffer.from(original.subarray(12)).toString("hex"));
  expect(parse(w)).toMatchObject({ isFragment: false, checksumOk: true, problems: [] });
}

function pattern(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17) & 255);
}

function setup(config: Partial<EngineConfig> = {}) {
  const counters = new Counters();
  const timedOut: { family: 4 | 6; first: Uint8Array }[] = [];
  const r = new Reassembler({ ...DEFAULT_CONFIG, ...config }, counters, {
    reassemblyTimedOut: (family, first) => timedOut.push({ family, first }),
  });
  const v4 = new Ipv4Packet();
  const v6 = new Ipv6Packet();
  const add = (pkt: Uint8Array, now = 0): Uint8Array | undefined => {
    if (pkt[0]! >> 4 === 4) {
      const ip = v4.wrap(pkt);
      expect(ip.check()).toBe(0);
      expect(ip.isFragment).toBe(true);
      return r.add4(ip, now);
    }
    const ip = v6.wrap(pkt);
    expect(ip.check()).toBe(0);
    expect(ip.isFragment).toBe(true);
    return r.add6(ip, now);
  };
  const dropped = () => counters.drops[EngineDrop.FRAGMENT_INVALID]!;
  return { r, counters, timedOut, add, dropped };
}

/** A fragment with an arbitrary offset and length of a UDP-carrying datagram (for overlap games). */
function rawFragment(family: 4 | 6, offset: number, data: Uint8Array, more: boolean, ident = 77): Uint8Array {
  const base = udp({ family, payload: new Uint8Array(0) });
  if (family === 4) {
    const f = new Uint8Array(20 + data.length);
    f.set(base.subarray(0, 20));
    f.set(data, 20);
    write16(f, 2, f.length);
    write16(f, 4, ident);
    write16(f, 6, (more ? 0x2000 : 0) | (offset >> 3));
    return fixIpv4HeaderChecksum(f);
  }
  const f = new Uint8Array(48 + data.length);
  f.set(base.subarray(0, 40));
  f[6] = IpProtocol.IPV6_FRAGMENT;
  write16(f, 4, 8 + data.length);
  emitIpv6FragmentHeader(f, 40, IpProtocol.UDP, offset, more, ident);
  f.set(data, 48);
  return f;
}

describe("Reassembler", () => {
  it.each([4, 6] as const)("rebuilds the original packet from fragments in any order (IPv%i)", (family) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6000 }), fc.integer({ min: 4, max: 200 }), fc.integer(), (n, chunk8, seed) => {
        const { add, counters } = setup();
        const original = udp({ family, payload: pattern(n, seed & 255), ident: 5 });
        const frags = fragment(original, chunk8 * 8);
        fc.pre(frags.length > 1 && frags.length <= MAX_FRAGMENTS_PER_DATAGRAM);
        // Deterministic shuffle from the seed.
        let x = seed >>> 0;
        const order = frags.map((f, i) => ({ f, k: ((x = (x * 1664525 + 1013904223) >>> 0), x ^ i) }));
        order.sort((a, b) => a.k - b.k);
        const outs = order.map(({ f }) => add(f));
        const done = outs.filter((o) => o !== undefined);
        expect(done).toHaveLength(1);
        expect(outs[outs.length - 1]).toBeDefined();
        const whole = done[0]!;
        expectSameDatagram(whole, original);
        expect(counters.reassembled).toBe(1);
        expect(counters.fragmentsIn).toBe(frags.length);
      }),
      { numRuns: 150 },
    );
  });

  it("keeps an IPv6 extension header before the Fragment header and repoints its Next Header", () => {
    const { add } = setup();
    const original = udp({ family: 6, payload: pattern(3000) });
    // Insert an 8-byte Destination Options header (Next Header UDP, PadN) before the UDP header.
    const withOpts = new Uint8Array(original.length + 8);
    withOpts.set(original.subarray(0, 40));
    withOpts[6] = IpProtocol.IPV6_DEST_OPTS;
    write16(withOpts, 4, original.length - 40 + 8);
    withOpts.set([IpProtocol.UDP, 0, 1, 4, 0, 0, 0, 0], 40);
    withOpts.set(original.subarray(40), 48);
    // Fragment it by hand: per-fragment headers = fixed + dest opts; the fragmentable part = UDP.
    const data = withOpts.subarray(48);
    const frags: Uint8Array[] = [];
    for (let off = 0; off < data.length; off += 1024) {
      const piece = data.subarray(off, Math.min(off + 1024, data.length));
      const f = new Uint8Array(56 + piece.length);
      f.set(withOpts.subarray(0, 48));
      f[40] = IpProtocol.IPV6_FRAGMENT; // the dest opts header now points at the Fragment header
      write16(f, 4, 16 + piece.length);
      emitIpv6FragmentHeader(f, 48, IpProtocol.UDP, off, off + piece.length < data.length, 99);
      f.set(piece, 56);
      frags.push(f);
    }
    let whole: Uint8Array | undefined;
    for (const f of frags.reverse()) whole = add(f) ?? whole;
    expect(whole).toBeDefined();
    expect(Array.from(whole!)).toEqual(Array.from(withOpts));
  });

  it("ignores an exact duplicate (RFC 5722 erratum 3089) and still completes", () => {
    const { add, dropped } = setup();
    const original = udp({ payload: pattern(2000) });
    const frags = fragment(original, 512);
    expect(add(frags[0]!)).toBeUndefined();
    expect(add(frags[0]!)).toBeUndefined();
    expect(dropped()).toBe(1);
    let whole: Uint8Array | undefined;
    for (const f of frags.slice(1)) whole = add(f) ?? whole;
    expectSameDatagram(whole, original);
  });

  it.each([4, 6] as const)("discards the whole datagram on an overlap, and its later fragments too (IPv%i)", (family) => {
    const { add, dropped, r } = setup();
    const data = pattern(64);
    expect(add(rawFragment(family, 0, data.subarray(0, 32), true))).toBeUndefined();
    expect(add(rawFragment(family, 32, data.subarray(32, 48), true))).toBeUndefined();
    // Overlaps [32, 48) by 8 bytes.
    expect(add(rawFragment(family, 40, data.subarray(40, 64), false))).toBeUndefined();
    expect(dropped()).toBe(3);
    // The missing piece would complete it, but the datagram is dead.
    expect(add(rawFragment(family, 48, data.subarray(48, 64), false))).toBeUndefined();
    expect(dropped()).toBe(4);
    expect(r.pending).toBe(1);
  });

  it("drops a non-last fragment whose length is not a multiple of 8", () => {
    const { add, dropped, r } = setup();
    expect(add(rawFragment(4, 0, pattern(30), true))).toBeUndefined();
    expect(dropped()).toBe(1);
    expect(r.pending).toBe(0);
  });

  it("discards a datagram that would exceed 65535 bytes (ping of death) or maxDatagramSize", () => {
    const a = setup();
    a.add(rawFragment(4, 0, pattern(1024), true, 1));
    expect(a.add(rawFragment(4, 65528, pattern(16), false, 1))).toBeUndefined();
    expect(a.dropped()).toBe(2);
    const b = setup({ maxDatagramSize: 2000 });
    const frags = fragment(udp({ payload: pattern(3000) }), 1024);
    for (const f of frags) expect(b.add(f)).toBeUndefined();
    expect(b.counters.reassembled).toBe(0);
  });

  it("discards inconsistent last fragments", () => {
    const { add, dropped } = setup();
    add(rawFragment(4, 0, pattern(16), true));
    add(rawFragment(4, 24, pattern(8), false)); // total 32, a gap at 16..24
    expect(add(rawFragment(4, 40, pattern(8), false))).toBeUndefined(); // a different end
    expect(dropped()).toBe(3);
    expect(add(rawFragment(4, 16, pattern(8), true))).toBeUndefined(); // would have completed it
    expect(dropped()).toBe(4);
  });

  it("times out: drops the fragments and reports the first fragment, if it came", () => {
    const { r, add, timedOut, dropped } = setup({ reassemblyTimeoutMs: 30_000 });
    const a = fragment(udp({ payload: pattern(3000) }), 1024, 1);
    const b = fragment(udp({ family: 6, payload: pattern(3000) }), 1024, 2);
    add(a[0]!, 0);
    add(a[1]!, 10_000);
    add(b[2]!, 5_000); // no first fragment
    expect(r.deadline).toBe(30_000);
    r.expire(29_999);
    expect(r.pending).toBe(2);
    expect(r.deadline).toBe(30_000);
    r.expire(30_000); // the timer started at the first fragment and was not extended
    expect(r.pending).toBe(1);
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]!.family).toBe(4);
    expect(Array.from(timedOut[0]!.first)).toEqual(Array.from(a[0]!));
    expect(dropped()).toBe(2);
    expect(r.deadline).toBe(35_000);
    r.expire(35_000);
    expect(timedOut).toHaveLength(1);
    expect(r.pending).toBe(0);
    expect(r.deadline).toBe(Infinity);
  });

  it("holds at most maxReassemblies datagrams, evicting the least recently used", () => {
    const { r, add, dropped } = setup({ maxReassemblies: 4 });
    const originals = [1, 2, 3, 4, 5].map((id) => udp({ payload: pattern(3000, id) }));
    const sets = originals.map((o, i) => fragment(o, 1024, i + 1));
    for (const s of sets.slice(0, 4)) add(s[0]!);
    add(sets[0]![1]!); // touches datagram 1: datagram 2 is now the oldest
    add(sets[4]![0]!); // evicts datagram 2
    expect(r.pending).toBe(4);
    expect(dropped()).toBe(1);
    expect(add(sets[0]![1]!.slice())).toBeUndefined(); // duplicate; 1 is alive
    expect(add(sets[1]![1]!)).toBeUndefined(); // 2 starts over without its first fragment
    expectSameDatagram(add(sets[0]![2]!), originals[0]!); // 1 completes
  });

  it("bounds the fragments of one datagram", () => {
    const { add, dropped, counters } = setup();
    for (let i = 0; i <= MAX_FRAGMENTS_PER_DATAGRAM; i++) add(rawFragment(4, i * 8, pattern(8), true));
    expect(dropped()).toBe(MAX_FRAGMENTS_PER_DATAGRAM + 1);
    expect(counters.reassembled).toBe(0);
  });

  it("with maxReassemblies 0 drops every fragment", () => {
    const { add, dropped, r } = setup({ maxReassemblies: 0 });
    expect(add(fragment(udp({ payload: pattern(2000) }), 1024)[0]!)).toBeUndefined();
    expect(dropped()).toBe(1);
    expect(r.pending).toBe(0);
  });
});

describe("reassembly in the engine", () => {
  it.each([4, 6] as const)("sends ICMP time exceeded (code 1) quoting the first fragment on timeout (IPv%i)", (family) => {
    const { engine, cap, clock } = engineFixture();
    const frags = fragment(udp({ family, src: family === 4 ? "198.51.100.3" : "2001:db8::3", payload: pattern(3000) }), 1024);
    engine.l3Rx(cap, frags[0]!);
    engine.l3Rx(cap, frags[2]!);
    const deadline = engine.l4Poll(cap);
    expect(deadline).toBe(30_000);
    clock.set(30_000);
    expect(engine.l4Poll(cap)).toBeUndefined();
    const [p] = cap.take();
    expect(p).toMatchObject({ dst: family === 4 ? "198.51.100.3" : "2001:db8::3", src: family === 4 ? "10.0.0.1" : "fd00::1", checksumOk: true });
    expect(p!.icmp).toMatchObject({ type: family === 4 ? 11 : 3, code: 1 });
    expect(Array.from(p!.icmp!.data)).toEqual(Array.from(frags[0]!.subarray(0, p!.icmp!.data.length)));
    expect(p!.icmp!.data.length).toBe(Math.min(frags[0]!.length, family === 4 ? 548 : 1232));
  });

  it("sends nothing on timeout when the first fragment never came", () => {
    const { engine, cap, clock } = engineFixture();
    const frags = fragment(udp({ payload: pattern(3000) }), 1024);
    engine.l3Rx(cap, frags[1]!);
    clock.set(60_000);
    engine.l4Poll(cap);
    expect(cap.sent).toHaveLength(0);
    expect(engine.stats().drops.fragment_invalid).toBe(1);
  });
});
