/**
 * The messages between a receiving page and Beam's download service worker,
 * defined once for both: the page side (`sw_sink.ts`) and the worker
 * (`service_worker.ts`, bundled to `/sw.js`) import these types, so a
 * message one side sends is one the other side knows.
 *
 * One download goes like this:
 *
 * 1. The page posts a {@linkcode DownloadMessage} to the worker, with the
 *    ReadableStream of the file and one end of a MessageChannel (the
 *    download's port) transferred alongside.
 * 2. The worker answers `beam-ready` on that port, then waits for the
 *    browser to fetch the download's URL ({@linkcode downloadUrl}).
 * 3. The page makes the browser fetch the URL; the worker answers that one
 *    request with the stream and says `beam-started`. If no request comes
 *    in time, it says `beam-expired` instead and drops the stream.
 * 4. When the browser has read the last byte the worker says `beam-done`;
 *    when the person cancels the download, `beam-cancelled`.
 *
 * Meanwhile the page posts `beam-keepalive` now and then: any message is an
 * event, which restarts a browser's idle timer for the worker.
 *
 * @module
 */

/** Where the worker is served: at the site's root, so it may take any scope. */
export const WORKER_URL = "/sw.js";

/** The worker's scope, and the prefix of every download URL. */
export const DOWNLOAD_SCOPE = "/_beam_download/";

/** Page to worker: serve this stream as the download `id`. */
export interface DownloadMessage {
  type: "beam-download";
  /** Random, unguessable: the first path segment below the scope. */
  id: string;
  /** The download response's headers. */
  headers: [string, string][];
  /** The file's bytes, transferred. */
  stream: ReadableStream<Uint8Array>;
}

/** Page to worker: nothing to do, but it keeps the worker awake. */
export interface KeepAliveMessage {
  type: "beam-keepalive";
}

/** What a page posts to the worker. */
export type PageMessage = DownloadMessage | KeepAliveMessage;

/** What the worker says on a download's port, in the order it happens. */
export const WORKER_MESSAGES = [
  "beam-ready",
  "beam-started",
  "beam-expired",
  "beam-done",
  "beam-cancelled",
] as const;

/** One of {@linkcode WORKER_MESSAGES}. */
export type WorkerMessageType = typeof WORKER_MESSAGES[number];

/** Worker to page, on the download's port. */
export interface WorkerMessage {
  type: WorkerMessageType;
}

/** Whether `data` is a message the worker sends. */
export function isWorkerMessage(data: unknown): data is WorkerMessage {
  const type = (data as { type?: unknown } | null)?.type;
  return WORKER_MESSAGES.includes(type as WorkerMessageType);
}

/** Whether `data` is a download request a page sent (with its stream). */
export function isDownloadMessage(data: unknown): data is DownloadMessage {
  const message = data as Partial<DownloadMessage> | null;
  return message?.type === "beam-download" &&
    typeof message.id === "string" && Array.isArray(message.headers) &&
    message.stream instanceof ReadableStream;
}

/**
 * The URL the browser fetches for download `id`: below `scope`, ending in
 * the file's name, which some browsers take as the name to save under.
 */
export function downloadUrl(
  base: string,
  scope: string,
  id: string,
  name: string,
): string {
  return new URL(
    `${id}/${encodeURIComponent(name)}`,
    new URL(scope, base),
  ).href;
}

/** The download id of a URL path below `scope`, or `null`. */
export function downloadId(pathname: string, scope: string): string | null {
  if (!pathname.startsWith(scope)) return null;
  const id = pathname.slice(scope.length).split("/")[0];
  return id === "" ? null : id;
}
