/**
 * The signaling wire contract of PROTOCOL.md, in one place: event names, their
 * arities, peer id rules, close codes, and the parsing and encoding of frames.
 * [docs/protocol.md](../../docs/protocol.md) writes the whole contract out
 * for this project: these frames, the payloads Beam's pages send in them, the
 * pair rules, limits and close codes, the data-channel messages, and what Beam
 * adds to PROTOCOL.md.
 *
 * Both the server and the islands import this module, so the two sides can
 * never disagree on a name. It has no Deno or DOM dependency.
 *
 * @module
 */

/** Every event name on the wire. Two of them contain spaces, as specified. */
export const EVENT = {
  assign: "assign",
  request: "request",
  response: "response",
  offer: "offer",
  answer: "answer",
  candidate: "candidate",
  retry: "retry",
  progress: "progress",
  invalidPeerId: "invalid peer id",
  peerNotExists: "peer not exists",
} as const;

/**
 * The one frame of the reclaim extension (docs/protocol.md, "Reclaiming an
 * id"): `["token", token]`, server to client, only to a client that asked
 * for it with `?reclaim` on the upgrade URL. Not in {@linkcode EVENT}: a
 * client of the contract alone never sees it.
 */
export const RECLAIM_EVENT = "token";

/**
 * The close code of a socket whose id a newer connection reclaimed. Its
 * client must not reclaim the id back, or two tabs would take it in turns.
 */
export const CLOSE_REPLACED = 4000;

/** Any event name. */
export type EventName =
  | typeof EVENT[keyof typeof EVENT]
  | typeof RECLAIM_EVENT;

/**
 * Events a client may send, with how many arguments follow the name: the
 * target id alone, or the target id and one JSON payload.
 */
export const CLIENT_EVENT_ARITY: Readonly<Record<string, 1 | 2>> = Object
  .freeze(
    // No prototype: a frame naming "toString" or "__proto__" must not match.
    Object.assign(Object.create(null), {
      [EVENT.request]: 1,
      [EVENT.response]: 2,
      [EVENT.offer]: 2,
      [EVENT.answer]: 2,
      [EVENT.candidate]: 2,
      [EVENT.retry]: 1,
      [EVENT.progress]: 2,
    }),
  );

/** Events a client may send. */
export type ClientEvent =
  | typeof EVENT.request
  | typeof EVENT.response
  | typeof EVENT.offer
  | typeof EVENT.answer
  | typeof EVENT.candidate
  | typeof EVENT.retry
  | typeof EVENT.progress;

/** WebSocket close codes the server uses (RFC 6455, section 7.4.1). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  tooBig: 1009,
  tryAgainLater: 1013,
} as const;

/** The default frame size limit in bytes (64 KiB). */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;

/** Length of a peer id: 16 characters of 6 bits each, 96 random bits. */
export const PEER_ID_LENGTH = 16;

const PEER_ID_ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const PEER_ID_PATTERN = /^[A-Za-z0-9_-]{16}$/;

/** Returns whether `value` is a well-formed peer id. */
export function isPeerId(value: unknown): value is string {
  return typeof value === "string" && PEER_ID_PATTERN.test(value);
}

/**
 * Makes a new peer id from 96 bits of a cryptographic random source, in the
 * URL-safe base64 alphabet, so that a share link cannot be guessed.
 */
export function newPeerId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let id = "";
  for (let i = 0; i < 12; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    id += PEER_ID_ALPHABET[n >>> 18] + PEER_ID_ALPHABET[(n >>> 12) & 63] +
      PEER_ID_ALPHABET[(n >>> 6) & 63] + PEER_ID_ALPHABET[n & 63];
  }
  return id;
}

/** A frame was refused; `code` is the close code the socket gets for it. */
export class FrameError extends Error {
  /** The WebSocket close code that answers this frame. */
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = "FrameError";
    this.code = code;
  }
}

/** A valid frame from a client, parsed once. */
export interface ClientFrame {
  /** The event name. */
  event: ClientEvent;
  /** The target as sent: not yet known to be a well-formed id. */
  target: unknown;
  /** The payload, for events that carry one. */
  payload?: unknown;
  /** The frame's text as received, kept so it can be forwarded unchanged. */
  raw: string;
}

/**
 * Returns the UTF-8 length of `text` if it is at most `limit`, else
 * `limit + 1`. It stops early, since only "too big or not" matters.
 */
export function utf8LengthUpTo(text: string, limit: number): number {
  // Each UTF-16 unit is at least one UTF-8 byte.
  if (text.length > limit) return limit + 1;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
    if (bytes > limit) return limit + 1;
  }
  return bytes;
}

/**
 * Parses and validates one frame a client sent.
 *
 * Throws a {@linkcode FrameError} carrying the close code PROTOCOL.md gives:
 * 1003 for binary data, 1009 past `maxBytes`, 1008 for anything that is not
 * a JSON array naming a client event with the right number of arguments. The
 * target is not checked here: a bad target is answered, not closed.
 */
export function parseFrame(data: unknown, maxBytes: number): ClientFrame {
  if (typeof data !== "string") {
    throw new FrameError(
      CLOSE.unsupportedData,
      "Cannot accept frame: binary frames are not supported",
    );
  }
  // Each UTF-16 unit is at most three UTF-8 bytes: most frames need no count.
  if (data.length * 3 > maxBytes && utf8LengthUpTo(data, maxBytes) > maxBytes) {
    throw new FrameError(
      CLOSE.tooBig,
      `Cannot accept frame: larger than ${maxBytes} bytes`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new FrameError(
      CLOSE.policyViolation,
      "Cannot parse frame: not valid JSON",
    );
  }
  if (!Array.isArray(value)) {
    throw new FrameError(
      CLOSE.policyViolation,
      "Cannot accept frame: not a JSON array",
    );
  }
  const event = value[0];
  if (typeof event !== "string") {
    throw new FrameError(
      CLOSE.policyViolation,
      "Cannot accept frame: event name is not a string",
    );
  }
  const arity = CLIENT_EVENT_ARITY[event];
  if (arity === undefined) {
    // The name is echoed in the close reason, which may not pass 123 bytes
    // (the socket would refuse to close): shown short and in plain ASCII.
    const shown = event.slice(0, 24).replace(/[^\x20-\x7e]/g, "?");
    throw new FrameError(
      CLOSE.policyViolation,
      `Cannot accept frame: unknown event ${JSON.stringify(shown)}`,
    );
  }
  if (value.length !== arity + 1) {
    throw new FrameError(
      CLOSE.policyViolation,
      `Cannot accept frame: "${event}" takes ${arity} argument${
        arity === 1 ? "" : "s"
      }, got ${value.length - 1}`,
    );
  }
  return {
    event: event as ClientEvent,
    target: value[1],
    payload: arity === 2 ? value[2] : undefined,
    raw: data,
  };
}

/**
 * Rewrites a valid frame for its target: the target id becomes the sender's
 * id, and everything else is kept as it came.
 *
 * Ids have one fixed length and need no escaping, so the usual case is a
 * splice of the raw text, with no second serialization of the payload. The
 * splice is taken only where the text before the id is nothing but the
 * array's opening and a plain event name; a frame written otherwise (a target
 * with JSON escapes, say, which could leave a copy of the id in the payload
 * to be found first) is serialized anew.
 */
export function relayFrame(frame: ClientFrame, from: string): string {
  const to = frame.target as string;
  const raw = frame.raw;
  // What clients send: `["event","id"` with no space, the id at a fixed
  // offset, compared in place rather than sliced off and matched. The quote
  // after the id ends the string unless the target holds a backslash,
  // which no id does: such a target takes the general way below.
  const id = frame.event.length + 5;
  if (
    raw.startsWith('["') && raw.startsWith(frame.event, 2) &&
    raw.startsWith('","', id - 3) && raw.startsWith(to, id) &&
    raw.charCodeAt(id + to.length) === QUOTE && !to.includes("\\")
  ) {
    return raw.slice(0, id) + from + raw.slice(id + to.length);
  }
  const at = raw.indexOf(`"${to}"`);
  if (at !== -1 && at < 48 && RELAY_PREFIX.test(raw.slice(0, at))) {
    return raw.slice(0, at + 1) + from + raw.slice(at + 1 + to.length);
  }
  return CLIENT_EVENT_ARITY[frame.event] === 2
    ? JSON.stringify([frame.event, from, frame.payload])
    : JSON.stringify([frame.event, from]);
}

const RELAY_PREFIX = /^\s*\[\s*"[a-z]+"\s*,\s*$/;
const QUOTE = 0x22;

/** Encodes a frame: `[event, ...args]`. */
export function encodeFrame(event: EventName, ...args: unknown[]): string {
  return JSON.stringify([event, ...args]);
}

/** A frame a client received from the server. */
export type ServerFrame =
  | { event: typeof EVENT.assign; id: string }
  | { event: typeof EVENT.invalidPeerId }
  | { event: typeof EVENT.peerNotExists }
  | { event: typeof RECLAIM_EVENT; token: string }
  | { event: ClientEvent; from: string; payload?: unknown };

/**
 * Parses a frame the server sent to a client. Throws a `TypeError` when the
 * frame does not follow the protocol, so a client never acts on garbage.
 */
export function parseServerFrame(data: unknown): ServerFrame {
  if (typeof data !== "string") {
    throw new TypeError("Cannot parse server frame: not a text frame");
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new TypeError("Cannot parse server frame: not valid JSON");
  }
  if (!Array.isArray(value) || typeof value[0] !== "string") {
    throw new TypeError("Cannot parse server frame: not an event array");
  }
  const event = value[0];
  if (event === EVENT.assign && isPeerId(value[1]) && value.length === 2) {
    return { event, id: value[1] };
  }
  if (
    (event === EVENT.invalidPeerId || event === EVENT.peerNotExists) &&
    value.length === 1
  ) {
    return { event };
  }
  if (
    event === RECLAIM_EVENT && typeof value[1] === "string" &&
    value.length === 2
  ) {
    return { event, token: value[1] };
  }
  const arity = CLIENT_EVENT_ARITY[event];
  if (arity !== undefined && value.length === arity + 1 && isPeerId(value[1])) {
    return arity === 2
      ? { event: event as ClientEvent, from: value[1], payload: value[2] }
      : { event: event as ClientEvent, from: value[1] };
  }
  throw new TypeError(
    `Cannot parse server frame: unexpected ${JSON.stringify(event)} frame`,
  );
}
