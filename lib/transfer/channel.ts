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
