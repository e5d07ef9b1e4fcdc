/**
 * Turns whatever was thrown into words a person can act on. Every error the
 * pages show passes through here: a browser's `DOMException` by its name
 * (its own message is for developers, and differs between browsers), our
 * own errors by their message, and anything else (`undefined`, an object, a
 * number) as a plain "no reason given". The result never reads `undefined`,
 * `[object Object]` or a bare exception name, and it ends by saying what to
 * do.
 *
 * ```ts
 * describeError(new DOMException("", "NotAllowedError"));
 * // "The browser did not allow it. Allow downloads and file access for this site in the browser's settings, then try again."
 * failureText("write to the download", undefined);
 * // "Cannot write to the download: the browser gave no reason. Try again; if it keeps failing, reload the page."
 * ```
 *
 * @module
 */

import { KEY_MISSING, UNVERIFIED } from "./auth.ts";

/** What went wrong (a clause, no final stop) and what to do (a sentence). */
interface Explanation {
  cause: string;
  advice: string;
}

/** What to do when nothing more specific is known. */
export const GENERIC_ADVICE =
  "Try again; if it keeps failing, reload the page.";

/** What to do while a page tries a connection again by itself. */
export const RETRYING_ADVICE = "Wait: the page tries again by itself.";

/**
 * The `DOMException` names browsers throw at Beam's pages (saving, pickers,
 * streams, WebRTC, storage), each with its cause and what to do.
 */
export const DOM_EXCEPTION_TEXT: Readonly<Record<string, Explanation>> = {
  NotAllowedError: {
    cause: "the browser did not allow it",
    advice:
      "Allow downloads and file access for this site in the browser's settings, then try again.",
  },
  AbortError: {
    cause: "it was stopped before it finished",
    advice: "Try again when you are ready.",
  },
  QuotaExceededError: {
    cause:
      "there is not enough space left on the disk or in the browser's storage",
    advice: "Free some space, or choose another place to save, then try again.",
  },
  SecurityError: {
    cause: "the browser blocked it for security reasons",
    advice:
      "Open Beam over HTTPS in a normal (not private) window, then try again.",
  },
  NotFoundError: {
    cause: "the file or folder is no longer there",
    advice: "Choose the file or the place to save again, then try again.",
  },
  NotReadableError: {
    cause: "the file could not be read",
    advice:
      "Check that the file still exists and no other program holds it, then choose it again.",
  },
  NoModificationAllowedError: {
    cause: "the file is locked by another tab or program",
    advice: "Close it there, or choose another place to save, then try again.",
  },
  InvalidModificationError: {
    cause: "the file could not be changed",
    advice: "Choose another place to save, then try again.",
  },
  InvalidStateError: {
    cause: "the file or connection changed or closed while in use",
    advice: "Try again.",
  },
  TypeMismatchError: {
    cause: "something of that name is in the way",
    advice: "Choose another name or place to save, then try again.",
  },
  NetworkError: {
    cause: "the network failed",
    advice: "Check your connection, then try again.",
  },
  TimeoutError: {
    cause: "it took too long",
    advice: "Check your connection, then try again.",
  },
  NotSupportedError: {
    cause: "this browser does not support it",
    advice: "Use a current version of Chrome, Edge, Firefox or Safari.",
  },
  DataCloneError: {
    cause: "this browser cannot hand the data to Beam's download helper",
    advice: "Use a current version of Chrome, Edge or Firefox, or try again.",
  },
  EncodingError: {
    cause: "the data could not be encoded",
    advice: GENERIC_ADVICE,
  },
  OperationError: {
    cause: "the browser could not complete it",
    advice: GENERIC_ADVICE,
  },
  UnknownError: {
    cause: "the browser failed for a reason it did not give",
    advice: GENERIC_ADVICE,
  },
};

/** For a thrown value that says nothing (`undefined`, `null`, an object). */
const NO_REASON: Explanation = {
  cause: "the browser gave no reason",
  advice: GENERIC_ADVICE,
};

/**
 * `KEY_MISSING` and `UNVERIFIED` are codes as much as texts: both pages send
 * them over signaling and compare them (docs/protocol.md), so they stay as
 * they are and are shown as these sentences.
 */
export const KEY_MISSING_TEXT = `${KEY_MISSING}.`;
/** What both pages show when a MAC does not check out. */
export const UNVERIFIED_TEXT =
  `${UNVERIFIED}: someone between the browsers may have changed it. Send or get the link again over a channel you trust, then try again.`;

/** Text that must never reach a page. */
const JUNK = /\bundefined\b|\[object\b|\bnull\b|\bNaN\b/;

/**
 * Whether `text` is a whole sentence (or several): a capital first letter,
 * a final `.`, `!` or `?`, and no `undefined`, `null`, `NaN` or
 * `[object …]`.
 */
export function isSentence(text: string): boolean {
  return /^[A-Z]/.test(text) && /[.!?]$/.test(text) && !JUNK.test(text);
}

/** `text` with its first letter in capitals. */
function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * `text` as a clause to follow a colon: no final stop, and a small first
 * letter unless the first word is an acronym ("ICE failed").
 */
function clause(text: string): string {
  const bare = text.trim().replace(/[.!?]+$/, "");
  return /^[A-Z][a-z]/.test(bare)
    ? bare.charAt(0).toLowerCase() + bare.slice(1)
    : bare;
}

/** The name and message of an Error, DOMException or error-like object. */
function partsOf(error: unknown): { name?: string; message?: string } {
  if (typeof error === "string") return { message: error };
  if (typeof error !== "object" || error === null) return {};
  const { name, message } = error as { name?: unknown; message?: unknown };
  return {
    name: typeof name === "string" ? name : undefined,
    message: typeof message === "string" ? message : undefined,
  };
}

/**
 * The whole text of a message that already says what failed and what to
 * do (a sentence of our own, or a code of auth.ts), else `null`.
 */
function wholeText(error: unknown): string | null {
  const { name, message } = partsOf(error);
  if (name !== undefined && Object.hasOwn(DOM_EXCEPTION_TEXT, name)) {
    return null;
  }
  if (message?.startsWith(KEY_MISSING)) return KEY_MISSING_TEXT;
  if (message?.startsWith(UNVERIFIED)) return UNVERIFIED_TEXT;
  const text = message?.trim() ?? "";
  // A sentence that says nothing to do gets advice after it, as a clause.
  return isSentence(text) && saysWhatToDo(text) ? text : null;
}

/** The cause and advice for any thrown value. */
function explain(error: unknown): Explanation {
  const { name, message } = partsOf(error);
  // A browser's own message is for developers (and differs between
  // browsers); its exception name says what happened.
  if (name !== undefined && Object.hasOwn(DOM_EXCEPTION_TEXT, name)) {
    return DOM_EXCEPTION_TEXT[name];
  }
  const text = message?.trim() ?? "";
  if (text === "" || JUNK.test(text)) return NO_REASON;
  return { cause: clause(text), advice: GENERIC_ADVICE };
}

/**
 * A sentence (or two) for a person, from any thrown value: what went wrong,
 * then what to do. A message that is already such a sentence is kept as it
 * is. `advice` replaces the generic advice when the caller knows better.
 */
export function describeError(error: unknown, advice?: string): string {
  const whole = wholeText(error);
  if (whole !== null) return whole;
  const explained = explain(error);
  return `${capitalized(explained.cause)}. ${adviceFor(explained, advice)}`;
}

/** The caller's advice, unless the error's own is more precise. */
function adviceFor(explained: Explanation, advice?: string): string {
  return advice !== undefined && explained.advice === GENERIC_ADVICE
    ? advice
    : explained.advice;
}

/**
 * Only why it failed, as a clause for a text that says what to do itself
 * ("Cannot connect: …" in a connection's retries); a message that is a
 * whole sentence of its own is kept whole.
 */
export function causeOf(error: unknown): string {
  return wholeText(error) ?? explain(error).cause;
}

/**
 * "Cannot `action`: why. What to do." for any thrown value. A cause that is
 * already a whole sentence of its own (it says what failed and what to do)
 * is shown alone: it is the more precise of the two. `advice` replaces the
 * generic advice when the caller knows better.
 */
export function failureText(
  action: string,
  error: unknown,
  advice?: string,
): string {
  const whole = wholeText(error);
  if (whole !== null) return whole;
  const explained = explain(error);
  return `Cannot ${action}: ${explained.cause}. ${
    adviceFor(explained, advice)
  }`;
}

/** Verbs that open an instruction to the reader. */
const INSTRUCTION =
  /\b(try|check|ask|allow|reload|choose|copy|free|open|use|close|share|send|start|press|select|wait|keep)\b/i;

/**
 * Whether `text` tells the reader what to do (an instruction verb such as
 * "try", "check", "ask", "allow"): the tests hold every shown error to it.
 */
export function saysWhatToDo(text: string): boolean {
  return INSTRUCTION.test(text);
}

/**
 * Failures that the same link can never get past: a key that is missing,
 * wrong or changed, a link cut short, a share that ended, a sender that
 * stopped sending to this receiver. "Try again" would
 * only fail the same way, so the page offers what to do instead (the
 * message says it: ask the sender for the link again). Matched by text
 * because these are the machine's own sentences (receive_machine.ts,
 * auth.ts), tested against them.
 */
const FINAL =
  /no longer active|missing its key|could not be verified|link is malformed|link is damaged|sender refused|sharing ended|stopped sending to you/i;

/** Whether trying the same link again could end otherwise than `message`. */
export function retryHelps(message: string): boolean {
  return !FINAL.test(message);
}
