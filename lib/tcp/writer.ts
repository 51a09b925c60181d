/**
 * The one TCP segment writer. Every segment the engine sends goes through `write`: data, pure ACKs,
 * SYN and SYN-ACK, FIN, and RST, from a connection, a TIME-WAIT record, the no-flow path of
 * tcp/demux.ts or the cookie SYN-ACK of tcp/syn-backlog.ts. The caller decides *what* (a TcpOutSegment: flags, numbers, window, options and where
 * the payload is); this writes it, in the order lib/wire asks: size first, the buffer from
 * l3TxBuffer, every header byte (the buffer holds stale bytes), the payload copied straight from the
 * send buffer, the checksum last (RFC 9293 §3.1 over the pseudo-header).
 *
 * A TUN device with offloads could take one super-segment of many MSS with a virtio-net header in
 * front (VIRTIO_NET_HDR_GSO_TCPV4/6): that header and the segment length would be decided here and
 * nowhere else.
 */
import type { Counters } from "../stats.js";
import { ipHeaderLength, type AnyCallbacks, type IpOutput } from "../ip/output.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { emitTcpHeader, fillTcpChecksum, TCP_MIN_HEADER, TcpFlag, tcpFields, tcpOptionsLength } from "../wire/tcp.js";
import type { TcpOutSegment } from "./context.js";
import type { SendBuffer } from "./send-buffer.js";

export class TcpSegmentWriter {
  private readonly fields = tcpFields();

  constructor(
    private readonly out: IpOutput,
    private readonly counters: Counters,
  ) {}

  /**
   * Frame `seg` from the local end (its address at `addr[localOff..]`, port `localPort`) to the remote
   * end, and hand it to l3Tx. A payload (`seg.payloadLength` > 0) is copied from `payload` at
   * `seg.payloadOffset`; only a connection's segments carry one. Returns false when l3TxBuffer had
   * no buffer (counted as txBufferUnavailable): nothing was sent. Counts the segment, and the RST.
   */
  write(
    cb: AnyCallbacks,
    family: 4 | 6,
    addr: Uint8Array,
    localOff: number,
    remoteOff: number,
    localPort: number,
    remotePort: number,
    seg: TcpOutSegment,
    payload: SendBuffer | undefined,
  ): boolean {
    const tcpHl = TCP_MIN_HEADER + (seg.options === null ? 0 : tcpOptionsLength(seg.options));
    const len = seg.payloadLength;
    const tcpLen = tcpHl + len;
    const size = ipHeaderLength(family) + tcpLen;
    const buf = this.out.begin(cb, size);
    if (buf === undefined) return false;
    const at = this.out.writeHeader(buf, 0, family, addr, localOff, remoteOff, IpProtocol.TCP, tcpLen, true);
    const f = this.fields;
    f.srcPort = localPort;
    f.dstPort = remotePort;
    f.seq = seg.seq;
    f.ack = seg.ack;
    f.flags = seg.flags;
    f.window = seg.window;
    f.urgentPointer = 0;
    emitTcpHeader(buf, at, f, seg.options);
    if (len > 0 && payload !== undefined) payload.copyOut(seg.payloadOffset, buf, at + tcpHl, len);
    fillTcpChecksum(buf, at, tcpLen, this.out.pseudoSum(buf, 0, family, IpProtocol.TCP, tcpLen));
    this.out.finish(cb, size);
    const c = this.counters;
    c.tcpSegmentsOut++;
    if ((seg.flags & TcpFlag.RST) !== 0) c.tcpResetsSent++;
    return true;
  }
}
