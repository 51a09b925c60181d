/**
 * The growth policy the TCP byte buffers share: memory follows the data actually held.
 *
 * An idle connection holds no buffer at all (the shared empty array). Storage is allocated on
 * demand, starts at {@link MIN_STORAGE_BYTES}, doubles as needed and never exceeds the buffer's
 * limit; the buffers give it back as soon as they hold nothing.
 */

/** The smallest storage a buffer allocates: one page, a few segments. */
export const MIN_STORAGE_BYTES = 4096;

/**
 * The storage size to move to when `needed` bytes must fit and `current` bytes are allocated:
 * `current` (at least MIN_STORAGE_BYTES) doubled until `needed` fits, capped at `limit`.
 * The caller guarantees `needed <= limit`.
 */
export function grownSize(current: number, needed: number, limit: number): number {
  let size = current < MIN_STORAGE_BYTES ? MIN_STORAGE_BYTES : current;
  while (size < needed) size *= 2;
  return size < limit ? size : limit;
}
