/**
 * A connected UDP socket the addon owns end to end (udp.c): the proxy's upstream socket of a UDP
 * flow (proxy/direct.ts) or of a SOCKS5 UDP association (proxy/socks5.ts), without node:dgram.
 *
 * - Up: datagrams go in the turn's UdpSendBatch (sendmmsg, UDP GSO), as before.
 * - Down: readiness comes from Node's loop (poll.c's uv_poll_t), and each wake reads with recvmmsg
 *   into one pool for the process (RECEIVE_SLOTS slots of SLOT_BYTES), up to READS_PER_WAKE calls;
 *   with UDP GRO the kernel may coalesce one flow's same-size datagrams into one slot, and they are
 *   cut here at the segment size it reports. The datagrams go to the owner as views of the pool,
 *   valid only during the call (as UdpSink.upstreamDatagram documents).
 *
 * Why: node:dgram reads one datagram per recvmsg (libuv) and makes a Buffer for each; at line rate
 * that and its callback were most of the relay's cost down (see the commit that added this file).
 *
 * Bounded: the pool is the process's (1 MiB), whatever the number of sockets; a wake reads at most
 * READS_PER_WAKE × RECEIVE_SLOTS messages, then yields to the loop. A message larger than its slot
 * (MSG_TRUNC) or one whose GRO segment size was cut off (MSG_CTRUNC) is dropped and counted
 * (owner.dropped). A socket error (ECONNREFUSED after an ICMP error) is the owner's `failed`.
 */
import { lookup } from "node:dns";
import { isIP } from "node:net";
import { getSystemErrorName } from "node:util";
import { loadTunAddon } from "./tun.js";
import { sharedUdpBatch, type BatchSender, type UdpAddon, type UdpSendBatch } from "./udp-batch.js";

/** The part of the addon this module uses besides UdpAddon's (tun.c exports it). */
export interface UdpSocketAddon extends UdpAddon {
  udpSocket(family: 4 | 6, flags?: number): number;
  udpConnect(fd: number, address: string, port: number): void;
  recvDatagrams(fd: number, pool: Uint8Array, slotSize: number, lengths: Int32Array, segments: Int32Array): number;
  poll(fd: number, callback: (events: number, error?: string) => void, ref?: boolean): void;
}

/** udpSocket's flag: UDP GRO on (udp.c). */
export const UDP_SOCKET_GRO = 1;
/** A slot holds the largest UDP datagram, or one GRO buffer (at most 64 KiB). */
export const SLOT_BYTES = 65536;
export const RECEIVE_SLOTS = 16;
export const READS_PER_WAKE = 4;
/** A gathered run: what one UDP GSO packet can carry (RUN_DATAGRAMS of them at most, as Linux's UDP_MAX_SEGMENTS / 2). */
export const RUN_BYTES = 65000;
export const RUN_DATAGRAMS = 64;

/** What the socket reports to whoever owns it. */
export interface UdpSocketOwner {
  /** Connected: datagrams can go (send) and come. */
  connected(): void;
  /** One datagram from the peer; the view is valid only during the call. */
  datagram(data: Uint8Array): void;
  /**
   * Several datagrams of `segment` bytes each (the last may be shorter), consecutive from the peer:
   * a GRO buffer, or same-size datagrams of one read gathered. Absent: each goes to `datagram`.
   */
  datagramRun?(data: Uint8Array, segment: number): void;
  /** `count` datagrams dropped: sent and refused by the kernel (`errno` its errno), or received and unusable (errno 0). */
  dropped(count: number, errno: number): void;
  /** The socket failed (lookup, connect, or an error the kernel reported on it); nothing follows. */
  failed(error: { code: string; message: string }): void;
}

/** The process's receive pool: one read at a time (reads run in poll callbacks, one after another). */
class ReceivePool {
  readonly pool = new Uint8Array(SLOT_BYTES * RECEIVE_SLOTS);
  /** Where one read's same-size datagrams are gathered into a run (at most RUN_BYTES). */
  readonly run = new Uint8Array(RUN_BYTES);
  readonly lengths = new Int32Array(RECEIVE_SLOTS);
  readonly segments = new Int32Array(RECEIVE_SLOTS);
}

let receivePool: ReceivePool | undefined;

function errnoError(errno: number, syscall: string): { code: string; message: string } {
  const code = getSystemErrorName(-errno);
  return { code, message: `${syscall} ${code}` };
}

export class NativeUdpSocket implements BatchSender {
  batched = 0;
  /** Datagrams received and passed on, and received and dropped (truncated). */
  received = 0;
  receiveDropped = 0;
  /** GRO buffers received (slots that held several datagrams). */
  coalesced = 0;
  private readonly fd: number;
  private closed = false;
  private polling = false;
  private readonly onReadable = (_events: number, error?: string): void => {
    this.read();
    // libuv reports EPOLLERR (a pending socket error: ECONNREFUSED after an ICMP error) as EBADF and
    // stops the poll: the read above took the real error; if it did not, the socket cannot go on.
    if (error !== undefined) this.fail({ code: error, message: `poll ${error}` });
  };

  /** Opens the socket (throws an errno Error: EMFILE); `connect` next. */
  constructor(
    private readonly addon: UdpSocketAddon,
    private readonly batch: UdpSendBatch,
    private readonly family: 4 | 6,
    private readonly owner: UdpSocketOwner,
  ) {
    this.fd = addon.udpSocket(family, UDP_SOCKET_GRO);
  }

  /** Connects to host:port (a name is looked up first, in `family`); the owner hears `connected` or `failed`, never before this returns. */
  connect(host: string, port: number): void {
    if (isIP(host) !== 0) {
      process.nextTick(() => this.connectTo(host, port));
      return;
    }
    lookup(host, { family: this.family }, (error, address) => {
      if (error) this.fail({ code: error.code ?? "ENOTFOUND", message: error.message });
      else this.connectTo(address, port);
    });
  }

  private connectTo(address: string, port: number): void {
    if (this.closed) return;
    try {
      this.addon.udpConnect(this.fd, address, port);
      this.addon.poll(this.fd, this.onReadable);
      this.polling = true;
    } catch (error) {
      const e = error as { code?: string; message?: string };
      this.fail({ code: e.code ?? "EINVAL", message: e.message ?? String(error) });
      return;
    }
    this.owner.connected();
  }

  /** Queues one datagram (`prefix` then `data`, copied) for the turn's batch; false: closed, or larger than the batch's pool. */
  send(data: Uint8Array, prefix?: Uint8Array): boolean {
    return !this.closed && this.batch.queue(this, this.fd, data, prefix);
  }

  /** The batch's report (BatchSender). */
  datagramsDropped(count: number, errno: number): void {
    if (!this.closed) this.owner.dropped(count, errno);
  }

  /** Reads what is waiting: up to READS_PER_WAKE recvmmsg calls. */
  private read(): void {
    const shared = (receivePool ??= new ReceivePool());
    const { pool, lengths, segments } = shared;
    for (let call = 0; call < READS_PER_WAKE && !this.closed; call++) {
      const count = this.addon.recvDatagrams(this.fd, pool, SLOT_BYTES, lengths, segments);
      if (count < 0) {
        this.fail(errnoError(-count, "recvmmsg"));
        return;
      }
      if (this.owner.datagramRun !== undefined) this.deliverRuns(shared, count);
      else for (let i = 0; i < count && !this.closed; i++) this.deliver(pool, i * SLOT_BYTES, lengths[i]!, segments[i]!);
      if (count < RECEIVE_SLOTS) return;
    }
  }

  /** One slot: a datagram, or a GRO buffer cut at `segment` (the last piece may be shorter). */
  private deliver(pool: Uint8Array, offset: number, length: number, segment: number): void {
    if (length < 0) {
      this.dropSlot();
      return;
    }
    if (segment === 0) {
      this.received++;
      this.owner.datagram(pool.subarray(offset, offset + length));
      return;
    }
    this.coalesced++;
    const end = offset + length;
    for (let at = offset; at < end && !this.closed; at += segment) {
      this.received++;
      this.owner.datagram(pool.subarray(at, Math.min(at + segment, end)));
    }
  }

  private dropSlot(): void {
    this.receiveDropped++;
    this.owner.dropped(1, 0);
  }

  /**
   * The slots of one read as runs for owner.datagramRun: a GRO slot is a run as it is; consecutive
   * one-datagram slots of one size are copied together into the pool's run buffer (up to RUN_BYTES,
   * RUN_DATAGRAMS); a lone datagram goes to `datagram` uncopied.
   */
  private deliverRuns(shared: ReceivePool, count: number): void {
    const { pool, lengths, segments, run } = shared;
    let first = 0; // the pending run: slots [first, first + pending), all of `size`
    let pending = 0;
    let size = 0;
    const flush = (): void => {
      if (pending === 1) {
        this.received++;
        this.owner.datagram(pool.subarray(first * SLOT_BYTES, first * SLOT_BYTES + size));
      } else if (pending > 1) {
        for (let k = 0; k < pending; k++) run.set(pool.subarray((first + k) * SLOT_BYTES, (first + k) * SLOT_BYTES + size), k * size);
        this.received += pending;
        this.owner.datagramRun!(run.subarray(0, pending * size), size);
      }
      pending = 0;
    };
    for (let i = 0; i < count && !this.closed; i++) {
      const length = lengths[i]!;
      const segment = segments[i]!;
      if (length < 0 || segment > 0 || length === 0) {
        flush();
        if (this.closed) return;
        if (length < 0) this.dropSlot();
        else if (length === 0) {
          this.received++;
          this.owner.datagram(pool.subarray(i * SLOT_BYTES, i * SLOT_BYTES));
        } else {
          this.coalesced++;
          this.received += Math.ceil(length / segment);
          this.owner.datagramRun!(pool.subarray(i * SLOT_BYTES, i * SLOT_BYTES + length), segment);
        }
        continue;
      }
      if (pending > 0 && (length !== size || pending === RUN_DATAGRAMS || (pending + 1) * size > RUN_BYTES)) flush();
      if (this.closed) return;
      if (pending === 0) {
        first = i;
        size = length;
      }
      pending++;
    }
    if (!this.closed) flush();
  }

  private fail(error: { code: string; message: string }): void {
    if (this.closed) return;
    this.close();
    this.owner.failed(error);
  }

  /** Sends what is queued for it, stops reading, closes the descriptor; nothing is reported after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // What this socket queued goes before the descriptor closes (udp-batch.ts).
    this.batch.flushFor(this);
    try {
      this.addon.close(this.fd); // stops the poll first (poll.c)
    } catch {
      // EBADF: nothing to close
    }
    this.polling = false;
  }

  /** Whether the socket waits for datagrams on the loop (specs). */
  get reading(): boolean {
    return this.polling;
  }
}

/** The addon and the batch, where the addon has udp.c's receive side; undefined: node:dgram. */
export interface NativeUdp {
  readonly addon: UdpSocketAddon;
  readonly batch: UdpSendBatch;
}

let native: NativeUdp | null | undefined;

export function sharedNativeUdp(): NativeUdp | undefined {
  if (native === undefined) {
    native = null;
    const batch = sharedUdpBatch();
    if (batch !== undefined) {
      try {
        const addon = loadTunAddon() as unknown as Partial<UdpSocketAddon>;
        if (typeof addon.recvDatagrams === "function" && typeof addon.udpConnect === "function" && typeof addon.poll === "function") {
          native = { addon: addon as UdpSocketAddon, batch };
        }
      } catch {
        // no addon: node:dgram
      }
    }
  }
  return native ?? undefined;
}
