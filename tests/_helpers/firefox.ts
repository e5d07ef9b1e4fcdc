/**
 * Headless Firefox for end-to-end tests: Debian's `/usr/bin/firefox-esr`
 * driven by `puppeteer-core` over WebDriver BiDi, with a fresh profile and a
 * downloads folder of its own, behind the same {@linkcode CrossBrowser}
 * interface as Chromium (`./browser.ts`).
 *
 * @module
 */

import puppeteer, {
  type Browser,
  type ConsoleMessage,
  type ElementHandle,
  type Page,
} from "puppeteer-core";
import {
  type CrossBrowser,
  makeTestPage,
  recordDialogs,
  type TestPage,
  waitForFile,
} from "./test_page.ts";

/** Where Debian installs Firefox ESR. */
export const FIREFOX_PATH = "/usr/bin/firefox-esr";

/** How long `browser.close()` may take before the process group is killed. */
const CLOSE_GRACE_MS = 10_000;

/**
 * The preferences every test Firefox runs with: WebRTC between two pages
 * on this machine, and downloads saved into `downloads` without a dialog.
 */
export function firefoxPrefs(downloads: string): Record<string, unknown> {
  return {
    // Firefox gathers no loopback candidates, and hides host addresses
    // behind mDNS names, unless told otherwise.
    "media.peerconnection.ice.loopback": true,
    "media.peerconnection.ice.obfuscate_host_addresses": false,
    "media.peerconnection.ice.force_interface": "lo",
    "browser.download.dir": downloads,
    "browser.download.folderList": 2,
    "browser.download.useDownloadDir": true,
    "browser.download.always_ask_before_handling_new_types": false,
    "browser.download.start_downloads_in_tmp_dir": false,
    "browser.helperApps.neverAsk.saveToDisk": "application/octet-stream",
  };
}

/** Options of {@linkcode launchFirefox}. */
export interface FirefoxOptions {
  /** What to answer a `beforeunload` dialog. Default `"accept"`. */
  beforeunload?: "accept" | "dismiss";
}

/** Launches headless Firefox with a fresh profile and downloads folder. */
export async function launchFirefox(
  options: FirefoxOptions = {},
): Promise<CrossBrowser> {
  try {
    await Deno.stat(FIREFOX_PATH);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new Error(
      `Cannot launch the test browser: ${FIREFOX_PATH} is missing, run "apt-get install firefox-esr"`,
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "beam-firefox-" });
  const downloads = await Deno.makeTempDir({ prefix: "beam-downloads-" });
  const removeDirs = async () => {
    for (const dir of [profile, downloads]) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      browser: "firefox",
      protocol: "webDriverBiDi",
      executablePath: FIREFOX_PATH,
      headless: true,
      userDataDir: profile,
      extraPrefsFirefox: firefoxPrefs(downloads),
      // The test owns the process: no handlers on the test runner's signals.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (error) {
    await removeDirs();
    throw error;
  }
  // puppeteer starts Firefox detached, so its pid is its process group's.
  const pid = browser.process()?.pid;
  let closed: Promise<void> | undefined;
  return {
    kind: "firefox",
    downloads,
    async newPage() {
      return firefoxPage(
        await browser.newPage(),
        options.beforeunload ?? "accept",
      );
    },
    waitForDownload: (name, waitOptions) =>
      waitForFile(downloads, name, waitOptions),
    close() {
      closed ??= (async () => {
        try {
          await stopFirefox(browser, pid);
        } finally {
          await removeDirs();
        }
      })();
      return closed;
    },
  };
}

/**
 * Closes `browser`, then makes sure nothing of it is left: if it did not
 * close in time, or any process of its group (Firefox's helpers, like the
 * RDD and utility processes, outlive a close for a moment) is still there
 * after a grace, kills the group (or the process alone, had it no group).
 */
async function stopFirefox(browser: Browser, pid: number | undefined) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closedInTime = true;
  try {
    await Promise.race([
      browser.close(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("Firefox did not close in time")),
          CLOSE_GRACE_MS,
        );
      }),
    ]);
  } catch {
    closedInTime = false;
  } finally {
    clearTimeout(timer);
  }
  if (pid === undefined) return;
  if (closedInTime) {
    for (let i = 0; i < 20 && (await groupMembers(pid)).length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  // Only while the group has members: then its id cannot have been reused.
  if ((await groupMembers(pid)).length > 0) kill(-pid);
  if (await alive(pid)) kill(pid);
  for (let i = 0; i < 50 && (await groupMembers(pid)).length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function kill(target: number): void {
  try {
    Deno.kill(target, "SIGKILL");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** The state and process group of `pid`, from `/proc`, or `null`. */
async function procStat(
  pid: number | string,
): Promise<{ state: string; pgid: number } | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // After the parenthesized command name: state, ppid, pgrp, ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0], pgid: Number(fields[2]) };
  } catch {
    return null;
  }
}

/** Whether `pid` runs (a zombie waiting to be reaped does not). */
async function alive(pid: number): Promise<boolean> {
  const stat = await procStat(pid);
  return stat !== null && stat.state !== "Z";
}

/** The live processes of group `pgid`. */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await procStat(entry.name);
    if (stat !== null && stat.pgid === pgid && stat.state !== "Z") {
      members.push(Number(entry.name));
    }
  }
  return members;
}

/** A puppeteer page behind {@linkcode TestPage}. */
function firefoxPage(
  page: Page,
  beforeunload: "accept" | "dismiss",
): TestPage {
  const dialogs = recordDialogs(page, beforeunload);
  return makeTestPage({
    kind: "firefox",
    addInitScript: async (script) => {
      await page.evaluateOnNewDocument(script);
    },
    goto: async (url) => {
      await page.goto(url, { waitUntil: "load" });
    },
    evaluate: (fn, arg) =>
      // deno-lint-ignore no-explicit-any
      page.evaluate(fn as any, arg) as Promise<any>,
    waitForFunction: async (fn, arg, timeout) => {
      // Polled on a timer: `raf` polling stalls in a background tab.
      // deno-lint-ignore no-explicit-any
      await page.waitForFunction(fn as any, { timeout, polling: 100 }, arg);
    },
    click: (selector) => page.click(selector),
    fill: (selector, value) => page.locator(selector).fill(value),
    setInputFiles: async (selector, paths) => {
      const input = await page.$(selector) as
        | ElementHandle<HTMLInputElement>
        | null;
      if (input === null) {
        throw new Error(
          `Cannot choose files: the Firefox page has no "${selector}"`,
        );
      }
      await input.uploadFile(...paths);
    },
    onError: (listener) => {
      const onConsole = (message: ConsoleMessage) => {
        if (message.type() !== "error") return;
        const { url } = message.location();
        if (new URL(url || "about:blank").pathname === "/favicon.ico") return;
        listener(url ? `${message.text()} (${url})` : message.text());
      };
      const onPageError = (error: unknown) => {
        const { name, message } = error instanceof Error
          ? error
          : { name: "Error", message: String(error) };
        listener(`Uncaught ${name}: ${message}`);
      };
      page.on("console", onConsole);
      page.on("pageerror", onPageError);
      return () => {
        page.off("console", onConsole);
        page.off("pageerror", onPageError);
      };
    },
    screenshot: async (path) => {
      await page.screenshot({ path: path as `${string}.png` });
    },
    reloaded: async (action) => {
      await Promise.all([
        page.waitForNavigation({ waitUntil: "load" }),
        action(),
      ]);
    },
    close: () => page.close({ runBeforeUnload: false }),
  }, dialogs);
}
