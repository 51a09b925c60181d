/**
 * TUN offloads against the Linux stack: a device opened with IFF_VNET_HDR and TUNSETOFFLOAD (csum,
 * TSO, USO), where the kernel of the client namespace hands the engine 64 KiB super-packets and
 * packets whose checksum it left to us, and the runner (lib/tun/offload.ts) turns them into what l3Rx
 * takes. The same scenarios without offloads are echo.spec.ts and proxy.spec.ts.
 *
 * The engine the echo server and the proxy build for such a device sends TCP super-segments
 * (L3L4Builder.txSuperSegments: up to 64 KiB behind a virtio-net header with GSO_TCPV4/TCPV6 and
 * NEEDS_CSUM) for the kernel to cut; the same scenarios without offloads send per-MSS packets with
 * full checksums.
 *
 * Each test also checks that the kernel really used the offloads (super-packets arrived, checksums
 * were completed, the super-segments we wrote were taken whole: the device's receive counters show
 * packets larger than the MTU), so that a kernel which quietly fell back to plain packets fails here.
 */
import { afterEach, expect, it } from "vitest";
import type { EchoServer } from "../../lib/cli/echo.js";
import type { ProxyServer } from "../../lib/cli/proxy.js";
import { useNetns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import {
  addonBuilt,
  fixture,
  randomFile,
  runIn,
  sha256sumOutput,
  shellIn,
  startEchoOn,
  testAddresses,
  tunInNamespace,
  useCleanup,
  useRandomFiles,
  type UdpClientResult,
} from "./harness.js";
import { HTTP_PORT, iperf, proxyTopology, startIperfServer } from "./topology.js";
import type { Netns } from "../support/netns.js";

/** The device's receive counters in its namespace: what the kernel took from our writes. */
function deviceRx(ns: Netns, name: string): { packets: number; bytes: number } {
  const [link] = JSON.parse(ns.ip(["-j", "-s", "link", "show", "dev", name])) as { stats64: { rx: { packets: number; bytes: number } } }[];
  return link!.stats64.rx;
}

/**
 * The engine sent TCP super-segments through the runner, and the kernel took them whole: more bytes
 * per packet than the MTU arrived on the device.
 */
function expectSuperSegmentsTaken(
  ns: Netns,
  name: string,
  mtu: number,
  engine: { stats(): { tcpSuperSegmentsOut: number; tcpSegmentsOut: number; packetsOut: number } },
  runner: { stats: { txSuperSegments: number } },
): void {
  const e = engine.stats();
  expect(e.tcpSuperSegmentsOut).toBeGreaterThan(0);
  expect(e.tcpSegmentsOut).toBeGreaterThan(e.packetsOut); // pieces counted as the wire segments they become
  expect(runner.stats.txSuperSegments).toBeGreaterThan(0);
  const rx = deviceRx(ns, name);
  expect(rx.bytes / rx.packets).toBeGreaterThan(mtu);
}

/** Sends one buffer with UDP_SEGMENT (the kernel's UDP GSO: one super-packet of `count` datagrams) and collects the echoes. */
const UDP_GSO_CLIENT = `
import json, socket, sys
host, port, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(17, 103, size)  # SOL_UDP, UDP_SEGMENT
s.settimeout(3)
s.connect((host, port))
data = bytes((i * 7 + i // 251) & 255 for i in range(size * count))
s.send(data)
got = []
try:
    while len(got) < count:
        got.append(s.recv(65535))
except socket.timeout:
    pass
print(json.dumps({"received": len(got), "sizes": sorted(set(len(g) for g in got)), "intact": b"".join(got) == data}))
`;

describeIntegration(
  "TUN offloads (IFF_VNET_HDR, TSO, USO, checksum offload) against the Linux stack",
  () => {
    const netns = useNetns("l3l4-offload-");
    useCleanup();
    useRandomFiles();
    const servers: EchoServer[] = [];
    const proxies: ProxyServer[] = [];
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((server) => server.close()));
      await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    });

    function echoWithOffloads(mtu = 1500) {
      const ns = netns();
      const addresses = testAddresses();
      const device = tunInNamespace(ns, addresses, mtu, { offload: true, txQueueLength: 10_000 });
      const { server, noFlows } = startEchoOn(device, servers);
      return { ns, addresses, device, server, noFlows };
    }

    it("opens the device with a virtio-net header and the kernel's checksum, TSO and USO offloads, and the txqueuelen asked for", () => {
      const { ns, device } = echoWithOffloads();
      expect(device.vnetHeader).toBe(true);
      // The kernel CI runs takes all of them (USO since Linux 6.2).
      expect(device.offloads).toEqual(["csum", "tso4", "tso6", "tso-ecn", "uso4", "uso6"]);
      expect(device.txQueueLength).toBe(10_000);
      const link = ns.ip(["-d", "link", "show", "dev", device.name]);
      expect(link).toMatch(/vnet_hdr on/);
      expect(link).toMatch(/qlen 10000/);
    });

    it("raises the txqueuelen of a device opened without offloads too (Linux's 500 is too short)", () => {
      const ns = netns();
      const device = tunInNamespace(ns, testAddresses());
      expect(device.vnetHeader).toBe(false);
      expect(device.offloads).toEqual([]);
      expect(device.txQueueLength).toBe(4096);
      const link = ns.ip(["-d", "link", "show", "dev", device.name]);
      expect(link).toMatch(/qlen 4096/);
      expect(link).toMatch(/vnet_hdr off/);
    });

    it.each([
      ["IPv4", 4, 60_000_000],
      ["IPv6", 6, 30_000_000],
    ] as const)(
      "echoes %s TCP from super-packets (TSO), sha256 equal, no checksum error in the client's kernel",
      async (_name, family, bytes) => {
        const { ns, addresses, server, noFlows } = echoWithOffloads();
        const file = randomFile(bytes);
        const host = family === 4 ? addresses.v4(7) : addresses.v6(7);
        const result = await shellIn(ns, `nc -N ${host} 7777 < ${file.path} | sha256sum`, 90_000);
        expect(result.timedOut).toBe(false);
        expect(sha256sumOutput(result.stdout)).toBe(file.sha256);
        const stats = server.runner.stats;
        // TCP super-packets go into the engine whole (l3RxTrusted), no checksum completed or verified.
        expect(stats.rxSuperSegments).toBeGreaterThan(0);
        expect(stats.rxChecksumsTrusted).toBeGreaterThanOrEqual(stats.rxSuperSegments);
        expect(stats.rxSuperPackets).toBe(0);
        expect(stats.rxPieces).toBe(0);
        expect(stats.rxChecksumsCompleted).toBe(0);
        expect(stats.rxBadVnetHeaders).toBe(0);
        expect(server.engine.stats().drops["bad_checksum"] ?? 0).toBe(0);
        expectSuperSegmentsTaken(ns, server.device.name, 1500, server.engine, server.runner);
        const tcp = ns.snmpCounters().Tcp!;
        expect(tcp.InCsumErrors).toBe(0);
        expect(tcp.InErrs).toBe(0);
        await noFlows(10_000);
      },
      120_000,
    );

    it.each([
      ["IPv4", 4],
      ["IPv6", 6],
    ] as const)(
      "echoes every datagram of a UDP super-packet (USO, UDP_SEGMENT) over %s",
      async (_name, family) => {
        const { ns, addresses, server } = echoWithOffloads();
        const host = family === 4 ? addresses.v4(53) : addresses.v6(53);
        const result = await runIn(ns, ["python3", "-c", UDP_GSO_CLIENT, host, "5353", "1200", "20"], 20_000);
        expect(result.stderr).toBe("");
        expect(JSON.parse(result.stdout)).toEqual({ received: 20, sizes: [1200], intact: true });
        expect(server.runner.stats.rxSuperPackets).toBeGreaterThan(0);
        expect(server.runner.stats.rxBadVnetHeaders).toBe(0);
      },
      30_000,
    );

    it("echoes UDP datagrams the kernel fragments, and answers ping, with offloads on", async () => {
      const { ns, addresses } = echoWithOffloads();
      const result = await fixture<UdpClientResult>(
        ns,
        "udp-client",
        { host: addresses.v4(53), port: 53, sizes: [33, 1472, 8192, 30_000], rounds: 2, tries: 3, waitMs: 1000 },
        30_000,
      );
      expect(result.errors).toEqual([]);
      expect(result.ok).toBe(8);
      const ping = await runIn(ns, ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-s", "4000", addresses.v4(200)], 15_000);
      expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(ns.snmpCounters().Icmp?.InCsumErrors).toBe(0);
    }, 60_000);

    it(
      "proxies a 100 MB download and a 100 MB upload through --offload, sha256 equal, and iperf3 both ways",
      async () => {
        const file = randomFile(100_000_000);
        const { client, server, addresses, proxy, noFlows } = await proxyTopology(netns, proxies, { file: file.path, offload: true });
        expect(proxy.device.offloads).toContain("tso4");
        const down = await shellIn(client, `curl -sS --fail --max-time 100 http://${addresses.v4(2)}:${HTTP_PORT}/file | sha256sum`, 110_000);
        expect(down.stderr).toBe("");
        expect(sha256sumOutput(down.stdout)).toBe(file.sha256);
        const up = await runIn(client, ["curl", "-sS", "--fail", "-g", "--max-time", "100", "-T", file.path, `http://[${addresses.v6(2)}]:${HTTP_PORT}/upload`], 110_000);
        expect(up.stderr).toBe("");
        expect(up.stdout.trim()).toBe(`${file.sha256} 100000000`);
        expect(proxy.runner.stats.rxSuperSegments).toBeGreaterThan(0);
        expect(proxy.runner.stats.rxBadVnetHeaders).toBe(0);
        expectSuperSegmentsTaken(client, proxy.device.name, 1500, proxy.engine, proxy.runner);
        await startIperfServer(server);
        expect(await iperf(client, addresses.v4(2), 3, false)).toBeGreaterThan(0);
        expect(await iperf(client, addresses.v4(2), 3, true)).toBeGreaterThan(0);
        expect(client.snmpCounters().Tcp!.InCsumErrors).toBe(0);
        await noFlows(15_000);
      },
      240_000,
    );
  },
  [canUseNetns, addonBuilt, hasCommand("nc", ["-h"], "netcat-openbsd"), hasCommand("python3", ["--version"], "python3"), hasCommand("iperf3", ["--version"], "iperf3")],
);
