/**
 * Fuzz target: l3Rx on one engine, with time passing and application calls in between (smoltcp's
 * fuzz/fuzz_targets/tcp_headers.rs and iface.rs drive one interface the same way).
 *
 * Input: a config byte, then records until the input ends:
 *   op & 7 = 0, 1  a packet: u16 length, then the bytes, given to l3Rx as they are;
 *            2     the same, but a TCP segment's ACK field and SACK blocks count from the ISS the
 *                  engine chose for that 4-tuple (packetdrill's relative numbers), so the fuzzer can
 *                  finish handshakes against the engine's secret ISNs;
 *            3     time passes: (op >> 3) * 4096 + u16 ms (well past every timer), then l4Poll;
 *            4     l4Tx on a flow (u8 picks it) of u16 & 0x3fff bytes;
 *            5     l4LocalClose, 6: l4Abort / l4PauseRx / l4ResumeRx (op >> 3 picks), on a flow;
 *            7     l4Connect from the engine: TCP or UDP, IPv4 or IPv6 (op bits), to a u16 port, from
 *                  the client end of the captured connections (spec/wire/fixtures), so a captured
 *                  SYN-ACK with a relative ACK completes it.
 * Config bit 0: the engine verifies checksums (and the target refreshes them on every packet, so
 * mutations still get through); bit 1: MTU 1280 instead of 1500; bits 2-3: a small receive buffer
 * (tcpBufferSize 4 KiB) and a small flow table (maxFlows 8).
 *
 * Checked after every record: nothing threw; flowCount equals stats().flows and stays within
 * maxFlows plus the flows the target opened; every l3Rx counted once in packetsIn; each flow's
 * l4Rx(flow, null) comes once, with no data after it. At the end every flow is aborted, flowCount
 * is 0 and a fresh SYN is still answered with a SYN-ACK.
 */
import type { Callbacks, Flow } from "../../../lib/api.js";
import { L3L4Builder } from "../../../lib/builder.js";
import { VirtualClock } from "../../../lib/debug/virtual-clock.js";
import type { L3L4 } from "../../../lib/engine.js";
import { refreshChecksums } from "../../wire/exercise.js";
import { FuzzInput, check, makeStream } from "./input.js";

const DATA = makeStream(0x4000, 7);
/** The ends of the captured connections (spec/wire/fixtures/linux-captures.ts). */
const CLIENT4 = "10.0.0.2";
const SERVER4 = "192.0.2.7";
const CLIENT6 = "2001:db8:1::2";
const SERVER6 = "2001:db8:2::7";
const MAX_PACKET = 65_575;

/** Callbacks that keep the ISS of each SYN-ACK or SYN the engine sends, and check the l4Rx rules. */
class Recorder implements Callbacks<Uint8Array> {
  private readonly out = new Uint8Array(MAX_PACKET);
  /** "peer address/port > engine address/port" (as the peer sends it) -> the engine's ISS. */
  readonly iss = new Map<string, number>();
  readonly flows: Flow[] = [];
  readonly ended = new Set<Flow>();
  packetsOut = 0;

  l3TxBuffer(size: number): Uint8Array | undefined {
    return size <= MAX_PACKET ? this.out : undefined;
  }
  l3TxBufferMut(buffer: Uint8Array): Uint8Array {
    return buffer;
  }
  l3Tx(buffer: Uint8Array, length: number): void {
    this.packetsOut++;
    const l4 = tcpOffset(buffer, length);
    // A SYN (SYN-ACK or the engine's own SYN): remember its sequence number for that 4-tuple.
    if (l4 >= 0 && l4 + 20 <= length && (buffer[l4 + 13]! & 0x02) !== 0) {
      this.iss.set(tupleKey(buffer, l4, true), read32(buffer, l4 + 4));
    }
  }
  l4Rx(flow: Flow, data: Uint8Array | null): void {
    check(!this.ended.has(flow), () => `l4Rx(${data === null ? "null" : `${data.length} bytes`}) after l4Rx(null) on ${String(flow)}`);
    if (data === null) this.ended.add(flow);
  }
  l4Accept(flow: Flow): boolean {
    this.flows.push(flow);
    return true;
  }
}

function read32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Offset of the TCP header in an IPv4/IPv6 packet without extension headers, or -1. */
function tcpOffset(b: Uint8Array, length: number): number {
  if (length < 1) return -1;
  const v = b[0]! >> 4;
  if (v === 4 && length >= 20 && b[9] === 6) return (b[0]! & 15) * 4;
  if (v === 6 && length >= 40 && b[6] === 6) return 40;
  return -1;
}

/** The 4-tuple as the peer sends it: for a packet from the engine (`fromEngine`) the ends swap. */
function tupleKey(b: Uint8Array, l4: number, fromEngine: boolean): string {
  const v6 = b[0]! >> 4 === 6;
  const n = v6 ? 16 : 4;
  const srcAt = v6 ? 8 : 12;
  const src = `${Buffer.from(b.subarray(srcAt, srcAt + n)).toString("hex")}/${(b[l4]! << 8) | b[l4 + 1]!}`;
  const dst = `${Buffer.from(b.subarray(srcAt + n, srcAt + 2 * n)).toString("hex")}/${(b[l4 + 2]! << 8) | b[l4 + 3]!}`;
  return fromEngine ? `${dst}>${src}` : `${src}>${dst}`;
}

const packet = new Uint8Array(MAX_PACKET);

export function fuzz(bytes: Uint8Array): void {
  const input = new FuzzInput(bytes);
  const config = input.u8();
  const verify = (config & 1) !== 0;
  const clock = new VirtualClock(0);
  const maxFlows = (config & 8) !== 0 ? 8 : 64;
  const engine: L3L4<Uint8Array> = new L3L4Builder<Uint8Array>()
    .clock(clock.now)
    .verifyChecksums(verify)
    .mtu((config & 2) !== 0 ? 1280 : 1500)
    .tcpBufferSize((config & 4) !== 0 ? 4096 : 256 * 1024)
    .maxFlows(maxFlows)
    .build();
  const cb = new Recorder();
  let rxCalls = 0;
  let connects = 0;
  let records = 0;
  while (!input.done) {
    records++;
    const op = input.u8();
    switch (op & 7) {
      case 0:
      case 1:
      case 2: {
        const view = input.take(input.u16());
        packet.set(view);
        const pkt = packet.subarray(0, view.length);
        if ((op & 7) === 2) relativeAck(cb, pkt);
        if (verify) refreshChecksums(pkt, 0, pkt.length);
        engine.l3Rx(cb, pkt);
        rxCalls++;
        break;
      }
      case 3:
        clock.advance((op >> 3) * 4096 + input.u16());
        engine.l4Poll(cb);
        break;
      case 4: {
        const flow = pick(cb, input.u8());
        if (flow !== undefined && engine.l4State(flow) !== undefined) {
          const n = input.u16() & 0x3fff;
          const taken = engine.l4Tx(cb, flow, DATA.subarray(0, n));
          check(taken === undefined || (taken >= 0 && taken <= n), () => `l4Tx took ${taken} of ${n} bytes`);
        }
        break;
      }
      case 5: {
        const flow = pick(cb, input.u8());
        if (flow !== undefined) engine.l4LocalClose(cb, flow);
        break;
      }
      case 6: {
        const flow = pick(cb, input.u8());
        if (flow === undefined) break;
        const what = (op >> 3) % 3;
        if (what === 0) engine.l4Abort(cb, flow);
        else if (what === 1) engine.l4PauseRx(flow);
        else engine.l4ResumeRx(cb, flow);
        break;
      }
      case 7: {
        const port = 1 + (input.u16() % 65535);
        const v6 = (op & 8) !== 0;
        try {
          const flow = engine.l4Connect(cb, {
            protocol: (op & 16) !== 0 ? "udp" : "tcp",
            srcIp: v6 ? CLIENT6 : CLIENT4,
            srcPort: v6 ? 41001 : 41000,
            dstIp: v6 ? SERVER6 : SERVER4,
            dstPort: port,
          });
          cb.flows.push(flow);
          connects++;
        } catch (e) {
          // The 5-tuple in use (a live flow or TIME-WAIT record) is the one documented refusal.
          check((e as Error).name === "FlowExistsError", () => `l4Connect threw ${String(e)}`);
        }
        break;
      }
    }
    const s = engine.stats();
    check(engine.flowCount === s.flows, () => `flowCount ${engine.flowCount}, stats().flows ${s.flows} (record ${records})`);
    check(engine.flowCount <= maxFlows + connects, () => `flowCount ${engine.flowCount} over maxFlows ${maxFlows} + ${connects} opened`);
    check(s.packetsIn === rxCalls, () => `packetsIn ${s.packetsIn} after ${rxCalls} l3Rx calls`);
  }
  // Every flow aborted: none left, and the engine still answers a SYN.
  for (const flow of cb.flows) engine.l4Abort(cb, flow);
  engine.l4Poll(cb);
  check(engine.flowCount === 0, () => `flowCount ${engine.flowCount} after aborting every flow`);
  for (const flow of cb.flows) {
    check(cb.ended.has(flow) || engine.l4State(flow) === "TIME-WAIT" || engine.l4State(flow) === undefined, () => `flow ${String(flow)} never got l4Rx(null)`);
  }
  const before = cb.packetsOut;
  const syn = freshSyn();
  if (verify) refreshChecksums(syn, 0, syn.length);
  engine.l3Rx(cb, syn);
  check(cb.packetsOut === before + 1, () => `a fresh SYN after the input got ${cb.packetsOut - before} packets back`);
}

function pick(cb: Recorder, n: number): Flow | undefined {
  return cb.flows.length === 0 ? undefined : cb.flows[n % cb.flows.length];
}

/** A relative ACK (op 2): the engine's ISS for the segment's 4-tuple added (shiftAcks). */
function relativeAck(cb: Recorder, pkt: Uint8Array): void {
  const l4 = tcpOffset(pkt, pkt.length);
  if (l4 < 0 || l4 + 20 > pkt.length) return;
  const iss = cb.iss.get(tupleKey(pkt, l4, false));
  if (iss !== undefined) shiftAcks(pkt, l4, iss);
}

/**
 * `delta` added (mod 2**32) to the ACK field of the TCP segment at `l4` and to the edges of its SACK
 * blocks (RFC 2018 §3): what makes numbers relative to an ISS (packetdrill, tcpdump) and back.
 */
export function shiftAcks(pkt: Uint8Array, l4: number, delta: number): void {
  addTo32(pkt, l4 + 8, delta);
  const end = Math.min(pkt.length, l4 + (pkt[l4 + 12]! >> 4) * 4);
  for (let at = l4 + 20; at < end; ) {
    const kind = pkt[at]!;
    if (kind === 0) break;
    if (kind === 1) {
      at++;
      continue;
    }
    const len = at + 1 < end ? pkt[at + 1]! : 0;
    if (len < 2) break;
    if (kind === 5) for (let edge = at + 2; edge + 4 <= Math.min(at + len, end); edge += 4) addTo32(pkt, edge, delta);
    at += len;
  }
}

function addTo32(b: Uint8Array, at: number, n: number): void {
  const v = (read32(b, at) + n) >>> 0;
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** A SYN from a 4-tuple no record uses, checksums left to refreshChecksums (or unchecked). */
function freshSyn(): Uint8Array {
  const p = new Uint8Array(40);
  p.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 198, 51, 100, 2]);
  p.set([0xfd, 0xe8, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0], 20);
  return p;
}
