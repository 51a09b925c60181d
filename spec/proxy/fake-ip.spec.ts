/** The fake-IP table (lib/proxy/fake-ip.ts): stable per name, bounded, least recently used out unless in use. */
import { describe, expect, it } from "vitest";
import { FakeIpPool } from "../../lib/proxy/fake-ip.js";
import { parseCidr } from "../../lib/proxy/options.js";

const pool = (max: number, v4 = "198.18.0.0/15", v6 = "fc00::/18") => new FakeIpPool(parseCidr(v4), parseCidr(v6), max);

describe("FakeIpPool", () => {
  it("gives a name one IPv4 and one IPv6 address in the ranges, the same every time", () => {
    const p = pool(100);
    const a = p.lookup("Example.COM.")!;
    expect(a).toMatchObject({ name: "example.com", v4: "198.18.0.1", v6: "fc00::1" });
    expect(p.lookup("example.com")).toBe(a);
    const b = p.lookup("other.test")!;
    expect(b.v4).toBe("198.18.0.2");
    expect(b.v6).toBe("fc00::2");
    expect(p.byAddress("198.18.0.1", 4)).toBe(a);
    expect(p.byAddress("fc00::2", 6)).toBe(b);
  });

  it("knows which addresses are its own, and has no name for one it never gave out", () => {
    const p = pool(100);
    p.lookup("a.test");
    expect(p.contains("198.18.0.1", 4)).toBe(true);
    expect(p.contains("198.18.0.50", 4)).toBe(true);
    expect(p.byAddress("198.18.0.50", 4)).toBeUndefined();
    expect(p.contains("198.18.0.0", 4)).toBe(false); // the network address is never given out
    expect(p.contains("198.17.255.255", 4)).toBe(false);
    expect(p.contains("10.0.0.1", 4)).toBe(false);
    expect(p.contains("fd00::1", 6)).toBe(false);
    expect(p.contains("not an address", 4)).toBe(false);
  });

  it("is bounded: a new name past capacity takes the least recently used name's address", () => {
    const p = pool(3);
    const [a, b, c] = ["a.test", "b.test", "c.test"].map((n) => p.lookup(n)!);
    p.lookup("a.test"); // a is now the most recently used; b the least
    const d = p.lookup("d.test")!;
    expect(p.size).toBe(3);
    expect(d.v4).toBe(b!.v4);
    expect(p.byAddress(b!.v4, 4)).toBe(d);
    expect(p.lookup("a.test")).toBe(a);
    expect(p.lookup("c.test")).toBe(c);
  });

  it("never re-points an address a live flow uses: such names are skipped, and a table full of them refuses", () => {
    const p = pool(2);
    const a = p.lookup("a.test")!;
    const b = p.lookup("b.test")!;
    a.users = 1;
    const c = p.lookup("c.test")!;
    expect(c.v4).toBe(b.v4); // b was free to go; a was in use
    expect(p.byAddress(a.v4, 4)).toBe(a);
    c.users = 1;
    expect(p.lookup("d.test")).toBeUndefined();
    a.users = 0;
    expect(p.lookup("d.test")!.v4).toBe(a.v4);
  });

  it("holds no more names than the smaller range has addresses", () => {
    const p = pool(1000, "198.18.0.0/29");
    expect(p.capacity).toBe(6);
    for (let i = 0; i < 50; i++) p.lookup(`n${i}.test`);
    expect(p.size).toBe(6);
    const addresses = new Set<string>();
    for (let i = 44; i < 50; i++) addresses.add(p.lookup(`n${i}.test`)!.v4);
    expect(addresses.size).toBe(6);
    for (const a of addresses) expect(a).toMatch(/^198\.18\.0\.[1-6]$/);
  });
});
