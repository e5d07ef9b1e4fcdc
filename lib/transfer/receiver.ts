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
  type Lane,
  type Manifest,
  MAX_LANE,
} from "./wire.ts";
import { parseControl } from "./control.ts";
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
  /**
   * Takes the sender's `lane` messages (its answers for parallel
   * connections, and their candidates). Default: dropped.
   */
  onLane?: (message: Lane) => void;
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
  #onLane: (message: Lane) => void;
  /** Adds a parallel channel to the receive under way, if there is one. */
  #attach: ((channel: DataChannelLike) => boolean) | null = null;

  constructor(manifest: Manifest, sink: Sink, options: ReceiveOptions = {}) {
    this.#manifest = manifest;
    this.#sink = sink;
    this.#ackBytes = options.ackBytes ?? ACK_BYTES;
    this.#window = options.windowBytes ?? WINDOW_BYTES;
    this.#maxChunk = options.maxChunkBytes ?? CHUNK_BYTES;
    this.#onProgress = options.onProgress ?? (() => {});
    this.#onFileDone = options.onFileDone ?? (() => {});
    this.#onLane = options.onLane ?? (() => {});
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
   * Parallel channels join it with {@linkcode FileReceiver.addLane}.
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
      // Share positions: where each channel's next binary message goes,
      // and the next byte to hand on to the sink.
      const cursor = new Map<DataChannelLike, number>();
      let next = this.position;
      /** Channels whose `at` still waits for its binary message. */
      const placed = new Set<DataChannelLike>();
      // Once a parallel channel joins, bytes may arrive ahead of `next`:
      // they wait here (within the window) and control messages wait
      // until the bytes before them are handed on.
      let reordering = false;
      const held = new Map<number, ArrayBuffer>();
      const controls: { position: number; message: ControlMessage }[] = [];
      const lanes = new Map<DataChannelLike, (event: Event) => void>();
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        channel.removeEventListener("message", onMessage);
        channel.removeEventListener("close", onClose);
        for (const [lane, listener] of lanes) {
          lane.removeEventListener("message", listener);
        }
        lanes.clear();
        held.clear();
        this.#attach = null;
        if (error) reject(error);
        else resolve();
      };
      const refuse = (refusal: Error) => {
        // Nothing more is queued; the write under way ends first, so the
        // sink is not given up under it.
        refused = true;
        queue = queue.then(async () => {
          await this.#fail(channel, refusal);
          settle(refusal);
        });
      };
      const handle = (data: ControlMessage | ArrayBuffer | string) => {
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
      // Where the file whose header was handed on ends: bytes past it wait
      // for its `end` and the next header, which may still be on their way
      // on the first channel while bytes of the next file have come on
      // another.
      let fileEnd = -1;
      /** Hands a control message on, noting where bytes may go to. */
      const handOn = (message: ControlMessage) => {
        if (message.t === "file") {
          const file = this.#manifest.files[message.index];
          fileEnd = file === undefined
            ? -1
            : this.#positionOf(message.index, file.size);
        } else if (message.t === "end") fileEnd = -1;
        handle(message);
      };
      // Hands on, in the share's order, whatever can go next.
      const pump = () => {
        for (;;) {
          if (controls.length > 0 && controls[0].position <= next) {
            handOn(controls.shift()!.message);
            continue;
          }
          if (next >= fileEnd) return;
          const chunk = held.get(next);
          if (chunk === undefined) return;
          held.delete(next);
          next += chunk.byteLength;
          handle(chunk);
        }
      };
      const take = (from: DataChannelLike, data: unknown) => {
        // Given up (say, the person cancelled): nothing more is written.
        if (settled || refused || this.#aborting !== null) return;
        // Checked as it arrives, not when its turn comes: what waits in the
        // queue is memory the sender is spending in this page.
        const refusal = admit.take(data, !reordering);
        if (refusal !== null) return refuse(refusal);
        if (typeof data === "string") {
          let message: ControlMessage;
          try {
            message = parseControl(data);
          } catch (error) {
            // Refused once its turn comes, after what arrived before it.
            if (!reordering) return handle(data);
            return refuse(error as Error);
          }
          const excess = admit.text(message);
          if (excess !== null) return refuse(excess);
          return control(from, message);
        }
        const bytes = data as ArrayBuffer;
        const position = cursor.get(from);
        placed.delete(from);
        if (position === undefined) {
          // Bytes before any header: `#handle` says why that is refused.
          if (!reordering) return handle(bytes);
          return refuse(
            new TypeError(
              "Cannot receive: file bytes came before a file header",
            ),
          );
        }
        cursor.set(from, position + bytes.byteLength);
        if (!reordering) {
          next = position + bytes.byteLength;
          return handle(bytes);
        }
        // An honest sender stops at the window past what was acknowledged;
        // one chunk more is slack for a chunk sent when nothing was in flight.
        if (
          position + bytes.byteLength - this.#lastAck >
            this.#window + this.#maxChunk
        ) {
          return refuse(
            new RangeError(
              "Cannot receive: the sender sent more than the window allows",
            ),
          );
        }
        // Had already: sent again after a parallel channel closed.
        if (position < next || held.has(position)) {
          admit.done(bytes);
          if (position + bytes.byteLength <= next || held.has(position)) {
            return;
          }
          return refuse(
            new RangeError(
              "Cannot receive: the sender sent overlapping bytes",
            ),
          );
        }
        held.set(position, bytes);
        pump();
      };
      const control = (from: DataChannelLike, message: ControlMessage) => {
        const files = this.#manifest.files;
        let position: number;
        switch (message.t) {
          case "at":
            // One `at` per binary message at most: `at`s are not charged.
            if (placed.has(from)) {
              return refuse(
                new TypeError(
                  "Cannot receive: the sender said twice where bytes go, with none between",
                ),
              );
            }
            placed.add(from);
            cursor.set(from, message.position);
            return;
          case "lane":
            // Setting up a parallel connection: the session's, at once.
            if (from === channel) return this.#onLane(message);
            position = next;
            break;
          case "file":
            position = message.index < files.length
              ? this.#positionOf(message.index, message.offset)
              : next;
            cursor.set(from, position);
            break;
          case "end":
            position = message.index < files.length
              ? this.#positionOf(message.index, files[message.index].size)
              : next;
            break;
          case "done":
            // After every `end` before it, which the queue keeps.
            position = -Infinity;
            break;
          default:
            // An error, a cancel or a message out of place: at once.
            return handle(message);
        }
        if (from !== channel) {
          return refuse(
            new TypeError(
              `Cannot receive: a "${message.t}" message on a parallel connection`,
            ),
          );
        }
        if (!reordering) {
          if (message.t === "file") next = position;
          return handOn(message);
        }
        controls.push({ position, message });
        pump();
      };
      const onMessage = (event: Event) =>
        take(channel, (event as MessageEvent).data);
      const onClose = () => {
        // Let what already arrived be written first: it counts for resuming.
        queue = queue.then(() => settle(new ChannelClosedError()));
      };
      channel.addEventListener("message", onMessage);
      channel.addEventListener("close", onClose);
      this.#attach = (lane) => {
        if (settled || lanes.has(lane) || lane === channel) return false;
        lane.binaryType = "arraybuffer";
        reordering = true;
        const listener = (event: Event) =>
          take(lane, (event as MessageEvent).data);
        lanes.set(lane, listener);
        lane.addEventListener("message", listener);
        return true;
      };
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
   * Adds a parallel channel (open, its certificate checked) to the receive
   * under way, before the sender is told it may send on it (`ready`).
   * Returns false when no receive is under way: then it has no use.
   */
  addLane(channel: DataChannelLike): boolean {
    return this.#attach?.(channel) ?? false;
  }

  /** The share-wide position of byte `offset` of file `index`. */
  #positionOf(index: number, offset: number): number {
    let position = offset;
    for (let i = 0; i < index; i++) position += this.#manifest.files[i].size;
    return position;
  }

  /**
   * The limits a sender is held to, checked as each message arrives:
   * `take()` returns why a message is refused (or `null`), `done()` is
   * called once it has been handled (or found to be a repeat).
   */
  #admission(): {
    take(data: unknown, ordered: boolean): Error | null;
    text(message: ControlMessage): Error | null;
    done(data: unknown): void;
  } {
    // Share position of the bytes taken off the first channel, written or
    // not (with parallel channels, positions are checked by `receive()`).
    let arrived = this.position;
    // A file header and an end per file left, `done`, and an `error` or
    // a `cancel`; `lane` messages for each parallel connection (its answer
    // and its candidates). An `at` is not counted: one may come before
    // each binary message, no more (`receive()` checks).
    let texts = 2 * (this.#manifest.files.length - this.#index) + 2;
    let laneTexts = MAX_LANE * 64;
    // Charged bytes of binary messages waiting for the sink.
    let waiting = 0;
    const limit = this.#window + this.#maxChunk;
    const charge = (size: number) => Math.max(size, MESSAGE_CHARGE);
    return {
      text: (message) => {
        if (message.t === "at") return null;
        if (message.t === "lane" ? --laneTexts < 0 : --texts < 0) {
          return new RangeError(
            "Cannot receive: the sender sent more control messages than the share needs",
          );
        }
        return null;
      },
      take: (data, ordered) => {
        if (typeof data === "string") return null;
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
        if ((ordered && arrived - this.#lastAck > limit) || waiting > limit) {
          return new RangeError(
            "Cannot receive: the sender sent more than the window allows",
          );
        }
        return null;
      },
      done: (data) => {
        if (typeof data !== "string" && data instanceof ArrayBuffer) {
          waiting -= charge(data.byteLength);
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
  async #handle(
    channel: DataChannelLike,
    data: ControlMessage | ArrayBuffer | string,
  ): Promise<boolean> {
    if (data instanceof ArrayBuffer) {
      await this.#write(channel, new Uint8Array(data));
      return false;
    }
    const message: ControlMessage = typeof data === "string"
      ? parseControl(data)
      : data;
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
