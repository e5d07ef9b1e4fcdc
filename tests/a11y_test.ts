/**
 * Accessibility of both pages in headless Chromium: axe-core (npm, pinned
 * in deno.json, evaluated in the page by the test: the pages' CSP would
 * refuse it as a script) on every state, light and dark, desktop and phone;
 * a keyboard-only walk; what the page's one live region says; where focus
 * goes; the error screens; the finished state (where the file went, the tab
 * title, the opt-in notification). Screenshots of each state land in
 * `tmp/a11y/` (git-ignored) to be looked at.
 *
 * @module
 */

import assert from "node:assert/strict";
import { axeViolations } from "./_helpers/axe.ts";
import type { Page } from "playwright-core";
import { collectPageErrors } from "./_helpers/browser.ts";
import {
  gatedPicker,
  makeFile,
  MEMORY_ONLY,
  open,
  PICKER_STUB,
  RECORD_SAID,
  release,
  saidOn,
  setup,
  share,
  waitMidway,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

const SHOTS = new URL("../tmp/a11y/", import.meta.url);
await Deno.mkdir(SHOTS, { recursive: true });

const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
} as const;
const SCHEMES = ["light", "dark"] as const;

// A gone sender is called gone after 1.5 s, not the minute a reconnecting
// one is given (SENDER_AWAY_MS): the error screens are what is checked.
const AWAY = { SENDER_AWAY_MS: "1500" };

/**
 * Runs axe-core on `page` at each viewport and colour scheme, takes a
 * screenshot of each, and asserts no violation. `state` names the files.
 */
async function checkAxe(page: Page, state: string): Promise<void> {
  const found: string[] = [];
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    for (const colorScheme of SCHEMES) {
      await page.emulateMedia({ colorScheme });
      for (const v of await axeViolations(page)) {
        found.push(`${state} ${size} ${colorScheme}: ${v}`);
      }
      await page.screenshot({
        path: new URL(`${state}-${size}-${colorScheme}.png`, SHOTS).pathname,
        fullPage: true,
      });
    }
  }
  await page.setViewportSize(VIEWPORTS.desktop);
  await page.emulateMedia({ colorScheme: "light" });
  assert.deepEqual(found, [], found.join("\n"));
}

/** The receive page's status line. */
async function status(page: Page): Promise<string> {
  return await page.locator("#receive-status").innerText();
}

/** What is focused: tag, id and text, for assertions that read well. */
async function focused(page: Page): Promise<string> {
  return await page.evaluate(() => {
    const el = document.activeElement;
    if (el === null || el === document.body) return "body";
    const text = (el.textContent ?? "").trim().slice(0, 40);
    return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""} ${text}`
      .trim();
  });
}

/** An error screen holds its message and nothing stale under it. */
async function assertErrorScreen(
  page: Page,
  message: RegExp,
  retry: boolean,
): Promise<void> {
  await page.waitForSelector(".phase-failed");
  assert.match(await status(page), message);
  const panel = await page.locator(".receive-panel").innerText();
  assert.doesNotMatch(panel, /\bleft\b|Saving|Receiving|%/, panel);
  assert.equal(await page.locator(".receive-panel progress").count(), 0);
  assert.equal(
    await page.getByRole("button", { name: "Try again" }).count(),
    retry ? 1 : 0,
    `Try again shown: ${!retry} for ${message}`,
  );
  assert.equal(
    await page.getByRole("link", { name: "Send your own files" }).count(),
    1,
  );
  // Focus is on the screen's main action, never lost to <body>.
  assert.match(
    await focused(page),
    retry ? /^button Try again/ : /^a Send your own files/,
  );
  assert.equal(await page.title(), "Failed · Beam");
}

Deno.test(
  "every state of the send and receive pages passes axe-core, light and dark, desktop and phone",
  browserTest,
  async () => {
    const s = await setup(AWAY);
    try {
      const file = await makeFile(s.dir, "report.pdf", 8 * 1024 * 1024);
      const sender = await s.browser.newPage();
      await sender.goto(s.server.url);
      await sender.waitForSelector("beam-island[data-hydrated]");
      await checkAxe(sender, "send-empty");

      await sender.setInputFiles("#file-input", [file.path]);
      const link = await sender.locator("#share-link").inputValue();
      await checkAxe(sender, "send-sharing");

      const receiver = await open(s, link, gatedPicker(2 * 1024 * 1024));
      await receiver.getByRole("button", { name: "Download", exact: true })
        .waitFor();
      await checkAxe(receiver, "receive-ready");

      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitMidway(receiver);
      await sender.waitForSelector(".receiver[data-state=sending]");
      await checkAxe(receiver, "receive-receiving");
      await checkAxe(sender, "send-receiver-in-progress");

      await release(receiver);
      await receiver.waitForSelector(".phase-done");
      await sender.waitForSelector(".receiver[data-state=done]");
      await checkAxe(receiver, "receive-done");
      await checkAxe(sender, "send-done");

      // Each error screen of the receive page.
      const damaged = await open(s, link.slice(0, -6));
      await damaged.waitForSelector(".phase-failed");
      await checkAxe(damaged, "receive-error-damaged-link");

      const refused = await open(
        s,
        link.replace(/#[^.]+/, `#${"A".repeat(22)}`),
      );
      await refused.waitForSelector(".phase-failed");
      await checkAxe(refused, "receive-error-wrong-key");

      const denied = await open(
        s,
        link,
        `globalThis.showSaveFilePicker = async () => {
          throw new DOMException("Permission denied", "NotAllowedError");
        };`,
      );
      await denied.getByRole("button", { name: "Download", exact: true })
        .click();
      await denied.waitForSelector(".receive-panel p.error");
      await checkAxe(denied, "receive-error-save-refused");

      await sender.getByRole("button", { name: "Stop sharing" }).click();
      const inactive = await open(s, link);
      await inactive.waitForSelector(".phase-failed");
      await checkAxe(inactive, "receive-error-link-inactive");
      await checkAxe(sender, "send-stopped");

      // Signaling is gone: the send page keeps its link and reconnects.
      await sender.setInputFiles("#file-input", [file.path]);
      await sender.locator("#share-link").waitFor();
      await s.server.close();
      await sender.locator("[data-reconnecting]").waitFor();
      await checkAxe(sender, "send-reconnecting");
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "an error screen says only what is still true and offers Try again only when it can help",
  browserTest,
  async () => {
    const s = await setup(AWAY);
    try {
      const file = await makeFile(s.dir, "report.pdf", 8 * 1024 * 1024);
      const { page: sender, link } = await share(s, [file]);

      // A transfer mid-way when the sender's page closes.
      const receiver = await open(s, link, gatedPicker(2 * 1024 * 1024));
      const errors = collectPageErrors(receiver);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitMidway(receiver);
      assert.match(await receiver.title(), /^\d+ % · Beam$/);
      await sender.close({ runBeforeUnload: false });
      await release(receiver);
      // The share ended: the same link cannot work again.
      await assertErrorScreen(receiver, /no longer active/, false);
      assert.deepEqual(errors.messages, []);

      // A new share for the rest.
      const again = await share(s, [file]);
      const damaged = await open(s, again.link.slice(0, -6));
      await assertErrorScreen(damaged, /damaged/, false);

      const wrongKey = await open(
        s,
        again.link.replace(/#[^.]+/, `#${"A".repeat(22)}`),
      );
      await assertErrorScreen(wrongKey, /key|verified/, false);

      // The browser's "Permission denied" becomes what to do.
      const denied = await open(
        s,
        again.link,
        `globalThis.showSaveFilePicker = async () => {
          throw new DOMException("Permission denied", "NotAllowedError");
        };`,
      );
      await denied.getByRole("button", { name: "Download", exact: true })
        .click();
      const text = await denied.locator(".receive-panel p.error").innerText();
      assert.doesNotMatch(text, /Permission denied/);
      assert.equal(
        text,
        "The browser did not allow it. Allow downloads and file access for this site in the browser's settings, then try again.",
      );

      await again.page.getByRole("button", { name: "Stop sharing" }).click();
      const inactive = await open(s, again.link);
      await assertErrorScreen(inactive, /no longer active/, false);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "keyboard alone reaches every control, and focus follows Download to the status and the end",
  browserTest,
  async () => {
    const s = await setup(AWAY);
    try {
      const file = await makeFile(s.dir, "report.pdf", 4 * 1024 * 1024);
      const sender = await s.browser.newPage();
      await sender.addInitScript(RECORD_SAID);
      await sender.goto(s.server.url);
      await sender.waitForSelector("beam-island[data-hydrated]");
      const reached = await tabThrough(sender);
      assert.ok(
        reached.some((f) => f.startsWith("input#file-input")),
        reached.join("\n"),
      );

      // Headless Chromium has no file dialog for a key to open.
      await sender.setInputFiles("#file-input", [file.path]);
      await sender.locator("#share-link").waitFor();
      await sender.waitForFunction(() =>
        document.activeElement?.textContent === "Copy link"
      );
      const sharing = await tabThrough(sender);
      for (const control of [/^input#share-link/, /^button Copy link/]) {
        assert.ok(sharing.some((f) => control.test(f)), sharing.join("\n"));
      }
      assert.ok(sharing.some((f) => /^button Stop sharing/.test(f)));
      const link = await sender.locator("#share-link").inputValue();

      // "Copied" is said.
      await s.browser.context.grantPermissions(
        ["clipboard-read", "clipboard-write"],
        { origin: s.server.url },
      );
      await sender.getByRole("button", { name: "Copy link" }).focus();
      await sender.keyboard.press("Enter");
      await sender.getByRole("button", { name: "Copied" }).waitFor();
      assert.ok((await saidOn(sender)).includes("Copied the link."));

      const receiver = await open(s, link, RECORD_SAID + PICKER_STUB);
      // The file list (and its Download) comes once the sender answered.
      await receiver.getByRole("button", { name: "Download", exact: true })
        .waitFor();
      const walk = await tabThrough(receiver);
      assert.ok(walk.some((f) => /^button Download/.test(f)), walk.join("\n"));
      await receiver.getByRole("button", { name: "Download", exact: true })
        .focus();
      await receiver.keyboard.press("Enter");
      // Focus goes to the status, then stays there at the end.
      await receiver.waitForSelector(".phase-done");
      assert.match(await focused(receiver), /^p#receive-status Saved/);
      const said = await saidOn(receiver);
      assert.ok(said.includes("Ready to download."), said.join(" | "));
      assert.ok(said.at(-1)?.startsWith("Saved as report.pdf."), said.at(-1));
      // Never the speed or time left: only phases and tenths.
      for (const text of said) {
        assert.doesNotMatch(text, /\/s|left/, text);
      }
      const senderSaid = await saidOn(sender);
      assert.ok(
        senderSaid.some((t) => /: done\.$/.test(t)),
        senderSaid.join(" | "),
      );
      assert.equal(
        await receiver.locator("progress").getAttribute("aria-label"),
        "Download progress",
      );
    } finally {
      await s.close();
    }
  },
);

/** Presses Tab until focus comes round again; returns what it reached. */
async function tabThrough(page: Page): Promise<string[]> {
  await page.evaluate(() => (document.activeElement as HTMLElement)?.blur());
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab");
    const now = await focused(page);
    if (seen.includes(now)) break;
    seen.push(now);
  }
  return seen;
}

Deno.test(
  "the receive page's tab title shows progress and Done, and the finished text says where the file went",
  browserTest,
  async () => {
    const s = await setup(AWAY, true);
    try {
      const file = await makeFile(s.dir, "report.pdf", 4 * 1024 * 1024);
      const { link } = await share(s, [file]);

      const picked = await open(
        s,
        link,
        RECORD_SAID + gatedPicker(1024 * 1024),
      );
      const original = await picked.title();
      assert.doesNotMatch(original, /%|Done/);
      await picked.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitMidway(picked);
      // The percent may still move until the gate holds: the title follows
      // it (reading one and then the other could fall between two steps).
      await picked.waitForFunction(() =>
        document.title ===
          `${
            document.querySelector(".receive-panel .percent")?.getAttribute(
              "data-percent",
            )
          } % · Beam`
      );
      assert.match(await picked.title(), /^[1-9]\d? % · Beam$/);
      await release(picked);
      await picked.waitForSelector(".phase-done");
      assert.equal(await picked.title(), "Done · Beam");
      assert.equal(
        await status(picked),
        "Saved as report.pdf. Every file's checksum verified.",
      );
      const said = await saidOn(picked);
      assert.ok(said.includes("Receiving…"), said.join(" | "));
      assert.ok(said.some((t) => /^\d0 % received\.$/.test(t)), said.join());

      const memory = await open(s, link, MEMORY_ONLY);
      await memory.getByRole("button", { name: "Download", exact: true })
        .click();
      await memory.waitForSelector(".phase-done");
      assert.equal(
        await status(memory),
        "Saved to your Downloads folder as report.pdf. Every file's checksum verified.",
      );
      assert.equal(await memory.title(), "Done · Beam");
      await checkAxe(memory, "receive-done-downloads");
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "a notification is shown when a hidden page's download ends, only once asked for",
  browserTest,
  async () => {
    const s = await setup(AWAY);
    try {
      await s.browser.context.grantPermissions(["notifications"], {
        origin: s.server.url,
      });
      const file = await makeFile(s.dir, "report.pdf", 4 * 1024 * 1024);
      const { link } = await share(s, [file]);
      // The page believes it is hidden once the test says so, and every
      // notification it makes is recorded (and still made).
      const hidden = `
        globalThis.__hidden = false;
        Object.defineProperty(Document.prototype, "visibilityState", {
          get: () => globalThis.__hidden ? "hidden" : "visible",
        });
        globalThis.__notes = [];
        const Real = globalThis.Notification;
        globalThis.Notification = class extends Real {
          constructor(title, options) {
            super(title, options);
            globalThis.__notes.push({ title, body: options?.body });
          }
        };
      `;
      const notes = (page: Page) =>
        page.evaluate(() =>
          (globalThis as unknown as { __notes: unknown[] }).__notes
        );

      // Not asked for: nothing, even hidden.
      const quiet = await open(s, link, hidden + gatedPicker(1024 * 1024));
      await quiet.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitMidway(quiet);
      await quiet.evaluate(() =>
        (globalThis as unknown as { __hidden: boolean }).__hidden = true
      );
      await release(quiet);
      await quiet.waitForSelector(".phase-done");
      assert.deepEqual(await notes(quiet), []);

      const asked = await open(s, link, hidden + gatedPicker(1024 * 1024));
      await asked.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitMidway(asked);
      await asked.getByRole("button", { name: "Notify me when done" }).click();
      await asked.locator("[data-notify]").waitFor();
      await checkAxe(asked, "receive-receiving-notify");
      await asked.evaluate(() =>
        (globalThis as unknown as { __hidden: boolean }).__hidden = true
      );
      await release(asked);
      await asked.waitForSelector(".phase-done");
      assert.deepEqual(await notes(asked), [{
        title: "Beam: download finished",
        body: "Saved as report.pdf. Every file's checksum verified.",
      }]);
    } finally {
      await s.close();
    }
  },
);

Deno.test(
  "the add-files question and a receiver's added-files notice pass axe-core; focus goes to Add, Escape cancels",
  browserTest,
  async () => {
    const s = await setup(AWAY);
    try {
      const first = await makeFile(s.dir, "first.bin", 3 * 1024 * 1024, 1);
      const added = await makeFile(s.dir, "added.bin", 32 * 1024, 2);
      const { page: sender, link } = await share(s, [first]);
      // Saving when files are added: it hears of them (a page that is done
      // has left signaling, as the contract has it).
      const receiver = await open(s, link, gatedPicker(1024 * 1024));
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await waitMidway(receiver);

      // Files chosen while sharing: asked in the page, Add focused.
      await sender.setInputFiles("#file-input", [added.path]);
      const dialog = sender.getByRole("dialog");
      await dialog.waitFor();
      await sender.waitForFunction(() =>
        document.activeElement?.textContent === "Add to this share"
      );
      await checkAxe(sender, "send-add-dialog");
      await sender.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      assert.equal(await sender.locator(".file-list li").count(), 1);

      await sender.setInputFiles("#file-input", [added.path]);
      await dialog.getByRole("button", { name: "Add to this share" }).click();
      await dialog.waitFor({ state: "detached" });
      await receiver.locator("[data-added]").waitFor();
      await checkAxe(receiver, "receive-files-added-saving");
      await release(receiver);
      await receiver.waitForSelector(".phase-done");
      await receiver.locator("[data-added]").waitFor();
      await checkAxe(receiver, "receive-files-added");
    } finally {
      await s.close();
    }
  },
);
