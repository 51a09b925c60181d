/**
 * The wire robustness run (spec/wire/robustness.spec.ts, and spec/random-seed.spec.ts with a fresh
 * seed): random and mutated byte strings through every parser and describe(); see the spec for what
 * is checked. Seeded xorshift (fast-check is too slow for a million cases).
 */
import { expect } from "vitest";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { fragmentHeader, hex, icmp4, icmp6, optionsHeader, tcp4, tcp6, udp4, udp6 } from "./builders.js";
import { exerciseWithCanaries, reached, refreshChecksums } from "./exercise.js";
import * as captures from "./fixtures/linux-captures.js";

/** xorshift128, seeded through splitmix32: fast, and the same sequence for the same seed. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split() || 1;
    this.b = split();
    this.c = split();
    this.d = split();
  }
  next(): number {
    let t = this.d;
    const s = this.a;
    this.d = this.c;
    this.c = this.b;
    this.b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.a = t ^ s ^ (s >>> 19);
    return this.a >>> 0;
  }
  /** Uniform-ish in [0, n). */
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

// ---- the corpus: real captures plus built packets covering every layer and option ----
function corpus(): Uint8Array[] {
  const out: Uint8Array[] = Object.values(captures);
  const payload = Uint8Array.from({ length: 100 }, (_, i) => i);
  const full = { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: 0x12, window: 5, mss: 1460, sackPermitted: true, ts: [6, 7] as const, windowScale: 7 };
  out.push(tcp4("10.0.0.1", "10.0.0.2", full));
  out.push(tcp4("10.0.0.1", "10.0.0.2", { flags: 0x18, ts: [1, 2], sack: [[1, 2], [3, 4], [5, 6]], payload }));
  out.push(tcp4("10.0.0.1", "10.0.0.2", { flags: 0x10, sack: [[1, 2], [3, 4], [5, 6], [7, 8]] }));
  out.push(
    tcp6("2001:db8::1", "2001:db8::2", full, [
      { type: IpProtocol.HOP_BY_HOP, bytes: optionsHeader(8) },
      { type: IpProtocol.IPV6_DEST_OPTS, bytes: optionsHeader(16) },
    ]),
  );
  out.push(tcp6("2001:db8::1", "2001:db8::2", { flags: 0x02 }, [{ type: IpProtocol.IPV6_FRAGMENT, bytes: fragmentHeader(0, false, 9) }]));
  out.push(udp4("10.0.0.1", "10.0.0.2", 53, 5353, payload));
  out.push(udp6("2001:db8::1", "2001:db8::2", 53, 5353, payload, [{ type: IpProtocol.IPV6_ROUTING, bytes: optionsHeader(24) }]));
  out.push(icmp4("10.0.0.1", "10.0.0.2", 3, 4, 1280, tcp4("10.0.0.2", "10.0.0.3", full).subarray(0, 48)));
  out.push(icmp4("10.0.0.1", "10.0.0.2", 11, 0, 0, udp4("10.0.0.2", "10.0.0.3", 1, 2, payload)));
  out.push(icmp6("2001:db8::1", "2001:db8::2", 2, 0, 1280, tcp6("2001:db8::2", "2001:db8::3", full)));
  out.push(icmp6("2001:db8::1", "2001:db8::2", 1, 4, 0, udp6("2001:db8::2", "2001:db8::3", 1, 2, payload)));
  out.push(icmp4("10.0.0.3", "10.0.0.1", 3, 3, 0, icmp4("10.0.0.1", "10.0.0.2", 3, 1, 0, udp4("10.0.0.2", "10.0.0.9", 1, 2, payload))));
  return out;
}

// ---- mutations ----
const MAX_PACKET = 2048;
const PAD = 8;
const TAIL = 64;

function mutate(rng: Rng, b: Uint8Array, off: number, len: number): number {
  const steps = 1 + rng.below(4);
  for (let s = 0; s < steps; s++) {
    const l4 = len > 0 && b[off]! >> 4 === 6 ? 40 : len > 0 ? (b[off]! & 15) * 4 : 20;
    switch (rng.below(9)) {
      case 0: // flip a bit
        if (len > 0) b[off + rng.below(len)]! ^= 1 << rng.below(8);
        break;
      case 1: // a random byte
        if (len > 0) b[off + rng.below(len)] = rng.below(256);
        break;
      case 2: // truncate
        len = rng.below(len + 1);
        break;
      case 3: {
        // extend with random bytes
        const more = Math.min(1 + rng.below(64), MAX_PACKET - len);
        for (let i = 0; i < more; i++) b[off + len + i] = rng.next();
        len += more;
        break;
      }
      case 4: {
        // an IP length field: IPv4 total length / IHL, IPv6 payload length
        if (len < 6) break;
        const which = rng.below(3);
        const value = rng.below(2) === 0 ? rng.below(0x10000) : Math.max(0, len - 40 + rng.below(80) - 40);
        if (which === 2) b[off] = (b[off]! & 0xf0) | rng.below(16);
        else {
          b[off + 2 + which * 2] = value >> 8;
          b[off + 3 + which * 2] = value;
        }
        break;
      }
      case 5: // a next header / protocol byte
        if (len > 9) b[off + (b[off]! >> 4 === 6 ? 6 : 9)] = [0, 1, 6, 17, 43, 44, 50, 51, 58, 59, 60, rng.below(256)][rng.below(12)]!;
        break;
      case 6: // a TCP data offset or UDP length
        if (l4 + 13 < len) {
          if (rng.below(2) === 0) b[off + l4 + 12] = rng.below(16) << 4;
          else {
            const value = rng.below(len);
            b[off + l4 + 4] = value >> 8;
            b[off + l4 + 5] = value;
          }
        }
        break;
      case 7: // a TCP option length byte or an IPv6 extension header length byte
        if (len > l4 + 21) b[off + l4 + 20 + rng.below(Math.min(40, len - l4 - 20))] = rng.below(3) === 0 ? rng.below(256) : rng.below(12);
        if (len > 48 && rng.below(2) === 0) b[off + 41 + 8 * rng.below(3)] = rng.below(8);
        break;
      case 8: // the quoted packet's lengths inside an ICMP error
        if (len > l4 + 12) {
          const value = rng.below(0x10000);
          b[off + l4 + 8 + 2 + (b[off]! >> 4 === 6 ? 2 : 0)] = value >> 8;
          b[off + l4 + 8 + 3 + (b[off]! >> 4 === 6 ? 2 : 0)] = value;
        }
        break;
    }
  }
  return len;
}

/**
 * The mutations must reach every layer, checksums verified, in a fair share of the cases: at least
 * 1 case in 1000 (the fixed seed reaches each at least 1 in 20), and at least once however few cases.
 */
export function expectEveryLayerReached(reached: Record<string, number>, cases: number): void {
  for (const [layer, n] of Object.entries(reached)) expect(n, layer).toBeGreaterThanOrEqual(Math.max(1, cases / 1000));
}

export interface RobustnessResult {
  /** The first few cases that broke a rule (empty: none). */
  failures: string[];
  /** Cases in which each layer parsed as Drop.OK (with verified checksums, for the *Verified ones). */
  reached: Record<keyof typeof reached, number>;
  seconds: number;
}

/** Run `cases` cases from `seed`. Not reentrant (the parsers and counters are shared). */
export function robustnessRun(seed: number, cases: number): RobustnessResult {
  for (const k of Object.keys(reached) as (keyof typeof reached)[]) reached[k] = 0;
  const started = process.hrtime.bigint();
  const rng = new Rng(seed);
  const pool = corpus();
  const buf = new Uint8Array(PAD + MAX_PACKET + TAIL);
  const failures: string[] = [];
  for (let i = 0; i < cases && failures.length < 5; i++) {
    const off = rng.below(PAD);
    let len: number;
    if (rng.below(10) === 0) {
      // Pure noise, its first nibble often a plausible IP version.
      len = rng.below(130);
      for (let k = 0; k < len; k++) buf[off + k] = rng.next();
      if (len > 0 && rng.below(2) === 0) buf[off] = (rng.below(2) === 0 ? 0x45 : 0x60) | (buf[off]! & 0x0f & (rng.below(2) === 0 ? 0 : 0x0f));
    } else {
      const src = pool[rng.below(pool.length)]!;
      buf.set(src, off);
      len = mutate(rng, buf, off, src.length);
      if (rng.below(2) === 0) refreshChecksums(buf, off, len);
    }
    const canary = rng.below(256);
    try {
      // Every other case is run a second time with different bytes around the packet.
      const problem = exerciseWithCanaries(buf, off, len, canary, (i & 1) === 0);
      if (problem !== "") failures.push(`case ${i}: ${problem}: ${hex(buf.subarray(off, off + len))} (offset ${off})`);
    } catch (e) {
      failures.push(`case ${i}: threw ${String(e)}: ${hex(buf.subarray(off, off + len))} (offset ${off})`);
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { failures, reached: { ...reached }, seconds };
}
