import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import type { Flow } from "../../lib/api.js";
import { engineFixture } from "../support/engine-fixture.js";
import { bytesOf, fragment, joinFragments, parse, udp } from "../support/packets.js";

const text = (s: string) => new TextEncoder().encode(s);

function pattern(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe("UDP flows", () => {
  it.each([4, 6] as const)("the first datagram creates a flow (IPv%i) and later ones reuse it", (family) => {
    const { engine, cap } = engineFixture();
    const f1 = engine.l3Rx(cap, udp({ family, srcPort: 5000, dstPort: 53, payload: "one" }));
    expect(f1).toBeDefined();
    expect(f1).toMatchObject({
      protocol: "udp",
      family,
      srcIp: family === 4 ? "10.0.0.2" : "fd00::2",
      srcPort: 5000,
      dstIp: family === 4 ? "10.0.0.1" : "fd00::1",
      dstPort: 53,
    });
    const f2 = engine.l3Rx(cap, udp({ family, srcPort: 5000, dstPort: 53, payload: "two" }));
    expect(f2).toBe(f1);
    expect(cap.textOf(f1!)).toBe("onetwo");
    expect(engine.flowCount).toBe(1);
    expect(engine.l4State(f1!)).toBe("ESTABLISHED");
    expect(engine.stats()).toMatchObject({ udpFlowsOpened: 1, udpDatagramsIn: 2 });
  });

  it.each([4, 6] as const)("l4Tx answers from the flow's destination to its source (IPv%i)", (family) => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp({ family, srcPort: 5000, dstPort: 7, payload: "ping" }))!;
    expect(engine.l4Tx(cap, flow, text("pong"))).toBe(4);
    const [p] = cap.take();
    expect(p).toMatchObject({ src: flow.dstIp, dst: flow.srcIp, protocol: 17, checksumOk: true, ttl: 64 });
    expect(p!.udp).toMatchObject({ srcPort: 7, dstPort: 5000, length: 12 });
    expect(new TextDecoder().decode(p!.udp!.payload)).toBe("pong");
    if (family === 4) expect(p!.df).toBe(false);
    expect(engine.stats().udpDatagramsOut).toBe(1);
  });

  it("sends an empty datagram", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp({ payload: "" }))!;
    expect(cap.textOf(flow)).toBe("");
    expect(cap.rx).toHaveLength(1);
    expect(engine.l4Tx(cap, flow, new Uint8Array(0))).toBe(0);
    const [p] = cap.take();
    expect(p!.udp!.length).toBe(8);
    expect(p!.checksumOk).toBe(true);
  });

  it("forgets an idle flow after udpIdleTimeout, telling l4Rx(null) once; traffic either way resets the timer", () => {
    const { engine, cap, clock } = engineFixture((b) => b.udpIdleTimeout(300));
    const flow = engine.l3Rx(cap, udp({ payload: "a" }))!;
    expect(engine.l4Poll(cap)).toBe(300_000);
    clock.set(200_000);
    engine.l3Rx(cap, udp({ payload: "b" })); // inbound at 200 s
    clock.set(300_000);
    expect(engine.l4Poll(cap)).toBe(500_000);
    expect(engine.flowCount).toBe(1);
    clock.set(450_000);
    expect(engine.l4Tx(cap, flow, text("c"))).toBe(1); // outbound at 450 s
    clock.set(500_000);
    engine.l4Poll(cap);
    expect(engine.flowCount).toBe(1);
    clock.set(749_999);
    engine.l4Poll(cap);
    expect(cap.closes(flow)).toBe(0);
    clock.set(750_000);
    expect(engine.l4Poll(cap)).toBeUndefined();
    expect(cap.closes(flow)).toBe(1);
    expect(engine.flowCount).toBe(0);
    expect(engine.l4State(flow)).toBeUndefined();
    expect(engine.l4Tx(cap, flow, text("late"))).toBeUndefined();
    engine.l4Poll(cap);
    expect(cap.closes(flow)).toBe(1);
    expect(engine.stats().udpFlowsClosed).toBe(1);
  });

  it("a refused datagram gets ICMP port unreachable quoting it (IPv4)", () => {
    const { engine, cap } = engineFixture();
    cap.acceptIf(() => false);
    const dgram = udp({ src: "198.51.100.4", dst: "203.0.113.9", srcPort: 1234, dstPort: 9999, payload: "knock" });
    expect(engine.l3Rx(cap, dgram)).toBeUndefined();
    expect(cap.accepted).toHaveLength(1);
    expect(engine.flowCount).toBe(0);
    const [p] = cap.take();
    expect(p).toMatchObject({ family: 4, src: "203.0.113.9", dst: "198.51.100.4", protocol: 1, checksumOk: true });
    expect(p!.icmp).toMatchObject({ type: 3, code: 3, rest: 0 });
    expect(Array.from(p!.icmp!.data)).toEqual(Array.from(dgram));
    expect(engine.stats().drops.refused).toBe(1);
    expect(engine.stats().icmpErrorsSent).toBe(1);
  });

  it("a refused datagram gets ICMPv6 port unreachable quoting it (IPv6)", () => {
    const { engine, cap } = engineFixture();
    cap.acceptIf(() => false);
    const dgram = udp({ src: "2001:db8::4", dst: "2001:db8:1::9", srcPort: 1234, dstPort: 9999, payload: "knock" });
    engine.l3Rx(cap, dgram);
    const [p] = cap.take();
    expect(p).toMatchObject({ family: 6, src: "2001:db8:1::9", dst: "2001:db8::4", protocol: 58, checksumOk: true });
    expect(p!.icmp).toMatchObject({ type: 1, code: 4 });
    expect(Array.from(p!.icmp!.data)).toEqual(Array.from(dgram));
  });

  it("quotes at most 576 bytes in all (IPv4) and 1280 (IPv6) of a big refused datagram", () => {
    for (const family of [4, 6] as const) {
      const { engine, cap } = engineFixture((b) => b.mtu(9000));
      cap.acceptIf(() => false);
      const dgram = udp({ family, payload: pattern(4000) });
      engine.l3Rx(cap, dgram);
      const [p] = cap.takeRaw();
      expect(p!.length).toBe(family === 4 ? 576 : 1280);
      const parsed = parse(p!);
      expect(parsed.checksumOk).toBe(true);
      expect(Array.from(parsed.icmp!.data)).toEqual(Array.from(dgram.subarray(0, p!.length - (family === 4 ? 28 : 48))));
    }
  });

  it("rate-limits port unreachables (token bucket: a burst, then one per interval)", () => {
    const { engine, cap, clock } = engineFixture();
    cap.acceptIf(() => false);
    for (let i = 0; i < 200; i++) engine.l3Rx(cap, udp({ srcPort: 1000 + i }));
    const burst = cap.take().length;
    expect(burst).toBe(50);
    clock.advance(10); // default interval 1 ms: ten more tokens
    for (let i = 0; i < 200; i++) engine.l3Rx(cap, udp({ srcPort: 2000 + i }));
    expect(cap.take().length).toBe(10);
    expect(engine.stats().drops.refused).toBe(400);
  });

  it.each([4, 6] as const)("sends a datagram larger than the MTU as IP fragments that reassemble (IPv%i)", (family) => {
    const a = engineFixture((b) => b.mtu(1280));
    const flow = a.engine.l3Rx(a.cap, udp({ family, srcPort: 4444, dstPort: 5555, payload: "hi" }))!;
    const data = pattern(5000);
    expect(a.engine.l4Tx(a.cap, flow, data)).toBe(5000);
    const frags = a.cap.takeRaw();
    expect(frags.length).toBe(Math.ceil((5008 / ((family === 4 ? 1260 : 1232) & ~7))));
    for (const f of frags) {
      expect(f.length).toBeLessThanOrEqual(1280);
      const p = parse(f);
      expect(p.isFragment).toBe(true);
      if (p.moreFragments) expect(p.l4.length % 8).toBe(0);
      if (family === 4) expect(p.df).toBe(false);
    }
    expect(new Set(frags.map((f) => parse(f).fragmentIdent)).size).toBe(1);
    // An independent reassembly of the fragments is the datagram, with a valid checksum.
    const whole = joinFragments(frags);
    expect(Array.from(whole.subarray(8))).toEqual(Array.from(data));
    expect(a.engine.stats().fragmentsOut).toBe(frags.length);
    // And the engine's own reassembler, in a second engine, delivers the same bytes.
    const b = engineFixture();
    let got: Flow | undefined;
    for (const f of frags.reverse()) got = b.engine.l3Rx(b.cap, f) ?? got;
    expect(got).toMatchObject({ srcPort: 5555, dstPort: 4444, srcIp: flow.dstIp, dstIp: flow.srcIp });
    expect(b.cap.rx).toHaveLength(1);
    expect(Array.from(b.cap.rx[0]!.data!)).toEqual(Array.from(data));
    expect(b.engine.stats()).toMatchObject({ reassembled: 1, fragmentsIn: frags.length });
  });

  it.each([
    [4, 1280 - 28],
    [6, 1280 - 48],
  ] as const)("a datagram that fills the MTU exactly goes as one packet; one byte more is fragmented (IPv%i)", (family, fits) => {
    const { engine, cap } = engineFixture((b) => b.mtu(1280));
    const flow = engine.l3Rx(cap, udp({ family, payload: "hi" }))!;
    expect(engine.l4Tx(cap, flow, pattern(fits))).toBe(fits);
    const [one, ...rest] = cap.takeRaw();
    expect(rest).toEqual([]);
    expect(one!.length).toBe(1280);
    expect(parse(one!)).toMatchObject({ isFragment: false, checksumOk: true, problems: [] });
    expect(parse(one!).udp!.payload.length).toBe(fits);
    expect(engine.l4Tx(cap, flow, pattern(fits + 1))).toBe(fits + 1);
    const frags = cap.takeRaw();
    expect(frags).toHaveLength(2);
    expect(joinFragments(frags).length).toBe(8 + fits + 1);
  });

  it.each([4, 6] as const)("receives a fragmented datagram whose fragments arrive out of order (IPv%i)", (family) => {
    const { engine, cap } = engineFixture();
    const data = pattern(4000, 3);
    const frags = fragment(udp({ family, payload: data }), 1000);
    expect(frags.length).toBe(5);
    const order = [3, 0, 4, 2, 1];
    const results = order.map((i) => engine.l3Rx(cap, frags[i]!));
    expect(results.slice(0, 4).every((r) => r === undefined)).toBe(true);
    expect(results[4]).toBeDefined();
    expect(cap.rx).toHaveLength(1);
    expect(Array.from(cap.rx[0]!.data!)).toEqual(Array.from(data));
  });

  it("refuses datagrams over 65507 bytes (IPv4) / 65527 (IPv6) with InvalidArgumentError", () => {
    const { engine, cap } = engineFixture();
    const v4 = engine.l3Rx(cap, udp({ family: 4 }))!;
    const v6 = engine.l3Rx(cap, udp({ family: 6 }))!;
    expect(() => engine.l4Tx(cap, v4, new Uint8Array(65508))).toThrow(InvalidArgumentError);
    expect(() => engine.l4Tx(cap, v6, new Uint8Array(65528))).toThrow(InvalidArgumentError);
    expect(engine.l4Tx(cap, v4, new Uint8Array(65507))).toBe(65507);
    expect(engine.l4Tx(cap, v6, new Uint8Array(65527))).toBe(65527);
    const v4frags = cap.takeRaw().filter((p) => p[0]! >> 4 === 4);
    expect(joinFragments(v4frags).length).toBe(65515);
  });

  it("returns 0 and counts it when l3TxBuffer has no buffer", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp())!;
    cap.noBuffers = true;
    expect(engine.l4Tx(cap, flow, text("lost"))).toBe(0);
    expect(engine.l4Tx(cap, flow, pattern(5000))).toBe(0);
    expect(cap.sent).toHaveLength(0);
    expect(engine.stats()).toMatchObject({ txBufferUnavailable: 2, udpDatagramsOut: 0 });
  });

  it("queues datagrams while paused (copies, bounded) and delivers them on resume", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp({ payload: "0" }))!;
    engine.l4PauseRx(flow);
    const buf = udp({ payload: "1" });
    expect(engine.l3Rx(cap, buf)).toBe(flow);
    buf.fill(0); // the engine copied it
    for (let i = 2; i < 300; i++) engine.l3Rx(cap, udp({ payload: String(i % 10) }));
    expect(cap.rx).toHaveLength(1);
    expect(engine.stats().drops.udp_queue_full).toBe(299 - 256);
    engine.l4ResumeRx(cap, flow);
    expect(cap.rx).toHaveLength(257);
    expect(cap.textOf(flow).slice(0, 5)).toBe("01234");
    engine.l3Rx(cap, udp({ payload: "x" }));
    expect(cap.rx).toHaveLength(258);
  });

  it("stops delivering queued datagrams when the application pauses again from l4Rx", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp({ payload: "0" }))!;
    engine.l4PauseRx(flow);
    for (let i = 1; i <= 5; i++) engine.l3Rx(cap, udp({ payload: String(i) }));
    cap.onRx = (f, d) => {
      if (d !== null && new TextDecoder().decode(d) === "2") engine.l4PauseRx(f);
    };
    engine.l4ResumeRx(cap, flow);
    expect(cap.textOf(flow)).toBe("012");
    cap.onRx = undefined;
    engine.l4ResumeRx(cap, flow);
    expect(cap.textOf(flow)).toBe("012345");
  });

  it("l4LocalClose and l4Abort forget the flow with one l4Rx(null); the next datagram makes a new flow", () => {
    for (const end of ["l4LocalClose", "l4Abort"] as const) {
      const { engine, cap } = engineFixture();
      const flow = engine.l3Rx(cap, udp())!;
      engine[end](cap, flow);
      expect(cap.closes(flow)).toBe(1);
      expect(engine.flowCount).toBe(0);
      engine[end](cap, flow); // gone: no-op
      expect(cap.closes(flow)).toBe(1);
      expect(engine.l4IsRemoteClosed(flow)).toBe(true);
      const again = engine.l3Rx(cap, udp());
      expect(again).toBeDefined();
      expect(again).not.toBe(flow);
    }
  });

  it("a flow closed from inside its own l4Rx gets exactly one l4Rx(null)", () => {
    const { engine, cap } = engineFixture();
    cap.onRx = (f, d) => {
      if (d !== null) {
        engine.l4LocalClose(cap, f);
        engine.l4LocalClose(cap, f);
      }
    };
    const flow = engine.l3Rx(cap, udp({ payload: "bye" }))!;
    expect(cap.closes(flow)).toBe(1);
    expect(engine.flowCount).toBe(0);
  });

  it("l4Connect opens a UDP flow whose first datagram goes out on l4Tx; the answer finds it", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l4Connect(cap, { protocol: "udp", srcIp: "10.9.0.1", srcPort: 3333, dstIp: "192.0.2.53", dstPort: 53 });
    expect(flow).toMatchObject({ protocol: "udp", family: 4, srcIp: "10.9.0.1", srcPort: 3333, dstIp: "192.0.2.53", dstPort: 53 });
    expect(cap.sent).toHaveLength(0);
    expect(engine.l4Tx(cap, flow, text("query"))).toBe(5);
    const [p] = cap.take();
    expect(p).toMatchObject({ src: "10.9.0.1", dst: "192.0.2.53", checksumOk: true });
    expect(p!.udp).toMatchObject({ srcPort: 3333, dstPort: 53 });
    const back = engine.l3Rx(cap, udp({ src: "192.0.2.53", dst: "10.9.0.1", srcPort: 53, dstPort: 3333, payload: "answer" }));
    expect(back).toBe(flow);
    expect(cap.textOf(flow)).toBe("answer");
  });

  it("checksums: a zero IPv4 checksum means none; zero over IPv6 and wrong ones are dropped", () => {
    const { engine, cap } = engineFixture();
    const flow = engine.l3Rx(cap, udp({ checksum: "zero", payload: "ok" }));
    expect(flow).toMatchObject({ protocol: "udp", family: 4, srcIp: "10.0.0.2", srcPort: 40000, dstIp: "10.0.0.1", dstPort: 53 });
    expect(cap.rx).toEqual([{ flow, data: new TextEncoder().encode("ok") }]);
    expect(engine.l3Rx(cap, udp({ family: 6, checksum: "zero", payload: "no" }))).toBeUndefined();
    expect(engine.l3Rx(cap, udp({ srcPort: 9, checksum: "bad", payload: "no" }))).toBeUndefined();
    expect(engine.flowCount).toBe(1);
    expect(engine.stats().drops).toMatchObject({ zero_udp_checksum_v6: 1, bad_checksum: 1 });
  });

  it("drops datagrams with port 0", () => {
    const { engine, cap } = engineFixture();
    expect(engine.l3Rx(cap, udp({ srcPort: 0 }))).toBeUndefined();
    expect(engine.l3Rx(cap, udp({ dstPort: 0 }))).toBeUndefined();
    expect(engine.stats().drops.bad_address).toBe(2);
  });

  it("stops creating flows at maxFlows", () => {
    const { engine, cap } = engineFixture((b) => b.maxFlows(3));
    for (let i = 0; i < 10; i++) engine.l3Rx(cap, udp({ srcPort: 100 + i, payload: bytesOf("x") }));
    expect(engine.flowCount).toBe(3);
    expect(engine.stats().drops.flow_limit).toBe(7);
    expect(cap.sent).toHaveLength(0);
  });
});
