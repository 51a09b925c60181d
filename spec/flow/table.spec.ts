import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FlowRecord } from "../../lib/flow/flow.js";
import { FlowTable } from "../../lib/flow/table.js";

const OWNER = {};

interface Key {
  protocol: "tcp" | "udp";
  family: 4 | 6;
  remote: number[]; // 4 or 16 bytes
  local: number[];
  remotePort: number;
  localPort: number;
}

function record(k: Key): FlowRecord {
  const addr = new Uint8Array(32);
  addr.set(k.remote, 0);
  addr.set(k.local, 16);
  return new FlowRecord(OWNER, k.protocol, k.family, addr, "r", k.remotePort, "l", k.localPort, false);
}

function keyString(k: Key): string {
  return `${k.protocol}|${k.family}|${k.remote.join(".")}|${k.local.join(".")}|${k.remotePort}|${k.localPort}`;
}

/** Look a key up the way the engine does: from a packet-like buffer, source = remote. */
function lookup(t: FlowTable, k: Key, pad = 3): FlowRecord | undefined {
  const n = k.family === 4 ? 4 : 16;
  const bytes = new Uint8Array(pad + 2 * n + 5).fill(0xee);
  bytes.set(k.remote, pad);
  bytes.set(k.local, pad + n);
  return t.lookup(k.family, k.protocol === "tcp" ? 6 : 17, bytes, pad, pad + n, k.remotePort, k.localPort);
}

// A small key space, so inserts collide with existing keys and probe runs get long.
const keyArb: fc.Arbitrary<Key> = fc
  .record({
    protocol: fc.constantFrom("tcp" as const, "udp" as const),
    family: fc.constantFrom(4 as const, 6 as const),
    r: fc.nat(3),
    l: fc.nat(3),
    remotePort: fc.integer({ min: 1, max: 6 }),
    localPort: fc.constantFrom(80, 443),
  })
  .map(({ protocol, family, r, l, remotePort, localPort }) => {
    const n = family === 4 ? 4 : 16;
    const remote = new Array<number>(n).fill(0);
    const local = new Array<number>(n).fill(0);
    remote[0] = 10;
    remote[n - 1] = r;
    local[0] = 10;
    local[n - 1] = 100 + l;
    return { protocol, family, remote, local, remotePort, localPort };
  });

/** IPv4 TCP key number `i` (unique for i < 2^24). */
function v4Key(i: number): Key {
  return { protocol: "tcp", family: 4, remote: [10, (i >> 16) & 255, (i >> 8) & 255, i & 255], local: [10, 0, 0, 1], remotePort: 40000, localPort: 80 };
}

describe("FlowTable", () => {
  it("finds an inserted flow from packet bytes at any offset, and not its reverse", () => {
    const t = new FlowTable(16, 1);
    const k: Key = {
      protocol: "tcp",
      family: 4,
      remote: [10, 0, 0, 2],
      local: [10, 0, 0, 1],
      remotePort: 40000,
      localPort: 80,
    };
    const f = record(k);
    expect(t.insert(f)).toBe(true);
    expect(t.size).toBe(1);
    expect(lookup(t, k, 0)).toBe(f);
    expect(lookup(t, k, 7)).toBe(f);
    const reversed: Key = { ...k, remote: k.local, local: k.remote, remotePort: 80, localPort: 40000 };
    expect(lookup(t, reversed)).toBeUndefined();
    expect(lookup(t, { ...k, protocol: "udp" })).toBeUndefined();
  });

  it("keeps IPv4 and IPv6 keys apart even when the bytes agree", () => {
    const t = new FlowTable();
    const v4: Key = { protocol: "udp", family: 4, remote: [0, 0, 0, 0], local: [0, 0, 0, 0], remotePort: 1, localPort: 2 };
    const v6: Key = { ...v4, family: 6, remote: new Array(16).fill(0), local: new Array(16).fill(0) };
    const a = record(v4);
    const b = record(v6);
    expect(t.insert(a)).toBe(true);
    expect(t.insert(b)).toBe(true);
    expect(lookup(t, v4)).toBe(a);
    expect(lookup(t, v6)).toBe(b);
  });

  it("refuses a duplicate 5-tuple and removes by identity", () => {
    const t = new FlowTable();
    const k: Key = { protocol: "tcp", family: 6, remote: new Array(16).fill(1), local: new Array(16).fill(2), remotePort: 5, localPort: 6 };
    const a = record(k);
    const b = record(k);
    expect(t.insert(a)).toBe(true);
    expect(t.insert(b)).toBe(false);
    expect(t.remove(b)).toBe(false);
    expect(t.remove(a)).toBe(true);
    expect(t.remove(a)).toBe(false);
    expect(t.size).toBe(0);
    expect(lookup(t, k)).toBeUndefined();
  });

  it("grows past its initial capacity and keeps every flow reachable", () => {
    const t = new FlowTable(16, 42);
    const flows: [Key, FlowRecord][] = [];
    for (let i = 0; i < 5000; i++) {
      const k: Key = {
        protocol: i % 2 ? "tcp" : "udp",
        family: 4,
        remote: [10, (i >> 16) & 255, (i >> 8) & 255, i & 255],
        local: [192, 0, 2, 1],
        remotePort: 1024 + (i % 7),
        localPort: 80,
      };
      const f = record(k);
      expect(t.insert(f)).toBe(true);
      flows.push([k, f]);
    }
    expect(t.size).toBe(5000);
    for (const [k, f] of flows) expect(lookup(t, k)).toBe(f);
    // Delete every other one; the rest stay reachable.
    flows.forEach(([, f], i) => {
      if (i % 2 === 0) expect(t.remove(f)).toBe(true);
    });
    flows.forEach(([k, f], i) => expect(lookup(t, k)).toBe(i % 2 === 0 ? undefined : f));
    expect(t.flows().length).toBe(2500);
  });

  it("agrees with a Map model under random inserts, removes and lookups (many deletions)", () => {
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("insert" as const), key: keyArb }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("remove" as const), key: keyArb }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("lookup" as const), key: keyArb }) },
    );
    fc.assert(
      fc.property(fc.integer(), fc.array(op, { maxLength: 400 }), (seed, ops) => {
        const t = new FlowTable(16, seed);
        const model = new Map<string, FlowRecord>();
        for (const o of ops) {
          const s = keyString(o.key);
          if (o.kind === "insert") {
            const f = record(o.key);
            expect(t.insert(f)).toBe(!model.has(s));
            if (!model.has(s)) model.set(s, f);
          } else if (o.kind === "remove") {
            const f = model.get(s);
            if (f !== undefined) {
              expect(t.remove(f)).toBe(true);
              model.delete(s);
            } else {
              expect(t.remove(record(o.key))).toBe(false);
            }
          } else {
            expect(lookup(t, o.key)).toBe(model.get(s));
          }
          expect(t.size).toBe(model.size);
        }
        // Everything in the model is still found after all the shifting.
        for (const f of model.values()) {
          const k: Key = {
            protocol: f.protocol,
            family: f.family,
            remote: Array.from(f.addr.subarray(0, f.family === 4 ? 4 : 16)),
            local: Array.from(f.addr.subarray(16, f.family === 4 ? 20 : 32)),
            remotePort: f.remotePort,
            localPort: f.localPort,
          };
          expect(lookup(t, k)).toBe(f);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("survives heavy churn at a steady size (backward-shift deletion leaves no debris)", () => {
    const t = new FlowTable(16, 7);
    const live: [Key, FlowRecord][] = [];
    let next = 0;
    const mk = (): Key => {
      const i = next++;
      return {
        protocol: "tcp",
        family: 6,
        remote: [0xfd, ...new Array(11).fill(0), (i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255],
        local: [0xfd, ...new Array(14).fill(0), 1],
        remotePort: 1 + (i % 60000),
        localPort: 443,
      };
    };
    for (let i = 0; i < 200; i++) {
      const k = mk();
      const f = record(k);
      t.insert(f);
      live.push([k, f]);
    }
    for (let round = 0; round < 20000; round++) {
      const victim = live.splice(round % live.length, 1)[0]!;
      expect(t.remove(victim[1])).toBe(true);
      const k = mk();
      const f = record(k);
      expect(t.insert(f)).toBe(true);
      live.push([k, f]);
    }
    expect(t.size).toBe(200);
    for (const [k, f] of live) expect(lookup(t, k)).toBe(f);
  });
  it("halves once flows go away, never below its initial capacity, and keeps the rest reachable", () => {
    const t = new FlowTable(64, 3);
    expect(t.slots).toBe(64);
    const all: [Key, FlowRecord][] = [];
    for (let i = 0; i < 100_000; i++) {
      const k = v4Key(i);
      const f = record(k);
      t.insert(f);
      all.push([k, f]);
    }
    // Grown to hold them below MAX_LOAD (0.625): 100,000 / 0.625 = 160,000 -> 262,144.
    expect(t.slots).toBe(262_144);
    let failed = 0;
    for (let i = 1000; i < all.length; i++) if (!t.remove(all[i]![1])) failed++;
    expect(failed).toBe(0);
    // 1,000 left: halved each time fewer than 1/4 of the slots were in use, down to 2,048 (1,000 >= 512).
    expect(t.size).toBe(1000);
    expect(t.slots).toBe(2048);
    for (let i = 0; i < all.length; i++) if (lookup(t, all[i]![0]) !== (i < 1000 ? all[i]![1] : undefined)) failed++;
    expect(failed).toBe(0);
    for (let i = 0; i < 1000; i++) t.remove(all[i]![1]);
    expect(t.size).toBe(0);
    expect(t.slots).toBe(64);
    // And it still works from empty.
    const f = record(all[5]![0]);
    expect(t.insert(f)).toBe(true);
    expect(lookup(t, all[5]![0])).toBe(f);
  });

  it("stays bounded and correct through 2 million inserts and removes, growing and shrinking", () => {
    const t = new FlowTable(16, 11);
    // A pool of live flows whose size swings between 0 and 5,000 twenty times.
    const live: [Key, FlowRecord][] = [];
    const OPS = 2_000_000;
    const SWING = 100_000;
    let next = 0;
    let maxSlots = 0;
    let resizes = 0;
    let lastSlots = t.slots;
    const problems: string[] = [];
    for (let r = 0; r < OPS; r++) {
      const want = Math.round(2500 - 2500 * Math.cos((r / SWING) * Math.PI * 2));
      if (live.length < want || live.length === 0) {
        const k = v4Key(next++);
        const f = record(k);
        if (!t.insert(f)) problems.push(`op ${r}: insert refused`);
        live.push([k, f]);
      } else {
        // Remove from anywhere in the pool, not only the oldest.
        const at = (r * 2654435761) % live.length;
        const victim = live[at]!;
        live[at] = live[live.length - 1]!;
        live.pop();
        if (!t.remove(victim[1])) problems.push(`op ${r}: remove missed`);
      }
      const slots = t.slots;
      if (slots !== lastSlots) {
        resizes++;
        lastSlots = slots;
      }
      maxSlots = Math.max(maxSlots, slots);
      // Between MIN_LOAD (1/4) and MAX_LOAD (0.625) of the slots in use, or at the initial 16.
      if (t.size > slots * 0.625 || (slots > 16 && t.size < slots / 4)) problems.push(`op ${r}: ${t.size} flows in ${slots} slots`);
      if (r % 50_000 === 0) for (const [k, f] of live) if (lookup(t, k) !== f) problems.push(`op ${r}: a live flow not found`);
      if (problems.length > 5) break;
    }
    expect(problems).toEqual([]);
    expect(t.size).toBe(live.length);
    for (const [k, f] of live) if (lookup(t, k) !== f) problems.push("a live flow not found at the end");
    expect(problems).toEqual([]);
    // A million inserts and about as many removes.
    expect(next).toBeGreaterThanOrEqual(OPS / 2 - 5000);
    // 5,000 flows at most: 5,000 / 0.625 = 8,000 -> 8,192 slots, however many went through.
    expect(maxSlots).toBe(8192);
    // Twenty swings, each growing the table from 16 to 8,192 and back (9 doublings, 9 halvings).
    expect(resizes).toBe(20 * 18);
  });
});
