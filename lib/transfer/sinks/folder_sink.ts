/**
 * The save-picker folder: several files, each saved under its own name into
 * the folder that `showDirectoryPicker()` returned, never over a file that
 * is already there.
 *
 * @module
 */

import type { Sink } from "../sink.ts";
import { numberedName, safeRelativePath } from "./names.ts";
import { fileWriter, WriterSink } from "./writers.ts";

/**
 * A sink of several files, each saved into `dir` (what
 * `showDirectoryPicker()` returned) under its own name, or with " (1)",
 * " (2)"… added when the name is taken. A shared folder's files go into
 * the subfolders of their paths (`safeRelativePath()`), made as needed;
 * a subfolder already there is written into, never emptied. Aborting
 * (a failure, or the person's Cancel) removes every file it wrote, the one
 * being written and those already closed: a transfer given up leaves
 * nothing half done behind, and a new download starts over anyway.
 * Subfolders it made stay (empty); files that were there before are never
 * touched.
 */
export function directorySink(dir: FileSystemDirectoryHandle): Sink {
  // Names this sink gave out, per folder: the folder may not list them yet.
  const taken = new Map<FileSystemDirectoryHandle, Set<string>>();
  // Subfolders by their path as made safe (lowercased): one folder of the
  // share is one folder on disk.
  const folders = new Map<string, FileSystemDirectoryHandle>();
  async function freeName(
    parent: FileSystemDirectoryHandle,
    name: string,
  ): Promise<string> {
    const given = taken.get(parent) ?? new Set<string>();
    taken.set(parent, given);
    for (let n = 0; n < 10_000; n++) {
      const candidate = n === 0 ? name : numberedName(name, n);
      if (given.has(candidate.toLowerCase())) continue;
      try {
        await parent.getFileHandle(candidate);
      } catch (error) {
        const kind = (error as DOMException).name;
        if (kind === "NotFoundError") {
          given.add(candidate.toLowerCase());
          return candidate;
        }
        if (kind === "TypeMismatchError") continue; // a folder of that name
        throw error;
      }
    }
    throw new Error(`Cannot save "${name}": too many files of that name`);
  }
  async function folderOf(
    segments: string[],
  ): Promise<FileSystemDirectoryHandle> {
    let parent = dir;
    for (let i = 0; i < segments.length; i++) {
      const key = segments.slice(0, i + 1).join("/").toLowerCase();
      let child = folders.get(key);
      if (child === undefined) {
        child = await subfolder(parent, segments[i]);
        folders.set(key, child);
      }
      parent = child;
    }
    return parent;
  }
  /** `parent`'s subfolder `name`, or a numbered one when a file has it. */
  async function subfolder(
    parent: FileSystemDirectoryHandle,
    name: string,
  ): Promise<FileSystemDirectoryHandle> {
    const given = taken.get(parent);
    for (let n = 0; n < 10_000; n++) {
      const candidate = n === 0 ? name : numberedName(name, n);
      if (given?.has(candidate.toLowerCase())) continue;
      try {
        return await parent.getDirectoryHandle(candidate, { create: true });
      } catch (error) {
        if ((error as DOMException).name !== "TypeMismatchError") throw error;
      }
    }
    throw new Error(`Cannot make the folder "${name}": too many of that name`);
  }
  // The files this sink closed, to remove should it be given up.
  const written: { parent: FileSystemDirectoryHandle; name: string }[] = [];
  const sink = new WriterSink("directory", false, async (meta) => {
    const segments = safeRelativePath(meta);
    const parent = await folderOf(segments.slice(0, -1));
    const name = await freeName(parent, segments[segments.length - 1]);
    const handle = await parent.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    const shown = [...segments.slice(0, -1), name].join("/");
    const writer = fileWriter(
      writable,
      `"${shown}"`,
      () => parent.removeEntry(name),
    );
    return {
      write: (chunk) => writer.write(chunk),
      abort: (reason) => writer.abort(reason),
      close: async () => {
        await writer.close();
        written.push({ parent, name });
      },
    };
  });
  const abort = sink.abort.bind(sink);
  sink.abort = async (reason?: unknown) => {
    await abort(reason);
    for (const { parent, name } of written.splice(0)) {
      // Best effort, each on its own: one that cannot go does not keep
      // the others.
      await parent.removeEntry(name).catch(() => {});
    }
  };
  return sink;
}
