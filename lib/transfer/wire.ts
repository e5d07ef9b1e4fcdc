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

/** Any control message. */
export type ControlMessage =
  | FileHeader
  | FileEnd
  | Done
  | Start
  | Ack
  | Verified
  | Failure;

/** Encodes a control message as a text message. */
export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Checks file metadata from the other side. */
export function isFileMeta(value: unknown): value is FileMeta {
  if (typeof value !== "object" || value === null) return false;
  const meta = value as Record<string, unknown>;
  return typeof meta.name === "string" && meta.name.length > 0 &&
    meta.name.length <= 1024 && isCount(meta.size) &&
    typeof meta.type === "string" && typeof meta.lastModified === "number";
}

/**
 * The longest control message accepted, in UTF-16 code units. The longest
 * honest one is a file header: a name of at most 1,024 characters, each at
 * most six when JSON escapes it, and a short MIME type.
 */
export const MAX_CONTROL_CHARS = 16 * 1024;

/**
 * Parses a control message; throws a `TypeError` for anything that is not
 * one, so a confused or hostile peer cannot steer a transfer with garbage.
 * The message returned holds only its known fields: whatever else a peer
 * adds is dropped here, not carried along.
 */
export function parseControl(text: string): ControlMessage {
  // Refused before parsing: parsing a huge text is the peer's cost to us.
  if (text.length > MAX_CONTROL_CHARS) {
    throw new TypeError(
      `Cannot parse control message: longer than ${MAX_CONTROL_CHARS} characters`,
    );
  }
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError("Cannot parse control message: not valid JSON");
  }
  if (typeof value !== "object" || value === null) {
    throw new TypeError("Cannot parse control message: not an object");
  }
  switch (value.t) {
    case "file":
      if (
        isCount(value.index) && isCount(value.offset) && isFileMeta(value.meta)
      ) {
        const { name, size, type, lastModified } = value.meta;
        return {
          t: "file",
          index: value.index,
          offset: value.offset,
          meta: { name, size, type, lastModified },
        };
      }
      break;
    case "end":
      if (
        isCount(value.index) && typeof value.sha256 === "string" &&
        /^[0-9a-f]{64}$/.test(value.sha256)
      ) {
        return { t: "end", index: value.index, sha256: value.sha256 };
      }
      break;
    case "done":
      return { t: "done" };
    case "start":
      if (isCount(value.index) && isCount(value.offset)) {
        return { t: "start", index: value.index, offset: value.offset };
      }
      break;
    case "ack":
      if (isCount(value.bytes)) return { t: "ack", bytes: value.bytes };
      break;
    case "verified":
      if (isCount(value.index) && typeof value.ok === "boolean") {
        return { t: "verified", index: value.index, ok: value.ok };
      }
      break;
    case "error":
      if (typeof value.message === "string") {
        return { t: "error", message: value.message.slice(0, 500) };
      }
      break;
  }
  throw new TypeError(
    `Cannot parse control message: malformed "${
      String(value.t).slice(0, 20)
    }" message`,
  );
}

/** The manifest: the list of files a sender shares, sent sealed in `response`. (Not the WebRTC `offer`, which the receiver makes.) */
export interface Manifest {
  /** Every file, in sending order. */
  files: FileMeta[];
}

/** Checks a manifest from the sender; throws a `TypeError` if malformed. */
export function parseManifest(value: unknown): Manifest {
  const files = (value as Manifest | null)?.files;
  if (!Array.isArray(files) || files.length === 0 || !files.every(isFileMeta)) {
    throw new TypeError("Cannot read the file list: it is malformed");
  }
  return { files };
}
