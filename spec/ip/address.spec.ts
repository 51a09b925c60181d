import { describe, expect, it } from "vitest";
import { isMulticastOrBroadcast4, isUnicast4, isUnicast6 } from "../../lib/ip/address.js";
import { parseIpv4, parseIpv6 } from "../../lib/wire/index.js";

function v6(text: string): boolean {
  const b = new Uint8Array(20);
  if (!parseIpv6(text, b, 2)) throw new Error(text);
  return isUnicast6(b, 2);
}

describe("addresses a flow may use", () => {
  it.each([
    ["10.0.0.1", true],
    ["8.8.8.8", true],
    ["1.0.0.0", true],
    ["223.255.255.255", true],
    ["240.0.0.1", true], // class E: not a martian for us
    ["255.255.255.254", true],
    ["0.0.0.0", false],
    ["0.1.2.3", false],
    ["127.0.0.1", false],
    ["127.255.255.255", false],
    ["224.0.0.1", false],
    ["239.255.255.255", false],
    ["255.255.255.255", false],
  ])("IPv4 %s: %s", (text, ok) => {
    expect(isUnicast4(parseIpv4(text))).toBe(ok);
  });

  it.each([
    ["2001:db8::1", true],
    ["fe80::1", true],
    ["::2", true],
    ["::ffff:10.0.0.1", true],
    ["fd00::", true],
    ["::", false],
    ["::1", false],
    ["ff02::1", false],
    ["ff0e::101", false],
  ])("IPv6 %s: %s", (text, ok) => {
    expect(v6(text)).toBe(ok);
  });

  it("multicast or broadcast (RFC 1122 §3.2.2: no ICMP errors about packets to these)", () => {
    expect(isMulticastOrBroadcast4(parseIpv4("224.0.0.1"))).toBe(true);
    expect(isMulticastOrBroadcast4(parseIpv4("255.255.255.255"))).toBe(true);
    expect(isMulticastOrBroadcast4(parseIpv4("10.0.0.255"))).toBe(false);
  });
});
