/**
 * Drives an engine from a TUN device on the Node event loop.
 *
 * One turn of the loop: read a batch of packets (every one that is ready, up to rxSlots) into a
 * preallocated pool, hand each to engine.l3Rx, call engine.l4Poll once, re-arm the one timer at
 * the deadline it returns, and write every queued packet with one writeBatch. Packets the engine
 * sends from outside a turn (the application calling engine.l4Tx from a socket's 'data' event)
 * are queued and flushed by one turn in setImmediate, so all sends of one loop iteration share a
 * write batch.
 *
 * Outgoing packets live in a preallocated pool of slots; the buffer type T of Callbacks<T> is the
 * slot index. When the pool is exhausted (the device queue is full and the writes wait for
 * writability), l3TxBuffer returns undefined and the engine keeps its data queued; the turn that
 * follows the flush polls the engine again.
 *
 * Read batches start at INITIAL_RX_BATCH packets and double, up to rxSlots, each time a read fills
 * the batch (the device is busy): a quiet device holds a small pool, a busy one is drained in few
 * reads.
 *
 * A device opened with offloads (device.vnetHeader) puts a virtio-net header before every packet.
 * Read: offload.ts checks it; with an engine that has l3RxTrusted (and wholeSuperPackets not false), a
 * TCP super-packet (TSO, up to 64 KiB: rx slots are that large then) goes into l3RxTrusted whole and
 * checksums the header vouches for are neither completed nor verified; UDP super-packets (USO) are cut
 * into their datagrams. Otherwise offload.ts completes the checksums the kernel left to us and cuts
 * every super-packet into the packets l3Rx takes. Written: the
 * engine's packet goes behind a header (offload.ts writeTxHeader: TCP and UDP as NEEDS_CSUM under
 * checksum offload, so that the kernel skips verifying them; else zeros); l3TxBufferMut hands the
 * engine the slot after the header. An engine built with txSuperSegments (engine.txHeaderLength > 0)
 * writes that header itself, before every packet: l3TxBufferMut hands it the whole slot, the runner
 * writes the slot as it is, and TCP super-segments of up to 64 KiB go into a second, small pool of
 * large slots (txSuperSlots) for the kernel to cut. Without offloads, the bytes read and written are
 * exactly the packets.
 *
 * An application that calls the engine outside the runner's callbacks (NetStack's sockets, from a
 * stream's write()) is handed the runner, an EngineDriver, through TunApp.attach before the first
 * turn: the callbacks to use, schedule(), track() and setRef(). TunApp.afterRx, when present, runs after each
 * batch of packets went into l3Rx, before the turn's l4Poll: the place to look at what the packets
 * changed (a handshake that completed) without a callback per packet.
 */
import type { Callbacks, Flow } from "../api.js";
import { InvalidArgumentError } from "../errors.js";
import { VNET_HEADER_LENGTH } from "../wire/virtio-net.js";
import { RxOffload, writeTxHeader } from "./offload.js";
import type { EngineLike, RunnerDevice, RunTunOptions, TunApp, TunRunner, TunRunnerStats } from "./runner-api.js";
import { installSignalHandlers, type ShutdownOptions } from "./signals.js";
import { MAX_OFFLOAD_PACKET, VNET_HEADER_ROOM } from "./tun.js";

export type { ShutdownOptions, SignalOptions, SignalTarget } from "./signals.js";

export type {
  EngineLike,
  PacketDirection,
  RunnerDevice,
  RunTunOptions,
  TunApp,
  TunRunner,
  TunRunnerStats,
} from "./runner-api.js";

export const DEFAULT_RX_SLOTS = 256;
/** Turns run in one nextTick tail before schedule() falls back to setImmediate (no starving the loop). */
const MAX_TAIL_TURNS = 4;
export const DEFAULT_TX_SLOTS = 1024;
/** Large tx slots for super-segments (txSuperSegments): 64 of 64 KiB, 4 MiB, a few windows' worth. */
export const DEFAULT_TX_SUPER_SLOTS = 64;
/** The first read batch; doubled (up to rxSlots) whenever a read fills it. */
export const INITIAL_RX_BATCH = 16;

function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive integer, got ${v}`);
  return v;
}

/**
 * Starts driving `engine` from `device` and returns the runner. The device must be open; the
 * runner closes it on stop().
 */
export function runTun(
  engine: EngineLike<number>,
  device: RunnerDevice,
  app: TunApp,
  options: RunTunOptions = {},
): TunRunner {
  const rxSlots = positiveInteger(options.rxSlots, DEFAULT_RX_SLOTS, "rxSlots");
  const txSlots = positiveInteger(options.txSlots, DEFAULT_TX_SLOTS, "txSlots");
  const slotSize = positiveInteger(options.slotSize, device.mtu + VNET_HEADER_ROOM, "slotSize");
  const tap = app.packetTap;
  const vnet = device.vnetHeader === true;
  /** The engine writes the virtio-net header before each packet itself (txSuperSegments). */
  const engineHeaders = (engine.txHeaderLength ?? 0) > 0;
  if (engineHeaders && (!vnet || engine.txHeaderLength !== VNET_HEADER_LENGTH)) {
    throw new InvalidArgumentError(
      `the engine writes a ${engine.txHeaderLength}-byte virtio-net header before every packet (txSuperSegments): the device must be opened with offloads (a ${VNET_HEADER_LENGTH}-byte header)`,
    );
  }
  /** Bytes the runner keeps before each packet in a tx slot: the virtio-net header it writes. */
  const txHeadroom = vnet && !engineHeaders ? VNET_HEADER_LENGTH : 0;
  /** Large slots for super-segments (header and a 64 KiB packet), after the others in the pool. */
  const superSlots = engineHeaders ? positiveInteger(options.txSuperSlots, DEFAULT_TX_SUPER_SLOTS, "txSuperSlots") : 0;
  const superSlotSize = VNET_HEADER_LENGTH + MAX_OFFLOAD_PACKET;
  const segmentation = vnet && (device.offloads ?? []).some((o) => o !== "csum");
  const partialChecksums = vnet && (device.offloads ?? []).includes("csum");
  const rxSlotSize = segmentation ? Math.max(slotSize, VNET_HEADER_LENGTH + MAX_OFFLOAD_PACKET) : slotSize;
  const afterRx = app.afterRx === undefined ? undefined : () => app.afterRx!();

  const stats: TunRunnerStats = {
    rxPackets: 0,
    rxBatches: 0,
    txPackets: 0,
    txBatches: 0,
    txBlocked: 0,
    txPoolExhausted: 0,
    txOversize: 0,
    timerFires: 0,
    rxBatchLimit: Math.min(INITIAL_RX_BATCH, rxSlots),
    rxChecksumsCompleted: 0,
    rxSuperPackets: 0,
    rxPieces: 0,
    rxBadVnetHeaders: 0,
    rxChecksumsTrusted: 0,
    rxSuperSegments: 0,
    txSuperSegments: 0,
  };

  // --- rx: one pool, and per slot the views of its last two packet lengths (full-sized segments
  // and pure ACKs repeat, so most packets reuse a view instead of allocating a subarray). It grows
  // with the batch.
  let rxPool = new Uint8Array(stats.rxBatchLimit * rxSlotSize);
  let rxLengths = new Int32Array(stats.rxBatchLimit);
  let rxViews: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(2 * stats.rxBatchLimit).fill(undefined);
  let rxViewLengths = new Int32Array(2 * stats.rxBatchLimit).fill(-1);

  function rxView(slot: number, length: number): Uint8Array {
    const a = 2 * slot;
    if (rxViewLengths[a] === length) return rxViews[a]!;
    if (rxViewLengths[a + 1] === length) return rxViews[a + 1]!;
    const start = slot * rxSlotSize;
    const view = rxPool.subarray(start, start + length);
    rxViews[a + 1] = rxViews[a];
    rxViewLengths[a + 1] = rxViewLengths[a]!;
    rxViews[a] = view;
    rxViewLengths[a] = length;
    return view;
  }

  /** The batch filled up: double it (a new, larger pool; the next read fills it). */
  function growRxBatch(): void {
    const limit = Math.min(2 * stats.rxBatchLimit, rxSlots);
    if (limit === stats.rxBatchLimit) return;
    stats.rxBatchLimit = limit;
    rxPool = new Uint8Array(limit * rxSlotSize);
    rxLengths = new Int32Array(limit);
    rxViews = new Array<Uint8Array | undefined>(2 * limit).fill(undefined);
    rxViewLengths = new Int32Array(2 * limit).fill(-1);
  }

  const trustedRx =
    options.wholeSuperPackets !== false && engine.l3RxTrusted !== undefined
      ? (packet: Uint8Array): void => {
          if (tap !== undefined) tap("rx", packet);
          engine.l3RxTrusted!(callbacks, packet);
        }
      : undefined;
  const rxOffload = vnet
    ? new RxOffload((packet) => {
        if (tap !== undefined) tap("rx", packet);
        engine.l3Rx(callbacks, packet);
      }, trustedRx)
    : undefined;

  // --- tx: one pool, a view per slot made once (after the header room), a stack of free slots,
  // and a FIFO write queue. Super slots (indices txSlots on) have their own stack.
  const superBase = txSlots * slotSize;
  const txPool = new Uint8Array(superBase + superSlots * superSlotSize);
  const txViews: Uint8Array[] = [];
  const txOffsets = new Int32Array(txSlots + superSlots);
  for (let slot = 0; slot < txSlots; slot++) {
    txOffsets[slot] = slot * slotSize;
    txViews.push(txPool.subarray(slot * slotSize + txHeadroom, (slot + 1) * slotSize));
  }
  for (let i = 0; i < superSlots; i++) {
    const start = superBase + i * superSlotSize;
    txOffsets[txSlots + i] = start;
    txViews.push(txPool.subarray(start, start + superSlotSize));
  }
  const freeSlots = new Int32Array(txSlots);
  for (let i = 0; i < txSlots; i++) freeSlots[i] = txSlots - 1 - i;
  let freeCount = txSlots;
  const freeSuper = new Int32Array(superSlots);
  for (let i = 0; i < superSlots; i++) freeSuper[i] = txSlots + superSlots - 1 - i;
  let freeSuperCount = superSlots;
  function release(slot: number): void {
    if (slot < txSlots) freeSlots[freeCount++] = slot;
    else freeSuper[freeSuperCount++] = slot;
  }
  const queueSlots = new Int32Array(txSlots);
  const queueOffsets = new Int32Array(txSlots);
  const queueLengths = new Int32Array(txSlots);
  let queued = 0;

  let running = true;
  /** Inside a turn: l3Tx only queues; the turn flushes at its end. */
  let inTurn = false;
  /** Writes stopped at EAGAIN; waiting for writability. */
  let writeBlocked = false;
  /** l3TxBuffer said no: poll the engine again once slots are free. */
  let starved = false;
  let timer: NodeJS.Timeout | undefined;
  /** setRef(false): the timer and the device poll do not keep the process alive. */
  let refed = true;
  let timerDeadline = Number.POSITIVE_INFINITY;
  let immediate: NodeJS.Immediate | undefined;
  /**
   * The nextTick queue right after a turn (until the microtask queued at its end): what the app's
   * stream machinery sends there, reacting to the turn's events, goes out in a turn of its own
   * at the end of that queue instead of in the next loop iteration.
   */
  let inTail = false;
  let tailTurnQueued = false;
  let tailTurns = 0;
  const endTail = (): void => {
    inTail = false;
    tailTurns = 0;
  };
  const flows = new Set<Flow>();
  let drained: (() => void) | undefined;
  let removeSignalHandlers: (() => void) | undefined;

  const callbacks: Callbacks<number> = {
    l3TxBuffer(size: number): number | undefined {
      if (size > slotSize - txHeadroom) {
        if (size > superSlotSize || superSlots === 0) {
          stats.txOversize++;
          return undefined;
        }
        if (freeSuperCount === 0) {
          stats.txPoolExhausted++;
          starved = true;
          return undefined;
        }
        return freeSuper[--freeSuperCount]!;
      }
      if (freeCount === 0) {
        stats.txPoolExhausted++;
        starved = true;
        return undefined;
      }
      return freeSlots[--freeCount]!;
    },
    l3TxBufferMut(slot: number): Uint8Array {
      return txViews[slot]!;
    },
    l3Tx(slot: number, length: number): void {
      if (!running) {
        release(slot);
        return;
      }
      queueSlots[queued] = slot;
      queueOffsets[queued] = txOffsets[slot]!;
      queueLengths[queued] = length + txHeadroom;
      queued++;
      if (engineHeaders) {
        if (tap !== undefined) tap("tx", txViews[slot]!.subarray(VNET_HEADER_LENGTH, length));
      } else {
        if (tap !== undefined) tap("tx", txViews[slot]!.subarray(0, length));
        if (vnet) writeTxHeader(txPool, slot * slotSize + VNET_HEADER_LENGTH, length, partialChecksums);
      }
      if (!inTurn) schedule();
    },
    l4Rx(flow: Flow, data: Uint8Array | null): void {
      if (data === null) flows.delete(flow);
      app.l4Rx(flow, data);
    },
    l4Accept(flow: Flow): boolean {
      const accepted = app.l4Accept === undefined ? true : app.l4Accept(flow);
      if (accepted) flows.add(flow);
      return accepted;
    },
  };
  if (app.l4TxReady !== undefined) callbacks.l4TxReady = (flow) => app.l4TxReady!(flow);
  if (app.l4RemoteClosed !== undefined) callbacks.l4RemoteClosed = (flow) => app.l4RemoteClosed!(flow);

  function fail(error: unknown): void {
    stop();
    if (options.onError === undefined) throw error;
    options.onError(error);
  }

  function armTimer(deadline: number | undefined): void {
    if (deadline === undefined) {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
        timerDeadline = Number.POSITIVE_INFINITY;
      }
      return;
    }
    // A timer due no later stays: when it fires, the turn polls and re-arms for the later deadline.
    if (timer !== undefined && timerDeadline <= deadline) return;
    if (timer !== undefined) clearTimeout(timer);
    timerDeadline = deadline;
    timer = setTimeout(onTimer, Math.max(0, deadline - engine.now()));
    if (!refed) timer.unref();
  }

  function setRef(on: boolean): void {
    if (on === refed) return;
    refed = on;
    if (timer !== undefined) {
      if (on) timer.ref();
      else timer.unref();
    }
    device.setRef?.(on);
  }

  /** l4Poll and re-arm; the caller flushes. */
  function pollEngine(): void {
    inTurn = true;
    try {
      armTimer(engine.l4Poll(callbacks));
    } finally {
      inTurn = false;
    }
  }

  /** Writes the queue with one writeBatch; what EAGAIN leaves waits for writability. Returns slots freed. */
  function flush(): number {
    if (queued === 0 || writeBlocked || !running) return 0;
    let written: number;
    try {
      written = device.writeBatch(txPool, queueOffsets, queueLengths, queued);
    } catch (error) {
      fail(error);
      return 0;
    }
    stats.txBatches++;
    stats.txPackets += written;
    for (let i = 0; i < written; i++) {
      const slot = queueSlots[i]!;
      if (slot >= txSlots) stats.txSuperSegments++;
      release(slot);
    }
    if (written < queued) {
      queueSlots.copyWithin(0, written, queued);
      queueOffsets.copyWithin(0, written, queued);
      queueLengths.copyWithin(0, written, queued);
      queued -= written;
      writeBlocked = true;
      stats.txBlocked++;
      device.pollWritable(true);
    } else {
      queued = 0;
    }
    return written;
  }

  /** The end of every turn: write, and if the engine went without buffers, let it try again. */
  function finishTurn(): void {
    const freed = flush();
    if (starved && freed > 0 && running) {
      starved = false;
      schedule();
    }
    if (drained !== undefined && (flows.size === 0 || engine.flowCount === 0)) drained();
    if (!inTail) {
      inTail = true;
      queueMicrotask(endTail);
    }
  }

  function turn(): void {
    if (!running) return;
    pollEngine();
    finishTurn();
  }

  function onReadable(): void {
    if (!running) return;
    if (!readIntoEngine()) return;
    pollEngine();
    finishTurn();
  }

  /** One read batch into l3Rx. Returns false when nothing was read (or the runner failed). */
  function readIntoEngine(): boolean {
    const limit = stats.rxBatchLimit;
    let count: number;
    try {
      count = device.readBatch(rxPool, rxSlotSize, limit, rxLengths);
    } catch (error) {
      fail(error);
      return false;
    }
    if (count === 0) return false;
    stats.rxBatches++;
    stats.rxPackets += count;
    const pool = rxPool;
    const lengths = rxLengths;
    inTurn = true;
    try {
      if (rxOffload === undefined) {
        for (let i = 0; i < count; i++) {
          const packet = rxView(i, lengths[i]!);
          if (tap !== undefined) tap("rx", packet);
          engine.l3Rx(callbacks, packet);
        }
      } else {
        for (let i = 0; i < count; i++) rxOffload.receive(pool, i * rxSlotSize, lengths[i]!);
        const o = rxOffload.stats;
        stats.rxChecksumsCompleted = o.checksumsCompleted;
        stats.rxSuperPackets = o.superPackets;
        stats.rxPieces = o.pieces;
        stats.rxChecksumsTrusted = o.checksumsTrusted;
        stats.rxSuperSegments = o.superSegments;
        let bad = 0;
        for (const reason in o.drops) bad += o.drops[reason]!;
        stats.rxBadVnetHeaders = bad;
      }
    } catch (error) {
      // An application callback threw: what is queued still goes out, in a later turn.
      inTurn = false;
      schedule();
      throw error;
    }
    inTurn = false;
    if (afterRx !== undefined) {
      inTurn = true;
      try {
        afterRx();
      } finally {
        inTurn = false;
      }
    }
    if (count === limit) growRxBatch();
    return true;
  }

  function onWritable(): void {
    if (!running) return;
    device.pollWritable(false);
    writeBlocked = false;
    finishTurn(); // flush; a turn follows if the engine went without buffers meanwhile
  }

  function onTimer(): void {
    timer = undefined;
    timerDeadline = Number.POSITIVE_INFINITY;
    stats.timerFires++;
    // Node runs due timers before it polls for I/O: read what already waits in the device first,
    // or a retransmission timer fires for data whose ACK sits unread in the queue (a spurious RTO).
    if (running) readIntoEngine();
    turn();
  }

  function onImmediate(): void {
    immediate = undefined;
    turn();
  }

  function schedule(): void {
    if (!running) return;
    if (inTail && tailTurns < MAX_TAIL_TURNS) {
      if (!tailTurnQueued) {
        tailTurnQueued = true;
        tailTurns++;
        process.nextTick(onTailTurn);
      }
      return;
    }
    if (immediate === undefined) immediate = setImmediate(onImmediate);
  }

  function onTailTurn(): void {
    tailTurnQueued = false;
    turn();
  }

  function stop(): void {
    if (!running) return;
    running = false;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (immediate !== undefined) clearImmediate(immediate);
    immediate = undefined;
    removeSignalHandlers?.();
    removeSignalHandlers = undefined;
    drained?.();
    for (let i = 0; i < queued; i++) release(queueSlots[i]!);
    queued = 0;
    device.close();
  }

  function forEachFlow(action: (flow: Flow) => void): void {
    for (const flow of Array.from(flows)) {
      try {
        action(flow);
      } catch {
        // The flow went away meanwhile (UnknownFlowError): nothing left to close.
        flows.delete(flow);
      }
    }
  }

  async function shutdown(shutdownOptions: ShutdownOptions = {}): Promise<void> {
    if (!running) return;
    const graceMs = shutdownOptions.graceMs ?? 0;
    if (graceMs > 0 && flows.size > 0) {
      inTurn = true;
      try {
        forEachFlow((flow) => engine.l4LocalClose(callbacks, flow));
      } finally {
        inTurn = false;
      }
      await new Promise<void>((resolve) => {
        const graceTimer = setTimeout(() => {
          drained = undefined;
          resolve();
        }, graceMs);
        drained = () => {
          drained = undefined;
          clearTimeout(graceTimer);
          resolve();
        };
        turn();
      });
    }
    if (!running) return;
    inTurn = true;
    try {
      forEachFlow((flow) => engine.l4Abort(callbacks, flow));
    } finally {
      inTurn = false;
    }
    flows.clear();
    writeBlocked = false; // one last try: what still does not fit is dropped
    flush();
    stop();
  }


  if (options.handleSignals !== undefined && options.handleSignals !== false) {
    const signalOptions = options.handleSignals === true ? {} : options.handleSignals;
    removeSignalHandlers = installSignalHandlers(signalOptions, () => shutdown(signalOptions));
  }
  device.onWritable(onWritable);
  device.onReadable(onReadable);
  // A failing poll (the device was deleted under us) stops the runner like a failing read does.
  device.onError?.(fail);
  const runner: TunRunner = {
    engine,
    callbacks,
    stats,
    get running() {
      return running;
    },
    get txSlotsFree() {
      return freeCount;
    },
    get txQueued() {
      return queued;
    },
    get vnetDrops() {
      return rxOffload === undefined ? {} : rxOffload.stats.drops;
    },
    track(flow: Flow): void {
      flows.add(flow);
    },
    schedule,
    setRef,
    shutdown,
    stop,
  };
  app.attach?.(runner);
  schedule();
  return runner;
}
