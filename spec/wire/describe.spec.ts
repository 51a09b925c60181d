import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pseudoSum4 } from "../../lib/wire/checksum.js";
import { describe as describeFn, describePacket, tcpOptionsText } from "../../lib/wire/describe.js";
import { Drop, dropReasonName } from "../../lib/wire/drop.js";
import { Icmpv4Type, Icmpv6Type } from "../../lib/wire/icmp.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { TcpOptions, fillTcpChecksum, parseTcpOptions } from "../../lib/wire/tcp.js";
import { fillUdpChecksum } from "../../lib/wire/udp.js";
import { fragmentHeader, icmp4, icmp6, ipv4Packet, ipv6Packet, optionsHeader, tcp4, tcp6, udp4, udp6 } from "./builders.js";
import * as cap from "./fixtures/linux-captures.js";

describe("describe() on real Linux packets", () => {
  it.each([
    ["syn4", "IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [S] seq=3893988006 win=64240 [mss 1460,sackOK,TS 490034204 0,nop,wscale 10] len=0"],
    ["synAck4", "IPv4 192.0.2.7:80 > 10.0.0.2:41000 TCP [S.] seq=82572184 ack=3893988007 win=65160 [mss 1460,sackOK,TS 2999149510 490034204,nop,wscale 10] len=0"],
    ["ack4", "IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [.] seq=3893988007 ack=82572185 win=63 [nop,nop,TS 490034204 2999149510] len=0"],
    ["data4", "IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [.] seq=3893988007 ack=82572185 win=63 [nop,nop,TS 490034204 2999149510] len=1448"],
    ["sackAck4", "IPv4 192.0.2.7:80 > 10.0.0.2:41000 TCP [.] seq=82572185 ack=3893988007 win=67 [nop,nop,TS 2999149511 490034204,nop,nop,sack 1 {3893990903:3893992007}] len=0"],
    ["finAck4", "IPv4 192.0.2.7:80 > 10.0.0.2:41000 TCP [F.] seq=82572188 ack=3893992007 win=73 [nop,nop,TS 2999149511 490034205] len=0"],
    ["rstAck4", "IPv4 192.0.2.7:81 > 10.0.0.2:41010 TCP [R.] seq=0 ack=3235944791 win=0 len=0"],
    ["syn6", "IPv6 [2001:db8:1::2]:41001 > [2001:db8:2::7]:80 TCP [S] seq=2192275425 win=64800 [mss 1440,sackOK,TS 261907430 0,nop,wscale 10] len=0"],
    ["udp4", "IPv4 10.0.0.2:41002 > 192.0.2.7:9 UDP len=32"],
    ["udp6", "IPv6 [2001:db8:1::2]:41003 > [2001:db8:2::7]:9 UDP len=32"],
    ["echoRequest4", "IPv4 10.0.0.2 > 192.0.2.7 ICMP echo request id=46845 seq=2 len=56"],
    ["echoReply6", "IPv6 2001:db8:2::7 > 2001:db8:1::2 ICMPv6 echo reply id=46846 seq=2 len=56"],
    ["portUnreachable4", "IPv4 192.0.2.7 > 10.0.0.2 ICMP port unreachable for (IPv4 10.0.0.2:41002 > 192.0.2.7:9 UDP len=32)"],
    ["portUnreachable6", "IPv6 2001:db8:2::7 > 2001:db8:1::2 ICMPv6 port unreachable for (IPv6 [2001:db8:1::2]:41003 > [2001:db8:2::7]:9 UDP len=32)"],
    [
      "fragNeeded4",
      "IPv4 10.0.0.1 > 10.0.0.2 ICMP frag needed mtu=1280 for (IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [.] seq=3893988007 ack=82572185 win=63 [nop,nop,TS 490034204 2999149510] len=1448)",
    ],
    [
      "packetTooBig6",
      "IPv6 2001:db8:1::1 > 2001:db8:1::2 ICMPv6 packet too big mtu=1280 for (IPv6 [2001:db8:1::2]:41001 > [2001:db8:2::7]:80 TCP [.] seq=2192275426 ack=1969885006 win=64 [nop,nop,TS 261907430 2312216826] len=1428)",
    ],
    ["fragFirst4", "IPv4 10.0.0.2 > 192.0.2.7 frag id=5794 off=0+ len=1256 proto=UDP"],
    ["fragLast4", "IPv4 10.0.0.2 > 192.0.2.7 frag id=5794 off=2512 len=496 proto=UDP"],
    ["fragLast6", "IPv6 2001:db8:1::2 > 2001:db8:2::7 frag id=0x6b8deafc off=2464 len=544 proto=UDP"],
    ["hbhDstUdp6", "IPv6 [2001:db8:1::2]:41006 > [2001:db8:2::7]:5353 ext=hbh,dstopts UDP len=40"],
    ["hbhDstFragFirst6", "IPv6 2001:db8:1::2 > 2001:db8:2::7 ext=hbh,dstopts frag id=0xe8f4b3e0 off=0+ len=1216 proto=UDP"],
  ] as const)("%s", (name, text) => {
    expect(describeFn(cap[name])).toBe(text);
  });

  it("describes every capture without a failure marker", () => {
    for (const [name, p] of Object.entries(cap)) {
      const s = describePacket(p);
      expect(s, name).toMatch(/^IPv[46] /);
      expect(s, name).not.toMatch(/truncated|bad_|describe_failed/);
    }
  });
});

describe("describe() of packets built to order", () => {
  it("the brief's examples", () => {
    expect(
      describeFn(tcp4("10.0.0.2", "192.0.2.7", { srcPort: 41000, dstPort: 80, seq: 1, flags: 0x02, window: 64240, mss: 1460, sackPermitted: true, ts: [1, 0], windowScale: 7 })),
    ).toBe("IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [S] seq=1 win=64240 [mss 1460,sackOK,TS 1 0,nop,wscale 7] len=0");
    expect(describeFn(udp6("2001:db8::1", "2001:db8::2", 53, 5353, new Uint8Array(40)))).toBe("IPv6 [2001:db8::1]:53 > [2001:db8::2]:5353 UDP len=40");
    expect(describeFn(icmp4("10.0.0.2", "10.0.0.1", Icmpv4Type.ECHO_REQUEST, 0, (1 << 16) | 2, new Uint8Array(56)))).toBe(
      "IPv4 10.0.0.2 > 10.0.0.1 ICMP echo request id=1 seq=2 len=56",
    );
  });

  it("prints flags as tcpdump's letters in its order, urg= with URG, ack= only with ACK", () => {
    const flags = (f: number, extra: object = {}) => describeFn(tcp4("1.2.3.4", "5.6.7.8", { srcPort: 1, dstPort: 2, seq: 5, ack: 9, flags: f, window: 3, ...extra }));
    expect(flags(0)).toBe("IPv4 1.2.3.4:1 > 5.6.7.8:2 TCP [none] seq=5 win=3 len=0");
    expect(flags(0xff, { urgentPointer: 7 })).toBe("IPv4 1.2.3.4:1 > 5.6.7.8:2 TCP [FSRP.UEW] seq=5 ack=9 win=3 urg=7 len=0");
    expect(flags(0x18, { payload: new Uint8Array(5) })).toBe("IPv4 1.2.3.4:1 > 5.6.7.8:2 TCP [P.] seq=5 ack=9 win=3 len=5");
    expect(flags(0x03)).toMatch(/TCP \[FS\] /);
  });

  it("prints SACK blocks, EOL, unknown and named options in wire order", () => {
    const p = tcp4("1.2.3.4", "5.6.7.8", { srcPort: 1, dstPort: 2, flags: 0x10, sack: [[1, 2], [3, 4]] });
    expect(describeFn(p)).toContain("[nop,nop,sack 2 {1:2}{3:4}]");
    const o = Uint8Array.of(1, 30, 4, 0, 0, 34, 2, 253, 3, 0, 0, 0, 0);
    expect(tcpOptionsText(o, 0, o.length)).toBe("nop,mptcp len 4,tfo len 2,opt-253 len 3,eol");
  });

  it("IPv6 extension chains, atomic fragments, unknown upper protocols, IPv4 options", () => {
    const hbh = { type: IpProtocol.HOP_BY_HOP, bytes: optionsHeader(8) };
    const atomic = { type: IpProtocol.IPV6_FRAGMENT, bytes: fragmentHeader(0, false, 1) };
    expect(describeFn(tcp6("2001:db8::1", "2001:db8::2", { srcPort: 1, dstPort: 2, flags: 2 }, [hbh, atomic]))).toBe(
      "IPv6 [2001:db8::1]:1 > [2001:db8::2]:2 ext=hbh,frag TCP [S] seq=0 win=0 len=0",
    );
    expect(describeFn(ipv6Packet("2001:db8::1", "2001:db8::2", 59, 0, () => {}))).toBe("IPv6 2001:db8::1 > 2001:db8::2 proto=none len=0");
    expect(describeFn(ipv4Packet("1.2.3.4", "5.6.7.8", 47, 24, () => {}))).toBe("IPv4 1.2.3.4 > 5.6.7.8 proto=GRE len=24");
    expect(describeFn(ipv4Packet("1.2.3.4", "5.6.7.8", 200, 4, () => {}))).toBe("IPv4 1.2.3.4 > 5.6.7.8 proto=200 len=4");
    // IHL 6: four bytes of IP options before the UDP header.
    const u = udp4("1.2.3.4", "5.6.7.8", 7, 8, new Uint8Array(3));
    const withOpts = new Uint8Array(u.length + 4);
    withOpts.set(u.subarray(0, 20));
    withOpts.set(u.subarray(20), 24);
    withOpts[0] = 0x46;
    withOpts[3] = withOpts.length;
    fixIpv4Checksum(withOpts);
    expect(describeFn(withOpts)).toBe("IPv4 1.2.3.4:7 > 5.6.7.8:8 ipopts=4 UDP len=3");
  });

  it("ICMP errors of every kind name themselves and quote the packet; quotes nest only once", () => {
    const inner = udp4("10.0.0.2", "192.0.2.7", 5, 6, new Uint8Array(4));
    const innerText = "IPv4 10.0.0.2:5 > 192.0.2.7:6 UDP len=4";
    const err = (type: number, code: number, rest = 0, q = inner) => describeFn(icmp4("10.0.0.1", "10.0.0.2", type, code, rest, q));
    expect(err(3, 0)).toBe(`IPv4 10.0.0.1 > 10.0.0.2 ICMP net unreachable for (${innerText})`);
    expect(err(3, 13)).toContain("ICMP admin prohibited for (");
    expect(err(3, 99)).toContain("ICMP unreachable code=99 for (");
    expect(err(11, 0)).toContain("ICMP time exceeded for (");
    expect(err(11, 1)).toContain("ICMP reassembly time exceeded for (");
    expect(err(12, 0, 20 << 24)).toContain("ICMP parameter problem code=0 pointer=20 for (");
    expect(err(5, 1, 0x0a000001)).toContain("ICMP redirect code=1 to 10.0.0.1 for (");
    expect(err(13, 0)).toBe("IPv4 10.0.0.1 > 10.0.0.2 ICMP type=13 code=0 len=32");
    // An error quoting an error quoting a packet: the inner one is named, not opened.
    const twice = icmp4("10.0.0.3", "10.0.0.1", 11, 0, 0, icmp4("10.0.0.1", "10.0.0.2", 3, 3, 0, inner));
    expect(describeFn(twice)).toBe("IPv4 10.0.0.3 > 10.0.0.1 ICMP time exceeded for (IPv4 10.0.0.1 > 10.0.0.2 ICMP port unreachable)");
    const e6 = (type: number, code: number, rest = 0) =>
      describeFn(icmp6("2001:db8::1", "2001:db8::2", type, code, rest, udp6("2001:db8::2", "2001:db8::3", 5, 6, new Uint8Array(4))));
    expect(e6(Icmpv6Type.DEST_UNREACHABLE, 3)).toContain("ICMPv6 address unreachable for (IPv6 [2001:db8::2]:5 > [2001:db8::3]:6 UDP len=4)");
    expect(e6(Icmpv6Type.TIME_EXCEEDED, 0)).toContain("ICMPv6 time exceeded for (");
    expect(e6(Icmpv6Type.PARAMETER_PROBLEM, 1, 40)).toContain("ICMPv6 parameter problem code=1 pointer=40 for (");
    expect(e6(100, 0)).toContain("ICMPv6 error type=100 code=0 for (");
    expect(e6(Icmpv6Type.NEIGHBOR_SOLICITATION, 0)).toBe("IPv6 2001:db8::1 > 2001:db8::2 ICMPv6 neighbor solicitation len=52");
    expect(e6(200, 1)).toBe("IPv6 2001:db8::1 > 2001:db8::2 ICMPv6 type=200 code=1 len=52");
  });

  it("a quote cut inside the TCP header shows what is there, as tcpdump's [|tcp]", () => {
    const t = tcp4("10.0.0.2", "192.0.2.7", { srcPort: 41000, dstPort: 80, seq: 77, flags: 0x10, ts: [1, 2] });
    const e = (n: number) => describeFn(icmp4("10.0.0.1", "10.0.0.2", 3, 4, 1280, t.subarray(0, n)));
    expect(e(28)).toBe("IPv4 10.0.0.1 > 10.0.0.2 ICMP frag needed mtu=1280 for (IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP seq=77 [|tcp])");
    expect(e(24)).toContain("for (IPv4 10.0.0.2:41000 > 192.0.2.7:80 TCP [|tcp])");
    expect(e(22)).toContain("for (IPv4 10.0.0.2 > 192.0.2.7 TCP truncated (2 bytes))");
    expect(e(12)).toContain("for (IPv4 truncated (12 bytes))");
    expect(e(0)).toContain("for (truncated (0 bytes))");
    expect(e(52)).toContain("TCP [.] seq=77 ack=0 win=0 [nop,nop,TS 1 2] len=0)");
  });
});

describe("describe() of malformed bytes names the drop reason", () => {
  const mutated = (p: Uint8Array, f: (b: Uint8Array) => void) => {
    const b = p.slice();
    f(b);
    return b;
  };

  it("at the IP layer", () => {
    expect(describeFn(new Uint8Array(0))).toBe("truncated (0 bytes)");
    expect(describeFn(cap.syn4.subarray(0, 12))).toBe("IPv4 truncated (12 bytes)");
    expect(describeFn(mutated(cap.syn4, (b) => (b[0] = 0x75)))).toBe("bad_version 7 (60 bytes)");
    expect(describeFn(mutated(cap.syn4, (b) => (b[8] = 1)))).toMatch(/^IPv4 bad_checksum 10\.0\.0\.2:41000 > 192\.0\.2\.7:80 TCP \[S\] /);
    expect(describeFn(mutated(cap.syn4, (b) => (b[0] = 0x44)))).toBe("IPv4 10.0.0.2 > 192.0.2.7 bad_header_length ihl=16 (60 bytes)");
    expect(describeFn(cap.syn4.subarray(0, 50))).toBe("IPv4 10.0.0.2 > 192.0.2.7 truncated hl=20 total=60 (50 bytes)");
    expect(describeFn(mutated(cap.syn4, (b) => (b[3] = 10)))).toBe("IPv4 10.0.0.2 > 192.0.2.7 bad_length hl=20 total=10 (60 bytes)");
    expect(describeFn(cap.syn6.subarray(0, 39))).toBe("IPv6 truncated (39 bytes)");
    expect(describeFn(cap.syn6.subarray(0, 60))).toBe("IPv6 2001:db8:1::2 > 2001:db8:2::7 truncated plen=40 (60 bytes)");
    const hbhLate = ipv6Packet("2001:db8::1", "2001:db8::2", 59, 0, () => {}, [
      { type: IpProtocol.IPV6_DEST_OPTS, bytes: optionsHeader(8) },
      { type: IpProtocol.HOP_BY_HOP, bytes: optionsHeader(8) },
    ]);
    expect(describeFn(hbhLate)).toBe("IPv6 2001:db8::1 > 2001:db8::2 bad_extension_chain plen=16 (56 bytes)");
  });

  it("at the TCP layer", () => {
    expect(describeFn(mutated(cap.syn4, (b) => (b[59]! ^= 1)))).toMatch(/^IPv4 10\.0\.0\.2:41000 > 192\.0\.2\.7:80 TCP bad_checksum \[S\] /);
    const t = tcp4("1.2.3.4", "5.6.7.8", { srcPort: 1, dstPort: 2, flags: 2, mss: 1460 });
    const badOpt = mutated(t, (b) => {
      b[41] = 5; // MSS of length 5
      fillTcpChecksum(b, 20, 24, pseudoSum4(b, 0, 6, 24));
    });
    expect(describeFn(badOpt)).toBe("IPv4 1.2.3.4:1 > 5.6.7.8:2 TCP [S] seq=0 win=0 [bad_options] len=0");
    const shortHdr = mutated(t, (b) => {
      b[32] = 0x30;
      fillTcpChecksum(b, 20, 24, pseudoSum4(b, 0, 6, 24));
    });
    expect(describeFn(shortHdr)).toBe("IPv4 1.2.3.4:1 > 5.6.7.8:2 TCP bad_header_length hl=12 (24 bytes)");
    const longHdr = mutated(t, (b) => (b[32] = 0xf0));
    expect(describeFn(longHdr)).toBe("IPv4 1.2.3.4:1 > 5.6.7.8:2 TCP truncated hl=60 (24 bytes)");
    const tiny = ipv4Packet("1.2.3.4", "5.6.7.8", 6, 3, () => {});
    expect(describeFn(tiny)).toBe("IPv4 1.2.3.4 > 5.6.7.8 TCP truncated (3 bytes)");
  });

  it("at the UDP and ICMP layers", () => {
    const u = udp4("1.2.3.4", "5.6.7.8", 7, 8, new Uint8Array(4));
    expect(describeFn(mutated(u, (b) => (b[27]! ^= 0xff)))).toBe("IPv4 1.2.3.4:7 > 5.6.7.8:8 UDP bad_checksum len=4");
    expect(describeFn(mutated(u, (b) => (b[25] = 4)))).toBe("IPv4 1.2.3.4:7 > 5.6.7.8:8 UDP bad_length ulen=4 (12 bytes)");
    expect(describeFn(mutated(u, (b) => (b[25] = 40)))).toBe("IPv4 1.2.3.4:7 > 5.6.7.8:8 UDP truncated ulen=40 (12 bytes)");
    const u6 = mutated(udp6("2001:db8::1", "2001:db8::2", 7, 8, new Uint8Array(4)), (b) => {
      b[46] = 0;
      b[47] = 0;
    });
    expect(describeFn(u6)).toBe("IPv6 [2001:db8::1]:7 > [2001:db8::2]:8 UDP zero_udp_checksum_v6 len=4");
    const e = icmp4("1.2.3.4", "5.6.7.8", 8, 0, 0, new Uint8Array(4));
    expect(describeFn(mutated(e, (b) => (b[30]! ^= 1)))).toBe("IPv4 1.2.3.4 > 5.6.7.8 ICMP bad_checksum echo request id=0 seq=0 len=4");
    expect(describeFn(ipv4Packet("1.2.3.4", "5.6.7.8", 1, 6, () => {}))).toBe("IPv4 1.2.3.4 > 5.6.7.8 ICMP truncated (6 bytes)");
    const e6 = icmp6("2001:db8::1", "2001:db8::2", 128, 0, 0, new Uint8Array(4));
    expect(describeFn(mutated(e6, (b) => (b[50]! ^= 1)))).toContain("ICMPv6 bad_checksum echo request");
  });

  it("describes only [offset, offset + length), and clamps a length past the buffer", () => {
    const b = new Uint8Array(100);
    b.set(cap.udp4, 10);
    expect(describeFn(b, 10, 60)).toBe(describeFn(cap.udp4));
    expect(describeFn(b, 10, 50)).toBe("IPv4 10.0.0.2 > 192.0.2.7 truncated hl=20 total=60 (50 bytes)");
    expect(describeFn(cap.udp4, 0, 1000)).toBe(describeFn(cap.udp4));
    expect(describeFn(cap.udp4, 500)).toBe("truncated (0 bytes)");
  });
});

describe("drop reason names", () => {
  it("are the snake_case of each Drop key, and unknown numbers still print", () => {
    for (const [k, v] of Object.entries(Drop)) expect(dropReasonName(v)).toBe(k.toLowerCase());
    expect(dropReasonName(99)).toBe("unknown_99");
  });
});

describe("tcpOptionsText agrees with parseTcpOptions", () => {
  it("shows bad_options exactly when parseTcpOptions rejects the bytes (fast-check)", () => {
    const opts = new TcpOptions();
    const optionBytes = fc.array(
      fc.oneof(
        fc.constant([1]),
        fc.constant([0]),
        fc.constant([2, 4, 5, 0xb4]),
        fc.constant([3, 3, 7]),
        fc.constant([4, 2]),
        fc.constant([8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
        fc.integer({ min: 1, max: 4 }).map((n) => [5, 2 + 8 * n, ...new Array<number>(8 * n).fill(9)]),
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }),
      ),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(optionBytes, (parts) => {
        const b = Uint8Array.from(parts.flat().slice(0, 40));
        const r = parseTcpOptions(b, 0, b.length, opts);
        const text = tcpOptionsText(b, 0, b.length);
        expect(text.endsWith("bad_options")).toBe(r === Drop.BAD_OPTIONS);
        expect(r === Drop.OK || r === Drop.BAD_OPTIONS).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

function fixIpv4Checksum(b: Uint8Array): void {
  b[10] = 0;
  b[11] = 0;
  const hl = (b[0]! & 15) * 4;
  let s = 0;
  for (let i = 0; i < hl; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  b[10] = c >> 8;
  b[11] = c;
  const l4 = b.length - hl;
  if (b[9] === 17) fillUdpChecksum(b, hl, l4, pseudoSum4(b, 0, 17, l4));
}
