/**
 * Fuzz target: two engines, one TCP connection between them, and a link whose fate for each packet
 * the fuzzer decides (smoltcp's fuzz/fuzz_targets/iface.rs: client and server on a loopback whose
 * frames the fuzzer rewrites). Engine A connects to B; each sends a stream and closes.
 *
 * Input: a config byte (bit 0: IPv6; bits 1-4: A's stream, up to 15 KiB (B's is half); bit 5: small
 * buffers, 4 KiB; bit 6: MTU 1280), then one decision byte per packet sent, in send order:
 *   d & 7 = 0-2  deliver after (d >> 3) ms;           3  drop;
 *           4    deliver twice, the copy (d >> 3) ms later;
 *           5    flip bits of one byte (u8 position, u8 mask) and leave the checksums: the receiver drops it;
 *           6    rewrite one header byte that does not move data in the stream (addresses, ports, ACK,
 *                flags, window, urgent pointer, options, TTL...: u8 picks, u8 is the value) and
 *                refresh the checksums: a lying packet the receiver cannot tell from a real one;
 *           7    cut the IP packet to u16 bytes (IP length and checksums refreshed): a shorter segment
 *                (a lie if it carries FIN: the FIN moves into the data).
 * When the input ends, every later packet is delivered after 1 ms.
 *
 * Checked: nothing throws; each engine's flowCount equals stats().flows; on every TCP flow on either
 * side the bytes delivered are the peer's stream from its first byte, in order, each once
 * (`bytes delivered in order once`), never more than was sent; l4Rx(flow, null) comes once per
 * flow; a UDP datagram only if some packet's protocol byte was rewritten. If no packet lied (no
 * op 6), the link is one a TCP must get through: both streams arrive whole and both flows close,
 * unless a flow ended by timeout (too many drops in a row), and after two hours both engines have no
 * flows left.
 */
import type { Callbacks, CloseReason, Flow } from "../../../lib/api.js";
import { L3L4Builder } from "../../../lib/builder.js";
import { VirtualClock } from "../../../lib/debug/virtual-clock.js";
import type { L3L4 } from "../../../lib/engine.js";
import { refreshChecksums } from "../../wire/exercise.js";
import { FuzzFinding, FuzzInput, check, makeStream } from "./input.js";

const MAX_PACKET = 65_575;
const END_MS = 2 * 3_600_000;
const MAX_STEPS = 200_000;

/** Header bytes op 6 may rewrite: none moves payload relative to its sequence number. */
const REWRITABLE4 = [1, 4, 5, 6, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19];
const REWRITABLE6 = [0, 1, 2, 3, 6, 7, 8, 15, 23, 24, 31, 39];
/** TCP: ports, ACK, the reserved and flag bits (not the data offset), window, urgent, options. */
const REWRITABLE_TCP = [0, 1, 2, 3, 8, 9, 10, 11, 13, 14, 15, 18, 19];

interface InFlight {
  at: number;
  order: number;
  to: Side;
  bytes: Uint8Array;
}

/** Each side's transmit buffer (l3Tx copies the packet out of it at once). */
const OUT = [new Uint8Array(MAX_PACKET), new Uint8Array(MAX_PACKET)];

class Side implements Callbacks<Uint8Array> {
  private readonly out: Uint8Array;
  engine!: L3L4<Uint8Array>;
  /** The stream this side sends, and the one it must receive. */
  send!: Uint8Array;
  expect!: Uint8Array;
  /** Per flow: bytes delivered so far; flows that got l4Rx(null); remote closes seen. */
  readonly received = new Map<Flow, number>();
  readonly ended = new Set<Flow>();
  readonly reasons = new Map<Flow, CloseReason | undefined>();
  readonly remoteClosed = new Set<Flow>();
  primary: Flow | undefined;
  written = 0;
  closing = false;
  deadline: number | undefined;
  dirty = true;
  /** flowCount when last compared with stats(). */
  flows = 0;

  constructor(
    readonly name: string,
    private readonly link: Link,
  ) {
    this.out = OUT[name === "A" ? 0 : 1]!;
  }

  l3TxBuffer(size: number): Uint8Array | undefined {
    return size <= MAX_PACKET ? this.out : undefined;
  }
  l3TxBufferMut(buffer: Uint8Array): Uint8Array {
    return buffer;
  }
  l3Tx(buffer: Uint8Array, length: number): void {
    this.dirty = true;
    this.link.transmit(this, buffer.slice(0, length));
  }
  l4Accept(flow: Flow): boolean {
    this.primary ??= flow;
    return true;
  }
  l4Rx(flow: Flow, data: Uint8Array | null): void {
    check(!this.ended.has(flow), () => `${this.name}: l4Rx after l4Rx(null) on ${String(flow)}`);
    if (data === null) {
      this.ended.add(flow);
      this.reasons.set(flow, this.engine.l4CloseReason(flow));
      return;
    }
    if (flow.protocol === "udp") {
      // Only TCP is sent: a datagram is a segment whose protocol byte the link rewrote (op 5 or 6).
      check(this.link.protocolRewritten, () => `${this.name}: a UDP datagram on ${String(flow)}, but no packet's protocol was rewritten`);
      return;
    }
    const at = this.received.get(flow) ?? 0;
    check(at + data.length <= this.expect.length, () => `${this.name}: ${at + data.length} bytes delivered on ${String(flow)}, ${this.expect.length} sent`);
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== this.expect[at + i]) {
        throw new FuzzFinding(`${this.name}: byte ${at + i} delivered on ${String(flow)} is ${data[i]}, the peer sent ${this.expect[at + i]}`);
      }
    }
    this.received.set(flow, at + data.length);
  }
  l4TxReady(flow: Flow): void {
    if (flow === this.primary) this.pump();
  }
  l4RemoteClosed(flow: Flow): void {
    this.remoteClosed.add(flow);
  }

  /** Write what the send buffer takes; close once everything was written. */
  pump(): void {
    const flow = this.primary;
    if (flow === undefined || this.closing) return;
    while (this.written < this.send.length) {
      const n = this.engine.l4Tx(this, flow, this.send.subarray(this.written));
      if (n === undefined || n === 0) return;
      this.written += n;
    }
    this.closing = true;
    this.engine.l4LocalClose(this, flow);
  }
}

class Link {
  readonly queue: InFlight[] = [];
  private order = 0;
  lied = false;
  /** Some packet's IP protocol (next header) byte was changed by op 5 or 6: it may arrive as UDP or ICMP. */
  protocolRewritten = false;
  a!: Side;
  b!: Side;

  constructor(
    private readonly input: FuzzInput,
    private readonly clock: VirtualClock,
  ) {}

  transmit(from: Side, bytes: Uint8Array): void {
    const to = from === this.a ? this.b : this.a;
    const now = this.clock.now();
    if (this.input.done) return this.put(now + 1, to, bytes);
    const d = this.input.u8();
    const delay = d >> 3;
    switch (d & 7) {
      case 3:
        return;
      case 4:
        this.put(now + delay, to, bytes.slice());
        return this.put(now + 2 * delay, to, bytes);
      case 5: {
        const at = this.input.u8() % Math.max(1, bytes.length);
        if (bytes.length > 0) bytes[at]! ^= this.input.u8() | 1;
        if (at === protocolOffset(bytes)) this.protocolRewritten = true;
        return this.put(now, to, bytes);
      }
      case 6: {
        const protocol = bytes[protocolOffset(bytes)];
        this.lied = rewrite(bytes, this.input.u8(), this.input.u8()) || this.lied;
        if (bytes[protocolOffset(bytes)] !== protocol) this.protocolRewritten = true;
        return this.put(now, to, bytes);
      }
      case 7: {
        const cut = truncate(bytes, this.input.u16());
        // A cut segment that carries FIN moves the FIN into the data: the stream ends early, a lie.
        const h = ipHeader(cut);
        if (cut.length < bytes.length && h !== undefined && (cut[h.l4 + 13]! & 1) !== 0) this.lied = true;
        return this.put(now, to, cut);
      }
      default:
        return this.put(now + delay, to, bytes);
    }
  }

  private put(at: number, to: Side, bytes: Uint8Array): void {
    this.queue.push({ at, order: this.order++, to, bytes });
  }

  nextArrival(): number {
    let t = Infinity;
    for (const p of this.queue) if (p.at < t) t = p.at;
    return t;
  }

  /** The packets due at `now`, oldest first; packets sent while delivering wait for the next step. */
  takeDue(now: number): InFlight[] {
    const due = this.queue.filter((p) => p.at <= now).sort((x, y) => x.at - y.at || x.order - y.order);
    if (due.length > 0) {
      const keep = this.queue.filter((p) => p.at > now);
      this.queue.length = 0;
      this.queue.push(...keep);
    }
    return due;
  }
}

/** Where the IP protocol (IPv6: next header) byte is; the engines send no extension headers. */
function protocolOffset(b: Uint8Array): number {
  return b.length > 0 && b[0]! >> 4 === 6 ? 6 : 9;
}

function ipHeader(b: Uint8Array): { v6: boolean; l4: number } | undefined {
  if (b.length < 20) return undefined;
  const v6 = b[0]! >> 4 === 6;
  const l4 = v6 ? 40 : (b[0]! & 15) * 4;
  if (b.length < l4 + 20 || b[v6 ? 6 : 9] !== 6) return undefined;
  return { v6, l4 };
}

/** Op 6: one header byte to `value`, checksums refreshed. Returns whether a byte really changed. */
function rewrite(b: Uint8Array, which: number, value: number): boolean {
  const h = ipHeader(b);
  if (h === undefined) return false;
  const ip = h.v6 ? REWRITABLE6 : REWRITABLE4;
  const optionsEnd = h.l4 + Math.min((b[h.l4 + 12]! >> 4) * 4, b.length - h.l4);
  const options = Math.max(0, optionsEnd - h.l4 - 20);
  const choices = ip.length + REWRITABLE_TCP.length + options;
  const k = which % choices;
  const at = k < ip.length ? ip[k]! : k < ip.length + REWRITABLE_TCP.length ? h.l4 + REWRITABLE_TCP[k - ip.length]! : h.l4 + 20 + (k - ip.length - REWRITABLE_TCP.length);
  const old = b[at]!;
  // The version nibble stays (a packet that is not IP is a drop, not a lie).
  b[at] = at === 0 ? (old & 0xf0) | (value & 0x0f) : value;
  refreshChecksums(b, 0, b.length);
  return b[at] !== old;
}

/** Op 7: the IP packet cut to `length` bytes, its length field and checksums refreshed. */
function truncate(b: Uint8Array, length: number): Uint8Array {
  const h = ipHeader(b);
  if (h === undefined) return b;
  const n = Math.max(h.l4, length % (b.length + 1));
  const cut = b.subarray(0, n);
  if (h.v6) {
    cut[4] = (n - 40) >> 8;
    cut[5] = n - 40;
  } else {
    cut[2] = n >> 8;
    cut[3] = n;
  }
  refreshChecksums(cut, 0, n);
  return cut;
}

function checkFlowCount(side: Side): void {
  const e = side.engine;
  check(e.flowCount === e.stats().flows, () => `${side.name}: flowCount ${e.flowCount}, stats().flows ${e.stats().flows}`);
}

export function fuzz(bytes: Uint8Array): void {
  const input = new FuzzInput(bytes);
  const config = input.u8();
  const v6 = (config & 1) !== 0;
  const size = ((config >> 1) & 15) * 1024;
  const clock = new VirtualClock(0);
  const link = new Link(input, clock);
  const a = new Side("A", link);
  const b = new Side("B", link);
  link.a = a;
  link.b = b;
  for (const side of [a, b]) {
    side.engine = new L3L4Builder<Uint8Array>()
      .clock(clock.now)
      .tcpBufferSize((config & 32) !== 0 ? 4096 : 64 * 1024)
      .mtu((config & 64) !== 0 ? 1280 : 1500)
      .build();
  }
  a.send = b.expect = makeStream(size, 1);
  b.send = a.expect = makeStream(size >> 1, 2);
  a.primary = a.engine.l4Connect(a, {
    protocol: "tcp",
    srcIp: v6 ? "2001:db8::1" : "10.0.0.1",
    srcPort: 40000,
    dstIp: v6 ? "2001:db8::2" : "10.0.0.2",
    dstPort: 80,
  });
  let steps = 0;
  const finished = (): boolean => a.ended.has(a.primary!) && b.primary !== undefined && b.ended.has(b.primary) && link.queue.length === 0;
  for (; steps < MAX_STEPS && clock.now() <= END_MS; steps++) {
    const now = clock.now();
    for (const p of link.takeDue(now)) p.to.engine.l3Rx(p.to, p.bytes);
    // Each side writes once its handshake is done (the peer's FIN may already have come with it).
    for (const side of [a, b]) {
      const state = side.primary === undefined ? undefined : side.engine.l4State(side.primary);
      if (state === "ESTABLISHED" || state === "CLOSE-WAIT") side.pump();
    }
    for (const side of [a, b]) {
      if (side.dirty || (side.deadline !== undefined && side.deadline <= now)) {
        side.dirty = false;
        side.deadline = side.engine.l4Poll(side);
      }
      // stats() builds a snapshot: compared whenever flowCount moves, and at the end.
      const e = side.engine;
      if (e.flowCount !== side.flows) {
        side.flows = e.flowCount;
        checkFlowCount(side);
      }
    }
    if (finished() && a.engine.flowCount === 0 && b.engine.flowCount === 0 && !a.dirty && !b.dirty) break;
    let next = Math.min(link.nextArrival(), a.dirty ? now : (a.deadline ?? Infinity), b.dirty ? now : (b.deadline ?? Infinity));
    if (next === Infinity) break;
    if (next > now) clock.set(Math.min(next, END_MS + 1));
  }
  check(steps < MAX_STEPS, () => `still running after ${MAX_STEPS} steps (virtual ${clock.now()} ms)`);
  checkFlowCount(a);
  checkFlowCount(b);
  if (link.lied) return;
  const timedOut = [...a.reasons.values(), ...b.reasons.values()].some((r) => r === "timeout" || r === "handshake-timeout");
  if (timedOut) return;
  const summary = (): string =>
    `A ${a.received.get(a.primary!) ?? 0}/${a.expect.length} bytes (${a.reasons.get(a.primary!) ?? "open"}, ${a.engine.l4State(a.primary!) ?? "gone"}), ` +
    `B ${b.primary === undefined ? "no flow" : `${b.received.get(b.primary) ?? 0}/${b.expect.length} bytes (${b.reasons.get(b.primary) ?? "open"})`}, ` +
    `flows ${a.engine.flowCount}/${b.engine.flowCount} at ${clock.now()} ms`;
  check(b.primary !== undefined && (b.received.get(b.primary) ?? 0) === b.expect.length, () => `an honest link, but B got less: ${summary()}`);
  check((a.received.get(a.primary!) ?? 0) === a.expect.length, () => `an honest link, but A got less: ${summary()}`);
  check(a.remoteClosed.has(a.primary!) && b.remoteClosed.has(b.primary!), () => `an honest link, but a FIN never arrived: ${summary()}`);
  check(a.engine.flowCount === 0 && b.engine.flowCount === 0, () => `flows left after two hours: ${summary()}`);
}
