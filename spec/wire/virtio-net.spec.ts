import { describe, expect, it } from "vitest";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import {
  checkVnetHeader,
  VNET_DROP_NAMES,
  VNET_HEADER_LENGTH,
  VnetDrop,
  VnetFlag,
  VnetGso,
  VnetHeader,
  writeVnetHeader,
} from "../../lib/wire/virtio-net.js";
import { tcp4, tcp6, udp4, udp6 } from "./builders.js";

/** A header as Linux's tun_put_user writes one for a TSO packet (virtio_net_hdr_from_skb), little-endian. */
const TSO4_HEADER = Uint8Array.from([0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00, 0x00, 0x00]);

function header(fields: Partial<VnetHeader>): VnetHeader {
  return Object.assign(new VnetHeader(), fields);
}

describe("virtio-net header: bytes", () => {
  it("reads the little-endian fields of a header as Linux writes it", () => {
    const h = new VnetHeader().read(TSO4_HEADER, 0);
    expect(h).toMatchObject({ flags: VnetFlag.NEEDS_CSUM, gsoType: VnetGso.TCPV4, hdrLen: 66, gsoSize: 1448, csumStart: 20, csumOffset: 16 });
    expect(h.gso).toBe(VnetGso.TCPV4);
  });

  it("writes the same bytes back, num_buffers zero, at an offset", () => {
    const b = new Uint8Array(3 + VNET_HEADER_LENGTH).fill(0xee);
    writeVnetHeader(b, 3, VnetFlag.NEEDS_CSUM, VnetGso.TCPV4, 66, 1448, 20, 16);
    expect(b.subarray(3)).toEqual(TSO4_HEADER);
    expect(b.subarray(0, 3)).toEqual(Uint8Array.from([0xee, 0xee, 0xee]));
  });

  it("writes all zeros by default (a whole packet, checksums complete)", () => {
    const b = new Uint8Array(VNET_HEADER_LENGTH).fill(0xff);
    writeVnetHeader(b, 0);
    expect(b).toEqual(new Uint8Array(VNET_HEADER_LENGTH));
  });

  it("keeps the ECN bit out of gso", () => {
    expect(header({ gsoType: VnetGso.TCPV6 | VnetGso.ECN }).gso).toBe(VnetGso.TCPV6);
  });
});

describe("virtio-net header: checked against its packet", () => {
  const payload = new Uint8Array(3000).fill(7);
  const t4 = tcp4("10.0.0.2", "10.0.0.1", { srcPort: 1000, dstPort: 80, payload });
  const t6 = tcp6("fd00::2", "fd00::1", { srcPort: 1000, dstPort: 80, payload });
  const u4 = udp4("10.0.0.2", "10.0.0.1", 1000, 53, payload);
  const u6 = udp6("fd00::2", "fd00::1", 1000, 53, payload);
  const needs = VnetFlag.NEEDS_CSUM;
  const tso4 = { flags: needs, gsoType: VnetGso.TCPV4, gsoSize: 1448, csumStart: 20, csumOffset: 16, hdrLen: 40 };
  const tso6 = { flags: needs, gsoType: VnetGso.TCPV6, gsoSize: 1428, csumStart: 40, csumOffset: 16, hdrLen: 60 };
  const uso4 = { flags: needs, gsoType: VnetGso.UDP_L4, gsoSize: 1000, csumStart: 20, csumOffset: 6 };

  it.each([
    ["no metadata", {}, t4],
    ["DATA_VALID alone", { flags: VnetFlag.DATA_VALID }, t4],
    ["no metadata on anything (not even IP)", {}, Uint8Array.from([0x00, 0x01])],
    ["NEEDS_CSUM on TCP/IPv4", { flags: needs, csumStart: 20, csumOffset: 16 }, t4],
    ["NEEDS_CSUM on UDP/IPv6", { flags: needs, csumStart: 40, csumOffset: 6 }, u6],
    ["TSO over IPv4", tso4, t4],
    ["TSO over IPv6", tso6, t6],
    ["TSO with ECN", { ...tso4, gsoType: VnetGso.TCPV4 | VnetGso.ECN }, t4],
    ["USO over IPv4", uso4, u4],
    ["USO over IPv6", { ...uso4, csumStart: 40 }, u6],
    ["hdr_len past the real headers (Linux: the skb's linear part)", { ...tso4, hdrLen: 200 }, t4],
  ])("takes %s", (_, fields, packet) => {
    const h = header(fields);
    expect(checkVnetHeader(h, packet, 0, packet.length)).toBe(VnetDrop.OK);
  });

  it("says where the L4 header is, how long, and which protocol", () => {
    const h = header(tso6);
    checkVnetHeader(h, t6, 0, t6.length);
    expect(h).toMatchObject({ l4Offset: 40, l4HeaderLength: 20, protocol: IpProtocol.TCP });
    const u = header(uso4);
    checkVnetHeader(u, u4, 0, u4.length);
    expect(u).toMatchObject({ l4Offset: 20, l4HeaderLength: 8, protocol: IpProtocol.UDP });
  });

  const withExtension = tcp6("fd00::2", "fd00::1", { srcPort: 1, dstPort: 2, payload }, [{ type: 0, bytes: new Uint8Array(8) }]);
  // The first fragment of a datagram: MF set (the IPv4 header checksum does not matter here).
  const fragment = t4.slice();
  fragment[6] = 0x20;
  it.each([
    ["unknown flag bits", { flags: 4 }, t4, VnetDrop.BAD_FLAGS],
    ["UFO (never negotiated)", { ...tso4, gsoType: VnetGso.UDP }, u4, VnetDrop.BAD_GSO_TYPE],
    ["an unknown gso_type", { ...tso4, gsoType: 2 }, t4, VnetDrop.BAD_GSO_TYPE],
    ["ECN without GSO", { gsoType: VnetGso.ECN }, t4, VnetDrop.BAD_GSO_TYPE],
    ["ECN on UDP", { ...uso4, gsoType: VnetGso.UDP_L4 | VnetGso.ECN }, u4, VnetDrop.BAD_GSO_TYPE],
    ["TCPV6 on an IPv4 packet", { ...tso4, gsoType: VnetGso.TCPV6 }, t4, VnetDrop.BAD_GSO_TYPE],
    ["TCPV4 on an IPv6 packet", { ...tso6, gsoType: VnetGso.TCPV4 }, t6, VnetDrop.BAD_GSO_TYPE],
    ["TCP segmentation of UDP", { ...uso4, gsoType: VnetGso.TCPV4 }, u4, VnetDrop.BAD_GSO_TYPE],
    ["UDP segmentation of TCP", { ...tso4, gsoType: VnetGso.UDP_L4 }, t4, VnetDrop.BAD_GSO_TYPE],
    ["GSO without NEEDS_CSUM", { ...tso4, flags: 0 }, t4, VnetDrop.BAD_CSUM_OFFSETS],
    ["gso_size 0", { ...tso4, gsoSize: 0 }, t4, VnetDrop.BAD_GSO_SIZE],
    ["more UDP pieces than Linux's 128", { ...uso4, gsoSize: 20 }, u4, VnetDrop.BAD_GSO_SIZE],
    ["csum_start not at the L4 header", { ...tso4, csumStart: 24 }, t4, VnetDrop.BAD_CSUM_OFFSETS],
    ["csum_offset not at the TCP checksum", { ...tso4, csumOffset: 6 }, t4, VnetDrop.BAD_CSUM_OFFSETS],
    ["csum_offset not at the UDP checksum", { ...uso4, csumOffset: 16 }, u4, VnetDrop.BAD_CSUM_OFFSETS],
    ["hdr_len past the packet", { ...tso4, hdrLen: 4000 }, t4, VnetDrop.BAD_HDR_LEN],
    ["IPv6 extension headers under offload metadata", { ...tso6, csumStart: 48 }, withExtension, VnetDrop.UNSUPPORTED],
    ["an IPv4 fragment under NEEDS_CSUM", { flags: needs, csumStart: 20, csumOffset: 16 }, fragment, VnetDrop.UNSUPPORTED],
    ["NEEDS_CSUM on a packet that is not IP", { flags: needs, csumStart: 20, csumOffset: 16 }, new Uint8Array(40), VnetDrop.UNSUPPORTED],
    ["NEEDS_CSUM on a truncated TCP header", { flags: needs, csumStart: 20, csumOffset: 16 }, t4.subarray(0, 30), VnetDrop.TRUNCATED],
    ["NEEDS_CSUM on a truncated IPv4 header", { flags: needs, csumStart: 20, csumOffset: 16 }, t4.subarray(0, 10), VnetDrop.TRUNCATED],
    ["NEEDS_CSUM on nothing at all", { flags: needs }, new Uint8Array(0), VnetDrop.TRUNCATED],
  ])("refuses %s", (_, fields, packet, reason) => {
    expect(VNET_DROP_NAMES[reason]).toBeDefined();
    expect(checkVnetHeader(header(fields), packet, 0, packet.length)).toBe(reason);
  });

  it("reads the packet at an offset within a larger buffer", () => {
    const b = new Uint8Array(5 + t4.length);
    b.set(t4, 5);
    expect(checkVnetHeader(header(tso4), b, 5, t4.length)).toBe(VnetDrop.OK);
    expect(checkVnetHeader(header({ ...tso4, hdrLen: 0 }), b, 5, 30)).toBe(VnetDrop.TRUNCATED);
  });
});
