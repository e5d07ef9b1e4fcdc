/**
 * The service-worker stream: an ordinary download, fed through Beam's
 * service worker (`service_worker.ts`, served as `/sw.js`), for browsers
 * without the File System Access pickers. Several files become one zip.
 * The messages with the worker are in `sw_protocol.ts`.
 *
 * @module
 */

import type { FileMeta, FileWriter, Sink } from "../sink.ts";
import { contentDisposition, mimeType, safeFileName } from "./names.ts";
import {
  DOWNLOAD_SCOPE,
  downloadUrl,
  isWorkerMessage,
  type PageMessage,
  WORKER_URL,
  type WorkerMessageType,
} from "./sw_protocol.ts";
import {
  batchWriter,
  onlyOnce,
  streamWriter,
  WRITE_BATCH,
  WriterSink,
} from "./writers.ts";
import { zipSink } from "./zip_sink.ts";

/** The parts of a `ServiceWorker` the page uses. */
export interface WorkerLike {
  readonly state: string;
  postMessage(message: PageMessage, transfer?: Transferable[]): void;
  addEventListener(type: "statechange", listener: () => void): void;
  removeEventListener(type: "statechange", listener: () => void): void;
}

/** The parts of a `ServiceWorkerRegistration` the page uses. */
export interface RegistrationLike {
  readonly installing: WorkerLike | null;
  readonly waiting: WorkerLike | null;
  readonly active: WorkerLike | null;
}

/** The parts of `navigator.serviceWorker` the page uses. */
export interface WorkerContainerLike {
  register(url: string, options: { scope: string }): Promise<RegistrationLike>;
}

/** Options of {@linkcode serviceWorkerSink}. */
export interface ServiceWorkerSinkOptions {
  /** Every file of the transfer; several become one zip. */
  files: FileMeta[];
  /**
   * Makes the browser fetch `url` as a download. The page sets it as the
   * `src` of a hidden iframe of its own origin. Not by navigating the page
   * itself (clicking a link): that asks the page's "leave this page?" guard
   * first, where "Stay" cancels the download, and Firefox closes the page's
   * signaling socket as its navigation starts. Nor a link with the
   * `download` attribute, which skips the service worker.
   */
  startDownload(url: string): void;
  /** The service worker script. Default {@linkcode WORKER_URL}. */
  scriptUrl?: string;
  /** Its scope, also the download URLs' prefix. Default {@linkcode DOWNLOAD_SCOPE}. */
  scope?: string;
  /** The zip's name, for several files. Default `ZIP_NAME`. */
  zipName?: string;
  /** How often to wake the worker while a download runs. Default 10 s. */
  keepAliveMs?: number;
  /**
   * How long registering the worker and waiting for it to activate may
   * take. Default 30 s.
   */
  setupTimeoutMs?: number;
  /** How long to wait for the worker to take the download. Default 10 s. */
  answerTimeoutMs?: number;
  /** How long to wait for the browser to request the download. Default 30 s. */
  startTimeoutMs?: number;
  /** Bytes that may wait between this page and the download. Default 4 MiB. */
  highWaterMark?: number;
  /** Bytes gathered into each message to the worker. Default 1 MiB. */
  batchBytes?: number;
  /** Where to register the worker. Default `navigator.serviceWorker`. */
  container?: WorkerContainerLike;
  /** The page's URL, which download URLs are resolved against. */
  baseUrl?: string;
}

/**
 * What people read when the download cannot start or finish: what failed,
 * then what to do. The receiving page shows the message as it is.
 */
export const DOWNLOAD_ERRORS = {
  notRegistered:
    "Cannot start the download: this browser did not accept Beam's download helper (its service worker). Reload the page and try again, or use another browser.",
  workerFailed:
    "Cannot start the download: Beam's download helper (its service worker) failed to start. Reload the page and try again.",
  silent:
    "Cannot start the download: Beam's download helper (its service worker) did not answer. Reload the page and try again.",
  neverRequested:
    "Cannot start the download: the browser never asked for it. Allow downloads from this site, then try again.",
  expired:
    "Cannot start the download: it waited too long for the browser to ask for it. Allow downloads from this site, then try again.",
  cancelled:
    "Cannot finish the download: the browser cancelled it, or does not allow downloads from this site. Allow downloads for this site, then start the transfer again.",
} as const;

/** The response headers of a download of `meta`. */
export function downloadHeaders(meta: FileMeta): [string, string][] {
  const headers: [string, string][] = [
    ["content-type", mimeType(meta.type)],
    ["content-disposition", contentDisposition(meta.name)],
    ["x-content-type-options", "nosniff"],
    // Should a browser ever show it instead of saving it: no scripts.
    ["content-security-policy", "default-src 'none'; sandbox"],
    ["cache-control", "no-store"],
  ];
  if (Number.isSafeInteger(meta.size) && meta.size >= 0) {
    headers.push(["content-length", String(meta.size)]);
  }
  return headers;
}

/**
 * Waits until the registration's newest worker is activated, for at most
 * `ms`: a worker that never gets there would leave the download, and the
 * transfer behind it, waiting without a word.
 */
async function activeWorker(
  registration: RegistrationLike,
  ms: number,
): Promise<WorkerLike> {
  const worker = registration.installing ?? registration.waiting ??
    registration.active;
  if (worker === null) throw new Error(DOWNLOAD_ERRORS.workerFailed);
  if (worker.state === "activated") return worker;
  let onChange = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      onChange = () => {
        if (worker.state === "activated") resolve();
        else if (worker.state === "redundant") {
          reject(new Error(DOWNLOAD_ERRORS.workerFailed));
        }
      };
      worker.addEventListener("statechange", onChange);
      timer = setTimeout(
        () => reject(new Error(DOWNLOAD_ERRORS.workerFailed)),
        ms,
      );
    });
  } finally {
    clearTimeout(timer);
    worker.removeEventListener("statechange", onChange);
  }
  return worker;
}

/** `promise`, or a rejection with `message` once `ms` passed first. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  message: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for a message of one of `types` on `port`, or for `ms`. */
function nextMessage(
  port: MessagePort,
  types: WorkerMessageType[],
  ms: number,
): Promise<WorkerMessageType | null> {
  return new Promise((resolve) => {
    const timer = ms === Infinity ? undefined : setTimeout(() => {
      port.removeEventListener("message", onMessage);
      resolve(null);
    }, ms);
    const onMessage = (event: MessageEvent) => {
      if (!isWorkerMessage(event.data)) return;
      const type = event.data.type;
      if (!types.includes(type)) return;
      clearTimeout(timer);
      port.removeEventListener("message", onMessage);
      resolve(type);
    };
    port.addEventListener("message", onMessage);
    port.start();
  });
}

/** Opens one download through the service worker, fed by the writer. */
async function openDownload(
  meta: FileMeta,
  options: ServiceWorkerSinkOptions,
): Promise<FileWriter> {
  const scope = options.scope ?? DOWNLOAD_SCOPE;
  const container = options.container ??
    (navigator.serviceWorker as unknown as WorkerContainerLike);
  const setupMs = options.setupTimeoutMs ?? 30_000;
  const setupEnds = Date.now() + setupMs;
  const registering = container.register(
    options.scriptUrl ?? WORKER_URL,
    { scope },
  ).catch((error: unknown) => {
    throw new Error(DOWNLOAD_ERRORS.notRegistered, { cause: error });
  });
  const registration = await within(
    registering,
    setupMs,
    DOWNLOAD_ERRORS.workerFailed,
  );
  const worker = await activeWorker(
    registration,
    Math.max(0, setupEnds - Date.now()),
  );

  // The page writes into `writable`; the worker answers the download's
  // request with `readable`. The download pulls only as fast as it saves,
  // so at most about `highWaterMark` bytes wait in this page.
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(
    {},
    new ByteLengthQueuingStrategy({
      highWaterMark: options.highWaterMark ?? 4 << 20,
    }),
  );
  const id = crypto.randomUUID();
  const url = downloadUrl(
    options.baseUrl ?? location.href,
    scope,
    id,
    safeFileName(meta.name),
  );
  const { port1, port2 } = new MessageChannel();
  const ready = nextMessage(
    port1,
    ["beam-ready"],
    options.answerTimeoutMs ?? 10_000,
  );
  worker.postMessage(
    {
      type: "beam-download",
      id,
      headers: downloadHeaders(meta),
      stream: readable,
    },
    [readable, port2],
  );
  async function fail(message: string): Promise<Error> {
    port1.close();
    await writable.abort(new Error(message)).catch(() => {});
    return new Error(message);
  }
  if (await ready === null) throw await fail(DOWNLOAD_ERRORS.silent);
  const started = nextMessage(
    port1,
    ["beam-started", "beam-expired"],
    options.startTimeoutMs ?? 30_000,
  );
  options.startDownload(url);
  const start = await started;
  if (start === "beam-expired") throw await fail(DOWNLOAD_ERRORS.expired);
  if (start === null) throw await fail(DOWNLOAD_ERRORS.neverRequested);
  const ended = nextMessage(port1, ["beam-done", "beam-cancelled"], Infinity);

  // A browser may stop a worker ~30 s after its last event, which would
  // cut a download that stalls that long (a slow sender). A message now and
  // then is an event for any engine, and costs nothing. tests/sinks_test.ts
  // stalls a download for 35 s in Chromium with these at their default and
  // checks that the worker never stopped; sw_sink_test.ts checks that they
  // flow while no bytes do, and stop with the download.
  const keepAlive = setInterval(() => {
    worker.postMessage({ type: "beam-keepalive" });
  }, options.keepAliveMs ?? 10_000);
  function stop(): void {
    clearInterval(keepAlive);
    port1.close();
  }
  const inner = streamWriter(writable, "the download", () => {
    stop();
    return Promise.resolve();
  });
  const batched = batchWriter(inner, options.batchBytes ?? WRITE_BATCH);
  /**
   * A download the browser cancelled (the person did, or downloads are not
   * allowed here) errors the stream without a reason; the worker says so on
   * the port, which may arrive a moment after the stream's error.
   */
  async function cancelledOr(error: unknown): Promise<never> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = await Promise.race([
      ended,
      new Promise<null>((resolve) => timer = setTimeout(resolve, 1000, null)),
    ]);
    clearTimeout(timer);
    if (end === "beam-cancelled") {
      throw new Error(DOWNLOAD_ERRORS.cancelled, { cause: error });
    }
    throw error;
  }
  return {
    write: (chunk) => batched.write(chunk).catch(cancelledOr),
    async close() {
      try {
        await batched.close();
        // The last bytes are in the stream; wait until the browser has
        // read them, so that the page may close right after.
        if (await ended === "beam-cancelled") {
          throw new Error(DOWNLOAD_ERRORS.cancelled);
        }
      } finally {
        stop();
      }
    },
    abort: (reason) => batched.abort(reason),
  };
}

/**
 * A sink that saves through an ordinary download, streamed by the service
 * worker: for one file, that file (kind `"service-worker"`); for several
 * (or a shared folder's one), one zip of them (kind `"zip"`, named
 * `options.zipName`, its entries under their paths). The download
 * starts when the first file opens, through `options.startDownload`. Needs
 * service workers and transferable streams (see `detectFeatures()` in
 * `features.ts`). Aborting fails the download, and the browser drops its
 * partial file. Its errors are {@linkcode DOWNLOAD_ERRORS}.
 */
export function serviceWorkerSink(options: ServiceWorkerSinkOptions): Sink {
  const first = onlyOnce("a service-worker download");
  const download = new WriterSink("service-worker", false, (meta) => {
    first(meta);
    return openDownload(meta, options);
  });
  // A shared folder's one file is zipped too, to keep its folders.
  if (
    options.files.length <= 1 &&
    options.files.every((file) => file.path === undefined)
  ) return download;
  return zipSink(options.files, download, { name: options.zipName });
}
