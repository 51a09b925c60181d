/**
 * What l4Rx delivered to a FlowSocket and the stream has not yet been pushed: the one copy of
 * received data (l4Rx's view is valid only during the call).
 *
 * The first delivery since the last push gets a Buffer of its own size; later ones fill a staging
 * Buffer sized to what came since the push (up to MAX_STAGE, as one read(2) of net's), so a busy
 * flow pushes a few large chunks per turn instead of one per segment, and at most half of any
 * Buffer is left unused. A chunk is handed out only as the bytes it holds: the staging Buffer
 * becomes its filled part before it is taken.
 */

/** Largest staging Buffer for received data (net reads at most 64 KiB at a time). */
export const MAX_STAGE = 64 * 1024;

const EMPTY = Buffer.alloc(0);

export class ReceivedChunks {
  /** The copies, from #head. */
  readonly #chunks: Buffer[] = [];
  #head = 0;
  /** The last chunk while it still has room, and how much of it is used. */
  #stage: Buffer | undefined;
  #stageUsed = 0;
  /** Bytes delivered since the last push began. */
  #sincePush = 0;

  /** Chunks wait to be pushed. */
  get waiting(): boolean {
    return this.#head < this.#chunks.length;
  }

  /** Copy a delivery in. */
  copyIn(data: Uint8Array): void {
    const n = data.length;
    this.#sincePush += n;
    const stage = this.#stage;
    if (stage !== undefined && stage.length - this.#stageUsed >= n) {
      stage.set(data, this.#stageUsed);
      this.#stageUsed += n;
      return;
    }
    this.#closeStage();
    const size = this.#sincePush === n ? n : Math.max(n, Math.min(MAX_STAGE, this.#sincePush));
    const buffer = Buffer.allocUnsafe(size);
    buffer.set(data);
    this.#chunks.push(buffer);
    if (size > n) {
      this.#stage = buffer;
      this.#stageUsed = n;
    }
  }

  /** A push begins: what comes from now on is sized afresh. */
  beginPush(): void {
    this.#sincePush = 0;
  }

  /** The next chunk to push (only while `waiting`); the queue empties itself when the last is taken. */
  take(): Buffer {
    const chunks = this.#chunks;
    if (this.#head === chunks.length - 1) this.#closeStage();
    const chunk = chunks[this.#head]!;
    chunks[this.#head++] = EMPTY;
    if (this.#head === chunks.length) {
      chunks.length = 0;
      this.#head = 0;
    }
    return chunk;
  }

  clear(): void {
    this.#chunks.length = 0;
    this.#head = 0;
    this.#stage = undefined;
    this.#stageUsed = 0;
  }

  /** The staging Buffer becomes the bytes it holds (the last chunk). */
  #closeStage(): void {
    const stage = this.#stage;
    if (stage === undefined) return;
    this.#chunks[this.#chunks.length - 1] = stage.subarray(0, this.#stageUsed);
    this.#stage = undefined;
    this.#stageUsed = 0;
  }
}
