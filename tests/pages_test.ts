/**
 * What the pages do with the link's key beyond the transfer (issue #12,
 * item 9): the receive page takes it out of the address bar and the
 * history entry once it has read it, and still downloads with it; the
 * send page never puts it into its own address, and copies the link from
 * memory. Each runs in Chromium and in Firefox.
 */

import assert from "node:assert/strict";
import {
  BROWSER_NAMES,
  type BrowserKind,
  BROWSERS,
  collectPageErrors,
  type TestPage,
} from "./_helpers/browser.ts";
import {
  crossSetup,
  hashFile,
  makeFile,
  NO_PICKERS,
  openIn,
  opfsSha256,
  PICKER_STUB,
  shareIn,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/**
 * Runs before any script of each page load: records the address and history
 * length the page started with, and the text "Copy link" writes.
 */
const RECORDER = `
  globalThis.__start = {
    href: location.href,
    hash: location.hash,
    historyLength: history.length,
  };
  globalThis.__copied = [];
  Object.defineProperty(navigator, "clipboard", {
    value: { writeText: (text) => { globalThis.__copied.push(text); return Promise.resolve(); } },
  });
`;

interface Started {
  href: string;
  hash: string;
  historyLength: number;
}

/** Where `page` stands now, against where it started. */
function addresses(page: TestPage) {
  return page.evaluate(() => ({
    start: (globalThis as unknown as { __start: Started }).__start,
    href: location.href,
    hash: location.hash,
    historyLength: history.length,
  }));
}

/** The test's name in `kind`: Chromium's as it always was. */
function named(name: string, kind: BrowserKind): string {
  return kind === "chromium" ? name : `${name}, in ${BROWSER_NAMES[kind]}`;
}

for (const kind of BROWSERS) {
  Deno.test(
    named(
      "the receive page takes the key out of the address bar and history, and downloads with it",
      kind,
    ),
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, "kept.bin", 1024 * 1024);
        const { page: sender, link } = await shareIn(
          s,
          kind,
          [file],
          RECORDER,
        );
        const fragment = link.slice(link.indexOf("#"));
        // Chromium saves through the picker (stubbed with OPFS), Firefox,
        // which has none, through a streamed download.
        const receiver = await openIn(
          s,
          kind,
          link,
          (kind === "chromium" ? PICKER_STUB : NO_PICKERS) + RECORDER,
        );
        const errors = collectPageErrors(receiver);
        const at = await addresses(receiver);
        // The page was opened with the key...
        assert.equal(at.start.href, link);
        assert.equal(at.start.hash, fragment);
        // ...which is gone from the address bar, and the history entry was
        // replaced, not added to: no entry of this tab holds it.
        assert.equal(at.hash, "");
        assert.equal(at.href, link.slice(0, link.indexOf("#")));
        assert.ok(!at.href.includes(fragment.slice(1)));
        assert.equal(at.historyLength, at.start.historyLength);
        // The key is still used from memory: the download works.
        await receiver.clickButton("Download");
        await receiver.waitFor(".phase-done, .phase-failed", {
          timeout: 60_000,
        });
        const status = await receiver.text(".receive-panel [role=status]");
        assert.match(status, /Saved/, `receiver says: ${status}`);
        if (kind === "chromium") {
          assert.deepEqual(await opfsSha256(receiver, "kept.bin"), {
            size: file.size,
            sha256: file.sha256,
          });
        } else {
          const path = await (await s.browser(kind)).waitForDownload(
            file.name,
            { size: file.size },
          );
          assert.equal(await hashFile(path), file.sha256);
        }
        assert.equal((await addresses(receiver)).hash, "");
        assert.deepEqual(errors.messages, []);
        assert.deepEqual(receiver.dialogs, []);
        await sender.close();
      } finally {
        await s.close();
      }
    },
  );

  Deno.test(
    named(
      "the send page keeps the key out of its own address and copies the link from memory",
      kind,
    ),
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, "copied.bin", 1024);
        const { page: sender, link } = await shareIn(
          s,
          kind,
          [file],
          RECORDER,
        );
        const secret = link.slice(link.indexOf("#") + 1);
        await sender.clickButton("Copy link");
        // The button says the link was copied.
        await sender.waitForFunction(() =>
          [...document.querySelectorAll("button")].some((button) =>
            button.textContent?.trim() === "Copied"
          )
        );
        const at = await addresses(sender);
        assert.equal(at.hash, "");
        assert.ok(!at.href.includes(secret));
        assert.equal(at.historyLength, at.start.historyLength);
        assert.deepEqual(
          await sender.evaluate(() =>
            (globalThis as unknown as { __copied: string[] }).__copied
          ),
          [link],
        );
      } finally {
        await s.close();
      }
    },
  );

  Deno.test(
    named(
      "Try again on the receive page reloads with the key it took out of the address bar",
      kind,
    ),
    browserTest,
    async () => {
      // A receiver waits SENDER_AWAY_MS for a sender that may be on its way
      // back before it fails: a short wait here.
      const s = await crossSetup({ SENDER_AWAY_MS: "2000" });
      try {
        const file = await makeFile(s.dir, "gone.bin", 1024);
        const { page: sender, link } = await shareIn(
          s,
          kind,
          [file],
          RECORDER,
        );
        const fragment = link.slice(link.indexOf("#"));
        // The sender stays but stops answering: the receiver fails, and
        // offers to try again (a sender that left would not: that link can
        // never work again).
        await sender.evaluate(() => {
          WebSocket.prototype.send = () => {};
        });
        const receiver = await openIn(s, kind, link, NO_PICKERS + RECORDER);
        await receiver.waitFor(".phase-failed", { timeout: 30_000 });
        assert.equal((await addresses(receiver)).hash, "");
        await receiver.reloaded(() => receiver.clickButton("Try again"));
        await receiver.waitFor("beam-island[data-hydrated]");
        const at = await addresses(receiver);
        // The reloaded page read the key again, and took it out again.
        assert.equal(at.start.hash, fragment);
        assert.equal(at.hash, "");
        assert.deepEqual(receiver.dialogs, []);
      } finally {
        await s.close();
      }
    },
  );
}
