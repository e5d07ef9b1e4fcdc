/**
 * A data channel that keeps the messages arriving before anyone listens,
 * for the first listener ({@linkcode holdMessages}). Its own module, loaded
 * with the connection code (`rtc.ts`): not on a page that only shows a
 * file list.
 *
 * @module
 */

import type { DataChannelLike } from "./channel.ts";

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
