import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { IsnGenerator, SipHash24, fourTupleWords } from "../../lib/tcp/isn.js";
import { seqSub } from "../../lib/tcp/seq.js";

/**
 * SipHash-2-4 reference vectors (veorq/SipHash vectors.h, vectors_sip64): key 00..0f, message
 * i bytes 00..(i-1) for i = 0..63; each output as the reference code writes it (little-endian).
 */
const VECTORS = [
  "310e0edd47db6f72",
  "fd67dc93c539f874",
  "5a4fa9d909806c0d",
  "2d7efbd796666785",
  "b7877127e09427cf",
  "8da699cd64557618",
  "cee3fe586e46c9cb",
  "37d1018bf50002ab",
  "6224939a79f5f593",
  "b0e4a90bdf82009e",
  "f3b9dd94c5bb5d7a",
  "a7ad6b22462fb3f4",
  "fbe50e86bc8f1e75",
  "903d84c02756ea14",
  "eef27a8e90ca23f7",
  "e545be4961ca29a1",
  "db9bc2577fcc2a3f",
  "9447be2cf5e99a69",
  "9cd38d96f0b3c14b",
  "bd6179a71dc96dbb",
  "98eea21af25cd6be",
  "c7673b2eb0cbf2d0",
  "883ea3e395675393",
  "c8ce5ccd8c030ca8",
  "94af49f6c650adb8",
  "eab8858ade92e1bc",
  "f315bb5bb835d817",
  "adcf6b0763612e2f",
  "a5c91da7acaa4dde",
  "716595876650a2a6",
  "28ef495c53a387ad",
  "42c341d8fa92d832",
  "ce7cf2722f512771",
  "e37859f94623f3a7",
  "381205bb1ab0e012",
  "ae97a10fd434e015",
  "b4a31508beff4d31",
  "81396229f0907902",
  "4d0cf49ee5d4dcca",
  "5c73336a76d8bf9a",
  "d0a704536ba93e0e",
  "925958fcd6420cad",
  "a915c29bc8067318",
  "952b79f3bc0aa6d4",
  "f21df2e41d4535f9",
  "87577519048f53a9",
  "10a56cf5dfcd9adb",
  "eb75095ccd986cd0",
  "51a9cb9ecba312e6",
  "96afadfc2ce666c7",
  "72fe52975a4364ee",
  "5a1645b276d592a1",
  "b274cb8ebf87870a",
  "6f9bb4203de7b381",
  "eaecb2a30b22a87f",
  "9924a43cc1315724",
  "bd838d3aafbf8db7",
  "0b1a2a3265d51aea",
  "135079a3231ce660",
  "932b2846e4d70666",
  "e1915f5cb1eca46c",
  "f325965ca16d629f",
  "575ff28e60381be5",
  "724506eb4c328a95"
];

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const MESSAGE = Uint8Array.from({ length: 64 }, (_, i) => i);

function resultBytes(h: SipHash24): string {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, h.lo, true);
  view.setUint32(4, h.hi, true);
  return Buffer.from(out).toString("hex");
}

function wordsOf(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(bytes.length >> 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(4 * i, true);
  return words;
}

/** An independent SipHash-2-4 over BigInt, straight from the paper, to cross-check. */
function referenceSipHash(key: Uint8Array, msg: Uint8Array): bigint {
  const M = (1n << 64n) - 1n;
  const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M;
  const kv = new DataView(key.buffer, key.byteOffset, 16);
  const k0 = kv.getBigUint64(0, true);
  const k1 = kv.getBigUint64(8, true);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & M; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const padded = new Uint8Array((msg.length & ~7) + 8);
  padded.set(msg);
  padded[padded.length - 1] = msg.length & 0xff;
  const pv = new DataView(padded.buffer);
  for (let o = 0; o < padded.length; o += 8) {
    const m = pv.getBigUint64(o, true);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

function result64(h: SipHash24): bigint {
  return (BigInt(h.hi) << 32n) | BigInt(h.lo);
}

describe("SipHash24", () => {
  const h = new SipHash24(KEY);

  it("matches the paper's example: key 00..0f, message 00..0e -> a129ca6149be45e5", () => {
    h.hashBytes(MESSAGE, 0, 15);
    expect(h.hi).toBe(0xa129ca61);
    expect(h.lo).toBe(0x49be45e5);
  });

  it.each(VECTORS.map((v, i) => [i, v] as const))("matches reference vector %i (bytes)", (len, expected) => {
    const lo = h.hashBytes(MESSAGE, 0, len);
    expect(resultBytes(h)).toBe(expected);
    expect(lo).toBe(h.lo);
  });

  it.each(VECTORS.map((v, i) => [i, v] as const).filter(([i]) => i % 4 === 0))(
    "matches reference vector %i over little-endian words",
    (len, expected) => {
      const words = wordsOf(MESSAGE.slice(0, len));
      h.hashWords(words, words.length);
      expect(resultBytes(h)).toBe(expected);
    },
  );

  it("hashes a range at an offset like the same bytes at 0", () => {
    const shifted = new Uint8Array(40);
    shifted.set(MESSAGE.subarray(0, 30), 7);
    h.hashBytes(shifted, 7, 30);
    expect(resultBytes(h)).toBe(VECTORS[30]);
  });

  it("hashes only the first `count` words", () => {
    const words = wordsOf(MESSAGE.slice(0, 32));
    h.hashWords(words, 3);
    expect(resultBytes(h)).toBe(VECTORS[12]);
  });

  it("agrees with an independent BigInt implementation for random keys and messages", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 80 }), (key, msg) => {
        const s = new SipHash24(key);
        s.hashBytes(msg, 0, msg.length);
        expect(result64(s)).toBe(referenceSipHash(key, msg));
        if (msg.length % 4 === 0) {
          s.hashWords(wordsOf(msg), msg.length / 4);
          expect(result64(s)).toBe(referenceSipHash(key, msg));
        }
      }),
    );
  });

  it("rejects keys that are not 16 bytes and ranges outside the input", () => {
    expect(() => new SipHash24(new Uint8Array(15))).toThrow(InvalidArgumentError);
    expect(() => h.hashBytes(MESSAGE, 60, 8)).toThrow(InvalidArgumentError);
    expect(() => h.hashWords(new Uint32Array(2), 3)).toThrow(InvalidArgumentError);
  });
});

describe("fourTupleWords", () => {
  it("packs IPv4 addresses big-endian, then the ports", () => {
    const out = new Uint32Array(9);
    const local = Uint8Array.of(10, 0, 0, 1);
    const remote = Uint8Array.of(0, 0, 192, 168, 1, 2);
    expect(fourTupleWords(out, local, 0, remote, 2, 4, 80, 40000)).toBe(3);
    expect(Array.from(out.subarray(0, 3))).toEqual([0x0a000001, 0xc0a80102, ((80 << 16) | 40000) >>> 0]);
  });

  it("packs IPv6 addresses as four words each", () => {
    const out = new Uint32Array(9);
    const local = Uint8Array.from({ length: 16 }, (_, i) => i);
    const remote = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + i);
    expect(fourTupleWords(out, local, 0, remote, 0, 16, 443, 1)).toBe(9);
    expect(out[0]).toBe(0x00010203);
    expect(out[3]).toBe(0x0c0d0e0f);
    expect(out[4]).toBe(0xf0f1f2f3);
    expect(out[8]).toBe(((443 << 16) | 1) >>> 0);
  });

  it("rejects a bad address length or a short output", () => {
    const a = new Uint8Array(16);
    expect(() => fourTupleWords(new Uint32Array(9), a, 0, a, 0, 8 as 4, 1, 2)).toThrow(InvalidArgumentError);
    expect(() => fourTupleWords(new Uint32Array(8), a, 0, a, 0, 16, 1, 2)).toThrow(InvalidArgumentError);
    expect(() => fourTupleWords(new Uint32Array(9), a, 14, a, 0, 4, 1, 2)).toThrow(InvalidArgumentError);
  });
});

describe("IsnGenerator (RFC 6528)", () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 ^ i);
  const tuple = Uint32Array.of(0x0a000001, 0x0a000002, ((80 << 16) | 40000) >>> 0);

  it("is M + F: F is the keyed hash of the tuple, M the clock in 4-microsecond ticks", () => {
    const gen = new IsnGenerator(key);
    const f = new SipHash24(key).hashWords(tuple, 3);
    expect(gen.isn(0, tuple, 3)).toBe(f);
    expect(gen.isn(1, tuple, 3)).toBe((f + 250) >>> 0);
    expect(gen.isn(0.004, tuple, 3)).toBe((f + 1) >>> 0);
    expect(seqSub(gen.isn(10_000, tuple, 3), gen.isn(0, tuple, 3))).toBe(2_500_000);
  });

  it("wraps M modulo 2**32 (the 4-microsecond clock wraps every ~4.77 hours)", () => {
    const gen = new IsnGenerator(key);
    const wrapMs = 0x1_0000_0000 / 250;
    expect(gen.isn(wrapMs, tuple, 3)).toBe(gen.isn(0, tuple, 3));
    expect(gen.isn(wrapMs + 2, tuple, 3)).toBe(gen.isn(2, tuple, 3));
  });

  it("is deterministic for a given key and differs between keys", () => {
    expect(new IsnGenerator(key).isn(123, tuple, 3)).toBe(new IsnGenerator(key).isn(123, tuple, 3));
    const other = key.slice();
    other[0]! ^= 1;
    expect(new IsnGenerator(other).isn(123, tuple, 3)).not.toBe(new IsnGenerator(key).isn(123, tuple, 3));
    // Random keys by default.
    expect(new IsnGenerator().isn(0, tuple, 3)).not.toBe(new IsnGenerator().isn(0, tuple, 3));
  });

  it("gives different ISNs to tuples differing in any one field", () => {
    const gen = new IsnGenerator(key);
    const isns = new Set<number>();
    const w = new Uint32Array(3);
    let n = 0;
    for (let port = 1024; port < 1524; port++) {
      w.set([0x0a000001, 0x0a000002, ((80 << 16) | port) >>> 0]);
      isns.add(gen.isn(5000, w, 3));
      n++;
    }
    for (let host = 1; host < 500; host++) {
      w.set([0x0a000001, 0x0a000000 + host + 2, ((80 << 16) | 40000) >>> 0]);
      isns.add(gen.isn(5000, w, 3));
      n++;
    }
    expect(isns.size).toBe(n);
  });

  it("hashes only the first `count` words (IPv4 tuples inside an IPv6-sized array)", () => {
    const gen = new IsnGenerator(key);
    const big = new Uint32Array(9);
    big.set(tuple);
    big[5] = 0xdeadbeef;
    expect(gen.isn(7, big, 3)).toBe(gen.isn(7, tuple, 3));
  });

  it("gives timestamp offsets that are stable per tuple, differ between tuples and from F", () => {
    const gen = new IsnGenerator(key);
    const other = Uint32Array.of(0x0a000001, 0x0a000002, ((80 << 16) | 40001) >>> 0);
    expect(gen.tsOffset(tuple, 3)).toBe(gen.tsOffset(tuple, 3));
    expect(gen.tsOffset(tuple, 3)).not.toBe(gen.tsOffset(other, 3));
    expect(gen.tsOffset(tuple, 3)).not.toBe(gen.isn(0, tuple, 3));
    expect(Number.isInteger(gen.tsOffset(tuple, 3)) && gen.tsOffset(tuple, 3) >= 0).toBe(true);
  });

  it("exports the keyed hash for reuse (SYN cookies)", () => {
    const gen = new IsnGenerator(key);
    expect(gen.keyedHash.hashWords(tuple, 3)).toBe(new SipHash24(key).hashWords(tuple, 3));
  });
});
