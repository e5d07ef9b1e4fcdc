/**
 * Several files as one streamed zip, written through any sink that takes
 * one file (the save picker, the service-worker download, memory). The zip
 * itself is `../zip.ts`.
 *
 * @module
 */

import type { FileMeta, FileWriter, Sink } from "../sink.ts";
import { zipSize, ZipWriter } from "../zip.ts";
import { safeFileName, uniquePaths, ZIP_NAME } from "./names.ts";

export { ZIP_NAME };

/** Options of {@linkcode zipSink}. */
export interface ZipSinkOptions {
  /** The zip's name. Default {@linkcode ZIP_NAME}. */
  name?: string;
  /** Passed on to the zip writer (for tests). */
  forceZip64?: boolean;
}

class ZipSink implements Sink {
  readonly kind = "zip";
  readonly inMemory: boolean;
  #files: FileMeta[];
  /**
   * The archive as it will be written: `#files` under safe, distinct
   * paths (a shared folder's files keep theirs, `/`-separated).
   */
  #entries: FileMeta[];
  #inner: Sink;
  #options: ZipSinkOptions;
  #target: FileWriter | null = null;
  #zip: ZipWriter | null = null;
  #entry: FileWriter | null = null;
  #next = 0;
  #state: "open" | "finished" | "aborted" = "open";

  constructor(files: FileMeta[], inner: Sink, options: ZipSinkOptions) {
    this.#files = files;
    const names = uniquePaths(files);
    this.#entries = files.map((file, i) => ({ ...file, name: names[i] }));
    this.#inner = inner;
    this.#options = options;
    this.inMemory = inner.inMemory;
  }

  async #start(): Promise<ZipWriter> {
    if (this.#zip !== null) return this.#zip;
    const forceZip64 = this.#options.forceZip64 ?? false;
    const target = await this.#inner.open({
      name: this.#options.name ?? ZIP_NAME,
      size: zipSize(this.#entries, { forceZip64 }),
      type: "application/zip",
      lastModified: Date.now(),
    });
    this.#target = target;
    this.#zip = new ZipWriter((bytes) => target.write(bytes), { forceZip64 });
    return this.#zip;
  }

  async open(meta: FileMeta): Promise<FileWriter> {
    if (this.#state !== "open") {
      throw new Error(
        `Cannot open "${safeFileName(meta.name)}": the zip is ${this.#state}`,
      );
    }
    const index = this.#next;
    const expected = this.#files[index];
    if (
      expected === undefined || expected.name !== meta.name ||
      expected.size !== meta.size
    ) {
      throw new RangeError(
        `Cannot open "${safeFileName(meta.name)}": the zip expected ${
          expected
            ? `"${safeFileName(expected.name)}" (${expected.size} bytes)`
            : "no more files"
        }`,
      );
    }
    const zip = await this.#start();
    const entry = zip.add(this.#entries[index]);
    this.#next++;
    this.#entry = entry;
    return {
      write: (chunk) => entry.write(chunk),
      close: async () => {
        this.#entry = null;
        await entry.close();
      },
      // The entry's bytes are already in the stream: the whole zip goes.
      abort: async (reason) => {
        this.#entry = null;
        await entry.abort(reason);
        await this.abort(reason);
      },
    };
  }

  async finish(): Promise<void> {
    if (this.#state !== "open") {
      throw new Error(`Cannot finish the zip: it is ${this.#state}`);
    }
    if (this.#next !== this.#files.length) {
      throw new Error(
        `Cannot finish the zip: ${this.#next} of ${this.#files.length} files were written`,
      );
    }
    const zip = await this.#start();
    await zip.finish();
    this.#state = "finished";
    await this.#target!.close();
    await this.#inner.finish();
  }

  async abort(reason?: unknown): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    await this.#entry?.abort(reason).catch(() => {});
    await this.#target?.abort(reason).catch(() => {});
    await this.#inner.abort(reason);
  }
}

/**
 * A sink that writes `files` (all of them, in this order) as one streamed
 * zip into `inner`, a sink that takes one file: opened with the zip's name
 * and exact size when the first file opens. Names (and the folders of a
 * shared folder's files) are made safe and distinct. Aborting a file aborts the whole zip, whose bytes are already
 * on their way.
 */
export function zipSink(
  files: FileMeta[],
  inner: Sink,
  options: ZipSinkOptions = {},
): Sink {
  return new ZipSink(files, inner, options);
}
