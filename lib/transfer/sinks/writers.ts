/**
 * The plumbing the sinks share: a {@linkcode FileWriter} over a
 * WritableStream, batching into reused 1 MiB buffers, and a sink that opens
 * one writer at a time so that `abort()` can reach the open one.
 *
 * A writer may keep a chunk after `write()` resolves: pass each chunk once
 * and do not reuse its buffer.
 *
 * @module
 */

import type { FileMeta, FileWriter, Sink, SinkKind } from "../sink.ts";
import { safeFileName } from "./names.ts";
import { failureText } from "../error_text.ts";

/**
 * Bytes gathered into one write to a file or one message to the service
 * worker. Each of those costs a round trip to another process: data-channel
 * chunks (16 to 256 KiB) written one by one run two to three times slower
 * in Chromium than 1 MiB batches.
 */
export const WRITE_BATCH = 1 << 20;

/**
 * A {@linkcode FileWriter} over a WritableStream. Writes are pipelined: the
 * next chunk is taken while the stream still writes this one, up to the
 * stream's own high-water mark; `cleanup` runs after an abort, `written`
 * after the stream has taken each chunk (its bytes may then be reused).
 */
export function streamWriter(
  stream: WritableStream<Uint8Array>,
  what: string,
  cleanup: () => Promise<void> = async () => {},
  written: (chunk: Uint8Array<ArrayBuffer>) => void = () => {},
): FileWriter {
  const writer = stream.getWriter();
  // "closing" also covers a close that failed: an abort may still clean up.
  let state: "open" | "closing" | "closed" | "aborted" = "open";
  function check(action: string): void {
    if (state !== "open") {
      throw new Error(`Cannot ${action} ${what}: it is ${state}`);
    }
  }
  return {
    async write(chunk) {
      check("write to");
      try {
        await writer.ready;
      } catch (error) {
        // A stream errored without a reason (a download the browser
        // cancelled) must not read "undefined": failureText() words any
        // reason for a person.
        throw new Error(failureText(`write to ${what}`, error), {
          cause: error,
        });
      }
      // A failed write also errors the stream: the next ready or close
      // reports it.
      writer.write(chunk).then(
        () => written(chunk as Uint8Array<ArrayBuffer>),
        () => {},
      );
    },
    async close() {
      check("close");
      state = "closing";
      try {
        await writer.close();
      } catch (error) {
        throw new Error(failureText(`close ${what}`, error), {
          cause: error,
        });
      }
      state = "closed";
    },
    async abort(reason) {
      if (state === "closed" || state === "aborted") return;
      state = "aborted";
      await writer.abort(reason).catch(() => {});
      await cleanup().catch(() => {});
    },
  };
}

/**
 * Buffers of one size, taken for batches and given back once the stream
 * has taken their bytes. Reusing them keeps a long transfer from leaving a
 * megabyte of garbage per megabyte received, on top of the data channel's
 * own messages: garbage that only a GC returns, so it shows as resident
 * memory (bench/README.md, Transfer).
 */
export class BufferPool {
  #size: number;
  #free: Uint8Array<ArrayBuffer>[] = [];

  constructor(size: number) {
    this.#size = size;
  }

  /** A buffer of the pool's size: a free one, or a new one. */
  take(): Uint8Array<ArrayBuffer> {
    return this.#free.pop() ?? new Uint8Array(this.#size);
  }

  /** Gives a whole buffer back (a view of part of one is dropped). */
  give(buffer: Uint8Array<ArrayBuffer>): void {
    if (
      buffer.byteOffset === 0 && buffer.byteLength === this.#size &&
      buffer.buffer.byteLength === this.#size && this.#free.length < 4 &&
      !this.#free.includes(buffer)
    ) this.#free.push(buffer);
  }
}

/**
 * Gathers chunks into `size`-byte buffers (from `pool`) and writes those to
 * `inner` (the last one shorter, on close). Copying also means that
 * `inner` never sees a view of a larger buffer, which posting would clone
 * whole.
 */
export function batchWriter(
  inner: FileWriter,
  size: number,
  pool: BufferPool = new BufferPool(size),
): FileWriter {
  let batch = pool.take();
  let used = 0;
  async function flush(): Promise<void> {
    if (used === 0) return;
    const full = used === size ? batch : batch.slice(0, used);
    if (full !== batch) pool.give(batch);
    batch = pool.take();
    used = 0;
    await inner.write(full);
  }
  return {
    async write(chunk) {
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(size - used, chunk.length - at);
        batch.set(chunk.subarray(at, at + n), used);
        used += n;
        at += n;
        if (used === size) await flush();
      }
    },
    async close() {
      await flush();
      await inner.close();
    },
    abort(reason) {
      used = 0;
      return inner.abort(reason);
    },
  };
}

/**
 * A writer to a file's writable stream (File System Access): 1 MiB batches
 * from a pool, each buffer reused once the browser has taken its bytes.
 */
export function fileWriter(
  writable: WritableStream<Uint8Array>,
  what: string,
  cleanup: () => Promise<void>,
): FileWriter {
  const pool = new BufferPool(WRITE_BATCH);
  const writer = streamWriter(writable, what, cleanup, (chunk) => {
    pool.give(chunk);
  });
  return batchWriter(writer, WRITE_BATCH, pool);
}

/**
 * A sink built from a function that opens each file's writer: it tracks the
 * open writer, so that `abort()` can give it up.
 */
export class WriterSink implements Sink {
  readonly kind: SinkKind;
  readonly inMemory: boolean;
  #openWriter: (meta: FileMeta) => Promise<FileWriter>;
  #writer: FileWriter | null = null;
  #done = false;

  constructor(
    kind: SinkKind,
    inMemory: boolean,
    openWriter: (meta: FileMeta) => Promise<FileWriter>,
  ) {
    this.kind = kind;
    this.inMemory = inMemory;
    this.#openWriter = openWriter;
  }

  async open(meta: FileMeta): Promise<FileWriter> {
    if (this.#done) {
      throw new Error(
        `Cannot open "${safeFileName(meta.name)}": the sink is done`,
      );
    }
    if (this.#writer !== null) {
      throw new Error(
        `Cannot open "${safeFileName(meta.name)}": a file is still open`,
      );
    }
    const writer = await this.#openWriter(meta);
    const wrapped: FileWriter = {
      write: (chunk) => writer.write(chunk),
      close: async () => {
        await writer.close();
        // Left open when closing fails, so that abort() still reaches it.
        this.#writer = null;
      },
      abort: async (reason) => {
        this.#writer = null;
        await writer.abort(reason);
      },
    };
    this.#writer = wrapped;
    return wrapped;
  }

  finish(): Promise<void> {
    if (this.#writer !== null) {
      return Promise.reject(new Error("Cannot finish: a file is still open"));
    }
    this.#done = true;
    return Promise.resolve();
  }

  async abort(reason?: unknown): Promise<void> {
    this.#done = true;
    const writer = this.#writer;
    this.#writer = null;
    await writer?.abort(reason);
  }
}

/** Throws unless this is the sink's first file. */
export function onlyOnce(what: string): (meta: FileMeta) => void {
  let used = false;
  return (meta) => {
    if (used) {
      throw new Error(
        `Cannot open "${safeFileName(meta.name)}": ${what} holds one file`,
      );
    }
    used = true;
  };
}
