/**
 * The sinks in headless Chromium: a page (tests/fixtures/sinks) loads an
 * esbuild bundle of lib/transfer/sinks/, writes known bytes through each
 * sink, and the test checks what reached the disk: the downloads the service
 * worker (lib/transfer/sinks/service_worker.ts, bundled as the build bundles
 * it) streamed, and the OPFS files behind a stubbed picker.
 *
 * Chromium only, by nature: the picker sinks need `showSaveFilePicker`,
 * which Firefox does not have, and the stall test drives Chromium's service
 * worker lifetime over CDP. Firefox's saving (the service-worker download
 * and the memory fallback) is tested end to end, through the pages, in
 * tests/transfer_test.ts and tests/resume_test.ts.
 */

import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import type { Download, Page } from "playwright-core";
import {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  launchBrowser,
  type TestBrowser,
} from "./_helpers/browser.ts";
import { workerBuildOptions } from "../lib/islands/build.ts";
import { uniqueNames } from "../lib/transfer/sinks/names.ts";
import { DOWNLOAD_ERRORS } from "../lib/transfer/sinks/sw_sink.ts";
import { zipSize } from "../lib/transfer/zip.ts";
import type { FileMeta } from "../lib/transfer/sink.ts";
import { zipDigests } from "./_helpers/sink_io.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const MB = 1 << 20;

/** The sinks, as one module for the page, and the service worker. */
async function bundleSinks(): Promise<{ sinks: string; worker: string }> {
  const modules = [
    "features",
    "file_sink",
    "folder_sink",
    "memory_sink",
    "sw_sink",
    "zip_sink",
  ];
  try {
    const sinks = await esbuild.build({
      stdin: {
        contents: modules.map((name) => `export * from "./${name}.ts";`)
          .join("\n"),
        resolveDir: `${ROOT}/lib/transfer/sinks`,
        loader: "ts",
      },
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "chrome110",
      write: false,
      logLevel: "warning",
    });
    const worker = await esbuild.build({
      ...workerBuildOptions(),
      write: false,
    });
    return {
      sinks: sinks.outputFiles[0].text,
      worker: worker.outputFiles[0].text,
    };
  } finally {
    await esbuild.stop();
  }
}

/** What the fixture server serves: path to body and content type. */
type FixtureFiles = Record<string, [string, string]>;

async function loadFixtureFiles(): Promise<FixtureFiles> {
  const js = "text/javascript; charset=utf-8";
  const bundles = await bundleSinks();
  return {
    "/": [
      await Deno.readTextFile(`${ROOT}/tests/fixtures/sinks/index.html`),
      "text/html; charset=utf-8",
    ],
    "/page.js": [
      await Deno.readTextFile(`${ROOT}/tests/fixtures/sinks/page.js`),
      js,
    ],
    "/sinks.js": [bundles.sinks, js],
    "/sw.js": [bundles.worker, js],
  };
}

/** Built once, on first use, for every test of this file. */
let fixtureFiles: Promise<FixtureFiles> | null = null;

/** Serves the fixture page, the bundle and the service worker. */
async function startFixtureServer(): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const files = await (fixtureFiles ??= loadFixtureFiles());
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const file = files[new URL(req.url).pathname];
      if (file === undefined) {
        return new Response("Not found\n", {
          status: 404,
        });
      }
      return new Response(file[0], {
        headers: { "content-type": file[1], "cache-control": "no-store" },
      });
    },
  );
}

async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    await Deno.readFile(path),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Runs `script` in the page while waiting for the download it starts. */
async function withDownload<T>(
  page: Page,
  script: () => Promise<T>,
): Promise<{ result: T; download: Download; path: string; seconds: number }> {
  const started = performance.now();
  const [download, result] = await Promise.all([
    page.waitForEvent("download", { timeout: 120_000 }),
    script(),
  ]);
  const path = await download.path();
  const failure = await download.failure();
  assert.equal(failure, null, `the download failed: ${failure}`);
  return {
    result,
    download,
    path,
    seconds: (performance.now() - started) / 1000,
  };
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / MB / seconds).toFixed(0)} MB/s`;
}

interface PageBeam {
  serviceWorker(options: {
    name: string;
    size: number;
    chunk: number;
    pauseAt?: number;
    pauseMs?: number;
    keepAliveMs?: number;
  }): Promise<{ kind: string; sha: string; ms: number }>;
  serviceWorkerZip(options: { sizes: number[]; chunk: number }): Promise<{
    kind: string;
    shas: Record<string, string>;
    ms: number;
    metas: FileMeta[];
  }>;
  filePicker(options: { size: number; chunk: number }): Promise<{
    features: Record<string, boolean>;
    kind: string;
    sha: string;
    savedSha: string;
    ms: number;
    namesAfterAbort: string[];
  }>;
  abortedDownload(): Promise<string>;
  cancelledDownload(): Promise<{ error: string | null; written: number }>;
  directory(): Promise<{ kind: string; files: Record<string, string> }>;
  memory(options: { size: number; chunk: number }): Promise<{
    kind: string;
    inMemory: boolean;
    name: string;
    sha: string;
    savedSha: string;
    ms: number;
  }>;
}

declare const beam: PageBeam;

async function openPage(browser: TestBrowser, url: string): Promise<Page> {
  const page = browser.context.pages()[0] ?? await browser.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(url);
  await page.waitForFunction(() => "beam" in globalThis);
  return page;
}

Deno.test({
  name: "Sinks stream files to disk in headless Chromium",
  // Playwright and the browser keep sockets and timers of their own.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const server = await startFixtureServer();
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await launchBrowser({ acceptDownloads: true });
    try {
      const page = await openPage(browser, `${base}/`);

      await t.step(
        "serviceWorkerSink() streams 20 MB as a download with a UTF-8 name",
        async () => {
          const size = 20 * MB;
          const name = "résumé 履歴書 – 20 MB.bin";
          const { result, download, path, seconds } = await withDownload(
            page,
            () =>
              page.evaluate(
                (options) => beam.serviceWorker(options),
                { name, size, chunk: 64 << 10 },
              ),
          );
          assert.equal(result.kind, "service-worker");
          assert.equal(download.suggestedFilename(), name);
          assert.equal((await Deno.stat(path)).size, size);
          assert.equal(await sha256File(path), result.sha);
          console.log(
            `  service worker: ${rate(size, result.ms / 1000)} written, ` +
              `${rate(size, seconds)} end to end`,
          );
        },
      );

      await t.step(
        "serviceWorkerSink() zips several files into one download",
        async () => {
          const sizes = [0, 1234, 10 * MB];
          const { result, download, path, seconds } = await withDownload(
            page,
            () =>
              page.evaluate(
                (options) => beam.serviceWorkerZip(options),
                { sizes, chunk: 64 << 10 },
              ),
          );
          assert.equal(result.kind, "zip");
          assert.equal(download.suggestedFilename(), "beam-files.zip");
          const names = uniqueNames(result.metas.map((m) => m.name));
          const expected = zipSize(
            result.metas.map((m, i) => ({ ...m, name: names[i] })),
          );
          assert.equal((await Deno.stat(path)).size, expected);
          const entries = await zipDigests(path);
          assert.deepEqual(entries, result.shas);
          assert.deepEqual(Object.keys(entries), [
            "empty.txt",
            "résumé 履歴書.txt",
            "data.bin",
          ]);
          const total = sizes.reduce((a, b) => a + b);
          console.log(
            `  zip via service worker: ${
              rate(total, result.ms / 1000)
            } written, ` +
              `${rate(total, seconds)} end to end`,
          );
        },
      );

      await t.step(
        "serviceWorkerSink() fails the download when aborted",
        async () => {
          const [download, kind] = await Promise.all([
            page.waitForEvent("download"),
            page.evaluate(() => beam.abortedDownload()),
          ]);
          assert.equal(kind, "service-worker");
          assert.notEqual(await download.failure(), null);
        },
      );

      await t.step(
        "serviceWorkerSink() stops the writer when the download is cancelled",
        async () => {
          const running = page.evaluate(() => beam.cancelledDownload());
          const download = await page.waitForEvent("download");
          await download.cancel();
          assert.equal(await download.failure(), "canceled");
          await page.evaluate(() =>
            (globalThis as unknown as { afterCancel(): void }).afterCancel()
          );
          const result = await running;
          // The worker tells the page the browser cancelled it: the page
          // says so, and what to do (never "undefined").
          assert.equal(result.error, DOWNLOAD_ERRORS.cancelled);
          assert.ok(result.written < 64);
        },
      );

      await t.step(
        "fileHandleSink() writes through a picked (OPFS) file",
        async () => {
          const size = 20 * MB;
          const result = await page.evaluate(
            (options) => beam.filePicker(options),
            { size, chunk: 64 << 10 },
          );
          assert.equal(result.features.saveFilePicker, true);
          assert.equal(result.features.serviceWorker, true);
          assert.equal(result.kind, "file-picker");
          assert.equal(result.savedSha, result.sha);
          assert.deepEqual(result.namesAfterAbort, ["picked.bin"]);
          console.log(`  file picker (OPFS): ${rate(size, result.ms / 1000)}`);
        },
      );

      await t.step(
        "directorySink() saves beside existing files without overwriting",
        async () => {
          const result = await page.evaluate(() => beam.directory());
          assert.equal(result.kind, "directory");
          assert.deepEqual(result.files, {
            "a.txt": "",
            "a (1).txt": "one",
            "a (2).txt": "two",
            "日本語 ファイル.txt": "three",
          });
        },
      );

      await t.step(
        "memorySink() hands the file to save() as a Blob",
        async () => {
          const size = 5 * MB;
          const result = await page.evaluate(
            (options) => beam.memory(options),
            { size, chunk: 64 << 10 },
          );
          assert.equal(result.kind, "memory");
          assert.equal(result.inMemory, true);
          assert.equal(result.name, "in memory.bin");
          assert.equal(result.savedSha, result.sha);
        },
      );
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

/**
 * A bare Chrome DevTools Protocol client. Playwright attaches DevTools to
 * every service worker, and Chromium never stops a worker under DevTools;
 * this client attaches to the page only, so the worker lives as it would
 * for a person.
 */
class Cdp {
  #socket: WebSocket;
  #next = 1;
  #calls = new Map<number, (message: CdpMessage) => void>();
  #listeners: ((message: CdpMessage) => void)[] = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message: CdpMessage = JSON.parse(event.data);
      if (message.id !== undefined) this.#calls.get(message.id)?.(message);
      else for (const listener of this.#listeners) listener(message);
    };
  }

  static async connect(url: string): Promise<Cdp> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    return new Cdp(socket);
  }

  // deno-lint-ignore no-explicit-any
  send(method: string, params = {}, sessionId?: string): Promise<any> {
    const id = this.#next++;
    this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => {
      this.#calls.set(id, (message) => {
        this.#calls.delete(id);
        if (message.error) {
          reject(new Error(`${method}: ${message.error.message}`));
        } else resolve(message.result);
      });
    });
  }

  on(listener: (message: CdpMessage) => void): void {
    this.#listeners.push(listener);
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) =>
      this.#socket.onclose = () => resolve()
    );
    this.#socket.close();
    return closed;
  }
}

interface CdpMessage {
  id?: number;
  method?: string;
  // deno-lint-ignore no-explicit-any
  params?: any;
  // deno-lint-ignore no-explicit-any
  result?: any;
  error?: { message: string };
}

Deno.test({
  name:
    "serviceWorkerSink() keeps a download alive through a stall past the worker's idle timeout",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Chromium stops a service worker 30 s after its last event, and no
    // switch shortens that, so this test waits 35 s. It runs alongside the
    // other test files; what it adds to a run is those seconds. Two
    // origins, two workers, at once: on 127.0.0.1 a download stalls for
    // 35 s, with the page's keep-alives at their default; on localhost a
    // worker with nothing to do must stop in the same time, which shows
    // the stall was long enough to matter.
    const server = await startFixtureServer();
    const port = server.addr.port;
    const profile = await Deno.makeTempDir({ prefix: "beam-chromium-" });
    const downloads = await Deno.makeTempDir({ prefix: "beam-downloads-" });
    const chromium = new Deno.Command(CHROMIUM_PATH, {
      args: [
        ...CHROMIUM_ARGS,
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let cdp: Cdp | undefined;
    try {
      const lines = chromium.stderr.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      let match: RegExpExecArray | null = null;
      while (match === null) {
        const { value, done } = await lines.read();
        if (done) throw new Error("Cannot drive Chromium: it exited");
        text += value;
        match = /DevTools listening on (ws:\S+)/.exec(text);
      }
      (async () => {
        while (!(await lines.read()).done) { /* drain */ }
      })();
      cdp = await Cdp.connect(match[1]);

      // When each origin's activated worker stopped, in ms since `started`.
      const started = performance.now();
      const stopped: Record<string, number[]> = {};
      const seen = new Set<string>();
      const downloaded = new Promise<{ guid: string; state: string }>((
        resolve,
      ) =>
        cdp!.on((message) => {
          if (
            message.method === "Browser.downloadProgress" &&
            message.params.state !== "inProgress"
          ) {
            resolve(message.params);
          }
          if (message.method === "ServiceWorker.workerVersionUpdated") {
            for (const version of message.params.versions) {
              if (
                version.runningStatus === "stopped" &&
                version.status === "activated"
              ) {
                // A stopped version may be reported more than once.
                const origin = new URL(version.scriptURL).origin;
                const key = `${origin} ${version.versionId}`;
                if (seen.has(key)) continue;
                seen.add(key);
                (stopped[origin] ??= []).push(performance.now() - started);
              }
            }
          }
        })
      );
      await cdp.send("Browser.setDownloadBehavior", {
        behavior: "allowAndName",
        downloadPath: downloads,
        eventsEnabled: true,
      });

      /** Attaches to a page (not to its workers) and opens `url` in it. */
      const open = async (targetId: string, url: string) => {
        const { sessionId } = await cdp!.send("Target.attachToTarget", {
          targetId,
          flatten: true,
        });
        // Reports the workers' running status; it does not attach to them.
        await cdp!.send("ServiceWorker.enable", {}, sessionId);
        const evaluate = async (expression: string) => {
          const reply = await cdp!.send("Runtime.evaluate", {
            expression,
            awaitPromise: true,
            returnByValue: true,
          }, sessionId);
          if (reply.exceptionDetails) {
            throw new Error(reply.exceptionDetails.exception?.description);
          }
          return reply.result.value;
        };
        await cdp!.send("Page.navigate", { url }, sessionId);
        // At most 10 s, as before the page was opened twice.
        for (let i = 0; !await evaluate(`"beam" in globalThis`); i++) {
          if (i === 200) throw new Error(`${url} did not load in 10 s`);
          await new Promise((r) => setTimeout(r, 50));
        }
        return evaluate;
      };
      const { targetInfos } = await cdp.send("Target.getTargets");
      const first = targetInfos.find((t: { type: string }) =>
        t.type === "page"
      );
      const busy = await open(first.targetId, `http://127.0.0.1:${port}/`);
      const { targetId } = await cdp.send("Target.createTarget", {
        url: "about:blank",
      });
      const idle = await open(targetId, `http://localhost:${port}/`);
      // (navigator.serviceWorker.ready waits for a worker whose scope holds
      // this page, which this one's does not: wait for it to activate.)
      await idle(`navigator.serviceWorker.register("/sw.js", {
        scope: "/_beam_download/" }).then(async (registration) => {
          while (registration.active?.state !== "activated") {
            await new Promise((r) => setTimeout(r, 20));
          }
          return true;
        })`);
      const idleSince = performance.now() - started;

      // 2 MB, then 35 s with no byte, then 2 MB more: the worker must live.
      const result = await busy(`beam.serviceWorker({
        name: "paused.bin", size: ${4 * MB}, chunk: 65536,
        pauseAt: ${2 * MB}, pauseMs: 35000 })`);
      const download = await downloaded;
      assert.equal(download.state, "completed");
      assert.equal(
        await sha256File(`${downloads}/${download.guid}`),
        result.sha,
      );
      assert.deepEqual(
        stopped[`http://127.0.0.1:${port}`] ?? [],
        [],
        "the worker stopped during the download",
      );
      // And the check means something: the idle worker stopped meanwhile.
      const idleStops = stopped[`http://localhost:${port}`] ?? [];
      assert.ok(idleStops.length > 0, "the idle worker never stopped");
      console.log(
        `  idle worker stopped after ${
          ((idleStops[0] - idleSince) / 1000).toFixed(0)
        } s`,
      );
    } finally {
      await cdp?.close().catch(() => {});
      chromium.kill();
      await chromium.status;
      await server.shutdown();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      await Deno.remove(downloads, { recursive: true }).catch(() => {});
    }
  },
});
