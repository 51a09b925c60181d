import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, type EngineConfig } from "../../lib/config.js";
import { BufferTooSmallError } from "../../lib/errors.js";
import { FlowRecord } from "../../lib/flow/flow.js";
import { IpOutput } from "../../lib/ip/output.js";
import { Counters } from "../../lib/stats.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { emitUdpHeader, fillUdpChecksum } from "../../lib/wire/udp.js";
import { flowPseudoSum } from "../../lib/udp/udp-flow.js";
import { Capture } from "../support/capture.js";
import { ipv6Bytes } from "../support/oracle/address.js";
import { joinFragments, parse } from "../support/packets.js";

function setup(config: Partial<EngineConfig> = {}) {
  const cfg = { ...DEFAULT_CONFIG, ...config };
  const counters = new Counters();
  return { out: new IpOutput(cfg, counters), counters, cap: new Capture() };
}

function flow4(): FlowRecord {
  const addr = new Uint8Array(32);
  addr.set([198, 51, 100, 9], 0);
  addr.set([203, 0, 113, 1], 16);
  return new FlowRecord({}, "udp", 4, addr, "198.51.100.9", 5000, "203.0.113.1", 53, false);
}

function flow6(): FlowRecord {
  const addr = new Uint8Array(32);
  addr.set(ipv6Bytes("2001:db8::9"), 0);
  addr.set(ipv6Bytes("2001:db8:1::1"), 16);
  return new FlowRecord({}, "udp", 6, addr, "2001:db8::9", 5000, "2001:db8:1::1", 53, false);
}

describe("IpOutput", () => {
  it.each([
    ["IPv4", flow4],
    ["IPv6", flow6],
  ])("frames a flow's packet from local to remote (%s)", (_name, mk) => {
    const { out, cap } = setup({ ttl: 33 });
    const flow = mk();
    const size = (flow.family === 4 ? 20 : 40) + 8 + 4;
    const buf = out.begin(cap, size)!;
    const at = out.writeFlowHeader(buf, 0, flow, IpProtocol.UDP, 12, false);
    expect(at).toBe(flow.family === 4 ? 20 : 40);
    emitUdpHeader(buf, at, flow.localPort, flow.remotePort, 12);
    buf.set([1, 2, 3, 4], at + 8);
    const ps = out.pseudoSum(buf, 0, flow.family, IpProtocol.UDP, 12);
    expect(ps).toBe(flowPseudoSum(flow, IpProtocol.UDP, 12));
    fillUdpChecksum(buf, at, 12, ps);
    out.finish(cap, size);
    const [p] = cap.take();
    expect(p).toMatchObject({ src: flow.dstIp, dst: flow.srcIp, ttl: 33, checksumOk: true, protocol: 17 });
    expect(p!.udp).toMatchObject({ srcPort: 53, dstPort: 5000 });
  });

  it("advances the IPv4 identification per packet and sets DF only when asked", () => {
    const { out, cap } = setup();
    const flow = flow4();
    for (const df of [true, false, true]) {
      const buf = out.begin(cap, 20)!;
      out.writeFlowHeader(buf, 0, flow, 253, 0, df); // RFC 3692 experimental: no L4 to check
      out.finish(cap, 20);
    }
    const ps = cap.take();
    expect(ps.map((p) => p.df)).toEqual([true, false, true]);
    expect((ps[1]!.ident - ps[0]!.ident) & 0xffff).toBe(1);
    expect((ps[2]!.ident - ps[1]!.ident) & 0xffff).toBe(1);
    expect(ps.every((p) => p.checksumOk)).toBe(true);
  });

  it("counts a missing buffer and throws BufferTooSmallError for a short one", () => {
    const { out, cap, counters } = setup();
    cap.noBuffers = true;
    expect(out.begin(cap, 100)).toBeUndefined();
    expect(counters.txBufferUnavailable).toBe(1);
    cap.noBuffers = false;
    cap.slack = -1;
    expect(() => out.begin(cap, 100)).toThrow(BufferTooSmallError);
  });

  it.each([
    [4, 576],
    [4, 1500],
    [6, 1280],
    [6, 1500],
    [6, 600],
  ] as const)("fragments an IPv%i datagram to fit MTU %i, offsets in 8-byte units", (family, mtu) => {
    const { out, cap, counters } = setup({ mtu });
    const flow = family === 4 ? flow4() : flow6();
    const msg = Uint8Array.from({ length: 7001 }, (_, i) => i & 255);
    expect(out.sendDatagram(cap, family, flow.addr, 16, 0, IpProtocol.UDP, msg, 0, msg.length)).toBe(true);
    const raw = cap.takeRaw();
    expect(raw.length).toBeGreaterThan(1);
    for (const r of raw) expect(r.length).toBeLessThanOrEqual(mtu);
    const parsed = raw.map(parse);
    for (const p of parsed.slice(0, -1)) {
      expect(p.moreFragments).toBe(true);
      expect(p.l4.length % 8).toBe(0);
    }
    expect(parsed.at(-1)!.moreFragments).toBe(false);
    expect(Array.from(joinFragments(raw))).toEqual(Array.from(msg));
    expect(counters.fragmentsOut).toBe(raw.length);
    expect(counters.packetsOut).toBe(raw.length);
  });

  it("stops a fragmented send when a buffer is refused", () => {
    const { out, cap } = setup({ mtu: 576 });
    const flow = flow4();
    let left = 2;
    const stingy = Object.assign(Object.create(cap) as Capture, {
      l3TxBuffer: (size: number) => (left-- > 0 ? cap.l3TxBuffer(size) : undefined),
    });
    const msg = new Uint8Array(3000);
    expect(out.sendDatagram(stingy, 4, flow.addr, 16, 0, IpProtocol.UDP, msg, 0, msg.length)).toBe(false);
    expect(cap.sent).toHaveLength(2);
  });
});
