/**
 * Headless Chromium for end-to-end tests: Debian's `/usr/bin/chromium`
 * driven by `playwright-core`, with the flags CONTRIBUTING.md lists and a
 * fresh persistent profile per browser (incognito would keep OPFS in RAM).
 *
 * @module
 */

import {
  type BrowserContext,
  chromium,
  type ConsoleMessage,
  type Page,
} from "playwright-core";

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

/** Launches headless Chromium with a fresh profile. */
export async function launchBrowser(
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
export function collectPageErrors(page: Page): PageErrors {
  const messages: string[] = [];
  const onConsole = (message: ConsoleMessage) => {
    if (message.type() !== "error") return;
    const { url } = message.location();
    // The browser asks for /favicon.ico on its own; a 404 there is not the
    // page's error.
    if (new URL(url || "about:blank").pathname === "/favicon.ico") return;
    messages.push(url ? `${message.text()} (${url})` : message.text());
  };
  const onPageError = (error: Error) => {
    messages.push(`Uncaught ${error.name}: ${error.message}`);
  };
  page.on("console", onConsole);
  page.on("pageerror", onPageError);
  return {
    messages,
    stop() {
      page.off("console", onConsole);
      page.off("pageerror", onPageError);
    },
  };
}

export type { Page };
