/**
 * The TUN runner's shapes (runner.ts drives an engine from a device): what it needs of the engine
 * and of the device, what the application gives it (TunApp), its options, and the runner it returns.
 */
import type { Callbacks, EngineDriver, Flow } from "../api.js";
import type { ShutdownOptions, SignalOptions } from "./signals.js";

/** What the runner needs of the engine: the methods of L3L4<T>, with T = slot index. */
export interface EngineLike<T> {
  /** The engine's clock, in milliseconds. */
  now(): number;
  l3Rx(cb: Callbacks<T>, packet: Uint8Array): unknown;
  /** L3L4.l3RxTrusted: with it, a device with offloads hands TCP super-packets over whole (RunTunOptions.wholeSuperPackets). */
  l3RxTrusted?(cb: Callbacks<T>, packet: Uint8Array): unknown;
  /** Runs due timers and sends what is pending; returns the next deadline on now()'s clock, undefined = none. */
  l4Poll(cb: Callbacks<T>): number | undefined;
  l4Abort(cb: Callbacks<T>, flow: Flow): void;
  l4LocalClose(cb: Callbacks<T>, flow: Flow): void;
  readonly flowCount: number;
  /**
   * L3L4.txHeaderLength: bytes the engine writes before every packet it hands to l3Tx (the
   * virtio-net header under txSuperSegments); 0 or absent: bare IP packets, the runner writes the
   * header a device with offloads needs.
   */
  readonly txHeaderLength?: number;
}

/** What the runner needs of the device: TunDevice has it; tests pass a fake. */
export interface RunnerDevice {
  readonly mtu: number;
  readBatch(pool: Uint8Array, slotSize: number, maxCount: number, lengths: Int32Array): number;
  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number;
  onReadable(handler: () => void): void;
  onWritable(handler: () => void): void;
  pollWritable(on: boolean): void;
  /** Errors of the readiness poll itself (the device vanished: its netns was deleted...). */
  onError?(handler: (error: unknown) => void): void;
  /** false: polling the device does not keep the process alive (TunDevice.setRef). */
  setRef?(on: boolean): void;
  close(): void;
  /** Opened with IFF_VNET_HDR: a virtio-net header before every packet, both ways. Default false. */
  readonly vnetHeader?: boolean;
  /** The offloads on (TunDevice.offloads): with "tso4", "tso6", "uso4" or "uso6", reads may be super-packets. */
  readonly offloads?: readonly string[];
}

export type PacketDirection = "rx" | "tx";

/** The application's side of Callbacks: flow events (the runner owns the packet callbacks). */
export interface TunApp {
  l4Rx(flow: Flow, data: Uint8Array | null): void;
  /** Default: accept every flow. */
  l4Accept?(flow: Flow): boolean;
  l4TxReady?(flow: Flow): void;
  l4RemoteClosed?(flow: Flow): void;
  /**
   * Sees every packet read ("rx", before l3Rx) and sent ("tx", when l3Tx queues it), for pcap or
   * tracing. The view is valid only during the call: copy what you keep. Tapping allocates a view
   * per sent packet; without a tap, nothing is allocated per packet.
   */
  packetTap?(direction: PacketDirection, packet: Uint8Array): void;
  /**
   * Called once by runTun, before the first turn, with the runner (an EngineDriver): the callbacks the
   * app passes to the engine calls it makes itself, and the schedule() it calls after making them
   * outside a turn.
   */
  attach?(runner: TunRunner): void;
  /** Called after each batch of packets went into l3Rx, before the turn's l4Poll. */
  afterRx?(): void;
}


export interface RunTunOptions {
  /** The most packets read per batch (rx pool slots, allocated as batches grow). Default 256. */
  rxSlots?: number;
  /** Outgoing packet slots (sent, queued or being written). Default 1024. */
  txSlots?: number;
  /** Bytes per slot. Default device.mtu + VNET_HEADER_ROOM. */
  slotSize?: number;
  /**
   * Slots of 64 KiB for the TCP super-segments of an engine built with txSuperSegments (sent,
   * queued or being written); allocated only for such an engine. Default 64.
   */
  txSuperSlots?: number;
  /**
   * A device with offloads and an engine with l3RxTrusted (L3L4 has it): TCP super-packets go into the
   * engine whole, as one segment, and the checksums the virtio-net header vouches for (NEEDS_CSUM,
   * DATA_VALID) are not completed or verified (offload.ts). false: every super-packet is cut into the
   * packets the kernel would have sent and every checksum completed, for l3Rx. Default true.
   */
  wholeSuperPackets?: boolean;
  /**
   * Install handlers for SIGINT/SIGTERM that shut down (close or abort every flow, flush, close the
   * device) and exit. Default false.
   */
  handleSignals?: boolean | SignalOptions;
  /** Fatal device errors (read, write, poll); the runner has stopped. Default: thrown. */
  onError?(error: unknown): void;
}

export interface TunRunnerStats {
  rxPackets: number;
  rxBatches: number;
  txPackets: number;
  txBatches: number;
  /** Flushes that stopped at EAGAIN: the rest waited for writability. */
  txBlocked: number;
  /** l3TxBuffer calls answered undefined: every slot was in use. */
  txPoolExhausted: number;
  /** l3TxBuffer calls for more than a slot holds (an engine sending beyond the MTU). */
  txOversize: number;
  /** Times the deadline timer fired. */
  timerFires: number;
  /** The read batch now (grows up to rxSlots while the device is busy). */
  rxBatchLimit: number;
  /** Offloads: checksums completed, super-packets cut and the pieces made, packets dropped for a bad virtio-net header. */
  rxChecksumsCompleted: number;
  rxSuperPackets: number;
  rxPieces: number;
  rxBadVnetHeaders: number;
  /** Offloads into l3RxTrusted (wholeSuperPackets): packets whose checksum the header vouched for, TCP super-packets taken whole. */
  rxChecksumsTrusted: number;
  rxSuperSegments: number;
  /** Super-segments (txSuperSegments: packets in the large slots) the device took, for the kernel to cut. */
  txSuperSegments: number;
}

export interface TunRunner extends EngineDriver<number> {
  readonly engine: EngineLike<number>;
  /** Pass these to the engine's calls you make yourself: engine.l4Tx(runner.callbacks, flow, data). */
  readonly callbacks: Callbacks<number>;
  readonly stats: Readonly<TunRunnerStats>;
  readonly running: boolean;
  /** Slots free in the tx pool. */
  readonly txSlotsFree: number;
  /** Packets queued for writing. */
  readonly txQueued: number;
  /** Packets dropped for a bad virtio-net header, by reason (offloads only; {} without). */
  readonly vnetDrops: Readonly<Record<string, number>>;
  /**
   * Flows the runner will close at shutdown. Flows the engine accepted are tracked already; track
   * the ones you open (l4Connect) yourself.
   */
  track(flow: Flow): void;
  /** Ask for a turn (l4Poll, re-arm the timer, flush) in setImmediate: after engine calls that may not send. */
  schedule(): void;
  /** false: the deadline timer and the device poll stop keeping the process alive (as timer.unref()); true: they do again. */
  setRef(on: boolean): void;
  /** Close (graceMs > 0) then abort every tracked flow, flush, and stop. */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /** Stop at once: timers cleared, signal handlers removed, device closed. Queued packets are dropped. */
  stop(): void;
}
