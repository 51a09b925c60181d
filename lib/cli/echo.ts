/**
 * Echo server on a TUN device: every TCP and UDP flow, to any address and port, gets back what it
 * sends; ping is answered (the engine answers ICMP and ICMPv6 echo itself). IPv4 and IPv6.
 *
 *   sudo l3l4 echo --tun echo0          (or, in the repository: sudo npm run echo -- --tun echo0)
 *   sudo ip addr add 10.99.0.1/24 dev echo0; sudo ip route add 10.99.1.0/24 dev echo0
 *   nc 10.99.1.7 1234          # anything typed comes back
 *   ping 10.99.1.42
 *
 * The application is lib/debug/echo-app.ts, the one echo app (the two-engine pair runs it too).
 */
import { EchoApp } from "../debug/echo-app.js";
import type { TunRunner } from "../tun/runner.js";
import { describeDevice, deviceCommand, startDevice, type DeviceSource, type RunningDevice } from "./device.js";
import type { DeviceOptions } from "./options.js";

export interface EchoServer extends RunningDevice {
  readonly app: EchoApp;
}

/** Opens the device (or uses source.device), and echoes until close(). */
export function startEchoServer(options: DeviceOptions, source: DeviceSource = {}): EchoServer {
  const log = options.trace ? (source.log ?? console.log) : undefined;
  let runner: TunRunner | undefined;
  // The runner calls the app only from later turns: it is set by then.
  const server = startDevice(options, source, (engine) => new EchoApp(engine, () => runner!.callbacks, log));
  runner = server.runner;
  return server;
}

const SUMMARY = "Echoes every TCP and UDP flow to any address and port that reaches the device, and answers ping (IPv4 and IPv6).";

export const ECHO_COMMAND = deviceCommand({
  name: "echo",
  summary: "echo every TCP and UDP flow that reaches a TUN device; answer ping",
  synopsis: "usage: l3l4 echo [--tun NAME] [--mtu N] [--no-offload] [--pcap FILE] [--trace] [--faults SPEC] [options]",
  description: SUMMARY,
  start: startEchoServer,
  started: (server) => `echoing on ${describeDevice(server.device)}`,
  status(server) {
    let last = { ...server.app.counters };
    return () => {
      const c = server.app.counters;
      const line =
        `flows ${server.engine.flowCount}  tcp ${((c.tcpBytes - last.tcpBytes) / 1e6).toFixed(1)} MB/s  ` +
        `udp ${c.udpDatagrams - last.udpDatagrams} datagrams/s  pauses ${c.pauses}`;
      last = { ...c };
      return line;
    };
  },
});
