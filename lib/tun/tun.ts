/**
 * A Linux TUN device (IFF_TUN | IFF_NO_PI: one IP packet per read or write) through the native
 * addon built from tun.c. Importing this module never throws: when the addon is missing, only
 * openTun (and loadTunAddon) throw, with a TunError that says how to build it.
 *
 * Packet I/O is batched and allocation-free: readBatch fills consecutive slots of a pool the
 * caller owns, writeBatch writes a queue of packets out of a pool. Readiness comes from the libuv
 * loop (a uv_poll_t on the fd), so a device costs no thread and no busy polling.
 *
 * Offloads (`openTun({ offload: true })`): the device is opened with IFF_VNET_HDR, so every packet
 * read and written starts with a 12-byte virtio-net header (lib/wire/virtio-net.ts), and TUNSETOFFLOAD
 * asks the kernel for checksum offload and TCP/UDP segmentation offload (TSO, USO): it may then hand
 * us packets whose L4 checksum is left to us and super-packets of up to 64 KiB, and take ours the
 * same way. What the kernel refuses is dropped from the request one feature at a time; `offloads`
 * says what is on. The kernel's queue of packets for us (txqueuelen, 500 by default) is raised to
 * DEFAULT_TX_QUEUE_LENGTH unless asked otherwise.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { getSystemErrorName } from "node:util";
import { L3L4Error } from "../errors.js";

export const ADDON_FILE = "l3l4_tun.node";

/** The environment variable that names the addon file, ahead of the built-in places. */
export const ADDON_PATH_ENV = "L3L4_TUN_ADDON";

/** Linux IFNAMSIZ: an interface name is at most IFNAMSIZ - 1 = 15 bytes. */
export const IFNAMSIZ = 16;

/**
 * Room kept in every packet slot beyond the MTU for a virtio-net header (struct virtio_net_hdr_v1:
 * 12 bytes), which a device opened with offloads puts before every packet.
 */
export const VNET_HEADER_ROOM = 12;

/**
 * The txqueuelen openTun sets: the kernel queues this many packets for us before it drops. Linux's
 * default for TUN (500) is less than the windows of a few fast flows add up to (1500-byte packets).
 */
export const DEFAULT_TX_QUEUE_LENGTH = 4096;

/** The largest packet a device with segmentation offload may hand us: 64 KiB (Linux's gso_max_size) of IP. */
export const MAX_OFFLOAD_PACKET = 65535;

/** Offloads, as TUNSETOFFLOAD names them (TUN_F_*). */
export type TunOffload = "csum" | "tso4" | "tso6" | "tso-ecn" | "uso4" | "uso6";

/** Every offload the runner handles, most wanted first. */
export const ALL_OFFLOADS: readonly TunOffload[] = ["csum", "tso4", "tso6", "tso-ecn", "uso4", "uso6"];

/** IPv4's minimum MTU (RFC 791: every host takes 68-byte datagrams) up to the largest IP packet. */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;

/** Bits of the poll callback's `events`. */
export const PollEvent = {
  readable: 1,
  writable: 2,
} as const;

/** Flags of the raw addon's open(); ours, mapped to IFF_* in tun.c. */
export const TunOpenFlag = {
  /** IFF_MULTI_QUEUE: the device takes one fd per queue. */
  multiQueue: 1,
  /** IFF_VNET_HDR: a virtio-net header before each packet (offloads). */
  vnetHeader: 2,
} as const;

/** The raw addon, as tun.c exports it. Errors carry `code` = errno name ("ENOENT"). */
export interface TunAddon {
  open(name: string, flags: number): { fd: number; name: string };
  setUp(name: string): void;
  setMtu(name: string, mtu: number): void;
  getMtu(name: string): number;
  readBatch(fd: number, pool: Uint8Array, slotSize: number, maxCount: number, lengths: Int32Array): number;
  writeBatch(
    fd: number,
    pool: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    errors?: Int32Array,
  ): number;
  setOffload(fd: number, flags: number): void;
  getTxQueueLen(name: string): number;
  setTxQueueLen(name: string, length: number): void;
  readonly offloadFlags: Readonly<Record<"CSUM" | "TSO4" | "TSO6" | "TSO_ECN" | "USO4" | "USO6", number>>;
  poll(fd: number, callback: (events: number, error?: string) => void, ref?: boolean): void;
  pollWritable(fd: number, on: boolean): void;
  setRef(fd: number, on: boolean): void;
  close(fd: number): void;
  readonly IFNAMSIZ: number;
}

/** The errno name of a failure ("ENOENT", "EPERM", ...), or "EADDON" when the addon cannot be loaded. */
export type TunErrno = string;

const HINTS: Readonly<Record<string, string>> = {
  EADDON:
    "build the addon: `npx node-gyp rebuild -C lib/tun` (needs python3, make, a C compiler and Node's headers), " +
    `or name the file in ${ADDON_PATH_ENV}`,
  ENOENT: "/dev/net/tun is missing: load the module (`modprobe tun`), or pass the device into the container",
  ENODEV: "the tun driver is not available: `modprobe tun`",
  ENXIO: "the tun driver is not available: `modprobe tun`",
  EPERM: "run as root or grant CAP_NET_ADMIN (e.g. `setcap cap_net_admin+ep $(command -v node)`)",
  EACCES: "run as root or grant CAP_NET_ADMIN, and check the permissions of /dev/net/tun",
  EBUSY:
    "another process holds this device (a single-queue TUN takes one fd): close it, or choose another name",
  EINVAL:
    "check the name (at most 15 bytes; no '/', ':' or white space) and the MTU, and that an existing " +
    "device of that name is a TUN (not TAP) device with the same multi-queue setting",
  ENOTSUP: "this option is not implemented yet",
  EBADF: "the device is closed",
  EBADFD: "the device is gone (deleted, or its network namespace was removed)",
  EIO: "the device is down or gone",
};

const GENERIC_HINT = "see errno(3) and Documentation/networking/tuntap.rst in the Linux tree";

export function tunHint(errno: TunErrno): string {
  return HINTS[errno] ?? GENERIC_HINT;
}

/** Opening or using a TUN device failed; `errno` names why and `hint` says what to do. */
export class TunError extends L3L4Error {
  readonly errno: TunErrno;
  readonly hint: string;
  readonly syscall: string | undefined;

  constructor(errno: TunErrno, message: string, options: { syscall?: string; cause?: unknown } = {}) {
    const hint = tunHint(errno);
    super("ERR_TUN", `${message} [${errno}] (hint: ${hint})`);
    this.errno = errno;
    this.hint = hint;
    this.syscall = options.syscall;
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

interface SystemErrorLike {
  code?: unknown;
  syscall?: unknown;
  message?: unknown;
}

/** The addon throws Errors whose code is an errno name: those become TunErrors; anything else is rethrown. */
function toTunError(error: unknown, context: string): unknown {
  if (error instanceof TunError) return error;
  const e = error as SystemErrorLike | null;
  if (e !== null && typeof e === "object" && typeof e.code === "string" && /^E[A-Z0-9]+$/.test(e.code)) {
    const syscall = typeof e.syscall === "string" ? e.syscall : undefined;
    return new TunError(e.code, `${context}: ${String(e.message)}`, { syscall, cause: error });
  }
  return error;
}

// ---------------------------------------------------------------------------------------------
// Loading the addon

const here = dirname(fileURLToPath(import.meta.url));
const requireAddon = createRequire(import.meta.url);
const loaded = new Map<string, TunAddon>();

/**
 * Where the addon may be, in order: $L3L4_TUN_ADDON; next to this module (lib/tun/build); and
 * lib/tun/build under each directory up to the package root (this module may run as
 * dist/lib/tun/tun.js after tsc).
 */
export function tunAddonCandidates(): string[] {
  const candidates: string[] = [];
  const fromEnv = process.env[ADDON_PATH_ENV];
  if (fromEnv !== undefined && fromEnv !== "") candidates.push(fromEnv);
  for (const config of ["Release", "Debug"]) candidates.push(join(here, "build", config, ADDON_FILE));
  let dir = here;
  for (let depth = 0; depth < 6; depth++) {
    for (const config of ["Release", "Debug"]) {
      const candidate = join(dir, "lib", "tun", "build", config, ADDON_FILE);
      if (!candidates.includes(candidate)) candidates.push(candidate);
    }
    if (existsSync(join(dir, "package.json"))) break;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return candidates;
}

/**
 * Loads the addon (once per path): from `path` if given, else from the first candidate that exists.
 * Throws a TunError with errno "EADDON" when it cannot.
 */
export function loadTunAddon(path?: string): TunAddon {
  const file = path ?? tunAddonCandidates().find((candidate) => existsSync(candidate));
  if (file === undefined) {
    throw new TunError("EADDON", `the TUN addon ${ADDON_FILE} is not built (looked in ${tunAddonCandidates().join(", ")})`);
  }
  const cached = loaded.get(file);
  if (cached !== undefined) return cached;
  let addon: TunAddon;
  try {
    addon = requireAddon(file) as TunAddon;
  } catch (cause) {
    throw new TunError("EADDON", `cannot load the TUN addon ${file}: ${(cause as Error).message}`, { cause });
  }
  if (typeof addon.open !== "function" || typeof addon.readBatch !== "function") {
    throw new TunError("EADDON", `${file} is not the l3l4 TUN addon (this platform may not be Linux)`);
  }
  loaded.set(file, addon);
  return addon;
}

/** Whether the addon can be loaded here (for tests and examples that need a real device). */
export function tunAddonAvailable(path?: string): boolean {
  try {
    loadTunAddon(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The device

export interface OpenTunOptions {
  /** Interface name (at most 15 bytes); an existing TUN device of that name is attached. Default "": the kernel picks tunN. */
  name?: string;
  /** Sets the MTU; default: keep the device's (1500 for a new device). */
  mtu?: number;
  /** Bring the link up (IFF_UP). Default true. */
  up?: boolean;
  /** IFF_MULTI_QUEUE: open one queue of a multi-queue device. Default false. */
  multiQueue?: boolean;
  /** false: polling the device does not keep the Node process alive. Default true. */
  ref?: boolean;
  /**
   * IFF_VNET_HDR and TUNSETOFFLOAD: true asks for every offload in ALL_OFFLOADS, a list for those;
   * what the kernel refuses is left out (see TunDevice.offloads). Default false: no header, no offload.
   */
  offload?: boolean | readonly TunOffload[];
  /** The device's txqueuelen; default DEFAULT_TX_QUEUE_LENGTH; 0 keeps what the device has. */
  txQueueLength?: number;
  /** The addon file to load instead of searching for it. */
  addonPath?: string;
}

/** Checks a name as the kernel does (net/core/dev.c dev_valid_name); throws TunError EINVAL. */
export function checkInterfaceName(name: string): void {
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes >= IFNAMSIZ) {
    throw new TunError(
      "EINVAL",
      `interface name ${JSON.stringify(name)} is ${bytes} bytes; Linux allows at most ${IFNAMSIZ - 1} (IFNAMSIZ - 1)`,
    );
  }
  if (name === "." || name === ".." || /[/:\s]/.test(name)) {
    throw new TunError("EINVAL", `interface name ${JSON.stringify(name)} is not valid: no '/', ':' or white space, not '.' or '..'`);
  }
}

type ReadableHandler = () => void;
type WritableHandler = () => void;
type ErrorHandler = (error: TunError) => void;

/** An open TUN device. Methods throw TunError on system errors (EBADF after close, ...). */
export class TunDevice {
  readonly name: string;
  readonly fd: number;
  readonly mtu: number;
  /** Opened with IFF_VNET_HDR: every packet read or written starts with a VNET_HEADER_ROOM-byte header. */
  readonly vnetHeader: boolean;
  /** The offloads the kernel took (TUNSETOFFLOAD), [] without. */
  readonly offloads: readonly TunOffload[];
  /** The device's txqueuelen when it was opened. */
  readonly txQueueLength: number;
  /** Packets writeBatch dropped for errors other than EAGAIN (EINVAL: malformed; EIO: link down). */
  get writeErrors(): number {
    return this.errorCounts[0]!;
  }
  /** The errno name of the last such error, if any. */
  get lastWriteError(): TunErrno | undefined {
    const errno = this.errorCounts[1]!;
    return errno === 0 ? undefined : getSystemErrorName(-errno);
  }

  private readonly addon: TunAddon;
  private readonly errorCounts = new Int32Array(2);
  private readonly ref: boolean;
  private polling = false;
  private closed = false;
  private readableHandler: ReadableHandler | undefined;
  private writableHandler: WritableHandler | undefined;
  private errorHandler: ErrorHandler | undefined;

  /** Use openTun. */
  constructor(
    addon: TunAddon,
    fd: number,
    name: string,
    mtu: number,
    ref: boolean,
    offload: { vnetHeader: boolean; offloads: readonly TunOffload[]; txQueueLength: number } = { vnetHeader: false, offloads: [], txQueueLength: 0 },
  ) {
    this.addon = addon;
    this.fd = fd;
    this.name = name;
    this.mtu = mtu;
    this.ref = ref;
    this.vnetHeader = offload.vnetHeader;
    this.offloads = offload.offloads;
    this.txQueueLength = offload.txQueueLength;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Reads every packet that is ready, up to maxCount, into pool[i * slotSize ..]; lengths[i] is
   * packet i's length. Returns the count (0: none ready).
   */
  readBatch(pool: Uint8Array, slotSize: number, maxCount: number, lengths: Int32Array): number {
    try {
      return this.addon.readBatch(this.fd, pool, slotSize, maxCount, lengths);
    } catch (error) {
      throw toTunError(error, `read from ${this.name}`);
    }
  }

  /**
   * Writes packets i in [0, count): pool[offsets[i] .. offsets[i] + lengths[i]]. Returns how many
   * were consumed: fewer than count when the device queue is full (wait with pollWritable). A packet
   * the kernel refuses for another reason is dropped, counted in writeErrors, and consumed.
   */
  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, count: number): number {
    try {
      return this.addon.writeBatch(this.fd, pool, offsets, lengths, count, this.errorCounts);
    } catch (error) {
      throw toTunError(error, `write to ${this.name}`);
    }
  }

  /** Calls `handler` whenever packets are ready to read (starts polling the fd). */
  onReadable(handler: ReadableHandler): void {
    this.readableHandler = handler;
    this.startPolling();
  }

  /** Calls `handler` when the device can take writes again, while pollWritable(true). */
  onWritable(handler: WritableHandler): void {
    this.writableHandler = handler;
    this.startPolling();
  }

  /** Errors of the poll itself; without a handler they are thrown (to 'uncaughtException'). */
  onError(handler: ErrorHandler): void {
    this.errorHandler = handler;
  }

  /** Also wait for writability (a blocked write queue), or stop waiting for it. */
  pollWritable(on: boolean): void {
    if (this.closed) return;
    this.startPolling();
    this.addon.pollWritable(this.fd, on);
  }

  /** false: polling does not keep the process alive (as timer.unref()). */
  setRef(on: boolean): void {
    if (this.closed || !this.polling) return;
    this.addon.setRef(this.fd, on);
  }

  /** Stops polling and closes the fd; a device this fd created goes away with it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readableHandler = undefined;
    this.writableHandler = undefined;
    try {
      this.addon.close(this.fd);
    } catch (error) {
      throw toTunError(error, `close ${this.name}`);
    }
  }

  private startPolling(): void {
    if (this.polling || this.closed) return;
    try {
      this.addon.poll(this.fd, this.dispatch, this.ref);
    } catch (error) {
      throw toTunError(error, `poll ${this.name}`);
    }
    this.polling = true;
  }

  private readonly dispatch = (events: number, error?: string): void => {
    if (error !== undefined) {
      const tunError = new TunError(error, `poll ${this.name} failed`, { syscall: "epoll_wait" });
      if (this.errorHandler === undefined) throw tunError;
      this.errorHandler(tunError);
      return;
    }
    // Writes first: flushing the blocked queue before reading more that would add to it.
    if ((events & PollEvent.writable) !== 0) this.writableHandler?.();
    if ((events & PollEvent.readable) !== 0 && !this.closed) this.readableHandler?.();
  };
}

/**
 * Opens (creates, or attaches to) TUN device `name`, sets its MTU and brings it up. The fd is
 * non-blocking and close-on-exec. Throws TunError: EADDON (addon not built), ENOENT (no
 * /dev/net/tun), EPERM/EACCES (no CAP_NET_ADMIN), EBUSY (held by another fd), EINVAL (bad name, MTU).
 */
export function openTun(options: OpenTunOptions = {}): TunDevice {
  const name = options.name ?? "";
  checkInterfaceName(name);
  const mtu = options.mtu;
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= MIN_MTU && mtu <= MAX_MTU)) {
    throw new TunError("EINVAL", `MTU ${mtu} is not an integer in [${MIN_MTU}, ${MAX_MTU}]`);
  }
  const txQueueLength = options.txQueueLength ?? DEFAULT_TX_QUEUE_LENGTH;
  if (!Number.isInteger(txQueueLength) || txQueueLength < 0 || txQueueLength > 0x7fff_ffff) {
    throw new TunError("EINVAL", `txqueuelen ${txQueueLength} is not an integer >= 0`);
  }
  const wanted = options.offload === true ? ALL_OFFLOADS : options.offload === false || options.offload === undefined ? [] : options.offload;
  for (const offload of wanted) {
    if (!ALL_OFFLOADS.includes(offload)) throw new TunError("EINVAL", `unknown offload ${JSON.stringify(offload)} (known: ${ALL_OFFLOADS.join(", ")})`);
  }
  const vnetHeader = options.offload !== undefined && options.offload !== false;
  const addon = loadTunAddon(options.addonPath);
  const flags = (options.multiQueue === true ? TunOpenFlag.multiQueue : 0) | (vnetHeader ? TunOpenFlag.vnetHeader : 0);

  let opened: { fd: number; name: string };
  try {
    opened = addon.open(name, flags);
  } catch (error) {
    throw toTunError(error, `open TUN device ${JSON.stringify(name)}`);
  }
  try {
    const offloads = vnetHeader ? negotiateOffloads(addon, opened.fd, wanted) : [];
    if (mtu !== undefined) addon.setMtu(opened.name, mtu);
    if (txQueueLength > 0) addon.setTxQueueLen(opened.name, txQueueLength);
    if (options.up !== false) addon.setUp(opened.name);
    const actualMtu = addon.getMtu(opened.name);
    const queue = addon.getTxQueueLen(opened.name);
    return new TunDevice(addon, opened.fd, opened.name, actualMtu, options.ref !== false, { vnetHeader, offloads, txQueueLength: queue });
  } catch (error) {
    addon.close(opened.fd);
    throw toTunError(error, `set up TUN device ${opened.name}`);
  }
}

const OFFLOAD_BITS: Readonly<Record<TunOffload, "CSUM" | "TSO4" | "TSO6" | "TSO_ECN" | "USO4" | "USO6">> = {
  csum: "CSUM",
  tso4: "TSO4",
  tso6: "TSO6",
  "tso-ecn": "TSO_ECN",
  uso4: "USO4",
  uso6: "USO6",
};

/**
 * TUNSETOFFLOAD with `wanted`, then, while the kernel says EINVAL (a bit it does not know, such as
 * USO before Linux 6.2), without the last feature asked for. Segmentation offloads need checksum
 * offload (the kernel ignores them without it): they are only asked for with "csum". Returns what
 * was taken.
 */
function negotiateOffloads(addon: TunAddon, fd: number, wanted: readonly TunOffload[]): TunOffload[] {
  let asked = wanted.includes("csum") ? ALL_OFFLOADS.filter((o) => wanted.includes(o)) : [];
  for (;;) {
    const bits = asked.reduce((sum, o) => sum | addon.offloadFlags[OFFLOAD_BITS[o]], 0);
    try {
      addon.setOffload(fd, bits);
      return asked;
    } catch (error) {
      if ((error as { code?: unknown }).code !== "EINVAL" || asked.length === 0) throw error;
      asked = asked.slice(0, -1);
    }
  }
}
