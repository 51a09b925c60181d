/** The TUN commands' shared command line and messages (lib/cli/options.ts, lib/cli/device.ts). */
import { describe, expect, it } from "vitest";
import { explainStartError } from "../../lib/cli/device.js";
import {
  choiceOption,
  DEVICE_OPTIONS,
  deviceOptions,
  formatRate,
  parseCommandLine,
  parseHostPort,
  secondsOption,
  UsageError,
} from "../../lib/cli/options.js";
import { TunError } from "../../lib/tun/tun.js";

const parse = (argv: string[]) => deviceOptions(parseCommandLine(argv, DEVICE_OPTIONS));

describe("device options", () => {
  it("has defaults: the kernel picks the name, the device keeps its MTU, offloads, no pcap, trace or faults", () => {
    expect(parse([])).toEqual({
      tun: "",
      mtu: undefined,
      pcap: undefined,
      trace: false,
      faults: undefined,
      offload: true,
      txQueueLength: undefined,
      tcpBufferSize: undefined,
      udpIdleTimeout: undefined,
      maxMemory: undefined,
      maxFlowsPerSource: undefined,
      quiet: false,
    });
  });

  it("reads every option", () => {
    const options = parse([
      "--tun", "prx0", "--mtu", "65520", "--pcap", "/tmp/x.pcap", "--trace", "--faults", "loss=0.1,delay=5",
      "--tcp-buffer", "1048576", "--udp-idle-timeout", "30", "--quiet", "--no-offload", "--txqueuelen", "10000",
      "--max-memory", "8388608", "--max-flows-per-source", "64",
    ]);
    expect(options).toMatchObject({
      tun: "prx0",
      mtu: 65520,
      pcap: "/tmp/x.pcap",
      trace: true,
      offload: false,
      txQueueLength: 10000,
      tcpBufferSize: 1 << 20,
      udpIdleTimeout: 30,
      maxMemory: 8 << 20,
      maxFlowsPerSource: 64,
      quiet: true,
    });
    expect(options.faults).toMatchObject({ loss: 0.1, delayMs: 5 });
  });

  it.each([
    [["--offload"], true],
    [["--no-offload"], false],
    // The fault injector (FaultyDevice) passes plain IP packets: a virtio-net header would reach the engine as IP.
    [["--faults", "loss=0.1"], false],
  ])("offloads with %j: %s", (argv, offload) => {
    expect(parse(argv).offload).toBe(offload);
  });

  it.each([
    [["--offload", "--no-offload"], /--offload and --no-offload: give one of them/],
    [["--offload", "--faults", "loss=0.1"], /--faults .* without offloads/],
    [["--mtu", "500"], /--mtu must be an integer in 576\.\.65535/],
    [["--mtu", "15x"], /--mtu/],
    [["--txqueuelen", "0"], /--txqueuelen must be an integer in 1\.\.1000000/],
    [["--txqueuelen", "many"], /--txqueuelen/],
    [["--max-memory", "1000"], /--max-memory must be an integer in 65536\.\./],
    [["--max-flows-per-source", "0"], /--max-flows-per-source must be an integer in 1\.\./],
    [["--faults", "loss=2"], /--faults: .*probability/],
    [["--faults", "rate=10M"], /rate and queue are not modelled/],
    [["--faults", "queue=10"], /rate and queue are not modelled/],
    [["--bogus"], /bogus/],
    [["stray"], /stray|positional/i],
  ])("refuses %j with a UsageError", (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });

  it("knows --help and -h", () => {
    expect(parseCommandLine(["--help"], DEVICE_OPTIONS).help).toBe(true);
    expect(parseCommandLine(["-h"], DEVICE_OPTIONS).help).toBe(true);
  });
});

describe("parseHostPort", () => {
  it.each([
    ["10.1.2.3:80", { host: "10.1.2.3", port: 80 }],
    ["example.test:65535", { host: "example.test", port: 65535 }],
    ["[fd00::1]:53", { host: "fd00::1", port: 53 }],
  ])("reads %s", (text, expected) => {
    expect(parseHostPort(text, "api")).toEqual(expected);
  });

  it.each(["10.1.2.3", "10.1.2.3:0", "10.1.2.3:65536", "fd00::1:53", "[10.1.2.3]:80", ":80", "[fd00::1]"])(
    "refuses %s, naming the option",
    (text) => {
      expect(() => parseHostPort(text, "api")).toThrow(UsageError);
      expect(() => parseHostPort(text, "api")).toThrow(/--api/);
    },
  );
});

describe("seconds and choices", () => {
  it("reads seconds as milliseconds and refuses zero, negatives and words", () => {
    expect(secondsOption("connect-timeout", "2.5", 60)).toBe(2500);
    expect(secondsOption("connect-timeout", undefined, 60)).toBeUndefined();
    for (const bad of ["0", "-1", "ten", "61", ""]) expect(() => secondsOption("connect-timeout", bad, 60)).toThrow(/--connect-timeout/);
  });

  it("takes one of the choices and lists them when refusing", () => {
    expect(choiceOption("udp", "direct", ["refuse", "direct"], "refuse")).toBe("direct");
    expect(choiceOption("udp", undefined, ["refuse", "direct"], "refuse")).toBe("refuse");
    expect(() => choiceOption("udp", "tcp", ["refuse", "direct"], "refuse")).toThrow("--udp must be refuse or direct: tcp");
  });
});

describe("messages", () => {
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

  it("formats rates", () => {
    expect(formatRate(125_000_000, 1)).toBe("1.00 Gbit/s");
    expect(formatRate(1_250_000, 2)).toBe("5.0 Mbit/s");
    expect(formatRate(10, 1)).toBe("80 bit/s");
  });
});
