/**
 * End to end, in Chromium: when the browser refuses to save, the receiving
 * page says so in a whole sentence that says what to do; never
 * `undefined`, an object, or a browser's raw message glued on (issue #13:
 * "Cannot write to the download: undefined").
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  DOM_EXCEPTION_TEXT,
  isSentence,
  saysWhatToDo,
} from "../lib/transfer/error_text.ts";
import { DOWNLOAD_ERRORS } from "../lib/transfer/sinks/sw_sink.ts";
import {
  makeFile,
  NO_PICKERS,
  open,
  setup,
  share,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** The save picker as a browser that refuses it: a `NotAllowedError`. */
const REFUSING_PICKER = `
  globalThis.showSaveFilePicker = async () => {
    throw new DOMException(
      "Failed to execute 'showSaveFilePicker' on 'Window': raw browser words",
      "NotAllowedError",
    );
  };
  delete globalThis.showDirectoryPicker;
`;

/** Presses Download and returns the error the page shows, once it shows. */
async function downloadError(page: Page): Promise<string> {
  await page.getByRole("button", { name: "Download", exact: true }).click();
  const error = page.locator(".receive-panel .error").first();
  await error.waitFor({ timeout: 60_000 });
  return (await error.innerText()).trim();
}

function assertSentence(text: string): void {
  assert.ok(isSentence(text), `not a sentence: ${JSON.stringify(text)}`);
  assert.ok(saysWhatToDo(text), `says nothing to do: ${JSON.stringify(text)}`);
  assert.doesNotMatch(text, /undefined|\[object|\bnull\b|raw browser words/);
}

Deno.test(
  "a streamed download the browser refuses shows a sentence saying what to do",
  browserTest,
  async () => {
    // Downloads not allowed (acceptDownloads: false) and no save picker: the
    // page takes the service-worker download, which the browser cancels. A
    // file past the stream's 4 MiB high-water mark fails on a write (the
    // "Cannot write to the download: undefined" of the issue).
    const s = await setup({}, false);
    try {
      const file = await makeFile(s.dir, "refused.bin", 20 * 1024 * 1024, 5);
      const { link } = await share(s, [file]);
      const receiver = await open(s, link, NO_PICKERS);
      const text = await downloadError(receiver);
      assertSentence(text);
      assert.equal(text, DOWNLOAD_ERRORS.cancelled);
      assert.equal(
        await receiver.locator(".receive-panel [role=status]").innerText(),
        text,
      );
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "a save picker that throws NotAllowedError shows a sentence saying what to do",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "picked.bin", 1024, 6);
      const { link } = await share(s, [file]);
      const receiver = await open(s, link, REFUSING_PICKER);
      const text = await downloadError(receiver);
      assertSentence(text);
      assert.equal(
        text,
        `The browser did not allow it. ${DOM_EXCEPTION_TEXT.NotAllowedError.advice}`,
      );
    } finally {
      await s.close();
    }
  },
);
