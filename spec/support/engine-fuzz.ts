/**
 * The engine fuzz: random and corrupted packets into l3Rx (with time passing and application
 * writes in between): nothing throws, every packet is counted, the flow count stays bounded, and
 * the engine still works afterwards. spec/engine/fuzz.spec.ts runs it with a fixed seed,
 * spec/random-seed.spec.ts with a fresh one.
 */
import { expect } from "vitest";
import type { Flow } from "../../lib/api.js";
import { engineFixture, type EngineFixture } from "./engine-fixture.js";
import { Flag } from "./oracle/numbers.js";
import { fragment, icmp, icmpEcho, tcp, udp } from "./packets.js";

export const MAX_FLOWS = 300;

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function corpus(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const payload = new Uint8Array(3000).map((_, i) => i & 255);
  for (const family of [4, 6] as const) {
    const a = family === 4 ? { src: "10.1.0.2", dst: "10.2.0.1" } : { src: "fd00:1::2", dst: "fd00:2::1" };
    for (const flags of ["S", "SA", "A", "PA", "FA", "R", "RA", "F", ""]) {
      out.push(tcp({ ...a, flags, seq: 7, ack: 9, payload: flags.includes("P") ? "data" : "" }));
    }
    out.push(tcp({ ...a, flags: "S", options: { mss: 1460, windowScale: 7, sackPermitted: true, timestamps: [1, 0] } }));
    out.push(tcp({ ...a, flags: "A", options: { timestamps: [5, 6], sack: [[1, 2], [3, 4]] }, payload: "x" }));
    out.push(udp({ ...a, payload: "hello" }));
    out.push(udp({ ...a, srcPort: 1, dstPort: 2, payload: new Uint8Array(0) }));
    out.push(icmpEcho({ ...a, data: "ping" }));
    const quoted = tcp({ src: a.dst, dst: a.src, srcPort: 80, dstPort: 40000, flags: "A" });
    out.push(icmp({ ...a, type: family === 4 ? 3 : 1, code: family === 4 ? 4 : 4, rest: 1200, data: quoted }));
    out.push(icmp({ ...a, type: family === 4 ? 11 : 2, rest: 1300, data: quoted }));
    out.push(...fragment(udp({ ...a, payload }), 1024));
    out.push(...fragment(icmpEcho({ ...a, data: payload }), 512));
  }
  return out;
}

function mutate(r: () => number, base: Uint8Array): Uint8Array {
  let p = base.slice();
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const what = r();
    if (what < 0.7 && p.length > 0) {
      // Flip a byte, favouring the headers where the parsing happens.
      const at = Math.floor(r() * Math.min(p.length, r() < 0.8 ? 64 : p.length));
      p[at] = Math.floor(r() * 256);
    } else if (what < 0.85) {
      p = p.subarray(0, Math.floor(r() * p.length));
    } else {
      const q = new Uint8Array(p.length + Math.floor(r() * 20));
      q.set(p);
      for (let k = p.length; k < q.length; k++) q[k] = Math.floor(r() * 256);
      p = q;
    }
  }
  return p;
}

/** Open UDP flows until the table is full; returns how many packets that took. */
function fillFlowTable(engine: EngineFixture["engine"], cap: EngineFixture["cap"]): number {
  let port = 1;
  for (; engine.flowCount < MAX_FLOWS && port < 65536; port++) {
    engine.l3Rx(cap, udp({ src: "198.18.0.1", dst: "198.18.0.2", srcPort: port, dstPort: 9, payload: "fill" }));
  }
  expect(engine.flowCount).toBe(MAX_FLOWS);
  return port - 1;
}

export interface FuzzResult {
  packets: number;
  /** Flows each engine accepted. */
  flowsSeen: number[];
  /** Whether each engine's flow table filled up at some point. */
  full: boolean[];
}

/** Fuzz two engines (one at MTU 1280, one not verifying checksums) with `packets` packets from `seed`. */
export function fuzzEngine(seed: number, packets: number): FuzzResult {
  const r = rng(seed);
  const engines = [
    engineFixture((b) => b.maxFlows(MAX_FLOWS).mtu(1280)),
    engineFixture((b) => b.maxFlows(MAX_FLOWS).verifyChecksums(false)),
  ];
  for (const fx of engines) fx.cap.acceptIf(() => true);
  const peak = [0, 0];
  let fillPackets = 0;
  const base = corpus();
  const flows: Flow[] = [];
  for (let i = 0; i < packets; i++) {
    const fx = engines[i & 1]!;
    // Half way through, fill each flow table up (UDP flows from fresh ports), so the rest of the
    // fuzz meets a full table, and the checks at the end follow one.
    if (i === packets >> 1 || i === (packets >> 1) + 1) fillPackets += fillFlowTable(fx.engine, fx.cap);
    const pick = r();
    let pkt: Uint8Array;
    if (pick < 0.1) {
      pkt = new Uint8Array(Math.floor(r() * 120)).map(() => Math.floor(r() * 256));
      if (pkt.length > 0 && r() < 0.7) pkt[0] = r() < 0.5 ? 0x45 : 0x60;
    } else if (pick < 0.75) {
      pkt = mutate(r, base[Math.floor(r() * base.length)]!);
    } else {
      pkt = base[Math.floor(r() * base.length)]!.slice();
      // New ports so fresh flows appear.
      const l4 = pkt[0]! >> 4 === 4 ? 20 : 40;
      if (pkt.length > l4 + 2) pkt[l4] = Math.floor(r() * 256);
    }
    let flow: Flow | undefined;
    try {
      flow = fx.engine.l3Rx(fx.cap, pkt);
      if (flow !== undefined && r() < 0.05) flows.push(flow);
      if (r() < 0.01) {
        fx.clock.advance(Math.floor(r() * 20_000));
        fx.engine.l4Poll(fx.cap);
      }
      if (flows.length > 0 && r() < 0.01) {
        const f = flows[Math.floor(r() * flows.length)]!;
        const e = engines.find((x) => x.engine.l4State(f) !== undefined)?.engine;
        if (e !== undefined) e.l4Tx(fx.cap, f, new Uint8Array(Math.floor(r() * 3000)));
      }
    } catch (err) {
      throw new Error(`packet ${i} (seed ${seed}) threw: ${String(err)}\n${Buffer.from(pkt).toString("hex")}`);
    }
    if (fx.cap.sent.length > 64) fx.cap.sent.length = 0;
    if (fx.cap.rx.length > 64) fx.cap.rx.length = 0;
    expect(fx.engine.flowCount).toBeLessThanOrEqual(MAX_FLOWS);
    peak[i & 1] = Math.max(peak[i & 1]!, fx.engine.flowCount);
  }
  const total = engines.reduce((n, fx) => n + fx.engine.stats().packetsIn, 0);
  expect(total).toBe(packets + fillPackets);
  for (const fx of engines) {
    const s = fx.engine.stats();
    expect(s.dropped).toBeGreaterThan(0);
    expect(s.flows).toBe(fx.engine.flowCount);
    // Still works, whether or not the flow table filled up: abort every flow the fuzz opened (each
    // ends with l4Rx(flow, null)), then a fresh UDP flow echoes and a fresh SYN is answered.
    for (const f of fx.cap.accepted) fx.engine.l4Abort(fx.cap, f);
    fx.engine.l4Poll(fx.cap);
    expect(fx.engine.flowCount).toBe(0);
    fx.cap.sent.length = 0;
    const flow = fx.engine.l3Rx(fx.cap, udp({ src: "192.0.2.1", dst: "192.0.2.2", srcPort: 7, dstPort: 7, payload: "alive" }));
    expect(flow).toBeDefined();
    expect(fx.cap.textOf(flow!)).toBe("alive");
    expect(fx.engine.l4Tx(fx.cap, flow!, new TextEncoder().encode("ok"))).toBe(2);
    const [reply] = fx.cap.take();
    expect(reply!.udp).toMatchObject({ srcPort: 7, dstPort: 7 });
    expect(new TextDecoder().decode(reply!.udp!.payload)).toBe("ok");
    fx.engine.l3Rx(fx.cap, tcp({ src: "192.0.2.1", dst: "192.0.2.2", srcPort: 9, dstPort: 80, flags: "S", seq: 100, options: { mss: 1000 } }));
    const [synAck] = fx.cap.take();
    expect(synAck!.tcp).toMatchObject({ srcPort: 80, dstPort: 9, flags: Flag.SYN | Flag.ACK, ack: 101 });
  }
  return { packets, flowsSeen: engines.map((fx) => fx.cap.accepted.length), full: peak.map((n) => n === MAX_FLOWS) };
}
