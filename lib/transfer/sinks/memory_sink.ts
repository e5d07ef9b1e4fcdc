/**
 * The in-page blob, the last resort: each file is gathered in memory and
 * handed to a `save` function (a link to an object URL, say) when it closes.
 *
 * @module
 */

import type { FileMeta, FileWriter, Sink } from "../sink.ts";
import { safeFileName } from "./names.ts";
import { WriterSink } from "./writers.ts";

/** Options of {@linkcode memorySink}. */
export interface MemorySinkOptions {
  /** Saves one finished file (e.g. through a link to an object URL). */
  save(blob: Blob, name: string): void | Promise<void>;
}

/**
 * The type of every Blob made here, whatever the sender said: the page
 * links to it by an object URL of its own origin, and a Blob typed
 * `text/html` or `image/svg+xml` opened there would run the sender's script
 * as this page. Bytes are only ever downloaded.
 */
const BLOB_TYPE = "application/octet-stream";

/** Bytes gathered before they become a Blob, which the browser may page out. */
const BLOB_BATCH = 8 << 20;

/** One file gathered in memory, handed to `save` on close. */
function memoryWriter(
  meta: FileMeta,
  save: MemorySinkOptions["save"],
): FileWriter {
  const name = safeFileName(meta.name);
  let parts: Blob[] = [];
  let batch: Uint8Array<ArrayBuffer>[] = [];
  let batched = 0;
  let state: "open" | "closed" | "aborted" = "open";
  function check(action: string): void {
    if (state !== "open") {
      throw new Error(`Cannot ${action} "${name}": it is ${state}`);
    }
  }
  function flush(): void {
    if (batch.length > 0) parts.push(new Blob(batch));
    batch = [];
    batched = 0;
  }
  return {
    write(chunk) {
      try {
        check("write to");
      } catch (error) {
        return Promise.reject(error);
      }
      batch.push(chunk as Uint8Array<ArrayBuffer>);
      batched += chunk.length;
      if (batched >= BLOB_BATCH) flush();
      return Promise.resolve();
    },
    async close() {
      check("close");
      state = "closed";
      flush();
      const blob = new Blob(parts, { type: BLOB_TYPE });
      parts = [];
      await save(blob, name);
    },
    abort() {
      state = "aborted";
      parts = [];
      batch = [];
      return Promise.resolve();
    },
  };
}

/**
 * The last resort: each file is gathered in memory (as Blobs, which the
 * browser may keep on disk) and handed to `options.save` when it closes.
 * `inMemory` is true: warn before large transfers.
 */
export function memorySink(options: MemorySinkOptions): Sink {
  return new WriterSink(
    "memory",
    true,
    (meta) => Promise.resolve(memoryWriter(meta, options.save)),
  );
}
