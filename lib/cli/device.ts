/**
 * What the TUN commands share (as smoltcp's examples/utils.rs): opening the device with a message that
 * says what to do when it cannot be opened, the engine built for the device's MTU, and the middleware
 * of the packet path: a pcap file, a trace line per packet, and injected faults.
 */
import { L3L4Builder, MIN_RECEIVE_BUDGET } from "../builder.js";
import { FaultyDevice } from "../debug/fault-device.js";
import { PcapWriter } from "../debug/pcap.js";
import type { L3L4 } from "../engine.js";
import { runTun, type PacketDirection, type RunnerDevice, type TunApp, type TunRunner } from "../tun/runner.js";
import { openTun, TunError, type TunDevice } from "../tun/tun.js";
import { describe } from "../wire/describe.js";
import { runUntilSignal, type Command } from "./command.js";
import { DEVICE_OPTIONS, DEVICE_USAGE, DEVICE_USAGE_FOOTER, deviceOptions, MIN_DEVICE_MTU, parseCommandLine, UsageError, type DeviceOptions } from "./options.js";

/** What start functions take besides the parsed options. */
export interface DeviceSource {
  /** An open device to use instead of opening `tun` (tests open it themselves). Closed on stop. */
  device?: TunDevice;
  /** Where status and trace lines go; default console.log. */
  log?: (line: string) => void;
  /** Seed of --faults (default random; printed). */
  faultSeed?: number;
}

/** The device, as the options say: opened (created or attached), MTU, txqueuelen and offloads set, up. Throws TunError. */
export function openDevice(options: Pick<DeviceOptions, "tun" | "mtu" | "offload" | "txQueueLength">): TunDevice {
  return openTun({
    name: options.tun,
    offload: options.offload,
    ...(options.mtu === undefined ? {} : { mtu: options.mtu }),
    ...(options.txQueueLength === undefined ? {} : { txQueueLength: options.txQueueLength }),
  });
}

/** "tun0 (mtu 1500, txqueuelen 4096, offloads csum tso4 tso6)", for the start line. */
export function describeDevice(device: TunDevice): string {
  const offloads = device.vnetHeader ? `, offloads ${device.offloads.length === 0 ? "none (the kernel took none)" : device.offloads.join(" ")}` : "";
  return `${device.name} (mtu ${device.mtu}, txqueuelen ${device.txQueueLength}${offloads})`;
}

/**
 * The receive budget (builder receiveBudget, tcp/receive-budget.ts) for a device that queues
 * `txQueueLength` packets for us: half the queue in full segments (MTU less the IPv4 and TCP headers),
 * the other half left for the ACKs of what we send, SYNs and datagrams. So the windows of all flows
 * together never promise more than the queue holds. Infinity when the queue is not known (0).
 */
export function receiveBudgetFor(txQueueLength: number, mtu: number): number {
  if (!(txQueueLength > 0)) return Infinity;
  return Math.max(MIN_RECEIVE_BUDGET, Math.floor(txQueueLength / 2) * (mtu - 40));
}

/** An engine for a device of this MTU that queues `txQueueLength` packets for us (0: not known). */
export function buildEngine(
  mtu: number,
  options: Pick<DeviceOptions, "tcpBufferSize" | "udpIdleTimeout" | "maxMemory" | "maxFlowsPerSource">,
  txQueueLength = 0,
  txSuperSegments = false,
  /** The device took TUN_F_USO4 / USO6: UDP runs leave as UDP GSO packets (txUdpSegments). */
  udpSegments: { readonly ipv4: boolean; readonly ipv6: boolean } = { ipv4: false, ipv6: false },
): L3L4<number> {
  if (mtu < MIN_DEVICE_MTU) {
    throw new UsageError(`the device's MTU is ${mtu}; the engine needs at least ${MIN_DEVICE_MTU} (use --mtu)`);
  }
  // runTun polls the engine on schedule(): what a relay writes and closes in one turn shares segments.
  const builder = new L3L4Builder<number>().mtu(mtu).receiveBudget(receiveBudgetFor(txQueueLength, mtu)).tcpAutocork(true);
  if (options.tcpBufferSize !== undefined) builder.tcpBufferSize(options.tcpBufferSize);
  if (options.udpIdleTimeout !== undefined) builder.udpIdleTimeout(options.udpIdleTimeout);
  if (options.maxMemory !== undefined) builder.maxMemory(options.maxMemory);
  if (options.maxFlowsPerSource !== undefined) builder.maxFlowsPerSource(options.maxFlowsPerSource);
  // A device with a virtio-net header takes TCP super-segments (runner.ts): the kernel cuts them.
  if (txSuperSegments) builder.txSuperSegments();
  if (txSuperSegments && (udpSegments.ipv4 || udpSegments.ipv6)) builder.txUdpSegments(udpSegments.ipv4, udpSegments.ipv6);
  return builder.build();
}

export interface RunningDevice {
  readonly engine: L3L4<number>;
  readonly runner: TunRunner;
  readonly device: TunDevice;
  /** The fault injector when --faults was given. */
  readonly faulty: FaultyDevice | undefined;
  /** Resolves when the device failed (deleted with its namespace...) and the runner stopped; the message says why. */
  readonly failed: Promise<string>;
  /** Shut down: graceMs to let flows close (FIN), then abort the rest; closes the device and the pcap. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Opens the device (unless given), builds the engine, wraps the device in the fault injector and
 * the app in the pcap/trace tap, and starts the runner. `makeApp` gets the engine; `attach` (if the
 * app has it) gets the runner once it runs.
 */
export function startDevice<A extends TunApp & { attach?(runner: TunRunner): void }>(
  options: DeviceOptions,
  source: DeviceSource,
  makeApp: (engine: L3L4<number>) => A,
): RunningDevice & { readonly app: A } {
  const device = source.device ?? openDevice(options);
  let pcap: PcapWriter | undefined;
  try {
    const log = source.log ?? ((line: string) => console.log(line));
    let faulty: FaultyDevice | undefined;
    let runnerDevice: RunnerDevice = device;
    if (options.faults !== undefined) {
      const seed = source.faultSeed ?? Math.floor(Math.random() * 2 ** 32);
      faulty = new FaultyDevice(device, options.faults, options.faults, seed);
      runnerDevice = faulty;
      log(`faults both ways: ${JSON.stringify(options.faults)} (seed ${seed})`);
    }
    const vnet = runnerDevice.vnetHeader === true;
    const uso = { ipv4: vnet && device.offloads.includes("uso4"), ipv6: vnet && device.offloads.includes("uso6") };
    const engine = buildEngine(device.mtu, options, device.txQueueLength, vnet, uso);
    const app = makeApp(engine);
    if (options.pcap !== undefined) pcap = PcapWriter.open(options.pcap);
    const tap = packetTap(pcap, options.trace ? log : undefined);
    if (tap !== undefined) app.packetTap = tap;
    let fail: (why: string) => void = () => {};
    const failed = new Promise<string>((resolve) => (fail = resolve));
    const runner = runTun(engine, runnerDevice, app, {
      onError: (error) => {
        const why = `${device.name}: device error, stopped: ${(error as Error).message}`;
        log(why);
        pcap?.close();
        fail(why);
      },
    });
    app.attach?.(runner);
    return {
      app,
      engine,
      runner,
      device,
      faulty,
      failed,
      async close(graceMs = 0): Promise<void> {
        await runner.shutdown({ graceMs });
        faulty?.stop();
        pcap?.close();
      },
    };
  } catch (error) {
    pcap?.close();
    device.close();
    throw error;
  }
}

/** The runner's packet tap for --pcap and --trace (undefined: neither, and nothing per packet). */
export function packetTap(
  pcap: PcapWriter | undefined,
  trace: ((line: string) => void) | undefined,
): ((direction: PacketDirection, packet: Uint8Array) => void) | undefined {
  if (pcap === undefined && trace === undefined) return undefined;
  return (direction, packet) => {
    if (pcap !== undefined) pcap.write(packet, 0, packet.length, Date.now());
    if (trace !== undefined) trace(`${direction === "rx" ? "in " : "out"} ${describe(packet)}`);
  };
}

/** A start failure as one or two lines a user can act on. */
export function explainStartError(error: unknown): string {
  if (error instanceof TunError) {
    switch (error.errno) {
      case "EADDON":
        return (
          "the TUN addon is not built. Build it with `npx node-gyp rebuild -C lib/tun` " +
          "(needs python3, make and a C compiler), then run again.\n  " +
          error.message
        );
      case "EPERM":
      case "EACCES":
        return (
          "opening /dev/net/tun needs root or CAP_NET_ADMIN: run with sudo, or " +
          "`sudo setcap cap_net_admin+ep $(command -v node)`.\n  " +
          error.message
        );
      default:
        return `cannot open the TUN device: ${error.message}`;
    }
  }
  if (error instanceof UsageError) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** What a command that runs one app on one device (echo, http) says and does; see deviceCommand. */
export interface DeviceCommandSpec<R extends RunningDevice> {
  name: string;
  /** One line for `l3l4 --help`. */
  summary: string;
  /** The usage line (options), and the paragraph under it. */
  synopsis: string;
  description: string;
  start(options: DeviceOptions, source: DeviceSource): R;
  /** What the start line says after "l3l4 NAME: " (before "; Ctrl-C to stop"). */
  started(running: R): string;
  /** A status line maker, called once at start; its function gives the line printed each second. */
  status(running: R): () => string;
}

/**
 * A device command: the usage from the spec and the device options, --help, the options parsed, and
 * the app run until a signal, with a status line once a second unless --quiet.
 */
export function deviceCommand<R extends RunningDevice>(spec: DeviceCommandSpec<R>): Command {
  const command: Command = {
    name: spec.name,
    summary: spec.summary,
    usage: [spec.synopsis, "", spec.description, "", ...DEVICE_USAGE, "", ...DEVICE_USAGE_FOOTER].join("\n"),
    run(argv, io) {
      const values = parseCommandLine(argv, DEVICE_OPTIONS);
      if (values.help === true) {
        io.log(command.usage);
        return Promise.resolve(0);
      }
      const options = deviceOptions(values);
      return runUntilSignal(spec.name, io, () => {
        const running = spec.start(options, { log: io.log });
        io.log(`l3l4 ${spec.name}: ${spec.started(running)}; Ctrl-C to stop`);
        if (options.quiet) return running;
        const line = spec.status(running);
        const status = setInterval(() => io.log(line()), 1000);
        status.unref();
        return { failed: running.failed, close: (graceMs?: number) => (clearInterval(status), running.close(graceMs)) };
      });
    },
  };
  return command;
}
