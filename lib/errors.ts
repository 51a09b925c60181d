/**
 * Errors thrown at the API boundary for misuse by the caller. Nothing that arrives from the wire
 * ever throws: bad packets are counted and dropped (see stats.ts).
 */

export type L3L4ErrorCode =
  | "ERR_INVALID_ARGUMENT"
  | "ERR_UNKNOWN_FLOW"
  | "ERR_FLOW_EXISTS"
  | "ERR_WRONG_PROTOCOL"
  | "ERR_BUFFER_TOO_SMALL"
  | "ERR_TUN";

export class L3L4Error extends Error {
  readonly code: L3L4ErrorCode;
  constructor(code: L3L4ErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument that is out of range or of the wrong shape. */
export class InvalidArgumentError extends L3L4Error {
  constructor(message: string) {
    super("ERR_INVALID_ARGUMENT", message);
  }
}

/** The flow was not made by this engine, or is already gone where a live flow is required. */
export class UnknownFlowError extends L3L4Error {
  constructor(message: string) {
    super("ERR_UNKNOWN_FLOW", message);
  }
}

/** l4Connect for a 5-tuple the engine already has a flow for. */
export class FlowExistsError extends L3L4Error {
  constructor(message: string) {
    super("ERR_FLOW_EXISTS", message);
  }
}

/** A call that applies to one protocol only, made on a flow of the other. */
export class WrongProtocolError extends L3L4Error {
  constructor(message: string) {
    super("ERR_WRONG_PROTOCOL", message);
  }
}

/** l3TxBufferMut returned fewer bytes than the size asked of l3TxBuffer. */
export class BufferTooSmallError extends L3L4Error {
  constructor(message: string) {
    super("ERR_BUFFER_TOO_SMALL", message);
  }
}
