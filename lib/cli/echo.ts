/**
 * Echo server on a TUN device: every TCP and UDP flow, to any address and port, gets back what it
 * sends; ping is answered (the engine answers ICMP and ICMPv6 echo itself). IPv4 and IPv6.
 *
 *   sudo l3l4 echo --tun echo0          (or, in the repository: sudo npm run echo -- --tun echo0)
 *   sudo ip addr add 10.99.0.1/24 dev echo0; sudo ip route add 10.99.1.0/24 dev echo0
 *   nc 10.99.1.7 1234          # anything typed comes back
 *   ping 10.99.1.42
 *
 * Backpressure: when l4Tx takes less than offered (the send buffer is full because the peer reads
 * slowly), the rest is copied (the l4Rx view is only valid during the call) and the flow is paused
 * with l4PauseRx, so the engine stops delivering and its receive window closes; l4TxReady sends the
 * rest and l4ResumeRx lets data in again. Half-close: after the peer's FIN (l4RemoteClosed), what is
 * still queued is echoed, then l4LocalClose sends ours.
 */
import type { Callbacks, Flow } from "../api.js";
import type { L3L4 } from "../engine.js";
import type { TunApp, TunRunner } from "../tun/runner.js";
import { runUntilSignal, type Command } from "./command.js";
import { describeDevice, startDevice, type DeviceSource, type RunningDevice } from "./device.js";
import { DEVICE_OPTIONS, DEVICE_USAGE, DEVICE_USAGE_FOOTER, deviceOptions, parseCommandLine, type DeviceOptions } from "./options.js";

/** What is still to be echoed on a TCP flow whose send buffer was full. */
interface Backlog {
  /** Copies of the data l4Tx did not take, oldest first; chunks[0] from `offset` on. */
  chunks: Uint8Array[];
  offset: number;
  /** The peer sent FIN: close once the backlog is sent. */
  remoteClosed: boolean;
}

export interface EchoCounters {
  /** Bytes echoed on TCP flows (accepted by l4Tx), and UDP datagrams echoed. */
  tcpBytes: number;
  udpDatagrams: number;
  udpBytes: number;
  /** TCP flows opened and gone. */
  tcpFlowsOpened: number;
  flowsGone: number;
  /** Times a flow was paused because the send buffer was full. */
  pauses: number;
}

/**
 * The echo application over any engine and callbacks. `cb()` gives the callbacks to pass the
 * engine (the runner's); engine calls made from inside the callbacks use them too.
 */
export class EchoApp implements TunApp {
  readonly counters: EchoCounters = { tcpBytes: 0, udpDatagrams: 0, udpBytes: 0, tcpFlowsOpened: 0, flowsGone: 0, pauses: 0 };
  /** Flows with data waiting to be echoed (paused), keyed by the engine's flow object. */
  readonly backlogs = new Map<Flow, Backlog>();
  /** Every flow alive (accepted, not gone yet). */
  readonly flows = new Set<Flow>();
  /** Called after each flow is gone (tests wait on it for the engine's flowCount). */
  onFlowGone: ((flow: Flow) => void) | undefined;
  private readonly engine: L3L4<number>;
  private readonly cb: () => Callbacks<number>;
  private readonly log: ((line: string) => void) | undefined;

  constructor(engine: L3L4<number>, cb: () => Callbacks<number>, log?: (line: string) => void) {
    this.engine = engine;
    this.cb = cb;
    this.log = log;
  }

  l4Accept(flow: Flow): boolean {
    if (flow.protocol === "tcp") this.counters.tcpFlowsOpened++;
    this.flows.add(flow);
    this.log?.(`open  ${String(flow)}`);
    return true;
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    if (data === null) {
      this.backlogs.delete(flow);
      this.flows.delete(flow);
      this.counters.flowsGone++;
      this.log?.(`gone  ${String(flow)}`);
      this.onFlowGone?.(flow);
      return;
    }
    if (flow.protocol === "udp") {
      // One datagram back; l4Tx writes it into a packet before returning. 0: no buffer, dropped (UDP).
      const sent = this.engine.l4Tx(this.cb(), flow, data);
      if (sent !== undefined && sent > 0) {
        this.counters.udpDatagrams++;
        this.counters.udpBytes += sent;
      }
      return;
    }
    const backlog = this.backlogs.get(flow);
    if (backlog !== undefined) {
      // Delivered while we wait for send space (what was in flight to us when we paused): keep it in order.
      backlog.chunks.push(data.slice());
      return;
    }
    const taken = this.engine.l4Tx(this.cb(), flow, data);
    if (taken === undefined) return; // gone meanwhile; l4Rx(flow, null) comes
    this.counters.tcpBytes += taken;
    if (taken < data.length) {
      this.backlogs.set(flow, { chunks: [data.slice(taken)], offset: 0, remoteClosed: false });
      this.counters.pauses++;
      this.engine.l4PauseRx(flow);
    }
  }

  l4TxReady(flow: Flow): void {
    const backlog = this.backlogs.get(flow);
    if (backlog === undefined) return;
    const cb = this.cb();
    while (backlog.chunks.length > 0) {
      const chunk = backlog.chunks[0]!;
      const rest = backlog.offset === 0 ? chunk : chunk.subarray(backlog.offset);
      const taken = this.engine.l4Tx(cb, flow, rest);
      if (taken === undefined) return;
      this.counters.tcpBytes += taken;
      if (taken < rest.length) {
        backlog.offset += taken;
        return; // l4TxReady again when there is room
      }
      backlog.chunks.shift();
      backlog.offset = 0;
    }
    this.backlogs.delete(flow);
    if (backlog.remoteClosed) {
      this.engine.l4LocalClose(cb, flow);
    } else {
      // May deliver at once (re-entering l4Rx): the backlog is gone before.
      this.engine.l4ResumeRx(cb, flow);
    }
  }

  l4RemoteClosed(flow: Flow): void {
    const backlog = this.backlogs.get(flow);
    if (backlog !== undefined) {
      backlog.remoteClosed = true; // l4TxReady closes after the backlog
      return;
    }
    this.engine.l4LocalClose(this.cb(), flow);
  }
}

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

export const ECHO_COMMAND: Command = {
  name: "echo",
  summary: "echo every TCP and UDP flow that reaches a TUN device; answer ping",
  usage: [
    "usage: l3l4 echo [--tun NAME] [--mtu N] [--pcap FILE] [--trace] [--faults SPEC] [--tcp-buffer N] [--udp-idle-timeout S] [--quiet]",
    "",
    SUMMARY,
    "",
    ...DEVICE_USAGE,
    "",
    ...DEVICE_USAGE_FOOTER,
  ].join("\n"),
  run(argv, io) {
    const values = parseCommandLine(argv, DEVICE_OPTIONS);
    if (values.help === true) {
      io.log(ECHO_COMMAND.usage);
      return Promise.resolve(0);
    }
    const options = deviceOptions(values);
    return runUntilSignal("echo", io, () => {
      const server = startEchoServer(options, { log: io.log });
      io.log(`l3l4 echo: echoing on ${describeDevice(server.device)}; Ctrl-C to stop`);
      if (!options.quiet) {
        let last = { ...server.app.counters };
        const status = setInterval(() => {
          const c = server.app.counters;
          io.log(
            `flows ${server.engine.flowCount}  tcp ${((c.tcpBytes - last.tcpBytes) / 1e6).toFixed(1)} MB/s  ` +
              `udp ${c.udpDatagrams - last.udpDatagrams} datagrams/s  pauses ${c.pauses}`,
          );
          last = { ...c };
        }, 1000);
        status.unref();
        const close = server.close;
        return { failed: server.failed, close: (graceMs?: number) => (clearInterval(status), close(graceMs)) };
      }
      return server;
    });
  },
};
