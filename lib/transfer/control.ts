/**
 * Parsing the data channel's control messages (wire.ts has their types).
 * Apart from wire.ts so that only the code that sends or receives files
 * carries it: the receive page loads that code when a download starts,
 * and its first load stays small (tests/page_weight_test.ts).
 *
 * @module
 */

import {
  type ControlMessage,
  isCount,
  isFileMeta,
  type Lane,
  MAX_CONTROL_CHARS,
  MAX_LANE,
} from "./wire.ts";

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
    case "cancel":
      return { t: "cancel" };
    case "start":
      if (
        isCount(value.index) && isCount(value.offset) &&
        (value.end === undefined || isCount(value.end))
      ) {
        return value.end === undefined
          ? { t: "start", index: value.index, offset: value.offset }
          : {
            t: "start",
            index: value.index,
            offset: value.offset,
            end: value.end,
          };
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
    case "at":
      if (isCount(value.position)) return { t: "at", position: value.position };
      break;
    case "lane": {
      const lane = parseLane(value);
      if (lane !== null) return lane;
      break;
    }
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

function isShortText(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_CONTROL_CHARS;
}

/** The `lane` message in `value`, its known fields only, or `null`. */
function parseLane(value: Record<string, unknown>): Lane | null {
  const { lane, sdp, mac, key, sig, candidate, ready } = value;
  if (!isCount(lane) || lane < 1 || lane > MAX_LANE) return null;
  const out: Lane = { t: "lane", lane };
  for (
    const [name, text] of [["sdp", sdp], ["mac", mac], ["key", key], [
      "sig",
      sig,
    ]] as const
  ) {
    if (text === undefined) continue;
    if (!isShortText(text)) return null;
    out[name] = text;
  }
  if (candidate !== undefined) {
    const c = candidate as Record<string, unknown> | null;
    if (
      typeof c !== "object" || c === null || !isShortText(c.candidate) ||
      !(c.sdpMid === undefined || c.sdpMid === null ||
        isShortText(c.sdpMid)) ||
      !(c.sdpMLineIndex === undefined || c.sdpMLineIndex === null ||
        isCount(c.sdpMLineIndex)) ||
      !(c.usernameFragment === undefined || c.usernameFragment === null ||
        isShortText(c.usernameFragment))
    ) return null;
    out.candidate = {
      candidate: c.candidate,
      ...(c.sdpMid !== undefined && { sdpMid: c.sdpMid as string | null }),
      ...(c.sdpMLineIndex !== undefined &&
        { sdpMLineIndex: c.sdpMLineIndex as number | null }),
      ...(c.usernameFragment !== undefined &&
        { usernameFragment: c.usernameFragment as string | null }),
    };
  }
  if (ready !== undefined) {
    if (typeof ready !== "boolean") return null;
    out.ready = ready;
  }
  return out;
}
