/**
 * Helpers for end-to-end transfer tests: source files on disk with known
 * hashes, a save-picker stub backed by OPFS (headless Chromium cannot answer
 * a native save dialog), and reading what a page saved.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { startServer, type TestServer } from "./server.ts";
import {
  type BrowserKind,
  type CrossBrowser,
  launchBrowser,
  type TestBrowser,
  type TestPage,
} from "./browser.ts";
import { Sha256, toHex } from "../../lib/transfer/hash.ts";

/** A file made for a test. */
export interface SourceOnDisk {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/**
 * Writes `size` pseudo-random bytes to `dir/name` without holding them all
 * in memory, and returns the file's SHA-256.
 */
export async function makeFile(
  dir: string,
  name: string,
  size: number,
  seed = 1,
): Promise<SourceOnDisk> {
  const path = `${dir}/${name}`;
  const file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const hash = await Sha256.create();
  const chunk = new Uint8Array(1024 * 1024);
  let x = seed;
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(chunk.length, size - done);
      for (let i = 0; i < n; i += 4) {
        x = (x * 1664525 + 1013904223) >>> 0;
        chunk[i] = x;
        chunk[i + 1] = x >>> 8;
        chunk[i + 2] = x >>> 16;
        chunk[i + 3] = x >>> 24;
      }
      const part = chunk.subarray(0, n);
      hash.update(part);
      let written = 0;
      while (written < n) written += await file.write(part.subarray(written));
      done += n;
    }
  } finally {
    file.close();
  }
  return { path, name, size, sha256: hash.hex() };
}

/** SHA-256 of a file on disk, streamed. */
export async function hashFile(path: string): Promise<string> {
  const hash = await Sha256.create();
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.hex();
}

/**
 * Replaces `showSaveFilePicker` and `showDirectoryPicker` in every page of
 * the context with OPFS-backed stand-ins: the saved files land in OPFS under
 * the suggested name, where {@linkcode opfsSha256} can read them.
 */
export const PICKER_STUB = `
  globalThis.showSaveFilePicker = async (options = {}) => {
    const root = await navigator.storage.getDirectory();
    return root.getFileHandle(options.suggestedName || "download", { create: true });
  };
  globalThis.showDirectoryPicker = async () => {
    const root = await navigator.storage.getDirectory();
    return root.getDirectoryHandle("picked-folder", { create: true });
  };
`;

/** SHA-256 (hex) and size of an OPFS file, computed in the page in slices. */
export async function opfsSha256(
  page: Page | TestPage,
  path: string,
): Promise<{ size: number; sha256: string } | null> {
  // Both pages evaluate a function with one argument alike.
  const result = await (page as TestPage).evaluate(async (path: string) => {
    let dir = await navigator.storage.getDirectory();
    const parts = path.split("/");
    try {
      for (const part of parts.slice(0, -1)) {
        dir = await dir.getDirectoryHandle(part);
      }
      const file = await (await dir.getFileHandle(parts.at(-1)!)).getFile();
      // Whole-buffer digest is fine for test-sized files.
      const digest = await crypto.subtle.digest(
        "SHA-256",
        await file.arrayBuffer(),
      );
      return { size: file.size, digest: [...new Uint8Array(digest)] };
    } catch {
      return null;
    }
  }, path);
  if (result === null) return null;
  return { size: result.size, sha256: toHex(new Uint8Array(result.digest)) };
}

/**
 * A Screen Wake Lock API that grants every request and logs, with what the
 * page showed at that moment, each lock taken and let go: headless Chromium
 * has no screen to keep awake, so the page's own API would say nothing.
 */
export const WAKE_LOCK_LOG = `
  globalThis.__wake = [];
  const shown = () =>
    document.querySelector("[role=status]")?.className ||
    [...document.querySelectorAll(".receiver")]
      .map((row) => "receiver " + row.dataset.state).join(" ");
  Object.defineProperty(navigator, "wakeLock", {
    configurable: true,
    value: {
      request(type) {
        const lock = new EventTarget();
        let released = false;
        lock.release = () => {
          if (!released) {
            released = true;
            globalThis.__wake.push("release " + shown());
            lock.dispatchEvent(new Event("release"));
          }
          return Promise.resolve();
        };
        globalThis.__wake.push("request " + type + " " + shown());
        return Promise.resolve(lock);
      },
    },
  });
`;

/** A real server, a browser with its own profile, and a folder for files. */
export interface Setup {
  server: TestServer;
  browser: TestBrowser;
  dir: string;
  close(): Promise<void>;
}

/** Starts a server (with `env`) and a browser allowed to use WebRTC there. */
export async function setup(
  env: Record<string, string> = {},
  acceptDownloads = false,
): Promise<Setup> {
  const server = await startServer(env);
  const browser = await launchBrowser({ origin: server.url, acceptDownloads });
  const dir = await Deno.makeTempDir({ prefix: "beam-e2e-" });
  return {
    server,
    browser,
    dir,
    async close() {
      await browser.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** What a share link looks like: `/r/<senderId>#<secret>.<keyId>`. */
export const SHARE_LINK =
  /^http:\/\/127\.0\.0\.1:\d+\/r\/[A-Za-z0-9_-]{16}#[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/;

/**
 * Opens the send page (after `init`), chooses `files`, returns the page and
 * the share link.
 */
export async function share(
  s: Setup,
  files: SourceOnDisk[],
  init = "",
): Promise<{ page: Page; link: string }> {
  const page = await s.browser.newPage();
  if (init !== "") await page.addInitScript(init);
  return { page, link: await shareOn(page, s.server.url, files) };
}

/**
 * Opens the send page at `url` in `page`, chooses `files`, and returns the
 * share link: for a page and server the test made itself.
 */
export async function shareOn(
  page: Page,
  url: string,
  files: SourceOnDisk[],
): Promise<string> {
  await page.goto(url);
  await page.waitForSelector("beam-island[data-hydrated]");
  await page.setInputFiles("#file-input", files.map((f) => f.path));
  const input = page.locator("#share-link");
  await input.waitFor();
  const link = await input.inputValue();
  assert.match(link, SHARE_LINK);
  return link;
}

/** Opens a link in a new page, after `init` (the save pickers stubbed). */
export async function open(
  s: Setup,
  link: string,
  init = PICKER_STUB,
): Promise<Page> {
  const page = await s.browser.newPage();
  await page.addInitScript(init);
  await page.goto(link);
  await page.waitForSelector("beam-island[data-hydrated]");
  return page;
}

/**
 * A real server, a folder for files, and browsers of either kind (each
 * launched on first use, one per kind, each with its own profile and
 * downloads folder).
 */
export interface CrossSetup {
  server: TestServer;
  dir: string;
  /** The browser of `kind`, launched the first time it is asked for. */
  browser(kind: BrowserKind): Promise<CrossBrowser>;
  close(): Promise<void>;
}

/** Starts a server (with `env`); browsers start when first asked for. */
export async function crossSetup(
  env: Record<string, string> = {},
): Promise<CrossSetup> {
  const server = await startServer(env);
  const dir = await Deno.makeTempDir({ prefix: "beam-e2e-" });
  const browsers = new Map<BrowserKind, Promise<CrossBrowser>>();
  return {
    server,
    dir,
    browser(kind) {
      let browser = browsers.get(kind);
      if (browser === undefined) {
        browser = launchBrowser({ kind, origin: server.url });
        browsers.set(kind, browser);
      }
      return browser;
    },
    async close() {
      // Every browser is stopped even if one fails to.
      const stopped = await Promise.allSettled(
        [...browsers.values()].map(async (b) => (await b).close()),
      );
      await server.close();
      await Deno.remove(dir, { recursive: true });
      for (const result of stopped) {
        if (result.status === "rejected") throw result.reason;
      }
    },
  };
}

/**
 * Opens the send page in `kind` (after `init`), chooses `files`, returns
 * the page and the share link.
 */
export async function shareIn(
  s: CrossSetup,
  kind: BrowserKind,
  files: SourceOnDisk[],
  init = "",
): Promise<{ page: TestPage; link: string }> {
  const page = await (await s.browser(kind)).newPage();
  if (init !== "") await page.addInitScript(init);
  await page.goto(s.server.url);
  await page.waitFor("beam-island[data-hydrated]");
  await page.setInputFiles("#file-input", files.map((f) => f.path));
  const link = await page.value("#share-link");
  assert.match(link, SHARE_LINK);
  return { page, link };
}

/**
 * Removes the save pickers, as in a browser without them (Firefox has
 * none): a page saves through the service worker's streamed download.
 */
export const NO_PICKERS = `
  delete globalThis.showSaveFilePicker;
  delete globalThis.showDirectoryPicker;
`;

/**
 * Removes the service worker too: the page has only the last resort left,
 * gathering each file in memory and saving it as a blob.
 */
export const MEMORY_ONLY = NO_PICKERS + `
  delete Navigator.prototype.serviceWorker;
`;

/** Opens a link in a new page of `kind`, after `init` (default: no pickers). */
export async function openIn(
  s: CrossSetup,
  kind: BrowserKind,
  link: string,
  init = NO_PICKERS,
): Promise<TestPage> {
  const page = await (await s.browser(kind)).newPage();
  if (init !== "") await page.addInitScript(init);
  await page.goto(link);
  await page.waitFor("beam-island[data-hydrated]");
  return page;
}

/**
 * A save picker whose file takes the first `passBytes` and then holds every
 * write until the test calls {@linkcode release}: a transfer caught mid-way
 * for as long as the test needs, without timing anything.
 */
export function gatedPicker(passBytes: number): string {
  return `
    globalThis.__gate = { open: false, bytes: 0, release: () => {} };
    globalThis.showSaveFilePicker = async (options = {}) => {
      const root = await navigator.storage.getDirectory();
      const real = await root.getFileHandle(
        options.suggestedName || "download",
        { create: true },
      );
      return {
        kind: "file",
        name: real.name,
        async createWritable() {
          const inner = await real.createWritable();
          return new WritableStream({
            async write(chunk) {
              const gate = globalThis.__gate;
              gate.bytes += chunk.byteLength;
              if (!gate.open && gate.bytes > ${passBytes}) {
                await new Promise((go) => gate.release = go);
              }
              await inner.write(chunk);
            },
            close: () => inner.close(),
            abort: (reason) => inner.abort(reason),
          });
        },
        remove: () => real.remove(),
      };
    };
  `;
}

/** Lets a {@linkcode gatedPicker}'s writes through from now on. */
export async function release(page: Page): Promise<void> {
  await page.evaluate(() => {
    const gate = (globalThis as unknown as {
      __gate: { open: boolean; release: () => void };
    }).__gate;
    gate.open = true;
    gate.release();
  });
}

/** Waits until the receiver is mid-way: past 0 %, held by its gate. */
export async function waitMidway(receiver: Page): Promise<void> {
  await receiver.waitForFunction(() =>
    Number(
      document.querySelector(".receive-panel .percent")?.getAttribute(
        "data-percent",
      ),
    ) > 0
  );
}

/** Records every text the page's live region says, in `__said`. */
export const RECORD_SAID = `
  globalThis.__said = [];
  new MutationObserver(() => {
    const region = document.querySelector("[data-announcer]");
    const text = region?.textContent.trim();
    if (text && globalThis.__said.at(-1) !== text) globalThis.__said.push(text);
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;

/** What the page's live region said, in order ({@linkcode RECORD_SAID}). */
export function saidOn(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    (globalThis as unknown as { __said: string[] }).__said
  );
}
