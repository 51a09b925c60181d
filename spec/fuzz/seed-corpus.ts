/**
 * The seed corpus of each fuzz target, built from the Linux captures (spec/wire/fixtures): every
 * captured packet for the wire target; the captured connections replayed against the engine for the
 * engine target (their ACKs made relative to the engine's ISS, which is secret); and for the pair
 * target, whose input is the link's decisions rather than packets, the faults of the integration
 * tests (loss, duplication, reordering, corruption, truncation) in a few sizes and both families.
 *
 * `npm run fuzz -- --write-corpus` writes them to spec/fuzz/corpus/<target>/; spec/fuzz/corpus.spec.ts
 * checks the committed files are what this builds, and replays them.
 */
import * as captures from "../wire/fixtures/linux-captures.js";
import { shiftAcks } from "./targets/engine.js";

export type TargetName = "wire" | "engine" | "pair";
export const TARGETS: readonly TargetName[] = ["wire", "engine", "pair"];

function read32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function concat(parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- engine target records (spec/fuzz/targets/engine.ts) ----
const packet = (bytes: Uint8Array, op = 0): Uint8Array => concat([[op, bytes.length >> 8, bytes.length & 255], bytes]);
const advance = (ms: number): number[] => [3, ms >> 8, ms & 255];
const send = (flow: number, n: number): number[] => [4, flow, n >> 8, n & 255];
const close = (flow: number): number[] => [5, flow];
const connect = (v6: boolean, port: number): number[] => [7 | (v6 ? 8 : 0), port >> 8, port & 255];

/** TCP header offset in a captured packet (IPv4 with its IHL, IPv6 without extension headers). */
function tcpAt(b: Uint8Array): number {
  return b[0]! >> 4 === 6 ? 40 : (b[0]! & 15) * 4;
}

/**
 * A captured segment made relative for op 2: `iss` (the captured peer's ISS, which the engine's will
 * replace) taken off its ACK field and SACK edges.
 */
function relative(b: Uint8Array, iss: number): Uint8Array {
  const p = b.slice();
  shiftAcks(p, tcpAt(p), -iss);
  return packet(p, 2);
}

/** The captured ISSs: the sequence numbers of the SYNs and SYN-ACKs. */
const seqOf = (b: Uint8Array): number => read32(b, tcpAt(b) + 4);

function engineSeeds(): Map<string, Uint8Array> {
  const c = captures;
  const out = new Map<string, Uint8Array>();
  const server4 = seqOf(c.synAck4);
  const client4 = seqOf(c.syn4);
  const client6 = seqOf(c.syn6);
  // Every captured packet alone, checksums unchecked and checked.
  for (const [name, bytes] of Object.entries(c)) {
    out.set(`packet-${name}`, concat([[0], packet(bytes)]));
    out.set(`packet-${name}-verified`, concat([[1], packet(bytes)]));
  }
  // The engine as the captured server: the Linux client's handshake, data, our reply, our close.
  const serverSide = [packet(c.syn4), relative(c.ack4, server4), relative(c.data4, server4), send(0, 3000), advance(50), close(0), advance(1000)];
  out.set("server4", concat([[0], ...serverSide]));
  out.set("server4-verified-small", concat([[1 | 4 | 8], ...serverSide]));
  out.set("server4-timers", concat([[0], packet(c.syn4), advance(20_000), advance(20_000), packet(c.syn4), relative(c.ack4, server4), advance(65_000)]));
  out.set("server6", concat([[2], packet(c.syn6), advance(3000), advance(30_000)]));
  // The engine as the captured client: our SYN, Linux's SYN-ACK and SACKs, our data, its FIN.
  out.set(
    "client4",
    concat([[0], connect(false, 80), relative(c.synAck4, client4), send(0, 4001), relative(c.sackAck4, client4), packet(c.fragNeeded4), relative(c.finAck4, client4), advance(2000), close(0), advance(61_000)]),
  );
  out.set("client4-reset", concat([[0], connect(false, 80), relative(c.synAck4, client4), send(0, 100), relative(c.rstAck4, client4)]));
  out.set("client6", concat([[0], connect(true, 80), relative(c.synAck6, client6), send(0, 4001), relative(c.sackAck6, client6), packet(c.packetTooBig6), advance(2000)]));
  // Fragments, in both orders, and reassembly timing out.
  out.set("fragments4", concat([[0], packet(c.fragFirst4), packet(c.fragLast4), advance(31_000)]));
  out.set("fragments4-reversed", concat([[1], packet(c.fragLast4), packet(c.fragFirst4)]));
  out.set("fragments6", concat([[0], packet(c.hbhDstFragFirst6), packet(c.fragLast6), advance(31_000)]));
  // UDP, answered and then idle.
  out.set("udp", concat([[0], packet(c.udp4), send(0, 100), packet(c.udp6), send(1, 2000), advance(10_000), packet(c.hbhDstUdp6), advance(60_000)]));
  return out;
}

function wireSeeds(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, bytes] of Object.entries(captures)) out.set(name, concat([[0], bytes]));
  return out;
}

// ---- pair target: a config byte, then one decision per packet (spec/fuzz/targets/pair.ts) ----
const DELIVER = 0;
const DROP = 3;
const DUPLICATE = 4 | (2 << 3);
const CORRUPT = [5, 30, 0x10];
const TRUNCATE = [7, 0x02, 0x00];
const LATE = DELIVER | (20 << 3);

function repeat(pattern: number[], times: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(...pattern);
  return out;
}

function pairSeeds(): Map<string, Uint8Array> {
  const size = (kib: number): number => kib << 1;
  const seeds: [string, number, number[]][] = [
    ["clean4", size(4), []],
    ["clean6", 1 | size(4), []],
    ["loss", size(8), repeat([DELIVER, DELIVER, DROP], 40)],
    ["loss-handshake", size(1), [DROP, DROP, DELIVER, DROP]],
    ["duplicate", size(4), repeat([DELIVER, DUPLICATE], 30)],
    ["reorder", size(8), repeat([LATE, DELIVER, DELIVER], 30)],
    ["corrupt", 1 | size(4), repeat([DELIVER, ...CORRUPT], 20)],
    ["truncate", size(4), repeat([DELIVER, DELIVER, ...TRUNCATE], 20)],
    ["small-buffers", 32 | size(15), repeat([DELIVER, DELIVER, DELIVER, DROP], 30)],
    ["mtu1280", 64 | 1 | size(6), repeat([DELIVER, LATE], 30)],
    ["empty-streams", 0, []],
  ];
  return new Map(seeds.map(([name, config, decisions]) => [name, Uint8Array.from([config, ...decisions])]));
}

export function seedCorpus(target: TargetName): Map<string, Uint8Array> {
  if (target === "wire") return wireSeeds();
  if (target === "engine") return engineSeeds();
  return pairSeeds();
}
