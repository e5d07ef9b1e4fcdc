/**
 * What the two pages tell each other through the signaling server, sealed
 * and padded so the server learns as little as possible: the file list in
 * `response` and the receiver's reports in `progress`.
 *
 * The file list is JSON, compressed (`deflate-raw`), prefixed with its
 * length and padded with zeros to a power of two of at least
 * `MANIFEST_MIN_BYTES`, then cut into pages of `MANIFEST_PAGE_BYTES`, each
 * sealed for its receiver and sent as one `response` frame: a long list
 * never makes a frame over the server's cap, and the server learns the
 * list's size only to within a factor of two. The receiver takes the pages
 * as they come and reads the list once every page is in.
 *
 * A `progress` report is sealed too, bound to both peers' ids and padded to
 * `PROGRESS_PAD_BYTES`, so the server sees neither the share's size nor an
 * error's text, and cannot pass one receiver's report off as another's.
 *
 * @module
 */

import { seal, type Sealed, type ShareKeys, unseal } from "./auth.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import { type Manifest, MAX_TEXT_BYTES, parseManifest } from "./wire.ts";
import {
  MANIFEST_MAX_JSON_BYTES,
  MANIFEST_MAX_PAGES,
  MANIFEST_MIN_BYTES,
  MANIFEST_PAGE_BYTES,
  MAX_SHARED_FILES,
  PROGRESS_PAD_BYTES,
} from "./tuning.ts";

/** The message for a selection whose file list is too long to send. */
export const LIST_TOO_LONG =
  "Too many files to share at once: share fewer (or put them in a zip first), then try again.";

/** The message for text too long to share. */
export const TEXT_TOO_LONG = `The text is too long to send: at most ${
  MAX_TEXT_BYTES / 1024
} KiB can be sent as text. Save it to a file and share that instead.`;

/** The message for pages of a file list that do not fit together. */
export const LIST_DAMAGED =
  "The file list arrived damaged: open the link again, or ask the sender to share again.";

/** One page of a padded file list, as sealed in a `response` frame. */
export interface ManifestPage {
  /** This page's index, from 0. */
  i: number;
  /** Pages in the list. */
  n: number;
  /** This page's bytes, base64. */
  data: string;
}

/** What a receiver reports to the sender in `progress`. */
export type ProgressReport = { bytes: number } | { error: string };

const encoder = new TextEncoder();

/** The base64 length of a whole page: a longer `data` is no page. */
const PAGE_BASE64_CHARS = Math.ceil(MANIFEST_PAGE_BYTES / 3) * 4;

/**
 * The padded size of a list of `bytes` bytes: the next power of two, at
 * least `MANIFEST_MIN_BYTES`.
 */
export function bucketOf(bytes: number): number {
  let bucket = MANIFEST_MIN_BYTES;
  while (bucket < bytes) bucket *= 2;
  return bucket;
}

/**
 * Compresses, pads and pages a file list. Throws a `RangeError` with
 * {@linkcode LIST_TOO_LONG} when it has more than `MAX_SHARED_FILES` files
 * or would take more than `MANIFEST_MAX_PAGES` pages, and with
 * {@linkcode TEXT_TOO_LONG} when its text is over `MAX_TEXT_BYTES`.
 */
export async function encodeManifest(
  manifest: Manifest,
): Promise<ManifestPage[]> {
  if (manifest.files.length > MAX_SHARED_FILES) {
    throw new RangeError(LIST_TOO_LONG);
  }
  if (
    manifest.text !== undefined &&
    encoder.encode(manifest.text).byteLength > MAX_TEXT_BYTES
  ) {
    throw new RangeError(TEXT_TOO_LONG);
  }
  const packed = await deflate(encoder.encode(JSON.stringify(manifest)));
  const padded = new Uint8Array(bucketOf(4 + packed.byteLength));
  if (padded.byteLength > MANIFEST_MAX_PAGES * MANIFEST_PAGE_BYTES) {
    throw new RangeError(LIST_TOO_LONG);
  }
  // The length first: deflate's end is inside its stream, but a
  // decompressor refuses the zeros after it.
  new DataView(padded.buffer).setUint32(0, packed.byteLength);
  padded.set(packed, 4);
  const size = Math.min(padded.byteLength, MANIFEST_PAGE_BYTES);
  const n = padded.byteLength / size;
  const pages: ManifestPage[] = [];
  for (let i = 0; i < n; i++) {
    pages.push({
      i,
      n,
      data: toBase64(padded.subarray(i * size, (i + 1) * size)),
    });
  }
  return pages;
}

/** Seals every page of a list for one receiver (its id bound in, `seal()`). */
export function sealManifest(
  keys: ShareKeys,
  receiverId: string,
  pages: ManifestPage[],
): Promise<Sealed[]> {
  return Promise.all(pages.map((page) => seal(keys, receiverId, page)));
}

/**
 * Collects opened pages and hands back the whole list once every page is
 * in; then it starts over, as the sender sends the whole list again for
 * each `request`. Pages may come in any order. A repeat of a page already
 * held is skipped (a server may replay a frame, and every copy of a list
 * is the same); a page that contradicts one held, or is not a page, throws
 * a `TypeError` with {@linkcode LIST_DAMAGED} and starts over.
 */
export class ManifestAssembler {
  #slots: (string | undefined)[] = [];
  #filled = 0;

  /** Takes one opened page; returns every page once the list is whole. */
  add(value: unknown): ManifestPage[] | null {
    const page = parsePage(value);
    if (this.#filled === 0) {
      this.#slots = new Array(page.n);
    } else if (page.n !== this.#slots.length) {
      this.#reset();
      throw new TypeError(LIST_DAMAGED);
    }
    const held = this.#slots[page.i];
    if (held !== undefined) {
      if (held === page.data) return null;
      this.#reset();
      throw new TypeError(LIST_DAMAGED);
    }
    this.#slots[page.i] = page.data;
    this.#filled++;
    if (this.#filled < this.#slots.length) return null;
    const n = this.#slots.length;
    const pages = this.#slots.map((data, i) => ({ i, n, data: data! }));
    this.#reset();
    return pages;
  }

  #reset(): void {
    this.#slots = [];
    this.#filled = 0;
  }
}

/**
 * Reads a file list from all its pages: joins, inflates (to at most
 * `MANIFEST_MAX_JSON_BYTES`) and checks it with `parseManifest()`. Throws a
 * `TypeError` for anything that is not one.
 */
export async function decodeManifest(
  pages: ManifestPage[],
): Promise<Manifest> {
  const parts = pages.map((page) => pageBytes(page.data));
  const size = parts[0]?.byteLength ?? 0;
  if (
    pages.length === 0 || size < MANIFEST_MIN_BYTES ||
    (pages.length > 1 && size !== MANIFEST_PAGE_BYTES) ||
    parts.some((part) => part.byteLength !== size)
  ) {
    throw new TypeError(LIST_DAMAGED);
  }
  const padded = new Uint8Array(size * parts.length);
  parts.forEach((part, i) => padded.set(part, i * size));
  const length = new DataView(padded.buffer).getUint32(0);
  if (length > padded.byteLength - 4) throw new TypeError(LIST_DAMAGED);
  let text: string;
  try {
    const json = await inflate(
      padded.subarray(4, 4 + length),
      MANIFEST_MAX_JSON_BYTES,
    );
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    throw new TypeError(LIST_DAMAGED);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(LIST_DAMAGED);
  }
  return parseManifest(value);
}

/**
 * Seals a receiver's report for the sender. The associated data names both
 * peers and the purpose, so a report opens only as this receiver's
 * `progress` to this sender, never as another's, nor as a file list page.
 */
export function sealProgress(
  keys: ShareKeys,
  senderId: string,
  receiverId: string,
  report: ProgressReport,
): Promise<Sealed> {
  return seal(
    keys,
    progressBinding(senderId, receiverId),
    padTo({ ...report }, PROGRESS_PAD_BYTES),
  );
}

/**
 * Opens a receiver's sealed report. Throws an `AuthError` (from
 * `unseal()`) when it was not sealed by a holder of the link as this
 * receiver's report, and a `TypeError` when what it holds is no report.
 */
export async function openProgress(
  keys: ShareKeys,
  senderId: string,
  receiverId: string,
  sealed: unknown,
): Promise<ProgressReport> {
  const value = await unseal(
    keys,
    progressBinding(senderId, receiverId),
    sealed,
  ) as Record<string, unknown> | null;
  if (typeof value?.error === "string") {
    return { error: value.error.slice(0, 200) };
  }
  const bytes = value?.bytes;
  if (typeof bytes === "number" && Number.isSafeInteger(bytes) && bytes >= 0) {
    return { bytes };
  }
  throw new TypeError("Cannot read the progress report: it is malformed");
}

function progressBinding(senderId: string, receiverId: string): string {
  return JSON.stringify(["beam/v1", "progress", senderId, receiverId]);
}

/** `value` with a `pad` of spaces making its JSON `bytes` bytes long (UTF-8). */
function padTo(
  value: Record<string, unknown>,
  bytes: number,
): Record<string, unknown> {
  const bare = encoder.encode(JSON.stringify({ ...value, pad: "" })).length;
  return { ...value, pad: " ".repeat(Math.max(0, bytes - bare)) };
}

function parsePage(value: unknown): ManifestPage {
  const page = value as Partial<ManifestPage> | null;
  const n = page?.n;
  const i = page?.i;
  if (
    typeof n !== "number" || !Number.isSafeInteger(n) || n < 1 ||
    n > MANIFEST_MAX_PAGES || typeof i !== "number" ||
    !Number.isSafeInteger(i) || i < 0 || i >= n ||
    typeof page?.data !== "string" || page.data.length > PAGE_BASE64_CHARS
  ) {
    throw new TypeError(LIST_DAMAGED);
  }
  return { i, n, data: page.data };
}

async function deflate(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Inflates `bytes`; throws a `RangeError` past `limit` bytes of output. */
async function inflate(
  bytes: Uint8Array<ArrayBuffer>,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = new Blob([bytes]).stream()
    .pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new RangeError(
        `Cannot read the file list: it inflates past ${limit} bytes`,
      );
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

function pageBytes(text: string): Uint8Array<ArrayBuffer> {
  try {
    return fromBase64(text);
  } catch {
    throw new TypeError(LIST_DAMAGED);
  }
}
