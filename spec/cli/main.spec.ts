/**
 * The `l3l4` entry point (lib/cli/main.ts) and `l3l4 proxy`'s command line (lib/cli/proxy.ts): help,
 * and every mistake exits 2 with exactly one line that says what is wrong.
 */
import { describe, expect, it } from "vitest";
import type { CommandIo } from "../../lib/cli/command.js";
import { COMMANDS, main } from "../../lib/cli/main.js";
import { parseProxyArgs } from "../../lib/cli/proxy.js";
import { UsageError } from "../../lib/cli/options.js";

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const sink: CommandIo = { log: (line) => out.push(line), error: (line) => err.push(line) };
  return { sink, out, err };
}

describe("l3l4", () => {
  it("lists every command for --help, and each command's options for COMMAND --help", async () => {
    const top = io();
    expect(await main(["--help"], top.sink)).toBe(0);
    for (const command of ["proxy", "echo", "demo"]) expect(top.out.join("\n")).toMatch(new RegExp(`^  ${command} `, "m"));
    for (const command of COMMANDS) {
      const one = io();
      expect(await main([command.name, "--help"], one.sink)).toBe(0);
      expect(one.out.join("\n")).toMatch(new RegExp(`^usage: l3l4 ${command.name} `));
      expect(one.err).toEqual([]);
      // The usage line names every option the text lists, or says "[options]" for the rest.
      const text = one.out.join("\n");
      const usage = text.split("\n")[0]!;
      const listed = [...text.matchAll(/^ {2}(--[a-z0-9-]+)/gm)].map((m) => m[1]!).filter((o) => o !== "--help");
      if (!usage.endsWith("[options]")) for (const option of listed) expect(usage, `${command.name}: ${option}`).toContain(option);
    }
    const proxy = io();
    await main(["proxy", "--help"], proxy.sink);
    for (const option of ["--proxy", "--udp", "--dns", "--fake-ip-range", "--dns-upstream", "--connect-timeout", "--api", "--tun", "--mtu", "--pcap", "--trace", "--faults"]) {
      expect(proxy.out.join("\n")).toContain(option);
    }
    // Its example puts the clients in another namespace: a route into the device from the proxy's own
    // namespace (the echo and http example) loops the proxy's dials back into the device.
    expect(proxy.out.join("\n")).not.toMatch(/^\s*(ip addr add .*&& )?ip route add \S+ dev NAME/m);
    expect(proxy.out.join("\n")).toMatch(/ip link set NAME netns (\S+).*\n.*ip -n \1 route add default dev NAME/);
  });

  it.each([
    [[], /^l3l4: which command\? proxy, echo, http, demo/],
    [["frobnicate"], /^l3l4: no command "frobnicate"/],
    [["proxy", "--proxy", "socks5://127.0.0.1"], /^l3l4 proxy: --proxy "socks5:\/\/127\.0\.0\.1": no port/],
    [["proxy", "--proxy", "ftp://x:21"], /^l3l4 proxy: --proxy "ftp:\/\/x:21": unsupported scheme/],
    [["proxy", "--udp", "sometimes"], /^l3l4 proxy: --udp must be refuse or direct: sometimes/],
    [["proxy", "--dns", "magic"], /^l3l4 proxy: --dns must be proxy, fake-ip or direct: magic/],
    [["proxy", "--api", "9090"], /^l3l4 proxy: --api needs HOST:PORT/],
    [["proxy", "--connect-timeout", "0"], /^l3l4 proxy: --connect-timeout must be a number of seconds/],
    [["proxy", "--fake-ip-range", "198.18.0.0/15"], /^l3l4 proxy: --fake-ip-range is for --dns fake-ip/],
    [["proxy", "--dns", "fake-ip", "--fake-ip-range", "10.0.0.1/8"], /host bits set/],
    [["proxy", "--mtu", "100"], /^l3l4 proxy: --mtu must be an integer in 576\.\.65535/],
    [["proxy", "--bogus"], /^l3l4 proxy: .*bogus/],
    [["echo", "--proxy", "direct://"], /^l3l4 echo: .*proxy/],
    [["demo", "--flows", "0"], /^l3l4 demo: --flows must be an integer/],
  ])("%j exits 2 with one line", async (argv, message) => {
    const run = io();
    expect(await main(argv, run.sink)).toBe(2);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(message);
    expect(run.err[0]).not.toContain("\n");
    expect(run.out).toEqual([]);
  });
});

describe("l3l4 proxy's command line", () => {
  it("defaults to direct://, DNS like any UDP, UDP refused behind HTTP, a 10 s connect timeout", () => {
    const line = parseProxyArgs([]);
    expect(line.proxy).toMatchObject({ upstream: { kind: "direct" }, dns: "proxy", udp: "refuse", connectTimeoutMs: 10_000, dnsUpstream: undefined, destination: undefined });
    expect(line.api).toBeUndefined();
  });

  it("reads every proxy option", () => {
    const line = parseProxyArgs([
      "--proxy", "socks5://u:p@10.0.0.1:1080", "--udp", "direct", "--dns", "fake-ip", "--fake-ip-range", "100.64.0.0/16,fd00:64::/48",
      "--dns-upstream", "10.0.0.53", "--connect-timeout", "2.5", "--api", "127.0.0.1:0", "--upstream", "[fd00::9]:80", "--tun", "t0",
    ]);
    expect(line.device.tun).toBe("t0");
    expect(line.proxy).toMatchObject({
      upstream: { kind: "socks5", host: "10.0.0.1", port: 1080, username: "u", password: "p" },
      udp: "direct",
      dns: "fake-ip",
      dnsUpstream: { host: "10.0.0.53", port: 53 },
      connectTimeoutMs: 2500,
      destination: { host: "fd00::9", port: 80 },
    });
    expect(line.proxy.fakeIpV4.prefix).toBe(16);
    expect(line.proxy.fakeIpV6.prefix).toBe(48);
    expect(line.api).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseProxyArgs(["--dns", "fake-ip", "--dns-upstream", "[fd00::53]:5353"]).proxy.dnsUpstream).toEqual({ host: "fd00::53", port: 5353 });
  });

  it("refuses two prefixes of one family", () => {
    expect(() => parseProxyArgs(["--dns", "fake-ip", "--fake-ip-range", "100.64.0.0/16,100.65.0.0/16"])).toThrow(UsageError);
  });
});
