import { describe, expect, it } from "vitest";
import type { Callbacks, Flow } from "../../lib/api.js";
import { combineTaps, hexSummary, pcapTap, tapCallbacks, traceTap, type PacketDirection } from "../../lib/debug/tap.js";
import { PcapWriter, readPcap } from "../../lib/debug/pcap.js";
import { MemoryLink } from "../../lib/debug/link.js";
import { FAKE_FLOW } from "./fake-endpoint.js";

function seenBy(): { seen: [PacketDirection, number[]][]; tap: (d: PacketDirection, p: Uint8Array) => void } {
  const seen: [PacketDirection, number[]][] = [];
  return { seen, tap: (d, p) => seen.push([d, [...p]]) };
}

describe("tapCallbacks", () => {
  it("shows each outgoing packet (its first `length` bytes) before it is sent", () => {
    const link = new MemoryLink();
    const atB: number[][] = [];
    link.attachScript("b", (p) => atB.push([...p]));
    const { seen, tap } = seenBy();
    const cb = tapCallbacks(link.callbacks("a"), tap);
    const slot = cb.l3TxBuffer(4)!;
    cb.l3TxBufferMut(slot).set([9, 8, 7, 6, 5]);
    cb.l3Tx(slot, 4);
    cb.rx(Uint8Array.of(1, 2));
    expect(seen).toEqual([
      ["out", [9, 8, 7, 6]],
      ["in", [1, 2]],
    ]);
    link.runUntil(() => link.inFlight === 0);
    expect(atB).toEqual([[9, 8, 7, 6]]);
  });

  it("passes l4 calls through and keeps optional callbacks absent when the inner ones are", () => {
    const calls: string[] = [];
    const minimal: Callbacks<string> = {
      l3TxBuffer: (size) => `buf${size}`,
      l3TxBufferMut: () => new Uint8Array(8),
      l3Tx: (b, n) => calls.push(`tx ${b} ${n}`),
      l4Rx: (_f: Flow, d) => calls.push(`rx ${d === null ? "null" : d.length}`),
    };
    const t = tapCallbacks(minimal, () => {});
    expect(t.l4Accept).toBeUndefined();
    expect(t.l4TxReady).toBeUndefined();
    expect(t.l4RemoteClosed).toBeUndefined();
    expect(t.l3TxBuffer(3)).toBe("buf3");
    t.l3Tx("buf3", 3);
    t.l4Rx(FAKE_FLOW, null);
    expect(calls).toEqual(["tx buf3 3", "rx null"]);

    const full: Callbacks<string> = {
      ...minimal,
      l4Accept: () => (calls.push("accept"), false),
      l4TxReady: () => calls.push("ready"),
      l4RemoteClosed: () => calls.push("closed"),
    };
    const u = tapCallbacks(full, () => {});
    expect(u.l4Accept!(FAKE_FLOW)).toBe(false);
    u.l4TxReady!(FAKE_FLOW);
    u.l4RemoteClosed!(FAKE_FLOW);
    expect(calls.slice(2)).toEqual(["accept", "ready", "closed"]);
  });
});

describe("taps", () => {
  it("traceTap prints one line per packet with an injected formatter and clock", () => {
    const lines: string[] = [];
    const tap = traceTap({ format: (p) => `len ${p.length}`, write: (l) => lines.push(l), now: () => 12.5 });
    tap("out", new Uint8Array(3));
    tap("in", new Uint8Array(7));
    expect(lines).toEqual(["12.500 out len 3", "12.500 in  len 7"]);
  });

  it("hexSummary is the default formatter", () => {
    expect(hexSummary(Uint8Array.of(0x45, 0, 0x1f))).toBe("3 bytes: 45 00 1f");
    expect(hexSummary(new Uint8Array(20), 2)).toBe("20 bytes: 00 00 ...");
    const lines: string[] = [];
    traceTap({ write: (l) => lines.push(l) })("in", Uint8Array.of(0x60));
    expect(lines).toEqual(["in  1 bytes: 60"]);
  });

  it("pcapTap records both directions on the given clock; combineTaps feeds several", () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ write: (b) => chunks.push(b.slice()) });
    let now = 0;
    const { seen, tap } = seenBy();
    const both = combineTaps(pcapTap(w, () => now), tap);
    both("out", Uint8Array.of(0x45, 1));
    now = 3000;
    both("in", Uint8Array.of(0x60, 2, 3));
    w.close();
    const file = readPcap(chunks[0]!)!;
    expect(file.records.map((r) => [r.seconds, [...r.packet]])).toEqual([
      [0, [0x45, 1]],
      [3, [0x60, 2, 3]],
    ]);
    expect(seen.map(([d]) => d)).toEqual(["out", "in"]);
  });
});
