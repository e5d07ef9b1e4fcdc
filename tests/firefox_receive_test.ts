/**
 * End to end: a receiver without the save picker (Firefox, and Chromium with
 * the picker removed) saves through the service worker's streamed download.
 * Starting that download must not navigate the receiving page: no "leave
 * this page?" dialog, the page's signaling socket stays open, its peer id
 * never changes, and the sender shows exactly one row for the receiver.
 */

import assert from "node:assert/strict";
import puppeteer, {
  type Browser as FirefoxBrowser,
  type Page as FirefoxPage,
} from "puppeteer-core";
import type { Page } from "playwright-core";
import {
  hashFile,
  makeFile,
  open,
  type Setup,
  setup,
  share,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

const FIREFOX_PATH = "/usr/bin/firefox-esr";

/**
 * Records, in the page, every id the signaling server assigned and every
 * close of a signaling socket, so a test can tell whether the page lost its
 * socket or its peer id while a transfer ran.
 */
const SIGNAL_PROBE = `(() => {
  const record = { ids: [], closes: [] };
  globalThis.__beamSignal = record;
  const Native = globalThis.WebSocket;
  globalThis.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        try {
          const frame = JSON.parse(event.data);
          if (frame[0] === "assign") record.ids.push(frame[1]);
        } catch {}
      });
      this.addEventListener("close", (event) => {
        record.closes.push({ code: event.code, at: Date.now() });
      });
    }
  };
})();`;

const NO_PICKERS = `
  delete globalThis.showSaveFilePicker;
  delete globalThis.showDirectoryPicker;
`;

interface SignalRecord {
  ids: string[];
  closes: { code: number }[];
}

/** Headless Firefox ESR with the prefs for loopback WebRTC and downloads. */
async function launchFirefox(
  downloads: string,
): Promise<{ browser: FirefoxBrowser; close(): Promise<void> }> {
  const profile = await Deno.makeTempDir({ prefix: "beam-firefox-" });
  const browser = await puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: FIREFOX_PATH,
    headless: true,
    userDataDir: profile,
    extraPrefsFirefox: {
      "media.peerconnection.ice.loopback": true,
      "media.peerconnection.ice.obfuscate_host_addresses": false,
      "media.peerconnection.ice.force_interface": "lo",
      "browser.download.dir": downloads,
      "browser.download.folderList": 2,
      "browser.download.useDownloadDir": true,
      "browser.download.always_ask_before_handling_new_types": false,
      "browser.download.start_downloads_in_tmp_dir": false,
      "browser.helperApps.neverAsk.saveToDisk": "application/octet-stream",
    },
  });
  return {
    browser,
    async close() {
      try {
        await browser.close();
      } finally {
        await Deno.remove(profile, { recursive: true }).catch(() => {});
      }
    },
  };
}

/** Waits until `path` holds `size` bytes (Firefox renames a `.part` file). */
async function waitForFile(path: string, size: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const info = await Deno.stat(path).catch(() => null);
    if (info?.size === size) return;
    if (Date.now() > deadline) {
      const seen = [...Deno.readDirSync(path.replace(/\/[^/]*$/, ""))]
        .map((e) => e.name);
      throw new Error(
        `Timed out waiting for ${path} (${size} bytes); the folder holds: ${
          seen.join(", ") || "nothing"
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The sender's rows, as `[id, state]`. */
function rowsOf(sender: Page): Promise<[string, string][]> {
  return sender.locator(".receiver").evaluateAll((rows) =>
    rows.map((row) =>
      [
        row.getAttribute("data-receiver") ?? "",
        row.getAttribute("data-state") ?? "",
      ] as [string, string]
    )
  );
}

/** Waits for the receiving page to finish; returns its status text. */
async function firefoxDone(page: FirefoxPage): Promise<string> {
  await page.waitForSelector(".phase-done, .phase-failed", {
    timeout: 90_000,
  });
  return await page.$eval(
    ".receive-panel [role=status]",
    (node) => node.textContent ?? "",
  );
}

/** The sender shows one row, done: the receiver's, under its one id. */
async function assertOneDoneRow(
  sender: Page,
  receiverId: string,
): Promise<void> {
  await sender.locator(`.receiver[data-state="done"]`).first().waitFor({
    timeout: 30_000,
  });
  // A stale row would come from a second id, after the first is done; give
  // it a moment to show if it is coming.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.deepEqual(await rowsOf(sender), [[receiverId, "done"]]);
}

async function screenshot(sender: Page, name: string): Promise<void> {
  const dir = new URL("../tmp/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  await sender.screenshot({ path: `${dir}${name}`, fullPage: true });
}

Deno.test(
  "Firefox receives from Chromium through the service worker without leaving the page, under one peer id, as one row on the sender",
  browserTest,
  async () => {
    const s: Setup = await setup();
    const downloads = await Deno.makeTempDir({ prefix: "beam-ff-dl-" });
    const firefox = await launchFirefox(downloads);
    try {
      const file = await makeFile(
        s.dir,
        "for firefox.bin",
        24 * 1024 * 1024,
        5,
      );
      const { page: sender, link } = await share(s, [file]);
      const receiver = await firefox.browser.newPage();
      const dialogs: string[] = [];
      receiver.on("dialog", (dialog) => {
        dialogs.push(dialog.type());
        // "Stay", as a person who did not mean to leave would choose.
        dialog.dismiss().catch(() => {});
      });
      await receiver.evaluateOnNewDocument(SIGNAL_PROBE);
      await receiver.goto(link);
      await receiver.waitForSelector("beam-island[data-hydrated]");
      const button = await receiver.waitForSelector(
        "xpath///button[normalize-space()='Download']",
      );
      await button!.click();
      const text = await firefoxDone(receiver);
      assert.match(text, /Saved/, `receiver says: ${text}`);
      await waitForFile(`${downloads}/${file.name}`, file.size);
      assert.equal(await hashFile(`${downloads}/${file.name}`), file.sha256);
      assert.deepEqual(dialogs, []);
      const signal = await receiver.evaluate(() =>
        (globalThis as unknown as { __beamSignal: SignalRecord }).__beamSignal
      );
      assert.equal(signal.ids.length, 1, `ids: ${signal.ids.join(", ")}`);
      // The only close is the page's own, once done (1000).
      assert.ok(
        signal.closes.every((c) => c.code === 1000),
        JSON.stringify(signal.closes),
      );
      await assertOneDoneRow(sender, signal.ids[0]);
      await screenshot(sender, "firefox_receive_sender.png");
    } finally {
      await firefox.close();
      await s.close();
      await Deno.remove(downloads, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "Chromium without the save picker streams the download without a beforeunload dialog, under one peer id",
  browserTest,
  async () => {
    const s = await setup({}, true);
    try {
      const file = await makeFile(s.dir, "no picker.bin", 16 * 1024 * 1024, 6);
      const { page: sender, link } = await share(s, [file]);
      const receiver = await open(s, link, NO_PICKERS + SIGNAL_PROBE);
      const dialogs: string[] = [];
      receiver.on("dialog", (dialog) => {
        dialogs.push(dialog.type());
        dialog.dismiss().catch(() => {});
      });
      const downloading = receiver.waitForEvent("download", {
        timeout: 30_000,
      });
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      const download = await downloading;
      await receiver.waitForSelector(".phase-done, .phase-failed", {
        timeout: 60_000,
      });
      const text = await receiver.locator(".receive-panel [role=status]")
        .innerText();
      assert.match(text, /Saved/, `receiver says: ${text}`);
      assert.equal(download.suggestedFilename(), file.name);
      assert.equal(await hashFile(await download.path()), file.sha256);
      assert.deepEqual(dialogs, []);
      const signal = await receiver.evaluate(() =>
        (globalThis as unknown as { __beamSignal: SignalRecord }).__beamSignal
      );
      assert.equal(signal.ids.length, 1, `ids: ${signal.ids.join(", ")}`);
      await assertOneDoneRow(sender, signal.ids[0]);
      await screenshot(sender, "chromium_no_picker_sender.png");
    } finally {
      await s.close();
    }
  },
);
