import assert from "node:assert/strict";
import {
  DownloadWorker,
  type ExtendableMessageEventLike,
  type FetchEventLike,
  serveDownloads,
  type WorkerScope,
} from "./service_worker.ts";
import type { DownloadMessage, WorkerMessageType } from "./sw_protocol.ts";

const ORIGIN = "https://beam.test";
const URL_OF = (id: string) => `${ORIGIN}/_beam_download/${id}/a.bin`;

/**
 * A fake page: its end of a download's port, the messages the worker said
 * on it, and the stream it handed over (fed by `write`).
 */
function fakePage(id = crypto.randomUUID()) {
  const { port1, port2 } = new MessageChannel();
  const heard: WorkerMessageType[] = [];
  const waiters: (() => void)[] = [];
  port1.onmessage = (event) => {
    heard.push(event.data.type);
    for (const wake of waiters.splice(0)) wake();
  };
  let cancelled: unknown = undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    cancel: (reason) => void (cancelled = reason ?? "cancelled"),
  });
  const message: DownloadMessage = {
    type: "beam-download",
    id,
    headers: [["content-type", "application/octet-stream"]],
    stream,
  };
  return {
    id,
    message,
    port: port2,
    heard,
    get cancelled() {
      return cancelled;
    },
    write: (bytes: Uint8Array) => controller.enqueue(bytes),
    end: () => controller.close(),
    /** Resolves once the worker has said `type`. */
    async hear(type: WorkerMessageType): Promise<void> {
      while (!heard.includes(type)) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    close() {
      port1.close();
      port2.close();
    },
  };
}

Deno.test("DownloadWorker answers the download's one request with the page's stream", async () => {
  const worker = new DownloadWorker({ origin: ORIGIN });
  const page = fakePage();
  const claimed = worker.message(page.message, [page.port]);
  assert.ok(claimed, "a download is waited on");
  await page.hear("beam-ready");
  assert.equal(worker.waiting, 1);

  const response = worker.fetch(new Request(URL_OF(page.id)));
  assert.ok(response);
  await claimed; // the worker need not stay up for this download any more
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "application/octet-stream",
  );
  await page.hear("beam-started");
  page.write(new TextEncoder().encode("hello "));
  page.write(new TextEncoder().encode("world"));
  page.end();
  assert.equal(await response.text(), "hello world");
  await page.hear("beam-done");
  assert.deepEqual(page.heard, ["beam-ready", "beam-started", "beam-done"]);

  // One request per download: a retry finds nothing.
  const again = worker.fetch(new Request(URL_OF(page.id)));
  assert.equal(again?.status, 404);
  assert.match(await again!.text(), /over or was never started/);
  page.close();
});

Deno.test("DownloadWorker leaves other requests to the network", () => {
  const worker = new DownloadWorker({ origin: ORIGIN });
  assert.equal(worker.fetch(new Request(`${ORIGIN}/`)), null);
  assert.equal(worker.fetch(new Request(`${ORIGIN}/sw.js`)), null);
  assert.equal(
    worker.fetch(new Request("https://other.test/_beam_download/x/a")),
    null,
  );
  assert.equal(
    worker.fetch(new Request(URL_OF("x"), { method: "POST", body: "a" })),
    null,
  );
  assert.equal(worker.fetch(new Request(URL_OF("unknown")))?.status, 404);
});

Deno.test("DownloadWorker ignores keep-alives and malformed messages", () => {
  const worker = new DownloadWorker({ origin: ORIGIN });
  const { port1, port2 } = new MessageChannel();
  assert.equal(worker.message({ type: "beam-keepalive" }, []), null);
  assert.equal(
    worker.message({ type: "beam-download", id: "x" }, [port1]),
    null,
  );
  assert.equal(worker.message("beam-download", [port1]), null);
  assert.equal(worker.waiting, 0);
  port1.close();
  port2.close();
});

Deno.test("DownloadWorker drops a download the browser never requests, and says so", async () => {
  const worker = new DownloadWorker({ origin: ORIGIN, unclaimedMs: 10 });
  const page = fakePage();
  await worker.message(page.message, [page.port]);
  await page.hear("beam-expired");
  assert.deepEqual(page.heard, ["beam-ready", "beam-expired"]);
  assert.equal(page.cancelled, "Download never requested");
  assert.equal(worker.waiting, 0);
  assert.equal(worker.fetch(new Request(URL_OF(page.id)))?.status, 404);
  page.close();
});

Deno.test("DownloadWorker tells the page when the person cancels the download", async () => {
  const worker = new DownloadWorker({ origin: ORIGIN });
  const page = fakePage();
  worker.message(page.message, [page.port]);
  const response = worker.fetch(new Request(URL_OF(page.id)))!;
  page.write(new Uint8Array(3));
  const reader = response.body!.getReader();
  assert.equal((await reader.read()).value?.length, 3);
  await reader.cancel("the person cancelled");
  await page.hear("beam-cancelled");
  assert.equal(page.cancelled, "the person cancelled");
  page.close();
});

Deno.test("serveDownloads() wires install, message and fetch events", async () => {
  const listeners = new Map<string, (event: never) => void>();
  let skipped = false;
  const scope: WorkerScope = {
    location: { origin: ORIGIN },
    skipWaiting: () => {
      skipped = true;
      return Promise.resolve();
    },
    addEventListener: (type: string, listener: (event: never) => void) =>
      void listeners.set(type, listener),
  };
  serveDownloads(scope);
  (listeners.get("install") as () => void)();
  assert.equal(skipped, true, "a new version takes over at once");

  const page = fakePage();
  const waits: Promise<unknown>[] = [];
  const message: ExtendableMessageEventLike = {
    data: page.message,
    ports: [page.port],
    waitUntil: (promise) => void waits.push(promise),
  };
  (listeners.get("message") as (e: ExtendableMessageEventLike) => void)(
    message,
  );
  assert.equal(waits.length, 1, "the worker is kept up until the request");

  const responses: Response[] = [];
  const fetchEvent = (url: string): FetchEventLike => ({
    request: new Request(url),
    respondWith: (response) => void responses.push(response),
  });
  const onFetch = listeners.get("fetch") as (e: FetchEventLike) => void;
  onFetch(fetchEvent(`${ORIGIN}/styles.css`));
  assert.equal(responses.length, 0, "the network answers other requests");
  onFetch(fetchEvent(URL_OF(page.id)));
  assert.equal(responses.length, 1);
  await Promise.all(waits);
  page.end();
  assert.equal(await responses[0].text(), "");
  await page.hear("beam-done");
  page.close();
});
