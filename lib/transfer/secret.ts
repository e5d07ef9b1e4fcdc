/**
 * The link's key, carried in its fragment (`#…`), which browsers never send
 * to a server: the share secret (128 random bits made in the sender's
 * browser) and the id of the sender's public signing key (auth.ts's
 * `keyIdOf`), as `<secret>.<keyId>`, 45 characters.
 *
 * @module
 */

const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Makes a new secret: 22 URL-safe characters, 128 random bits. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(value >>> bits) & 63];
    }
  }
  if (bits > 0) out += ALPHABET[(value << (6 - bits)) & 63];
  return out;
}

/** Whether `text` looks like a secret made by {@linkcode newSecret}. */
export function isSecret(text: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(text);
}

/** What a link's fragment carries. */
export interface LinkKey {
  /** The share secret: keys derive from it. */
  secret: string;
  /** The id of the sender's public signing key. */
  keyId: string;
}

/** A link's fragment for `key`. */
export function formatLinkKey(key: LinkKey): string {
  return `${key.secret}.${key.keyId}`;
}

/**
 * Reads a link's fragment (without the `#`); `null` when it is not one (cut
 * short, mangled, or of an older format): the receiver then says the link
 * is damaged (an empty one is a missing key, which the sender is told).
 */
export function parseLinkKey(fragment: string): LinkKey | null {
  const match = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})$/.exec(fragment);
  return match === null ? null : { secret: match[1], keyId: match[2] };
}

/** The share link for a sender id and its link key. */
export function shareLink(
  origin: string,
  senderId: string,
  key: LinkKey,
): string {
  return `${origin}/r/${senderId}#${formatLinkKey(key)}`;
}
