/**
 * l4TxDatagrams (engine.ts → udp/udp-flow.ts sendRun): a run of datagrams of one size. Without
 * txUdpSegments it sends exactly the packets that as many l4Tx calls send (byte for byte); under
 * txSuperSegments + txUdpSegments a run leaves as one UDP GSO packet (GSO_UDP_L4, NEEDS_CSUM) that
 * the device cuts, and what does not fit one stays per datagram.
 */
import { describe, expect, it } from "vitest";
import type { Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { InvalidArgumentError } from "../../lib/errors.js";
import { checksumAdd, checksumFinish } from "../../lib/wire/checksum.js";
import { VnetFlag, VnetGso, VnetHeader, VNET_HEADER_LENGTH } from "../../lib/wire/virtio-net.js";
import { engineFixture } from "../support/engine-fixture.js";
import { tcp, udp } from "../support/packets.js";

function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
}

type Configure = (b: L3L4Builder<Uint8Array>) => L3L4Builder<Uint8Array>;
type Fixture = ReturnType<typeof engineFixture>;

/** The raw packets an engine sends for `send` on a fresh flow of `family`. */
function sent(configure: Configure, family: 4 | 6, send: (e: Fixture["engine"], cap: Fixture["cap"], flow: Flow) => void): Uint8Array[] {
  const { engine, cap } = engineFixture(configure);
  const flow = engine.l3Rx(cap, udp({ family, srcPort: 5000, dstPort: 53, payload: "q" }))!;
  cap.takeRaw();
  send(engine, cap, flow);
  return cap.takeRaw();
}

const plain: Configure = (b) => b;
const vnet: Configure = (b) => b.txSuperSegments();
const uso: Configure = (b) => b.txSuperSegments().txUdpSegments();

describe("l4TxDatagrams", () => {
  it.each([
    ["without offloads", plain, 0],
    ["under txSuperSegments alone", vnet, VNET_HEADER_LENGTH],
  ] as const)("%s: byte for byte the packets of one l4Tx per datagram (IPv4, IPv6)", (_name, configure, head) => {
    for (const family of [4, 6] as const) {
      const { engine, cap } = engineFixture(configure);
      const flow = engine.l3Rx(cap, udp({ family, srcPort: 5000, dstPort: 53, payload: "q" }))!;
      cap.takeRaw();
      const data = pattern(10 * 1200 + 345);
      for (let at = 0; at < data.length; at += 1200) engine.l4Tx(cap, flow, data.subarray(at, at + 1200));
      const singles = cap.takeRaw();
      expect(engine.l4TxDatagrams(cap, flow, data, 1200)).toBe(data.length);
      const runs = cap.takeRaw();
      expect(runs).toHaveLength(11);
      // The same engine: IPv4's identification counts on, and the header checksum with it; the rest is equal.
      const id = (p: Uint8Array) => (p[head + 4]! << 8) | p[head + 5]!;
      const masked = (p: Uint8Array) => {
        const c = p.slice();
        if (family === 4) c[head + 4] = c[head + 5] = c[head + 10] = c[head + 11] = 0;
        return c;
      };
      if (family === 4) expect(runs.map(id)).toEqual(singles.map((p) => (id(p) + 11) & 0xffff));
      expect(runs.map(masked)).toEqual(singles.map(masked));
    }
  });

  it.each([4, 6] as const)("under txUdpSegments: one GSO_UDP_L4 packet (IPv%i) whose partial checksum completes to the right one", (family) => {
    const { engine, cap } = engineFixture(uso);
    const flow = engine.l3Rx(cap, udp({ family, srcPort: 5000, dstPort: 53, payload: "q" }))!;
    cap.takeRaw();
    const data = pattern(40 * 1400 + 100);
    expect(engine.l4TxDatagrams(cap, flow, data, 1400)).toBe(data.length);
    const [p, more] = cap.takeRaw();
    expect(more).toBeUndefined();
    const h = new VnetHeader().read(p!, 0);
    const ipLen = family === 4 ? 20 : 40;
    const udpAt = VNET_HEADER_LENGTH + ipLen;
    const udpLen = 8 + data.length;
    expect(h).toMatchObject({ flags: VnetFlag.NEEDS_CSUM, gsoType: VnetGso.UDP_L4, gsoSize: 1400, csumStart: ipLen, csumOffset: 6, hdrLen: ipLen + 8 });
    expect(p!.length).toBe(udpAt + udpLen);
    const ip = p!.subarray(VNET_HEADER_LENGTH);
    if (family === 4) expect((ip[2]! << 8) | ip[3]!).toBe(ipLen + udpLen);
    else expect((ip[4]! << 8) | ip[5]!).toBe(udpLen);
    expect((p![udpAt + 4]! << 8) | p![udpAt + 5]!).toBe(udpLen);
    expect(p!.subarray(udpAt + 8)).toEqual(data);
    // The device sums from csum_start to the end with the field as it is, and stores the complement:
    // that must be the datagram's checksum (pseudo-header + header with the field 0 + data).
    const addrAt = VNET_HEADER_LENGTH + (family === 4 ? 12 : 8);
    const addrLen = family === 4 ? 8 : 32;
    const pseudo = checksumAdd(0, p!, addrAt, addrLen) + 17 + udpLen;
    const zeroed = p!.slice(udpAt);
    zeroed[6] = zeroed[7] = 0;
    const right = checksumFinish(checksumAdd(pseudo, zeroed, 0, udpLen));
    expect(checksumFinish(checksumAdd(0, p!, udpAt, udpLen))).toBe(right);
    expect(engine.stats().udpDatagramsOut).toBe(41);
  });

  it("under txUdpSegments, what one packet cannot carry goes per datagram: a run past 64 KiB, a segment over the MTU, one datagram, the other family", () => {
    const one = (configure: Configure, family: 4 | 6, n: number, segment: number) =>
      sent(configure, family, (e, cap, flow) => e.l4TxDatagrams(cap, flow, pattern(n), segment));
    expect(one(uso, 4, 47 * 1400, 1400)).toHaveLength(47); // 65 800 bytes: past the IPv4 length field
    expect(one(uso, 4, 3 * 3000, 3000)).toHaveLength(3 * 3); // over the MTU: each datagram fragmented
    expect(one(uso, 4, 1000, 1400)).toHaveLength(1);
    expect(new VnetHeader().read(one(uso, 4, 1000, 1400)[0]!, 0).gsoType).toBe(VnetGso.NONE);
    const v4only: Configure = (b) => b.txSuperSegments().txUdpSegments(true, false);
    expect(one(v4only, 6, 5 * 1000, 1000)).toHaveLength(5);
    expect(one(v4only, 4, 5 * 1000, 1000)).toHaveLength(1);
  });

  it("refuses a TCP flow, a segment size out of range, and txUdpSegments without txSuperSegments", () => {
    const { engine, cap } = engineFixture();
    const u = engine.l3Rx(cap, udp({ payload: "q" }))!;
    expect(() => engine.l4TxDatagrams(cap, u, pattern(10), 0)).toThrow(InvalidArgumentError);
    expect(() => engine.l4TxDatagrams(cap, u, pattern(10), 1.5)).toThrow(InvalidArgumentError);
    expect(() => engine.l4TxDatagrams(cap, u, pattern(10), 70_000)).toThrow(InvalidArgumentError);
    expect(engine.l4TxDatagrams(cap, u, new Uint8Array(0), 100)).toBe(0);
    const t = engine.l3Rx(cap, tcp({ flags: "S", seq: 100 }));
    if (t !== undefined) expect(() => engine.l4TxDatagrams(cap, t, pattern(10), 5)).toThrow(InvalidArgumentError);
    expect(() => new L3L4Builder().txUdpSegments().build()).toThrow(RangeError);
  });

  it("a run stops at the first datagram without a buffer: the bytes before it", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp({ payload: "q" }))!;
    let left = 3;
    const real = cap.l3TxBuffer.bind(cap);
    cap.l3TxBuffer = (size: number) => (left-- > 0 ? real(size) : undefined);
    expect(engine.l4TxDatagrams(cap, flow, pattern(5 * 100), 100)).toBe(300);
  });
});
