/**
 * End to end, adding files to a running share (issue #14): headless
 * Chromium pages and a real Beam server. Choosing files while sharing asks
 * first, in the page; "Add to this share" keeps the link, a receiver on its
 * ready screen sees the longer list and saves every file, one saving is
 * told and, once done, fetches only the added file, one opening the link
 * later gets them all, each byte-identical. Cancel (Escape) changes nothing; "Start a
 * new share" ends the old link. Screenshots land in `tmp/add_files/`
 * (git-ignored). Run `deno run -A lib/islands/build.ts` first.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { collectPageErrors } from "./_helpers/browser.ts";
import {
  gatedPicker,
  makeFile,
  open,
  opfsSha256,
  PICKER_STUB,
  release,
  setup,
  share,
  SHARE_LINK,
  waitMidway,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

const SHOTS = new URL("../tmp/add_files/", import.meta.url);
await Deno.mkdir(SHOTS, { recursive: true });

/** The save pickers stubbed, the folder picker giving OPFS folder `name`. */
function savingInto(name: string): string {
  return `${PICKER_STUB}
    globalThis.showDirectoryPicker = async () => {
      const root = await navigator.storage.getDirectory();
      return root.getDirectoryHandle(${JSON.stringify(name)}, { create: true });
    };
  `;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({
    path: new URL(`${name}.png`, SHOTS).pathname,
    fullPage: true,
  });
}

/** Waits for a receive page to say its files are saved. */
async function waitSaved(page: Page): Promise<void> {
  await page.waitForSelector(".phase-done, .phase-failed", {
    timeout: 120_000,
  });
  const text = await page.locator("#receive-status").innerText();
  assert.match(text, /Saved/, `receiver says: ${text}`);
}

/** Waits until focus is on the button that says `text` (it moves in a frame). */
async function waitFocus(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (text) =>
      document.activeElement?.tagName === "BUTTON" &&
      document.activeElement.textContent?.trim() === text,
    text,
    { timeout: 5_000 },
  );
}

Deno.test(
  "files chosen while sharing are added to the same link after asking: receivers with the list, saving or new get them byte-identical; Cancel keeps all, a new share ends the old link",
  browserTest,
  async () => {
    const s = await setup({ SENDER_AWAY_MS: "1000" });
    try {
      const a = await makeFile(s.dir, "a.bin", 3 * 1024 * 1024, 1);
      const b = await makeFile(s.dir, "b.bin", 2 * 1024 * 1024 + 17, 2);
      const c = await makeFile(s.dir, "c.bin", 1000, 3);
      const { page: sender, link } = await share(s, [a]);
      const senderErrors = collectPageErrors(sender);

      // Receiver 0 is saving A when B is added: held mid-way by its disk.
      const early = await open(s, link, gatedPicker(1024 * 1024));
      const earlyErrors = collectPageErrors(early);
      await early.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitMidway(early);

      // Receiver 1 has the list, on its ready screen.
      const ready = await open(s, link, savingInto("ready-folder"));
      const readyErrors = collectPageErrors(ready);
      await ready.locator(".file-list li").first().waitFor();
      assert.equal(await ready.locator(".file-list li").count(), 1);

      // Receiver 0 is being sent A; receiver 1 only asked.
      await sender.waitForSelector(".receiver[data-state=sending]");
      // The sender chooses B: asked first, in the page, Add focused.
      await sender.setInputFiles("#file-input", [b.path]);
      const dialog = sender.getByRole("dialog", {
        name: "You chose 1 file while sharing",
      });
      await dialog.waitFor();
      await waitFocus(sender, "Add to this share");
      const asked = await dialog.innerText();
      assert.match(asked, /the link stays the same/);
      assert.match(
        asked,
        /Starting a new share ends this one: its link stops working and the 2 receivers connected now are cut off\./,
      );
      await shot(sender, "sender-dialog");
      // Enter takes the focused default: Add.
      await sender.keyboard.press("Enter");
      await dialog.waitFor({ state: "detached" });
      assert.equal(await sender.locator("#share-link").inputValue(), link);
      // The list grows once the longer one is sealed (SendSession.add()).
      await sender.locator(".file-list li").nth(1).waitFor();
      assert.equal(await sender.locator(".file-list li").count(), 2);
      await waitFocus(sender, "Copy link");

      // Receiver 1 sees A and B, and saves both.
      await ready.locator(".file-list li").nth(1).waitFor();
      assert.deepEqual(
        await ready.locator(".file-list .name").allInnerTexts(),
        ["a.bin", "b.bin"],
      );
      await shot(ready, "receiver-ready-after-add");
      await ready.getByRole("button", { name: "Save into a folder…" }).click();
      await waitSaved(ready);
      for (const file of [a, b]) {
        assert.deepEqual(
          await opfsSha256(ready, `ready-folder/${file.name}`),
          { size: file.size, sha256: file.sha256 },
        );
      }

      // Receiver 0 heard of B while saving A; once done (and gone from
      // signaling, as the contract has it), it fetches only B.
      await release(early);
      await waitSaved(early);
      const notice = early.locator("[data-added]");
      await notice.waitFor();
      assert.match(
        await notice.innerText(),
        /1 more file was added to this share/,
      );
      await shot(early, "receiver-done-told");
      await early.getByRole("button", { name: "Get only the added files" })
        .click();
      await notice.waitFor({ state: "detached" });
      await waitSaved(early);
      await shot(early, "receiver-done-got-more");
      for (const file of [a, b]) {
        assert.deepEqual(await opfsSha256(early, file.name), {
          size: file.size,
          sha256: file.sha256,
        });
      }

      // Receiver 2 opens the link after the add: both files.
      const late = await open(s, link, savingInto("late-folder"));
      const lateErrors = collectPageErrors(late);
      await late.locator(".file-list li").nth(1).waitFor();
      await late.getByRole("button", { name: "Save into a folder…" }).click();
      await waitSaved(late);
      for (const file of [a, b]) {
        assert.deepEqual(
          await opfsSha256(late, `late-folder/${file.name}`),
          { size: file.size, sha256: file.sha256 },
        );
      }

      // Cancel (Escape) changes nothing.
      await sender.setInputFiles("#file-input", [c.path]);
      await dialog.waitFor();
      await waitFocus(sender, "Add to this share");
      await sender.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      assert.equal(await sender.locator("#share-link").inputValue(), link);
      assert.equal(await sender.locator(".file-list li").count(), 2);
      await waitFocus(sender, "Copy link");

      // A new share ends this one: the old link stops working.
      await sender.setInputFiles("#file-input", [c.path]);
      await dialog.waitFor();
      await dialog.getByRole("button", { name: "Start a new share" }).click();
      await sender.waitForFunction(
        (old) => {
          const input = document.querySelector<HTMLInputElement>(
            "#share-link",
          );
          return input !== null && input.value !== "" && input.value !== old;
        },
        link,
      );
      const next = await sender.locator("#share-link").inputValue();
      assert.match(next, SHARE_LINK);
      assert.deepEqual(
        await sender.locator(".file-list .name").allInnerTexts(),
        ["c.bin"],
      );
      const gone = await open(s, link);
      await gone.waitForSelector(".phase-failed", { timeout: 30_000 });
      assert.match(
        await gone.locator("#receive-status").innerText(),
        /no longer active/,
      );

      assert.deepEqual(senderErrors.messages, []);
      assert.deepEqual(earlyErrors.messages, []);
      assert.deepEqual(readyErrors.messages, []);
      assert.deepEqual(lateErrors.messages, []);
    } finally {
      await s.close();
    }
  },
);
