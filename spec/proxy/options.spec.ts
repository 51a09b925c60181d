/** --proxy URLs and IP prefixes (lib/proxy/options.ts): what parses, and the one-line reason for what does not. */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { parseCidr, parseProxyUrl, upstreamName } from "../../lib/proxy/options.js";

describe("parseProxyUrl", () => {
  it.each([
    ["direct://", { kind: "direct" }],
    ["socks5://127.0.0.1:1080", { kind: "socks5", host: "127.0.0.1", port: 1080, username: undefined, password: undefined }],
    ["socks5://alice:s3cret@10.0.0.1:1080", { kind: "socks5", host: "10.0.0.1", port: 1080, username: "alice", password: "s3cret" }],
    ["socks5://[fd00::1]:1080", { kind: "socks5", host: "fd00::1", port: 1080, username: undefined, password: undefined }],
    ["socks5://proxy.example:1080/", { kind: "socks5", host: "proxy.example", port: 1080, username: undefined, password: undefined }],
    ["http://u%40x:p%3Aw@127.0.0.1:3128", { kind: "http", host: "127.0.0.1", port: 3128, username: "u@x", password: "p:w" }],
  ])("reads %s", (text, expected) => {
    expect(parseProxyUrl(text)).toEqual(expected);
  });

  it.each([
    ["socks5.example:1080", /not a URL|unsupported scheme/],
    ["", /not a URL/],
    ["socks4://127.0.0.1:1080", /unsupported scheme socks4:\/\//],
    ["https://127.0.0.1:3128", /TLS to the proxy is not supported/],
    ["socks5://127.0.0.1", /no port \(e\.g\. socks5:\/\/127\.0\.0\.1:1080\)/],
    ["http://:3128", /not a URL|no host/],
    ["socks5://alice@127.0.0.1:1080", /both user and password/],
    ["socks5://127.0.0.1:1080/path", /no path/],
    ["socks5://127.0.0.1:99999", /not a URL/],
    ["direct://somewhere", /direct:\/\/ takes nothing/],
    [`socks5://${"u".repeat(256)}:p@127.0.0.1:1080`, /at most 255 bytes/],
  ])("refuses %j with one line naming --proxy", (text, why) => {
    let error: unknown;
    try {
      parseProxyUrl(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const message = (error as Error).message;
    expect(message).toMatch(why);
    expect(message.startsWith("--proxy ")).toBe(true);
    expect(message).not.toContain("\n");
  });

  it("names an upstream without its password", () => {
    expect(upstreamName(parseProxyUrl("socks5://alice:s3cret@10.0.0.1:1080"))).toBe("socks5://alice@10.0.0.1:1080");
    expect(upstreamName(parseProxyUrl("http://[fd00::1]:3128"))).toBe("http://[fd00::1]:3128");
    expect(upstreamName(parseProxyUrl("direct://"))).toBe("direct");
  });
});

describe("parseCidr", () => {
  it("reads IPv4 and IPv6 prefixes into wire bytes", () => {
    expect(parseCidr("198.18.0.0/15")).toEqual({ family: 4, bytes: Uint8Array.of(198, 18, 0, 0), prefix: 15 });
    const v6 = parseCidr("fc00::/18");
    expect(v6.family).toBe(6);
    expect(v6.prefix).toBe(18);
    expect(Array.from(v6.bytes.subarray(0, 3))).toEqual([0xfc, 0, 0]);
  });

  it.each(["198.18.0.1/15", "198.18.0.0", "198.18.0.0/33", "fc00::1/18", "nope/8", "fc00::/129", "10.0.0.0/x"])("refuses %s", (text) => {
    expect(() => parseCidr(text)).toThrow(InvalidArgumentError);
  });
});
