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

import type { IHasher } from "./hashers.ts";

/** An incremental SHA-256. Make one with {@linkcode Sha256.create}. */
export class Sha256 {
  #hasher: IHasher;

  private constructor(hasher: IHasher) {
    this.#hasher = hasher;
  }

  /**
   * A new hash. Asynchronous because WebAssembly compiles asynchronously,
   * and because the hasher's code is only loaded now, when a page first
   * hashes (`./hashers.ts`).
   */
  static async create(): Promise<Sha256> {
    const { createSHA256 } = await import("./hashers.ts");
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

/** Something to hash: a `File` in a page, anything sliceable in tests. */
export interface Sliceable {
  size: number;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/**
 * Adds bytes `start` to `end` of `file` to `hash`, read `readSize` at a
 * time. Rejects with `signal`'s reason once it is aborted.
 */
export async function hashRange(
  hash: Sha256,
  file: Sliceable,
  start: number,
  end: number,
  readSize: number,
  signal?: AbortSignal,
): Promise<void> {
  for (let at = start; at < end; at += readSize) {
    signal?.throwIfAborted();
    const to = Math.min(end, at + readSize);
    hash.update(new Uint8Array(await file.slice(at, to).arrayBuffer()));
  }
}

/**
 * SHA-256 (lowercase hex) of a file, read `readSize` bytes at a time.
 * Rejects with `signal`'s reason once it is aborted.
 */
export async function sha256Of(
  file: Sliceable,
  readSize = 1024 * 1024,
  signal?: AbortSignal,
): Promise<string> {
  const hash = await Sha256.create();
  await hashRange(hash, file, 0, file.size, readSize, signal);
  return hash.hex();
}

/**
 * The SHA-256 of each file of a share, computed once, one file after the
 * other, from when the share starts. Every receiver's transfer then only
 * reads and sends: the sender hashes each file once however many receivers
 * there are, not once per receiver, and a resumed transfer need not re-hash
 * what was already sent.
 */
export class ShareDigests {
  #digests: Promise<string>[] = [];
  #abort = new AbortController();
  #previous: Promise<unknown> = Promise.resolve();

  constructor(files: readonly Sliceable[]) {
    this.add(files);
  }

  /** Hashes `files` too, after the others: files added to the share. */
  add(files: readonly Sliceable[]): void {
    const signal = this.#abort.signal;
    for (const file of files) {
      // One after the other: reading files at once only splits the disk.
      const digest = this.#previous.then(() =>
        sha256Of(file, undefined, signal)
      );
      // A failure is reported to whoever asks for this file's digest.
      digest.catch(() => {});
      this.#previous = digest.catch(() => {});
      this.#digests.push(digest);
    }
  }

  /** Stops hashing (the share ended): digests not yet made reject. */
  stop(): void {
    this.#abort.abort(new Error("Cannot hash the files: sharing stopped"));
  }

  /** The digest of file `index` (rejects if it could not be read). */
  get(index: number): Promise<string> {
    const digest = this.#digests[index];
    if (digest === undefined) {
      return Promise.reject(
        new RangeError(`Cannot hash file ${index}: it is not in this share`),
      );
    }
    return digest;
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
