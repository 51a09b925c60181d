/**
 * Storage for the TCP byte buffers: memory follows the data actually held, without allocating on
 * the data path.
 *
 * An idle buffer holds no storage (the shared empty array). Storage comes in power-of-two sizes:
 * at least {@link MIN_STORAGE_BYTES}, doubled as needed, at most the buffer's limit rounded up to a
 * power of two. A buffer hands its storage back as soon as it holds nothing.
 *
 * Handing back goes to a {@link StoragePool}: a bounded cache of released arrays by size, shared
 * by the buffers of an engine (or of the process, by default). Without it, a connection whose
 * application reads everything at once would free its storage after every segment and allocate it
 * again for the next; with it, the steady state allocates nothing, and the memory parked in the
 * pool is capped. Pooled arrays hold stale bytes: the buffers only ever read what they wrote.
 */

/** The smallest storage a buffer allocates (unless its limit is smaller): one page, a few segments. */
export const MIN_STORAGE_BYTES = 4096;

/** Default cap on the bytes a pool keeps: 8 MiB. */
export const DEFAULT_POOL_BYTES = 8 * 1024 * 1024;

/** Smallest power of two >= n (n in [1, 2**30]). */
function ceilPow2(n: number): number {
  return n <= 1 ? 1 : 2 ** (32 - Math.clz32(n - 1));
}

/**
 * The storage size for `needed` bytes under a buffer limit of `limit` bytes: a power of two, at
 * least MIN_STORAGE_BYTES, at least `needed`, and at most `limit` rounded up to a power of two.
 * `current` is the size held now (0 for none): growth is by doubling from it. The caller
 * guarantees `needed <= limit`.
 */
export function grownSize(current: number, needed: number, limit: number): number {
  let size = current < MIN_STORAGE_BYTES ? MIN_STORAGE_BYTES : current;
  while (size < needed) size *= 2;
  const cap = ceilPow2(limit);
  return size < cap ? size : cap;
}

/** A bounded cache of byte arrays by power-of-two size. Allocation-free while it can serve. */
export class StoragePool {
  /** The most bytes kept in the pool; arrays given back beyond it are left to the GC. */
  readonly maxPooledBytes: number;
  /** Free arrays by log2(size). */
  private readonly free: Uint8Array[][] = [];
  private pooled = 0;

  /** @param maxPooledBytes cap on the bytes kept (default 8 MiB); 0 disables pooling. */
  constructor(maxPooledBytes: number = DEFAULT_POOL_BYTES) {
    this.maxPooledBytes = maxPooledBytes > 0 ? maxPooledBytes : 0;
    for (let i = 0; i <= 31; i++) this.free.push([]);
  }

  /** Bytes currently parked in the pool. */
  get pooledBytes(): number {
    return this.pooled;
  }

  /** An array of exactly `size` bytes (a power of two), from the pool if one is there. Its contents are arbitrary. */
  take(size: number): Uint8Array {
    const list = this.free[31 - Math.clz32(size)]!;
    const buf = list.pop();
    if (buf === undefined) return new Uint8Array(size);
    this.pooled -= size;
    return buf;
  }

  /** Hands `buf` back for reuse (arrays that are not a whole power of two in size are ignored). */
  give(buf: Uint8Array): void {
    const size = buf.length;
    if (size === 0 || (size & (size - 1)) !== 0 || buf.byteOffset !== 0 || buf.buffer.byteLength !== size) return;
    if (this.pooled + size > this.maxPooledBytes) return;
    this.free[31 - Math.clz32(size)]!.push(buf);
    this.pooled += size;
  }

  /** Drops everything pooled. */
  clear(): void {
    for (const list of this.free) list.length = 0;
    this.pooled = 0;
  }
}

/** The pool buffers use unless given one: shared by every engine in the process. */
export const sharedStoragePool = new StoragePool();
