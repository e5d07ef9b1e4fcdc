/**
 * Parallel connections in real browsers (lib/transfer/lanes.ts): with the
 * `beam:lanes` setting at `=3` on both pages, the receiver opens two more
 * peer connections over the first one's channel as soon as the transfer
 * starts, the sender spreads the file over all three, and the file arrives
 * byte-identical; cut mid-way, the transfer resumes, with three
 * connections again.
 */

import assert from "node:assert/strict";
import type { BrowserKind } from "./_helpers/browser.ts";
import {
  crossSetup,
  makeFile,
  openIn,
  opfsSha256,
  PICKER_STUB,
  shareIn,
} from "./_helpers/transfer.ts";
import type { TestPage } from "./_helpers/browser.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/**
 * Three connections at once, and a record of every peer connection and
 * of the binary bytes sent on each data channel.
 */
const THREE = `
  localStorage.setItem("beam:lanes", "=3");
  globalThis.__pcs = [];
  globalThis.__sent = new Map();
  const Native = RTCPeerConnection;
  globalThis.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); globalThis.__pcs.push(this); }
  };
  globalThis.__states = new Set();
  addEventListener("DOMContentLoaded", () => {
    new MutationObserver(() => {
      for (const state of document.querySelectorAll(".receiver .state")) {
        globalThis.__states.add(state.textContent);
      }
    }).observe(document.documentElement, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (typeof data !== "string") {
      const sent = globalThis.__sent;
      sent.set(this, (sent.get(this) ?? 0) + data.byteLength);
    }
    return send.call(this, data);
  };
`;

type Spied = typeof globalThis & {
  __pcs: RTCPeerConnection[];
  __sent: Map<RTCDataChannel, number>;
  __states: Set<string>;
};

/** Every text the send page's receiver rows showed as their state. */
function statesShown(page: TestPage): Promise<string[]> {
  return page.evaluate(() => [...(globalThis as Spied).__states]);
}

/** Binary bytes sent on each data channel of `page`, largest first. */
function sentPerChannel(page: TestPage): Promise<number[]> {
  return page.evaluate(() =>
    [...(globalThis as Spied).__sent.values()].sort((a, b) => b - a)
  );
}

/** Peer connections `page` made, in all. */
function connections(page: TestPage): Promise<number> {
  return page.evaluate(() => (globalThis as Spied).__pcs.length);
}

/** Waits until the receive page shows at least `percent`. */
function reaches(page: TestPage, percent: number): Promise<unknown> {
  return page.waitForFunction(
    (at) =>
      Number(
        document.querySelector(".percent")?.getAttribute("data-percent"),
      ) >= at,
    percent,
    { timeout: 60_000 },
  );
}

const CASES: [BrowserKind, string][] = [
  ["chromium", "Chromium"],
  ["firefox", "Firefox"],
];

for (const [from, name] of CASES) {
  Deno.test(
    `a file sent from ${name} over three connections arrives byte-identical in Chromium`,
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, "three.bin", 32 * 1024 * 1024, 51);
        const { page: sender, link } = await shareIn(s, from, [file], THREE);
        const receiver = await openIn(s, "chromium", link, PICKER_STUB + THREE);
        await receiver.clickButton("Download");
        await receiver.waitFor(".phase-done, .phase-failed", {
          timeout: 90_000,
        });
        assert.match(await receiver.text("[role=status]"), /Saved/);
        assert.deepEqual(await opfsSha256(receiver, "three.bin"), {
          size: file.size,
          sha256: file.sha256,
        });
        assert.equal(await connections(receiver), 3);
        // All three carried a share of the file.
        const sent = await sentPerChannel(sender);
        assert.equal(sent.length, 3, `bytes per channel: ${sent}`);
        assert.ok(
          sent.every((bytes) => bytes > 0),
          `bytes per channel: ${sent}`,
        );
        assert.ok(sent.reduce((a, b) => a + b) >= file.size);
        await sender.waitFor(".receiver[data-state='done']");
        // The sender's row said so while it sent.
        const states = await statesShown(sender);
        assert.ok(
          states.includes("sending over 3 connections"),
          `states shown: ${states.join(" | ")}`,
        );
      } finally {
        await s.close();
      }
    },
  );
}

Deno.test(
  "a transfer over three connections resumes after they drop, over three again",
  browserTest,
  async () => {
    const s = await crossSetup();
    try {
      const file = await makeFile(s.dir, "again.bin", 96 * 1024 * 1024, 52);
      const { page: sender, link } = await shareIn(
        s,
        "chromium",
        [file],
        THREE,
      );
      const receiver = await openIn(s, "chromium", link, PICKER_STUB + THREE);
      await receiver.clickButton("Download");
      await reaches(receiver, 30);
      assert.equal(await connections(receiver), 3);
      await receiver.evaluate(() => {
        for (const pc of (globalThis as Spied).__pcs) pc.close();
      });
      await receiver.waitFor(".phase-done, .phase-failed", {
        timeout: 90_000,
      });
      assert.match(await receiver.text("[role=status]"), /Saved/);
      assert.deepEqual(await opfsSha256(receiver, "again.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      // Three more after the break.
      assert.equal(await connections(receiver), 6);
      await sender.waitFor(".receiver[data-state='done']");
    } finally {
      await s.close();
    }
  },
);
