import { describe, expect, it } from "vitest";
import { L3L4Builder } from "../../lib/builder.js";
import { L3L4 } from "../../lib/engine.js";
import * as api from "../../lib/index.js";
import { Capture } from "../support/capture.js";
import { udp } from "../support/packets.js";

type B = L3L4Builder<Uint8Array>;

describe("L3L4Builder", () => {
  it("builds an engine with defaults", () => {
    const e = new L3L4Builder<Uint8Array>().build();
    expect(e).toBeInstanceOf(L3L4);
    expect(e.flowCount).toBe(0);
    expect(typeof e.now()).toBe("number");
  });

  it("uses the given clock", () => {
    let t = 1234;
    const e = new L3L4Builder<Uint8Array>().clock(() => t).build();
    expect(e.now()).toBe(1234);
    t = 99;
    expect(e.now()).toBe(99);
  });

  it.each<[string, (b: B) => B]>([
    ["mtu", (b) => b.mtu(575)],
    ["mtu", (b) => b.mtu(65536)],
    ["mtu", (b) => b.mtu(1500.5)],
    ["mtu", (b) => b.mtu(Number.NaN)],
    ["tcpBufferSize", (b) => b.tcpBufferSize(0)],
    ["tcpBufferSize", (b) => b.tcpBufferSize(2 ** 30 + 1)],
    ["tcpIdleTimeout", (b) => b.tcpIdleTimeout(0)],
    ["tcpIdleTimeout", (b) => b.tcpIdleTimeout(-1)],
    ["tcpHalfOpenIdleTimeout", (b) => b.tcpHalfOpenIdleTimeout(Number.NaN)],
    ["udpIdleTimeout", (b) => b.udpIdleTimeout(0)],
    ["clock", (b) => b.clock(42 as unknown as () => number)],
    ["tcpKeepAlive", (b) => b.tcpKeepAlive(-5)],
    ["tcpKeepAlive", (b) => b.tcpKeepAlive(Infinity)],
    ["tcpCongestionControl", (b) => b.tcpCongestionControl("vegas" as "reno")],
    ["tcpNoDelay", (b) => b.tcpNoDelay(1 as unknown as boolean)],
    ["maxFlows", (b) => b.maxFlows(0)],
    ["maxFlows", (b) => b.maxFlows(2 ** 24 + 1)],
    ["verifyChecksums", (b) => b.verifyChecksums("yes" as unknown as boolean)],
    ["ttl", (b) => b.ttl(0)],
    ["ttl", (b) => b.ttl(256)],
  ])("build() throws a RangeError naming %s", (name, set) => {
    const b = set(new L3L4Builder<Uint8Array>());
    expect(() => b.build()).toThrow(RangeError);
    expect(() => b.build()).toThrow(new RegExp(`^${name} `));
  });

  it.each<[string, (b: B) => B]>([
    ["mtu 576", (b) => b.mtu(576)],
    ["mtu 65535", (b) => b.mtu(65535)],
    ["tcpBufferSize 1", (b) => b.tcpBufferSize(1)],
    ["tcpIdleTimeout Infinity", (b) => b.tcpIdleTimeout(Infinity)],
    ["tcpIdleTimeout 0.5", (b) => b.tcpIdleTimeout(0.5)],
    ["tcpKeepAlive 0", (b) => b.tcpKeepAlive(0)],
    ["tcpCongestionControl reno", (b) => b.tcpCongestionControl("reno")],
    ["maxFlows 1", (b) => b.maxFlows(1)],
    ["ttl 255", (b) => b.ttl(255)],
  ])("accepts %s", (_name, set) => {
    expect(set(new L3L4Builder<Uint8Array>()).build()).toBeInstanceOf(L3L4);
  });

  it("the settings reach the engine (ttl, mtu, udpIdleTimeout)", () => {
    let t = 0;
    const e = new L3L4Builder<Uint8Array>()
      .clock(() => t)
      .ttl(9)
      .mtu(600)
      .udpIdleTimeout(2)
      .build();
    const cap = new Capture();
    const flow = e.l3Rx(cap, udp())!;
    e.l4Tx(cap, flow, new Uint8Array(1000));
    const sent = cap.take();
    expect(sent.every((p) => p.ttl === 9)).toBe(true);
    expect(cap.asked.every((n) => n <= 600)).toBe(true);
    expect(sent.length).toBe(2);
    expect(e.l4Poll(cap)).toBe(2000);
  });

  it("a later call of a setter replaces the earlier (and its check)", () => {
    expect(new L3L4Builder<Uint8Array>().mtu(1).mtu(1400).build()).toBeInstanceOf(L3L4);
  });
});

describe("index", () => {
  it("exports the public API", () => {
    expect(api.L3L4Builder).toBe(L3L4Builder);
    expect(api.L3L4).toBe(L3L4);
    expect(typeof api.describe).toBe("function");
    expect(typeof api.wire.parseTcpOptions).toBe("function");
    expect(new api.UnknownFlowError("x")).toBeInstanceOf(api.L3L4Error);
    expect(new api.InvalidArgumentError("x").code).toBe("ERR_INVALID_ARGUMENT");
  });
});
