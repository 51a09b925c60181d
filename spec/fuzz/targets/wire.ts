/**
 * Fuzz target: every wire parser and describe() (spec/wire/exercise.ts) over the fuzzer's bytes,
 * run twice with different bytes around the packet: no throw, only drop reasons, getters within the
 * packet, nothing read outside it.
 *
 * Input: one control byte, then the packet. Control bit 0: refresh the checksums first (so mutations
 * get past them to the layers below); bits 1-3: the packet's offset in the buffer.
 */
import { exerciseWithCanaries, refreshChecksums } from "../../wire/exercise.js";
import { FuzzFinding } from "./input.js";

const PAD = 8;
const MAX = 65_536;
const buf = new Uint8Array(PAD + MAX + 64);

export function fuzz(input: Uint8Array): void {
  if (input.length === 0) return;
  const control = input[0]!;
  const off = (control >> 1) & 7;
  const len = Math.min(input.length - 1, MAX);
  buf.set(input.subarray(1, 1 + len), off);
  if ((control & 1) !== 0) refreshChecksums(buf, off, len);
  const problem = exerciseWithCanaries(buf, off, len, (control * 37 + len) & 255);
  if (problem !== "") throw new FuzzFinding(problem);
}
