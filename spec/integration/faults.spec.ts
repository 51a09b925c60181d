/**
 * The echo server and the proxy on a bad link: loss 2%, reordering 5%, duplication 1% and 5 ms
 * delay, both ways between the kernel and the engine. The faults come from the examples' --faults
 * (lib/debug/fault-device.ts, seeded; the seed is printed), because it covers both directions and
 * works on kernels without sch_netem; where the kernel has netem, the same netem qdisc is also put
 * on the TUN device in C (kernel -> engine). For the proxy, the upstream's side is shaped as well:
 * a token bucket (tbf) on the veth in S limits the server's sending rate, so the proxy's
 * upstream-to-device path runs against a slow, queueing link.
 *
 * Transfers are byte-exact, and the engine's flowCount is back to 0 once every flow closed.
 */
import { afterEach, expect, it } from "vitest";
import type { EchoServer } from "../../lib/cli/echo.js";
import type { ProxyServer } from "../../lib/cli/proxy.js";
import { useNetns, type Netns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import { specSeed } from "../support/seeds.js";
import {
  addonBuilt,
  fixture,
  INTEGRATION_FAULTS,
  netemAvailable,
  randomFile,
  runIn,
  sha256sumOutput,
  shellIn,
  testAddresses,
  tunInNamespace,
  useCleanup,
  startEchoOn,
  useRandomFiles,
  type TcpClientsResult,
  type UdpClientResult,
} from "./harness.js";
import { HASH_PORT, HTTP_PORT, proxyTopology, UDP_PORT } from "./topology.js";

const FAULTS = INTEGRATION_FAULTS;
const NETEM = ["netem", "loss", "2%", "reorder", "5%", "duplicate", "1%", "delay", "5ms"];

/** netem on `device` in `ns` when the kernel has it; says which. */
function addNetem(ns: Netns, device: string): string {
  if (!netemAvailable(ns)) return "no sch_netem in this kernel: userspace faults only";
  ns.exec(["tc", "qdisc", "add", "dev", device, "root", ...NETEM]);
  return `netem on ${device} too`;
}

describeIntegration(
  "echo server and proxy over a lossy, reordering, duplicating TUN link",
  () => {
    const netns = useNetns("l3l4-faults-");
    useCleanup();
    useRandomFiles();
    const servers: EchoServer[] = [];
    const proxies: ProxyServer[] = [];
    afterEach(async () => {
      await Promise.all([...servers.splice(0), ...proxies.splice(0)].map((server) => server.close()));
    });

    function faultyEcho() {
      const ns = netns();
      const addresses = testAddresses();
      const device = tunInNamespace(ns, addresses);
      const seed = specSeed("integration faults: echo");
      const netem = addNetem(ns, device.name);
      console.info(`faults ${FAULTS}, seed ${seed} (L3L4 fault seed); ${netem}`);
      const { server, noFlows } = startEchoOn(device, servers, ["--faults", FAULTS], seed);
      return { ns, addresses, server, noFlows };
    }

    it(
      "echoes 20 MB byte-exact through nc -N, and the flow is gone after",
      async () => {
        const { ns, addresses, server, noFlows } = faultyEcho();
        const file = randomFile(20_000_000);
        const result = await shellIn(ns, `nc -N ${addresses.v4(5)} 5000 < ${file.path} | sha256sum`, 100_000);
        expect(result.timedOut).toBe(false);
        expect(sha256sumOutput(result.stdout)).toBe(file.sha256);
        const faults = server.faulty!;
        expect(faults.rxCounters.lost + faults.txCounters.lost).toBeGreaterThan(0);
        expect(faults.rxCounters.reordered + faults.txCounters.reordered).toBeGreaterThan(0);
        expect(faults.rxCounters.duplicated + faults.txCounters.duplicated).toBeGreaterThan(0);
        await noFlows(20_000);
        expect(server.engine.flowCount).toBe(0);
      },
      130_000,
    );

    it(
      "echoes 20 concurrent half-closing connections of 512 KB over IPv4 and IPv6",
      async () => {
        const { ns, addresses, noFlows } = faultyEcho();
        const targets = [
          { host: addresses.v4(6), port: 6000 },
          { host: addresses.v6(6), port: 6000 },
        ];
        const result = await fixture<TcpClientsResult>(
          ns,
          "tcp-clients",
          { targets, connections: 20, bytes: 512 << 10, mode: "half-close", timeoutMs: 80_000 },
          90_000,
        );
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(20);
        await noFlows(20_000);
      },
      120_000,
    );

    it(
      "echoes UDP (DNS-sized and 8 KB fragmented datagrams) over both families despite loss",
      async () => {
        const { ns, addresses, noFlows } = faultyEcho();
        for (const host of [addresses.v4(53), addresses.v6(53)]) {
          const result = await fixture<UdpClientResult>(
            ns,
            "udp-client",
            { host, port: 53, sizes: [40, 512, 8192], rounds: 5, tries: 10, waitMs: 300 },
            40_000,
          );
          expect(result.errors).toEqual([]);
          expect(result.ok).toBe(15);
        }
        await noFlows(10_000);
      },
      90_000,
    );

    it(
      "proxies a 20 MB download and a 20 MB upload byte-exact, with the upstream's link rate-limited",
      async () => {
        const file = randomFile(20_000_000);
        const seed = specSeed("integration faults: echo");
        const { client, server, addresses, proxy, veth, noFlows } = await proxyTopology(netns, proxies, {
          file: file.path,
          args: () => ["--faults", FAULTS],
          faultSeed: seed,
        });
        const device = proxy.device.name;
        const netem = addNetem(client, device);
        // The upstream side: S's veth sends at most 200 Mbit/s through a 64 KB bucket.
        server.exec(["tc", "qdisc", "add", "dev", veth.inside, "root", "tbf", "rate", "200mbit", "burst", "64kb", "latency", "20ms"]);
        console.info(`proxy faults ${FAULTS}, seed ${seed}; ${netem}; tbf 200mbit on ${veth.inside} in S`);

        const download = await shellIn(
          client,
          `curl -sS --fail --max-time 100 http://${addresses.v4(2)}:${HTTP_PORT}/file | sha256sum`,
          110_000,
        );
        expect(download.stderr).toBe("");
        expect(sha256sumOutput(download.stdout)).toBe(file.sha256);

        const upload = await runIn(
          client,
          ["curl", "-sS", "--fail", "-g", "--max-time", "100", "-T", file.path, `http://[${addresses.v6(2)}]:${HTTP_PORT}/up`],
          110_000,
        );
        expect(upload.stderr).toBe("");
        expect(upload.stdout.trim()).toBe(`${file.sha256} 20000000`);

        const halfClose = await fixture<TcpClientsResult>(
          client,
          "tcp-clients",
          { targets: [{ host: addresses.v4(2), port: HASH_PORT }], connections: 4, bytes: 1 << 20, mode: "hash", timeoutMs: 60_000 },
          70_000,
        );
        expect(halfClose.errors).toEqual([]);

        const udp = await fixture<UdpClientResult>(
          client,
          "udp-client",
          { host: addresses.v6(2), port: UDP_PORT, sizes: [40, 8192], rounds: 5, tries: 10, waitMs: 300 },
          40_000,
        );
        expect(udp.errors).toEqual([]);

        const faults = proxy.faulty!;
        expect(faults.rxCounters.lost + faults.txCounters.lost).toBeGreaterThan(0);
        expect(proxy.app.counters.upstreamFailures).toBe(0);
        await noFlows(20_000);
        expect(proxy.engine.flowCount).toBe(0);
      },
      300_000,
    );
  },
  [canUseNetns, addonBuilt, hasCommand("nc", ["-h"], "netcat-openbsd"), hasCommand("curl", ["--version"], "curl")],
);
