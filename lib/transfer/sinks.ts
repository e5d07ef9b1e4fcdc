/**
 * The sinks: where a receiver's bytes go, each streaming to disk as chunks
 * arrive (except the memory sink, the last resort, which says so).
 *
 * - {@linkcode fileHandleSink}: one file, into the handle that
 *   `showSaveFilePicker()` returned.
 * - {@linkcode directorySink}: several files, into the folder that
 *   `showDirectoryPicker()` returned, never overwriting one.
 * - {@linkcode serviceWorkerSink}: an ordinary download, fed through the
 *   service worker `static/sw.js`, for browsers without the pickers; several
 *   files become one zip.
 * - {@linkcode zipSink}: several files as one streamed zip through any
 *   one-file sink (the picker, the service worker, memory).
 * - {@linkcode memorySink}: collects Blobs and hands each file to a `save`
 *   function.
 *
 * {@linkcode chooseSink} says which to use. Anything page-ish (asking for a
 * picker, clicking a link, adding an iframe, saving a Blob) is left to the
 * caller, which passes handles or functions in; this module touches only the
 * APIs a sink writes through.
 *
 * A writer may keep a chunk after `write()` resolves: pass each chunk once
 * and do not reuse its buffer.
 *
 * @module
 */

import type { FileMeta, FileWriter, Sink, SinkKind } from "./sink.ts";
import { zipSize, ZipWriter } from "./zip.ts";

/** The name of the zip that several files become. */
export const ZIP_NAME = "beam-files.zip";

/** What the browser offers, for {@linkcode chooseSink}. */
export interface SinkFeatures {
  /** `showSaveFilePicker()` exists. */
  saveFilePicker: boolean;
  /** `showDirectoryPicker()` exists. */
  directoryPicker: boolean;
  /** Service workers and transferable streams both work here. */
  serviceWorker: boolean;
}

/** Which sink to build, and how. */
export interface SinkChoice {
  /** The sink's kind. */
  kind: SinkKind;
  /**
   * For `"zip"`, the one-file sink the zip streams through (its picker gets
   * {@linkcode ZIP_NAME} as the suggested name); otherwise `null`.
   */
  via: "file-picker" | "service-worker" | "memory" | null;
  /** Whether whole files wait in memory (warn before large transfers). */
  inMemory: boolean;
}

/**
 * Whether `postMessage` can transfer a ReadableStream here (Chromium can;
 * some browsers throw a DataCloneError).
 */
export function canTransferStreams(): boolean {
  if (
    typeof MessageChannel !== "function" ||
    typeof ReadableStream !== "function"
  ) {
    return false;
  }
  const { port1, port2 } = new MessageChannel();
  try {
    const stream = new ReadableStream();
    port1.postMessage(stream, [stream]);
    return true;
  } catch {
    return false;
  } finally {
    port1.close();
    port2.close();
  }
}

/** Finds out what this browser offers. */
export function detectFeatures(): SinkFeatures {
  const scope = globalThis as unknown as Record<string, unknown>;
  const nav = globalThis.navigator as Navigator | undefined;
  return {
    saveFilePicker: typeof scope.showSaveFilePicker === "function",
    directoryPicker: typeof scope.showDirectoryPicker === "function",
    serviceWorker: globalThis.isSecureContext === true &&
      nav?.serviceWorker !== undefined && canTransferStreams(),
  };
}

/**
 * Chooses how to store `files`: one file goes to the save picker, else a
 * service-worker download, else memory; several files go to a folder, else
 * one zip through a service-worker download, the save picker, or memory.
 * The caller decides whether to warn about `inMemory`.
 */
export function chooseSink(
  files: FileMeta[],
  features: SinkFeatures = detectFeatures(),
): SinkChoice {
  if (files.length <= 1) {
    if (features.saveFilePicker) {
      return { kind: "file-picker", via: null, inMemory: false };
    }
    if (features.serviceWorker) {
      return { kind: "service-worker", via: null, inMemory: false };
    }
    return { kind: "memory", via: null, inMemory: true };
  }
  if (features.directoryPicker) {
    return { kind: "directory", via: null, inMemory: false };
  }
  if (features.serviceWorker) {
    return { kind: "zip", via: "service-worker", inMemory: false };
  }
  if (features.saveFilePicker) {
    return { kind: "zip", via: "file-picker", inMemory: false };
  }
  return { kind: "zip", via: "memory", inMemory: true };
}

/**
 * Makes a sender's file name safe to save: no path separators, no control
 * characters, none of the characters Windows forbids, no trailing dots or
 * spaces, not `.` or `..`, at most 200 characters (the extension kept).
 */
export function safeFileName(name: string): string {
  // deno-lint-ignore no-control-regex
  let safe = name.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, "_")
    .replace(/^\s+/, "")
    .replace(/[\s.]+$/, "");
  if (safe === "" || safe === "." || safe === "..") safe = "file";
  const chars = Array.from(safe);
  if (chars.length > 200) {
    const dot = safe.lastIndexOf(".");
    const ext = dot > 0 ? Array.from(safe.slice(dot)) : [];
    const keep = ext.length <= 20 ? ext : [];
    safe = chars.slice(0, 200 - keep.length).join("") + keep.join("");
  }
  return safe;
}

/** `"a.txt"` numbered `n`: `"a (n).txt"`. */
export function numberedName(name: string, n: number): string {
  const dot = name.lastIndexOf(".");
  return dot > 0
    ? `${name.slice(0, dot)} (${n})${name.slice(dot)}`
    : `${name} (${n})`;
}

/**
 * Safe, distinct names for `names`, in order: a repeated name gets " (1)",
 * " (2)" and so on (compared without case, as most file systems do).
 */
export function uniqueNames(names: string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    const safe = safeFileName(name);
    let candidate = safe;
    for (let n = 1; taken.has(candidate.toLowerCase()); n++) {
      candidate = numberedName(safe, n);
    }
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}

/** The `Content-Disposition` of a download named `name` (RFC 6266/5987). */
export function contentDisposition(name: string): string {
  const safe = safeFileName(name);
  // An ASCII fallback for old clients, and the exact name in UTF-8.
  const ascii = safe.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const encoded = encodeURIComponent(safe).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * The sender's MIME type if it is a plain `type/subtype` (no parameters),
 * else `application/octet-stream`.
 */
export function mimeType(type: string): string {
  return /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/.test(type)
    ? type.toLowerCase()
    : "application/octet-stream";
}

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

function errorOf(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/**
 * Bytes gathered into one write to a file or one message to the service
 * worker. Each of those costs a round trip to another process: data-channel
 * chunks (16 to 256 KiB) written one by one run two to three times slower
 * in Chromium than 1 MiB batches.
 */
const WRITE_BATCH = 1 << 20;

/**
 * A {@linkcode FileWriter} over a WritableStream. Writes are pipelined: the
 * next chunk is taken while the stream still writes this one, up to the
 * stream's own high-water mark; `cleanup` runs after an abort, `written`
 * after the stream has taken each chunk (its bytes may then be reused).
 */
function streamWriter(
  stream: WritableStream<Uint8Array>,
  what: string,
  cleanup: () => Promise<void> = async () => {},
  written: (chunk: Uint8Array<ArrayBuffer>) => void = () => {},
): FileWriter {
  const writer = stream.getWriter();
  // "closing" also covers a close that failed: an abort may still clean up.
  let state: "open" | "closing" | "closed" | "aborted" = "open";
  function check(action: string): void {
    if (state !== "open") {
      throw new Error(`Cannot ${action} ${what}: it is ${state}`);
    }
  }
  return {
    async write(chunk) {
      check("write to");
      try {
        await writer.ready;
      } catch (error) {
        throw new Error(`Cannot write to ${what}: ${errorOf(error).message}`, {
          cause: error,
        });
      }
      // A failed write also errors the stream: the next ready or close
      // reports it.
      writer.write(chunk).then(
        () => written(chunk as Uint8Array<ArrayBuffer>),
        () => {},
      );
    },
    async close() {
      check("close");
      state = "closing";
      try {
        await writer.close();
      } catch (error) {
        throw new Error(`Cannot close ${what}: ${errorOf(error).message}`, {
          cause: error,
        });
      }
      state = "closed";
    },
    async abort(reason) {
      if (state === "closed" || state === "aborted") return;
      state = "aborted";
      await writer.abort(reason).catch(() => {});
      await cleanup().catch(() => {});
    },
  };
}

/**
 * A writer to a file's writable stream (File System Access): 1 MiB batches
 * from a pool, each buffer reused once the browser has taken its bytes.
 */
function fileWriter(
  writable: WritableStream<Uint8Array>,
  what: string,
  cleanup: () => Promise<void>,
): FileWriter {
  const pool = new BufferPool(WRITE_BATCH);
  const writer = streamWriter(writable, what, cleanup, (chunk) => {
    pool.give(chunk);
  });
  return batchWriter(writer, WRITE_BATCH, pool);
}

/**
 * A sink built from a function that opens each file's writer: it tracks the
 * open writer, so that `abort()` can give it up.
 */
class WriterSink implements Sink {
  readonly kind: SinkKind;
  readonly inMemory: boolean;
  #openWriter: (meta: FileMeta) => Promise<FileWriter>;
  #writer: FileWriter | null = null;
  #done = false;

  constructor(
    kind: SinkKind,
    inMemory: boolean,
    openWriter: (meta: FileMeta) => Promise<FileWriter>,
  ) {
    this.kind = kind;
    this.inMemory = inMemory;
    this.#openWriter = openWriter;
  }

  async open(meta: FileMeta): Promise<FileWriter> {
    if (this.#done) {
      throw new Error(`Cannot open "${meta.name}": the sink is done`);
    }
    if (this.#writer !== null) {
      throw new Error(`Cannot open "${meta.name}": a file is still open`);
    }
    const writer = await this.#openWriter(meta);
    const wrapped: FileWriter = {
      write: (chunk) => writer.write(chunk),
      close: async () => {
        await writer.close();
        // Left open when closing fails, so that abort() still reaches it.
        this.#writer = null;
      },
      abort: async (reason) => {
        this.#writer = null;
        await writer.abort(reason);
      },
    };
    this.#writer = wrapped;
    return wrapped;
  }

  finish(): Promise<void> {
    if (this.#writer !== null) {
      return Promise.reject(new Error("Cannot finish: a file is still open"));
    }
    this.#done = true;
    return Promise.resolve();
  }

  async abort(reason?: unknown): Promise<void> {
    this.#done = true;
    const writer = this.#writer;
    this.#writer = null;
    await writer?.abort(reason);
  }
}

/** Throws unless this is the sink's first file. */
function onlyOnce(what: string): (meta: FileMeta) => void {
  let used = false;
  return (meta) => {
    if (used) {
      throw new Error(`Cannot open "${meta.name}": ${what} holds one file`);
    }
    used = true;
  };
}

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

type RemovableHandle = FileSystemFileHandle & { remove?(): Promise<void> };

/**
 * A sink of several files, each saved into `dir` (what
 * `showDirectoryPicker()` returned) under its own name, or with " (1)",
 * " (2)"… added when the name is taken. Aborting removes the file being
 * written; files already closed stay.
 */
export function directorySink(dir: FileSystemDirectoryHandle): Sink {
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

/** Options of {@linkcode serviceWorkerSink}. */
export interface ServiceWorkerSinkOptions {
  /** Every file of the transfer; several become one zip. */
  files: FileMeta[];
  /**
   * Makes the browser fetch `url` as a download. The page does it, e.g. by
   * setting it as the `src` of a hidden iframe, or by clicking a hidden link
   * (without the `download` attribute, which skips the service worker).
   */
  startDownload(url: string): void;
  /** The service worker script. Default `"/sw.js"`. */
  scriptUrl?: string;
  /** Its scope, also the download URLs' prefix. Default `"/_beam_download/"`. */
  scope?: string;
  /** The zip's name, for several files. Default {@linkcode ZIP_NAME}. */
  zipName?: string;
  /** How often to wake the worker while a download runs. Default 10 s. */
  keepAliveMs?: number;
  /** How long to wait for the browser to request the download. Default 30 s. */
  startTimeoutMs?: number;
  /** Bytes that may wait between this page and the download. Default 4 MiB. */
  highWaterMark?: number;
  /** Bytes gathered into each message to the worker. Default 1 MiB. */
  batchBytes?: number;
}

const DOWNLOAD_SCOPE = "/_beam_download/";

/** Waits until the registration's newest worker is activated. */
async function activeWorker(
  registration: ServiceWorkerRegistration,
): Promise<ServiceWorker> {
  const worker = registration.installing ?? registration.waiting ??
    registration.active;
  if (worker === null) {
    throw new Error("Cannot start the download: no service worker installed");
  }
  if (worker.state === "activated") return worker;
  await new Promise<void>((resolve, reject) => {
    const onChange = () => {
      if (worker.state === "activated") resolve();
      else if (worker.state === "redundant") {
        reject(
          new Error("Cannot start the download: the service worker failed"),
        );
      } else return;
      worker.removeEventListener("statechange", onChange);
    };
    worker.addEventListener("statechange", onChange);
  });
  return worker;
}

/** Waits for a message of one of `types` on `port`, or for `ms`. */
function nextMessage(
  port: MessagePort,
  types: string[],
  ms: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = ms === Infinity ? undefined : setTimeout(() => {
      port.removeEventListener("message", onMessage);
      resolve(null);
    }, ms);
    const onMessage = (event: MessageEvent) => {
      const type = event.data?.type;
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
  let registration: ServiceWorkerRegistration;
  try {
    registration = await navigator.serviceWorker.register(
      options.scriptUrl ?? "/sw.js",
      { scope },
    );
  } catch (error) {
    throw new Error(
      `Cannot start the download: the service worker did not register (${
        errorOf(error).message
      })`,
      { cause: error },
    );
  }
  const worker = await activeWorker(registration);

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
  const url = new URL(
    `${id}/${encodeURIComponent(safeFileName(meta.name))}`,
    new URL(scope, location.href),
  ).href;
  const { port1, port2 } = new MessageChannel();
  const ready = nextMessage(port1, ["beam-ready"], 10_000);
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
  if (await ready === null) {
    throw await fail(
      "Cannot start the download: the service worker did not answer",
    );
  }
  const started = nextMessage(
    port1,
    ["beam-started", "beam-expired"],
    options.startTimeoutMs ?? 30_000,
  );
  options.startDownload(url);
  if (await started !== "beam-started") {
    throw await fail(
      "Cannot start the download: the browser never requested it",
    );
  }
  const ended = nextMessage(port1, ["beam-done", "beam-cancelled"], Infinity);

  // A browser may stop a worker ~30 s after its last event. Chromium (156)
  // keeps one alive while a response it made still streams, even through a
  // 5-minute stall (tests/sinks_test.ts checks a 45 s one), but a message
  // now and then is an event for any engine, and costs nothing.
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
  return {
    write: (chunk) => batched.write(chunk),
    async close() {
      try {
        await batched.close();
        // The last bytes are in the stream; wait until the browser has
        // read them, so that the page may close right after.
        if (await ended === "beam-cancelled") {
          throw new Error("Cannot close the download: it was cancelled");
        }
      } finally {
        stop();
      }
    },
    abort: (reason) => batched.abort(reason),
  };
}

/**
 * Buffers of one size, taken for batches and given back once the stream
 * has taken their bytes. Reusing them keeps a long transfer from leaving a
 * megabyte of garbage per megabyte received, on top of the data channel's
 * own messages: garbage that only a GC returns, so it shows as resident
 * memory (bench/README.md, Transfer).
 */
class BufferPool {
  #size: number;
  #free: Uint8Array<ArrayBuffer>[] = [];

  constructor(size: number) {
    this.#size = size;
  }

  /** A buffer of the pool's size: a free one, or a new one. */
  take(): Uint8Array<ArrayBuffer> {
    return this.#free.pop() ?? new Uint8Array(this.#size);
  }

  /** Gives a whole buffer back (a view of part of one is dropped). */
  give(buffer: Uint8Array<ArrayBuffer>): void {
    if (
      buffer.byteOffset === 0 && buffer.byteLength === this.#size &&
      buffer.buffer.byteLength === this.#size && this.#free.length < 4 &&
      !this.#free.includes(buffer)
    ) this.#free.push(buffer);
  }
}

/**
 * Gathers chunks into `size`-byte buffers (from `pool`) and writes those to
 * `inner` (the last one shorter, on close). Copying also means that
 * `inner` never sees a view of a larger buffer, which posting would clone
 * whole.
 */
function batchWriter(
  inner: FileWriter,
  size: number,
  pool = new BufferPool(size),
): FileWriter {
  let batch = pool.take();
  let used = 0;
  async function flush(): Promise<void> {
    if (used === 0) return;
    const full = used === size ? batch : batch.slice(0, used);
    if (full !== batch) pool.give(batch);
    batch = pool.take();
    used = 0;
    await inner.write(full);
  }
  return {
    async write(chunk) {
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(size - used, chunk.length - at);
        batch.set(chunk.subarray(at, at + n), used);
        used += n;
        at += n;
        if (used === size) await flush();
      }
    },
    async close() {
      await flush();
      await inner.close();
    },
    abort(reason) {
      used = 0;
      return inner.abort(reason);
    },
  };
}

/**
 * A sink that saves through an ordinary download, streamed by the service
 * worker `static/sw.js`: for one file, that file (kind `"service-worker"`);
 * for several, one zip of them (kind `"zip"`, named `options.zipName`).
 * The download starts when the first file opens, through
 * `options.startDownload`. Needs service workers and transferable streams
 * (see {@linkcode detectFeatures}). Aborting fails the download, and the
 * browser drops its partial file.
 */
export function serviceWorkerSink(options: ServiceWorkerSinkOptions): Sink {
  const first = onlyOnce("a service-worker download");
  const download = new WriterSink("service-worker", false, (meta) => {
    first(meta);
    return openDownload(meta, options);
  });
  if (options.files.length <= 1) return download;
  return zipSink(options.files, download, { name: options.zipName });
}

/** Options of {@linkcode zipSink}. */
export interface ZipSinkOptions {
  /** The zip's name. Default {@linkcode ZIP_NAME}. */
  name?: string;
  /** Passed on to the zip writer (for tests). */
  forceZip64?: boolean;
}

class ZipSink implements Sink {
  readonly kind = "zip";
  readonly inMemory: boolean;
  #files: FileMeta[];
  #names: string[];
  #inner: Sink;
  #options: ZipSinkOptions;
  #target: FileWriter | null = null;
  #zip: ZipWriter | null = null;
  #entry: FileWriter | null = null;
  #next = 0;
  #state: "open" | "finished" | "aborted" = "open";

  constructor(files: FileMeta[], inner: Sink, options: ZipSinkOptions) {
    this.#files = files;
    this.#names = uniqueNames(files.map((file) => file.name));
    this.#inner = inner;
    this.#options = options;
    this.inMemory = inner.inMemory;
  }

  /** The archive as it will be written: its entries and exact size. */
  #entries(): FileMeta[] {
    return this.#files.map((file, i) => ({ ...file, name: this.#names[i] }));
  }

  async #start(): Promise<ZipWriter> {
    if (this.#zip !== null) return this.#zip;
    const forceZip64 = this.#options.forceZip64 ?? false;
    const target = await this.#inner.open({
      name: this.#options.name ?? ZIP_NAME,
      size: zipSize(this.#entries(), { forceZip64 }),
      type: "application/zip",
      lastModified: Date.now(),
    });
    this.#target = target;
    this.#zip = new ZipWriter((bytes) => target.write(bytes), { forceZip64 });
    return this.#zip;
  }

  async open(meta: FileMeta): Promise<FileWriter> {
    if (this.#state !== "open") {
      throw new Error(`Cannot open "${meta.name}": the zip is ${this.#state}`);
    }
    const index = this.#next;
    const expected = this.#files[index];
    if (
      expected === undefined || expected.name !== meta.name ||
      expected.size !== meta.size
    ) {
      throw new RangeError(
        `Cannot open "${meta.name}": the zip expected ${
          expected
            ? `"${expected.name}" (${expected.size} bytes)`
            : "no more files"
        }`,
      );
    }
    const zip = await this.#start();
    const entry = zip.add({ ...expected, name: this.#names[index] });
    this.#next++;
    this.#entry = entry;
    return {
      write: (chunk) => entry.write(chunk),
      close: async () => {
        this.#entry = null;
        await entry.close();
      },
      // The entry's bytes are already in the stream: the whole zip goes.
      abort: async (reason) => {
        this.#entry = null;
        await entry.abort(reason);
        await this.abort(reason);
      },
    };
  }

  async finish(): Promise<void> {
    if (this.#state !== "open") {
      throw new Error(`Cannot finish the zip: it is ${this.#state}`);
    }
    if (this.#next !== this.#files.length) {
      throw new Error(
        `Cannot finish the zip: ${this.#next} of ${this.#files.length} files were written`,
      );
    }
    const zip = await this.#start();
    await zip.finish();
    this.#state = "finished";
    await this.#target!.close();
    await this.#inner.finish();
  }

  async abort(reason?: unknown): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "aborted";
    await this.#entry?.abort(reason).catch(() => {});
    await this.#target?.abort(reason).catch(() => {});
    await this.#inner.abort(reason);
  }
}

/**
 * A sink that writes `files` (all of them, in this order) as one streamed
 * zip into `inner`, a sink that takes one file: opened with the zip's name
 * and exact size when the first file opens. Names are made safe and
 * distinct. Aborting a file aborts the whole zip, whose bytes are already
 * on their way.
 */
export function zipSink(
  files: FileMeta[],
  inner: Sink,
  options: ZipSinkOptions = {},
): Sink {
  return new ZipSink(files, inner, options);
}

/** Options of {@linkcode memorySink}. */
export interface MemorySinkOptions {
  /** Saves one finished file (e.g. through a link to an object URL). */
  save(blob: Blob, name: string): void | Promise<void>;
}

/** Bytes gathered before they become a Blob, which the browser may page out. */
const BLOB_BATCH = 8 << 20;

/** One file gathered in memory, handed to `save` on close. */
function memoryWriter(meta: FileMeta, save: MemorySinkOptions["save"]) {
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
  const writer: FileWriter = {
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
      const blob = new Blob(parts, { type: mimeType(meta.type) });
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
  return writer;
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
