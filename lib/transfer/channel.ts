/**
 * The part of `RTCDataChannel` the transfer code uses, so it can run over a
 * real data channel in a page or over an in-memory pair in tests; and the
 * small waits it needs (for the send buffer to drain, for a message).
 *
 * @module
 */

/** What the transfer needs of a data channel. */
export interface DataChannelLike {
  readonly readyState: string;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  binaryType: string;
  send(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void;
  close(): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
}

/** The channel closed (or failed) before the transfer ended. */
export class ChannelClosedError extends Error {
  constructor(message = "Cannot continue: the connection closed") {
    super(message);
    this.name = "ChannelClosedError";
  }
}

/**
 * The other side stopped the transfer on purpose (a `cancel` message,
 * wire.ts): the person there cancelled or stopped it. Neither resumed nor
 * retried; each page shows its own text for it.
 */
export class CancelledError extends Error {
  constructor(message = "Cannot continue: the other side cancelled") {
    super(message);
    this.name = "CancelledError";
  }
}

/**
 * Resolves once `bufferedAmount` is at or below the channel's low threshold,
 * and rejects if the channel closes first.
 */
export function drained(channel: DataChannelLike): Promise<void> {
  if (channel.bufferedAmount <= channel.bufferedAmountLowThreshold) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      channel.removeEventListener("bufferedamountlow", onLow);
      channel.removeEventListener("close", onClose);
      if (error) reject(error);
      else resolve();
    };
    const onLow = () => done();
    const onClose = () => done(new ChannelClosedError());
    channel.addEventListener("bufferedamountlow", onLow);
    channel.addEventListener("close", onClose);
  });
}

/**
 * Resolves once everything queued on `channel` has been handed on
 * (`bufferedAmount` is 0), the channel is no longer open, or `capMs` passed,
 * whichever comes first; it never rejects. For a last message that should
 * leave before the connection is cut, on a link that may be slow.
 */
export function flushed(
  channel: DataChannelLike,
  capMs: number,
  pollMs = 50,
): Promise<void> {
  const until = Date.now() + capMs;
  return new Promise((resolve) => {
    const check = () => {
      if (
        channel.readyState !== "open" || channel.bufferedAmount === 0 ||
        Date.now() >= until
      ) resolve();
      else setTimeout(check, pollMs);
    };
    check();
  });
}

/** Most messages {@linkcode holdMessages} keeps for a listener to come. */
export const HELD_MESSAGES = 64;

/**
 * `channel`, with the messages that arrive before anyone listens kept for
 * the first "message" listener, which gets them (in order, before any later
 * one) right after it is added.
 *
 * A browser drops a message that finds no listener, and each side starts
 * listening only after checking the other's certificate (`verifyRemote()`),
 * which takes a task or more. The other side may have checked first and
 * spoken: the receiver's `start`, the sender's only cue to send. Dropped,
 * both pages sat at "0 %" for good (tests/transfer_test.ts). A Beam peer
 * says one thing before it hears back; past {@linkcode HELD_MESSAGES} the
 * channel is closed, as a peer that floods before anyone listens is not
 * one.
 *
 * Listen here before the channel is handed on: the returned channel stands
 * for it from then on (pass it, not `channel`, to the transfer).
 */
export function holdMessages(channel: DataChannelLike): DataChannelLike {
  let held: Event[] | null = [];
  let flushing = false;
  const listeners = new Set<(event: Event) => void>();
  const deliver = (event: Event) => {
    for (const listener of [...listeners]) {
      // As a channel's own dispatch does: one listener's error is reported
      // and the others still hear the message.
      try {
        listener(event);
      } catch (error) {
        reportError(error);
      }
    }
  };
  channel.addEventListener("message", (event) => {
    if (held === null) return deliver(event);
    // Behind what is held, in order, while those wait for their turn.
    if (held.length >= HELD_MESSAGES) {
      held = null;
      channel.close();
      return;
    }
    held.push(event);
  });
  function release(): void {
    if (held === null || flushing) return;
    flushing = true;
    // After the code that added the listener has run to its first await,
    // as a message that arrived then would be.
    queueMicrotask(() => {
      const events = held ?? [];
      held = null;
      for (const event of events) deliver(event);
    });
  }
  return {
    get readyState() {
      return channel.readyState;
    },
    get bufferedAmount() {
      return channel.bufferedAmount;
    },
    get bufferedAmountLowThreshold() {
      return channel.bufferedAmountLowThreshold;
    },
    set bufferedAmountLowThreshold(bytes: number) {
      channel.bufferedAmountLowThreshold = bytes;
    },
    get binaryType() {
      return channel.binaryType;
    },
    set binaryType(type: string) {
      channel.binaryType = type;
    },
    send: (data) => channel.send(data),
    close: () => channel.close(),
    addEventListener(type, listener) {
      if (type !== "message") return channel.addEventListener(type, listener);
      listeners.add(listener);
      release();
    },
    removeEventListener(type, listener) {
      if (type !== "message") {
        return channel.removeEventListener(type, listener);
      }
      listeners.delete(listener);
    },
  };
}
