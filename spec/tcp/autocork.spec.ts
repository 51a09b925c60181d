/**
 * tcpAutocork (builder): TCP output of l4Tx and l4LocalClose called outside a turn waits for the next
 * l4Poll, so that a write and the close of one loop iteration leave as one segment (data + FIN), as
 * a relay that reads an upstream's last data and its FIN together sends them. From inside a
 * callback the step sends when it is complete, corked or not; without the option every call sends.
 */
import { describe, expect, it } from "vitest";
import { establish, TcpHarness } from "../support/tcp-harness.js";

const corked = () => new TcpHarness({ configure: (b) => b.tcpAutocork(true) });

describe("tcpAutocork: output of calls outside a turn waits for l4Poll", () => {
  it("a write and the close before the next l4Poll leave as one segment: data + FIN", () => {
    const h = corked();
    establish(h);
    h.app.send(300, false);
    h.app.close(false);
    h.outNothing();
    expect(h.state()).toBe("FIN-WAIT-1");
    h.poll();
    h.out({ flags: "FP.", seq: 1, ack: 1, len: 300 });
    h.outNothing();
    h.in({ flags: ".", ack: 302 });
    expect(h.state()).toBe("FIN-WAIT-2");
  });

  it("several writes before l4Poll are sent together, in full-sized segments", () => {
    const h = corked();
    establish(h);
    for (let i = 0; i < 4; i++) h.app.send(1000, false);
    h.outNothing();
    h.poll();
    h.out({ flags: ".", seq: 1, len: 1448 });
    h.out({ flags: ".", seq: 1449, len: 1448 });
    h.out({ flags: "P.", seq: 2897, len: 1104 });
    h.outNothing();
  });

  it("l4Poll also sends the retransmission timer's deadline for what it flushed (RFC 6298 §5.1)", () => {
    const h = corked();
    establish(h);
    h.app.send(100, false);
    h.poll();
    h.out({ flags: "P.", seq: 1, len: 100 });
    expect(h.deadline).toBeDefined();
    h.at(h.deadline!).out({ flags: "P.", seq: 1, len: 100 });
  });

  it("a segment arriving first sends the held data with its ACK; l4Poll then sends nothing more", () => {
    const h = corked();
    establish(h);
    h.app.send(100, false);
    h.in({ flags: ".", seq: 1, data: 1448 });
    h.out({ flags: "P.", seq: 1, ack: 1449, len: 100 });
    h.poll();
    h.outNothing();
  });

  it("an abort before l4Poll sends the RST alone and nothing after it", () => {
    const h = corked();
    establish(h);
    h.app.send(100, false);
    h.app.abort();
    h.out({ flags: "R" });
    h.poll();
    h.outNothing();
  });

  it("a reply written from inside l4Rx still leaves with the step, carrying the ACK", () => {
    const h = corked();
    establish(h);
    h.onRx = () => void h.app.send(50, false);
    h.in({ flags: "P.", seq: 1, data: 80 });
    h.out({ flags: "P.", seq: 1, ack: 81, len: 50 });
  });

  it("off (the default): l4Tx sends in the call", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(300, false);
    h.out({ flags: "P.", seq: 1, len: 300 });
    h.app.close(false);
    h.out({ flags: "F.", seq: 301 });
  });
});
