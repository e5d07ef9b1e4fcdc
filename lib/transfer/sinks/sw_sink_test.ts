/**
 * The page side of the service-worker download, driven against a fake
 * worker: the page's messages cross a real MessageChannel (streams and
 * ports transferred as a browser transfers them) to the worker's own logic
 * (`DownloadWorker`), and the test plays the browser that fetches the
 * download. No browser runs; tests/sinks_test.ts covers Chromium.
 */

import assert from "node:assert/strict";
import type { FileMeta } from "../sink.ts";
import { zipSize } from "../zip.ts";
import { DownloadWorker } from "./service_worker.ts";
import {
  DOWNLOAD_ERRORS,
  downloadHeaders,
  type RegistrationLike,
  serviceWorkerSink,
  type ServiceWorkerSinkOptions,
  type WorkerContainerLike,
  type WorkerLike,
} from "./sw_sink.ts";
import type { PageMessage } from "./sw_protocol.ts";
import { meta } from "../../../tests/_helpers/sink_io.ts";

const ORIGIN = "https://beam.test";

interface FakeWorkerOptions {
  /** Drop every message, as a worker that never runs would. */
  silent?: boolean;
  /** The worker's state when the page finds it. Default `"activated"`. */
  state?: string;
  /** Passed to the worker. */
  unclaimedMs?: number;
}

/**
 * A service worker for the page: `postMessage` crosses a MessageChannel to
 * a {@linkcode DownloadWorker}, as the browser would carry it.
 */
class FakeWorker extends EventTarget implements WorkerLike {
  state: string;
  /** Every message the worker received, by type. */
  received: PageMessage["type"][] = [];
  /** Every message the page posted, by type (some may still be on the way). */
  posted: PageMessage["type"][] = [];
  /** The `waitUntil` promises of the worker's message events. */
  waits: Promise<void>[] = [];
  logic: DownloadWorker;
  #page: MessagePort;
  #worker: MessagePort;
  #ports: MessagePort[] = [];

  constructor(options: FakeWorkerOptions = {}) {
    super();
    this.state = options.state ?? "activated";
    this.logic = new DownloadWorker({
      origin: ORIGIN,
      unclaimedMs: options.unclaimedMs,
    });
    const { port1, port2 } = new MessageChannel();
    this.#page = port1;
    this.#worker = port2;
    port2.onmessage = (event) => {
      if (options.silent) return;
      this.received.push(event.data.type);
      this.#ports.push(...event.ports);
      const wait = this.logic.message(event.data, event.ports);
      if (wait !== null) this.waits.push(wait);
    };
  }

  postMessage(message: PageMessage, transfer: Transferable[] = []): void {
    this.posted.push(message.type);
    this.#page.postMessage(message, transfer);
  }

  /** Moves the worker to `state`, as the browser would. */
  become(state: string): void {
    this.state = state;
    this.dispatchEvent(new Event("statechange"));
  }

  /** The browser fetches `url`: the worker's answer. */
  fetch(url: string): Response {
    const response = this.logic.fetch(new Request(url));
    assert.ok(response, `the worker answers ${url}`);
    return response;
  }

  async close(): Promise<void> {
    await Promise.all(this.waits);
    for (const port of [this.#page, this.#worker, ...this.#ports]) {
      port.close();
    }
  }
}

/** A container whose registration holds `worker`, or whose register fails. */
function container(
  worker: FakeWorker,
  fail?: Error,
): WorkerContainerLike & { registered: string[] } {
  const registered: string[] = [];
  return {
    registered,
    register(url, { scope }) {
      registered.push(`${url} ${scope}`);
      if (fail) return Promise.reject(fail);
      const installing = worker.state === "activated" ? null : worker;
      const registration: RegistrationLike = {
        installing,
        waiting: null,
        active: installing === null ? worker : null,
      };
      return Promise.resolve(registration);
    },
  };
}

/**
 * Options for a sink over `worker`, whose downloads the fake browser
 * fetches as soon as they start; `responses` gets each response.
 */
function sinkOptions(
  worker: FakeWorker,
  files: FileMeta[],
  extra: Partial<ServiceWorkerSinkOptions> = {},
): ServiceWorkerSinkOptions & { responses: Promise<Uint8Array>[] } {
  const responses: Promise<Uint8Array>[] = [];
  return {
    files,
    container: container(worker),
    baseUrl: `${ORIGIN}/r/abc`,
    startDownload(url) {
      responses.push(worker.fetch(url).bytes());
    },
    responses,
    ...extra,
  };
}

Deno.test("serviceWorkerSink() streams a file through the worker to the download", async () => {
  const worker = new FakeWorker();
  const file = meta("résumé.txt", 11, "text/plain");
  const options = sinkOptions(worker, [file]);
  const sink = serviceWorkerSink(options);
  assert.equal(sink.kind, "service-worker");
  assert.equal(sink.inMemory, false);
  const writer = await sink.open(file);
  await writer.write(new TextEncoder().encode("hello "));
  await writer.write(new TextEncoder().encode("world"));
  await writer.close(); // resolves once the browser read the last byte
  await sink.finish();
  assert.equal(
    new TextDecoder().decode(await options.responses[0]),
    "hello world",
  );
  assert.deepEqual(
    (options.container as ReturnType<typeof container>).registered,
    ["/sw.js /_beam_download/"],
  );
  assert.deepEqual(worker.received, ["beam-download"]);
  await worker.close();
});

Deno.test("serviceWorkerSink() sends several files as one zip of the announced size", async () => {
  const worker = new FakeWorker();
  const files = [meta("a.txt", 1), meta("a.txt", 2)];
  const options = sinkOptions(worker, files);
  const sink = serviceWorkerSink(options);
  assert.equal(sink.kind, "zip");
  for (const [i, file] of files.entries()) {
    const writer = await sink.open(file);
    await writer.write(new Uint8Array(file.size).fill(i));
    await writer.close();
  }
  await sink.finish();
  const bytes = await options.responses[0];
  assert.equal(
    bytes.length,
    zipSize([meta("a.txt", 1), meta("a (1).txt", 2)]),
  );
  assert.deepEqual([...bytes.subarray(0, 4)], [0x50, 0x4b, 3, 4]);
  await worker.close();
});

Deno.test("serviceWorkerSink() wakes the worker while a download stalls, and stops after", async () => {
  const worker = new FakeWorker();
  const file = meta("slow.bin", 2);
  const sink = serviceWorkerSink(
    sinkOptions(worker, [file], { keepAliveMs: 5 }),
  );
  const writer = await sink.open(file);
  await writer.write(new Uint8Array(1));
  // A stall: the worker must hear from the page while no bytes move.
  while (worker.received.filter((t) => t === "beam-keepalive").length < 3) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await writer.write(new Uint8Array(1));
  await writer.close();
  await sink.finish();
  // Counted as posted: one posted just before the end may arrive after it.
  const after = worker.posted.length;
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(worker.posted.length, after, "no keep-alive after the end");
  await worker.close();
});

Deno.test("serviceWorkerSink() says so when the worker does not register", async () => {
  const worker = new FakeWorker();
  const refusal = new DOMException(
    "The operation is insecure.",
    "SecurityError",
  );
  const sink = serviceWorkerSink({
    ...sinkOptions(worker, [meta("a", 1)]),
    container: container(worker, refusal),
  });
  const error = await sink.open(meta("a", 1)).then(
    () => assert.fail("the download opened"),
    (error: Error) => error,
  );
  assert.equal(error.message, DOWNLOAD_ERRORS.notRegistered);
  assert.equal(error.cause, refusal, "the browser's reason is kept");
  await worker.close();
});

Deno.test("serviceWorkerSink() says so when the worker fails to install", async () => {
  const worker = new FakeWorker({ state: "installing" });
  const sink = serviceWorkerSink(sinkOptions(worker, [meta("a", 1)]));
  const opening = sink.open(meta("a", 1));
  await new Promise((resolve) => setTimeout(resolve, 0));
  worker.become("installed");
  worker.become("redundant");
  await assert.rejects(opening, { message: DOWNLOAD_ERRORS.workerFailed });
  await worker.close();
});

Deno.test("serviceWorkerSink() waits for an installing worker to activate", async () => {
  const worker = new FakeWorker({ state: "installing" });
  const file = meta("a", 1);
  const options = sinkOptions(worker, [file]);
  const opening = serviceWorkerSink(options).open(file);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(worker.received, [], "nothing is posted before it runs");
  worker.become("activated");
  const writer = await opening;
  await writer.write(new Uint8Array(1));
  await writer.close();
  assert.equal((await options.responses[0]).length, 1);
  await worker.close();
});

Deno.test("serviceWorkerSink() says so when the worker never activates", async () => {
  const worker = new FakeWorker({ state: "installing" });
  const sink = serviceWorkerSink(
    sinkOptions(worker, [meta("a", 1)], { setupTimeoutMs: 10 }),
  );
  const opening = sink.open(meta("a", 1));
  worker.become("installed");
  await assert.rejects(opening, { message: DOWNLOAD_ERRORS.workerFailed });
  assert.deepEqual(worker.posted, [], "nothing is posted to it");
  await worker.close();
});

Deno.test("serviceWorkerSink() says so when registering the worker never ends", async () => {
  const worker = new FakeWorker();
  const sink = serviceWorkerSink({
    ...sinkOptions(worker, [meta("a", 1)], { setupTimeoutMs: 10 }),
    container: { register: () => new Promise(() => {}) },
  });
  await assert.rejects(sink.open(meta("a", 1)), {
    message: DOWNLOAD_ERRORS.workerFailed,
  });
  await worker.close();
});

Deno.test("serviceWorkerSink() says so when the worker is silent", async () => {
  const worker = new FakeWorker({ silent: true });
  const sink = serviceWorkerSink(
    sinkOptions(worker, [meta("a", 1)], { answerTimeoutMs: 10 }),
  );
  await assert.rejects(sink.open(meta("a", 1)), {
    message: DOWNLOAD_ERRORS.silent,
  });
  await worker.close();
});

Deno.test("serviceWorkerSink() says so when the browser never requests the download", async () => {
  const worker = new FakeWorker({ unclaimedMs: 100 });
  const sink = serviceWorkerSink(
    sinkOptions(worker, [meta("a", 1)], {
      startTimeoutMs: 10,
      startDownload() {}, // a blocked download: no request comes
    }),
  );
  await assert.rejects(sink.open(meta("a", 1)), {
    message: DOWNLOAD_ERRORS.neverRequested,
  });
  await worker.close(); // the worker drops it in its own time
  assert.equal(worker.logic.waiting, 0);
});

Deno.test("serviceWorkerSink() says so when the worker let the download expire", async () => {
  const worker = new FakeWorker({ unclaimedMs: 10 });
  const sink = serviceWorkerSink(
    sinkOptions(worker, [meta("a", 1)], { startDownload() {} }),
  );
  await assert.rejects(sink.open(meta("a", 1)), {
    message: DOWNLOAD_ERRORS.expired,
  });
  await worker.close();
});

Deno.test("serviceWorkerSink() says the browser cancelled or refused a download it dropped, never undefined", async () => {
  const worker = new FakeWorker();
  const file = meta("big.bin", 1 << 20);
  // The browser takes the download, then drops it (cancelled, or downloads
  // not allowed): its body is cancelled without a reason.
  const options = sinkOptions(worker, [file], {
    highWaterMark: 1024,
    batchBytes: 1024,
    startDownload(url) {
      worker.fetch(url).body!.cancel();
    },
  });
  const sink = serviceWorkerSink(options);
  const writer = await sink.open(file);
  await assert.rejects(
    async () => {
      for (let i = 0; i < 64; i++) await writer.write(new Uint8Array(1024));
    },
    { message: DOWNLOAD_ERRORS.cancelled },
  );
  await sink.abort(new Error("stopped"));
  await worker.close();
});

Deno.test("serviceWorkerSink() errors are sentences that say what to do", () => {
  for (const message of Object.values(DOWNLOAD_ERRORS)) {
    assert.match(message, /^Cannot [a-z ]+: .+\. [A-Z][^.]+[a-z]\.$/);
  }
});

Deno.test("downloadHeaders() passes only a plain MIME type and the size", () => {
  const headers = new Headers(
    downloadHeaders(meta("a.pdf", 123, "application/pdf")),
  );
  assert.equal(headers.get("content-type"), "application/pdf");
  assert.equal(headers.get("content-length"), "123");
  assert.match(headers.get("content-disposition")!, /^attachment; /);
  assert.equal(headers.get("x-content-type-options"), "nosniff");
  assert.equal(
    headers.get("content-security-policy"),
    "default-src 'none'; sandbox",
  );
  assert.equal(
    new Headers(downloadHeaders(meta("a", NaN, "text/html; x"))).get(
      "content-type",
    ),
    "application/octet-stream",
  );
});
