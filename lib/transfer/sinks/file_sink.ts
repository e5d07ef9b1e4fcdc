/**
 * The save-picker file: one file, written into the handle that
 * `showSaveFilePicker()` returned, in 1 MiB batches.
 *
 * @module
 */

import type { Sink } from "../sink.ts";
import { fileWriter, onlyOnce, WriterSink } from "./writers.ts";

type RemovableHandle = FileSystemFileHandle & { remove?(): Promise<void> };

/**
 * A sink of one file, written into `handle` (what `showSaveFilePicker()`
 * returned). Aborting discards the written bytes and, where the browser can,
 * removes the file.
 */
export function fileHandleSink(handle: FileSystemFileHandle): Sink {
  const first = onlyOnce("the picked file");
  return new WriterSink("file-picker", false, async (meta) => {
    first(meta);
    // The browser writes to a temporary file and moves it over the chosen
    // one on close, so an abort leaves the chosen file as it was.
    const writable = await handle.createWritable();
    return fileWriter(writable, `"${handle.name}"`, async () => {
      // The picker created the file empty: remove it (Chromium 110+).
      await (handle as RemovableHandle).remove?.();
    });
  });
}
