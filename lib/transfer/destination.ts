/**
 * The choices a receiving page offers ("Download", "Save into a folder…")
 * and the sink each one builds, from what the browser has: the File System
 * Access pickers, a service-worker streamed download, or memory as the last
 * resort. Page actions (pickers, starting a download, saving a blob) come
 * in as {@linkcode PageActions}, so nothing here touches the DOM itself.
 *
 * The sinks are loaded by {@linkcode makeSink} with `import()`, when a
 * download starts (with the rest of `receiving.ts`): the choices are shown
 * as soon as the page has the list of files, and the code that saves (zip,
 * service worker, pickers) need not weigh on a page that is only looked at.
 *
 * @module
 */

import type { FileMeta, Sink } from "./sink.ts";
import { detectFeatures, type SinkFeatures } from "./sinks/features.ts";
import { safeFileName, safeRelativePath, ZIP_NAME } from "./sinks/names.ts";

/** One way to save a share. */
export interface Destination {
  /** Stable id: `"download"` or `"folder"`. */
  id: "download" | "folder";
  /** The button's label. */
  label: string;
  /** What happens, for the page to say while it happens. */
  description: string;
  /** Whether whole files wait in memory. */
  inMemory: boolean;
}

/** What the page provides to save files. */
export interface PageActions {
  /** The File System Access save picker, where the browser has it. */
  showSaveFilePicker?: (
    options: { suggestedName: string },
  ) => Promise<FileSystemFileHandle>;
  /** The folder picker, where the browser has it. */
  showDirectoryPicker?: (
    options: { mode: "readwrite" },
  ) => Promise<FileSystemDirectoryHandle>;
  /** Starts a browser download of `url` (service-worker downloads). */
  startDownload(url: string): void;
  /** Saves a finished blob (the memory fallback). */
  saveBlob(blob: Blob, name: string): void;
}

/**
 * Whether `files` are saved as several (a zip, or into a folder): more
 * than one, or a shared folder's, whose folders a single download would
 * lose.
 */
export function isMany(files: FileMeta[]): boolean {
  return files.length > 1 || files.some((file) => file.path !== undefined);
}

/**
 * The zip's name for `files`: the shared folder's (`photos.zip`) when every
 * file is in one top folder, else {@linkcode ZIP_NAME}.
 */
export function zipNameOf(files: FileMeta[]): string {
  const tops = new Set(
    files.map((file) => {
      const segments = safeRelativePath(file);
      return segments.length > 1 ? segments[0] : "";
    }),
  );
  const [top] = tops;
  return tops.size === 1 && top !== "" ? safeFileName(`${top}.zip`) : ZIP_NAME;
}

/** The choices for `files`, best first; the first is labelled "Download". */
export function destinations(
  files: FileMeta[],
  features: SinkFeatures = detectFeatures(),
): Destination[] {
  const many = isMany(files);
  const streamed = features.saveFilePicker || features.serviceWorker;
  const list: Destination[] = [{
    id: "download",
    label: "Download",
    description:
      (many ? `Saving as one zip file (${zipNameOf(files)}), ` : "Saving ") +
      (features.saveFilePicker
        ? "straight to the place you chose, as it arrives."
        : features.serviceWorker
        ? "as a download streamed to disk as it arrives."
        : "in memory first: this browser cannot stream to disk."),
    inMemory: !streamed,
  }];
  if (many && features.directoryPicker) {
    list.push({
      id: "folder",
      label: "Save into a folder…",
      description: files.some((file) => file.path !== undefined)
        ? "Saving each file into the folder you chose, in its own folders, as it arrives."
        : "Saving each file into the folder you chose, as it arrives.",
      inMemory: false,
    });
  }
  return list;
}

/**
 * Builds the sink for a destination; may open a picker (rejects with an
 * `AbortError` DOMException when the person cancels it).
 */
export async function makeSink(
  destination: Destination,
  files: FileMeta[],
  page: PageActions,
): Promise<Sink> {
  const many = isMany(files);
  const zipName = zipNameOf(files);
  if (destination.id === "folder") {
    if (!page.showDirectoryPicker) {
      throw new TypeError(
        "Cannot save into a folder: this browser has no folder picker",
      );
    }
    const handle = await page.showDirectoryPicker({ mode: "readwrite" });
    const { directorySink } = await import("./receiving.ts");
    return directorySink(handle);
  }
  if (page.showSaveFilePicker) {
    const handle = await page.showSaveFilePicker({
      // The picker shows it and may save it as given: the sender's name
      // goes through the same sanitizer as every other sink's.
      suggestedName: many ? zipName : safeFileName(files[0].name),
    });
    const { fileHandleSink } = await import("./receiving.ts");
    const sink = fileHandleSink(handle);
    return many ? await zipped(files, sink, zipName) : sink;
  }
  if (!destination.inMemory) {
    const { serviceWorkerSink } = await import("./receiving.ts");
    return serviceWorkerSink({
      files,
      zipName,
      startDownload: page.startDownload,
    });
  }
  const { memorySink } = await import("./receiving.ts");
  const sink = memorySink({ save: page.saveBlob });
  return many ? await zipped(files, sink, zipName) : sink;
}

/** `sink` behind a zip of `files` named `name`, with the zip code loaded now. */
async function zipped(
  files: FileMeta[],
  sink: Sink,
  name: string,
): Promise<Sink> {
  const { zipSink } = await import("./receiving.ts");
  return zipSink(files, sink, { name });
}
