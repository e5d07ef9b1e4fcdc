/**
 * End to end: two (or more) headless pages, a real Beam server, the UI as a
 * person uses it: choose a file, read the link, open it, press Download,
 * wait for the saved file, compare SHA-256 with the source. The tests that
 * save through a picker stubbed with OPFS, or reroute the page's WebSocket,
 * run in Chromium (playwright's objects); the rest run across Chromium and
 * Firefox through tests/_helpers/test_page.ts.
 */

import assert from "node:assert/strict";
import type { Download, Page } from "playwright-core";
import {
  BROWSER_NAMES,
  type BrowserKind,
  BROWSERS,
  collectPageErrors,
  type TestPage,
} from "./_helpers/browser.ts";
import { zipDigests } from "./_helpers/sink_io.ts";
import {
  crossSetup,
  hashFile,
  makeFile,
  MEMORY_ONLY,
  NO_PICKERS,
  open,
  openIn,
  opfsSha256,
  PICKER_STUB,
  setup,
  share,
  shareIn,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

async function waitDone(page: Page, timeout = 60_000): Promise<void> {
  await page.waitForSelector(".phase-done, .phase-failed", { timeout });
  const text = await page.locator(".receive-panel [role=status]").innerText();
  assert.match(text, /Saved/, `receiver says: ${text}`);
}

Deno.test(
  "a 50 MB file crosses through the UI and arrives byte-identical",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "fifty.bin", 50 * 1024 * 1024);
      const { page: sender, link } = await share(s, [file]);
      const senderErrors = collectPageErrors(sender);
      const receiver = await open(s, link);
      const receiverErrors = collectPageErrors(receiver);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitDone(receiver);
      assert.deepEqual(await opfsSha256(receiver, "fifty.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      // The sender saw this receiver reach 100 %.
      const row = sender.locator(".receiver");
      await row.locator(".percent[data-percent='100']").waitFor();
      assert.equal(await row.getAttribute("data-state"), "done");
      assert.deepEqual(senderErrors.messages, []);
      assert.deepEqual(receiverErrors.messages, []);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "three receivers download one share at once",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "shared.bin", 8 * 1024 * 1024, 3);
      const { page: sender, link } = await share(s, [file]);
      // Each receiver gets its own profile-free page; OPFS is per origin, so
      // give each a distinct file name through its own stub.
      const receivers = await Promise.all([0, 1, 2].map((i) =>
        open(
          s,
          link,
          PICKER_STUB.replaceAll(
            'options.suggestedName || "download"',
            `"r${i}-" + options.suggestedName`,
          ),
        )
      ));
      await Promise.all(
        receivers.map((page) =>
          page.getByRole("button", { name: "Download", exact: true }).click()
        ),
      );
      await Promise.all(receivers.map((page) => waitDone(page)));
      for (const [i, page] of receivers.entries()) {
        assert.deepEqual(await opfsSha256(page, `r${i}-shared.bin`), {
          size: file.size,
          sha256: file.sha256,
        });
      }
      await sender.locator(".receiver[data-state='done']").nth(2).waitFor();
      assert.equal(
        await sender.locator(".percent[data-percent='100']").count(),
        3,
      );
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "several files, an empty one and a non-Latin name, arrive into a folder",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const files = [
        await makeFile(s.dir, "first file.bin", 3 * 1024 * 1024, 5),
        await makeFile(s.dir, "empty.txt", 0),
        await makeFile(s.dir, "résumé 履歴書 файл.txt", 123_457, 6),
      ];
      const { link } = await share(s, files);
      const receiver = await open(s, link);
      await receiver.getByRole("button", { name: /folder/i }).click();
      await waitDone(receiver);
      for (const file of files) {
        assert.deepEqual(
          await opfsSha256(receiver, `picked-folder/${file.name}`),
          {
            size: file.size,
            sha256: file.sha256,
          },
          file.name,
        );
      }
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "a link to a sender that is gone says it is no longer active",
  browserTest,
  async () => {
    // The receiver first waits a while for a sender that may be on its way
    // back (SENDER_AWAY_MS); a short wait here.
    const s = await setup({ SENDER_AWAY_MS: "1000" });
    try {
      const page = await open(
        s,
        `${s.server.url}/r/AAAAAAAAAAAAAAAA#${"A".repeat(22)}.${
          "A".repeat(22)
        }`,
      );
      await page.waitForSelector(".phase-failed");
      assert.match(
        await page.locator("[role=status]").innerText(),
        /no longer active/,
      );
      const bad = await open(s, `${s.server.url}/r/not-an-id#x`);
      await bad.waitForSelector(".phase-failed");
      assert.match(await bad.locator("[role=status]").innerText(), /malformed/);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "the receiver shows an error when the sender stops mid-transfer",
  browserTest,
  async () => {
    // The sender stops sending, tells each receiver why and only then cuts
    // the connection: the receiver says so at once, not after the minute
    // (SENDER_AWAY_MS, default here) it gives a sender that may be
    // reconnecting.
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "big.bin", 200 * 1024 * 1024, 9);
      const { page: sender, link } = await share(s, [file]);
      const receiver = await open(s, link);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await sender.locator(".receiver[data-state='sending']").waitFor();
      await receiver.waitForFunction(() => {
        const p = document.querySelector(".percent");
        return p !== null && Number(p.getAttribute("data-percent")) >= 1;
      });
      await sender.getByRole("button", { name: "Stop sharing" }).click();
      await receiver.waitForSelector(".phase-failed", { timeout: 15_000 });
      assert.match(
        await receiver.locator("[role=status]").innerText(),
        /The sender stopped: sharing ended on their page\. Ask them to share the files again\./,
      );
      // Trying the same link again cannot help.
      assert.equal(
        await receiver.getByRole("button", { name: "Try again" }).count(),
        0,
      );
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "a failed connection goes through retry and still completes",
  browserTest,
  async () => {
    const s = await setup({ CONNECT_TIMEOUT_MS: "2000" });
    try {
      const file = await makeFile(s.dir, "retry.bin", 2 * 1024 * 1024, 11);
      const { page: sender, link } = await share(s, [file]);
      const receiver = await s.browser.newPage();
      await receiver.addInitScript(PICKER_STUB);
      // Drop every ICE candidate until the sender says `retry`: the first
      // connection cannot find a path, the second can.
      let retried = false;
      // The pages' signaling URL carries a query (`?reclaim=`).
      await receiver.routeWebSocket(/\/api\/signal(\?|$)/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((message) => {
          if (!retried && String(message).startsWith('["candidate"')) return;
          server.send(message);
        });
        server.onMessage((message) => {
          const text = String(message);
          if (text.startsWith('["retry"')) retried = true;
          if (!retried && text.startsWith('["candidate"')) return;
          ws.send(message);
        });
      });
      await receiver.goto(link);
      await receiver.waitForSelector("beam-island[data-hydrated]");
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitDone(receiver);
      assert.equal(retried, true);
      assert.deepEqual(await opfsSha256(receiver, "retry.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      assert.equal(
        await sender.locator(".receiver").getAttribute("data-state"),
        "done",
      );
    } finally {
      await s.close();
    }
  },
);

/** Presses Download where the browser has no picker; returns the download. */
async function downloadWithoutPicker(receiver: Page): Promise<Download> {
  const downloading = receiver.waitForEvent("download", { timeout: 30_000 });
  await receiver.getByRole("button", { name: "Download", exact: true }).click();
  const download = await downloading;
  await waitDone(receiver);
  return download;
}

Deno.test(
  "without a save picker the file streams through the service worker as a download",
  browserTest,
  async () => {
    const s = await setup({}, true);
    try {
      const files = [
        await makeFile(s.dir, "streamed 文件.bin", 20 * 1024 * 1024, 13),
      ];
      const { link } = await share(s, files);
      const download = await downloadWithoutPicker(
        await open(s, link, NO_PICKERS),
      );
      assert.equal(download.suggestedFilename(), "streamed 文件.bin");
      const path = await download.path();
      assert.equal(await hashFile(path), files[0].sha256);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "several files without a picker arrive as one streamed zip",
  browserTest,
  async () => {
    const s = await setup({}, true);
    try {
      const files = [
        await makeFile(s.dir, "a.bin", 1024 * 1024, 21),
        await makeFile(s.dir, "empty", 0),
        await makeFile(s.dir, "ß ü 名前.txt", 4321, 22),
      ];
      const { link } = await share(s, files);
      const download = await downloadWithoutPicker(
        await open(s, link, NO_PICKERS),
      );
      assert.equal(download.suggestedFilename(), "beam-files.zip");
      const zipPath = `${s.dir}/got.zip`;
      await download.saveAs(zipPath);
      const got = await zipDigests(zipPath);
      assert.deepEqual(
        got,
        Object.fromEntries(files.map((f) => [f.name, f.sha256])),
      );
    } finally {
      await s.close();
    }
  },
);

// Across browsers: Chromium and Firefox each send to the other and to
// themselves (Chromium to Chromium is above). The receiver has no save
// picker, as Firefox has none: the file streams through the service worker
// into the browser's downloads folder.
const PAIRS: readonly (readonly [BrowserKind, BrowserKind])[] = [
  ["chromium", "firefox"],
  ["firefox", "chromium"],
  ["firefox", "firefox"],
];

/** Waits until the receive page is done, and says it saved. */
async function saved(
  page: TestPage,
  timeout = 60_000,
  sender?: TestPage,
): Promise<void> {
  try {
    await page.waitFor(".phase-done, .phase-failed", { timeout });
  } catch (error) {
    // Say where the pages stood: the receiver's status and how far it
    // got, the sender's rows.
    const shown = (at: TestPage) =>
      at.evaluate(() =>
        [...document.querySelectorAll("[role=status], .percent, .receiver")]
          .map((el) =>
            `${el.className} ${el.getAttribute("data-percent") ?? ""} ${
              (el as HTMLElement).innerText.replaceAll("\n", " ")
            }`
          ).join(" | ")
      ).catch(() => "(the page does not answer)");
    throw new Error(
      `${(error as Error).message}; the page shows: ${await shown(page)}${
        sender ? `; the sender shows: ${await shown(sender)}` : ""
      }`,
    );
  }
  const text = await page.text(".receive-panel [role=status]");
  assert.match(text, /Saved/, `the ${page.kind} receiver says: ${text}`);
}

/**
 * What both pages must show after one receiver got the share: the sender
 * has one row for it (a second would be a stale one, left by a receiver
 * that lost its signaling), at 100 %; no dialog ("leave this page?") and
 * no error on either page.
 */
async function cleanEnd(
  sender: TestPage,
  receiver: TestPage,
  errors: { messages: string[] }[],
): Promise<void> {
  await sender.waitFor(".receiver .percent[data-percent='100']");
  assert.equal(await sender.attribute(".receiver", "data-state"), "done");
  assert.equal(await sender.count(".receiver"), 1, "rows on the send page");
  assert.deepEqual(receiver.dialogs, [], "dialogs on the receive page");
  assert.deepEqual(sender.dialogs, [], "dialogs on the send page");
  for (const { messages } of errors) assert.deepEqual(messages, []);
}

for (const [from, to] of PAIRS) {
  Deno.test(
    `a file sent from ${BROWSER_NAMES[from]} arrives byte-identical in ${
      BROWSER_NAMES[to]
    }, streamed through the service worker`,
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, "streamed 文件.bin", 20 << 20, 41);
        const { page: sender, link } = await shareIn(s, from, [file]);
        const senderErrors = collectPageErrors(sender);
        const receiver = await openIn(s, to, link);
        const receiverErrors = collectPageErrors(receiver);
        await receiver.clickButton("Download");
        await saved(receiver, 60_000, sender);
        const screenshot = Deno.env.get("BEAM_SCREENSHOT");
        if (screenshot && to === "firefox") {
          await receiver.screenshot(screenshot);
        }
        const path = await (await s.browser(to)).waitForDownload(file.name, {
          size: file.size,
        });
        assert.equal(await hashFile(path), file.sha256);
        await cleanEnd(sender, receiver, [senderErrors, receiverErrors]);
      } finally {
        await s.close();
      }
    },
  );

  Deno.test(
    `several files sent from ${BROWSER_NAMES[from]} arrive in ${
      BROWSER_NAMES[to]
    } as one streamed zip`,
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const files = [
          await makeFile(s.dir, "a.bin", 3 << 20, 42),
          await makeFile(s.dir, "empty", 0),
          await makeFile(s.dir, "ß ü 名前.txt", 4321, 43),
        ];
        const { page: sender, link } = await shareIn(s, from, files);
        const senderErrors = collectPageErrors(sender);
        const receiver = await openIn(s, to, link);
        const receiverErrors = collectPageErrors(receiver);
        await receiver.clickButton("Download");
        await saved(receiver, 60_000, sender);
        const path = await (await s.browser(to)).waitForDownload(
          "beam-files.zip",
        );
        assert.deepEqual(
          await zipDigests(path),
          Object.fromEntries(files.map((f) => [f.name, f.sha256])),
        );
        await cleanEnd(sender, receiver, [senderErrors, receiverErrors]);
      } finally {
        await s.close();
      }
    },
  );
}

/**
 * Holds the sending page's check of the receiver's certificate (the digest
 * in `verifyRemote()`, lib/transfer/rtc.ts) until the receiver's first
 * message (its `start`) has reached the page's data channel: the order in
 * which, under load, the page used to drop that message and both pages sat
 * at 0 % for good. `__slowChecks` counts the checks held.
 */
const CHECK_AFTER_START = `
  globalThis.__heard = 0;
  globalThis.__slowChecks = 0;
  const Native = RTCPeerConnection;
  globalThis.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("datachannel", ({ channel }) => {
        channel.addEventListener("message", () => globalThis.__heard++);
      });
    }
  };
  const digest = SubtleCrypto.prototype.digest;
  SubtleCrypto.prototype.digest = function (algorithm, data) {
    const result = digest.call(this, algorithm, data);
    // A certificate is small; a file's blocks are not held.
    if (data.byteLength > 4096) return result;
    globalThis.__slowChecks++;
    const until = Date.now() + 20000;
    return new Promise((resolve) => {
      const wait = () =>
        globalThis.__heard > 0 || Date.now() > until
          ? resolve(result)
          : setTimeout(wait, 20);
      wait();
    });
  };
`;

Deno.test(
  "a Firefox sender that checks the receiver's certificate only after the receiver spoke still hears it, and the file arrives in Chromium",
  browserTest,
  async () => {
    const s = await crossSetup();
    try {
      const file = await makeFile(s.dir, "late check.bin", 3 << 20, 45);
      const { page: sender, link } = await shareIn(
        s,
        "firefox",
        [file],
        CHECK_AFTER_START,
      );
      const senderErrors = collectPageErrors(sender);
      const receiver = await openIn(s, "chromium", link);
      const receiverErrors = collectPageErrors(receiver);
      await receiver.clickButton("Download");
      await saved(receiver, 60_000, sender);
      // The check was held, and the start had arrived before it ended.
      const [held, heard] = await sender.evaluate(() => {
        const page = globalThis as unknown as {
          __slowChecks: number;
          __heard: number;
        };
        return [page.__slowChecks, page.__heard];
      });
      assert.ok(held > 0, "the sender checked no certificate");
      assert.ok(heard > 0, "the sender's channel heard nothing");
      const path = await (await s.browser("chromium")).waitForDownload(
        file.name,
        { size: file.size },
      );
      assert.equal(await hashFile(path), file.sha256);
      await cleanEnd(sender, receiver, [senderErrors, receiverErrors]);
    } finally {
      await s.close();
    }
  },
);

for (const kind of BROWSERS) {
  Deno.test(
    `with neither a save picker nor a service worker, ${
      BROWSER_NAMES[kind]
    } gathers a file in memory and saves it byte-identical`,
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, "in memory.bin", 5 << 20, 44);
        const { page: sender, link } = await shareIn(s, kind, [file]);
        const senderErrors = collectPageErrors(sender);
        const receiver = await openIn(s, kind, link, MEMORY_ONLY);
        const receiverErrors = collectPageErrors(receiver);
        // The page knows it has only memory left (no service worker).
        assert.equal(
          await receiver.evaluate(() => "serviceWorker" in navigator),
          false,
        );
        await receiver.clickButton("Download");
        await saved(receiver, 60_000, sender);
        const path = await (await s.browser(kind)).waitForDownload(file.name, {
          size: file.size,
        });
        assert.equal(await hashFile(path), file.sha256);
        await cleanEnd(sender, receiver, [senderErrors, receiverErrors]);
      } finally {
        await s.close();
      }
    },
  );
}
