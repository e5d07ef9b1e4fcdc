/**
 * End to end, 5,000 files (issue #12, item 10): two headless Chromium pages
 * and a real Beam server. The file list crosses in sealed pages under the
 * server's frame cap: the receiving page lists every name, and the sender's
 * page stays connected and serves it. Run `deno run -A lib/islands/build.ts`
 * first.
 */

import assert from "node:assert/strict";
import { collectPageErrors } from "./_helpers/browser.ts";
import { PICKER_STUB, setup } from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** Files in the share: the old single sealed frame broke at ~600. */
const COUNT = 5000;

Deno.test(
  "a share of 5,000 files through the UI: the receiving page lists every name, and the sender serves it",
  browserTest,
  async () => {
    const s = await setup();
    try {
      const paths: string[] = [];
      const names: string[] = [];
      for (let i = 0; i < COUNT; i++) {
        const name = `${String(i).padStart(5, "0")}-${
          crypto.randomUUID().slice(0, 12)
        }.txt`;
        names.push(name);
        paths.push(`${s.dir}/${name}`);
        await Deno.writeTextFile(paths[i], `file ${i}\n`);
      }
      const sender = await s.browser.newPage();
      const senderErrors = collectPageErrors(sender);
      await sender.goto(s.server.url);
      await sender.waitForSelector("beam-island[data-hydrated]");
      await sender.setInputFiles("#file-input", paths);
      const input = sender.locator("#share-link");
      await input.waitFor({ timeout: 30_000 });
      const link = await input.inputValue();

      const receiver = await s.browser.newPage();
      const receiverErrors = collectPageErrors(receiver);
      await receiver.addInitScript(PICKER_STUB);
      await receiver.goto(link);
      await receiver.waitForSelector("beam-island[data-hydrated]");
      await receiver.locator(".file-list li").nth(COUNT - 1).waitFor({
        timeout: 30_000,
      });
      const listed = await receiver.locator(".file-list .name")
        .allInnerTexts();
      assert.deepEqual(listed, names);

      // The sender's signaling survived the list (the old single frame got
      // it closed with 1009): the receiver connects and bytes flow. The
      // whole download is the session test's (tests/many_files_test.ts):
      // in Chromium it takes minutes for 5,000 files.
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await receiver.waitForSelector(".phase-receiving, .phase-done", {
        timeout: 30_000,
      });
      await sender.locator(".receiver").waitFor();
      // No "connection to the server dropped" on the sender's page.
      assert.deepEqual(
        (await sender.locator(".error").allInnerTexts()).filter(Boolean),
        [],
      );
      assert.deepEqual(senderErrors.messages, []);
      assert.deepEqual(receiverErrors.messages, []);
    } finally {
      await s.close();
    }
  },
);
