/**
 * Streaming SHA-256. WebCrypto can only hash a whole buffer at once, which
 * would mean holding whole files in memory; this hashes chunk by chunk.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";

/** An incremental SHA-256. */
export class Sha256 {
  #hash = sha256.create();

  /** Adds bytes. */
  update(bytes: Uint8Array): this {
    this.#hash.update(bytes);
    return this;
  }

  /** The digest in lowercase hex. The hash cannot be updated after this. */
  hex(): string {
    return toHex(this.#hash.digest());
  }
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (let i = 0; i < bytes.length; i++) {
    hex += bytes[i].toString(16).padStart(2, "0");
  }
  return hex;
}
