/**
 * An in-memory pair of data channels for tests and benchmarks of the
 * transfer code: messages cross asynchronously, `bufferedAmount` grows with
 * what waits and `bufferedamountlow` fires as a real channel's does, and a
 * side can be closed or cut mid-transfer, or fall silent as a channel to a
 * closed tab does ({@linkcode MemoryChannel.vanish}).
 *
 * @module
 */

import type { DataChannelLike } from "./channel.ts";

type Data = string | ArrayBuffer | Uint8Array<ArrayBuffer>;

/** One end of a {@linkcode channelPair}. */
export class MemoryChannel extends EventTarget implements DataChannelLike {
  readyState: RTCDataChannelState = "open";
  bufferedAmountLowThreshold = 0;
  binaryType = "arraybuffer";
  /** Binary bytes this end has sent, in all. */
  bytesSent = 0;
  #buffered = 0;
  #peer: MemoryChannel | null = null;
  #queue: ArrayBuffer[] | Data[] = [];
  #scheduled = false;
  #silent = false;
  #bytesPerTick: number;

  constructor(bytesPerTick: number) {
    super();
    this.#bytesPerTick = bytesPerTick;
  }

  /** Links two ends. */
  static link(a: MemoryChannel, b: MemoryChannel): void {
    a.#peer = b;
    b.#peer = a;
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  send(data: Data): void {
    if (this.readyState !== "open") {
      throw new DOMException(
        "Cannot send: the channel is not open",
        "InvalidStateError",
      );
    }
    const copy = typeof data === "string"
      ? data
      : (data instanceof ArrayBuffer ? data : data.buffer).slice(
        data instanceof ArrayBuffer ? 0 : data.byteOffset,
        data instanceof ArrayBuffer
          ? data.byteLength
          : data.byteOffset + data.byteLength,
      );
    const size = typeof copy === "string" ? copy.length : copy.byteLength;
    if (typeof copy !== "string") this.bytesSent += size;
    this.#buffered += size;
    (this.#queue as Data[]).push(copy);
    this.#schedule();
  }

  /**
   * Both ends fall silent, as when the other browser's tab closed: nothing
   * crosses any more, what was sent stays buffered, and neither end closes
   * or says anything.
   */
  vanish(): void {
    this.#silent = true;
    if (this.#peer !== null) this.#peer.#silent = true;
  }

  /**
   * Ends a {@linkcode MemoryChannel.vanish}: what waited crosses again, as
   * on a connection out of its retransmission timeouts.
   */
  revive(): void {
    this.#silent = false;
    this.#schedule();
    const peer = this.#peer;
    if (peer !== null) {
      peer.#silent = false;
      peer.#schedule();
    }
  }

  close(): void {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this.#queue = [];
    this.#buffered = 0;
    setTimeout(() => this.dispatchEvent(new Event("close")), 0);
    const peer = this.#peer;
    if (peer !== null && peer.readyState !== "closed") peer.close();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => this.#flush(), 0);
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#silent) return;
    const peer = this.#peer;
    let budget = this.#bytesPerTick;
    while (this.#queue.length > 0 && budget > 0 && this.readyState === "open") {
      const data = (this.#queue as Data[]).shift()!;
      const size = typeof data === "string"
        ? data.length
        : (data as ArrayBuffer).byteLength;
      const before = this.#buffered;
      this.#buffered -= size;
      budget -= size;
      peer?.dispatchEvent(new MessageEvent("message", { data }));
      if (
        before > this.bufferedAmountLowThreshold &&
        this.#buffered <= this.bufferedAmountLowThreshold
      ) {
        this.dispatchEvent(new Event("bufferedamountlow"));
      }
    }
    if (this.#queue.length > 0) this.#schedule();
  }
}

/**
 * Two linked channel ends. `bytesPerTick` limits how much crosses per timer
 * tick, so backpressure has something to push against.
 */
export function channelPair(
  bytesPerTick = 1024 * 1024,
): [MemoryChannel, MemoryChannel] {
  const a = new MemoryChannel(bytesPerTick);
  const b = new MemoryChannel(bytesPerTick);
  MemoryChannel.link(a, b);
  return [a, b];
}
