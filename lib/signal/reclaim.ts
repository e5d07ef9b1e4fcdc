/**
 * Reclaim tokens: what lets a page that lost its signaling socket (a network
 * change, a deploy, a server restart) come back under the same peer id, so
 * that its share link keeps working. An additive extension of PROTOCOL.md,
 * only for clients that ask for it (docs/protocol.md, "Reclaiming an id").
 *
 * A token is `<id>.<expiry>.<mac>`: the id, the expiry in Unix seconds, and
 * an HMAC-SHA256 of `beam-reclaim-v1.<id>.<expiry>` under the server's key,
 * in unpadded base64url. The server keeps nothing per token, so a token
 * outlives the process that issued it as long as the next process has the
 * same key (`SIGNAL_SECRET`); without one, each process draws a random key
 * and only its own tokens hold.
 *
 * This module is server-only: it uses `node:crypto` for a synchronous HMAC,
 * so an upgrade is checked in the same turn it arrives.
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isPeerId } from "./protocol.ts";

/** How long a token is valid after it is issued, in seconds. */
export const TOKEN_TTL_SECONDS = 90;
/**
 * How often a connected client is sent a fresh token, in seconds: its newest
 * token is never older than this, so a reclaim succeeds for at least
 * `TOKEN_TTL_SECONDS - TOKEN_REFRESH_SECONDS` (60 s) after its socket closed.
 */
export const TOKEN_REFRESH_SECONDS = 30;

const LABEL = "beam-reclaim-v1";
const TOKEN_PATTERN = /^([A-Za-z0-9_-]{16})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/** Issues and checks reclaim tokens under one key. */
export class ReclaimKeys {
  #key: Uint8Array;

  /**
   * `secret`: the shared key (any non-empty string, say 32 random bytes in
   * hex); `undefined` draws a random key that lives as long as this object.
   */
  constructor(secret?: string) {
    this.#key = secret === undefined || secret === ""
      ? new Uint8Array(randomBytes(32))
      : new TextEncoder().encode(secret);
  }

  /** A token for `id`, valid `ttlSeconds` from `now` (ms since the epoch). */
  issue(id: string, now = Date.now(), ttlSeconds = TOKEN_TTL_SECONDS): string {
    const expiry = Math.floor(now / 1000) + ttlSeconds;
    return `${id}.${expiry}.${this.#mac(id, expiry)}`;
  }

  /**
   * The id a token reclaims, or `null` when it is malformed, forged (another
   * key) or expired at `now`.
   */
  verify(token: string, now = Date.now()): string | null {
    const match = TOKEN_PATTERN.exec(token);
    if (match === null) return null;
    const [, id, expiryText, mac] = match;
    const expiry = Number(expiryText);
    if (!isPeerId(id) || expiry * 1000 <= now) return null;
    const expected = new TextEncoder().encode(this.#mac(id, expiry));
    const given = new TextEncoder().encode(mac);
    return timingSafeEqual(expected, given) ? id : null;
  }

  #mac(id: string, expiry: number): string {
    return createHmac("sha256", this.#key)
      .update(`${LABEL}.${id}.${expiry}`)
      .digest("base64url");
  }
}
