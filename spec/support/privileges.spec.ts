import { afterEach, describe, expect, it } from "vitest";
import { inCi, skipOrFailInCi } from "./privileges.js";

describe("inCi: CI set to anything but empty, 0 or false", () => {
  it.each([
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["yes", true],
    ["woodpecker", true],
    ["", false],
    ["0", false],
    ["false", false],
    ["False", false],
    [" false ", false],
  ] as const)("CI=%j: %s", (value, want) => {
    expect(inCi({ CI: value })).toBe(want);
  });

  it("CI unset: not CI", () => {
    expect(inCi({})).toBe(false);
  });
});

describe("skipOrFailInCi", () => {
  const saved = process.env.CI;
  afterEach(() => {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  });

  it("nothing missing: neither skips nor fails", () => {
    const skipped: (string | undefined)[] = [];
    process.env.CI = "1";
    skipOrFailInCi({ skip: (note) => skipped.push(note) }, undefined);
    expect(skipped).toEqual([]);
  });

  it("something missing: fails in CI (CI=1 too), skips with the reason elsewhere", () => {
    const skipped: (string | undefined)[] = [];
    process.env.CI = "1";
    expect(() => skipOrFailInCi({ skip: (note) => skipped.push(note) }, "tcpdump")).toThrow(/cannot run: tcpdump \(CI is set: not skipped\)/);
    process.env.CI = "false";
    skipOrFailInCi({ skip: (note) => skipped.push(note) }, "tcpdump");
    expect(skipped).toEqual(["skipped: tcpdump"]);
  });
});
