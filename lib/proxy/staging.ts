/**
 * Staging blocks for device -> upstream data. The engine's l4Rx view is valid only during the call,
 * and socket.write() keeps its buffer until the kernel has it, so each flow copies what it receives
 * into a block and writes the new part once per event-loop turn.
 *
 * Blocks come from one pool shared by every flow: a flow holds a block only while it has data staged
 * or writes in flight, and gives it back when both are done, so an idle flow holds none and a busy
 * one cycles through the same few blocks instead of allocating 64 KiB per 64 KiB relayed. A block is
 * back in the pool only after every write made from it has completed (`refs` counts them): a block
 * whose write never completes (its socket destroyed mid-write) is simply never reused.
 */

export const BLOCK_BYTES = 64 * 1024;
/** Free blocks kept for reuse; beyond, returned blocks are left to the garbage collector. */
export const MAX_FREE_BLOCKS = 256;

export class StagingBlock {
  readonly bytes: Buffer;
  /** Writes from this block not completed yet. */
  refs = 0;

  constructor(size: number) {
    this.bytes = Buffer.allocUnsafeSlow(size);
  }
}

export class StagingPool {
  /** Blocks made, and blocks handed out again from the free list (the pool's hit count). */
  allocated = 0;
  reused = 0;
  private readonly free: StagingBlock[] = [];
  private readonly blockBytes: number;
  private readonly maxFree: number;

  constructor(blockBytes = BLOCK_BYTES, maxFree = MAX_FREE_BLOCKS) {
    this.blockBytes = blockBytes;
    this.maxFree = maxFree;
  }

  acquire(): StagingBlock {
    const block = this.free.pop();
    if (block !== undefined) {
      this.reused++;
      return block;
    }
    this.allocated++;
    return new StagingBlock(this.blockBytes);
  }

  /** Give a block back; it must have no write in flight. */
  release(block: StagingBlock): void {
    if (block.refs !== 0) return;
    if (this.free.length < this.maxFree) this.free.push(block);
  }

  /** Blocks waiting in the free list. */
  get freeBlocks(): number {
    return this.free.length;
  }
}
