/**
 * A receiving page's session id: random, chosen once per receive, and sent
 * sealed in every `offer` it makes. A receiver that resumes after its
 * signaling socket dropped does so under a new peer id (the server assigns
 * one per socket), so the sender sees a new receiver; the session id tells
 * it that this is the same one coming back, so it can drop the old row
 * instead of leaving it "resuming" until the receiver counts as gone.
 *
 * Sealed under the share's key with both peer ids bound in (see
 * docs/protocol.md, "`offer` and `answer`"): the server sees neither the id
 * nor that two offers carry the same one, and cannot move a sealed id to
 * another peer; no one without the link can make one.
 *
 * The same sealed value carries the receiver's name (nickname.ts) when it
 * has one: `{ session, name }`. Both are optional to the sender, which
 * serves an offer without them as a new, unnamed receiver.
 *
 * @module
 */

import { toBase64Url } from "./base64.ts";
import { seal, type Sealed, type ShareKeys, unseal } from "./auth.ts";

/** A fresh session id: 16 random bytes, base64url (22 characters). */
export function newSessionId(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
}

/** The longest name accepted from a peer (nickname.ts), in characters. */
export const MAX_NICKNAME_CHARS = 32;

/**
 * What a name from a peer may look like: one to three words of ASCII
 * letters, each capitalised, one space between. Narrow on purpose: it is
 * put on another person's page, where nothing may pose as page text (no
 * punctuation, digits, bidi controls or look-alike letters).
 */
const NICKNAME = /^[A-Z][a-z]{1,15}(?: [A-Z][a-z]{1,15}){1,2}$/;

/** Whether `value` is a name this page may show (see `NICKNAME`). */
export function isNickname(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_NICKNAME_CHARS &&
    NICKNAME.test(value);
}

/** What a session id looks like once opened. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * What a receiving tab keeps of itself across a reload (the page's "Try
 * again" reloads): the same session id and name, so the sender's row and
 * the name the person was told stay the same.
 */
export interface KeptSession {
  session: string;
  name: string;
}

/** Reads a `KeptSession` kept as JSON, or `null` when there is none usable. */
export function readKept(text: string | null): KeptSession | null {
  try {
    const { session, name } = JSON.parse(text ?? "null") ?? {};
    return SESSION_ID.test(session) && isNickname(name)
      ? { session, name }
      : null;
  } catch {
    return null;
  }
}

/**
 * Seals `sessionId` (and the receiver's `name`, when given) as
 * `receiverId`'s, for the sender `senderId`.
 */
export function sealSessionId(
  keys: ShareKeys,
  senderId: string,
  receiverId: string,
  sessionId: string,
  name?: string,
): Promise<Sealed> {
  return seal(
    keys,
    binding(senderId, receiverId),
    name === undefined ? { session: sessionId } : { session: sessionId, name },
  );
}

/** A receiver's session, as the sender opened it from an `offer`. */
export interface OpenedSession {
  /** The session id. */
  id: string;
  /** The receiver's name, or `null` when it sent none or a malformed one. */
  name: string | null;
}

/**
 * Opens the session id `receiverId` sent to `senderId`, or `null` when
 * there is none (a receiver from before session ids), it does not open
 * (sealed for another pair, or not by a holder of the link) or it is not
 * one: an offer without a usable id is still served, as a new receiver.
 */
export async function openSessionId(
  keys: ShareKeys,
  senderId: string,
  receiverId: string,
  sealed: unknown,
): Promise<string | null> {
  return (await openSession(keys, senderId, receiverId, sealed))?.id ?? null;
}

/**
 * Opens the session id and name `receiverId` sent to `senderId`, as
 * {@linkcode openSessionId} does; a name that is not one (isNickname) is
 * dropped, and the receiver is shown by its id instead.
 */
export async function openSession(
  keys: ShareKeys,
  senderId: string,
  receiverId: string,
  sealed: unknown,
): Promise<OpenedSession | null> {
  if (sealed === undefined || sealed === null) return null;
  let value: { session?: unknown; name?: unknown } | null;
  try {
    value = await unseal(keys, binding(senderId, receiverId), sealed) as
      | { session?: unknown; name?: unknown }
      | null;
  } catch {
    return null;
  }
  const id = value?.session;
  if (typeof id !== "string" || !SESSION_ID.test(id)) return null;
  return { id, name: isNickname(value?.name) ? value.name : null };
}

function binding(senderId: string, receiverId: string): string {
  return JSON.stringify(["beam/v1", "session", senderId, receiverId]);
}
