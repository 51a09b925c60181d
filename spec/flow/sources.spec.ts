/** FlowsPerSource alone (lib/flow/sources.ts): counts by source, IPv6 by /64, bounded by what it counts. */
import { describe, expect, it } from "vitest";
import { FlowsPerSource } from "../../lib/flow/sources.js";
import { addressBytes } from "../support/packets.js";

const v4 = (s: string) => addressBytes(s);
const v6 = (s: string) => addressBytes(s);

describe("FlowsPerSource", () => {
  it("counts per IPv4 address, full at max, and forgets a source with its last flow", () => {
    const t = new FlowsPerSource(2, 1);
    const a = v4("10.0.0.1");
    const b = v4("10.0.0.2");
    expect(t.full(4, a, 0)).toBe(false);
    t.add(4, a, 0);
    expect(t.full(4, a, 0)).toBe(false);
    t.add(4, a, 0);
    expect(t.full(4, a, 0)).toBe(true);
    expect(t.full(4, b, 0)).toBe(false);
    expect(t.sources).toBe(1);
    t.remove(4, a, 0);
    expect(t.countOf(4, a, 0)).toBe(1);
    t.remove(4, a, 0);
    expect(t.countOf(4, a, 0)).toBe(0);
    expect(t.sources).toBe(0);
    t.remove(4, a, 0); // not counted: nothing happens
    expect(t.sources).toBe(0);
  });

  it("keys IPv6 on the /64: addresses of one /64 share a count, another /64 has its own", () => {
    const t = new FlowsPerSource(3, 1);
    t.add(6, v6("2001:db8:1:2::1"), 0);
    t.add(6, v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 0);
    t.add(6, v6("2001:db8:1:2:ffff::9"), 0);
    expect(t.full(6, v6("2001:db8:1:2::1234"), 0)).toBe(true);
    expect(t.full(6, v6("2001:db8:1:3::1"), 0)).toBe(false);
    expect(t.sources).toBe(1);
    // An IPv4 address whose bytes match the /64's first word is another source.
    expect(t.countOf(4, v4("32.1.13.184"), 0)).toBe(0);
  });

  it("reads the address at an offset", () => {
    const t = new FlowsPerSource(1, 1);
    const packet = new Uint8Array(20);
    packet.set(v4("192.0.2.9"), 12);
    t.add(4, packet, 12);
    expect(t.full(4, v4("192.0.2.9"), 0)).toBe(true);
  });

  it("under churn from many addresses holds only the sources with flows, and halves as they go", () => {
    const t = new FlowsPerSource(4, 7);
    const addr = (i: number) => v4(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const live: number[] = [];
    let peakSlots = 0;
    for (let i = 0; i < 20_000; i++) {
      t.add(4, addr(i), 0);
      live.push(i);
      // At most 100 flows alive at once, each from its own address.
      if (live.length > 100) t.remove(4, addr(live.shift()!), 0);
      expect(t.sources).toBe(live.length);
      peakSlots = Math.max(peakSlots, t.slots);
    }
    expect(peakSlots).toBeLessThanOrEqual(256);
    for (const i of live) expect(t.countOf(4, addr(i), 0)).toBe(1);
    for (const i of live) t.remove(4, addr(i), 0);
    expect(t.sources).toBe(0);
    expect(t.slots).toBe(16);
  });

  it("finds every source after deletions inside probe runs (backward shift)", () => {
    // A small table and many sources: runs are long, and deletions land in their middles.
    const t = new FlowsPerSource(1000, 3);
    const addr = (i: number) => v4(`172.16.${i >> 8}.${i & 255}`);
    for (let i = 0; i < 300; i++) for (let k = 0; k <= i % 3; k++) t.add(4, addr(i), 0);
    for (let i = 0; i < 300; i += 2) for (let k = 0; k <= i % 3; k++) t.remove(4, addr(i), 0);
    for (let i = 0; i < 300; i++) expect(t.countOf(4, addr(i), 0)).toBe(i % 2 === 0 ? 0 : (i % 3) + 1);
    expect(t.sources).toBe(150);
  });
});
