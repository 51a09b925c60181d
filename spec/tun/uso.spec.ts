/**
 * UDP segmentation offload to a real TUN device (L3L4Builder.txUdpSegments, engine l4TxDatagrams):
 * in a namespace the spec creates, a client sends one datagram; the engine answers with a run of
 * datagrams of one size. With offloads (the kernel took USO4/USO6) the run is one super-packet the
 * kernel cuts (the device's receive counters show packets larger than the MTU); without, one packet
 * per datagram. Either way the client reads every datagram whole and in order.
 */
import { afterEach, expect, it } from "vitest";
import type { Flow } from "../../lib/api.js";
import { buildEngine } from "../../lib/cli/device.js";
import { runTun } from "../../lib/tun/runner.js";
import type { TunRunner } from "../../lib/tun/runner-api.js";
import type { TunDevice } from "../../lib/tun/tun.js";
import { addonBuilt, runIn, testAddresses, tunInNamespace } from "../integration/harness.js";
import { useNetns, type Netns } from "../support/netns.js";
import { canUseNetns, describeIntegration } from "../support/privileges.js";

const SEGMENT = 1200;
const COUNT = 30;
const TAIL = 333;

/** Sends "go", reads COUNT + 1 datagrams (3 s at most), prints their sizes and whether the bytes are the pattern. */
const CLIENT = `
import json, socket, sys
host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((host, port))
s.send(b"go")
got = []
try:
    while len(got) < ${COUNT + 1}:
        got.append(s.recv(65535))
except socket.timeout:
    pass
data = bytes((i * 7 + (i >> 8)) & 255 for i in range(total))
print(json.dumps({"sizes": [len(g) for g in got], "intact": b"".join(got) == data}))
`;

function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
}

function deviceRx(ns: Netns, name: string): { packets: number; bytes: number } {
  const [link] = JSON.parse(ns.ip(["-j", "-s", "link", "show", "dev", name])) as { stats64: { rx: { packets: number; bytes: number } } }[];
  return link!.stats64.rx;
}

describeIntegration(
  "l4TxDatagrams through a real TUN device: USO super-packets, and one packet per datagram without offloads",
  () => {
    const netns = useNetns("l3l4-uso-");
    const runners: TunRunner[] = [];
    afterEach(async () => {
      await Promise.all(runners.splice(0).map((r) => r.shutdown({ graceMs: 0 })));
    });

    function answering(device: TunDevice) {
      const vnet = device.vnetHeader;
      const uso = { ipv4: vnet && device.offloads.includes("uso4"), ipv6: vnet && device.offloads.includes("uso6") };
      const none = { tcpBufferSize: undefined, udpIdleTimeout: undefined, maxMemory: undefined, maxFlowsPerSource: undefined };
      const engine = buildEngine(device.mtu, none, device.txQueueLength, vnet, uso);
      const data = pattern(COUNT * SEGMENT + TAIL);
      let runner!: TunRunner;
      const app = {
        l4Rx(flow: Flow, got: Uint8Array | null): void {
          if (got !== null && flow.protocol === "udp") engine.l4TxDatagrams(runner.callbacks, flow, data, SEGMENT);
        },
      };
      runner = runTun(engine, device, app);
      runners.push(runner);
      return { engine, runner, uso };
    }

    it.each([
      ["offloads, IPv4", true, 4],
      ["offloads, IPv6", true, 6],
      ["no offloads, IPv4", false, 4],
      ["no offloads, IPv6", false, 6],
    ] as const)("%s: every datagram whole and in order", async (_name, offload, family) => {
      const ns = netns();
      const addresses = testAddresses();
      const device = tunInNamespace(ns, addresses, 1500, { offload });
      const { engine, runner, uso } = answering(device);
      const host = family === 4 ? addresses.v4(53) : addresses.v6(53);
      const before = deviceRx(ns, device.name);
      const result = await runIn(ns, ["python3", "-c", CLIENT, host, "5353", String(COUNT * SEGMENT + TAIL)], 20_000);
      expect(result.stderr).toBe("");
      expect(JSON.parse(result.stdout)).toEqual({ sizes: [...new Array<number>(COUNT).fill(SEGMENT), TAIL], intact: true });
      expect(engine.stats().udpDatagramsOut).toBe(COUNT + 1);
      const rx = deviceRx(ns, device.name);
      const packets = rx.packets - before.packets;
      if (offload) {
        expect(uso).toEqual({ ipv4: true, ipv6: true }); // the kernel here (6.2+) takes USO
        expect(packets).toBe(1); // the whole run: one write the kernel cut
        expect(runner.stats.txSuperSegments).toBe(1);
        expect(ns.snmpCounters().Udp!.InCsumErrors).toBe(0);
      } else {
        expect(packets).toBe(COUNT + 1);
        expect(runner.stats.txSuperSegments).toBe(0);
      }
    }, 30_000);
  },
  [canUseNetns, addonBuilt],
);
