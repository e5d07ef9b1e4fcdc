/**
 * Stopping one transfer without touching the others (issue #14), in real
 * Chromium pages over a real server: a receiver's Cancel mid-way removes
 * its partial file, the sender's row says it cancelled, and the other
 * receiver's file arrives whole; the sender's Stop on one receiver's row
 * ends that one only, which says so without offering Try again. Both also
 * check the names: the receiving page says which name it goes by, and the
 * sender's row shows it.
 *
 * Each of those states passes axe-core (light and dark); screenshots of
 * them go to `BEAM_SCREENSHOTS` when it is set.
 */

import assert from "node:assert/strict";
import { axeBothSchemes } from "./_helpers/axe.ts";
import type { Page } from "playwright-core";
import { collectPageErrors } from "./_helpers/browser.ts";
import {
  makeFile,
  open,
  opfsSha256,
  PICKER_STUB,
  RECORD_SAID,
  saidOn,
  type Setup,
  setup,
  share,
} from "./_helpers/transfer.ts";
import { isNickname } from "../lib/transfer/session_id.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const MiB = 1024 * 1024;

/**
 * Runs axe-core on `page`, light and dark, asserting no violation; saves a
 * screenshot of each into `BEAM_SCREENSHOTS` when that is set.
 */
async function check(page: Page, name: string): Promise<void> {
  const dir = Deno.env.get("BEAM_SCREENSHOTS");
  const found = await axeBothSchemes(page, async (scheme) => {
    if (dir) {
      await page.screenshot({
        path: `${dir}/${name}-${scheme}.png`,
        fullPage: true,
      });
    }
  });
  assert.deepEqual(found, [], `${name}:\n${found.join("\n")}`);
}

/**
 * A receive page whose save picker saves to OPFS as `<prefix>-<name>`:
 * the pages share an origin, so each receiver needs its own file name.
 */
function receiver(
  s: Setup,
  link: string,
  prefix: string,
  init = "",
): Promise<Page> {
  return open(
    s,
    link,
    init + PICKER_STUB.replaceAll(
      'options.suggestedName || "download"',
      `"${prefix}-" + options.suggestedName`,
    ),
  );
}

/** The name the receive page says it goes by on the sender's page. */
async function nameOf(page: Page): Promise<string> {
  const line = page.locator(".receiver-name");
  await line.waitFor();
  const text = await line.innerText();
  const name = text.match(/^You appear to the sender as (.+)\.$/)?.[1] ?? "";
  assert.ok(isNickname(name), `the page says: ${text}`);
  return name;
}

/** Resolves once the receive page shows at least `percent`. */
async function reached(page: Page, percent: number): Promise<void> {
  await page.waitForFunction((at) => {
    const p = document.querySelector(".percent");
    return p !== null && Number(p.getAttribute("data-percent")) >= at;
  }, percent);
}

/** Presses Download and waits for the page to say where it saved. */
async function download(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Download", exact: true }).click();
  await page.waitForSelector(".phase-done, .phase-failed", {
    timeout: 120_000,
  });
  const text = await page.locator(".receive-panel [role=status]").innerText();
  assert.match(text, /Saved/, `the receiver says: ${text}`);
}

Deno.test(
  "a receiver cancels mid-way: its partial file is removed, the sender's row says so, the other receiver's file arrives whole, and it can download again",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "big.bin", 128 * MiB, 21);
      const { page: sender, link } = await share(s, [file], RECORD_SAID);
      const errors = collectPageErrors(sender);
      const [a, b] = await Promise.all([
        receiver(s, link, "a", RECORD_SAID),
        receiver(s, link, "b"),
      ]);
      const other = download(b);
      // Awaited below; a failure before that must not leave it dangling.
      other.catch(() => {});
      await a.getByRole("button", { name: "Download", exact: true }).click();
      // Each page picks its name when its download starts.
      const [nameA, nameB] = [await nameOf(a), await nameOf(b)];
      await reached(a, 5);
      await a.getByRole("button", { name: "Cancel", exact: true }).click();

      // The receiver is back at its file list, with what it saved removed.
      await a.waitForSelector(".phase-ready");
      const status = await a.locator(".receive-panel [role=status]")
        .innerText();
      assert.equal(
        status,
        "Cancelled: what was partly saved is removed. Press Download to start again.",
      );
      assert.equal(await opfsSha256(a, "a-big.bin"), null, "the partial file");
      assert.equal(
        await a.getByRole("button", { name: "Try again" }).count(),
        0,
      );
      // Said, and focus on downloading again.
      assert.ok(
        (await saidOn(a)).includes(status),
        (await saidOn(a)).join(" | "),
      );
      assert.equal(
        await a.evaluate(() => document.activeElement?.textContent),
        "Download",
      );
      await check(a, "cancel-receiver-cancelled");

      // The sender's row for it says it cancelled, and where.
      const row = sender.locator(".receiver[data-ended='cancelled']");
      await row.waitFor();
      assert.equal(await row.locator(".receiver-name").innerText(), nameA);
      const said = await row.innerText();
      assert.match(
        said,
        /Cancelled by the receiver at \d+ %\. They can open the link again to download\./,
      );
      await check(sender, "cancel-sender-row-cancelled");
      // Screen readers hear it by the receiver's name.
      assert.ok(
        (await saidOn(sender)).some((t) => t.includes(`${nameA}: cancelled.`)),
        (await saidOn(sender)).join(" | "),
      );

      // The other receiver was not touched.
      await other;
      assert.deepEqual(await opfsSha256(b, "b-big.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      const rowB = sender.locator(".receiver", { hasText: nameB });
      await rowB.locator(".percent[data-percent='100']").waitFor();
      assert.equal(await rowB.getAttribute("data-state"), "done");

      // And the one that cancelled downloads again, whole.
      await download(a);
      assert.deepEqual(await opfsSha256(a, "a-big.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      await sender.locator(".receiver[data-state='done']").nth(1).waitFor();
      assert.equal(
        await sender.locator(".receiver", { hasText: nameA }).getAttribute(
          "data-state",
        ),
        "done",
      );
      assert.deepEqual(errors.messages, []);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "the sender stops one receiver: it says so without Try again and keeps no partial file, the other receiver's file arrives whole",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "big.bin", 128 * MiB, 22);
      const { page: sender, link } = await share(s, [file], RECORD_SAID);
      const errors = collectPageErrors(sender);
      const [a, b] = await Promise.all([
        receiver(s, link, "a"),
        receiver(s, link, "b"),
      ]);
      const other = download(b);
      // Awaited below; a failure before that must not leave it dangling.
      other.catch(() => {});
      await a.getByRole("button", { name: "Download", exact: true }).click();
      const nameA = await nameOf(a);
      await reached(a, 5);
      await check(sender, "stop-sender-before");
      await sender.getByRole("button", { name: `Stop sending to ${nameA}` })
        .click();

      // The stopped receiver says why, offers no Try again, keeps nothing.
      await a.waitForSelector(".phase-failed");
      assert.equal(
        await a.locator(".receive-panel [role=status]").innerText(),
        "The sender stopped sending to you. Ask the sender if you still need the files.",
      );
      assert.equal(
        await a.getByRole("button", { name: "Try again" }).count(),
        0,
      );
      assert.equal(await opfsSha256(a, "a-big.bin"), null, "the partial file");
      await check(a, "stop-receiver-stopped");

      const row = sender.locator(".receiver[data-ended='stopped']");
      await row.waitFor();
      assert.equal(await row.locator(".receiver-name").innerText(), nameA);
      assert.match(
        await row.innerText(),
        /Stopped: you stopped sending to this receiver\./,
      );
      assert.equal(await row.getByRole("button").count(), 0);
      // Focus stays on the row, which screen readers hear by its name.
      assert.equal(
        await sender.evaluate(() =>
          document.activeElement?.getAttribute("data-ended")
        ),
        "stopped",
      );
      assert.ok(
        (await saidOn(sender)).some((t) => t.includes(`${nameA}: stopped.`)),
        (await saidOn(sender)).join(" | "),
      );
      await check(sender, "stop-sender-row-stopped");

      await other;
      assert.deepEqual(await opfsSha256(b, "b-big.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      await sender.locator(".receiver[data-state='done']").waitFor();
      // The stopped one stays stopped (it did not come back on its own).
      assert.equal(await row.getAttribute("data-ended"), "stopped");
      assert.deepEqual(errors.messages, []);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "a receive page reloaded in its tab goes by the same name, and the sender keeps one row for it",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "small.bin", 256 * 1024, 22);
      const { page: sender, link } = await share(s, [file]);
      const page = await receiver(s, link, "r");
      await download(page);
      const name = await nameOf(page);
      // As "Try again" does: the key back in the address, then a reload.
      await page.evaluate((url) => {
        history.replaceState(null, "", url);
        location.reload();
      }, link);
      await page.waitForSelector("beam-island[data-hydrated]");
      await page.waitForSelector(".phase-ready");
      assert.equal(await nameOf(page), name, "the name before the reload");
      await download(page);
      // The same receiver by its session id: one row, the newest.
      const rows = await sender.locator(".receiver .receiver-name")
        .allInnerTexts();
      assert.deepEqual(rows, [name]);
      await sender.locator(".receiver[data-state='done']").waitFor();
    } finally {
      await s.close();
    }
  },
);
