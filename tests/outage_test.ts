/**
 * Transfers outlive the signaling server (issue #14): `main.ts` as a real
 * process, killed with SIGKILL (its whole process group) mid-transfer and
 * started again on the same port with the same `SIGNAL_SECRET`. The data
 * channel is browser to browser, so the transfer goes on; the pages
 * reconnect by themselves and take their ids back, so the share link keeps
 * working.
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { collectPageErrors, launchBrowser } from "./_helpers/browser.ts";
import { type BeamProcess, startBeam } from "./_helpers/beam.ts";
import { freePort } from "./_helpers/process.ts";
import {
  makeFile,
  open,
  opfsSha256,
  type Setup,
  shareOn,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const MiB = 1024 * 1024;

/** A Beam process on a port of its own that can be killed and restarted. */
async function restartable() {
  const env = {
    PORT: String(freePort()),
    SIGNAL_SECRET: "outage-test-secret",
  };
  let beam: BeamProcess | null = await startBeam(env);
  const url = beam.url;
  const browser = await launchBrowser({ origin: url });
  const dir = await Deno.makeTempDir({ prefix: "beam-outage-" });
  // What share() and open() need of a setup: the origin and the browser.
  const s = { server: { url }, browser, dir } as unknown as Setup;
  return {
    s,
    url,
    /** Kills the whole process group at once, as a crash would. */
    async kill() {
      await beam?.kill();
      beam = null;
    },
    async start() {
      beam = await startBeam(env);
    },
    async close() {
      await browser.close();
      await beam?.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Clicks Download and waits for the receive page to say it saved. */
async function download(page: Page, timeout = 120_000): Promise<void> {
  await page.getByRole("button", { name: "Download", exact: true }).click();
  await page.waitForSelector(".phase-done, .phase-failed", { timeout });
  const text = await page.locator(".receive-panel [role=status]").innerText();
  assert.match(text, /Saved/, `receiver says: ${text}`);
}

/** Saves a screenshot into `BEAM_SCREENSHOTS` when that is set. */
async function screenshot(page: Page, name: string): Promise<void> {
  const dir = Deno.env.get("BEAM_SCREENSHOTS");
  if (dir) await page.screenshot({ path: `${dir}/${name}`, fullPage: true });
}

/** The receive page's percent, as it shows it. */
function percentOf(page: Page): Promise<number> {
  return page.evaluate(() =>
    Number(
      document.querySelector(".percent")?.getAttribute("data-percent") ?? 0,
    )
  );
}

Deno.test(
  "a transfer outlives the signaling server killed and restarted on its port, and the link keeps working",
  browserTest,
  async () => {
    const beam = await restartable();
    try {
      const file = await makeFile(beam.s.dir, "outage.bin", 96 * MiB, 14);
      const sender = await beam.s.browser.newPage();
      const senderErrors = collectPageErrors(sender);
      const link = await shareOn(sender, beam.url, [file]);
      const receiver = await open(beam.s, link);
      const done = download(receiver);
      await receiver.waitForFunction(() => {
        const p = document.querySelector(".percent");
        return p !== null && Number(p.getAttribute("data-percent")) >= 5;
      });
      await beam.kill();
      const atKill = await percentOf(receiver);
      // The sender's page keeps its link and QR, and says it reconnects.
      await sender.locator("[data-reconnecting]").waitFor();
      await screenshot(sender, "outage-sender-reconnecting.png");
      assert.equal(await sender.locator("#share-link").inputValue(), link);
      assert.equal(await sender.locator(".qr, svg, canvas").count() > 0, true);
      await beam.start();
      await sender.locator("[data-reconnecting]").waitFor({
        state: "detached",
        timeout: 30_000,
      });
      assert.equal(await sender.locator("#share-link").inputValue(), link);
      await done;
      assert.deepEqual(await opfsSha256(receiver, "outage.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      console.log(`killed at ${atKill} %; the transfer went on to 100 %`);
      // Someone new opens the same link, served by the restarted server.
      const next = await open(beam.s, link);
      await download(next);
      assert.deepEqual(await opfsSha256(next, "outage.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      assert.equal(
        await sender.locator("[role=alert]").innerText(),
        "",
        "the sender shows no error",
      );
      // The browser logs each refused reconnect while the server is down;
      // nothing else may be logged.
      assert.deepEqual(
        senderErrors.messages.filter((m) =>
          !/WebSocket connection to .*\/api\/signal\?reclaim=.* failed/.test(m)
        ),
        [],
      );
    } finally {
      await beam.close();
    }
  },
);

Deno.test(
  "a receiver that opens the link while the sender is away gets the files once the sender is back",
  browserTest,
  async () => {
    const beam = await restartable();
    try {
      const file = await makeFile(beam.s.dir, "away.bin", 4 * MiB, 15);
      const sender = await beam.s.browser.newPage();
      // The sender's reconnects are turned away until the test lets them
      // through, so that it is away for as long as the test needs.
      let away = false;
      await sender.routeWebSocket(/\/api\/signal(\?|$)/, (ws) => {
        if (away) {
          ws.close({ code: 1011, reason: "Held back by the test" });
          return;
        }
        ws.connectToServer();
      });
      const link = await shareOn(sender, beam.url, [file]);
      away = true;
      await beam.kill();
      await sender.locator("[data-reconnecting]").waitFor();
      await beam.start();
      const receiver = await open(beam.s, link);
      await receiver.getByText("not connected right now").waitFor({
        timeout: 30_000,
      });
      await screenshot(receiver, "outage-receiver-waiting.png");
      away = false;
      await sender.locator("[data-reconnecting]").waitFor({
        state: "detached",
        timeout: 30_000,
      });
      await download(receiver);
      assert.deepEqual(await opfsSha256(receiver, "away.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
    } finally {
      await beam.close();
    }
  },
);
