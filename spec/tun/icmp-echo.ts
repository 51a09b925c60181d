/**
 * Test support: a hand-rolled ICMPv4 echo responder (RFC 792) and a tiny engine built on it, so
 * the TUN specs do not depend on the real engine.
 */
import type { Callbacks, Flow } from "../../lib/api.js";
import type { EngineLike } from "../../lib/tun/runner.js";

/** RFC 1071 Internet checksum of bytes[start, end). */
export function internetChecksum(bytes: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const IPPROTO_ICMP = 1;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;

/** The length of the IPv4 ICMP echo request in `packet`, or 0 when it is something else. */
export function echoRequestLength(packet: Uint8Array): number {
  if (packet.length < 28 || packet[0]! >> 4 !== 4) return 0;
  const headerLength = (packet[0]! & 0x0f) * 4;
  const totalLength = (packet[2]! << 8) | packet[3]!;
  if (headerLength < 20 || totalLength > packet.length || totalLength < headerLength + 8) return 0;
  if (packet[9] !== IPPROTO_ICMP || packet[headerLength] !== ICMP_ECHO_REQUEST || packet[headerLength + 1] !== 0) {
    return 0;
  }
  return totalLength;
}

/**
 * Writes the echo reply to the request in `request` into `reply` (addresses swapped, type 0,
 * checksums redone); returns its length, or 0 when `request` is not an IPv4 echo request.
 */
export function writeEchoReply(request: Uint8Array, reply: Uint8Array): number {
  const length = echoRequestLength(request);
  if (length === 0 || reply.length < length) return 0;
  const headerLength = (request[0]! & 0x0f) * 4;
  reply.set(request.subarray(0, length));
  reply.set(request.subarray(16, 20), 12);
  reply.set(request.subarray(12, 16), 16);
  reply[8] = 64; // TTL
  reply[10] = 0;
  reply[11] = 0;
  const ipChecksum = internetChecksum(reply, 0, headerLength);
  reply[10] = ipChecksum >> 8;
  reply[11] = ipChecksum & 0xff;
  reply[headerLength] = ICMP_ECHO_REPLY;
  reply[headerLength + 2] = 0;
  reply[headerLength + 3] = 0;
  const icmpChecksum = internetChecksum(reply, headerLength, length);
  reply[headerLength + 2] = icmpChecksum >> 8;
  reply[headerLength + 3] = icmpChecksum & 0xff;
  return length;
}

/** A minimal IPv4 echo request from src to dst with `payloadLength` bytes of payload. */
export function echoRequest(src: readonly number[], dst: readonly number[], id: number, payloadLength = 8): Uint8Array {
  const length = 28 + payloadLength;
  const p = new Uint8Array(length);
  p[0] = 0x45;
  p[2] = length >> 8;
  p[3] = length & 0xff;
  p[8] = 64;
  p[9] = IPPROTO_ICMP;
  p.set(src, 12);
  p.set(dst, 16);
  const ipChecksum = internetChecksum(p, 0, 20);
  p[10] = ipChecksum >> 8;
  p[11] = ipChecksum & 0xff;
  p[20] = ICMP_ECHO_REQUEST;
  p[24] = id >> 8;
  p[25] = id & 0xff;
  for (let i = 0; i < payloadLength; i++) p[28 + i] = (id + i) & 0xff;
  const icmpChecksum = internetChecksum(p, 20, length);
  p[22] = icmpChecksum >> 8;
  p[23] = icmpChecksum & 0xff;
  return p;
}

/**
 * A tiny engine: answers IPv4 echo requests, ignores everything else; l4Poll returns whatever
 * `nextDeadline` holds. Records what the runner asked of it.
 */
export class EchoEngine implements EngineLike<number> {
  flowCount = 0;
  received = 0;
  replied = 0;
  /** Echo requests that found no tx buffer. */
  starved = 0;
  polls = 0;
  nextDeadline: number | undefined = undefined;
  readonly seen: Uint8Array[] = [];
  readonly aborted: Flow[] = [];
  readonly closed: Flow[] = [];
  /** Set: l4LocalClose ends the flow at once (l4Rx null), as a peer answering the FIN would. */
  closeEndsFlow = false;
  private readonly clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.clock = clock;
  }

  now(): number {
    return this.clock();
  }

  l3Rx(cb: Callbacks<number>, packet: Uint8Array): undefined {
    this.received++;
    this.seen.push(packet);
    const length = echoRequestLength(packet);
    if (length === 0) return undefined;
    const buffer = cb.l3TxBuffer(length);
    if (buffer === undefined) {
      this.starved++;
      return undefined;
    }
    writeEchoReply(packet, cb.l3TxBufferMut(buffer));
    cb.l3Tx(buffer, length);
    this.replied++;
    return undefined;
  }

  /** Called at each l4Poll (a test's hook into the turn). */
  onPoll: (() => void) | undefined;

  l4Poll(_cb: Callbacks<number>): number | undefined {
    this.polls++;
    this.onPoll?.();
    return this.nextDeadline;
  }

  /** A new flow, offered as the engine offers one for a SYN. */
  accept(cb: Callbacks<number>, flow: Flow): boolean {
    const accepted = cb.l4Accept?.(flow) ?? true;
    if (accepted) this.flowCount++;
    return accepted;
  }

  /** Sends `packet` from outside a turn, as l4Tx from a socket 'data' event would. */
  send(cb: Callbacks<number>, packet: Uint8Array): boolean {
    const buffer = cb.l3TxBuffer(packet.length);
    if (buffer === undefined) return false;
    cb.l3TxBufferMut(buffer).set(packet);
    cb.l3Tx(buffer, packet.length);
    return true;
  }

  l4Abort(cb: Callbacks<number>, flow: Flow): void {
    this.aborted.push(flow);
    this.flowCount--;
    cb.l4Rx(flow, null);
  }

  l4LocalClose(cb: Callbacks<number>, flow: Flow): void {
    this.closed.push(flow);
    if (this.closeEndsFlow) {
      this.flowCount--;
      cb.l4Rx(flow, null);
    }
  }
}

export function testFlow(srcPort: number): Flow {
  return { protocol: "tcp", family: 4, srcIp: "10.9.9.2", srcPort, dstIp: "10.9.9.1", dstPort: 80 };
}
