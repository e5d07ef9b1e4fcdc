/**
 * End to end, folders and text (issue #14): headless Chromium pages and a
 * real Beam server. A nested folder of 200 files is chosen through the
 * folder picker's input and received twice: as one zip streamed by the
 * service worker (read with Debian's unzip), and into a folder (the
 * directory picker stubbed with OPFS), byte-identical with every path
 * kept; a folder dropped as entries keeps its paths too. A unicode snippet is sent as text, shown on the receiving page and
 * copied with its button. Run `deno run -A lib/islands/build.ts` first.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { collectPageErrors } from "./_helpers/browser.ts";
import { unzipView, zipDigests } from "./_helpers/sink_io.ts";
import {
  makeFile,
  NO_PICKERS,
  open,
  PICKER_STUB,
  setup,
  SHARE_LINK,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** Files in the shared folder. */
const COUNT = 200;

/**
 * Writes `COUNT` files under `root/trip`, up to four folders deep, some
 * empty, some with unicode names; returns each one's SHA-256 by its path
 * from `root` (`"trip/…"`).
 */
async function makeFolder(root: string): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (let i = 0; i < COUNT; i++) {
    const depth = i % 5;
    const folders = ["trip"];
    for (let d = 0; d < depth; d++) folders.push(`d${d}-${i % (d + 3)}`);
    if (i % 7 === 0) folders.push("été 写真");
    const dir = `${root}/${folders.join("/")}`;
    await Deno.mkdir(dir, { recursive: true });
    const name = i % 11 === 0 ? `ñame ${i} 🐚.txt` : `file-${i}.bin`;
    const size = i % 13 === 0 ? 0 : 1 + ((i * 7919) % 40_000);
    const file = await makeFile(dir, name, size, i + 1);
    digests[`${folders.join("/")}/${name}`] = file.sha256;
  }
  return digests;
}

/** SHA-256 (hex) of every file under OPFS's `folder`, by its path there. */
function opfsTree(page: Page, folder: string): Promise<Record<string, string>> {
  return page.evaluate(async (folder: string) => {
    const out: Record<string, string> = {};
    const hex = (buffer: ArrayBuffer) =>
      [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0"))
        .join("");
    async function walk(dir: FileSystemDirectoryHandle, prefix: string) {
      // deno-lint-ignore no-explicit-any
      for await (const [name, handle] of (dir as any).entries()) {
        if (handle.kind === "directory") {
          await walk(handle, `${prefix}${name}/`);
        } else {
          const bytes = await (await handle.getFile()).arrayBuffer();
          out[`${prefix}${name}`] = hex(
            await crypto.subtle.digest("SHA-256", bytes),
          );
        }
      }
    }
    const root = await navigator.storage.getDirectory();
    await walk(await root.getDirectoryHandle(folder), "");
    return out;
  }, folder);
}

/** Opens the send page and chooses the folder `path` with the folder input. */
async function shareFolder(
  s: Awaited<ReturnType<typeof setup>>,
  path: string,
): Promise<{ page: Page; link: string }> {
  const page = await s.browser.newPage();
  await page.goto(s.server.url);
  await page.waitForSelector("beam-island[data-hydrated]");
  await page.setInputFiles("#folder-input", path);
  const input = page.locator("#share-link");
  await input.waitFor({ timeout: 30_000 });
  const link = await input.inputValue();
  assert.match(link, SHARE_LINK);
  return { page, link };
}

async function waitSaved(page: Page): Promise<void> {
  await page.waitForSelector(".phase-done, .phase-failed", {
    timeout: 120_000,
  });
  const text = await page.locator(".receive-panel .status").first()
    .innerText();
  assert.match(text, /Saved/, `receiver says: ${text}`);
}

Deno.test(
  "a nested folder of 200 files arrives as one zip and into a folder, byte-identical with every path kept",
  browserTest,
  async () => {
    const s = await setup({}, true);
    try {
      const expected = await makeFolder(s.dir);
      const { page: sender, link } = await shareFolder(s, `${s.dir}/trip`);
      const senderErrors = collectPageErrors(sender);
      // The sender lists each file under its path.
      await sender.locator(".file-list li").nth(COUNT - 1).waitFor();
      const listed = await sender.locator(".file-list .name").allInnerTexts();
      assert.deepEqual(new Set(listed), new Set(Object.keys(expected)));

      // As a zip, streamed by the service worker (no pickers).
      const zipped = await open(s, link, NO_PICKERS);
      const zippedErrors = collectPageErrors(zipped);
      await zipped.locator(".file-list li").nth(COUNT - 1).waitFor();
      const downloading = zipped.waitForEvent("download", { timeout: 30_000 });
      await zipped.getByRole("button", { name: "Download", exact: true })
        .click();
      const download = await downloading;
      await waitSaved(zipped);
      assert.equal(download.suggestedFilename(), "trip.zip");
      const zipPath = `${s.dir}/got.zip`;
      await download.saveAs(zipPath);
      assert.deepEqual(await zipDigests(zipPath), expected);

      // Into a folder (the directory picker, stubbed with OPFS).
      const foldered = await open(s, link, PICKER_STUB);
      const folderedErrors = collectPageErrors(foldered);
      await foldered.getByRole("button", { name: "Save into a folder…" })
        .click();
      await waitSaved(foldered);
      assert.deepEqual(await opfsTree(foldered, "picked-folder"), expected);

      assert.deepEqual(senderErrors.messages, []);
      assert.deepEqual(zippedErrors.messages, []);
      assert.deepEqual(folderedErrors.messages, []);
    } finally {
      await s.close();
    }
  },
);

/**
 * Drops, on the send page, a folder `drop/` of `count` files in nested
 * folders, as `DataTransfer` entries (`webkitGetAsEntry()`), whose
 * readers give at most 100 entries per `readEntries()` call, as
 * Chromium's do. (A page cannot make a real drop of a folder: the entries
 * are built in the page around real `File`s.)
 */
function dropFolder(page: Page, count: number): Promise<void> {
  return page.evaluate((count: number) => {
    type Entry = Record<string, unknown>;
    const fileEntry = (name: string, text: string): Entry => ({
      isFile: true,
      isDirectory: false,
      name,
      file: (ok: (f: File) => void) =>
        setTimeout(() => ok(new File([text], name, { type: "text/plain" }))),
    });
    const folderEntry = (name: string, children: Entry[]): Entry => ({
      isFile: false,
      isDirectory: true,
      name,
      createReader() {
        let at = 0;
        return {
          readEntries(ok: (batch: Entry[]) => void) {
            setTimeout(() => ok(children.slice(at, at += 100)));
          },
        };
      },
    });
    const folders: Record<string, Entry[]> = {};
    const top: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const sub = `sub${i % 3}`;
      (folders[sub] ??= []).push(fileEntry(`f${i}.txt`, `file ${i}`));
    }
    for (const [name, children] of Object.entries(folders)) {
      top.push(folderEntry(name, children));
    }
    const root = folderEntry("drop", top);
    const event = new Event("drop", { cancelable: true });
    Object.defineProperty(event, "dataTransfer", {
      value: {
        files: [],
        types: ["Files"],
        items: [{ kind: "file", webkitGetAsEntry: () => root }],
      },
    });
    dispatchEvent(event);
  }, count);
}

Deno.test(
  "a folder dropped on the send page keeps its paths, every readEntries() batch read",
  browserTest,
  async () => {
    const s = await setup({}, true);
    try {
      const sender = await s.browser.newPage();
      const senderErrors = collectPageErrors(sender);
      await sender.goto(s.server.url);
      await sender.waitForSelector("beam-island[data-hydrated]");
      await dropFolder(sender, COUNT);
      const link = await sender.locator("#share-link").inputValue({
        timeout: 30_000,
      });
      const expected: Record<string, string> = {};
      for (let i = 0; i < COUNT; i++) {
        expected[`drop/sub${i % 3}/f${i}.txt`] = `file ${i}`;
      }
      const receiver = await open(s, link, NO_PICKERS);
      await receiver.locator(".file-list li").nth(COUNT - 1).waitFor();
      const listed = await receiver.locator(".file-list .name")
        .allInnerTexts();
      assert.deepEqual(new Set(listed), new Set(Object.keys(expected)));
      const downloading = receiver.waitForEvent("download");
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      const download = await downloading;
      await waitSaved(receiver);
      assert.equal(download.suggestedFilename(), "drop.zip");
      const zipPath = `${s.dir}/drop.zip`;
      await download.saveAs(zipPath);
      assert.deepEqual((await unzipView(zipPath)).files, expected);
      assert.deepEqual(senderErrors.messages, []);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "a unicode snippet sent as text shows on the receiving page and its button copies it",
  browserTest,
  async () => {
    const s = await setup();
    try {
      await s.browser.context.grantPermissions(
        ["clipboard-read", "clipboard-write"],
        { origin: s.server.url },
      );
      const text =
        "Bonjour 👋 — 你好, мир!\n  indented line\n<b>not bold</b> & \u202Eevil";
      const sender = await s.browser.newPage();
      const senderErrors = collectPageErrors(sender);
      await sender.goto(s.server.url);
      await sender.waitForSelector("beam-island[data-hydrated]");
      await sender.getByLabel("Or send text").fill(text);
      await sender.getByRole("button", { name: "Send text" }).click();
      const link = await sender.locator("#share-link").inputValue();
      assert.match(link, SHARE_LINK);

      const receiver = await open(s, link);
      const receiverErrors = collectPageErrors(receiver);
      const shown = receiver.locator(".shared-text pre");
      await shown.waitFor();
      assert.equal(await shown.textContent(), text);
      // Text only: nothing to download.
      assert.match(
        await receiver.locator(".receive-panel .status").first().innerText(),
        /Text received/,
      );
      assert.equal(
        await receiver.getByRole("button", { name: "Download" }).count(),
        0,
      );
      await receiver.getByRole("button", { name: "Copy text" }).click();
      await receiver.getByText("Copied.").waitFor();
      assert.equal(
        await receiver.evaluate(() => navigator.clipboard.readText()),
        text,
      );
      assert.deepEqual(senderErrors.messages, []);
      assert.deepEqual(receiverErrors.messages, []);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "text over 64 KiB is refused on the send page with what to do",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const page = await s.browser.newPage();
      await page.goto(s.server.url);
      await page.waitForSelector("beam-island[data-hydrated]");
      await page.getByLabel("Or send text").fill("é".repeat(40_000));
      await page.getByRole("button", { name: "Send text" }).click();
      await page.getByRole("alert").filter({ hasText: "too long" }).waitFor();
      assert.match(
        await page.getByRole("alert").innerText(),
        /at most 64 KiB can be sent as text.*share that instead/,
      );
      assert.equal(await page.locator("#share-link").count(), 0);
    } finally {
      await s.close();
    }
  },
);
