/**
 * Two engines joined on the real clock (joinEngines), a NetStack on each: the client stack "a"
 * dials from CLIENT4/CLIENT6, the server stack "b" answers any address. For the stream specs.
 */
import { afterEach } from "vitest";
import { L3L4Builder } from "../../lib/builder.js";
import { joinEngines, type EnginePair, type JoinOptions } from "../../lib/debug/engine-pair.js";
import type { L3L4 } from "../../lib/engine.js";
import { NetStack, type NetStackOptions } from "../../lib/stream/net-stack.js";
import type { FlowSocket } from "../../lib/stream/flow-socket.js";

export const CLIENT4 = "10.200.0.1";
export const SERVER4 = "10.200.0.2";
export const CLIENT6 = "fd00:200::1";
export const SERVER6 = "fd00:200::2";

export interface StreamPair {
  readonly engineA: L3L4<number>;
  readonly engineB: L3L4<number>;
  /** Client side (connects from CLIENT4 / CLIENT6 by default). */
  readonly a: NetStack;
  /** Server side. */
  readonly b: NetStack;
  readonly pair: EnginePair;
}

export interface StreamPairOptions {
  configure?: (b: L3L4Builder<number>) => L3L4Builder<number>;
  a?: NetStackOptions;
  b?: NetStackOptions;
  join?: JoinOptions;
}

const live: StreamPair[] = [];

/** Pairs made in a test are stopped after it. */
export function useStreamPairs(): (options?: StreamPairOptions) => StreamPair {
  afterEach(() => {
    for (const p of live.splice(0)) p.pair.stop();
  });
  return streamPair;
}

export function streamPair(options: StreamPairOptions = {}): StreamPair {
  const configure = options.configure ?? ((b) => b);
  const engineA = configure(new L3L4Builder<number>()).build();
  const engineB = configure(new L3L4Builder<number>()).build();
  const a = new NetStack(engineA, { localAddresses: [CLIENT4, CLIENT6], ...options.a });
  const b = new NetStack(engineB, options.b);
  const pair = joinEngines(engineA, a, engineB, b, options.join);
  const p = { engineA, engineB, a, b, pair };
  live.push(p);
  return p;
}

/** Resolves with the first value `emitter` emits for `event`; rejects on 'error' first. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onEvent = (value: T): void => {
      emitter.off("error", onError);
      resolve(value);
    };
    const onError = (error: unknown): void => {
      emitter.off(event, onEvent);
      reject(error);
    };
    emitter.once(event, onEvent);
    if (event !== "error") emitter.once("error", onError);
  });
}

/** Resolves at 'close' (never rejects: an 'error' before it is someone else's to check). Call it before the close can happen. */
export function closed(emitter: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => emitter.once("close", () => resolve()));
}

/** The next 'connection' of `stack`. */
export function nextConnection(stack: NetStack): Promise<FlowSocket> {
  return new Promise((resolve) => stack.once("connection", resolve));
}

/** Everything `socket` delivers until 'end', as one Buffer. */
export function readAll(socket: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.once("end", () => resolve(Buffer.concat(chunks)));
    socket.once("error", reject);
  });
}

/** The next error `emitter` emits. */
export function nextError(emitter: NodeJS.EventEmitter): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve) => emitter.once("error", resolve));
}

/** Resolves once `predicate()` holds, checking on each turn of the event loop (for engine state that raises no event). */
export async function eventually(predicate: () => boolean, what: string, maxTurns = 100_000): Promise<void> {
  for (let turn = 0; turn < maxTurns; turn++) {
    if (predicate()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`not reached within ${maxTurns} event-loop turns: ${what}`);
}
