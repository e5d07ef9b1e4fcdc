/**
 * The sending half of a transfer: reads files chunk by chunk (never whole),
 * hashes them as they go, and sends them over a data channel with two
 * brakes: the channel's own send buffer (`bufferedAmount` against a
 * high-water mark) and the receiver's acknowledged window (bytes it has
 * safely written), so neither side's memory grows with the file.
 *
 * @module
 */

import {
  type ControlMessage,
  encodeControl,
  type Lane,
  MAX_LANE,
  type Start,
} from "./wire.ts";
import { parseControl } from "./control.ts";
import {
  CancelledError,
  ChannelClosedError,
  type DataChannelLike,
  drained,
} from "./channel.ts";
import { hashRange, Sha256, type Sliceable } from "./hash.ts";
import type { FileMeta } from "./sink.ts";
import {
  FALLBACK_CHUNK_BYTES,
  HIGH_WATER_BYTES,
  LANE_STUCK_MS,
  LOW_WATER_BYTES,
  READ_BYTES,
  WINDOW_BYTES,
} from "./tuning.ts";

/** A file to send: a `File` in a page, anything sliceable in tests. */
export interface SourceFile extends FileMeta, Sliceable {}

/** Tuning of a {@linkcode FileSender}; the defaults were measured (bench/). */
export interface SendOptions {
  /** Bytes per binary message. Default `FALLBACK_CHUNK_BYTES` (tuning.ts). */
  chunkSize?: number;
  /**
   * Bytes per read of the file, sent as several messages. Default `READ_BYTES` (at
   * least `chunkSize`): each read is a round trip to the browser process, so
   * fewer, larger reads cost less CPU per byte.
   */
  readSize?: number;
  /** Stop sending while the channel buffers more than this. Default `HIGH_WATER_BYTES`. */
  highWaterMark?: number;
  /** Resume when the buffer falls to this. Default `LOW_WATER_BYTES`. */
  lowWaterMark?: number;
  /** Most bytes sent but not yet acknowledged as written. Default `WINDOW_BYTES`. */
  windowBytes?: number;
  /** Called as the receiver acknowledges: bytes of the share written so far. */
  onProgress?: (bytes: number) => void;
  /**
   * The SHA-256 of file `index`, computed elsewhere (see `ShareDigests`):
   * then the sender does not hash while it sends. Without it, each file is
   * hashed as it is sent.
   */
  digest?: (index: number) => Promise<string>;
  /**
   * How many files to send to a receiver whose `start` names no `end` (a
   * page that predates adding files): the length of the list it was
   * given. Default: every file.
   */
  listed?: number;
  /**
   * Takes the receiver's `lane` messages (setting up parallel connections,
   * docs/protocol.md). Without it, a `lane` message fails the transfer as
   * one this sender does not take.
   */
  onLane?: (message: Lane) => void;
  /**
   * A parallel channel whose buffer has not moved for this long, while the
   * sender waits on the receiver, is given up: what it held goes on the
   * others. Default `LANE_STUCK_MS`.
   */
  stuckMs?: number;
}

/**
 * Bytes of the share sent on a parallel channel and not yet acknowledged:
 * sent again on another channel if that one closes.
 */
interface Piece {
  position: number;
  index: number;
  offset: number;
  length: number;
}

/**
 * The most `lane` messages a receiver may send in one transfer: an offer,
 * `ready` and a few dozen candidates for each lane.
 */
const MAX_LANE_MESSAGES = MAX_LANE * 64;

/** Metadata of a file, without anything else a `File` carries. */
export function metaOf(file: FileMeta): FileMeta {
  return {
    name: file.name,
    size: file.size,
    type: file.type,
    lastModified: file.lastModified,
  };
}

/**
 * A file as the manifest lists it: {@linkcode metaOf} and, for a shared
 * folder's file, its `path`. (A `file` header carries no path: the
 * receiver takes it from the manifest.)
 */
export function listedMetaOf(file: FileMeta): FileMeta {
  const meta = metaOf(file);
  return typeof file.path === "string" && file.path !== ""
    ? { ...meta, path: file.path }
    : meta;
}

/**
 * Sends a set of files over one channel, from where the receiver asks, and
 * over the parallel channels added to it ({@linkcode FileSender.addLane}):
 * each chunk goes to the channel with the least buffered, preceded on it by
 * an `at` message when it does not follow on from that channel's last.
 */
export class FileSender {
  #channel: DataChannelLike;
  #files: SourceFile[];
  #chunkSize: number;
  #readSize: number;
  #high: number;
  #low: number;
  #window: number;
  #onProgress: (bytes: number) => void;
  #digest: ((index: number) => Promise<string>) | null;
  // Positions in the whole share (all files end to end), not per file.
  #sent = 0;
  #acked = 0;
  #waiters: (() => void)[] = [];
  #messages: ControlMessage[] = [];
  #failure: Error | null = null;
  #verified = new Set<number>();
  /** The receiver's `start`, once it came: it may come only once. */
  #start: Start | null = null;
  /** Files whose `end` was sent: from `#start.index` up to this. */
  #ended = 0;
  /** Files to send: the receiver's list's length (`Start.end`). */
  #end: number;
  #onLane: ((message: Lane) => void) | null;
  #laneMessages = 0;
  /** Parallel channels in use, and what each holds unacknowledged. */
  #lanes = new Map<DataChannelLike, Piece[]>();
  /** The share position each channel's next binary message goes to. */
  #cursor = new Map<DataChannelLike, number>();
  /** Pieces of a parallel channel that closed, to send again. */
  #lost: Piece[] = [];
  /** Each parallel channel's buffer when last looked at, and since when. */
  #seen = new Map<DataChannelLike, { bytes: number; since: number }>();
  /** Parallel channels given up as stuck, until their buffers drain. */
  #parked = new Set<DataChannelLike>();
  #stuckMs: number;

  constructor(
    channel: DataChannelLike,
    files: SourceFile[],
    options: SendOptions = {},
  ) {
    this.#channel = channel;
    this.#files = files;
    this.#chunkSize = options.chunkSize ?? FALLBACK_CHUNK_BYTES;
    this.#readSize = Math.max(
      this.#chunkSize,
      options.readSize ?? READ_BYTES,
    );
    this.#high = options.highWaterMark ?? HIGH_WATER_BYTES;
    this.#low = options.lowWaterMark ?? LOW_WATER_BYTES;
    this.#window = options.windowBytes ?? WINDOW_BYTES;
    this.#onProgress = options.onProgress ?? (() => {});
    this.#digest = options.digest ?? null;
    this.#end = Math.min(options.listed ?? files.length, files.length);
    this.#onLane = options.onLane ?? null;
    this.#stuckMs = options.stuckMs ?? LANE_STUCK_MS;
    if (this.#chunkSize < 1 || this.#low > this.#high) {
      throw new RangeError(
        "Cannot send: chunkSize must be positive and lowWaterMark at most highWaterMark",
      );
    }
  }

  /** Bytes sent that the receiver has not acknowledged yet. */
  get owed(): number {
    return this.#sent - this.#acked;
  }

  /** Bytes waiting in the send buffers of every channel. */
  get buffered(): number {
    let bytes = this.#channel.bufferedAmount;
    for (const lane of this.#lanes.keys()) bytes += lane.bufferedAmount;
    return bytes;
  }

  /** Channels carrying the files: the first one and its parallel ones. */
  get channels(): number {
    return 1 + this.#lanes.size;
  }

  /**
   * Adds a parallel channel (open, and read by the receiver: it said
   * `ready`) that carries file bytes from now on. If it closes, what it
   * held unacknowledged is sent again on the others; the transfer goes on.
   */
  addLane(channel: DataChannelLike): void {
    if (this.#failure !== null || this.#start === null) {
      channel.close();
      return;
    }
    channel.binaryType = "arraybuffer";
    channel.bufferedAmountLowThreshold = this.#low;
    this.#lanes.set(channel, []);
    channel.addEventListener("close", () => this.removeLane(channel));
    // The receiver speaks on the first channel only.
    channel.addEventListener("message", () =>
      this.#fail(
        new TypeError(
          "Cannot send: the receiver sent a message on a parallel connection",
        ),
      ));
    this.#wakeAll();
  }

  /**
   * Stops using a parallel channel (its connection broke; a closed channel
   * does this by itself): what it held unacknowledged is sent again on the
   * others.
   */
  removeLane(channel: DataChannelLike): void {
    const pieces = this.#lanes.get(channel);
    if (pieces === undefined) return;
    this.#lanes.delete(channel);
    this.#cursor.delete(channel);
    this.#seen.delete(channel);
    this.#lost.push(
      ...pieces.filter((p) => p.position + p.length > this.#acked),
    );
    this.#lost.sort((a, b) => a.position - b.position);
    this.#wakeAll();
  }

  /**
   * Serves the receiver until every file is sent and verified. Rejects when
   * the channel closes first (a resumable break: {@linkcode ChannelClosedError})
   * or the receiver reports a failure.
   */
  /**
   * Stops sending file data at once (the sharing page stopped): `run()`
   * rejects with `reason`, and what is already queued still leaves, so that
   * a message sent after this (why it stopped) is the next to arrive.
   */
  halt(reason: Error): void {
    this.#fail(reason);
  }

  async run(): Promise<void> {
    const channel = this.#channel;
    channel.binaryType = "arraybuffer";
    channel.bufferedAmountLowThreshold = this.#low;
    const onMessage = (event: Event) =>
      this.#receive((event as MessageEvent).data);
    const onClose = () => this.#fail(new ChannelClosedError());
    channel.addEventListener("message", onMessage);
    channel.addEventListener("close", onClose);
    try {
      // #receive checked it is inside the share and set the positions.
      const start = await this.#next("start") as Start;
      // Files added after the receiver's list was made are not its to
      // receive on this channel: it asks for them on another.
      for (let index = start.index; index < this.#end; index++) {
        await this.#sendFile(index, index === start.index ? start.offset : 0);
      }
      channel.send(encodeControl({ t: "done" }));
      // Done only when the receiver has checked every file's hash; until
      // then, what a parallel channel held when it closed is sent again
      // (it may close after the last new byte was handed to it).
      while (this.#verified.size < this.#end - start.index) {
        if (this.#failure) throw this.#failure;
        if (this.#lost.length > 0) await this.#sendLost();
        else await this.#waitOrCheck();
      }
    } finally {
      channel.removeEventListener("message", onMessage);
      channel.removeEventListener("close", onClose);
    }
  }

  async #sendFile(index: number, offset: number): Promise<void> {
    const file = this.#files[index];
    let hash: Sha256 | null = null;
    if (this.#digest === null) {
      hash = await Sha256.create();
      // Resuming: the receiver kept its hash of the bytes it has; rebuild
      // ours from the local file, which costs a read, not the network.
      await hashRange(hash, file, 0, offset, 4 * 1024 * 1024);
    }
    this.#send(encodeControl({ t: "file", index, offset, meta: metaOf(file) }));
    // A file header says where the first channel's next bytes go.
    let position = this.#position(index, offset);
    this.#cursor.set(this.#channel, position);
    let next = offset < file.size ? this.#readAhead(file, offset) : null;
    for (let at = offset; at < file.size;) {
      const block = await next!;
      const end = at + block.byteLength;
      // Read the next block while this one is sent.
      next = end < file.size ? this.#readAhead(file, end) : null;
      hash?.update(block);
      for (let i = 0; i < block.byteLength; i += this.#chunkSize) {
        const chunk = block.subarray(i, i + this.#chunkSize);
        const channel = await this.#room(chunk.byteLength);
        this.#put(channel, chunk, {
          position,
          index,
          offset: at + i,
          length: chunk.byteLength,
        });
        position += chunk.byteLength;
        this.#sent += chunk.byteLength;
      }
      at = end;
    }
    const sha256 = hash === null ? await this.#digest!(index) : hash.hex();
    // Counted before it is sent: from then on a `verified` may answer it.
    this.#ended = index + 1;
    this.#send(encodeControl({ t: "end", index, sha256 }));
  }

  /** The share-wide position of byte `offset` of file `index`. */
  #position(index: number, offset: number): number {
    let position = offset;
    for (let i = 0; i < index; i++) position += this.#files[i].size;
    return position;
  }

  /**
   * Starts a read that is awaited later. If sending fails first (the channel
   * closed), nobody awaits it: mark its failure handled so it is not
   * reported as an uncaught rejection; whoever awaits it still sees it.
   */
  #readAhead(file: SourceFile, at: number): Promise<Uint8Array<ArrayBuffer>> {
    const read = this.#read(file, at);
    read.catch(() => {});
    return read;
  }

  async #read(file: SourceFile, at: number): Promise<Uint8Array<ArrayBuffer>> {
    const end = Math.min(file.size, at + this.#readSize);
    return new Uint8Array(await file.slice(at, end).arrayBuffer());
  }

  /**
   * Waits until the receiver's window and a channel's buffer have room, and
   * returns that channel. Pieces lost with a parallel channel go first:
   * the receiver can write nothing past them.
   */
  async #room(bytes: number): Promise<DataChannelLike> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (this.#lost.length > 0) {
        await this.#sendLost();
      } else if (
        this.#sent + bytes - this.#acked > this.#window &&
        this.#sent > this.#acked
      ) {
        await this.#waitOrCheck();
      } else {
        const channel = this.#pick();
        if (channel.bufferedAmount <= this.#high) return channel;
        await this.#anyDrained();
      }
    }
  }

  /** The channel with the least buffered (the first one when alone). */
  #pick(): DataChannelLike {
    for (const lane of this.#parked) {
      if (lane.readyState !== "open") this.#parked.delete(lane);
      else if (lane.bufferedAmount === 0) {
        // Out of its timeouts: carrying chunks again.
        this.#parked.delete(lane);
        this.#lanes.set(lane, []);
      }
    }
    let best = this.#channel;
    for (const lane of this.#lanes.keys()) {
      if (lane.bufferedAmount < best.bufferedAmount) best = lane;
    }
    return best;
  }

  /**
   * Resolves once any channel's buffer is low, a parallel channel closes,
   * or anything else wakes the sender; rejects as `drained()` does when the
   * first channel closes.
   */
  #anyDrained(): Promise<void> {
    if (this.#lanes.size === 0) return drained(this.#channel);
    const channels = [this.#channel, ...this.#lanes.keys()];
    return new Promise((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        for (const channel of channels) {
          channel.removeEventListener("bufferedamountlow", finish);
          channel.removeEventListener("close", finish);
        }
        resolve();
      };
      for (const channel of channels) {
        channel.addEventListener("bufferedamountlow", finish);
        channel.addEventListener("close", finish);
      }
      this.#waiters.push(finish);
    });
  }

  /** Sends a chunk on `channel`, saying where it goes if it does not follow on. */
  #put(
    channel: DataChannelLike,
    chunk: Uint8Array<ArrayBuffer>,
    piece: Piece,
  ): void {
    const pieces = this.#lanes.get(channel);
    try {
      if (this.#cursor.get(channel) !== piece.position) {
        this.#send(
          encodeControl({ t: "at", position: piece.position }),
          channel,
        );
      }
      this.#send(chunk, channel);
    } catch (error) {
      // A parallel channel that is closing: its pieces go on another.
      if (pieces === undefined) throw error;
      pieces.push(piece);
      this.removeLane(channel);
      return;
    }
    this.#cursor.set(channel, piece.position + piece.length);
    if (pieces === undefined) return;
    // Kept until acknowledged, in case this channel closes.
    while (
      pieces.length > 0 && pieces[0].position + pieces[0].length <= this.#acked
    ) {
      pieces.shift();
    }
    pieces.push(piece);
  }

  /** Sends again, read from the file, what a closed parallel channel held. */
  async #sendLost(): Promise<void> {
    while (this.#lost.length > 0) {
      const piece = this.#lost.shift()!;
      if (piece.position + piece.length <= this.#acked) continue;
      const file = this.#files[piece.index];
      const chunk = new Uint8Array(
        await file.slice(piece.offset, piece.offset + piece.length)
          .arrayBuffer(),
      );
      for (;;) {
        if (this.#failure) throw this.#failure;
        const channel = this.#pick();
        if (channel.bufferedAmount <= this.#high) {
          this.#put(channel, chunk, piece);
          break;
        }
        await this.#anyDrained();
      }
    }
  }

  #send(
    data: string | Uint8Array<ArrayBuffer>,
    channel = this.#channel,
  ): void {
    if (this.#failure) throw this.#failure;
    if (channel.readyState !== "open") throw new ChannelClosedError();
    channel.send(data);
  }

  #receive(data: unknown): void {
    if (typeof data !== "string") {
      this.#fail(
        new TypeError(
          "Cannot read the receiver's message: binary data from a receiver",
        ),
      );
      return;
    }
    let message: ControlMessage;
    try {
      message = parseControl(data);
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    if (message.t === "start") {
      const refusal = this.#checkStart(message);
      if (refusal !== null) {
        this.#fail(refusal);
        return;
      }
      this.#start = message;
      if (message.end !== undefined) this.#end = message.end;
      this.#ended = message.index;
      this.#sent = this.#acked = this.#position(message.index, message.offset);
      this.#messages.push(message);
    } else if (message.t === "ack") {
      // Acknowledging what was never sent would open the window without
      // limit (and report progress that did not happen).
      if (this.#start === null || message.bytes > this.#sent) {
        this.#fail(
          new RangeError(
            `Cannot send: the receiver acknowledged ${message.bytes} bytes of the share, but ${this.#sent} were sent`,
          ),
        );
        return;
      }
      if (message.bytes > this.#acked) {
        this.#acked = message.bytes;
        this.#onProgress(this.#acked);
      }
    } else if (message.t === "verified") {
      // Only a file whose end was sent on this channel can be verified: a
      // stray index must not count towards "every file verified".
      if (
        this.#start === null || message.index < this.#start.index ||
        message.index >= this.#ended
      ) {
        this.#fail(
          new RangeError(
            `Cannot send: the receiver verified file ${message.index}, which was not sent`,
          ),
        );
        return;
      }
      // Each file is verified once: repeats would pile up unread.
      if (this.#verified.has(message.index)) {
        this.#fail(
          new RangeError(
            `Cannot send: the receiver verified file ${message.index} twice`,
          ),
        );
        return;
      }
      if (!message.ok) {
        this.#fail(
          new Error(
            `Cannot complete the transfer: ${
              this.#files[message.index]?.name ?? "a file"
            } arrived corrupted (checksum mismatch)`,
          ),
        );
        return;
      }
      this.#verified.add(message.index);
    } else if (message.t === "error") {
      this.#fail(new Error(`The receiver stopped: ${message.message}`));
      return;
    } else if (message.t === "cancel") {
      this.#fail(new CancelledError("Cannot send: the receiver cancelled"));
      return;
    } else if (message.t === "lane" && this.#onLane !== null) {
      if (++this.#laneMessages > MAX_LANE_MESSAGES) {
        this.#fail(
          new RangeError(
            "Cannot send: the receiver sent more connection messages than parallel connections need",
          ),
        );
        return;
      }
      this.#onLane(message);
      return;
    } else {
      // `file`, `end`, `done` and `at` are the sender's to say.
      this.#fail(
        new TypeError(
          `Cannot send: unexpected "${message.t}" message from the receiver`,
        ),
      );
      return;
    }
    this.#wakeAll();
  }

  /** Why a `start` is refused, or `null` when it is inside the share. */
  #checkStart(start: Start): Error | null {
    if (this.#start !== null) {
      return new TypeError("Cannot send: the receiver asked to start twice");
    }
    if (start.end !== undefined && start.end > this.#files.length) {
      return new RangeError(
        `Cannot send: the receiver asked for ${start.end} files, but the share has ${this.#files.length}`,
      );
    }
    const end = start.end ?? this.#end;
    const file = start.index < end ? this.#files[start.index] : undefined;
    // Past the last file only "nothing left" (offset 0) is a position.
    if (file === undefined && start.index === end) {
      return start.offset === 0 ? null : new RangeError(
        `Cannot resume: offset ${start.offset} is past the end of the share`,
      );
    }
    if (file === undefined) {
      return new RangeError(
        `Cannot resume: file ${start.index} is not in this share`,
      );
    }
    if (start.offset > file.size) {
      return new RangeError(
        `Cannot resume ${file.name}: offset ${start.offset} is past its end`,
      );
    }
    return null;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#wakeAll();
  }

  /**
   * Waits to be woken, as `#wake()`; with parallel channels, at most a
   * fraction of `stuckMs`, and then gives up any of them whose buffer has
   * not moved for `stuckMs`. Called where the sender waits on the
   * receiver: a connection in retransmission timeouts (its round trip
   * backing off to seconds) holds chunks the receiver cannot write past,
   * while the others could carry them.
   */
  async #waitOrCheck(): Promise<void> {
    if (this.#lanes.size === 0) return await this.#wake();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#wake(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#stuckMs / 4);
      }),
    ]);
    clearTimeout(timer);
    const now = Date.now();
    for (const lane of [...this.#lanes.keys()]) {
      const bytes = lane.bufferedAmount;
      const seen = this.#seen.get(lane);
      if (seen === undefined || seen.bytes !== bytes) {
        this.#seen.set(lane, { bytes, since: now });
      } else if (bytes > 0 && now - seen.since >= this.#stuckMs) {
        // Left open, and used again once its buffer has drained: what it
        // still delivers meanwhile is dropped as a repeat.
        this.removeLane(lane);
        this.#parked.add(lane);
      }
    }
  }

  #wake(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  async #next(type: ControlMessage["t"]): Promise<ControlMessage> {
    for (;;) {
      const at = this.#messages.findIndex((m) => m.t === type);
      if (at !== -1) return this.#messages.splice(at, 1)[0];
      if (this.#failure) throw this.#failure;
      await this.#wake();
    }
  }
}
