/**
 * End-to-end authentication in real browsers: with a tampering relay in
 * place of an honest signaling server, or a link without its key, the
 * transfer is refused on both pages and no file bytes flow.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "./_helpers/browser.ts";
import {
  makeFile,
  PICKER_STUB,
  type SourceOnDisk,
} from "./_helpers/transfer.ts";
import {
  breakFingerprint,
  rewritePayload,
  startTamperingServer,
  type TamperingServer,
} from "./_helpers/tamper.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

async function scenario(
  rewrite: (direction: "up" | "down", text: string) => string,
  run: (pages: { sender: Page; receiver: Page; link: string }) => Promise<void>,
  { cutLink = (link: string) => link, refused = true } = {},
): Promise<void> {
  let server: TamperingServer | undefined;
  let browser: TestBrowser | undefined;
  const dir = await Deno.makeTempDir();
  try {
    server = await startTamperingServer(rewrite);
    browser = await launchBrowser({ origin: server.url });
    const file: SourceOnDisk = await makeFile(
      dir,
      "secret plans.bin",
      1024 * 1024,
    );
    const sender = await browser.newPage();
    await sender.goto(server.url);
    await sender.waitForSelector("beam-island[data-hydrated]");
    await sender.setInputFiles("#file-input", file.path);
    const link = cutLink(await sender.locator("#share-link").inputValue());
    const receiver = await browser.newPage();
    await receiver.addInitScript(PICKER_STUB);
    await receiver.goto(link);
    await receiver.waitForSelector("beam-island[data-hydrated]");
    await run({ sender, receiver, link });
    if (!refused) return;
    // No file bytes crossed: the sender never counted any.
    const row = sender.locator(".receiver");
    assert.equal(await row.getAttribute("data-state"), "failed");
    assert.equal(
      await row.locator(".percent").getAttribute("data-percent"),
      "0",
    );
  } finally {
    await browser?.close();
    await server?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function failedWith(
  page: Page,
  pattern: RegExp,
  selector = "[role=status]",
) {
  await page.waitForSelector(".phase-failed, .receiver[data-state='failed']", {
    timeout: 30_000,
  });
  const text = await page.locator(selector).first().innerText();
  assert.match(text, pattern, text);
}

// The offer crosses the server on its way up, the answer on its way down.
for (const [event, way] of [["offer", "up"], ["answer", "down"]] as const) {
  Deno.test(
    `a relay that rewrites the ${event}'s fingerprint is refused on both pages`,
    browserTest,
    async () => {
      const tamper = rewritePayload(
        event,
        (p) =>
          typeof p.sdp === "string"
            ? { ...p, sdp: breakFingerprint(p.sdp) }
            : p,
      );
      await scenario(
        (dir, text) => dir === way ? tamper(text) : text,
        async ({ sender, receiver }) => {
          await receiver.getByRole("button", { name: "Download", exact: true })
            .click();
          await failedWith(receiver, /could not be verified/);
          await failedWith(sender, /could not be verified/, ".receiver");
        },
      );
    },
  );
}

Deno.test(
  "a relay that alters the sealed file list cannot make it readable",
  browserTest,
  async () => {
    const flip = rewritePayload("response", (p) => ({
      ...p,
      ct: typeof p.ct === "string"
        ? (p.ct[0] === "A" ? "B" : "A") + p.ct.slice(1)
        : p.ct,
    }));
    await scenario(
      (dir, text) => dir === "down" ? flip(text) : text,
      async ({ sender, receiver }) => {
        await failedWith(receiver, /key/);
        await failedWith(sender, /Refused/, ".receiver");
        assert.equal(
          await receiver.getByRole("button", { name: "Download", exact: true })
            .count(),
          0,
        );
      },
    );
  },
);

Deno.test(
  "a link cut off at # is refused by the sender, which says why",
  browserTest,
  async () => {
    await scenario((_dir, text) => text, async ({ sender, receiver }) => {
      await failedWith(receiver, /missing its key/);
      await failedWith(sender, /Refused: .*missing its key/, ".receiver");
    }, { cutLink: (link) => link.slice(0, link.indexOf("#")) });
  },
);

Deno.test(
  "the file list crosses the server only as ciphertext",
  browserTest,
  async () => {
    const seen: string[] = [];
    await scenario((_dir, text) => {
      seen.push(text);
      return text;
    }, async ({ receiver }) => {
      await receiver.waitForSelector(".phase-ready");
      assert.ok(seen.some((t) => t.startsWith('["response"')));
      assert.ok(
        !seen.some((t) => t.includes("secret plans")),
        "file name leaked to the server",
      );
    }, { refused: false });
  },
);
