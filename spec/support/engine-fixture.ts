/**
 * An engine on a virtual clock with capturing callbacks: the starting point of engine-level specs.
 *
 *   const { engine, cap, clock } = engineFixture((b) => b.mtu(1280));
 */
import { L3L4Builder } from "../../lib/builder.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import type { L3L4 } from "../../lib/engine.js";
import { Capture } from "./capture.js";

export interface EngineFixture {
  engine: L3L4<Uint8Array>;
  cap: Capture;
  clock: VirtualClock;
}

export function engineFixture(
  configure: (b: L3L4Builder<Uint8Array>) => L3L4Builder<Uint8Array> = (b) => b,
): EngineFixture {
  const clock = new VirtualClock(0);
  const engine = configure(new L3L4Builder<Uint8Array>().clock(clock.now)).build();
  return { engine, cap: new Capture(), clock };
}
