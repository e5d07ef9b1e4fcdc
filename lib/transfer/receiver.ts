/**
 * The receiving half of a transfer: takes a file header, the file's bytes and
 * its end from a data channel, writes each chunk to the sink as it arrives,
 * hashes it on the way, and compares the hash with the sender's. It says
 * where to start (`start`), which is how a transfer resumes on a new channel
 * after a drop, and acknowledges what it has written (`ack`).
 *
 * The receiver outlives channels: the open file, its hash and the written
 * count stay here across a reconnect.
 *
 * @module
 */

import {
  type ControlMessage,
  encodeControl,
  type Manifest,
  parseControl,
} from "./wire.ts";
import {
  CancelledError,
  ChannelClosedError,
  type DataChannelLike,
} from "./channel.ts";
import { Sha256 } from "./hash.ts";
import type { FileWriter, Sink } from "./sink.ts";
import { safeFileName } from "./sinks/names.ts";
import { ACK_BYTES, CHUNK_BYTES, WINDOW_BYTES } from "./tuning.ts";

/**
 * A binary message is charged at least this many bytes against the queue of
 * messages waiting for the sink: a flood of one-byte messages would otherwise
 * fit the window while each costs the page far more than its byte. An
 * honest sender's messages are whole chunks but for the last of each file.
 */
const MESSAGE_CHARGE = 256;

/** Tuning and callbacks of a {@linkcode FileReceiver}. */
export interface ReceiveOptions {
  /** Acknowledge after this many newly written bytes. Default `ACK_BYTES` (tuning.ts). */
  ackBytes?: number;
  /**
   * The most bytes the sender may have sent but not had acknowledged.
   * Default `WINDOW_BYTES` (tuning.ts), which is what every sender is given.
   */
  windowBytes?: number;
  /** The largest binary message accepted. Default `CHUNK_BYTES` (tuning.ts). */
  maxChunkBytes?: number;
  /** Called after each write: bytes of the share written so far. */
  onProgress?: (bytes: number) => void;
  /** Called when a file is saved and its checksum matched. */
  onFileDone?: (index: number, sha256: string) => void;
  /**
   * The first file to receive: the files before it were received before
   * (files added to a share later are fetched on their own, into a sink
   * of their own). Default 0.
   */
  from?: number;
}

/** A checksum did not match: the file is removed and the transfer fails. */
export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IntegrityError";
  }
}

/** Receives one share (the files of a {@linkcode Manifest}) into a sink. */
export class FileReceiver {
  #manifest: Manifest;
  #sink: Sink;
  #ackBytes: number;
  #window: number;
  #maxChunk: number;
  #onProgress: (bytes: number) => void;
  #onFileDone: (index: number, sha256: string) => void;
  // The file being written: index, writer, hash, bytes written of it.
  #index = 0;
  #writer: FileWriter | null = null;
  #hash: Sha256 | null = null;
  #offset = 0;
  #lastAck = 0;
  /**
   * The channel whose current file header has arrived. Bytes and `end` are
   * taken only after one, on the same channel: after a drop, the open file
   * survives, but the new channel has not yet said where its bytes go.
   */
  #headed: DataChannelLike | null = null;
  #finished = false;
  #failed: Error | null = null;
  #aborting: Promise<void> | null = null;

  constructor(manifest: Manifest, sink: Sink, options: ReceiveOptions = {}) {
    this.#manifest = manifest;
    this.#sink = sink;
    this.#ackBytes = options.ackBytes ?? ACK_BYTES;
    this.#window = options.windowBytes ?? WINDOW_BYTES;
    this.#maxChunk = options.maxChunkBytes ?? CHUNK_BYTES;
    this.#onProgress = options.onProgress ?? (() => {});
    this.#onFileDone = options.onFileDone ?? (() => {});
    this.#index = Math.min(options.from ?? 0, manifest.files.length);
  }

  /** Total bytes of the share. */
  get total(): number {
    return this.#manifest.files.reduce((n, f) => n + f.size, 0);
  }

  /** Bytes of the share written so far. */
  get position(): number {
    let position = this.#offset;
    for (let i = 0; i < this.#index; i++) {
      position += this.#manifest.files[i].size;
    }
    return position;
  }

  /** Whether every file arrived and was verified. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Receives over `channel` (already open) from where this receiver stands.
   * Resolves when all files are verified; rejects with a
   * {@linkcode ChannelClosedError} when the channel breaks (call again with a
   * new channel to resume), or any other error when the transfer failed.
   */
  receive(channel: DataChannelLike): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    channel.binaryType = "arraybuffer";
    // `start` tells the sender that everything before it is written: from
    // here it may send a window beyond it, and no further.
    this.#lastAck = this.position;
    const admit = this.#admission();
    return new Promise<void>((resolve, reject) => {
      // Messages are handled one after another: writes are asynchronous, and
      // bytes must reach the sink and the hash in order.
      let queue = Promise.resolve();
      let settled = false;
      /** Set when a message was refused on arrival: nothing after it counts. */
      let refused = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        channel.removeEventListener("message", onMessage);
        channel.removeEventListener("close", onClose);
        if (error) reject(error);
        else resolve();
      };
      const onMessage = (event: Event) => {
        // Given up (say, the person cancelled): nothing more is written.
        if (settled || refused || this.#aborting !== null) return;
        const data = (event as MessageEvent).data;
        // Checked as it arrives, not when its turn comes: what waits in the
        // queue is memory the sender is spending in this page.
        const refusal = admit.take(data);
        if (refusal !== null) {
          // Nothing more is queued; the write under way ends first, so the
          // sink is not given up under it.
          refused = true;
          queue = queue.then(async () => {
            await this.#fail(channel, refusal);
            settle(refusal);
          });
          return;
        }
        queue = queue.then(async () => {
          if (settled || refused || this.#aborting !== null) return;
          try {
            if (await this.#handle(channel, data)) settle();
          } catch (error) {
            if (refused) return;
            await this.#fail(channel, error as Error);
            settle(error as Error);
          } finally {
            admit.done(data);
          }
        });
      };
      const onClose = () => {
        // Let what already arrived be written first: it counts for resuming.
        queue = queue.then(() => settle(new ChannelClosedError()));
      };
      channel.addEventListener("message", onMessage);
      channel.addEventListener("close", onClose);
      // `end`: the files this list has, however many the sender has now.
      channel.send(
        encodeControl({
          t: "start",
          index: this.#index,
          offset: this.#offset,
          end: this.#manifest.files.length,
        }),
      );
    });
  }

  /**
   * The limits a sender is held to on one channel, checked as each message
   * arrives: `take()` returns why a message is refused (or `null`), `done()`
   * is called once it has been handled.
   */
  #admission(): {
    take(data: unknown): Error | null;
    done(data: unknown): void;
  } {
    // Share position of the bytes taken off this channel, written or not.
    let arrived = this.position;
    // A file header and an end per file left, `done`, and an `error` or
    // a `cancel`.
    let texts = 2 * (this.#manifest.files.length - this.#index) + 2;
    // Charged bytes of binary messages waiting for the sink.
    let waiting = 0;
    const limit = this.#window + this.#maxChunk;
    const charge = (size: number) => Math.max(size, MESSAGE_CHARGE);
    return {
      take: (data) => {
        if (typeof data === "string") {
          if (--texts < 0) {
            return new RangeError(
              "Cannot receive: the sender sent more control messages than the share needs",
            );
          }
          return null;
        }
        const size = (data as ArrayBuffer).byteLength;
        if (size === 0 || size > this.#maxChunk) {
          return new RangeError(
            `Cannot receive: the sender sent a message of ${size} bytes; chunks are 1 to ${this.#maxChunk} bytes`,
          );
        }
        arrived += size;
        waiting += charge(size);
        // An honest sender stops at the window past what was acknowledged;
        // one chunk more is slack for a chunk sent when nothing was in flight.
        if (arrived - this.#lastAck > limit || waiting > limit) {
          return new RangeError(
            "Cannot receive: the sender sent more than the window allows",
          );
        }
        return null;
      },
      done: (data) => {
        if (typeof data !== "string") {
          waiting -= charge((data as ArrayBuffer).byteLength);
        }
      },
    };
  }

  /**
   * Gives up: the sink removes what it can. Once: a second call (the
   * person's Cancel, then a message that came after it) waits for the
   * first, and messages still arriving are dropped unread.
   */
  abort(reason?: unknown): Promise<void> {
    if (this.#finished) return Promise.resolve();
    this.#failed ??= reason instanceof Error
      ? reason
      : new Error(String(reason));
    this.#aborting ??= (async () => {
      await this.#writer?.abort(reason).catch(() => {});
      this.#writer = null;
      await this.#sink.abort(reason).catch(() => {});
    })();
    return this.#aborting;
  }

  /** Handles one message; returns true when the share is complete. */
  async #handle(channel: DataChannelLike, data: unknown): Promise<boolean> {
    if (typeof data !== "string") {
      await this.#write(channel, new Uint8Array(data as ArrayBuffer));
      return false;
    }
    const message: ControlMessage = parseControl(data);
    switch (message.t) {
      case "file": {
        const expected = this.#manifest.files[message.index];
        if (expected === undefined || message.index !== this.#index) {
          throw new RangeError(
            `Cannot receive: the sender sent file ${message.index}, expected ${this.#index}`,
          );
        }
        if (message.offset !== this.#offset) {
          throw new RangeError(
            `Cannot resume ${
              safeFileName(expected.name)
            }: the sender starts at byte ${message.offset}, but ${this.#offset} are written`,
          );
        }
        if (this.#writer === null) {
          this.#writer = await this.#sink.open(expected);
          this.#hash = await Sha256.create();
        }
        this.#headed = channel;
        return false;
      }
      case "end":
        await this.#endFile(channel, message.index, message.sha256);
        return false;
      case "done":
        if (this.#index !== this.#manifest.files.length) {
          throw new RangeError(
            `Cannot finish: the sender stopped after ${this.#index} of ${this.#manifest.files.length} files`,
          );
        }
        await this.#sink.finish();
        this.#finished = true;
        return true;
      case "error":
        throw new Error(`The sender stopped: ${message.message}`);
      case "cancel":
        throw new CancelledError(
          "Cannot receive: the sender stopped sending to this receiver",
        );
      default:
        throw new TypeError(
          `Cannot receive: unexpected "${message.t}" message from the sender`,
        );
    }
  }

  async #write(channel: DataChannelLike, chunk: Uint8Array): Promise<void> {
    const file = this.#manifest.files[this.#index];
    if (
      this.#headed !== channel || this.#writer === null ||
      this.#hash === null || file === undefined
    ) {
      throw new TypeError(
        "Cannot receive: file bytes came before a file header",
      );
    }
    if (this.#offset + chunk.byteLength > file.size) {
      throw new RangeError(
        `Cannot receive ${
          safeFileName(file.name)
        }: more bytes than its ${file.size}`,
      );
    }
    await this.#writer.write(chunk);
    this.#hash.update(chunk);
    this.#offset += chunk.byteLength;
    const position = this.position;
    this.#onProgress(position);
    if (position - this.#lastAck >= this.#ackBytes) {
      this.#ack(channel, position);
    }
  }

  async #endFile(
    channel: DataChannelLike,
    index: number,
    sha256: string,
  ): Promise<void> {
    const file = this.#manifest.files[index];
    if (
      index !== this.#index || this.#headed !== channel ||
      this.#writer === null || this.#hash === null
    ) {
      throw new RangeError(`Cannot receive: unexpected end of file ${index}`);
    }
    if (this.#offset !== file.size) {
      throw new RangeError(
        `Cannot receive ${
          safeFileName(file.name)
        }: it ended after ${this.#offset} of ${file.size} bytes`,
      );
    }
    const actual = this.#hash.hex();
    if (actual !== sha256) {
      channel.send(encodeControl({ t: "verified", index, ok: false }));
      throw new IntegrityError(
        `Cannot save ${
          safeFileName(file.name)
        }: it arrived corrupted (checksum mismatch)`,
      );
    }
    await this.#writer.close();
    this.#writer = null;
    this.#hash = null;
    this.#headed = null;
    this.#index++;
    this.#offset = 0;
    this.#onFileDone(index, actual);
    this.#ack(channel, this.position);
    channel.send(encodeControl({ t: "verified", index, ok: true }));
  }

  #ack(channel: DataChannelLike, position: number): void {
    this.#lastAck = position;
    if (channel.readyState === "open") {
      channel.send(encodeControl({ t: "ack", bytes: position }));
    }
  }

  async #fail(channel: DataChannelLike, error: Error): Promise<void> {
    // A sender that cancelled needs no word back: it has closed its side.
    if (
      !(error instanceof IntegrityError) &&
      !(error instanceof CancelledError) && channel.readyState === "open"
    ) {
      try {
        channel.send(encodeControl({ t: "error", message: error.message }));
      } catch {
        // The channel is going; the sender learns from its close instead.
      }
    }
    await this.abort(error);
  }
}

/**
 * Whether `next` is `held` with files (or text) added after it: the only
 * change a sender makes to its list (docs/protocol.md, "Adding files").
 * Any other list is not taken. Here, with the receiving code, so that a
 * page that only shows its list never loads it.
 */
export function addsTo(held: Manifest, next: Manifest): boolean {
  if (next.files.length < held.files.length) return false;
  const same = held.files.every((file, i) => {
    const other = next.files[i];
    return file.name === other.name && file.size === other.size &&
      file.type === other.type && file.lastModified === other.lastModified &&
      file.path === other.path;
  });
  if (!same || (held.text !== undefined && held.text !== next.text)) {
    return false;
  }
  return next.files.length > held.files.length ||
    (held.text === undefined && next.text !== undefined);
}
