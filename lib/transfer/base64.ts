/**
 * Base64 and base64url for the bytes the pages exchange through signaling
 * (sealed values, MACs, signatures, keys, file-list pages): one copy, used
 * by `auth.ts` and `manifest.ts`.
 *
 * @module
 */

/** Standard base64, with padding. */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  // In slices: one String.fromCharCode call per byte is slow on a 16 KiB
  // page, and one call for all of it can exceed the argument limit.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** Decodes standard base64; throws a `DOMException` for anything else. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** Base64url (RFC 4648 §5), without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Decodes base64url; throws a `TypeError` for a character outside it. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new TypeError(
      "Cannot decode base64url: a character is not in its alphabet",
    );
  }
  return fromBase64(text.replaceAll("-", "+").replaceAll("_", "/"));
}
