import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_CONFIG, type EngineConfig } from "../../lib/config.js";
import { Icmp, ICMP_ERROR_BURST, IcmpErrorKind, type IcmpErrorSink } from "../../lib/icmp/icmp.js";
import { IpOutput } from "../../lib/ip/output.js";
import { Counters } from "../../lib/stats.js";
import { TcpConnection } from "../../lib/tcp/connection.js";
import { Capture } from "../support/capture.js";
import { engineFixture } from "../support/engine-fixture.js";
import { put16 as write16 } from "../support/oracle/octets.js";
import { fixIpv4HeaderChecksum, fragment, icmp, icmpEcho, ipPacket, joinFragments, parse, tcp, udp } from "../support/packets.js";

afterEach(() => {
  vi.restoreAllMocks();
});

function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255);
}

describe("ICMP echo", () => {
  it.each([
    ["8.8.8.8", "10.1.2.3"],
    ["203.0.113.77", "198.51.100.1"],
    ["2001:db8::1", "2001:db8:ffff::42"],
    ["fe80::1", "fe80::2"],
  ])("answers an echo request to %s from it, same id, sequence and data", (dst, src) => {
    const { engine, cap } = engineFixture();
    expect(engine.l3Rx(cap, icmpEcho({ src, dst, id: 0xbeef, seq: 7, data: "abcdefgh" }))).toBeUndefined();
    const [p] = cap.take();
    const v6 = dst.includes(":");
    expect(p).toMatchObject({ src: dst, dst: src, protocol: v6 ? 58 : 1, checksumOk: true });
    expect(p!.icmp).toMatchObject({ type: v6 ? 129 : 0, code: 0, rest: ((0xbeef << 16) | 7) >>> 0 });
    expect(new TextDecoder().decode(p!.icmp!.data)).toBe("abcdefgh");
    expect(engine.flowCount).toBe(0);
    expect(engine.stats().icmpEchoReplies).toBe(1);
  });

  it.each(["224.0.0.1", "255.255.255.255", "ff02::1"])("does not answer an echo to %s (multicast/broadcast)", (dst) => {
    const { engine, cap } = engineFixture();
    engine.l3Rx(cap, icmpEcho({ dst, src: dst.includes(":") ? "fe80::9" : "10.0.0.9" }));
    expect(cap.sent).toHaveLength(0);
    expect(engine.stats().drops.bad_address).toBe(1);
  });

  it("drops an echo request with a bad checksum, unless checksums are not verified", () => {
    const a = engineFixture();
    a.engine.l3Rx(a.cap, icmpEcho({ badChecksum: true }));
    expect(a.cap.sent).toHaveLength(0);
    expect(a.engine.stats().drops.bad_checksum).toBe(1);
    const b = engineFixture((x) => x.verifyChecksums(false));
    b.engine.l3Rx(b.cap, icmpEcho({ badChecksum: true }));
    expect(b.cap.take()[0]!.checksumOk).toBe(true); // the reply's checksum is computed afresh
  });

  it("ignores echo replies and other messages", () => {
    const { engine, cap } = engineFixture();
    engine.l3Rx(cap, icmpEcho({ reply: true }));
    engine.l3Rx(cap, icmp({ type: 13 })); // timestamp
    engine.l3Rx(cap, icmp({ family: 6, type: 135 })); // neighbour solicitation
    expect(cap.sent).toHaveLength(0);
    expect(engine.stats().drops.icmp_ignored).toBe(3);
  });

  it.each([4, 6] as const)("answers a fragmented big echo with a fragmented reply (IPv%i)", (family) => {
    const { engine, cap } = engineFixture((b) => b.mtu(1280));
    const data = pattern(3000);
    const req = icmpEcho({ family, id: 9, seq: 1, data });
    for (const f of fragment(req, 1200).reverse()) engine.l3Rx(cap, f);
    const frags = cap.takeRaw();
    expect(frags.length).toBeGreaterThan(1);
    for (const f of frags) expect(f.length).toBeLessThanOrEqual(1280);
    const reply = joinFragments(frags);
    expect(reply[0]).toBe(family === 4 ? 0 : 129);
    expect(Array.from(reply.subarray(8))).toEqual(Array.from(data));
    expect(reply.subarray(4, 8)).toEqual(Uint8Array.from([0, 9, 0, 1])); // id 9, seq 1
    // The reply's checksum holds over the whole reassembled message.
    const first = parse(frags[0]!);
    const whole = parse(ipPacket({ src: first.src, dst: first.dst, protocol: first.protocol }, reply));
    expect(whole.checksumOk).toBe(true);
    expect(first.src).toBe(family === 4 ? "10.0.0.1" : "fd00::1");
  });

  it("does not answer when no transmit buffer is available, and counts it", () => {
    const { engine, cap } = engineFixture();
    cap.noBuffers = true;
    engine.l3Rx(cap, icmpEcho());
    expect(engine.stats()).toMatchObject({ icmpEchoReplies: 0, txBufferUnavailable: 1 });
    expect(engine.stats().drops.no_tx_buffer).toBe(1);
  });
});

describe("inbound ICMP errors", () => {
  /** A TCP flow in the engine (its connection is whatever the lead's TcpConnection makes of a SYN). */
  function withTcpFlow(family: 4 | 6) {
    const fx = engineFixture();
    const spy = vi.spyOn(TcpConnection.prototype, "icmpUnreachable");
    const peer = family === 4 ? "198.51.100.7" : "2001:db8::7";
    const us = family === 4 ? "203.0.113.1" : "2001:db8:1::1";
    fx.engine.l3Rx(fx.cap, tcp({ src: peer, dst: us, srcPort: 50000, dstPort: 443, flags: "S", seq: 1 }));
    expect(fx.engine.flowCount).toBe(1);
    // Our SYN-ACK: its sequence number (the ISS) is what is in flight, so what a genuine error quotes.
    const iss = fx.cap.take()[0]!.tcp!.seq;
    // What we sent: us:443 > peer:50000, as the error quotes it.
    const quoted = tcp({ src: us, dst: peer, srcPort: 443, dstPort: 50000, flags: "A", seq: iss, payload: "x".repeat(1300) });
    return { ...fx, spy, peer, us, quoted, iss };
  }

  it("frag-needed (IPv4) reaches the connection with the next-hop MTU", () => {
    const { engine, cap, spy, quoted, iss } = withTcpFlow(4);
    engine.l3Rx(cap, icmp({ src: "192.0.2.254", dst: "203.0.113.1", type: 3, code: 4, rest: 1300, data: quoted.subarray(0, 28) }));
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy).toHaveBeenCalledWith(1300, iss, false, IcmpErrorKind.NONE);
    expect(engine.stats().icmpErrorsReceived).toBe(1);
  });

  it("frag-needed with MTU 0 (RFC 1191 §5) guesses the plateau below the quoted length", () => {
    const { engine, cap, spy, quoted, iss } = withTcpFlow(4);
    // The quoted total length is 20 + 20 + 1300 = 1340: the plateau below it is 1006.
    engine.l3Rx(cap, icmp({ src: "192.0.2.254", dst: "203.0.113.1", type: 3, code: 4, rest: 0, data: quoted.subarray(0, 28) }));
    expect(spy).toHaveBeenCalledWith(1006, iss, false, IcmpErrorKind.NONE);
  });

  it("time exceeded (soft) and port unreachable (hard, RFC 1122 §4.2.3.9) reach the connection with MTU 0", () => {
    const { engine, cap, spy, quoted, iss } = withTcpFlow(4);
    engine.l3Rx(cap, icmp({ src: "192.0.2.254", dst: "203.0.113.1", type: 11, code: 0, data: quoted.subarray(0, 28) }));
    expect(engine.flowCount).toBe(1);
    engine.l3Rx(cap, icmp({ src: "198.51.100.7", dst: "203.0.113.1", type: 3, code: 3, data: quoted.subarray(0, 576 - 28) }));
    expect(spy.mock.calls).toEqual([
      [0, iss, false, IcmpErrorKind.HOST],
      [0, iss, true, IcmpErrorKind.REFUSED],
    ]);
    // A hard error during the handshake aborts it.
    expect(engine.flowCount).toBe(0);
  });

  it("ignores an error quoting a sequence number not in flight (RFC 5927 §4.1)", () => {
    const { engine, cap, spy, us, peer, iss } = withTcpFlow(4);
    const blind = tcp({ src: us, dst: peer, srcPort: 443, dstPort: 50000, flags: "A", seq: (iss + 100_000) >>> 0 });
    engine.l3Rx(cap, icmp({ src: "198.51.100.7", dst: "203.0.113.1", type: 3, code: 3, data: blind.subarray(0, 28) }));
    expect(spy).toHaveBeenCalledTimes(1);
    expect(engine.flowCount).toBe(1);
    expect(engine.stats().drops.icmp_ignored).toBe(1);
  });

  it("packet too big (IPv6) passes the MTU, never below 1280 (RFC 8201 §4)", () => {
    const { engine, cap, spy, quoted, iss } = withTcpFlow(6);
    const ptb = (mtu: number) =>
      icmp({ src: "2001:db8:ff::1", dst: "2001:db8:1::1", type: 2, code: 0, rest: mtu, data: quoted.subarray(0, 1232) });
    engine.l3Rx(cap, ptb(1400));
    engine.l3Rx(cap, ptb(600));
    engine.l3Rx(cap, icmp({ src: "2001:db8::7", dst: "2001:db8:1::1", type: 1, code: 4, data: quoted.subarray(0, 48) }));
    expect(spy.mock.calls).toEqual([
      [1400, iss, false, IcmpErrorKind.NONE],
      [1280, iss, false, IcmpErrorKind.NONE],
      [0, iss, true, IcmpErrorKind.REFUSED],
    ]);
  });

  it("ignores errors quoting packets of no flow, the wrong way round, too short, or about UDP", () => {
    const { engine, cap, spy, quoted, peer, us } = withTcpFlow(4);
    const reversed = tcp({ src: peer, dst: us, srcPort: 50000, dstPort: 443 });
    const other = tcp({ src: us, dst: peer, srcPort: 443, dstPort: 50001 });
    const dgram = udp({ src: us, dst: peer, srcPort: 443, dstPort: 50000 });
    for (const data of [reversed.subarray(0, 28), other.subarray(0, 28), quoted.subarray(0, 24), dgram]) {
      engine.l3Rx(cap, icmp({ src: "192.0.2.254", dst: us, type: 3, code: 1, data }));
    }
    // Source quench (RFC 6633) and redirect: ignored even when they match.
    engine.l3Rx(cap, icmp({ src: "192.0.2.254", dst: us, type: 4, data: quoted.subarray(0, 28) }));
    engine.l3Rx(cap, icmp({ src: "192.0.2.254", dst: us, type: 5, data: quoted.subarray(0, 28) }));
    expect(spy).not.toHaveBeenCalled();
    expect(engine.stats().drops.icmp_ignored).toBe(6);
    expect(engine.stats().icmpErrorsReceived).toBe(6);
    expect(cap.sent).toHaveLength(0); // never an error about an error
  });
});

describe("Icmp.sendError rules", () => {
  function setup(config: Partial<EngineConfig> = {}) {
    const cfg = { ...DEFAULT_CONFIG, ...config };
    const counters = new Counters();
    const out = new IpOutput(cfg, counters);
    const sink: IcmpErrorSink = { icmpError: () => false };
    const icmpMod = new Icmp(cfg, counters, out, sink);
    const cap = new Capture();
    const send = (pkt: Uint8Array, now = 0) => icmpMod.sendError(cap, now, pkt, 0, pkt.length, 3, 3, 0);
    return { icmpMod, cap, counters, send };
  }

  it("sends about an ordinary packet", () => {
    const { cap, send } = setup();
    expect(send(udp())).toBe(true);
    expect(cap.take()[0]!.checksumOk).toBe(true);
  });

  it("never about an ICMP error (either family), but may about an echo request", () => {
    const { send } = setup();
    expect(send(icmp({ type: 3, code: 1, data: udp().subarray(0, 28) }))).toBe(false);
    expect(send(icmp({ family: 6, type: 1, code: 4, data: new Uint8Array(48) }))).toBe(false);
    expect(send(icmpEcho())).toBe(true);
    expect(send(icmpEcho({ family: 6 }))).toBe(true);
  });

  it("never about a fragment other than the first", () => {
    const { send } = setup();
    const v4 = fragment(udp({ payload: pattern(100) }), 40);
    expect(send(v4[1]!)).toBe(false);
    expect(send(v4[0]!)).toBe(true);
    const v6 = fragment(udp({ family: 6, payload: pattern(100) }), 40);
    expect(send(v6[1]!)).toBe(false);
    expect(send(v6[0]!)).toBe(true);
  });

  it("never about a packet to multicast/broadcast or from a non-host source", () => {
    const { send } = setup();
    expect(send(udp({ dst: "239.1.2.3" }))).toBe(false);
    expect(send(udp({ dst: "255.255.255.255" }))).toBe(false);
    expect(send(udp({ src: "0.0.0.0" }))).toBe(false);
    expect(send(udp({ src: "224.0.0.5" }))).toBe(false);
    expect(send(udp({ src: "127.0.0.1" }))).toBe(false);
    expect(send(udp({ dst: "ff02::1", src: "fe80::1" }))).toBe(false);
    expect(send(udp({ src: "::", dst: "fd00::1" }))).toBe(false);
    expect(send(udp({ src: "ff05::2", dst: "fd00::1" }))).toBe(false);
  });

  it("honours the token bucket: ICMP_ERROR_BURST at once, refilled at one per interval", () => {
    const { send, counters } = setup({ icmpErrorIntervalMs: 100 });
    let sent = 0;
    for (let i = 0; i < 100; i++) if (send(udp(), 0)) sent++;
    expect(sent).toBe(ICMP_ERROR_BURST);
    expect(send(udp(), 99)).toBe(false);
    expect(send(udp(), 100)).toBe(true);
    expect(send(udp(), 150)).toBe(false);
    expect(send(udp(), 100_000)).toBe(true);
    expect(counters.icmpErrorsSent).toBe(ICMP_ERROR_BURST + 2);
  });

  it("an interval of 0 disables the limit", () => {
    const { send } = setup({ icmpErrorIntervalMs: 0 });
    let sent = 0;
    for (let i = 0; i < 500; i++) if (send(udp(), 0)) sent++;
    expect(sent).toBe(500);
  });

  it("keeps the error within a small MTU", () => {
    const { send, cap } = setup({ mtu: 576 });
    const big = udp({ family: 6, payload: pattern(2000) });
    expect(send(big)).toBe(true);
    const [raw] = cap.takeRaw();
    expect(raw!.length).toBe(576);
    expect(parse(raw!).checksumOk).toBe(true);
  });

  it("quotes IPv4 options with the header (a packet with IHL > 5)", () => {
    const { send, cap } = setup();
    const plain = udp({ payload: "data" });
    // Insert 4 bytes of NOP options after the 20-byte header.
    const withOpts = new Uint8Array(plain.length + 4);
    withOpts.set(plain.subarray(0, 20));
    withOpts.set([1, 1, 1, 0], 20);
    withOpts.set(plain.subarray(20), 24);
    withOpts[0] = 0x46;
    write16(withOpts, 2, withOpts.length);
    fixIpv4HeaderChecksum(withOpts);
    expect(send(withOpts)).toBe(true);
    const p = cap.take()[0]!;
    expect(Array.from(p.icmp!.data)).toEqual(Array.from(withOpts));
  });
});
