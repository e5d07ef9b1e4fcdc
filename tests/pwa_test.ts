/**
 * Beam as an installable app with a share target (issue #14, "Phones"), in
 * headless Chromium against `main.ts` run as a real process: the manifest
 * parses without errors and Chromium finds nothing that stops installing
 * it (CDP `Page.getAppManifest`, `Page.getInstallabilityErrors`; http on
 * 127.0.0.1 is a secure context), every page links it, and its icons load
 * at the sizes it gives. "Share → Beam" is what the phone does once Beam is
 * installed: a multipart POST navigation to the share target's action,
 * made here by a form on a page of the same origin. With the service
 * worker installed (a first visit to the send page), a shared file lands
 * on the send page being shared and a receiver gets it byte-identical; a
 * shared title, text and link are shared as text. Before the worker, the
 * server answers the POST without keeping anything and the page says to
 * share again (axe-core finds nothing wrong with that page, light or
 * dark), which then works. Screenshots go to `tmp/pwa-*.png`.
 *
 * Run `deno task build` first.
 */

import assert from "node:assert/strict";
import { axeBothSchemes } from "./_helpers/axe.ts";
import { collectPageErrors, launchBrowser } from "./_helpers/browser.ts";
import type { Page } from "./_helpers/browser.ts";
import { startBeam } from "./_helpers/beam.ts";
import { ROOT } from "./_helpers/server.ts";
import {
  makeFile,
  opfsSha256,
  PICKER_STUB,
  SHARE_LINK,
} from "./_helpers/transfer.ts";
import { SHARE_ACTION, SHARE_SCOPE } from "../lib/transfer/share_target.ts";
import { INBOX_CACHE, SHARE_NOTES } from "../lib/transfer/share_inbox.ts";
import { MANIFEST_PATH } from "../lib/http/app.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** axe-core's violations on `page` on a phone, light and dark. */
async function phoneViolations(page: Page): Promise<string[]> {
  await page.setViewportSize({ width: 390, height: 844 });
  return await axeBothSchemes(
    page,
    (scheme) => screenshot(page, `missed-phone-${scheme}`),
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(`${ROOT}/tmp`, { recursive: true });
  await page.screenshot({
    path: `${ROOT}/tmp/pwa-${name}.png`,
    fullPage: true,
  });
}

/** Waits until the send page has installed the worker for shares. */
function workerReady(page: Page): Promise<void> {
  return page.waitForFunction(
    async (scope: string) => {
      const registration = await navigator.serviceWorker.getRegistration(scope);
      return registration?.active?.state === "activated";
    },
    SHARE_SCOPE,
    { timeout: 15_000 },
  ).then(() => {});
}

/** What another app shares: fields, and files from disk. */
interface Sharing {
  title?: string;
  text?: string;
  url?: string;
  files?: string[];
}

/**
 * Does what the phone does for "Share → Beam": a multipart/form-data POST
 * navigation to the share target's action with the manifest's field
 * names, from a form put on `page` (any page of Beam's origin). Resolves
 * with the answer the browser got to that POST (its status, and whether
 * the service worker gave it), once the page it led to has loaded.
 */
async function shareFromAnotherApp(
  page: Page,
  sharing: Sharing,
): Promise<{ status: number; fromServiceWorker: boolean }> {
  await page.evaluate(({ action, fields }) => {
    const form = document.createElement("form");
    form.id = "other-app";
    form.method = "POST";
    form.enctype = "multipart/form-data";
    form.action = action;
    form.hidden = true;
    for (const [name, value] of Object.entries(fields)) {
      const input = document.createElement("input");
      input.name = name;
      input.value = value;
      form.append(input);
    }
    const files = document.createElement("input");
    files.type = "file";
    files.name = "files";
    files.multiple = true;
    form.append(files);
    document.body.append(form);
  }, {
    action: SHARE_ACTION,
    fields: Object.fromEntries(
      (["title", "text", "url"] as const).flatMap((name) =>
        sharing[name] === undefined ? [] : [[name, sharing[name]!]]
      ),
    ),
  });
  if (sharing.files) {
    await page.setInputFiles("#other-app input[type=file]", sharing.files);
  }
  const answered = page.waitForResponse((response) =>
    new URL(response.url()).pathname === SHARE_ACTION &&
    response.request().method() === "POST"
  );
  const loaded = page.waitForURL((url) => url.pathname === "/");
  await page.evaluate(() =>
    (document.getElementById("other-app") as HTMLFormElement).submit()
  );
  const response = await answered;
  await loaded;
  await page.waitForSelector("beam-island[data-hydrated]");
  return {
    status: response.status(),
    fromServiceWorker: response.fromServiceWorker(),
  };
}

/** The keys left in the share inbox of `page`'s origin. */
function inboxKeys(page: Page): Promise<string[]> {
  return page.evaluate(async (name: string) => {
    if (!await caches.has(name)) return [];
    const cache = await caches.open(name);
    return (await cache.keys()).map((request) => request.url);
  }, INBOX_CACHE);
}

Deno.test(
  "the manifest parses, Chromium finds Beam installable, every page links it and its icons load at their sizes",
  browserTest,
  async () => {
    const beam = await startBeam();
    const browser = await launchBrowser({ origin: beam.url });
    try {
      const page = await browser.newPage();
      const errors = collectPageErrors(page);
      await page.goto(beam.url);
      await page.waitForSelector("beam-island[data-hydrated]");
      await workerReady(page);

      const cdp = await page.context().newCDPSession(page);
      const got = await cdp.send("Page.getAppManifest", {});
      assert.equal(got.url, `${beam.url}${MANIFEST_PATH}`);
      assert.deepEqual(got.errors, []);
      const manifest = JSON.parse(got.data ?? "null");
      assert.equal(manifest.short_name, "Beam");
      assert.equal(manifest.start_url, "/");
      assert.equal(manifest.scope, "/");
      assert.equal(manifest.display, "standalone");
      assert.deepEqual(manifest.share_target, {
        action: SHARE_ACTION,
        method: "POST",
        enctype: "multipart/form-data",
        params: {
          title: "title",
          text: "text",
          url: "url",
          files: [{ name: "files", accept: ["*/*"] }],
        },
      });
      // What Chromium made of it.
      const parsed = (got as unknown as {
        manifest: {
          display: string;
          startUrl: string;
          scope: string;
          themeColor: string;
          backgroundColor: string;
          shareTarget: { action: string; method: string };
        };
      }).manifest;
      assert.equal(parsed.display, "kStandalone");
      assert.equal(parsed.startUrl, `${beam.url}/`);
      assert.equal(parsed.scope, `${beam.url}/`);
      assert.equal(parsed.backgroundColor, "rgba(246,247,251,1)");
      assert.equal(parsed.themeColor, "rgba(246,247,251,1)");
      assert.equal(parsed.shareTarget.action, `${beam.url}${SHARE_ACTION}`);
      assert.equal(parsed.shareTarget.method, "kPost");
      const installable = await cdp.send("Page.getInstallabilityErrors");
      assert.deepEqual(installable.installabilityErrors, []);

      // Served as a manifest, and linked from the send page, a receive
      // page and the not-found page.
      const served = await fetch(`${beam.url}${MANIFEST_PATH}`);
      assert.equal(
        served.headers.get("content-type"),
        "application/manifest+json",
      );
      await served.body?.cancel();
      for (const path of ["/", "/r/AAAAAAAAAAAAAAAA", "/no-such-page"]) {
        const html = await (await fetch(`${beam.url}${path}`)).text();
        assert.ok(
          html.includes(`<link rel="manifest" href="${MANIFEST_PATH}">`),
          `${path} links the manifest`,
        );
      }

      // Each icon loads, as an image of the size the manifest gives.
      const icons = await page.evaluate(
        (list: { src: string }[]) =>
          Promise.all(
            list.map(({ src }) =>
              new Promise<string>((resolve, reject) => {
                const image = new Image();
                image.onload = () =>
                  resolve(`${image.naturalWidth}x${image.naturalHeight}`);
                image.onerror = () => reject(new Error(`${src} did not load`));
                image.src = src;
              })
            ),
          ),
        manifest.icons,
      );
      assert.equal(icons.length, manifest.icons.length);
      for (const [i, icon] of manifest.icons.entries()) {
        if (icon.sizes === "any") {
          assert.equal(icon.type, "image/svg+xml");
          assert.notEqual(icons[i], "0x0");
        } else {
          assert.equal(icons[i], icon.sizes, icon.src);
        }
      }
      const purposes = manifest.icons.map((icon: { purpose?: string }) =>
        icon.purpose ?? "any"
      );
      assert.ok(purposes.includes("maskable"));
      for (const size of ["192x192", "512x512"]) {
        assert.ok(
          manifest.icons.some((icon: { sizes: string; purpose?: string }) =>
            icon.sizes === size && icon.purpose === undefined
          ),
          size,
        );
      }

      // The browser's colour around the page follows the scheme.
      for (const scheme of ["light", "dark"] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        const colors = await page.evaluate(() => {
          const meta = [...document.querySelectorAll<HTMLMetaElement>(
            "meta[name=theme-color]",
          )].find((m) => matchMedia(m.media).matches);
          return {
            theme: meta?.content,
            background: getComputedStyle(document.body).backgroundColor,
          };
        });
        const [r, g, b] = colors.theme!.slice(1).match(/../g)!.map((h) =>
          parseInt(h, 16)
        );
        assert.equal(colors.background, `rgb(${r}, ${g}, ${b})`, scheme);
        await screenshot(page, `send-${scheme}`);
      }
      assert.deepEqual(errors.messages, []);
    } finally {
      await browser.close();
      await beam.stop();
    }
  },
);

Deno.test(
  "a file shared into Beam from another app is shared from the send page, and a receiver gets it byte-identical",
  browserTest,
  async () => {
    const beam = await startBeam();
    const browser = await launchBrowser({ origin: beam.url });
    const dir = await Deno.makeTempDir({ prefix: "beam-pwa-" });
    try {
      const file = await makeFile(dir, "holiday clip 🎬.mp4", 6_000_000, 3);
      // The first visit installs the worker.
      const sender = await browser.newPage();
      const errors = collectPageErrors(sender);
      await sender.goto(beam.url);
      await sender.waitForSelector("beam-island[data-hydrated]");
      await workerReady(sender);

      const answer = await shareFromAnotherApp(sender, { files: [file.path] });
      // The worker answered: the file never went to the server.
      assert.deepEqual(answer, { status: 303, fromServiceWorker: true });
      const link = await sender.locator("#share-link").inputValue({
        timeout: 30_000,
      });
      assert.match(link, SHARE_LINK);
      assert.deepEqual(
        await sender.locator(".file-list .name").allInnerTexts(),
        [file.name],
      );
      // Taken once: the address no longer names it, the inbox is empty.
      assert.equal(sender.url(), `${beam.url}/`);
      assert.deepEqual(await inboxKeys(sender), []);
      await screenshot(sender, "shared-file");

      const receiver = await browser.newPage();
      await receiver.addInitScript(PICKER_STUB);
      await receiver.goto(link);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await receiver.waitForSelector(".phase-done, .phase-failed", {
        timeout: 60_000,
      });
      assert.deepEqual(await opfsSha256(receiver, file.name), {
        size: file.size,
        sha256: file.sha256,
      });
      await screenshot(receiver, "shared-file-received");
      assert.deepEqual(errors.messages, []);
    } finally {
      await browser.close();
      await beam.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "a title, text and link shared into Beam are shared as text, each said once",
  browserTest,
  async () => {
    const beam = await startBeam();
    const browser = await launchBrowser({ origin: beam.url });
    try {
      const sender = await browser.newPage();
      const errors = collectPageErrors(sender);
      await sender.goto(beam.url);
      await sender.waitForSelector("beam-island[data-hydrated]");
      await workerReady(sender);

      const answer = await shareFromAnotherApp(sender, {
        title: "Trail map",
        text: "Meet at the start: https://example.com/map?at=9",
        url: "https://example.com/map?at=9",
      });
      assert.deepEqual(answer, { status: 303, fromServiceWorker: true });
      const link = await sender.locator("#share-link").inputValue({
        timeout: 30_000,
      });
      assert.match(link, SHARE_LINK);
      await sender.getByText(/^Sharing text/).waitFor();
      await screenshot(sender, "shared-text");

      const receiver = await browser.newPage();
      await receiver.goto(link);
      const shown = receiver.locator(".shared-text pre");
      await shown.waitFor();
      assert.equal(
        await shown.textContent(),
        "Trail map\nMeet at the start: https://example.com/map?at=9",
      );
      assert.deepEqual(errors.messages, []);
    } finally {
      await browser.close();
      await beam.stop();
    }
  },
);

Deno.test(
  "before the worker is installed the server keeps nothing shared, the page says to share again, and sharing again works",
  browserTest,
  async () => {
    const beam = await startBeam();
    const browser = await launchBrowser({ origin: beam.url });
    const dir = await Deno.makeTempDir({ prefix: "beam-pwa-" });
    try {
      const file = await makeFile(dir, "notes.pdf", 3_000_000, 5);
      // Straight to the server, as a client: the files are not taken.
      const form = new FormData();
      form.append("files", new File([await Deno.readFile(file.path)], "a"));
      const direct = await fetch(`${beam.url}${SHARE_ACTION}`, {
        method: "POST",
        body: form,
        redirect: "manual",
      });
      assert.equal(direct.status, 303);
      assert.equal(direct.headers.get("location"), "/?shared=missed");
      await direct.body?.cancel();
      const get = await fetch(`${beam.url}${SHARE_ACTION}`, {
        redirect: "manual",
      });
      assert.equal(get.status, 303);
      assert.equal(get.headers.get("location"), "/");
      await get.body?.cancel();

      // A phone whose Beam never ran its worker (a page that registers
      // none: the not-found page).
      const page = await browser.newPage();
      await page.goto(`${beam.url}/no-such-page`);
      const first = await shareFromAnotherApp(page, { files: [file.path] });
      assert.deepEqual(first, { status: 303, fromServiceWorker: false });
      const alert = page.getByRole("alert");
      await alert.filter({ hasText: SHARE_NOTES.missed }).waitFor();
      assert.equal(await page.locator("#share-link").count(), 0);
      assert.equal(page.url(), `${beam.url}/`);
      await screenshot(page, "missed");
      assert.deepEqual(await phoneViolations(page), []);

      // That visit installed the worker: sharing again works.
      await workerReady(page);
      const errors = collectPageErrors(page);
      const second = await shareFromAnotherApp(page, { files: [file.path] });
      assert.deepEqual(second, { status: 303, fromServiceWorker: true });
      assert.match(
        await page.locator("#share-link").inputValue({ timeout: 30_000 }),
        SHARE_LINK,
      );
      assert.equal(await alert.innerText(), "");
      assert.deepEqual(errors.messages, []);
    } finally {
      await browser.close();
      await beam.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
