/**
 * Streaming SHA-256. WebCrypto can only hash a whole buffer at once, which
 * would mean holding whole files in memory; this hashes chunk by chunk.
 *
 * The digest is plain SHA-256 of the file (what `sha256sum` prints). It is
 * computed in WebAssembly (hash-wasm): in Chromium that runs at about 300
 * MB/s where a JavaScript SHA-256 manages 50 to 75, and both pages hash every
 * byte they move, so the hash would otherwise take a large share of the CPU
 * that the data channel needs (bench/README.md). Pages therefore allow
 * `'wasm-unsafe-eval'` in their CSP (compiling WebAssembly, not `eval`).
 *
 * @module
 */

import { createSHA256, type IHasher } from "hash-wasm";

/** An incremental SHA-256. Make one with {@linkcode Sha256.create}. */
export class Sha256 {
  #hasher: IHasher;

  private constructor(hasher: IHasher) {
    this.#hasher = hasher;
  }

  /** A new hash. Asynchronous because WebAssembly compiles asynchronously. */
  static async create(): Promise<Sha256> {
    return new Sha256(await createSHA256());
  }

  /** Adds bytes. */
  update(bytes: Uint8Array): this {
    this.#hasher.update(bytes);
    return this;
  }

  /** The digest in lowercase hex. The hash cannot be updated after this. */
  hex(): string {
    return this.#hasher.digest("hex");
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
