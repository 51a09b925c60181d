/**
 * The runner's software side of TUN offloads (lib/tun/offload.ts): checksums completed, super-packets
 * cut into the packets the kernel would have sent, bad headers counted and dropped. The super-packets
 * are made as Linux hands them over (tun_put_user): the L4 checksum field holding the folded
 * pseudo-header sum of the whole packet, NEEDS_CSUM, csum_start/offset at the L4 checksum. The pieces
 * are checked with an independent checksum (spec/wire/reference-checksum.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RxOffload, writeTxHeader } from "../../lib/tun/offload.js";
import { read16, read32, write16 } from "../../lib/wire/bytes.js";
import { checksumFoldRaw, pseudoSum } from "../../lib/wire/checksum.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { TcpFlag } from "../../lib/wire/tcp.js";
import { VNET_HEADER_LENGTH, VnetFlag, VnetGso, writeVnetHeader } from "../../lib/wire/virtio-net.js";
import { icmp4, tcp4, tcp6, udp4, udp6 } from "../wire/builders.js";
import { referenceSum } from "../wire/reference-checksum.js";

interface Piece {
  bytes: Uint8Array;
}

function collector(): { offload: RxOffload; pieces: Piece[] } {
  const pieces: Piece[] = [];
  return { offload: new RxOffload((packet) => pieces.push({ bytes: packet.slice() })), pieces };
}

const v6 = (p: Uint8Array) => p[0]! >> 4 === 6;
const l4Of = (p: Uint8Array) => (v6(p) ? 40 : (p[0]! & 0x0f) * 4);

/** Whether the L4 checksum of `p` is right, by the reference sum over a pseudo-header made here. */
function l4ChecksumOk(p: Uint8Array): boolean {
  const l4 = l4Of(p);
  const protocol = v6(p) ? p[6]! : p[9]!;
  const length = p.length - l4;
  const pseudo = new Uint8Array(v6(p) ? 40 : 12);
  if (v6(p)) {
    pseudo.set(p.subarray(8, 40), 0);
    write16(pseudo, 34, length >>> 16);
    write16(pseudo, 36, length & 0xffff);
    pseudo[39] = protocol;
  } else {
    pseudo.set(p.subarray(12, 20), 0);
    pseudo[9] = protocol;
    write16(pseudo, 10, length);
  }
  const sum = referenceSum(pseudo, 0, pseudo.length) + referenceSum(p, l4, length);
  return (sum % 0xffff === 0 && sum !== 0) || sum === 0xffff;
}

function ipv4HeaderOk(p: Uint8Array): boolean {
  return referenceSum(p, 0, l4Of(p)) === 0xffff;
}

/** `packet` as the kernel hands it over with offloads: a virtio-net header, the L4 checksum left partial. */
function offloaded(packet: Uint8Array, gsoType: number, gsoSize: number): Uint8Array {
  const out = new Uint8Array(VNET_HEADER_LENGTH + packet.length);
  out.set(packet, VNET_HEADER_LENGTH);
  const p = out.subarray(VNET_HEADER_LENGTH);
  const l4 = l4Of(p);
  const protocol = v6(p) ? p[6]! : p[9]!;
  const field = l4 + (protocol === IpProtocol.TCP ? 16 : 6);
  write16(p, field, checksumFoldRaw(pseudoSum(p, 0, protocol, p.length - l4)));
  const headers = l4 + (protocol === IpProtocol.TCP ? (p[l4 + 12]! >> 4) * 4 : 8);
  writeVnetHeader(out, 0, VnetFlag.NEEDS_CSUM, gsoType, headers, gsoSize, l4, field - l4);
  return out;
}

function payloadOf(p: Uint8Array): Uint8Array {
  const l4 = l4Of(p);
  const protocol = v6(p) ? p[6]! : p[9]!;
  return p.subarray(l4 + (protocol === IpProtocol.TCP ? (p[l4 + 12]! >> 4) * 4 : 8));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

describe("RxOffload: packets without offload metadata", () => {
  it("hands them on as they are, after the header", () => {
    const { offload, pieces } = collector();
    const packet = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1, dstPort: 2, payload: pattern(100) });
    const read = new Uint8Array(VNET_HEADER_LENGTH + packet.length);
    read.set(packet, VNET_HEADER_LENGTH);
    offload.receive(read, 0, read.length);
    expect(pieces.map((p) => p.bytes)).toEqual([packet]);
    expect(offload.stats).toMatchObject({ checksumsCompleted: 0, superPackets: 0 });
  });

  it("reads at an offset in a pool (a slot)", () => {
    const { offload, pieces } = collector();
    const packet = udp4("10.0.0.2", "10.0.0.1", 5, 53, pattern(30));
    const pool = new Uint8Array(1000);
    pool.set(offloaded(packet, VnetGso.NONE, 0), 500);
    offload.receive(pool, 500, VNET_HEADER_LENGTH + packet.length);
    expect(pieces.map((p) => p.bytes)).toEqual([packet]);
  });
});

describe("RxOffload: checksum offload (NEEDS_CSUM)", () => {
  it.each([
    ["TCP/IPv4", tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1000, dstPort: 80, seq: 5, ack: 9, flags: TcpFlag.ACK | TcpFlag.PSH, payload: pattern(1001) })],
    ["TCP/IPv6", tcp6("fd00::2", "fd00::1", { srcPort: 1000, dstPort: 80, flags: TcpFlag.ACK, ts: [1, 2], payload: pattern(77) })],
    ["UDP/IPv4", udp4("10.0.0.2", "10.0.0.1", 1000, 53, pattern(512))],
    ["UDP/IPv6", udp6("fd00::2", "fd00::1", 1000, 53, pattern(3))],
  ])("completes the %s checksum to the one the packet would have had", (_, packet) => {
    const { offload, pieces } = collector();
    const read = offloaded(packet, VnetGso.NONE, 0);
    expect(read.subarray(VNET_HEADER_LENGTH)).not.toEqual(packet); // the field held the partial sum
    offload.receive(read, 0, read.length);
    expect(pieces.map((p) => p.bytes)).toEqual([packet]);
    expect(offload.stats.checksumsCompleted).toBe(1);
  });

  it("completes the checksum of a GSO packet that fits in one piece, and cuts nothing", () => {
    const { offload, pieces } = collector();
    const packet = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1, dstPort: 2, flags: TcpFlag.ACK, payload: pattern(1000) });
    offload.receive(offloaded(packet, VnetGso.TCPV4, 1448), 0, VNET_HEADER_LENGTH + packet.length);
    expect(pieces.map((p) => p.bytes)).toEqual([packet]);
    expect(offload.stats.superPackets).toBe(0);
  });
});

describe("RxOffload: segmentation (TSO, USO)", () => {
  it("cuts a TCP/IPv4 super-packet as Linux's tcp_gso_segment: lengths, IDs, sequence numbers, flags, checksums", () => {
    const { offload, pieces } = collector();
    const data = pattern(10_000);
    const flags = TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN | TcpFlag.CWR;
    const packet = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 40000, dstPort: 5201, seq: 0xffff_f000, ack: 77, flags, ts: [5, 6], payload: data });
    offload.receive(offloaded(packet, VnetGso.TCPV4, 1448), 0, VNET_HEADER_LENGTH + packet.length);
    expect(pieces).toHaveLength(7);
    const ident = read16(packet, 4);
    pieces.forEach(({ bytes: p }, k) => {
      const last = k === pieces.length - 1;
      const size = last ? 10_000 - 6 * 1448 : 1448;
      expect(p.length).toBe(20 + 32 + size);
      expect(read16(p, 2)).toBe(p.length);
      expect(read16(p, 4)).toBe((ident + k) & 0xffff);
      expect(ipv4HeaderOk(p)).toBe(true);
      expect(read32(p, 24)).toBe((0xffff_f000 + k * 1448) >>> 0); // across the sequence wrap
      expect(read32(p, 28)).toBe(77);
      const f = p[33]!;
      expect((f & TcpFlag.FIN) !== 0).toBe(last);
      expect((f & TcpFlag.PSH) !== 0).toBe(last);
      expect((f & TcpFlag.CWR) !== 0).toBe(k === 0);
      expect(f & TcpFlag.ACK).toBe(TcpFlag.ACK);
      expect(p.subarray(34, 36)).toEqual(packet.subarray(34, 36)); // window
      expect(p.subarray(38, 52)).toEqual(packet.subarray(38, 52)); // urgent pointer, options
      expect(l4ChecksumOk(p)).toBe(true);
    });
    expect(concat(pieces.map((p) => payloadOf(p.bytes)))).toEqual(data);
    expect(offload.stats).toMatchObject({ superPackets: 1, pieces: 7 });
  });

  it("cuts a TCP/IPv6 super-packet: payload lengths, sequence numbers, checksums", () => {
    const { offload, pieces } = collector();
    const data = pattern(4000, 2);
    const packet = tcp6("fd00::2", "fd00::1", { srcPort: 1, dstPort: 2, seq: 100, flags: TcpFlag.ACK, payload: data });
    offload.receive(offloaded(packet, VnetGso.TCPV6, 1428), 0, VNET_HEADER_LENGTH + packet.length);
    expect(pieces.map((p) => p.bytes.length)).toEqual([40 + 20 + 1428, 40 + 20 + 1428, 40 + 20 + 1144]);
    pieces.forEach(({ bytes: p }, k) => {
      expect(read16(p, 4)).toBe(p.length - 40);
      expect(read32(p, 44)).toBe(100 + k * 1428);
      expect(l4ChecksumOk(p)).toBe(true);
    });
    expect(concat(pieces.map((p) => payloadOf(p.bytes)))).toEqual(data);
  });

  it.each([
    ["IPv4", udp4("10.0.0.2", "10.0.0.1", 4000, 5000, pattern(3500, 3))],
    ["IPv6", udp6("fd00::2", "fd00::1", 4000, 5000, pattern(3500, 3))],
  ])("cuts a UDP/%s super-packet into datagrams of gso_size, each with its own length and checksum", (_, packet) => {
    const { offload, pieces } = collector();
    offload.receive(offloaded(packet, VnetGso.UDP_L4, 1200), 0, VNET_HEADER_LENGTH + packet.length);
    expect(pieces.map((p) => payloadOf(p.bytes).length)).toEqual([1200, 1200, 1100]);
    for (const { bytes: p } of pieces) {
      expect(read16(p, l4Of(p) + 4)).toBe(p.length - l4Of(p));
      expect(l4ChecksumOk(p)).toBe(true);
      if (!v6(p)) expect(ipv4HeaderOk(p)).toBe(true);
    }
    expect(concat(pieces.map((p) => payloadOf(p.bytes)))).toEqual(pattern(3500, 3));
  });

  it("cuts by the IP length, not the bytes read (padding after the datagram is not payload)", () => {
    const { offload, pieces } = collector();
    const packet = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1, dstPort: 2, flags: TcpFlag.ACK, payload: pattern(3000) });
    const read = new Uint8Array(VNET_HEADER_LENGTH + packet.length + 7);
    read.set(offloaded(packet, VnetGso.TCPV4, 1000));
    offload.receive(read, 0, read.length);
    expect(concat(pieces.map((p) => payloadOf(p.bytes)))).toEqual(pattern(3000));
  });

  it("property: any size and gso_size, either protocol and family: the pieces carry the data, every checksum right", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40_000 }),
        fc.integer({ min: 200, max: 9000 }),
        fc.constantFrom("tcp4", "tcp6", "udp4", "udp6"),
        (size, gso, kind) => {
          const data = pattern(size, size);
          const packet =
            kind === "tcp4" ? tcp4("10.1.2.3", "10.4.5.6", { srcPort: 9, dstPort: 10, seq: size * 977, flags: TcpFlag.ACK, payload: data })
            : kind === "tcp6" ? tcp6("fd01::3", "fd02::4", { srcPort: 9, dstPort: 10, flags: TcpFlag.ACK, payload: data })
            : kind === "udp4" ? udp4("10.1.2.3", "10.4.5.6", 9, 10, data)
            : udp6("fd01::3", "fd02::4", 9, 10, data);
          const gsoType = kind === "tcp4" ? VnetGso.TCPV4 : kind === "tcp6" ? VnetGso.TCPV6 : VnetGso.UDP_L4;
          if (gsoType === VnetGso.UDP_L4 && Math.ceil(size / gso) > 128) return; // more than Linux sends (refused: spec below)
          const { offload, pieces } = collector();
          offload.receive(offloaded(packet, gsoType, gso), 0, VNET_HEADER_LENGTH + packet.length);
          expect(pieces).toHaveLength(Math.max(1, Math.ceil(size / gso)));
          for (const { bytes: p } of pieces) {
            expect(payloadOf(p).length).toBeLessThanOrEqual(gso);
            expect(l4ChecksumOk(p)).toBe(true);
            if (!v6(p)) expect(ipv4HeaderOk(p)).toBe(true);
          }
          expect(concat(pieces.map((p) => payloadOf(p.bytes)))).toEqual(data);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("RxOffload: bad headers", () => {
  const packet = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1, dstPort: 2, flags: TcpFlag.ACK, payload: pattern(3000) });

  it.each([
    ["truncated", (b: Uint8Array) => b.subarray(0, 5)],
    ["bad_flags", (b: Uint8Array) => ((b[0] = 0x80), b)],
    ["bad_gso_type", (b: Uint8Array) => ((b[1] = VnetGso.TCPV6), b)],
    ["bad_gso_size", (b: Uint8Array) => (write16(b, 4, 0), b)],
    ["bad_csum_offsets", (b: Uint8Array) => ((b[8] = 7), b)],
    ["bad_hdr_len", (b: Uint8Array) => (write16(b, 2, 0xffff), b)],
    ["unsupported", (b: Uint8Array) => ((b[VNET_HEADER_LENGTH + 33] = TcpFlag.SYN | TcpFlag.ACK), b)],
    ["truncated", (b: Uint8Array) => (write16(b, VNET_HEADER_LENGTH + 2, 60_000), b)], // an IP length past the read
  ])("counts %s and drops the packet", (reason, spoil) => {
    const { offload, pieces } = collector();
    const read = spoil(offloaded(packet, VnetGso.TCPV4, 1000).slice());
    offload.receive(read, 0, read.length);
    expect(pieces).toEqual([]);
    expect(offload.stats.drops[reason]).toBe(1);
    expect(Object.values(offload.stats.drops).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it("refuses a UDP super-packet of more than 128 datagrams (Linux UDP_MAX_SEGMENTS)", () => {
    const { offload, pieces } = collector();
    const udp = udp4("10.0.0.2", "10.0.0.1", 1, 2, pattern(129 * 100));
    offload.receive(offloaded(udp, VnetGso.UDP_L4, 100), 0, VNET_HEADER_LENGTH + udp.length);
    expect(pieces).toEqual([]);
    expect(offload.stats.drops["bad_gso_size"]).toBe(1);
  });

  it("property: random header bytes before a real packet never throw, and each read is delivered or counted once", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: VNET_HEADER_LENGTH, maxLength: VNET_HEADER_LENGTH }), fc.integer({ min: 0, max: 3 }), (header, which) => {
        const p = [packet, tcp6("fd00::2", "fd00::1", { srcPort: 1, dstPort: 2, payload: pattern(2000) }), udp4("10.0.0.2", "10.0.0.1", 1, 2, pattern(2000)), udp6("fd00::2", "fd00::1", 1, 2, pattern(900))][which]!;
        const read = new Uint8Array(VNET_HEADER_LENGTH + p.length);
        read.set(header);
        read.set(p, VNET_HEADER_LENGTH);
        const { offload, pieces } = collector();
        offload.receive(read, 0, read.length);
        const dropped = Object.values(offload.stats.drops).reduce((a, b) => a + b, 0);
        expect(dropped + (pieces.length > 0 ? 1 : 0)).toBe(1);
      }),
      { numRuns: 500 },
    );
  });
});

/** An RxOffload with deliverTrusted (the runner's, for an engine with l3RxTrusted): both outputs kept apart. */
function trustingCollector(): { offload: RxOffload; plain: Uint8Array[]; trusted: Uint8Array[] } {
  const plain: Uint8Array[] = [];
  const trusted: Uint8Array[] = [];
  const offload = new RxOffload(
    (packet) => plain.push(packet.slice()),
    (packet) => trusted.push(packet.slice()),
  );
  return { offload, plain, trusted };
}

describe("RxOffload with deliverTrusted: no checksum work the header says is not needed", () => {
  it.each([
    ["IPv4", tcp4("10.0.0.2", "10.0.0.1", { srcPort: 40000, dstPort: 5201, seq: 7, flags: TcpFlag.ACK | TcpFlag.PSH | TcpFlag.FIN, ts: [5, 6], payload: pattern(60_000) }), VnetGso.TCPV4],
    ["IPv6", tcp6("fd00::2", "fd00::1", { srcPort: 40000, dstPort: 5201, seq: 7, flags: TcpFlag.ACK, payload: pattern(65_000) }), VnetGso.TCPV6],
  ])("hands a TCP/%s super-packet on whole, as the kernel wrote it (the checksum field still partial)", (_, packet, gso) => {
    const { offload, plain, trusted } = trustingCollector();
    const read = offloaded(packet, gso, 1448);
    const asWritten = read.slice(VNET_HEADER_LENGTH);
    offload.receive(read, 0, read.length);
    expect(plain).toEqual([]);
    expect(trusted).toEqual([asWritten]);
    expect(offload.stats).toMatchObject({ superSegments: 1, checksumsTrusted: 1, checksumsCompleted: 0, superPackets: 0, pieces: 0 });
  });

  it("hands a NEEDS_CSUM packet on without completing its checksum", () => {
    const { offload, plain, trusted } = trustingCollector();
    const packet = udp4("10.0.0.2", "10.0.0.1", 5, 53, pattern(30));
    const read = offloaded(packet, VnetGso.NONE, 0);
    const asWritten = read.slice(VNET_HEADER_LENGTH);
    offload.receive(read, 0, read.length);
    expect(trusted).toEqual([asWritten]);
    expect(plain).toEqual([]);
    expect(offload.stats).toMatchObject({ checksumsTrusted: 1, checksumsCompleted: 0 });
  });

  it("hands a DATA_VALID packet to deliverTrusted, a packet without flags to deliver", () => {
    const { offload, plain, trusted } = trustingCollector();
    const packet = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1, dstPort: 2, payload: pattern(100) });
    const read = new Uint8Array(VNET_HEADER_LENGTH + packet.length);
    read.set(packet, VNET_HEADER_LENGTH);
    offload.receive(read, 0, read.length);
    writeVnetHeader(read, 0, VnetFlag.DATA_VALID, VnetGso.NONE, 0, 0, 0, 0);
    offload.receive(read, 0, read.length);
    expect(plain).toEqual([packet]);
    expect(trusted).toEqual([packet]);
  });

  it.each([
    ["IPv4", udp4("10.0.0.2", "10.0.0.1", 4000, 5000, pattern(3500, 3))],
    ["IPv6", udp6("fd00::2", "fd00::1", 4000, 5000, pattern(3500, 3))],
  ])("still cuts a UDP/%s super-packet into its datagrams, whose checksums it does not compute", (_, packet) => {
    const { offload, plain, trusted } = trustingCollector();
    offload.receive(offloaded(packet, VnetGso.UDP_L4, 1200), 0, VNET_HEADER_LENGTH + packet.length);
    expect(plain).toEqual([]);
    expect(trusted.map((p) => payloadOf(p).length)).toEqual([1200, 1200, 1100]);
    for (const p of trusted) {
      expect(read16(p, l4Of(p) + 4)).toBe(p.length - l4Of(p));
      expect(read16(p, l4Of(p) + 6)).not.toBe(0); // never "no checksum" (IPv6 forbids it)
      if (!v6(p)) expect(ipv4HeaderOk(p)).toBe(true);
    }
    expect(trusted.some((p) => l4ChecksumOk(p))).toBe(false); // the partial sum, not computed
    expect(concat(trusted.map((p) => payloadOf(p)))).toEqual(pattern(3500, 3));
    expect(offload.stats).toMatchObject({ superPackets: 1, pieces: 3, checksumsTrusted: 1, checksumsCompleted: 0 });
  });

  it("still drops a super-packet with SYN", () => {
    const { offload, plain, trusted } = trustingCollector();
    const packet = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1, dstPort: 2, flags: TcpFlag.SYN | TcpFlag.ACK, payload: pattern(3000) });
    offload.receive(offloaded(packet, VnetGso.TCPV4, 1000), 0, VNET_HEADER_LENGTH + packet.length);
    expect(plain.length + trusted.length).toBe(0);
    expect(offload.stats.drops["unsupported"]).toBe(1);
  });
});

describe("writeTxHeader: the header before a packet we send", () => {
  function sent(packet: Uint8Array, partial: boolean): Uint8Array {
    const b = new Uint8Array(VNET_HEADER_LENGTH + packet.length).fill(0xaa);
    b.set(packet, VNET_HEADER_LENGTH);
    writeTxHeader(b, VNET_HEADER_LENGTH, packet.length, partial);
    return b;
  }

  it.each([
    ["TCP/IPv4", tcp4("10.0.0.1", "10.0.0.2", { srcPort: 80, dstPort: 1000, flags: TcpFlag.ACK, payload: pattern(1400) }), 20, 16],
    ["TCP/IPv6", tcp6("fd00::1", "fd00::2", { srcPort: 80, dstPort: 1000, flags: TcpFlag.ACK, payload: pattern(10) }), 40, 16],
    ["UDP/IPv4", udp4("10.0.0.1", "10.0.0.2", 53, 1000, pattern(100)), 20, 6],
    ["UDP/IPv6", udp6("fd00::1", "fd00::2", 53, 1000, pattern(100)), 40, 6],
  ])("sends %s as NEEDS_CSUM with the pseudo-header sum, which completes to the real checksum", (_, packet, csumStart, csumOffset) => {
    const b = sent(packet, true);
    expect(b.subarray(0, VNET_HEADER_LENGTH)).toEqual(Uint8Array.from([VnetFlag.NEEDS_CSUM, 0, 0, 0, 0, 0, csumStart, 0, csumOffset, 0, 0, 0]));
    const field = VNET_HEADER_LENGTH + csumStart + csumOffset;
    expect(read16(b, field)).toBe(checksumFoldRaw(pseudoSum(packet, 0, v6(packet) ? packet[6]! : packet[9]!, packet.length - csumStart)));
    // What the kernel would do with it (and what the receive side does): the packet as it was.
    const { offload, pieces } = collector();
    offload.receive(b, 0, b.length);
    expect(pieces.map((p) => p.bytes)).toEqual([packet]);
  });

  it.each([
    ["ICMP", icmp4("10.0.0.1", "10.0.0.2", 0, 0, 0x12340001, pattern(56))],
    ["an IPv4 fragment", (() => { const p = udp4("10.0.0.1", "10.0.0.2", 53, 1000, pattern(100)).slice(); p[6] = 0x20; return p; })()],
  ])("sends %s behind a header of zeros, untouched", (_, packet) => {
    const b = sent(packet, true);
    expect(b.subarray(0, VNET_HEADER_LENGTH)).toEqual(new Uint8Array(VNET_HEADER_LENGTH));
    expect(b.subarray(VNET_HEADER_LENGTH)).toEqual(packet);
  });

  it("sends every packet behind a header of zeros without checksum offload", () => {
    const packet = tcp4("10.0.0.1", "10.0.0.2", { srcPort: 80, dstPort: 1000, payload: pattern(10) });
    const b = sent(packet, false);
    expect(b.subarray(0, VNET_HEADER_LENGTH)).toEqual(new Uint8Array(VNET_HEADER_LENGTH));
    expect(b.subarray(VNET_HEADER_LENGTH)).toEqual(packet);
  });
});
