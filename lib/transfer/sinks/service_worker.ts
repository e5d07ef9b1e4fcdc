/**
 * Beam's download service worker, bundled by `deno task build` to `/sw.js`.
 * A page that receives files without the File System Access API hands it a
 * ReadableStream (by postMessage, as a transferable stream) plus the
 * response headers; the page then makes the browser fetch the download's
 * URL, and the worker answers that one request with the stream, which the
 * browser saves as a download while bytes still arrive. Backpressure flows
 * all the way: the download reads the stream only as fast as it writes to
 * disk, and the page waits for that.
 *
 * It also catches "Share → Beam" from another app: the manifest's share
 * target POSTs to `/share/target`, which the send page registers this same
 * script for (scope `/share/`); `../share_inbox.ts` keeps what was shared
 * and sends the browser on to the send page.
 *
 * It answers nothing else: every other request goes to the network as if
 * no worker were there. The pages register it with the scopes
 * {@linkcode DOWNLOAD_SCOPE} and `/share/`, so no page is even routed
 * through it. The messages are in `sw_protocol.ts`.
 *
 * {@linkcode DownloadWorker} holds the logic, driven in tests by fake
 * pages; {@linkcode serveDownloads} wires it to a worker's events, which
 * happens by itself only when this module runs as a service worker.
 *
 * @module
 */

import {
  DOWNLOAD_SCOPE,
  downloadId,
  isDownloadMessage,
  type WorkerMessage,
} from "./sw_protocol.ts";
import { serveShares, type ShareWorkerScope } from "../share_inbox.ts";

/** Options of {@linkcode DownloadWorker}. */
export interface DownloadWorkerOptions {
  /** The worker's origin: requests from elsewhere are not answered. */
  origin: string;
  /** The download URLs' prefix. Default {@linkcode DOWNLOAD_SCOPE}. */
  scope?: string;
  /**
   * How long a download the page announced may wait for the browser to
   * fetch it before it is dropped. Default 60 s (the page gives up sooner).
   */
  unclaimedMs?: number;
}

interface Waiting {
  stream: ReadableStream<Uint8Array>;
  headers: [string, string][];
  port: MessagePort;
  claimed(): void;
}

function tell(port: MessagePort, message: WorkerMessage): void {
  port.postMessage(message);
}

/** The downloads a worker serves: announced by pages, fetched once each. */
export class DownloadWorker {
  #origin: string;
  #scope: string;
  #unclaimedMs: number;
  #waiting = new Map<string, Waiting>();

  constructor(options: DownloadWorkerOptions) {
    this.#origin = options.origin;
    this.#scope = options.scope ?? DOWNLOAD_SCOPE;
    this.#unclaimedMs = options.unclaimedMs ?? 60_000;
  }

  /** How many downloads wait for their request. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Handles a message from a page. Returns, for a download, a promise that
   * settles once the browser fetched it or it expired: pass it to the
   * event's `waitUntil()`, so the worker lives until then (an extendable
   * event may last minutes; this wait is seconds). Anything else, such as
   * `beam-keepalive`, needs no answer: a message event alone restarts the
   * browser's idle timer for the worker.
   */
  message(data: unknown, ports: readonly MessagePort[]): Promise<void> | null {
    const port = ports[0];
    if (!isDownloadMessage(data) || port === undefined) return null;
    const { id, headers, stream } = data;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.#waiting.get(id) === waiting) {
          this.#waiting.delete(id);
          stream.cancel("Download never requested").catch(() => {});
          tell(port, { type: "beam-expired" });
        }
        resolve();
      }, this.#unclaimedMs);
      const waiting: Waiting = {
        stream,
        headers,
        port,
        claimed() {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiting.set(id, waiting);
      tell(port, { type: "beam-ready" });
    });
  }

  /**
   * Answers a request: a download's stream, a 404 for a download that is
   * over or unknown, or `null` for anything outside the scope (the network
   * answers it).
   */
  fetch(request: Request): Response | null {
    const url = new URL(request.url);
    if (url.origin !== this.#origin || request.method !== "GET") return null;
    const id = downloadId(url.pathname, this.#scope);
    if (id === null) return null;
    const download = this.#waiting.get(id);
    if (download === undefined) {
      return new Response("This download is over or was never started.\n", {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    // One fetch per download: a second one (a retry) gets the 404 above.
    this.#waiting.delete(id);
    download.claimed();
    const { port } = download;
    tell(port, { type: "beam-started" });
    // Pass the bytes through, to tell the page when the browser has read
    // the last of them, or gave up (the person cancelled the download).
    const reader = download.stream.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          tell(port, { type: "beam-done" });
        } else {
          controller.enqueue(value);
        }
      },
      cancel(reason) {
        tell(port, { type: "beam-cancelled" });
        return reader.cancel(reason);
      },
    });
    return new Response(body, { headers: download.headers });
  }
}

/** The parts of a `ServiceWorkerGlobalScope` this worker uses. */
export interface WorkerScope {
  location: { origin: string };
  skipWaiting(): Promise<void>;
  addEventListener(type: "install", listener: () => void): void;
  addEventListener(
    type: "message",
    listener: (event: ExtendableMessageEventLike) => void,
  ): void;
  addEventListener(
    type: "fetch",
    listener: (event: FetchEventLike) => void,
  ): void;
}

/** The parts of an `ExtendableMessageEvent` this worker uses. */
export interface ExtendableMessageEventLike {
  data: unknown;
  ports: readonly MessagePort[];
  waitUntil(promise: Promise<unknown>): void;
}

/** The parts of a `FetchEvent` this worker uses. */
export interface FetchEventLike {
  request: Request;
  respondWith(response: Response): void;
}

/** Makes `scope` (the worker's global scope) serve downloads. */
export function serveDownloads(
  scope: WorkerScope,
  options: Omit<DownloadWorkerOptions, "origin"> = {},
): DownloadWorker {
  const worker = new DownloadWorker({
    ...options,
    origin: scope.location.origin,
  });
  // Take over from an older version at once; nothing here keeps state that
  // an update would need to carry over.
  scope.addEventListener("install", () => void scope.skipWaiting());
  scope.addEventListener("message", (event) => {
    const wait = worker.message(event.data, event.ports);
    if (wait !== null) event.waitUntil(wait);
  });
  scope.addEventListener("fetch", (event) => {
    const response = worker.fetch(event.request);
    if (response !== null) event.respondWith(response);
  });
  return worker;
}

// As the bundled /sw.js this runs in a service worker and starts serving;
// imported anywhere else (a test, the page's bundle) it does nothing.
const global = globalThis as unknown as {
  ServiceWorkerGlobalScope?: abstract new () => WorkerScope;
};
if (
  typeof global.ServiceWorkerGlobalScope === "function" &&
  globalThis instanceof global.ServiceWorkerGlobalScope
) {
  serveDownloads(globalThis as unknown as WorkerScope);
  serveShares(globalThis as unknown as ShareWorkerScope);
}
