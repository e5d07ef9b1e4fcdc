/**
 * The save-picker folder: several files, each saved under its own name into
 * the folder that `showDirectoryPicker()` returned, never over a file that
 * is already there.
 *
 * @module
 */

import type { Sink } from "../sink.ts";
import { numberedName, safeFileName } from "./names.ts";
import { fileWriter, WriterSink } from "./writers.ts";

/**
 * A sink of several files, each saved into `dir` (what
 * `showDirectoryPicker()` returned) under its own name, or with " (1)",
 * " (2)"… added when the name is taken. Aborting removes the file being
 * written; files already closed stay.
 */
export function directorySink(dir: FileSystemDirectoryHandle): Sink {
  // Names this sink gave out: the folder may not list them yet.
  const taken = new Set<string>();
  async function freeName(name: string): Promise<string> {
    for (let n = 0; n < 10_000; n++) {
      const candidate = n === 0 ? name : numberedName(name, n);
      if (taken.has(candidate.toLowerCase())) continue;
      try {
        await dir.getFileHandle(candidate);
      } catch (error) {
        const kind = (error as DOMException).name;
        if (kind === "NotFoundError") return candidate;
        if (kind === "TypeMismatchError") continue; // a folder of that name
        throw error;
      }
    }
    throw new Error(`Cannot save "${name}": too many files of that name`);
  }
  return new WriterSink("directory", false, async (meta) => {
    const name = await freeName(safeFileName(meta.name));
    taken.add(name.toLowerCase());
    const handle = await dir.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    return fileWriter(writable, `"${name}"`, () => dir.removeEntry(name));
  });
}
