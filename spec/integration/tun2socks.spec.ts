/**
 * `l3l4 proxy` as tun2socks, against real proxy servers from Debian (dante for SOCKS5, tinyproxy for
 * HTTP CONNECT) and the Linux stack, in the four-namespace topology of proxy-servers.ts: the
 * destinations sit in S, which only the proxy-server namespace P can reach, so every pass here went
 * through the proxy server.
 */
import { request } from "node:http";
import { afterEach, expect, it } from "vitest";
import type { ProxyServer } from "../../lib/cli/proxy.js";
import type { FlowReport } from "../../lib/proxy/proxy.js";
import { useNetns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import {
  addonBuilt,
  fixture,
  randomFile,
  runIn,
  sha256sumOutput,
  shellIn,
  spawnIn,
  useCleanup,
  useRandomFiles,
  type Addresses,
  type TcpClientsResult,
  type UdpClientResult,
} from "./harness.js";
import {
  deletePLinks,
  hasProxyServers,
  HTTP_PROXY_PORT,
  netnsFile,
  SOCKS_PORT,
  startDante,
  startL3l4Proxy,
  startTinyproxy,
  testUser,
  tun2socksTopology,
  useProxyServerCleanup,
} from "./proxy-servers.js";
import { HASH_PORT, HTTP_PORT, iperf, startIperfServer, UDP_PORT } from "./topology.js";

const MB20 = 20 * 1024 * 1024;
/**
 * What curl says when the proxy resets its connection right after the handshake: (56) "Recv failure:
 * Connection reset by peer", or, when the RST lands before curl has checked the connection is up,
 * (7) "Failed to connect ...: Couldn't connect to server" (ECONNRESET from SO_ERROR: the pcap shows
 * SYN, SYN-ACK, ACK, RST).
 */
const RESET = /Connection reset by peer|Couldn't connect to server/;

/** GET url (loopback, the proxy's --api) as JSON. */
function getJson<T>(url: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (error) {
          reject(error);
        }
      });
    })
      .on("error", reject)
      .end();
  });
}

describeIntegration(
  "tun2socks: l3l4 proxy through dante (SOCKS5) and tinyproxy (HTTP CONNECT)",
  () => {
    const netns = useNetns("l3l4-t2s-");
    useCleanup();
    useRandomFiles();
    useProxyServerCleanup();
    const proxies: ProxyServer[] = [];
    afterEach(async () => {
      await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
      deletePLinks();
    });

    /** `hosts`: /etc/hosts of the proxy servers' namespace (before they start: ip netns exec mounts it then). */
    async function socks(options: { file?: string; auth?: boolean; args?: string[]; hosts?: (addresses: Addresses) => string } = {}) {
      const topology = await tun2socksTopology(netns, options.file === undefined ? {} : { file: options.file });
      if (options.hosts !== undefined) netnsFile(topology.proxyNs, "hosts", options.hosts(topology.addresses));
      const user = options.auth === false ? undefined : testUser();
      const dante = await startDante(topology.proxyNs, { address: topology.proxyAddress, external: topology.external, ...(user === undefined ? {} : { user }) });
      const credentials = user === undefined ? "" : `${user.name}:${user.password}@`;
      const url = `socks5://${credentials}${topology.proxyAddress}:${SOCKS_PORT}`;
      const running = startL3l4Proxy(topology, ["--proxy", url, ...(options.args ?? [])], proxies);
      return { ...topology, ...running, dante, user, url };
    }

    async function http(options: { file?: string; args?: string[]; hosts?: (addresses: Addresses) => string } = {}) {
      const topology = await tun2socksTopology(netns, options.file === undefined ? {} : { file: options.file });
      if (options.hosts !== undefined) netnsFile(topology.proxyNs, "hosts", options.hosts(topology.addresses));
      const user = testUser();
      await startTinyproxy(topology.proxyNs, { address: topology.proxyAddress, user });
      const url = `http://${user.name}:${user.password}@${topology.proxyAddress}:${HTTP_PROXY_PORT}`;
      const running = startL3l4Proxy(topology, ["--proxy", url, ...(options.args ?? [])], proxies);
      return { ...topology, ...running, user, url };
    }

    it(
      "SOCKS5 with username/password: curl downloads (IPv4) and uploads (IPv6) 20 MB byte-exact",
      async () => {
        const file = randomFile(MB20);
        const t = await socks({ file: file.path });
        const down = await shellIn(t.client, `curl -sS --fail --max-time 60 http://${t.addresses.v4(2)}:${HTTP_PORT}/file | sha256sum`, 70_000);
        expect(down.stderr).toBe("");
        expect(sha256sumOutput(down.stdout)).toBe(file.sha256);
        const up = await runIn(t.client, ["curl", "-sS", "--fail", "-g", "--max-time", "60", "-T", file.path, `http://[${t.addresses.v6(2)}]:${HTTP_PORT}/upload`], 70_000);
        expect(up.stderr).toBe("");
        expect(up.stdout.trim()).toBe(`${file.sha256} ${MB20}`);
        expect(t.proxy.app.counters.upstreamFailures).toBe(0);
        expect(t.proxy.app.counters.bytesDown).toBeGreaterThan(MB20);
        expect(t.proxy.app.counters.bytesUp).toBeGreaterThan(MB20);
        await t.noFlows(10_000);
      },
      120_000,
    );

    it(
      "HTTP CONNECT with Basic auth: curl downloads (IPv6) and uploads (IPv4) 20 MB byte-exact",
      async () => {
        const file = randomFile(MB20);
        const t = await http({ file: file.path });
        const down = await shellIn(t.client, `curl -sS --fail -g --max-time 60 http://[${t.addresses.v6(2)}]:${HTTP_PORT}/file | sha256sum`, 70_000);
        expect(down.stderr).toBe("");
        expect(sha256sumOutput(down.stdout)).toBe(file.sha256);
        const up = await runIn(t.client, ["curl", "-sS", "--fail", "--max-time", "60", "-T", file.path, `http://${t.addresses.v4(2)}:${HTTP_PORT}/upload`], 70_000);
        expect(up.stderr).toBe("");
        expect(up.stdout.trim()).toBe(`${file.sha256} ${MB20}`);
        expect(t.proxy.app.counters.upstreamFailures).toBe(0);
        await t.noFlows(10_000);
      },
      120_000,
    );

    // Not through tinyproxy: it ends the whole tunnel when the client half-closes (its relay loop stops
    // at the client's EOF and closes both sides), whoever is in front of it.
    it(
      "half-close through SOCKS5: the client's FIN reaches the server, which answers and closes",
      async () => {
        const t = await socks();
        const targets = [
          { host: t.addresses.v4(2), port: HASH_PORT },
          { host: t.addresses.v6(2), port: HASH_PORT },
        ];
        const result = await fixture<TcpClientsResult>(t.client, "tcp-clients", { targets, connections: 4, bytes: 1 << 20, mode: "hash", timeoutMs: 30_000 }, 40_000);
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(4);
        await t.noFlows(10_000);
      },
      60_000,
    );

    it(
      "iperf3 runs 5 s each way through SOCKS5",
      async () => {
        const t = await socks();
        await startIperfServer(t.server);
        const up = await iperf(t.client, t.addresses.v4(2), 5, false);
        const down = await iperf(t.client, t.addresses.v4(2), 5, true);
        console.info(`iperf3 through dante at MTU 1500: up ${(up / 1e9).toFixed(2)} Gbit/s, down (-R) ${(down / 1e9).toFixed(2)} Gbit/s`);
        expect(up).toBeGreaterThan(0);
        expect(down).toBeGreaterThan(0);
        expect(t.proxy.app.counters.upstreamFailures).toBe(0);
        await t.noFlows(10_000);
      },
      90_000,
    );

    it.each([
      ["IPv4", 4],
      ["IPv6", 6],
    ] as const)(
      "UDP ASSOCIATE (%s): echo of DNS-sized and larger datagrams through dante",
      async (_name, family) => {
        const t = await socks();
        const host = family === 4 ? t.addresses.v4(2) : t.addresses.v6(2);
        const result = await fixture<UdpClientResult>(
          t.client,
          "udp-client",
          { host, port: UDP_PORT, sizes: [40, 512, 1232, 1400, 4000], rounds: 3, tries: 3, waitMs: 1000 },
          30_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(15);
        expect(t.proxy.app.counters.udpFlows).toBeGreaterThanOrEqual(1);
        // The flow idles out after 1 s; its association (control connection and socket) closes with it.
        await t.noFlows(10_000);
        expect(t.proxy.app.relays.size).toBe(0);
      },
      60_000,
    );

    it(
      "UDP behind an HTTP proxy is refused with ICMP port unreachable (--udp refuse, the default), and said so once",
      async () => {
        const t = await http();
        const result = await fixture<UdpClientResult & { refused: number }>(
          t.client,
          "udp-client",
          { host: t.addresses.v4(2), port: UDP_PORT, sizes: [100], rounds: 3, waitMs: 2000, expectRefused: true },
          30_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(3);
        expect(t.proxy.app.counters.udpRefused).toBe(3);
        expect(t.log.filter((line) => line.startsWith("udp: refused"))).toHaveLength(1);
        expect(t.proxy.engine.flowCount).toBe(0);
      },
      60_000,
    );

    it(
      "a UDP flow whose association fails (the SOCKS5 server is down) is forgotten, and its next datagrams get ICMP port unreachable",
      async () => {
        const t = await socks();
        process.kill(-t.dante.child.pid!, "SIGKILL");
        await t.dante.exited;
        // The first datagram opens a flow whose UDP ASSOCIATE fails (connection refused): no answer.
        // The ones after it, within REFUSE_MS, are refused.
        const result = await fixture<UdpClientResult & { refused: number }>(
          t.client,
          "udp-client",
          { host: t.addresses.v4(2), port: UDP_PORT, sizes: [100], rounds: 3, waitMs: 500, expectRefused: true },
          30_000,
        );
        expect(result.refused).toBe(2);
        expect(result.errors).toEqual(["round 0: not refused"]);
        expect(t.proxy.app.counters.upstreamFailures).toBe(1);
        expect(t.proxy.app.counters.udpRefused).toBe(2);
        expect(t.log.filter((line) => /cannot reach the proxy: connection refused/.test(line))).toHaveLength(1);
        await t.noFlows(10_000);
      },
      60_000,
    );

    it.each([
      ["SOCKS5", "socks"],
      ["HTTP CONNECT", "http"],
    ] as const)(
      "--dns fake-ip through %s: a client that knows only a name fetches a file; the proxy server resolves it",
      async (_name, kind) => {
        const file = randomFile(1 << 20);
        const name = "files.l3l4.test";
        // Only the proxy server's namespace knows the name (its address in S).
        const hosts = (addresses: Addresses) => `127.0.0.1 localhost\n${addresses.v4(2)} ${name}\n`;
        const options = { file: file.path, args: ["--dns", "fake-ip"], hosts };
        const t = kind === "socks" ? await socks(options) : await http(options);
        // The client's resolver is an address routed into the TUN device; the fake ranges go there too.
        netnsFile(t.client, "resolv.conf", `nameserver ${t.addresses.v4(53)}\noptions timeout:2 attempts:2\n`);
        netnsFile(t.client, "hosts", "127.0.0.1 localhost\n");
        t.client.ip(["route", "add", "198.18.0.0/15", "dev", t.device.name]);
        t.client.ip(["-6", "route", "add", "fc00::/18", "dev", t.device.name]);
        const result = await shellIn(t.client, `curl -sS --fail --max-time 20 http://${name}:${HTTP_PORT}/file | sha256sum`, 30_000);
        expect(result.stderr).toBe("");
        expect(sha256sumOutput(result.stdout)).toBe(file.sha256);
        const c = t.proxy.app.counters;
        expect(c.dnsAnswered).toBeGreaterThanOrEqual(1);
        expect(c.fakeIpMisses).toBe(0);
        expect(t.proxy.app.fakeIps!.lookup(name)!.v4).toMatch(/^198\.1[89]\./);
        await t.noFlows(10_000);
      },
      60_000,
    );

    it(
      "a wrong SOCKS5 password resets the client's connection, logs one line for many failures, and the proxy lives on",
      async () => {
        const file = randomFile(1 << 20);
        const topology = await tun2socksTopology(netns, { file: file.path });
        const user = testUser();
        await startDante(topology.proxyNs, { address: topology.proxyAddress, external: topology.external, user });
        const url = `socks5://${user.name}:wrong-${user.password}@${topology.proxyAddress}:${SOCKS_PORT}`;
        const t = startL3l4Proxy(topology, ["--proxy", url], proxies);
        for (let i = 0; i < 5; i++) {
          const result = await runIn(topology.client, ["curl", "-sS", "--max-time", "10", `http://${topology.addresses.v4(2)}:${HTTP_PORT}/file`, "-o", "/dev/null"], 15_000);
          // curl 56 (recv failure) or 7; 55 (send failure) when the RST comes while it still sends the
          // request (a loaded machine): each a reset, which stderr must say.
          expect([7, 55, 56]).toContain(result.code);
          expect(result.stderr).toMatch(RESET);
        }
        expect(t.proxy.app.counters.upstreamFailures).toBe(5);
        const failures = t.log.filter((line) => line.startsWith("fail"));
        expect(failures).toHaveLength(1);
        expect(failures[0]).toMatch(/authentication failed/);
        expect(t.proxy.runner.running).toBe(true);
        await t.noFlows(10_000);
      },
      90_000,
    );

    it(
      "the SOCKS5 server killed: flows are reset; restarted: new flows work",
      async () => {
        const file = randomFile(1 << 20);
        const t = await socks({ file: file.path });
        const url = `http://${t.addresses.v4(2)}:${HTTP_PORT}/file`;
        const fetch = () => shellIn(t.client, `curl -sS --fail --max-time 10 ${url} | sha256sum`, 15_000);
        expect(sha256sumOutput((await fetch()).stdout)).toBe(file.sha256);
        process.kill(-t.dante.child.pid!, "SIGKILL");
        await t.dante.exited;
        const down = await runIn(t.client, ["curl", "-sS", "--max-time", "10", url, "-o", "/dev/null"], 15_000);
        expect([7, 56]).toContain(down.code); // reset (see RESET)
        expect(down.stderr).toMatch(RESET);
        expect(t.proxy.app.counters.upstreamFailures).toBe(1);
        expect(t.log.some((line) => /cannot reach the proxy: connection refused/.test(line))).toBe(true);
        await startDante(t.proxyNs, { address: t.proxyAddress, external: t.external, user: t.user! });
        expect(sha256sumOutput((await fetch()).stdout)).toBe(file.sha256);
        expect(t.proxy.runner.running).toBe(true);
        await t.noFlows(10_000);
      },
      90_000,
    );

    it(
      "GET /flows shows a live download through SOCKS5, its byte count growing, with the engine's view",
      async () => {
        const file = randomFile(MB20);
        const t = await socks({ file: file.path });
        const { startApiServer } = await import("../../lib/proxy/api-server.js");
        const api = await startApiServer(t.proxy.app, { host: "127.0.0.1", port: 0 });
        try {
          const download = spawnIn(t.client, ["curl", "-sS", "--limit-rate", "2M", "--max-time", "30", `http://${t.addresses.v4(2)}:${HTTP_PORT}/file`, "-o", "/dev/null"], 40_000);
          const live = async (): Promise<FlowReport | undefined> =>
            (await getJson<FlowReport[]>(`${api.url}/flows`)).find((f) => f.protocol === "tcp" && f.dstPort === HTTP_PORT && f.bytesDown > 0);
          let first: FlowReport | undefined;
          for (let i = 0; i < 100 && first === undefined; i++) {
            first = await live();
            if (first === undefined) await new Promise((r) => setTimeout(r, 100));
          }
          expect(first).toBeDefined();
          expect(first).toMatchObject({ family: 4, dstIp: t.addresses.v4(2), upstream: t.url.replace(/:[^:@]*@/, "@"), state: "ESTABLISHED", host: null });
          expect(first!.cwnd).toBeGreaterThan(0);
          expect(typeof first!.srtt).toBe("number");
          expect(Date.parse(first!.startedAt)).toBeLessThanOrEqual(Date.now());
          let later: FlowReport | undefined;
          for (let i = 0; i < 100; i++) {
            await new Promise((r) => setTimeout(r, 100));
            later = await live();
            if (later !== undefined && later.bytesDown > first!.bytesDown) break;
          }
          expect(later!.srcPort).toBe(first!.srcPort);
          expect(later!.bytesDown).toBeGreaterThan(first!.bytesDown);
          const stats = await getJson<{ flows: number; engine: { tcpFlowsOpened: number } }>(`${api.url}/stats`);
          expect(stats.flows).toBeGreaterThanOrEqual(1);
          expect(stats.engine.tcpFlowsOpened).toBeGreaterThanOrEqual(1);
          download.child.kill("SIGKILL");
          await download.exited;
        } finally {
          await api.close();
        }
        await t.noFlows(10_000);
      },
      90_000,
    );

    it(
      "1,000 concurrent flows through SOCKS5 all close cleanly, and flowCount returns to 0",
      async () => {
        // No authentication, and time for dante to negotiate 1,000 at once on a busy machine: this is
        // about the proxy's flows, not dante's password checks.
        const t = await socks({ auth: false, args: ["--connect-timeout", "60"] });
        const targets = [
          { host: t.addresses.v4(2), port: HASH_PORT },
          { host: t.addresses.v6(2), port: HASH_PORT },
        ];
        const result = await fixture<TcpClientsResult>(t.client, "tcp-clients", { targets, connections: 1000, bytes: 4096, mode: "hash", timeoutMs: 60_000 }, 80_000);
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(1000);
        await t.noFlows(20_000);
        expect(t.proxy.engine.flowCount).toBe(0);
        expect(t.proxy.app.relays.size).toBe(0);
        expect(t.proxy.app.counters.upstreamFailures).toBe(0);
      },
      120_000,
    );
  },
  [canUseNetns, addonBuilt, hasProxyServers, hasCommand("curl", ["--version"], "curl"), hasCommand("iperf3", ["--version"], "iperf3")],
);
