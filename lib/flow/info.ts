/**
 * l4Info's snapshot (api.ts FlowInfo) for what is not a live TCP connection (that one fills its own,
 * tcp/connection.ts): a UDP flow's counts, or a TIME-WAIT record, which keeps none.
 */
import type { FlowInfo } from "../api.js";
import type { UdpFlow } from "../udp/udp-flow.js";

/** A FlowInfo with every field at its "nothing" value (one shape for every object l4Info fills). */
export function newFlowInfo(): FlowInfo {
  const o = {} as FlowInfo;
  clearFlowInfo(o);
  return o;
}

/** Every FlowInfo field to its "nothing" value. */
function clearFlowInfo(o: FlowInfo): void {
  o.state = "CLOSED";
  o.bytesIn = o.bytesOut = o.bytesAcked = o.segmentsIn = o.segmentsOut = o.retransmits = 0;
  o.srtt = o.rttvar = o.rto = o.cwnd = o.ssthresh = o.sndWnd = o.rcvWnd = o.sndMss = o.rcvMss = 0;
  o.unacked = o.sendQueue = o.recvQueue = 0;
}

/** UDP: the state is "ESTABLISHED"; datagrams and their bytes each way. */
export function udpInfo(u: UdpFlow, o: FlowInfo): void {
  clearFlowInfo(o);
  o.state = "ESTABLISHED";
  o.bytesIn = u.bytesIn;
  o.bytesOut = u.bytesOut;
  o.segmentsIn = u.datagramsIn;
  o.segmentsOut = u.datagramsOut;
}

/** A TIME-WAIT record: the state, nothing else. */
export function timeWaitInfo(o: FlowInfo): void {
  clearFlowInfo(o);
  o.state = "TIME-WAIT";
}
