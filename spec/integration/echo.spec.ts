/**
 * The echo server (`l3l4 echo`, lib/cli/echo.ts) against the real Linux stack: its TUN device sits in a
 * client namespace whose kernel routes a test prefix into it; nc, ping and small node clients in
 * that namespace talk to any address in the prefix, and the engine in this process answers.
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { startEchoServer, type EchoServer } from "../../lib/cli/echo.js";
import { DEVICE_OPTIONS, deviceOptions, parseCommandLine } from "../../lib/cli/options.js";
import { readPcap } from "../../lib/debug/pcap.js";
import { describe as describePacket } from "../../lib/wire/describe.js";
import { run, uniqueInterfaceName, uniqueName, useNetns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import {
  addonBuilt,
  fixture,
  randomFile,
  runIn,
  sha256sumOutput,
  shellIn,
  testAddresses,
  tunInNamespace,
  useCleanup,
  startEchoOn,
  useRandomFiles,
  waitForNoFlows,
  type TcpClientsResult,
  type UdpClientResult,
} from "./harness.js";

describeIntegration(
  "echo server over TUN against the Linux stack",
  () => {
    const netns = useNetns("l3l4-echo-");
    useCleanup();
    useRandomFiles();
    const servers: EchoServer[] = [];
    afterEach(async () => {
      // Registered after useNetns: runs before the namespaces are deleted.
      await Promise.all(servers.splice(0).map((server) => server.close()));
    });

    function echoInNamespace(mtu = 1500) {
      const ns = netns();
      const addresses = testAddresses();
      const device = tunInNamespace(ns, addresses, mtu);
      const { server, noFlows } = startEchoOn(device, servers);
      return { ns, addresses, server, noFlows };
    }

    it(
      "echoes 100 MB over IPv4 through nc -N (which half-closes after its input), sha256 equal",
      async () => {
        const { ns, addresses, server, noFlows } = echoInNamespace();
        const file = randomFile(100_000_000);
        const result = await shellIn(ns, `nc -N ${addresses.v4(7)} 7777 < ${file.path} | sha256sum`, 90_000);
        expect(result.timedOut).toBe(false);
        expect(sha256sumOutput(result.stdout)).toBe(file.sha256);
        expect(server.app.counters.tcpBytes).toBe(100_000_000);
        await noFlows(10_000);
        expect(server.engine.flowCount).toBe(0);
      },
      120_000,
    );

    it(
      "echoes 20 MB over IPv6, sha256 equal",
      async () => {
        const { ns, addresses, noFlows } = echoInNamespace();
        const file = randomFile(20_000_000);
        const result = await shellIn(ns, `nc -N ${addresses.v6(0x42)} 443 < ${file.path} | sha256sum`, 60_000);
        expect(sha256sumOutput(result.stdout)).toBe(file.sha256);
        await noFlows(10_000);
      },
      90_000,
    );

    it(
      "echoes 200 concurrent connections of 1 MB each, to many addresses and ports",
      async () => {
        const { ns, addresses, server, noFlows } = echoInNamespace();
        const targets = Array.from({ length: 20 }, (_, i) => ({
          host: i % 4 === 3 ? addresses.v6(10 + i) : addresses.v4(10 + i),
          port: 1000 + 37 * i,
        }));
        const result = await fixture<TcpClientsResult>(
          ns,
          "tcp-clients",
          { targets, connections: 200, bytes: 1 << 20, mode: "echo", timeoutMs: 100_000 },
          110_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(200);
        expect(result.bytesReceived).toBe(200 * (1 << 20));
        expect(server.app.counters.tcpFlowsOpened).toBe(200);
        await noFlows(15_000);
      },
      130_000,
    );

    it(
      "half-close: clients that shut their writing side still get the whole echo (more than the buffers hold)",
      async () => {
        const { ns, addresses, server, noFlows } = echoInNamespace();
        const targets = [
          { host: addresses.v4(99), port: 9 },
          { host: addresses.v6(99), port: 9 },
        ];
        const result = await fixture<TcpClientsResult>(
          ns,
          "tcp-clients",
          { targets, connections: 4, bytes: 4 << 20, mode: "half-close", timeoutMs: 50_000 },
          60_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(4);
        // The clients send everything before reading: the echo had to wait for send space.
        expect(server.app.counters.pauses).toBeGreaterThan(0);
        await noFlows(10_000);
      },
      90_000,
    );

    it.each([
      ["IPv4", 4],
      ["IPv6", 6],
    ] as const)(
      "echoes UDP datagrams over %s: DNS-sized ones and 8 KB ones the kernel fragments",
      async (_name, family) => {
        const { ns, addresses, server, noFlows } = echoInNamespace();
        const host = family === 4 ? addresses.v4(53) : addresses.v6(53);
        const result = await fixture<UdpClientResult>(
          ns,
          "udp-client",
          { host, port: 53, sizes: [33, 512, 1232, 1472, 8192, 30_000], rounds: 3, tries: 3, waitMs: 1000 },
          30_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(18);
        expect(server.app.counters.udpDatagrams).toBeGreaterThanOrEqual(18);
        await noFlows(10_000); // the UDP flow idles out after 1 s
      },
      60_000,
    );

    it.each([
      ["IPv4", 4],
      ["IPv6", 6],
    ] as const)(
      "answers ping over %s, small and fragmented (-s 4000)",
      async (_name, family) => {
        const { ns, addresses } = echoInNamespace();
        const peer = family === 4 ? addresses.v4(200) : addresses.v6(200);
        for (const size of [56, 4000]) {
          const result = await runIn(ns, ["ping", `-${family}`, "-n", "-c", "3", "-i", "0.2", "-W", "2", "-w", "10", "-s", String(size), peer], 15_000);
          expect(result.stdout).toMatch(/3 packets transmitted, 3 received/);
          expect(result.code).toBe(0);
        }
        const counters = ns.snmpCounters();
        if (family === 4) {
          expect(counters.Icmp?.InCsumErrors).toBe(0);
          expect(counters.Icmp?.InEchoReps).toBeGreaterThanOrEqual(6);
        }
      },
      40_000,
    );
    it(
      "attaches to an existing device (--tun), keeps working after root moves it into a namespace, and records --pcap and --trace",
      async () => {
        const name = uniqueInterfaceName();
        run("ip", ["tuntap", "add", "dev", name, "mode", "tun"]); // persistent: the example attaches
        const pcapPath = join(tmpdir(), `${uniqueName("l3l4-echo-")}.pcap`);
        const trace: string[] = [];
        let server: EchoServer | undefined;
        const ns = netns();
        try {
          const options = deviceOptions(parseCommandLine(["--tun", name, "--mtu", "1400", "--pcap", pcapPath, "--trace", "--quiet"], DEVICE_OPTIONS));
          server = startEchoServer(options, { log: (line) => trace.push(line) });
          servers.push(server);
          expect(server.device.name).toBe(name);
          expect(server.device.mtu).toBe(1400);
          // Root moves the running device into C and addresses it there.
          const addresses = testAddresses();
          ns.adoptLink(name);
          ns.ip(["addr", "add", `${addresses.tunV4}/24`, "dev", name]);
          ns.ip(["-6", "addr", "add", `${addresses.tunV6}/64`, "dev", name, "nodad"]);
          ns.ip(["link", "set", "dev", name, "up"]);
          ns.ip(["route", "add", addresses.routedV4, "dev", name]);
          ns.ip(["-6", "route", "add", addresses.routedV6, "dev", name]);
          const ping = await runIn(ns, ["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "-w", "8", addresses.v6(9)], 15_000);
          expect(ping.stdout).toMatch(/2 packets transmitted, 2 received/);
          const echo = await shellIn(ns, `printf 'hello through a moved device' | nc -N ${addresses.v4(9)} 7`, 15_000);
          expect(echo.stdout).toBe("hello through a moved device");
          await waitForNoFlows(server.engine, server.app, () => server!.app.flows, 10_000);
        } finally {
          await server?.close();
          try {
            ns.ip(["link", "del", "dev", name]);
          } catch {
            // gone already
          }
        }
        const pcap = readPcap(readFileSync(pcapPath));
        run("rm", ["-f", pcapPath]);
        expect(pcap).toBeDefined();
        const lines = pcap!.records.map((record) => describePacket(record.packet));
        expect(lines.some((line) => /ICMP.*echo request/i.test(line))).toBe(true);
        // The device has the offloads (the default): a TCP checksum in either direction is the partial
        // one, as tcpdump on a Linux host with offloads shows it (the kernel or the reader completes it).
        expect(lines.some((line) => /TCP bad_checksum \[S\]/.test(line))).toBe(true);
        expect(lines.some((line) => /TCP bad_checksum \[S\.\]/.test(line))).toBe(true); // the engine's SYN-ACK
        expect(trace.filter((line) => /^(in |out) /.test(line)).length).toBe(pcap!.records.length);
        expect(trace.some((line) => line.startsWith("open ") && line.includes(" tcp"))).toBe(true);
      },
      40_000,
    );
  },
  [canUseNetns, addonBuilt, hasCommand("nc", ["-h"], "netcat-openbsd"), hasCommand("ping", ["-V"], "iputils-ping")],
);
