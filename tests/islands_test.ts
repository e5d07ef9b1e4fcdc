/**
 * The islands layer in a real browser: the fixture app in
 * `tests/fixtures/islands_app` is built into a temporary folder, served by
 * `createApp`, and opened in headless Chromium, which must hydrate its
 * Counter island under the app's CSP without a single console error. And
 * what Beam's own islands do with the browser beyond the page: they keep
 * the screen awake while a transfer runs, and only then.
 */

import assert from "node:assert/strict";
import { collectPageErrors, launchBrowser } from "./_helpers/browser.ts";
import { islands, routes } from "./fixtures/islands_app/beam.gen.ts";
import { TRICKY } from "./fixtures/islands_app/routes/index.tsx";
import { buildIslands } from "../lib/islands/build.ts";
import { createApp } from "../lib/http/app.ts";
import { loadConfig } from "../lib/http/config.ts";
import {
  makeFile,
  open,
  PICKER_STUB,
  setup,
  share,
  WAKE_LOCK_LOG,
} from "./_helpers/transfer.ts";

const FIXTURE = decodeURIComponent(
  new URL("./fixtures/islands_app", import.meta.url).pathname,
);

/** Builds the fixture into a fresh project folder and serves it. */
async function serveFixture() {
  const root = await Deno.makeTempDir({ prefix: "beam-islands-" });
  await Deno.mkdir(`${root}/static`);
  for (const entry of Deno.readDirSync(`${FIXTURE}/static`)) {
    await Deno.copyFile(
      `${FIXTURE}/static/${entry.name}`,
      `${root}/static/${entry.name}`,
    );
  }
  await buildIslands({ root: FIXTURE, outDir: `${root}/_build` });
  const app = await createApp({
    config: loadConfig({ ICE_SERVERS: "[]" }),
    routes,
    islands,
    root,
  });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    app.handler,
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async close() {
      app.close();
      await server.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test({
  name: "a server-rendered island hydrates in Chromium under the CSP",
  // Playwright keeps its pipe to the browser and timers of its own.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const server = await serveFixture();
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const errors = collectPageErrors(page);
      // Init scripts run outside the page's CSP; they only listen.
      await page.addInitScript(() => {
        const seen: string[] = [];
        Object.assign(globalThis, { __cspViolations: seen });
        document.addEventListener("securitypolicyviolation", (event) => {
          seen.push(`${event.violatedDirective} ${event.blockedURI}`);
        });
      });

      await t.step("the page loads with the CSP header", async () => {
        const response = await page.goto(`${server.url}/`);
        assert.equal(response?.status(), 200);
        const csp = await response?.headerValue("content-security-policy");
        assert.match(csp ?? "", /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
      });

      await t.step("the island hydrates and answers a click", async () => {
        await page.waitForSelector("beam-island[data-hydrated]", {
          timeout: 10_000,
        });
        const output = page.locator("beam-island output");
        assert.equal(await output.textContent(), "41");
        await page.click("beam-island button");
        await page.waitForFunction(
          () =>
            document.querySelector("beam-island output")?.textContent === "42",
        );
        await page.click("beam-island button");
        await page.waitForFunction(
          () =>
            document.querySelector("beam-island output")?.textContent === "43",
        );
      });

      await t.step("a prop holding </script><!-- arrives intact", async () => {
        assert.equal(await page.textContent("beam-island .label"), TRICKY);
        const state = await page.evaluate(() => ({
          scripts: [...document.scripts].map((s) => s.type || "classic"),
          comments: document.createNodeIterator(
            document,
            NodeFilter.SHOW_COMMENT,
          ).nextNode() !== null,
          islands: document.querySelectorAll("beam-island").length,
        }));
        assert.deepEqual(state, {
          scripts: ["application/json", "module"],
          comments: false,
          islands: 1,
        });
      });

      await t.step("a page without islands loads no script", async () => {
        await page.goto(`${server.url}/plain`);
        assert.equal(await page.evaluate(() => document.scripts.length), 0);
        assert.equal(await page.textContent("p"), "Nothing to hydrate here.");
      });

      await t.step("no console error and no CSP violation", async () => {
        const violations = await page.evaluate(() =>
          (globalThis as unknown as { __cspViolations: string[] })
            .__cspViolations
        );
        assert.deepEqual(violations, []);
        assert.deepEqual(errors.messages, []);
      });
    } finally {
      await browser.close();
      await server.close();
    }
  },
});

Deno.test({
  name:
    "both pages keep the screen awake while a transfer runs, and let it sleep after",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const s = await setup();
    try {
      const file = await makeFile(s.dir, "awake.bin", 8 * 1024 * 1024);
      const { page: sender, link } = await share(s, [file], WAKE_LOCK_LOG);
      const receiver = await open(s, link, PICKER_STUB + WAKE_LOCK_LOG);
      await receiver.waitForSelector(".phase-ready");
      const log = (page: typeof sender) =>
        page.evaluate(() =>
          (globalThis as unknown as { __wake: string[] }).__wake
        );
      // Nothing under way yet: nothing keeps the screen on.
      assert.deepEqual(await log(receiver), []);
      assert.deepEqual(await log(sender), []);

      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      await receiver.waitForSelector(".phase-done", { timeout: 60_000 });
      await sender.waitForSelector(".receiver[data-state='done']", {
        timeout: 60_000,
      });
      // Each page took one screen lock once the transfer was under way, and
      // released it when it ended.
      for (
        const [page, done] of [[receiver, /phase-done/], [
          sender,
          /done/,
        ]] as const
      ) {
        const seen = await log(page);
        assert.equal(seen.length, 2, seen.join("\n"));
        assert.match(seen[0], /^request screen /);
        assert.doesNotMatch(seen[0], /phase-ready|phase-done|receiver done/);
        assert.match(seen[1], /^release /);
        assert.match(seen[1], done, seen.join("\n"));
      }
      // The note that says the screen is kept awake went with the lock.
      assert.equal(await receiver.locator("[data-awake]").count(), 0);
    } finally {
      await s.close();
    }
  },
});
