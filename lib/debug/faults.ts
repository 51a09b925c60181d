/**
 * What a link does wrong, per direction: the knobs of the in-memory link's fault injector
 * (in the spirit of smoltcp's phy/fault_injector.rs, plus delay, rate and queue as in netem).
 *
 * A spec string lists `key=value` pairs separated by commas, e.g.
 * "loss=0.02,reorder=0.05,duplicate=0.01,corrupt=0.001,delay=5,rate=100e6".
 *
 * Keys: loss, duplicate, reorder, corrupt (probabilities), corrupt-unit (bit | byte),
 * delay, jitter, hold (ms), rate (bits/s; k/M/G suffixes allowed), queue (packets), mtu (bytes).
 * rate, queue and mtu also take "inf".
 */

import { InvalidArgumentError } from "../errors.js";

export const CorruptUnit = {
  /** Flip one random bit of the packet. */
  Bit: "bit",
  /** Replace one random byte of the packet with a different value. */
  Byte: "byte",
} as const;
export type CorruptUnit = (typeof CorruptUnit)[keyof typeof CorruptUnit];

export interface Faults {
  /** Probability that a packet is lost. */
  readonly loss: number;
  /** Probability that a packet arrives twice (the copy right after the original). */
  readonly duplicate: number;
  /** Probability that a packet is held back by `reorderMs`, so later packets overtake it. */
  readonly reorder: number;
  /** Probability that one bit (or byte, see `corruptUnit`) of a packet is changed. */
  readonly corrupt: number;
  readonly corruptUnit: CorruptUnit;
  /** One-way propagation delay, ms. */
  readonly delayMs: number;
  /** Extra delay uniform in [0, jitterMs), ms; packets not chosen for reordering stay in order. */
  readonly jitterMs: number;
  /** How long a reordered packet is held back, ms. */
  readonly reorderMs: number;
  /** Serialisation rate in bits/s; Infinity = none (packets leave at once). */
  readonly rateBitsPerSecond: number;
  /** With a finite rate: packets waiting or being serialised beyond this are tail-dropped. */
  readonly queueLimit: number;
  /** Packets longer than this (bytes) are dropped; Infinity = no limit. */
  readonly mtu: number;
}

/** Default hold for a reordered packet: long enough to be overtaken by a burst. */
export const DEFAULT_REORDER_MS = 10;
/** Default serialisation queue: a small device transmit queue, in packets. */
export const DEFAULT_QUEUE_LIMIT = 64;

export const NO_FAULTS: Faults = Object.freeze({
  loss: 0,
  duplicate: 0,
  reorder: 0,
  corrupt: 0,
  corruptUnit: CorruptUnit.Bit,
  delayMs: 0,
  jitterMs: 0,
  reorderMs: DEFAULT_REORDER_MS,
  rateBitsPerSecond: Infinity,
  queueLimit: DEFAULT_QUEUE_LIMIT,
  mtu: Infinity,
});

/** Faults as a caller gives them: a spec string, or some fields (the rest default). */
export type FaultsInput = string | Partial<Faults>;

type NumericKey = Exclude<keyof Faults, "corruptUnit">;
type Check = "probability" | "ms" | "rate" | "count";

/** Spec-string key -> field, and how its value is checked. */
const SPEC_KEYS: Readonly<Record<string, readonly [keyof Faults, Check | "unit"]>> = {
  loss: ["loss", "probability"],
  duplicate: ["duplicate", "probability"],
  reorder: ["reorder", "probability"],
  corrupt: ["corrupt", "probability"],
  "corrupt-unit": ["corruptUnit", "unit"],
  delay: ["delayMs", "ms"],
  jitter: ["jitterMs", "ms"],
  hold: ["reorderMs", "ms"],
  rate: ["rateBitsPerSecond", "rate"],
  queue: ["queueLimit", "count"],
  mtu: ["mtu", "count"],
};

const FIELD_CHECKS: Readonly<Record<NumericKey, Check>> = {
  loss: "probability",
  duplicate: "probability",
  reorder: "probability",
  corrupt: "probability",
  delayMs: "ms",
  jitterMs: "ms",
  reorderMs: "ms",
  rateBitsPerSecond: "rate",
  queueLimit: "count",
  mtu: "count",
};

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;
const SI: Readonly<Record<string, number>> = { k: 1e3, K: 1e3, M: 1e6, G: 1e9 };

function checkValue(name: string, check: Check, v: number): void {
  switch (check) {
    case "probability":
      if (!(v >= 0 && v <= 1)) throw new InvalidArgumentError(`${name} must be a probability in [0, 1]: ${v}`);
      return;
    case "ms":
      if (!(Number.isFinite(v) && v >= 0)) throw new InvalidArgumentError(`${name} must be finite ms >= 0: ${v}`);
      return;
    case "rate":
      if (!(v > 0)) throw new InvalidArgumentError(`${name} must be > 0 bits/s (Infinity = unlimited): ${v}`);
      return;
    case "count":
      if (!(v === Infinity || (Number.isInteger(v) && v >= 1))) {
        throw new InvalidArgumentError(`${name} must be an integer >= 1 (or Infinity): ${v}`);
      }
      return;
  }
}

function parseNumber(key: string, text: string, check: Check): number {
  if ((check === "rate" || check === "count") && (text === "inf" || text === "Infinity")) return Infinity;
  let body = text;
  let scale = 1;
  const last = text.slice(-1);
  if (check === "rate" && SI[last] !== undefined) {
    body = text.slice(0, -1);
    scale = SI[last];
  }
  if (!NUMBER.test(body)) throw new InvalidArgumentError(`fault "${key}" needs a number: "${text}"`);
  return Number(body) * scale;
}

function checkUnit(v: unknown): CorruptUnit {
  if (v === CorruptUnit.Bit || v === CorruptUnit.Byte) return v;
  throw new InvalidArgumentError(`corrupt unit must be "bit" or "byte": ${String(v)}`);
}

/** Parse a fault spec string into complete Faults (unnamed fields default to none). */
export function parseFaults(spec: string): Faults {
  if (typeof spec !== "string") throw new InvalidArgumentError("fault spec must be a string");
  const out: Record<string, unknown> = { ...NO_FAULTS };
  const seen = new Set<string>();
  for (const rawPart of spec.split(",")) {
    const part = rawPart.trim();
    if (part === "") {
      if (spec.trim() === "") continue;
      throw new InvalidArgumentError(`empty entry in fault spec "${spec}"`);
    }
    const eq = part.indexOf("=");
    if (eq < 0) throw new InvalidArgumentError(`fault spec entry "${part}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const entry = SPEC_KEYS[key];
    if (entry === undefined) {
      throw new InvalidArgumentError(`unknown fault "${key}" (known: ${Object.keys(SPEC_KEYS).join(", ")})`);
    }
    if (seen.has(key)) throw new InvalidArgumentError(`fault "${key}" given twice`);
    seen.add(key);
    const [field, check] = entry;
    if (check === "unit") {
      out[field] = checkUnit(value);
    } else {
      const v = parseNumber(key, value, check);
      checkValue(key, check, v);
      out[field] = v;
    }
  }
  return Object.freeze(out as unknown as Faults);
}

/** Complete, checked Faults from a spec string, some fields, or nothing (= no faults). */
export function resolveFaults(input?: FaultsInput): Faults {
  if (input === undefined) return NO_FAULTS;
  if (typeof input === "string") return parseFaults(input);
  if (typeof input !== "object" || input === null) throw new InvalidArgumentError("faults must be a string or an object");
  const out: Record<string, unknown> = { ...NO_FAULTS };
  for (const [field, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (field === "corruptUnit") {
      out[field] = checkUnit(value);
      continue;
    }
    const check = (FIELD_CHECKS as Record<string, Check | undefined>)[field];
    if (check === undefined) throw new InvalidArgumentError(`unknown fault field "${field}"`);
    if (typeof value !== "number") throw new InvalidArgumentError(`fault field "${field}" must be a number`);
    checkValue(field, check, value);
    out[field] = value;
  }
  return Object.freeze(out as unknown as Faults);
}

/** The spec string for `faults`, naming only what differs from no faults; parseFaults reads it back. */
export function formatFaults(faults: Faults): string {
  const parts: string[] = [];
  for (const [key, [field]] of Object.entries(SPEC_KEYS)) {
    const v = faults[field];
    if (v !== NO_FAULTS[field]) parts.push(`${key}=${v === Infinity ? "inf" : String(v)}`);
  }
  return parts.join(",");
}
