/**
 * Files as a person picks them to share: chosen in the file picker, a whole
 * folder chosen in the folder picker (`<input webkitdirectory>`), or
 * dropped, folders and all. A folder's files keep their path from the
 * folder chosen (`"photos/2024/a.jpg"`), which the manifest carries, so
 * the receiver can save them as the same folders.
 *
 * The page hands in what the browser gave (`File`s, the entries of a
 * drop); the shapes here are structural, so the walk is tested without a
 * page.
 *
 * @module
 */

import type { SourceFile } from "./sender.ts";

/** A picked `File` (or anything with its fields), perhaps with a path. */
export interface PickedFile {
  name: string;
  size: number;
  type: string;
  lastModified: number;
  /** Set by the folder picker: the path from the folder chosen, or `""`. */
  webkitRelativePath?: string;
  slice(start?: number, end?: number): Blob;
}

/** The part of a `FileSystemEntry` (a dropped item) the walk reads. */
export interface DroppedEntry {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  /** A file entry's file. */
  file?(
    success: (file: PickedFile) => void,
    failure?: (error: unknown) => void,
  ): void;
  /** A folder entry's reader of its entries. */
  createReader?(): {
    readEntries(
      success: (entries: DroppedEntry[]) => void,
      failure?: (error: unknown) => void,
    ): void;
  };
}

/**
 * `file` to share, under `path` when it came in a folder: its own name,
 * size and type, and its bytes read from the `File` as they are sent.
 */
export function sourceOf(file: PickedFile, path = ""): SourceFile {
  const source: SourceFile = {
    name: file.name,
    size: file.size,
    type: file.type,
    lastModified: file.lastModified,
    slice: (start: number, end: number) => file.slice(start, end),
  };
  if (path.includes("/")) source.path = path;
  return source;
}

/**
 * What a file or folder picker gave: a folder's files (`webkitRelativePath`
 * set) keep their paths; files chosen on their own have none.
 */
export function fromPicker(files: Iterable<PickedFile>): SourceFile[] {
  return Array.from(files, (file) => sourceOf(file, file.webkitRelativePath));
}

/**
 * Every file under the dropped `entries`, folders walked to the bottom,
 * each under its path from the dropped item (`"photos/2024/a.jpg"`; a file
 * dropped on its own has none). A folder's entries come in batches
 * (Chromium gives at most 100 per `readEntries()` call), read until one is
 * empty. Files come folder by folder, in the order the browser lists them.
 */
export async function fromEntries(
  entries: DroppedEntry[],
): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  async function walk(entry: DroppedEntry, prefix: string): Promise<void> {
    const path = prefix + entry.name;
    if (entry.isFile && entry.file) {
      const file = await new Promise<PickedFile>((resolve, reject) =>
        entry.file!(resolve, reject)
      );
      // A file dropped on its own has no "/" in its path, so no path.
      out.push(sourceOf(file, path));
      return;
    }
    if (!entry.isDirectory || !entry.createReader) return;
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise<DroppedEntry[]>((resolve, reject) =>
        reader.readEntries(resolve, reject)
      );
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${path}/`);
    }
  }
  for (const entry of entries) await walk(entry, "");
  return out;
}

/**
 * The entries of a drop, or `null` when the browser gives none (then its
 * `files` are all there is): taken at once, as the drop's items are
 * emptied once the event handler returns.
 */
export function droppedEntries(
  items:
    | ArrayLike<{
      kind: string;
      webkitGetAsEntry?: () => unknown;
    }>
    | undefined,
): DroppedEntry[] | null {
  if (items === undefined) return null;
  const entries: DroppedEntry[] = [];
  for (const item of Array.from(items)) {
    if (item.kind !== "file") continue;
    if (typeof item.webkitGetAsEntry !== "function") return null;
    const entry = item.webkitGetAsEntry() as DroppedEntry | null;
    if (entry) entries.push(entry);
  }
  return entries.length > 0 ? entries : null;
}
