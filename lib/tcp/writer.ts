/**
 * The one TCP segment writer. Every segment the engine sends goes through `write`: data, pure ACKs,
 * SYN and SYN-ACK, FIN, and RST, from a connection, a TIME-WAIT record, the no-flow path of
 * tcp/demux.ts or the cookie SYN-ACK of tcp/syn-backlog.ts. The caller decides *what* (a TcpOutSegment: flags, numbers, window, options and where
 * the payload is); this writes it, in the order lib/wire asks: size first, the buffer from
 * l3TxBuffer, every header byte (the buffer holds stale bytes), the payload copied straight from the
 * send buffer, the checksum last (RFC 9293 §3.1 over the pseudo-header).
 *
 * Under txSuperSegments (config.ts; `IpOutput.head` > 0) the segment goes behind a virtio-net header
 * (wire/virtio-net.ts) written here and nowhere else: NEEDS_CSUM with csum_start at the TCP header and
 * csum_offset 16, and the checksum field holding only the pseudo-header sum over the whole TCP length
 * (Linux's __tcp_v4_send_check for CHECKSUM_PARTIAL: the device, or the kernel behind a TUN, sums the
 * rest, or trusts it on local delivery). A segment whose payload is more than `seg.segmentSize`
 * (a super-segment, output.ts) adds gso_type TCPV4/TCPV6 and gso_size = segmentSize: the kernel cuts
 * it into pieces of that size behind copies of this header, PSH and FIN on the last piece only
 * (tcp_gso_segment). It is counted as the segments it carries.
 */
import type { Counters } from "../stats.js";
import { ipHeaderLength, type AnyCallbacks, type IpOutput } from "../ip/output.js";
import { IpProtocol } from "../wire/ip-protocol.js";
import { write16 } from "../wire/bytes.js";
import { checksumFoldRaw } from "../wire/checksum.js";
import { emitTcpHeader, fillTcpChecksum, TCP_MIN_HEADER, TcpFlag, tcpFields, tcpOptionsLength } from "../wire/tcp.js";
import { TCP_CSUM_OFFSET, VnetFlag, VnetGso, writeVnetHeader } from "../wire/virtio-net.js";
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
    const head = this.out.head;
    const at = this.out.writeHeader(buf, head, family, addr, localOff, remoteOff, IpProtocol.TCP, tcpLen, true);
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
    const pseudo = this.out.pseudoSum(buf, head, family, IpProtocol.TCP, tcpLen);
    const c = this.counters;
    let segments = 1;
    if (head === 0) {
      fillTcpChecksum(buf, at, tcpLen, pseudo);
    } else {
      write16(buf, at + TCP_CSUM_OFFSET, checksumFoldRaw(pseudo));
      const mss = seg.segmentSize;
      const csumStart = at - head;
      if (mss > 0 && len > mss) {
        segments = Math.ceil(len / mss);
        const gso = family === 4 ? VnetGso.TCPV4 : VnetGso.TCPV6;
        writeVnetHeader(buf, 0, VnetFlag.NEEDS_CSUM, gso, csumStart + tcpHl, mss, csumStart, TCP_CSUM_OFFSET);
        c.tcpSuperSegmentsOut++;
      } else {
        writeVnetHeader(buf, 0, VnetFlag.NEEDS_CSUM, VnetGso.NONE, 0, 0, csumStart, TCP_CSUM_OFFSET);
      }
    }
    this.out.finish(cb, size);
    c.tcpSegmentsOut += segments;
    if ((seg.flags & TcpFlag.RST) !== 0) c.tcpResetsSent++;
    return true;
  }
}
