/**
 * Flow table micro benches (lib/flow/table.ts): the cost of a lookup by packet bytes in a fresh table
 * of LIVE flows, next to the same lookup after CHURN inserts and removes (a TIME-WAIT record for
 * every closed connection looks like this: flows come and go at thousands a second), and after a
 * peak of PEAK flows that then went away. The fresh table is the baseline in the same run; a table
 * that rots under churn (tombstones, a peak's capacity kept) shows as slower lookups and more slots.
 * Also the cost of one insert plus one remove at a steady size. Smoke: 100 live flows, 10,000
 * inserts and removes, a peak of 3,000, each timed once.
 */
import { FlowRecord } from "../../lib/flow/flow.js";
import { FlowTable } from "../../lib/flow/table.js";
import { consume, FULL, MICRO_METHOD, nsPerOp, row, SMOKE_METHOD, type BenchOptions, type Row } from "./harness.js";

interface Sizes {
  /** Flows in the table when it is measured. */
  live: number;
  /** Inserts (and as many removes) before the churned measurement. */
  churn: number;
  /** Flows at the peak before the after-peak measurement. */
  peak: number;
}

const SIZES: Sizes = { live: 10_000, churn: 4_000_000, peak: 300_000 };
const SMOKE_SIZES: Sizes = { live: 100, churn: 10_000, peak: 3_000 };

const OWNER = {};
const LOCAL = [10, 0, 0, 1];

/** Flow `i` (IPv4 TCP to 10.0.0.1:80 from 10.x.y.z:port), as the engine would key it. */
function flow(i: number): FlowRecord {
  const addr = new Uint8Array(32);
  addr.set([10, (i >>> 24) & 0x3f, (i >>> 16) & 255, (i >>> 8) & 255], 0);
  addr.set(LOCAL, 16);
  return new FlowRecord(OWNER, "tcp", 4, addr, "", 1024 + (i & 255), "", 80, false);
}

/** Packet-like bytes (source = remote, destination = local) for each of `flows`. */
function packets(flows: readonly FlowRecord[]): Uint8Array {
  const b = new Uint8Array(flows.length * 8);
  flows.forEach((f, k) => {
    b.set(f.addr.subarray(0, 4), k * 8);
    b.set(f.addr.subarray(16, 20), k * 8 + 4);
  });
  return b;
}

interface Prepared {
  table: FlowTable;
  live: FlowRecord[];
}

function fresh(z: Sizes): Prepared {
  const table = new FlowTable();
  const live: FlowRecord[] = [];
  for (let i = 0; i < z.live; i++) {
    const f = flow(i);
    table.insert(f);
    live.push(f);
  }
  return { table, live };
}

/** z.live flows, then z.churn rounds of: remove the oldest, insert a new one (a ring of live flows). */
function churned(z: Sizes): Prepared {
  const { table, live } = fresh(z);
  let next = z.live;
  for (let r = 0; r < z.churn; r++) {
    const k = r % z.live;
    table.remove(live[k]!);
    const f = flow(next++);
    table.insert(f);
    live[k] = f;
  }
  return { table, live };
}

/** z.peak flows at once, then all but z.live of them gone. */
function afterPeak(z: Sizes): Prepared {
  const table = new FlowTable();
  const all: FlowRecord[] = [];
  for (let i = 0; i < z.peak; i++) {
    const f = flow(i);
    table.insert(f);
    all.push(f);
  }
  for (let i = z.live; i < z.peak; i++) table.remove(all[i]!);
  return { table, live: all.slice(0, z.live) };
}

function lookupRow(name: string, p: Prepared, o: BenchOptions): Row {
  const { table, live } = p;
  const n = live.length;
  if (table.size !== n) throw new Error(`flow bench: ${table.size} flows, not ${n}`);
  const bytes = packets(live);
  const ports = live.map((f) => f.remotePort);
  // The garbage of building the table is not this measurement's.
  (globalThis as { gc?: () => void }).gc?.();
  // A stride through the live flows, so consecutive lookups touch unrelated slots.
  const m = nsPerOp(
    (i) => {
      const k = (i * 7919) % n;
      consume(table.lookup(4, 6, bytes, k * 8, k * 8 + 4, ports[k]!, 80) === undefined ? 1 : 0);
    },
    60,
    o,
  );
  return row("flow", `${name} (${table.slots} slots)`, "ns/op", m, o.smoke ? SMOKE_METHOD : MICRO_METHOD);
}

/** 4000000 -> "4 M", 300000 -> "300k". */
function count(n: number): string {
  return n >= 1e6 ? `${n / 1e6} M` : `${n / 1000}k`;
}

export async function benchFlow(o: BenchOptions = FULL): Promise<Row[]> {
  const z = o.smoke ? SMOKE_SIZES : SIZES;
  const live = z.live;
  const rows: Row[] = [];
  rows.push(lookupRow(`lookup, ${live} flows, fresh table (baseline)`, fresh(z), o));
  rows.push(lookupRow(`lookup, ${live} flows, after ${count(z.churn)} inserts + removes`, churned(z), o));
  rows.push(lookupRow(`lookup, ${live} flows, after a peak of ${count(z.peak)}`, afterPeak(z), o));
  // Steady churn: one remove and one insert per op.
  const { table, live: ring } = fresh(z);
  let next = live;
  (globalThis as { gc?: () => void }).gc?.();
  const m = nsPerOp(
    (i) => {
      const k = i % live;
      table.remove(ring[k]!);
      const f = flow(next++);
      table.insert(f);
      ring[k] = f;
    },
    60,
    o,
  );
  rows.push(row("flow", `remove + insert at ${live} flows (incl. making the record)`, "ns/op", m, o.smoke ? SMOKE_METHOD : MICRO_METHOD));
  return rows;
}
