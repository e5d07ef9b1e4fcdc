/**
 * A flood of requests at a real sender page (issue #12 item 5): anyone who
 * knows the sender's id (it is in the link's path) can ask for the file
 * list without the key. The page must stay responsive, show no row for
 * askers that never offered, put no text from the wire on screen, stay
 * connected (its answers count against its own rate limit at the server),
 * and still serve a real receiver.
 */

import assert from "node:assert/strict";
import {
  makeFile,
  open,
  opfsSha256,
  setup,
  share,
} from "./_helpers/transfer.ts";
import { closeAll, Peer, waitFor } from "./_helpers/ws.ts";
import { ANSWER_BURST, ANSWERS_PER_SECOND } from "../lib/transfer/tuning.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };
const FLOOD = 1000;
const SPOOF = "Your files were stolen: call +1 555 0100";

Deno.test(
  "a sender page under 1,000 requests stays responsive, shows no row for them, and still serves a real receiver",
  browserTest,
  async () => {
    // One address may open this many connections here; the flood is what
    // is under test, not the per-address cap.
    const s = await setup({
      MAX_PEERS_PER_IP: String(FLOOD + 10),
      MAX_PEERS: String(FLOOD + 100),
    });
    const flood: Peer[] = [];
    try {
      const file = await makeFile(s.dir, "plans.bin", 4 * 1024 * 1024, 5);
      const { page: sender, link } = await share(s, [file]);
      const senderId = new URL(link).pathname.split("/").at(-1)!;

      for (let i = 0; i < FLOOD; i++) {
        flood.push(await Peer.connect(s.server.wsUrl));
      }
      // Every asker asks, then sends a spoofed error report and progress.
      let worst = 0;
      const started = performance.now();
      for (const peer of flood) {
        peer.send(["request", senderId]);
        peer.send(["progress", senderId, { error: SPOOF }]);
        peer.send(["progress", senderId, { bytes: 1e15, total: 1e15 }]);
      }
      // The page answers a script at once while it is flooded: measure.
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await sender.evaluate(() => 0);
        worst = Math.max(worst, performance.now() - t);
      }
      console.log(
        `flood of ${FLOOD} sent in ${
          (performance.now() - started).toFixed(0)
        } ms; slowest page round trip during it ${worst.toFixed(1)} ms`,
      );
      // Answers go out at a pace; a second after the first, count them.
      // (Past 256 askers the server itself answers `peer not exists`.)
      const responses = new Set<Peer>();
      const drain = async () => {
        for (const peer of flood) {
          while (peer.pending > 0) {
            if ((await peer.next())[0] === "response") responses.add(peer);
          }
        }
      };
      const answered = () => responses.size;
      await waitFor(
        async () => {
          await drain();
          return answered() > 0;
        },
        10_000,
        "a first answer",
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await drain();
      console.log(`askers answered: ${answered()} of ${FLOOD}`);
      // The burst, and what the pace allows in the second after it.
      assert.ok(
        answered() <= ANSWER_BURST + ANSWERS_PER_SECOND * 2,
        `${answered()} answers`,
      );
      assert.equal(await sender.locator(".receiver").count(), 0);
      assert.equal(
        (await sender.locator("body").innerText()).includes("stolen"),
        false,
      );
      // Still connected: no "connection to the server dropped" message.
      assert.equal(
        await sender.locator("[role=alert]").innerText(),
        "",
      );
      await closeAll(...flood.splice(0));

      // A real receiver is served.
      const receiver = await open(s, link);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click({ timeout: 30_000 });
      await receiver.waitForSelector(".phase-done", { timeout: 60_000 });
      assert.deepEqual(await opfsSha256(receiver, "plans.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      assert.equal(await sender.locator(".receiver").count(), 1);
    } finally {
      await closeAll(...flood);
      await s.close();
    }
  },
);
