/**
 * Headless browsers for end-to-end tests. Chromium is Debian's
 * `/usr/bin/chromium` driven by `playwright-core`, with the flags
 * CONTRIBUTING.md lists and a fresh persistent profile per browser
 * (incognito would keep OPFS in RAM). `launchBrowser({ kind })` gives either
 * Chromium or Firefox (`./firefox.ts`) behind one {@linkcode CrossBrowser}
 * interface; without `kind` it gives Chromium's playwright objects as it
 * always did.
 *
 * @module
 */

import {
  type BrowserContext,
  chromium,
  type ConsoleMessage,
  type Download,
  type Page,
} from "playwright-core";
import { launchFirefox } from "./firefox.ts";
import {
  type BrowserKind,
  type CrossBrowser,
  makeTestPage,
  recordDialogs,
  type TestPage,
  waitForFile,
} from "./test_page.ts";

/** Where Debian installs Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** The flags every test browser runs with. Never `--disable-features`. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // WebRTC between two pages on one machine needs loopback candidates.
  "--allow-loopback-in-peer-connection",
];

/** A running test browser with its own profile. */
export interface TestBrowser {
  /** The persistent browser context. */
  context: BrowserContext;
  /** The profile folder, removed on close. */
  dir: string;
  /** Opens a new tab. */
  newPage(): Promise<Page>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Options of {@linkcode launchBrowser}. */
export interface LaunchOptions {
  /**
   * Origin to grant the `microphone` permission, which makes Chromium offer
   * 127.0.0.1 host candidates for WebRTC.
   */
  origin?: string;
  /** Whether downloads are allowed. Default `false`. */
  acceptDownloads?: boolean;
}

/** Options of {@linkcode launchBrowser} for either browser. */
export interface CrossLaunchOptions {
  kind: BrowserKind;
  /** Origin of the app: Chromium grants it `microphone` (host candidates). */
  origin?: string;
  /**
   * What to answer a `beforeunload` dialog (every dialog is recorded in
   * `TestPage.dialogs` either way). Default `"accept"`, so that a page that
   * asks does not hang the test; the test then asserts none was asked.
   */
  beforeunload?: "accept" | "dismiss";
}

/**
 * Launches `kind` headless with a fresh profile and its own downloads
 * folder, behind the common interface.
 */
export function launchBrowser(
  options: CrossLaunchOptions,
): Promise<CrossBrowser>;
/** Launches headless Chromium with a fresh profile (playwright's objects). */
export function launchBrowser(options?: LaunchOptions): Promise<TestBrowser>;
export function launchBrowser(
  options: LaunchOptions | CrossLaunchOptions = {},
): Promise<TestBrowser | CrossBrowser> {
  if (!("kind" in options)) return launchChromium(options);
  return options.kind === "firefox"
    ? launchFirefox(options)
    : launchCrossChromium(options);
}

/** Launches headless Chromium with a fresh profile. */
async function launchChromium(
  options: LaunchOptions = {},
): Promise<TestBrowser> {
  try {
    await Deno.stat(CHROMIUM_PATH);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(
      `Cannot launch the test browser: ${CHROMIUM_PATH} is missing, run "apt-get install chromium"`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "beam-chromium-" });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      acceptDownloads: options.acceptDownloads ?? false,
      args: [...CHROMIUM_ARGS],
    });
    if (options.origin !== undefined) {
      await context.grantPermissions(["microphone"], {
        origin: options.origin,
      });
    }
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    context,
    dir,
    newPage: () => context.newPage(),
    close() {
      closed ??= (async () => {
        try {
          await context.close();
        } finally {
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      })();
      return closed;
    },
  };
}

/**
 * Chromium behind {@linkcode CrossBrowser}: each download is copied (when
 * complete) into the browser's downloads folder under its suggested name,
 * as Firefox saves it.
 */
async function launchCrossChromium(
  options: CrossLaunchOptions,
): Promise<CrossBrowser> {
  const downloads = await Deno.makeTempDir({ prefix: "beam-downloads-" });
  let browser: TestBrowser;
  try {
    browser = await launchChromium({
      origin: options.origin,
      acceptDownloads: true,
    });
  } catch (error) {
    await Deno.remove(downloads, { recursive: true }).catch(() => {});
    throw error;
  }
  const failures: string[] = [];
  const keep = async (download: Download) => {
    const name = download.suggestedFilename();
    // Copied whole under a temporary name, then renamed: waitForFile never
    // sees half a file under the real name.
    const partial = `${downloads}/.partial-${crypto.randomUUID()}`;
    try {
      await download.saveAs(partial);
      await Deno.rename(partial, `${downloads}/${name}`);
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message}`);
    }
  };
  let closed: Promise<void> | undefined;
  return {
    kind: "chromium",
    downloads,
    async newPage() {
      const page = await browser.newPage();
      page.on("download", keep);
      return chromiumPage(page, options.beforeunload ?? "accept");
    },
    async waitForDownload(name, waitOptions) {
      try {
        return await waitForFile(downloads, name, waitOptions);
      } catch (error) {
        if (failures.length === 0) throw error;
        throw new Error(
          `${(error as Error).message}; failed downloads: ${
            failures.join("; ")
          }`,
        );
      }
    },
    close() {
      closed ??= browser.close().finally(() =>
        Deno.remove(downloads, { recursive: true }).catch(() => {})
      );
      return closed;
    },
  };
}

/** A playwright page behind {@linkcode TestPage}. */
function chromiumPage(
  page: Page,
  beforeunload: "accept" | "dismiss",
): TestPage {
  const dialogs = recordDialogs(page, beforeunload);
  return makeTestPage({
    kind: "chromium",
    addInitScript: async (script) => {
      await page.addInitScript(script);
    },
    goto: async (url) => {
      await page.goto(url);
    },
    // deno-lint-ignore no-explicit-any
    evaluate: (fn, arg) => page.evaluate(fn as any, arg),
    waitForFunction: async (fn, arg, timeout) => {
      // deno-lint-ignore no-explicit-any
      await page.waitForFunction(fn as any, arg, { timeout });
    },
    click: (selector) => page.click(selector),
    fill: (selector, value) => page.fill(selector, value),
    setInputFiles: (selector, paths) => page.setInputFiles(selector, paths),
    onError: (listener) => watchErrors(page, listener),
    screenshot: async (path) => {
      await page.screenshot({ path });
    },
    reloaded: async (action) => {
      const loaded = page.waitForEvent("load");
      await action();
      await loaded;
    },
    close: () => page.close({ runBeforeUnload: false }),
  }, dialogs);
}

/** The errors a page reported, in order. */
export interface PageErrors {
  /** Each console error's text and each uncaught error's message. */
  messages: string[];
  /** Stops recording. */
  stop(): void;
}

/**
 * Records a page's console errors and uncaught exceptions (CSP violations
 * are console errors), so a test can assert that none happened.
 */
export function collectPageErrors(page: Page | TestPage): PageErrors {
  const messages: string[] = [];
  const listener = (message: string) => void messages.push(message);
  const stop = "kind" in page
    ? page.onError(listener)
    : watchErrors(page, listener);
  return { messages, stop };
}

/**
 * Calls `listener` with a playwright page's console errors and uncaught
 * exceptions; returns a function that stops it.
 */
function watchErrors(
  page: Page,
  listener: (message: string) => void,
): () => void {
  const onConsole = (message: ConsoleMessage) => {
    if (message.type() !== "error") return;
    const { url } = message.location();
    // The browser asks for /favicon.ico on its own; a 404 there is not the
    // page's error.
    if (new URL(url || "about:blank").pathname === "/favicon.ico") return;
    listener(url ? `${message.text()} (${url})` : message.text());
  };
  const onPageError = (error: Error) => {
    listener(`Uncaught ${error.name}: ${error.message}`);
  };
  page.on("console", onConsole);
  page.on("pageerror", onPageError);
  return () => {
    page.off("console", onConsole);
    page.off("pageerror", onPageError);
  };
}

export type { Page };
export {
  BROWSER_NAMES,
  type BrowserKind,
  BROWSERS,
  type CrossBrowser,
  type TestPage,
} from "./test_page.ts";
