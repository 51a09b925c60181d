/**
 * TcpSegmentWriter (lib/tcp/writer.ts) alone: what its contract (lib/tcp/context.ts TcpOutSegment)
 * says about the payload fields. `payloadOffset` is read only when there is a payload
 * (`payloadLength` > 0), and `segmentSize` 0 means "the segment goes as it is": no GSO in the
 * virtio-net header under txSuperSegments, however long the payload. A payload of exactly
 * `segmentSize` is one segment on the wire too (the device cuts only what is more). Boundaries the
 * mutation run found unpinned (issue 10).
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG } from "../../lib/config.js";
import { IpOutput } from "../../lib/ip/output.js";
import { Counters } from "../../lib/stats.js";
import { tcpOutSegment, type TcpOutSegment } from "../../lib/tcp/context.js";
import { SendBuffer } from "../../lib/tcp/send-buffer.js";
import { TcpSegmentWriter } from "../../lib/tcp/writer.js";
import { TcpFlag } from "../../lib/wire/tcp.js";
import { VNET_HEADER_LENGTH, VnetFlag, VnetGso, VnetHeader } from "../../lib/wire/virtio-net.js";
import { Capture } from "../support/capture.js";
import { parse } from "../support/packets.js";

/** Local end at addr[0..4] (198.51.100.7), remote end at addr[16..20] (192.0.2.1). */
const ADDR = new Uint8Array(32);
ADDR.set([198, 51, 100, 7], 0);
ADDR.set([192, 0, 2, 1], 16);

function setup(txSuperSegments = 0) {
  const counters = new Counters();
  const out = new IpOutput({ ...DEFAULT_CONFIG, txSuperSegments }, counters);
  return { writer: new TcpSegmentWriter(out, counters), counters, cap: new Capture() };
}

function segment(o: Partial<TcpOutSegment>): TcpOutSegment {
  return Object.assign(tcpOutSegment(), { flags: TcpFlag.ACK, seq: 1000, ack: 2000, window: 512 }, o);
}

/** A send buffer holding `n` bytes 0, 1, 2, ... (mod 256). */
function held(n: number): SendBuffer {
  const b = new SendBuffer(65536);
  const data = new Uint8Array(n).map((_, i) => i & 0xff);
  expect(b.write(data, 0, n)).toBe(n);
  return b;
}

describe("TcpSegmentWriter: the payload fields (TcpOutSegment)", () => {
  it("a segment without payload reads nothing of the send buffer, whatever payloadOffset holds", () => {
    const { writer, cap, counters } = setup();
    // A scratch record keeps its last payloadOffset (output.ts reuses one): past the 10 bytes held.
    const seg = segment({ payloadOffset: 500, payloadLength: 0 });
    expect(writer.write(cap, 4, ADDR, 0, 16, 80, 40000, seg, held(10))).toBe(true);
    const [p] = cap.sent;
    const parsed = parse(p!);
    expect(parsed.checksumOk).toBe(true);
    expect(parsed.tcp!.payload.length).toBe(0);
    expect(counters.tcpSegmentsOut).toBe(1);
  });

  it("a payload is copied from payloadOffset", () => {
    const { writer, cap } = setup();
    const seg = segment({ payloadOffset: 3, payloadLength: 4 });
    expect(writer.write(cap, 4, ADDR, 0, 16, 80, 40000, seg, held(10))).toBe(true);
    const parsed = parse(cap.sent[0]!);
    expect(parsed.checksumOk).toBe(true);
    expect([...parsed.tcp!.payload]).toEqual([3, 4, 5, 6]);
  });

  it.each([
    ["segmentSize 0: the segment goes as it is", 0, 3000],
    ["a payload of exactly segmentSize", 1448, 1448],
  ])("under txSuperSegments, %s: no GSO, counted as one segment", (_name, segmentSize, len) => {
    const { writer, cap, counters } = setup(65535);
    const seg = segment({ payloadOffset: 0, payloadLength: len, segmentSize });
    expect(writer.write(cap, 4, ADDR, 0, 16, 80, 40000, seg, held(len))).toBe(true);
    const [b] = cap.sent;
    const h = new VnetHeader().read(b!, 0);
    expect(h.flags).toBe(VnetFlag.NEEDS_CSUM);
    expect(h.gso).toBe(VnetGso.NONE);
    expect(h.gsoSize).toBe(0);
    expect(parse(b!.subarray(VNET_HEADER_LENGTH)).tcp!.payload.length).toBe(len);
    expect(counters.tcpSegmentsOut).toBe(1);
    expect(counters.tcpSuperSegmentsOut).toBe(0);
  });

  it("under txSuperSegments, a payload of segmentSize + 1 is a super-segment of two", () => {
    const { writer, cap, counters } = setup(65535);
    const seg = segment({ payloadOffset: 0, payloadLength: 1449, segmentSize: 1448 });
    expect(writer.write(cap, 4, ADDR, 0, 16, 80, 40000, seg, held(1449))).toBe(true);
    const h = new VnetHeader().read(cap.sent[0]!, 0);
    expect(h.gso).toBe(VnetGso.TCPV4);
    expect(h.gsoSize).toBe(1448);
    expect(counters.tcpSegmentsOut).toBe(2);
    expect(counters.tcpSuperSegmentsOut).toBe(1);
  });
});
