/**
 * What the fuzz targets share: a cursor over the fuzzer's bytes (reads past the end give zeros, so
 * every input is valid) and the error a broken invariant throws. A target throws only for a finding:
 * the fuzzer saves the input as a crash, spec/fuzz/corpus.spec.ts replays it.
 */

/** An invariant a target checks did not hold (the engine itself threw is the other kind of finding). */
export class FuzzFinding extends Error {
  override readonly name = "FuzzFinding";
}

export function check(condition: boolean, what: () => string): void {
  if (!condition) throw new FuzzFinding(what());
}

export class FuzzInput {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.at;
  }
  get done(): boolean {
    return this.at >= this.bytes.length;
  }
  u8(): number {
    return this.at < this.bytes.length ? this.bytes[this.at++]! : 0;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  /** Up to `n` bytes (fewer at the end), as a view. */
  take(n: number): Uint8Array {
    const end = Math.min(this.bytes.length, this.at + n);
    const view = this.bytes.subarray(this.at, end);
    this.at = end;
    return view;
  }
}

/** The bytes an application writes on a flow: position i holds (i * 131 + salt) & 255, so an offset error shows. */
export function streamByte(i: number, salt: number): number {
  return (Math.imul(i, 131) + salt) & 255;
}

export function makeStream(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = streamByte(i, salt);
  return b;
}
