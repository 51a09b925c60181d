/**
 * The transparent proxy (`l3l4 proxy`, lib/proxy) with direct:// upstreams against the real Linux stack, in the
 * three-namespace topology of topology.ts: clients in C, the proxy in this process, servers in S.
 */
import { afterEach, expect, it } from "vitest";
import type { ProxyServer } from "../../lib/cli/proxy.js";
import { run, useNetns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import {
  addonBuilt,
  fixture,
  randomFile,
  runIn,
  sha256sumOutput,
  shellIn,
  useCleanup,
  useRandomFiles,
  type TcpClientsResult,
  type UdpClientResult,
} from "./harness.js";
import { sharedUdpBatch } from "../../lib/tun/udp-batch.js";
import { HASH_PORT, HTTP_PORT, iperf, proxyTopology, startIperfServer, UDP_PORT } from "./topology.js";

describeIntegration(
  "transparent proxy over TUN against the Linux stack",
  () => {
    const netns = useNetns("l3l4-proxy-");
    useCleanup();
    useRandomFiles();
    const proxies: ProxyServer[] = [];
    afterEach(async () => {
      await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    });

    it(
      "downloads 200 MB with curl from an HTTP server in S (IPv4, original destination), sha256 equal",
      async () => {
        const file = randomFile(200_000_000);
        const { client, addresses, proxy, noFlows } = await proxyTopology(netns, proxies, { file: file.path });
        const url = `http://${addresses.v4(2)}:${HTTP_PORT}/file`;
        const result = await shellIn(client, `curl -sS --fail --max-time 100 ${url} | sha256sum`, 110_000);
        expect(result.stderr).toBe("");
        expect(sha256sumOutput(result.stdout)).toBe(file.sha256);
        expect(proxy.app.counters.bytesDown).toBeGreaterThan(200_000_000);
        expect(proxy.app.counters.upstreamFailures).toBe(0);
        // The upstream (a veth) is faster than the TUN side: l4Tx took less than offered, the socket paused.
        expect(proxy.app.counters.socketPauses).toBeGreaterThan(0);
        await noFlows(10_000);
      },
      150_000,
    );

    it(
      "uploads 200 MB with curl -T to the HTTP server in S (IPv6), which hashes what it got",
      async () => {
        const file = randomFile(200_000_000);
        const { client, addresses, proxy, noFlows } = await proxyTopology(netns, proxies);
        const url = `http://[${addresses.v6(2)}]:${HTTP_PORT}/upload`;
        const result = await runIn(client, ["curl", "-sS", "--fail", "-g", "--max-time", "100", "-T", file.path, url], 110_000);
        expect(result.stderr).toBe("");
        expect(result.stdout.trim()).toBe(`${file.sha256} 200000000`);
        expect(proxy.app.counters.bytesUp).toBeGreaterThan(200_000_000);
        await noFlows(10_000);
      },
      150_000,
    );

    it(
      "pauses the flow while the upstream is slow (tbf 100 Mbit/s towards S): a 20 MB upload arrives intact",
      async () => {
        const file = randomFile(20_000_000);
        const { client, addresses, proxy, veth, noFlows } = await proxyTopology(netns, proxies);
        run("tc", ["qdisc", "add", "dev", veth.root, "root", "tbf", "rate", "100mbit", "burst", "32kb", "latency", "50ms"]);
        const url = `http://${addresses.v4(2)}:${HTTP_PORT}/upload`;
        const result = await runIn(client, ["curl", "-sS", "--fail", "--max-time", "50", "-T", file.path, url], 60_000);
        expect(result.stderr).toBe("");
        expect(result.stdout.trim()).toBe(`${file.sha256} 20000000`);
        // socket.write() said the socket's buffer was full: the flow was paused until 'drain'.
        expect(proxy.app.counters.flowPauses).toBeGreaterThan(0);
        await noFlows(10_000);
      },
      90_000,
    );

    it(
      "sends every flow to --upstream when given (IPv4 flows to an IPv6 upstream), 20 MB download",
      async () => {
        const file = randomFile(20_000_000);
        const { client, addresses: a, noFlows } = await proxyTopology(netns, proxies, {
          file: file.path,
          args: (addresses) => ["--upstream", `[${addresses.v6(2)}]:${HTTP_PORT}`],
        });
        // Any address and port in the prefix: the proxy ignores the destination.
        const url = `http://${a.v4(123)}:4321/file`;
        const result = await shellIn(client, `curl -sS --fail --max-time 50 ${url} | sha256sum`, 60_000);
        expect(result.stderr).toBe("");
        expect(sha256sumOutput(result.stdout)).toBe(file.sha256);
        await noFlows(10_000);
      },
      90_000,
    );

    it(
      "runs iperf3 -c for 5 s each way (-R) through the proxy",
      async () => {
        const { client, server, addresses, noFlows } = await proxyTopology(netns, proxies);
        await startIperfServer(server);
        const up = await iperf(client, addresses.v4(2), 5, false);
        const down = await iperf(client, addresses.v4(2), 5, true);
        console.info(`iperf3 through the proxy at MTU 1500: up ${(up / 1e9).toFixed(2)} Gbit/s, down (-R) ${(down / 1e9).toFixed(2)} Gbit/s`);
        expect(up).toBeGreaterThan(0);
        expect(down).toBeGreaterThan(0);
        await noFlows(10_000);
      },
      90_000,
    );

    it.each([
      ["IPv4", 4],
      ["IPv6", 6],
    ] as const)(
      "relays UDP over %s to a UDP echo server in S: DNS-sized and 8 KB datagrams (fragmented both sides)",
      async (_name, family) => {
        const { client, addresses, proxy, noFlows } = await proxyTopology(netns, proxies);
        const host = family === 4 ? addresses.v4(2) : addresses.v6(2);
        const sentBefore = sharedUdpBatch()?.sent ?? 0;
        const result = await fixture<UdpClientResult>(
          client,
          "udp-client",
          { host, port: UDP_PORT, sizes: [40, 512, 1232, 8192, 30_000], rounds: 3, tries: 3, waitMs: 1000 },
          30_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(15);
        expect(proxy.app.counters.udpFlows).toBeGreaterThanOrEqual(1);
        // Up through the addon's send batch (sendmmsg), not a dgram send() per datagram.
        expect(sharedUdpBatch()!.sent).toBeGreaterThan(sentBefore);
        await noFlows(10_000); // the flow idles out after 1 s and its socket is closed
        expect(proxy.app.relays.size).toBe(0);
      },
      60_000,
    );

    it(
      "UDP to a port nothing listens on in S: the relay's socket gets ECONNREFUSED, the flow is forgotten and the next datagrams are refused with ICMP port unreachable",
      async () => {
        const { client, addresses, proxy, noFlows } = await proxyTopology(netns, proxies);
        // Round 0 opens the flow; S's ICMP error reaches the relay's socket (whichever of the send
        // batch, tun/udp-batch.ts, and dgram's receive reads it first). Rounds 1 and 2 are refused.
        const result = await fixture<UdpClientResult & { refused: number }>(
          client,
          "udp-client",
          { host: addresses.v4(2), port: 9, sizes: [100], rounds: 3, waitMs: 500, expectRefused: true },
          30_000,
        );
        expect(result.refused).toBe(2);
        expect(proxy.app.counters.upstreamFailures).toBe(1);
        expect(proxy.app.counters.udpRefused).toBe(2);
        await noFlows(10_000);
      },
      60_000,
    );

    it(
      "half-close both ways: the client's FIN reaches the upstream, which then answers and closes",
      async () => {
        const { client, addresses, noFlows } = await proxyTopology(netns, proxies);
        const targets = [
          { host: addresses.v4(2), port: HASH_PORT },
          { host: addresses.v6(2), port: HASH_PORT },
        ];
        const result = await fixture<TcpClientsResult>(
          client,
          "tcp-clients",
          { targets, connections: 6, bytes: 3 << 20, mode: "hash", timeoutMs: 50_000 },
          60_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(6);
        await noFlows(10_000);
      },
      90_000,
    );

    it(
      "destroys the upstream connection when the client resets its flow",
      async () => {
        const { client, addresses, proxy, noFlows } = await proxyTopology(netns, proxies);
        const targets = [
          { host: addresses.v4(2), port: HASH_PORT },
          { host: addresses.v6(2), port: HASH_PORT },
        ];
        const result = await fixture<TcpClientsResult>(
          client,
          "tcp-clients",
          { targets, connections: 4, bytes: 256 << 10, mode: "abort", timeoutMs: 20_000 },
          30_000,
        );
        expect(result.ok).toBe(4);
        await noFlows(10_000);
        expect(proxy.app.relays.size).toBe(0);
        expect(proxy.app.counters.tcpFlows).toBe(4);
      },
      60_000,
    );

    it(
      "resets the client's connection when the upstream refuses (nothing listens there)",
      async () => {
        const { client, addresses, proxy, noFlows } = await proxyTopology(netns, proxies);
        const targets = [
          { host: addresses.v4(2), port: 9 },
          { host: addresses.v6(2), port: 9 },
        ];
        const result = await fixture<TcpClientsResult>(
          client,
          "tcp-clients",
          { targets, connections: 4, bytes: 0, mode: "expect-reset", timeoutMs: 20_000 },
          30_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(4);
        expect(proxy.app.counters.upstreamFailures).toBe(4);
        await noFlows(10_000);
      },
      60_000,
    );
  },
  [
    canUseNetns,
    addonBuilt,
    hasCommand("curl", ["--version"], "curl"),
    hasCommand("iperf3", ["--version"], "iperf3"),
  ],
);
