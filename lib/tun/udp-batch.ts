/**
 * Datagrams to connected UDP sockets in batches, through the addon (udp.c): the proxy's UDP relay
 * (proxy/direct.ts) queues each datagram here instead of a node:dgram send() per datagram, and one
 * sendDatagrams call (a sendmmsg per run of one socket's datagrams) sends everything queued in a turn
 * of the event loop.
 *
 * Why: at line rate a dgram send() per datagram (argument checks, a SendWrap, a copy into a Buffer)
 * was the relay's largest cost (see the commit that added this file for the profile). Here a
 * datagram costs one copy into a pool the batch owns (the engine's view is borrowed: valid only
 * during l4Rx) and its share of one syscall.
 *
 * Bounded: one pool for the process (POOL_BYTES, MAX_DATAGRAMS), whatever the number of flows; a
 * datagram that does not fit flushes what is queued first. Nothing is retried: a datagram the kernel
 * refuses (the socket's send buffer is full: EAGAIN, ENOBUFS; or an error such as ECONNREFUSED) is
 * dropped and reported to its sender (BatchSender.datagramsDropped), as UDP may drop it.
 *
 * The sockets come from the addon too (udpSocket) and node:dgram wraps them (bind({ fd })): receive,
 * connect, errors and close stay dgram's. A sender with datagrams queued flushes before it closes its
 * socket (`flushFor`), so no datagram ever goes to a descriptor number the kernel has reused.
 */
import { loadTunAddon } from "./tun.js";

/** The part of the addon this module uses (tun.c exports it). */
export interface UdpAddon {
  udpSocket(family: 4 | 6): number;
  close(fd: number): void;
  sendDatagrams(fds: Int32Array, pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number, errors: Int32Array): number;
}

/** Whoever queued datagrams: told, after the flush, of those the kernel refused. */
export interface BatchSender {
  /** Datagrams queued and not yet flushed (the batch keeps it). */
  batched: number;
  /** `count` of this sender's datagrams were dropped; `errno` is the last one's (positive, as errno(3)). */
  datagramsDropped(count: number, errno: number): void;
}

/** The pool: enough for a read batch of full-sized datagrams (256 of 1400 bytes is 350 KiB). */
export const POOL_BYTES = 512 * 1024;
export const MAX_DATAGRAMS = 512;

export class UdpSendBatch {
  private readonly pool = new Uint8Array(POOL_BYTES);
  private readonly fds = new Int32Array(MAX_DATAGRAMS);
  private readonly offsets = new Int32Array(MAX_DATAGRAMS);
  private readonly lengths = new Int32Array(MAX_DATAGRAMS);
  private readonly errors = new Int32Array(MAX_DATAGRAMS);
  private readonly senders: (BatchSender | undefined)[] = new Array<BatchSender | undefined>(MAX_DATAGRAMS).fill(undefined);
  private count = 0;
  private used = 0;
  private scheduled = false;
  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };
  /** Datagrams sent and dropped over the batch's life. */
  sent = 0;
  dropped = 0;

  constructor(private readonly addon: UdpAddon) {}

  /** A new non-blocking UDP socket for node:dgram to wrap (bind({ fd })); throws an errno Error. */
  openSocket(family: 4 | 6): number {
    return this.addon.udpSocket(family);
  }

  /** Closes a descriptor openSocket gave that nothing else owns yet (node:dgram refused it). */
  closeSocket(fd: number): void {
    try {
      this.addon.close(fd);
    } catch {
      // EBADF: it was never open; nothing else to do
    }
  }

  /**
   * Copies `data` into the batch, for the connected socket `fd`; sent at the end of this turn of the
   * event loop (process.nextTick) or sooner when the pool fills. False: larger than the pool (the
   * caller sends it another way). `prefix`: bytes the datagram starts with before `data` (a SOCKS5
   * UDP request header, RFC 1928 §7), copied with it.
   */
  queue(sender: BatchSender, fd: number, data: Uint8Array, prefix?: Uint8Array): boolean {
    const head = prefix === undefined ? 0 : prefix.length;
    const length = head + data.length;
    if (length > POOL_BYTES) return false;
    if (this.count === MAX_DATAGRAMS || this.used + length > POOL_BYTES) this.flush();
    const i = this.count++;
    this.fds[i] = fd;
    this.offsets[i] = this.used;
    this.lengths[i] = length;
    this.senders[i] = sender;
    if (prefix !== undefined) this.pool.set(prefix, this.used);
    this.pool.set(data, this.used + head);
    this.used += length;
    sender.batched++;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushNow);
    }
    return true;
  }

  /** Sends what `sender` has queued (and all before it) now: before its socket closes. */
  flushFor(sender: BatchSender): void {
    if (sender.batched > 0) this.flush();
  }

  /** Sends everything queued; the senders of refused datagrams are told after the batch is reset. */
  flush(): void {
    const count = this.count;
    if (count === 0) return;
    const sent = this.addon.sendDatagrams(this.fds, this.pool, this.offsets, this.lengths, count, this.errors);
    this.sent += sent;
    this.count = 0;
    this.used = 0;
    const senders = this.senders;
    for (let i = 0; i < count; i++) senders[i]!.batched--;
    if (sent === count) {
      senders.fill(undefined, 0, count);
      return;
    }
    this.dropped += count - sent;
    // Each sender once, with its count and last errno, in order (a callback may queue again: the
    // pool and the arrays are free now; the errors of this batch are read first).
    const failed: BatchSender[] = [];
    const drops: number[] = [];
    const errnos: number[] = [];
    for (let i = 0; i < count; i++) {
      const errno = this.errors[i]!;
      if (errno === 0) continue;
      const s = senders[i]!;
      const at = failed.indexOf(s);
      if (at < 0) {
        failed.push(s);
        drops.push(1);
        errnos.push(errno);
      } else {
        drops[at]!++;
        errnos[at] = errno;
      }
    }
    senders.fill(undefined, 0, count);
    for (let k = 0; k < failed.length; k++) failed[k]!.datagramsDropped(drops[k]!, errnos[k]!);
  }
}

let shared: UdpSendBatch | null | undefined;

/**
 * The process's batch, or undefined where the addon cannot be loaded or predates udp.c (the relay
 * then sends with node:dgram alone).
 */
export function sharedUdpBatch(): UdpSendBatch | undefined {
  if (shared === undefined) {
    try {
      const addon = loadTunAddon() as unknown as Partial<UdpAddon>;
      shared = typeof addon.udpSocket === "function" && typeof addon.sendDatagrams === "function" ? new UdpSendBatch(addon as UdpAddon) : null;
    } catch {
      shared = null;
    }
  }
  return shared ?? undefined;
}
