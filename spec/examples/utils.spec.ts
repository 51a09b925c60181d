/** The examples' shared command line and messages (examples/utils.ts). */
import { describe, expect, it } from "vitest";
import { TunError } from "../../lib/tun/tun.js";
import { ECHO_SPEC } from "../../examples/echo_server.js";
import { PROXY_SPEC } from "../../examples/proxy_server.js";
import {
  explainStartError,
  flowName,
  formatRate,
  parseExampleArgs,
  parseHostPort,
  usage,
  UsageError,
} from "../../examples/utils.js";

describe("parseExampleArgs", () => {
  it("has defaults: the kernel picks the name, the device keeps its MTU, no pcap, trace or faults", () => {
    expect(parseExampleArgs([], ECHO_SPEC)).toEqual({
      tun: "",
      mtu: undefined,
      pcap: undefined,
      trace: false,
      faults: undefined,
      tcpBufferSize: undefined,
      udpIdleTimeout: undefined,
      quiet: false,
      upstream: undefined,
      help: false,
    });
  });

  it("reads every option", () => {
    const options = parseExampleArgs(
      ["--tun", "prx0", "--mtu", "65520", "--pcap", "/tmp/x.pcap", "--trace", "--faults", "loss=0.1,delay=5",
        "--tcp-buffer", "1048576", "--udp-idle-timeout", "30", "--quiet", "--upstream", "[fd00::2]:8080"],
      PROXY_SPEC,
    );
    expect(options).toMatchObject({
      tun: "prx0",
      mtu: 65520,
      pcap: "/tmp/x.pcap",
      trace: true,
      tcpBufferSize: 1 << 20,
      udpIdleTimeout: 30,
      quiet: true,
      upstream: { host: "fd00::2", port: 8080 },
    });
    expect(options.faults).toMatchObject({ loss: 0.1, delayMs: 5 });
  });

  it.each([
    [["--mtu", "500"], /--mtu must be an integer in 576\.\.65535/],
    [["--mtu", "15x"], /--mtu/],
    [["--faults", "loss=2"], /--faults: .*probability/],
    [["--faults", "rate=10M"], /rate and queue are not modelled/],
    [["--faults", "queue=10"], /rate and queue are not modelled/],
    [["--bogus"], /bogus/],
    [["stray"], /stray|positional/i],
    [["--upstream", "10.0.0.1:80"], /echo_server takes no --upstream/],
  ])("refuses %j with a UsageError", (argv, message) => {
    expect(() => parseExampleArgs(argv, ECHO_SPEC)).toThrow(UsageError);
    expect(() => parseExampleArgs(argv, ECHO_SPEC)).toThrow(message);
  });

  it("knows --help and -h", () => {
    expect(parseExampleArgs(["--help"], ECHO_SPEC).help).toBe(true);
    expect(parseExampleArgs(["-h"], PROXY_SPEC).help).toBe(true);
  });
});

describe("parseHostPort", () => {
  it.each([
    ["10.1.2.3:80", { host: "10.1.2.3", port: 80 }],
    ["example.test:65535", { host: "example.test", port: 65535 }],
    ["[fd00::1]:53", { host: "fd00::1", port: 53 }],
  ])("reads %s", (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
  });

  it.each(["10.1.2.3", "10.1.2.3:0", "10.1.2.3:65536", "fd00::1:53", "[10.1.2.3]:80", ":80", "[fd00::1]"])(
    "refuses %s",
    (text) => {
      expect(() => parseHostPort(text)).toThrow(UsageError);
    },
  );
});

describe("messages", () => {
  it("lists --upstream in the proxy's usage only", () => {
    expect(usage(PROXY_SPEC)).toContain("--upstream");
    expect(usage(ECHO_SPEC)).not.toContain("--upstream");
    expect(usage(ECHO_SPEC)).toMatch(/^usage: echo_server /);
  });

  it("says how to build the addon when it is missing", () => {
    const text = explainStartError(new TunError("EADDON", "not built"));
    expect(text).toMatch(/TUN addon is not built/);
    expect(text).toContain("npx node-gyp rebuild -C lib/tun");
  });

  it.each(["EPERM", "EACCES"])("says root or CAP_NET_ADMIN is needed for %s", (errno) => {
    const text = explainStartError(new TunError(errno, "open failed"));
    expect(text).toMatch(/needs root or CAP_NET_ADMIN/);
    expect(text).toContain("setcap cap_net_admin+ep");
  });

  it("passes other TUN errors through with their hint", () => {
    expect(explainStartError(new TunError("EBUSY", "open failed"))).toMatch(/cannot open the TUN device: .*another process/);
  });

  it("names flows and rates", () => {
    const flow = { protocol: "tcp", family: 6, srcIp: "fd00::1", srcPort: 1, dstIp: "fd00::2", dstPort: 2 } as const;
    expect(flowName(flow)).toBe("[fd00::1]:1 > [fd00::2]:2 tcp");
    expect(formatRate(125_000_000, 1)).toBe("1.00 Gbit/s");
    expect(formatRate(1_250_000, 2)).toBe("5.0 Mbit/s");
    expect(formatRate(10, 1)).toBe("80 bit/s");
  });
});
