/**
 * The data-channel framing between a sender and a receiver.
 *
 * Control messages are small JSON text messages; file bytes travel as binary
 * messages between a `file` header and its `end`, which carries the file's
 * SHA-256. The receiver speaks first (`start`: where to begin, which is how
 * a transfer resumes) and acknowledges bytes it has safely written (`ack`),
 * which bounds what the sender may have in flight, so a slow disk can never
 * make the receiving page buffer without limit.
 *
 * @module
 */

import type { FileMeta } from "./sink.ts";

/** Sender to receiver: the next binary messages belong to file `index`, from `offset`. */
export interface FileHeader {
  t: "file";
  index: number;
  offset: number;
  meta: FileMeta;
}

/** Sender to receiver: file `index` is complete; its SHA-256 in hex. */
export interface FileEnd {
  t: "end";
  index: number;
  sha256: string;
}

/** Sender to receiver: every file was sent. */
export interface Done {
  t: "done";
}

/** Receiver to sender: send from file `index` at byte `offset`. */
export interface Start {
  t: "start";
  index: number;
  offset: number;
  /**
   * Send the files before this index, and no more: the length of the list
   * this receiver holds, which may be shorter than the sender's once files
   * were added to the share (docs/protocol.md, "Adding files"). Absent
   * from receivers that predate it: the sender then sends the files of the
   * first list it gave that receiver.
   */
  end?: number;
}

/**
 * Receiver to sender: every byte of the share (all files end to end) before
 * position `bytes` is safely written.
 */
export interface Ack {
  t: "ack";
  bytes: number;
}

/** Receiver to sender: file `index` was verified (or not). */
export interface Verified {
  t: "verified";
  index: number;
  ok: boolean;
}

/** Either side: the transfer failed; `message` says why, for the other page. */
export interface Failure {
  t: "error";
  message: string;
}

/**
 * Either side: the person on this side stopped the transfer on purpose
 * (the receiver pressed Cancel, or the sender stopped sending to this
 * receiver). Not a failure and not a break: the other side does not
 * resume or retry, and shows its own fixed text for it (no text travels).
 */
export interface Cancel {
  t: "cancel";
}

/**
 * The code of a sealed `progress` report `{error}` (signaling) that says
 * the receiver cancelled: for a cancel before the data channel is open,
 * and beside the channel's `cancel` in case it does not arrive.
 */
export const RECEIVER_CANCELLED = "cancelled";

/**
 * The reason of an `answer` `{refused}` (signaling) that says the sender
 * stopped sending to this receiver: for a receiver whose channel is not
 * open, or that comes back after the stop.
 */
export const SENDER_STOPPED = "stopped";

/**
 * Sender to receiver, on any of a receiver's connections once it has more
 * than one (docs/protocol.md, "Parallel connections"): the next binary
 * message on this channel holds the bytes of the share from `position`.
 * Without one, a binary message follows on from the previous one on the
 * same channel (on the first channel, from its last `file` header).
 */
export interface At {
  t: "at";
  position: number;
}

/**
 * Either side, on the first channel only: setting up parallel connection
 * `lane` (1 to `MAX_LANE`). The receiver offers (`sdp`, `mac`), the
 * sender answers (`sdp`, `mac` and the sender's signature `key`, `sig`),
 * both trickle `candidate`s, and the receiver says `ready: true` once it
 * reads the new channel, after which the sender may send on it, or
 * `ready: false` when it gives the connection up (it did not pay, or
 * failed): the sender then stops sending on it, sends again what it held
 * unacknowledged, and closes it.
 */
export interface Lane {
  t: "lane";
  lane: number;
  sdp?: string;
  mac?: string;
  key?: string;
  sig?: string;
  candidate?: RTCIceCandidateInit;
  ready?: boolean;
}

/** The highest lane number: eight connections in all, the first one included. */
export const MAX_LANE = 7;

/** Any control message. */
export type ControlMessage =
  | FileHeader
  | FileEnd
  | Done
  | Start
  | Ack
  | Verified
  | Failure
  | Cancel
  | At
  | Lane;

/** Encodes a control message as a text message. */
export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message);
}

export function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Checks file metadata from the other side. */
export function isFileMeta(value: unknown): value is FileMeta {
  if (typeof value !== "object" || value === null) return false;
  const meta = value as Record<string, unknown>;
  return typeof meta.name === "string" && meta.name.length > 0 &&
    meta.name.length <= 1024 && isCount(meta.size) &&
    typeof meta.type === "string" && typeof meta.lastModified === "number" &&
    (meta.path === undefined ||
      (typeof meta.path === "string" && meta.path.length <= MAX_PATH_CHARS));
}

/**
 * The longest control message accepted, in UTF-16 code units. The longest
 * honest one is a file header: a name of at most 1,024 characters, each at
 * most six when JSON escapes it, and a short MIME type.
 */
export const MAX_CONTROL_CHARS = 16 * 1024;

/**
 * The longest `path` accepted in a manifest, in UTF-16 code units: the
 * longest path Linux takes (4,096 bytes) can be no more characters.
 */
export const MAX_PATH_CHARS = 4096;

/**
 * The most UTF-8 bytes of text a share may carry (`Manifest.text`): a
 * snippet, a link, a note, not a document (share that as a file).
 */
export const MAX_TEXT_BYTES = 64 * 1024;

/** The manifest: the list of files a sender shares, sent sealed in `response`. (Not the WebRTC `offer`, which the receiver makes.) */
export interface Manifest {
  /** Every file, in sending order (none when the share is only text). */
  files: FileMeta[];
  /**
   * Text shared along with (or instead of) files, shown on the receiving
   * page with a copy button: at most {@linkcode MAX_TEXT_BYTES} in UTF-8.
   * Absent when there is none (and from senders that predate it).
   */
  text?: string;
  /**
   * How many connections the sender takes from this receiver, the first
   * included (2 to 8; docs/protocol.md, "Parallel connections"). Absent
   * when it takes one (and from senders that predate parallel
   * connections): the receiver then offers no more.
   */
  lanes?: number;
}

const encoder = new TextEncoder();

/** The UTF-8 length of `text`, or `Infinity` past `limit` (cheap refusal). */
function utf8Bytes(text: string, limit: number): number {
  // Each UTF-16 unit is at most three bytes: a short text needs no count.
  if (text.length * 3 <= limit) return text.length * 3;
  if (text.length > limit) return Infinity;
  return encoder.encode(text).byteLength;
}

/**
 * Checks a manifest from the sender; throws a `TypeError` if malformed.
 * The manifest returned holds only the known fields: whatever else a
 * sender adds is dropped here. A `path` is kept as sent (its checks, for
 * saving, are `safeRelativePath()`'s); a manifest with no file must carry
 * text.
 */
export function parseManifest(value: unknown): Manifest {
  const manifest = value as Partial<Manifest> | null;
  const files = manifest?.files;
  const text = manifest?.text;
  const hasText = typeof text === "string" && text.length > 0;
  if (
    !Array.isArray(files) || (files.length === 0 && !hasText) ||
    !files.every(isFileMeta) ||
    (text !== undefined &&
      (typeof text !== "string" ||
        utf8Bytes(text, MAX_TEXT_BYTES) > MAX_TEXT_BYTES))
  ) {
    throw new TypeError("Cannot read the file list: it is malformed");
  }
  const out: Manifest = {
    files: files.map(({ name, size, type, lastModified, path }) =>
      path === undefined
        ? { name, size, type, lastModified }
        : { name, size, type, lastModified, path }
    ),
  };
  if (hasText) out.text = text;
  const lanes = manifest?.lanes;
  // Anything else is read as "one connection": the transfer works anyway.
  if (isCount(lanes) && lanes >= 2 && lanes <= MAX_LANE + 1) out.lanes = lanes;
  return out;
}
