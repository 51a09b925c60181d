import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { DUP_THRESH, NextSegRule, SackScoreboard } from "../../lib/tcp/sack-scoreboard.js";
import { seq, seqAdd } from "../../lib/tcp/seq.js";
import type { Seq } from "../../lib/tcp/seq.js";

const SMSS = 1000;

/** Sequence numbers relative to a base, so every scenario also runs across the 2**32 wrap. */
function at(base: number) {
  return (offset: number): Seq => seqAdd(seq(base), offset);
}

function blocks(...edges: number[]): Uint32Array {
  return Uint32Array.from(edges.map((e) => e >>> 0));
}

function rangesOf(sb: SackScoreboard, base: Seq): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < sb.rangeCount; i++) {
    out.push([(sb.rangeLeft(i) - base) >>> 0, (sb.rangeRight(i) - base) >>> 0]);
  }
  return out;
}

describe.each([
  ["low sequence numbers", 0],
  ["across the 2**32 wrap", 0xffff_ffff - 4500],
])("SackScoreboard (RFC 6675), %s", (_name, base) => {
  const s = at(base);
  const una = s(0);

  it("records, merges and sorts SACK blocks, returning the bytes newly SACKed", () => {
    const sb = new SackScoreboard();
    expect(sb.update(una, s(10_000), blocks(s(5000), s(6000)), 1)).toBe(1000);
    expect(sb.update(una, s(10_000), blocks(s(2000), s(3000), s(5000), s(6000)), 2)).toBe(1000);
    expect(rangesOf(sb, una)).toEqual([
      [2000, 3000],
      [5000, 6000],
    ]);
    // Adjacent and overlapping blocks merge.
    expect(sb.update(una, s(10_000), blocks(s(3000), s(4000), s(5500), s(7000)), 2)).toBe(2000);
    expect(rangesOf(sb, una)).toEqual([
      [2000, 4000],
      [5000, 7000],
    ]);
    // One block bridging both.
    expect(sb.update(una, s(10_000), blocks(s(1500), s(8000)), 1)).toBe(2500);
    expect(rangesOf(sb, una)).toEqual([[1500, 8000]]);
    expect(sb.sackedBytes).toBe(6500);
    expect(sb.highestSacked).toBe(s(8000));
    // Nothing new.
    expect(sb.update(una, s(10_000), blocks(s(2000), s(3000)), 1)).toBe(0);
  });

  it("ignores invalid blocks (RFC 2018, RFC 6675 §5): empty, inverted, at or below SND.UNA, beyond SND.NXT", () => {
    const sb = new SackScoreboard();
    const bad = blocks(s(3000), s(3000), s(4000), s(3000), s(-2000), s(0), s(9000), s(10_001), s(20_000), s(30_000));
    expect(sb.update(una, s(10_000), bad, 5)).toBe(0);
    expect(sb.rangeCount).toBe(0);
    // A block straddling SND.UNA counts from SND.UNA.
    expect(sb.update(s(1000), s(10_000), blocks(s(500), s(2000)), 1)).toBe(1000);
    expect(rangesOf(sb, una)).toEqual([[1000, 2000]]);
  });

  it("discards what SND.UNA covers", () => {
    const sb = new SackScoreboard();
    sb.update(una, s(10_000), blocks(s(1000), s(2000), s(3000), s(5000)), 2);
    sb.advance(s(1500));
    expect(rangesOf(sb, una)).toEqual([
      [1500, 2000],
      [3000, 5000],
    ]);
    expect(sb.sackedBytes).toBe(2500);
    sb.advance(s(4000));
    expect(rangesOf(sb, una)).toEqual([[4000, 5000]]);
    sb.update(s(6000), s(10_000), blocks(), 0);
    expect(sb.rangeCount).toBe(0);
    expect(sb.sackedBytes).toBe(0);
    expect(sb.highestSacked).toBe(s(6000));
  });

  it("answers isSacked per octet", () => {
    const sb = new SackScoreboard();
    sb.update(una, s(10_000), blocks(s(1000), s(2000)), 1);
    expect(sb.isSacked(s(999))).toBe(false);
    expect(sb.isSacked(s(1000))).toBe(true);
    expect(sb.isSacked(s(1999))).toBe(true);
    expect(sb.isSacked(s(2000))).toBe(false);
  });

  it("IsLost: DupThresh discontiguous SACKed ranges above, or more than (DupThresh-1)*SMSS bytes (§4)", () => {
    // Segments of 1000 bytes: 1, 3, 5 SACKed (three islands).
    const islands = new SackScoreboard();
    islands.update(una, s(8000), blocks(s(1000), s(2000), s(3000), s(4000), s(5000), s(6000)), 3);
    expect(islands.isLost(s(0), DUP_THRESH, SMSS)).toBe(true);
    expect(islands.isLost(s(999), DUP_THRESH, SMSS)).toBe(true);
    expect(islands.isLost(s(2000), DUP_THRESH, SMSS)).toBe(false); // 2 islands, 2000 bytes above
    expect(islands.isLost(s(1000), DUP_THRESH, SMSS)).toBe(false); // SACKed
    expect(islands.isLost(s(7000), DUP_THRESH, SMSS)).toBe(false);
    // Three consecutive segments SACKed: one range, 3000 bytes > 2 * SMSS.
    const run = new SackScoreboard();
    run.update(una, s(8000), blocks(s(1000), s(4000)), 1);
    expect(run.isLost(s(0), DUP_THRESH, SMSS)).toBe(true);
    // Two: exactly 2 * SMSS, not more.
    const two = new SackScoreboard();
    two.update(una, s(8000), blocks(s(1000), s(3000)), 1);
    expect(two.isLost(s(0), DUP_THRESH, SMSS)).toBe(false);
    // Below SND.UNA is never lost.
    expect(run.isLost(s(-1), DUP_THRESH, SMSS)).toBe(false);
  });

  it("SetPipe: unSACKed octets not lost, plus those retransmitted (§4)", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    expect(sb.pipe(una, sndNxt, DUP_THRESH, SMSS)).toBe(10_000); // nothing SACKed: the flight
    // Segments 0 and 1 lost, 2-4 SACKed, 5-9 in flight.
    sb.update(una, sndNxt, blocks(s(2000), s(5000)), 1);
    expect(sb.pipe(una, sndNxt, DUP_THRESH, SMSS)).toBe(5000);
    // Fast retransmit of segment 0 (§5 step 4.3): it is in flight again.
    sb.enterRecovery(una, sndNxt, SMSS);
    expect(sb.highRxt).toBe(s(1000));
    expect(sb.recoveryPoint).toBe(sndNxt);
    expect(sb.pipe(una, sndNxt, DUP_THRESH, SMSS)).toBe(6000);
    expect(sb.pipe(sndNxt, sndNxt, DUP_THRESH, SMSS)).toBe(0);
  });

  it("NextSeg rules 1 and 2: lost holes first, then new data (§4)", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(2000), s(5000)), 1);
    sb.enterRecovery(una, sndNxt, SMSS);
    expect(sb.nextSeg(una, sndNxt, true, DUP_THRESH, SMSS)).toBe(NextSegRule.LOST);
    expect(sb.nextSegSeq).toBe(s(1000));
    expect(sb.nextSegLength).toBe(1000);
    sb.onRetransmitted(sb.nextSegSeq, sb.nextSegLength, NextSegRule.LOST);
    expect(sb.highRxt).toBe(s(2000));
    expect(sb.pipe(una, sndNxt, DUP_THRESH, SMSS)).toBe(7000);
    // Nothing lost above HighRxt: new data.
    expect(sb.nextSeg(una, sndNxt, true, DUP_THRESH, SMSS)).toBe(NextSegRule.NEW_DATA);
    expect(sb.nextSegSeq).toBe(sndNxt);
    expect(sb.nextSegLength).toBe(SMSS);
    // No new data allowed, nothing below the highest SACK, no rescue yet (HighACK <= RescueRxt).
    expect(sb.nextSeg(una, sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.NONE);
    expect(sb.nextSegLength).toBe(0);
  });

  it("NextSeg never reaches into SACKed data and never repeats below HighRxt", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    // Holes of 400 and 600 bytes below a long SACKed run.
    sb.update(una, sndNxt, blocks(s(400), s(1000), s(1600), s(6000)), 2);
    sb.enterRecovery(una, sndNxt, 400);
    expect(sb.nextSeg(una, sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.LOST);
    expect(sb.nextSegSeq).toBe(s(1000));
    expect(sb.nextSegLength).toBe(600);
    sb.onRetransmitted(s(1000), 600, NextSegRule.LOST);
    expect(sb.nextSeg(una, sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.NONE);
  });

  it("NextSeg rule 3: unSACKed data below the highest SACK, not yet deemed lost", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(5000), s(6000)), 1); // one segment SACKed: nothing lost
    expect(sb.isLost(una, DUP_THRESH, SMSS)).toBe(false);
    // (Recovery entered on three duplicate ACKs, say; the first segment retransmitted.)
    sb.enterRecovery(una, sndNxt, SMSS);
    expect(sb.nextSeg(una, sndNxt, true, DUP_THRESH, SMSS)).toBe(NextSegRule.NEW_DATA);
    expect(sb.nextSeg(una, sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.UNSACKED);
    expect(sb.nextSegSeq).toBe(s(1000));
    expect(sb.nextSegLength).toBe(SMSS);
    sb.onRetransmitted(s(1000), SMSS, NextSegRule.UNSACKED);
    expect(sb.nextSeg(una, sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.UNSACKED);
    expect(sb.nextSegSeq).toBe(s(2000));
  });

  it("NextSeg rule 4: one rescue retransmission of the highest unSACKed data per recovery", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(1000), s(8000)), 1);
    sb.enterRecovery(una, sndNxt, SMSS); // retransmits [0, 1000)
    // The retransmission is acknowledged with the SACKed run: the tail [8000, 10000) is unknown.
    sb.update(s(8000), sndNxt, blocks(), 0);
    expect(sb.nextSeg(s(8000), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.RESCUE);
    expect(sb.nextSegSeq).toBe(s(9000));
    expect(sb.nextSegLength).toBe(1000);
    sb.onRetransmitted(sb.nextSegSeq, sb.nextSegLength, NextSegRule.RESCUE);
    expect(sb.highRxt).toBe(s(8000)); // HighRxt is not updated by a rescue (it is below SND.UNA)
    expect(sb.nextSeg(s(8000), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.NONE);
  });

  it("the rescue covers the highest unSACKed octet even below a SACKed tail", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(1000), s(2000)), 1);
    sb.enterRecovery(una, sndNxt, SMSS);
    sb.update(s(2000), sndNxt, blocks(s(9500), s(10_000)), 1);
    expect(sb.nextSeg(s(2000), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.UNSACKED);
    // Once everything below the SACK was retransmitted, the rescue targets the hole's top.
    sb.onRetransmitted(s(2000), 7500, NextSegRule.UNSACKED);
    sb.advance(s(2500));
    expect(sb.nextSeg(s(2500), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.RESCUE);
    expect(sb.nextSegSeq).toBe(s(8500));
    expect(sb.nextSegLength).toBe(1000);
  });

  it("ends the recovery episode when SND.UNA reaches the recovery point (§5)", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    expect(sb.inRecovery).toBe(false);
    sb.update(una, sndNxt, blocks(s(2000), s(5000)), 1);
    sb.enterRecovery(una, sndNxt, SMSS);
    expect(sb.inRecovery).toBe(true);
    sb.advance(s(9999));
    expect(sb.inRecovery).toBe(true);
    sb.advance(sndNxt);
    expect(sb.inRecovery).toBe(false);
    expect(sb.highRxt).toBe(sndNxt);
    // Outside recovery, retransmission reports change nothing and the pipe is the flight.
    sb.onRetransmitted(sndNxt, 5000, NextSegRule.LOST);
    expect(sb.highRxt).toBe(sndNxt);
    expect(sb.pipe(sndNxt, s(12_000), DUP_THRESH, SMSS)).toBe(2000);
  });

  it("clear() forgets everything after an RTO (RFC 2018 §8, RFC 6675 §5.1)", () => {
    const sb = new SackScoreboard();
    sb.update(una, s(10_000), blocks(s(2000), s(5000)), 1);
    sb.enterRecovery(una, s(10_000), SMSS);
    sb.clear();
    expect(sb.rangeCount).toBe(0);
    expect(sb.sackedBytes).toBe(0);
    expect(sb.highRxt).toBe(una);
    expect(sb.isSacked(s(3000))).toBe(false);
    expect(sb.pipe(una, s(10_000), DUP_THRESH, SMSS)).toBe(10_000);
    expect(sb.nextSeg(una, s(10_000), false, DUP_THRESH, SMSS)).toBe(NextSegRule.NONE);
  });

  it("keeps at most maxRanges, forgetting the highest", () => {
    const sb = new SackScoreboard(4);
    const edges: number[] = [];
    for (let i = 0; i < 6; i++) edges.push(s(1000 + 2000 * i), s(2000 + 2000 * i));
    sb.update(una, s(20_000), blocks(...edges), 6);
    expect(sb.rangeCount).toBe(4);
    expect(sb.droppedRanges).toBe(2);
    expect(rangesOf(sb, una)).toEqual([
      [1000, 2000],
      [3000, 4000],
      [5000, 6000],
      [7000, 8000],
    ]);
    expect(sb.sackedBytes).toBe(4000);
    // A block below the highest still gets in (and pushes the highest out).
    sb.update(una, s(20_000), blocks(s(100), s(200)), 1);
    expect(rangesOf(sb, una)[0]).toEqual([100, 200]);
    expect(sb.rangeCount).toBe(4);
    expect(sb.sackedBytes).toBe(3100);
  });

  it("a block that pushes a larger range out gains nothing: update() never reports negative bytes", () => {
    const sb = new SackScoreboard(2);
    sb.update(una, s(20_000), blocks(s(1000), s(2000), s(5000), s(9000)), 2);
    expect(sb.update(una, s(20_000), blocks(s(3000), s(3100)), 1)).toBe(0); // 100 in, 4000 out
    expect(rangesOf(sb, una)).toEqual([
      [1000, 2000],
      [3000, 3100],
    ]);
  });

  it("reads only the `count` blocks it is given, whatever the array holds beyond them", () => {
    const sb = new SackScoreboard();
    expect(sb.update(una, s(10_000), blocks(s(1000), s(2000), s(5000), s(6000)), 1)).toBe(1000);
    expect(rangesOf(sb, una)).toEqual([[1000, 2000]]);
  });

  it("merges a block that touches a range from below or above into one range", () => {
    const sb = new SackScoreboard();
    sb.update(una, s(10_000), blocks(s(3000), s(4000)), 1);
    sb.update(una, s(10_000), blocks(s(2000), s(3000)), 1); // ends where the range starts
    sb.update(una, s(10_000), blocks(s(4000), s(5000)), 1); // starts where it ends
    expect(rangesOf(sb, una)).toEqual([[2000, 5000]]);
    expect(sb.sackedBytes).toBe(3000);
  });

  it("an ACK past several ranges drops them all and keeps the rest in order", () => {
    const sb = new SackScoreboard();
    sb.update(una, s(10_000), blocks(s(1000), s(2000), s(3000), s(4000), s(5000), s(6000), s(7000), s(8000)), 4);
    sb.advance(s(4500));
    expect(rangesOf(sb, una)).toEqual([
      [5000, 6000],
      [7000, 8000],
    ]);
    expect(sb.sackedBytes).toBe(2000);
  });

  it("pipe() and nextSeg() discard what a newer SND.UNA covers before they answer, as advance() does", () => {
    const edges = blocks(s(1000), s(2000), s(3000), s(4000), s(5000), s(6000));
    const fresh = (): SackScoreboard => {
      const sb = new SackScoreboard();
      sb.update(una, s(10_000), edges, 3);
      return sb;
    };
    const advanced = fresh();
    advanced.advance(s(3500));
    const a = fresh();
    expect(a.pipe(s(3500), s(10_000), DUP_THRESH, SMSS)).toBe(advanced.pipe(s(3500), s(10_000), DUP_THRESH, SMSS));
    expect(a.sackedBytes).toBe(1500);
    const b = fresh();
    expect(b.nextSeg(s(3500), s(10_000), false, DUP_THRESH, SMSS)).toBe(advanced.nextSeg(s(3500), s(10_000), false, DUP_THRESH, SMSS));
    expect([b.nextSegSeq, b.nextSegLength]).toEqual([advanced.nextSegSeq, advanced.nextSegLength]);
    expect(b.sackedBytes).toBe(1500);
  });

  it("HighRxt only moves forward, and only for retransmissions of holes (rules 1 and 3)", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(1000), s(2000), s(3000), s(4000), s(5000), s(6000)), 3);
    sb.enterRecovery(una, sndNxt, SMSS);
    sb.onRetransmitted(s(2000), 1000, NextSegRule.LOST);
    expect(sb.highRxt).toBe(s(3000));
    sb.onRetransmitted(una, 500, NextSegRule.UNSACKED); // a lower one: HighRxt stays
    expect(sb.highRxt).toBe(s(3000));
    sb.onRetransmitted(sndNxt, 1000, NextSegRule.NEW_DATA); // new data is no retransmission
    sb.onRetransmitted(s(4000), 1000, NextSegRule.NONE);
    expect(sb.highRxt).toBe(s(3000));
  });

  it("the rescue is the highest unSACKed data below SND.NXT when the highest SACK ends below it", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(1000), s(3000)), 1);
    sb.enterRecovery(una, sndNxt, SMSS); // [0, 1000) retransmitted
    sb.update(s(3000), sndNxt, blocks(), 0); // acknowledged up to the SACKed run
    expect(sb.nextSeg(s(3000), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.RESCUE);
    expect([sb.nextSegSeq, sb.nextSegLength]).toEqual([s(9000), 1000]);
    // With a SACKed range above SND.UNA that ends below SND.NXT, still the top of the flight.
    const hi = new SackScoreboard();
    hi.update(una, sndNxt, blocks(s(1000), s(3000)), 1);
    hi.enterRecovery(una, sndNxt, SMSS);
    hi.update(s(1000), sndNxt, blocks(s(5000), s(6000)), 1);
    hi.onRetransmitted(s(3000), 2000, NextSegRule.UNSACKED); // the hole below the SACK is done
    hi.advance(s(3000));
    expect(hi.nextSeg(s(3000), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.RESCUE);
    expect([hi.nextSegSeq, hi.nextSegLength]).toEqual([s(9000), 1000]);
  });

  it("a rescue below a SACKed tail takes only the hole between the two highest ranges, however small", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(1000), s(2000)), 1);
    sb.enterRecovery(una, sndNxt, SMSS);
    sb.update(s(2000), sndNxt, blocks(s(3000), s(4000), s(4400), s(10_000)), 2);
    sb.onRetransmitted(s(2000), 2400, NextSegRule.UNSACKED); // up to 4400
    sb.advance(s(2500));
    expect(sb.nextSeg(s(2500), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.RESCUE);
    expect([sb.nextSegSeq, sb.nextSegLength]).toEqual([s(4000), 400]);
  });

  it("no rescue when everything above SND.UNA is SACKed", () => {
    const sb = new SackScoreboard();
    const sndNxt = s(10_000);
    sb.update(una, sndNxt, blocks(s(1000), s(2000)), 1);
    sb.enterRecovery(una, sndNxt, SMSS);
    sb.update(s(1500), sndNxt, blocks(s(1500), s(10_000)), 1);
    expect(sb.nextSeg(s(1500), sndNxt, false, DUP_THRESH, SMSS)).toBe(NextSegRule.NONE);
    expect(sb.nextSegLength).toBe(0);
  });
});

describe("SackScoreboard API", () => {
  it("rejects misuse", () => {
    expect(() => new SackScoreboard(0)).toThrow(InvalidArgumentError);
    expect(() => new SackScoreboard(0)).toThrow(/SackScoreboard maxRanges/);
    const sb = new SackScoreboard();
    expect(() => sb.update(seq(0), seq(100), new Uint32Array(2), 2)).toThrow(InvalidArgumentError);
    expect(() => sb.update(seq(0), seq(100), new Uint32Array(2), 2)).toThrow(/2 blocks in an array of 2 numbers/);
    expect(() => sb.rangeLeft(0)).toThrow(InvalidArgumentError);
    expect(() => sb.rangeRight(3)).toThrow(/range 3 of 0/);
  });

  it("matches RFC 6675's octet-by-octet definitions of IsLost, SetPipe and NextSeg (property)", () => {
    const smss = 100;
    const scenario = fc.record({
      base: fc.oneof(fc.constant(0xffff_ffff - 500), fc.integer({ min: 0, max: 0xffff_ffff })),
      flight: fc.integer({ min: 1, max: 3000 }),
      sacks: fc.array(fc.tuple(fc.nat({ max: 3100 }), fc.nat({ max: 600 })), { maxLength: 12 }),
      rxt: fc.nat({ max: 3000 }),
      probes: fc.array(fc.nat({ max: 3000 }), { maxLength: 20 }),
    });
    fc.assert(
      fc.property(scenario, ({ base, flight, sacks, rxt, probes }) => {
        const s = at(base);
        const una = s(0);
        const nxt = s(flight);
        const sb = new SackScoreboard();
        const sacked = new Uint8Array(flight);
        const edges: number[] = [];
        for (const [start, len] of sacks) {
          edges.push(s(start), s(start + len));
          if (len > 0 && start + len <= flight) for (let o = start; o < start + len; o++) sacked[o] = 1;
        }
        sb.update(una, nxt, blocks(...edges), sacks.length);
        const firstLen = Math.min(smss, flight);
        sb.enterRecovery(una, nxt, firstLen);
        const highRxt = Math.max(firstLen, Math.min(rxt, flight));
        sb.onRetransmitted(s(firstLen), highRxt - firstLen, NextSegRule.LOST);

        // The model: runs of SACKed octets, and per octet the runs and bytes above it.
        const runs: Array<[number, number]> = [];
        for (let o = 0; o < flight; ) {
          if (!sacked[o]) {
            o++;
            continue;
          }
          let e = o;
          while (e < flight && sacked[e]) e++;
          runs.push([o, e]);
          o = e;
        }
        const lost = (o: number) => {
          if (sacked[o]) return false;
          let n = 0;
          let bytes = 0;
          for (const [a, b] of runs) {
            if (a > o) {
              n++;
              bytes += b - a;
            }
          }
          return n >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss;
        };
        expect(sb.sackedBytes).toBe(sacked.reduce((x, y) => x + y, 0));
        expect(rangesOf(sb, una)).toEqual(runs);
        let pipe = 0;
        for (let o = 0; o < flight; o++) {
          if (sacked[o]) continue;
          if (!lost(o)) pipe++;
          if (o < highRxt) pipe++;
        }
        expect(sb.pipe(una, nxt, DUP_THRESH, smss)).toBe(pipe);
        for (const p of probes) {
          const o = p % flight;
          expect(sb.isSacked(s(o))).toBe(sacked[o] === 1);
          expect(sb.isLost(s(o), DUP_THRESH, smss)).toBe(lost(o));
        }
        // NextSeg rule 1: the smallest unSACKed, lost octet at or above HighRxt, below the highest SACK.
        const highest = runs.length > 0 ? runs[runs.length - 1]![1] : 0;
        let s2 = -1;
        for (let o = highRxt; o < highest; o++) {
          if (!sacked[o]) {
            s2 = o;
            break;
          }
        }
        const rule = sb.nextSeg(una, nxt, false, DUP_THRESH, smss);
        if (s2 >= 0 && lost(s2)) {
          expect(rule).toBe(NextSegRule.LOST);
          expect(sb.nextSegSeq).toBe(s(s2));
        } else if (s2 >= 0) {
          expect(rule).toBe(NextSegRule.UNSACKED);
          expect(sb.nextSegSeq).toBe(s(s2));
        } else {
          expect([NextSegRule.NONE, NextSegRule.RESCUE]).toContain(rule);
        }
        if (rule === NextSegRule.LOST || rule === NextSegRule.UNSACKED) {
          expect(sb.nextSegLength).toBeGreaterThan(0);
          expect(sb.nextSegLength).toBeLessThanOrEqual(smss);
          for (let o = s2; o < s2 + sb.nextSegLength; o++) expect(sacked[o]).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
