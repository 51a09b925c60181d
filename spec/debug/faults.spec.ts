import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "../../lib/errors.js";
import { NO_FAULTS, formatFaults, parseFaults, resolveFaults, type Faults } from "../../lib/debug/faults.js";

describe("parseFaults", () => {
  it("reads the example spec", () => {
    const f = parseFaults("loss=0.02,reorder=0.05,duplicate=0.01,corrupt=0.001,delay=5,rate=100e6");
    expect(f).toEqual({
      ...NO_FAULTS,
      loss: 0.02,
      reorder: 0.05,
      duplicate: 0.01,
      corrupt: 0.001,
      delayMs: 5,
      rateBitsPerSecond: 100e6,
    });
  });

  it("reads every key, with spaces and SI rates", () => {
    const f = parseFaults(" loss = 1 , duplicate=0, reorder=.5,corrupt=1e-3,corrupt-unit=byte,delay=1.5,jitter=2,hold=7,rate=10M,queue=8,mtu=1280");
    expect(f).toEqual({
      loss: 1,
      duplicate: 0,
      reorder: 0.5,
      corrupt: 0.001,
      corruptUnit: "byte",
      delayMs: 1.5,
      jitterMs: 2,
      reorderMs: 7,
      rateBitsPerSecond: 10e6,
      queueLimit: 8,
      mtu: 1280,
    });
    expect(parseFaults("rate=2k").rateBitsPerSecond).toBe(2000);
    expect(parseFaults("rate=1G,queue=inf").queueLimit).toBe(Infinity);
  });

  it("treats an empty spec as no faults", () => {
    expect(parseFaults("")).toEqual(NO_FAULTS);
    expect(parseFaults("  ")).toEqual(NO_FAULTS);
  });

  it.each([
    ["loss", "not key=value"],
    ["bogus=1", "unknown key"],
    ["loss=abc", "not a number"],
    ["loss=", "empty value"],
    ["loss=1.5", "probability above 1"],
    ["loss=-0.1", "negative probability"],
    ["delay=-1", "negative delay"],
    ["delay=inf", "infinite delay"],
    ["rate=0", "zero rate"],
    ["rate=5X", "unknown suffix"],
    ["queue=0", "zero queue"],
    ["mtu=1500.5", "fractional mtu"],
    ["loss=0.1,loss=0.2", "a key twice"],
    ["loss=0.1,,delay=1", "an empty entry"],
    ["corrupt-unit=word", "unknown unit"],
    ["loss=0x10", "hex"],
  ])("rejects %j (%s) with InvalidArgumentError", (spec) => {
    expect(() => parseFaults(spec)).toThrow(InvalidArgumentError);
    try {
      parseFaults(spec);
    } catch (e) {
      expect((e as InvalidArgumentError).code).toBe("ERR_INVALID_ARGUMENT");
    }
  });
});

describe("resolveFaults", () => {
  it("fills defaults and checks fields", () => {
    expect(resolveFaults(undefined)).toBe(NO_FAULTS);
    expect(resolveFaults({ loss: 0.5 })).toEqual({ ...NO_FAULTS, loss: 0.5 });
    expect(resolveFaults({ mtu: Infinity, rateBitsPerSecond: Infinity })).toEqual(NO_FAULTS);
    expect(() => resolveFaults({ loss: 2 })).toThrow(InvalidArgumentError);
    expect(() => resolveFaults({ lose: 0.1 } as unknown as Partial<Faults>)).toThrow(InvalidArgumentError);
    expect(() => resolveFaults({ loss: "0.1" } as unknown as Partial<Faults>)).toThrow(InvalidArgumentError);
    expect(() => resolveFaults({ corruptUnit: "nibble" } as unknown as Partial<Faults>)).toThrow(InvalidArgumentError);
  });
});

describe("formatFaults", () => {
  it("round-trips through parseFaults", () => {
    const faults = fc.record({
      loss: fc.double({ min: 0, max: 1, noNaN: true }),
      duplicate: fc.double({ min: 0, max: 1, noNaN: true }),
      reorder: fc.double({ min: 0, max: 1, noNaN: true }),
      corrupt: fc.double({ min: 0, max: 1, noNaN: true }),
      corruptUnit: fc.constantFrom("bit" as const, "byte" as const),
      delayMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
      jitterMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
      reorderMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
      rateBitsPerSecond: fc.oneof(fc.constant(Infinity), fc.double({ min: 1, max: 1e12, noNaN: true })),
      queueLimit: fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 1e6 })),
      mtu: fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 65535 })),
    });
    fc.assert(
      fc.property(faults, (f) => {
        expect(parseFaults(formatFaults(f))).toEqual(f);
      }),
    );
  });

  it("writes nothing for no faults", () => {
    expect(formatFaults(NO_FAULTS)).toBe("");
    expect(formatFaults(parseFaults("delay=5,loss=0.1"))).toBe("loss=0.1,delay=5");
  });
});
