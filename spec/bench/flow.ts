/**
 * Flow table micro benches (lib/flow/table.ts): the cost of a lookup by packet bytes in a fresh table
 * of LIVE flows, next to the same lookup after CHURN inserts and removes (a TIME-WAIT record for
 * every closed connection looks like this: flows come and go at thousands a second), and after a
 * peak of PEAK flows that then went away. The fresh table is the baseline in the same run; a table
 * that rots under churn (tombstones, a peak's capacity kept) shows as slower lookups and more slots.
 * Also the cost of one insert plus one remove at a steady size.
 */
import { FlowRecord } from "../../lib/flow/flow.js";
import { FlowTable } from "../../lib/flow/table.js";
import { consume, nsPerOp, row, type Row } from "./harness.js";

const LIVE = 10_000;
const CHURN = 4_000_000;
const PEAK = 300_000;

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

function fresh(): Prepared {
  const table = new FlowTable();
  const live: FlowRecord[] = [];
  for (let i = 0; i < LIVE; i++) {
    const f = flow(i);
    table.insert(f);
    live.push(f);
  }
  return { table, live };
}

/** LIVE flows, then `churn` rounds of: remove the oldest, insert a new one (a ring of live flows). */
function churned(churn: number): Prepared {
  const { table, live } = fresh();
  let next = LIVE;
  for (let r = 0; r < churn; r++) {
    const k = r % LIVE;
    table.remove(live[k]!);
    const f = flow(next++);
    table.insert(f);
    live[k] = f;
  }
  return { table, live };
}

/** PEAK flows at once, then all but LIVE of them gone. */
function afterPeak(): Prepared {
  const table = new FlowTable();
  const all: FlowRecord[] = [];
  for (let i = 0; i < PEAK; i++) {
    const f = flow(i);
    table.insert(f);
    all.push(f);
  }
  for (let i = LIVE; i < PEAK; i++) table.remove(all[i]!);
  return { table, live: all.slice(0, LIVE) };
}

function lookupRow(name: string, p: Prepared): Row {
  const { table, live } = p;
  if (table.size !== LIVE) throw new Error(`flow bench: ${table.size} flows, not ${LIVE}`);
  const bytes = packets(live);
  const ports = live.map((f) => f.remotePort);
  // The garbage of building the table is not this measurement's.
  (globalThis as { gc?: () => void }).gc?.();
  // A stride through the live flows, so consecutive lookups touch unrelated slots.
  const m = nsPerOp((i) => {
    const k = (i * 7919) % LIVE;
    consume(table.lookup(4, 6, bytes, k * 8, k * 8 + 4, ports[k]!, 80) === undefined ? 1 : 0);
  });
  return row("flow", `${name} (${table.slots} slots)`, "ns/op", m);
}

export async function benchFlow(): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(lookupRow(`lookup, ${LIVE} flows, fresh table (baseline)`, fresh()));
  rows.push(lookupRow(`lookup, ${LIVE} flows, after ${CHURN / 1e6} M inserts + removes`, churned(CHURN)));
  rows.push(lookupRow(`lookup, ${LIVE} flows, after a peak of ${PEAK / 1000}k`, afterPeak()));
  // Steady churn: one remove and one insert per op.
  const { table, live } = fresh();
  let next = LIVE;
  (globalThis as { gc?: () => void }).gc?.();
  const m = nsPerOp((i) => {
    const k = i % LIVE;
    table.remove(live[k]!);
    const f = flow(next++);
    table.insert(f);
    live[k] = f;
  });
  rows.push(row("flow", `remove + insert at ${LIVE} flows (incl. making the record)`, "ns/op", m));
  return rows;
}
