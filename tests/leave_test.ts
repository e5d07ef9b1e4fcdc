/**
 * The sender knows who is there (issue #14): a receiver whose tab closes
 * mid-transfer leaves the sender's data channel open and silent (Chromium
 * never fires `close` for it). The sender's row must say "Left at N %"
 * within seconds, not "Sending" for minutes; the screen may sleep, the page
 * may close without a warning and its title is its own again, until
 * someone else starts receiving.
 *
 * @module
 */

import assert from "node:assert/strict";
import { axeBothSchemes } from "./_helpers/axe.ts";
import type { Page } from "playwright-core";
import { collectPageErrors } from "./_helpers/browser.ts";
import {
  makeFile,
  open,
  opfsSha256,
  setup,
  share,
  WAKE_LOCK_LOG,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const MiB = 1024 * 1024;

const SHOTS = new URL("../tmp/leave/", import.meta.url);
await Deno.mkdir(SHOTS, { recursive: true });

/** The wake lock requests and releases the page made, in order. */
function wakeLog(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    (globalThis as unknown as { __wake: string[] }).__wake
  );
}

/** Whether the page would ask before closing now (its leave warning). */
function warnsOnLeave(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const event = new Event("beforeunload", { cancelable: true });
    dispatchEvent(event);
    return event.defaultPrevented;
  });
}

/** The receive page's percent, as it shows it. */
function percentOf(page: Page): Promise<number> {
  return page.evaluate(() =>
    Number(
      document.querySelector(".percent")?.getAttribute("data-percent") ?? 0,
    )
  );
}

Deno.test(
  "a receiver whose tab closes mid-transfer shows as left on the sender, which lets the screen sleep and takes it again for the next receiver",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "leave.bin", 128 * MiB, 21);
      const { page: sender, link } = await share(s, [file], WAKE_LOCK_LOG);
      const senderErrors = collectPageErrors(sender);
      const ownTitle = await sender.title();
      const first = await open(s, link);
      await first.getByRole("button", { name: "Download", exact: true })
        .click();
      await first.waitForFunction(() =>
        Number(
          document.querySelector(".percent")?.getAttribute("data-percent"),
        ) >= 3
      );
      // Under way: the title says how far, the screen is kept awake, and
      // closing the page would ask first.
      await sender.locator(".receiver[data-state='sending']").waitFor();
      assert.match(await sender.title(), /^\d+ % · Beam$/);
      assert.equal(await warnsOnLeave(sender), true);
      assert.deepEqual(
        (await wakeLog(sender)).map((line) => line.split(" ")[0]),
        ["request"],
      );

      const atClose = await percentOf(first);
      const closed = Date.now();
      await first.close({ runBeforeUnload: false });
      const state = sender.locator(".receiver .state-left");
      await state.waitFor({ timeout: 30_000 });
      const noticed = (Date.now() - closed) / 1000;
      const text = await state.innerText();
      const left = Number(/^Left at (\d+) %$/.exec(text)?.[1]);
      assert.ok(left >= 3 && left < 100, text);
      assert.ok(left >= atClose - 1, `${text}, ${atClose} % when closed`);
      const row = sender.locator(".receiver").first();
      assert.equal(await row.getAttribute("data-state"), "resuming");
      const stats = await row.locator(".stats").innerText();
      assert.doesNotMatch(stats, /\/s|left/, stats);
      // Nobody is receiving: the screen may sleep, the page may close, and
      // the title is the page's own.
      await sender.waitForFunction(
        () =>
          (globalThis as unknown as { __wake: string[] }).__wake.length === 2,
      );
      const log = await wakeLog(sender);
      assert.match(log[1], /^release /, log.join("\n"));
      assert.equal(await warnsOnLeave(sender), false);
      assert.equal(await sender.title(), ownTitle);
      assert.equal(await sender.locator("[data-awake]").count(), 0);
      assert.deepEqual(await axeBothSchemes(sender), []);
      await sender.screenshot({
        path: new URL("sender-left.png", SHOTS).pathname,
        fullPage: true,
      });
      console.log(
        `closed at ${atClose} %; the sender showed "${text}" ${
          noticed.toFixed(1)
        } s later`,
      );

      // Someone else starts: the screen is kept awake again, and the title
      // follows them to "Sent".
      const next = await open(s, link);
      await next.getByRole("button", { name: "Download", exact: true })
        .click();
      await sender.waitForFunction(
        () =>
          (globalThis as unknown as { __wake: string[] }).__wake.length === 3,
      );
      assert.match((await wakeLog(sender))[2], /^request screen /);
      await next.waitForSelector(".phase-done", { timeout: 120_000 });
      assert.deepEqual(await opfsSha256(next, "leave.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      await sender.locator(".receiver[data-state='done']").waitFor();
      await sender.waitForFunction(() => document.title === "Sent · Beam");
      await sender.waitForFunction(
        () =>
          (globalThis as unknown as { __wake: string[] }).__wake.length === 4,
      );
      assert.match((await wakeLog(sender))[3], /^release /);
      assert.equal(await warnsOnLeave(sender), false);
      // The one who left keeps its row.
      assert.equal(await sender.locator(".receiver .state-left").count(), 1);
      await sender.screenshot({
        path: new URL("sender-sent.png", SHOTS).pathname,
        fullPage: true,
      });
      assert.deepEqual(senderErrors.messages, []);
    } finally {
      await s.close();
    }
  },
);
