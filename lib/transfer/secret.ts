/**
 * The share secret: 128 random bits made in the sender's browser, carried in
 * the link's fragment (`#…`), which browsers never send to a server.
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

/** The share link for a sender id and secret. */
export function shareLink(
  origin: string,
  senderId: string,
  secret: string,
): string {
  return `${origin}/r/${senderId}#${secret}`;
}
