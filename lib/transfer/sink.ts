/**
 * Where received bytes go. A sink opens one writer per file; the receiver
 * writes each chunk as it arrives, so nothing waits in memory for the whole
 * file (except in the memory sink, the last resort, which says so).
 *
 * Implementations live in `sinks/`, one file per destination; this module
 * only fixes the shapes that the receiver and the islands agree on.
 *
 * @module
 */

/** What the receiver knows of a file before its bytes arrive. */
export interface FileMeta {
  /** File name, as the sender's browser gave it (may hold any letters). */
  name: string;
  /** Size in bytes. */
  size: number;
  /** MIME type, or `""`. */
  type: string;
  /** Last modified, ms since the epoch. */
  lastModified: number;
  /**
   * Where the file sat in a shared folder: its path from the folder the
   * person chose, `/`-separated, ending in the file's name
   * (`"photos/2024/a.jpg"`). Absent for a file chosen on its own. As the
   * sender gave it: sinks save it through `safeRelativePath()`
   * (`sinks/names.ts`), never as it is.
   */
  path?: string;
}

/** Writes one file's bytes, in order. */
export interface FileWriter {
  /** Appends bytes; resolves when the sink can take more (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /** Finishes the file. */
  close(): Promise<void>;
  /** Gives the file up: partial data is removed where the sink can. */
  abort(reason?: unknown): Promise<void>;
}

/** How a sink stores files, shown to the person receiving. */
export type SinkKind =
  | "file-picker"
  | "directory"
  | "service-worker"
  | "zip"
  | "memory";

/** A destination for one transfer (one or many files). */
export interface Sink {
  /** How it stores files. */
  readonly kind: SinkKind;
  /** Whether it keeps whole files in memory (warn before large transfers). */
  readonly inMemory: boolean;
  /** Opens the writer for the next file. Files are opened one at a time. */
  open(meta: FileMeta): Promise<FileWriter>;
  /** Called once after the last file closed. */
  finish(): Promise<void>;
  /** Called once when the transfer fails. */
  abort(reason?: unknown): Promise<void>;
}
