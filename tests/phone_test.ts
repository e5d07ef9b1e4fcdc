/**
 * The send page on a phone (issue #14, "Phones"): at 390×844, once files
 * are chosen, the link and its QR code are in view without scrolling, and
 * a "Share…" button hands the link to the system share sheet where the
 * browser has one (feature detection: none where `navigator.share` is
 * missing). Screenshots go to `tmp/phone-*.png` to be looked at.
 */

import assert from "node:assert/strict";
import { launchBrowser } from "./_helpers/browser.ts";
import { ROOT, startServer } from "./_helpers/server.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

const PHONE = { width: 390, height: 844 };

/** Records what the page hands to the system share sheet. */
const SHARE_STUB = `
  globalThis.__shared = [];
  Object.defineProperty(navigator, "share", {
    value: (data) => { globalThis.__shared.push(data); return Promise.resolve(); },
  });
`;

Deno.test(
  "on a phone the link and QR code show without scrolling, and Share… hands the link to the system",
  browserTest,
  async () => {
    const server = await startServer();
    const browser = await launchBrowser({ origin: server.url });
    const dir = await Deno.makeTempDir({ prefix: "beam-phone-" });
    try {
      const file = `${dir}/photo.jpg`;
      await Deno.writeFile(file, new Uint8Array(5000));
      for (const withShare of [true, false]) {
        const page = await browser.newPage();
        await page.setViewportSize(PHONE);
        if (withShare) await page.addInitScript(SHARE_STUB);
        await page.goto(server.url);
        await page.waitForSelector("beam-island[data-hydrated]");
        await page.setInputFiles("#file-input", file);
        const link = await page.inputValue("#share-link");
        await page.waitForSelector(".qr svg path[d^='M']");
        await Deno.mkdir(`${ROOT}/tmp`, { recursive: true });
        await page.screenshot({
          path: `${ROOT}/tmp/phone-${withShare ? "share" : "no-share"}.png`,
        });
        for (const selector of ["#share-link", ".qr svg"]) {
          const box = await page.locator(selector).boundingBox();
          assert.ok(box, `${selector} is shown`);
          assert.ok(
            box.y >= 0 && box.y + box.height <= PHONE.height,
            `${selector} ends at ${
              box.y + box.height
            }, below the fold at ${PHONE.height}`,
          );
        }
        const button = page.getByRole("button", { name: "Share…" });
        if (!withShare) {
          assert.equal(await button.count(), 0, "no Share… without the API");
          await page.close();
          continue;
        }
        await button.click();
        const shared = await page.evaluate(() =>
          (globalThis as unknown as { __shared: unknown[] }).__shared
        );
        assert.deepEqual(shared, [{
          title: "Files sent with Beam",
          url: link,
        }]);
        await page.close();
      }
    } finally {
      await browser.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
