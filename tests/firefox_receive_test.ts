/**
 * End to end: a receiver without the save picker (Firefox, and Chromium with
 * the picker removed) saves through the service worker's streamed download,
 * which the page starts in a hidden iframe. Starting it must not navigate
 * the receiving page: no "leave this page?" dialog, the page's signaling
 * socket stays open until the page is done, its peer id never changes, and
 * the sender shows exactly one row for the receiver, under that id, done.
 *
 * And when signaling does drop: a receiver that loses its socket and its
 * connection resumes under a new peer id, and the sender still shows one
 * row for it (the receiver's sealed session id, docs/protocol.md); a sender
 * that loses its socket finishes the transfer and keeps the row in view.
 */

import assert from "node:assert/strict";
import { BROWSER_NAMES, type BrowserKind } from "./_helpers/test_page.ts";
import { collectPageErrors } from "./_helpers/browser.ts";
import {
  crossSetup,
  hashFile,
  makeFile,
  NO_PICKERS,
  openIn,
  shareIn,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/**
 * Records, in the page, every id the signaling server assigned and every
 * close of a signaling socket (code, and the page's phase then), so a test
 * can tell whether the page lost its socket or its peer id mid-transfer.
 */
const SIGNAL_PROBE = `(() => {
  if (!location.pathname.startsWith("/r/")) return;
  const record = { ids: [], closes: [] };
  globalThis.__beamSignal = record;
  const Native = globalThis.WebSocket;
  globalThis.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        try {
          const frame = JSON.parse(event.data);
          if (frame[0] === "assign") record.ids.push(frame[1]);
        } catch {}
      });
      this.addEventListener("close", (event) => {
        const status = document.querySelector(".receive-panel [role=status]");
        record.closes.push({ code: event.code, phase: status?.className ?? "" });
      });
    }
  };
})();`;

interface SignalRecord {
  ids: string[];
  closes: { code: number; phase: string }[];
}

const CASES: readonly { to: BrowserKind; size: number; seed: number }[] = [
  { to: "firefox", size: 24 << 20, seed: 5 },
  { to: "chromium", size: 16 << 20, seed: 6 },
];

for (const { to, size, seed } of CASES) {
  Deno.test(
    `${
      BROWSER_NAMES[to]
    } without a save picker receives from Chromium through the service worker without leaving the page: no dialog, one peer id, one row on the sender`,
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, `to ${to}.bin`, size, seed);
        const { page: sender, link } = await shareIn(s, "chromium", [file]);
        const senderErrors = collectPageErrors(sender);
        const receiver = await openIn(s, to, link, NO_PICKERS + SIGNAL_PROBE);
        const receiverErrors = collectPageErrors(receiver);
        await receiver.clickButton("Download");
        await receiver.waitFor(".phase-done, .phase-failed", {
          timeout: 90_000,
        });
        const text = await receiver.text(".receive-panel [role=status]");
        assert.match(text, /Saved/, `the ${to} receiver says: ${text}`);
        const path = await (await s.browser(to)).waitForDownload(file.name, {
          size: file.size,
        });
        assert.equal(await hashFile(path), file.sha256);

        assert.deepEqual(receiver.dialogs, [], "dialogs on the receive page");
        const signal = await receiver.evaluate(() =>
          (globalThis as unknown as { __beamSignal: SignalRecord })
            .__beamSignal
        );
        assert.equal(signal.ids.length, 1, `peer ids: ${signal.ids}`);
        // The one close is the page's own, once done.
        assert.ok(
          signal.closes.every((c) =>
            c.code === 1000 && c.phase.includes("phase-done")
          ),
          JSON.stringify(signal.closes),
        );

        // One row, the receiver's, under its one id, done.
        await sender.waitFor(".receiver .percent[data-percent='100']");
        // A stale row would come a moment after: give it time to show.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const rows = await sender.evaluate(() =>
          [...document.querySelectorAll(".receiver")].map((row) => [
            row.getAttribute("data-receiver"),
            row.getAttribute("data-state"),
          ])
        );
        assert.deepEqual(rows, [[signal.ids[0], "done"]]);
        assert.deepEqual(sender.dialogs, [], "dialogs on the send page");
        assert.deepEqual(senderErrors.messages, []);
        assert.deepEqual(receiverErrors.messages, []);
        // The viewport's picture: bring the rows into it.
        await sender.evaluate(() =>
          document.querySelector(".receivers-box")?.scrollIntoView()
        );
        await sender.screenshot(
          new URL(`../tmp/sender_after_${to}_receive.png`, import.meta.url)
            .pathname,
        );
      } finally {
        await s.close();
      }
    },
  );
}

/**
 * In the receiving page: once `CUT_AT` % is written, closes the page's
 * signaling socket and then its data channel, as a network that drops both
 * would; the page resumes under the new peer id signaling gives it.
 */
const CUT_AT = 20;
const CUT_BOTH = `(() => {
  if (!location.pathname.startsWith("/r/")) return;
  const sockets = [];
  const channels = [];
  const NativeSocket = globalThis.WebSocket;
  globalThis.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  };
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const channel = create.apply(this, args);
    channels.push(channel);
    return channel;
  };
  const timer = setInterval(() => {
    const bar = document.querySelector(".receive-panel .percent");
    if (Number(bar?.getAttribute("data-percent") ?? 0) < ${CUT_AT}) return;
    clearInterval(timer);
    for (const socket of sockets) socket.close(4000, "Cut by the test");
    setTimeout(() => { for (const channel of channels) channel.close(); }, 50);
  }, 5);
})();`;

/** In the sending page: the most receiver rows it ever showed at once. */
const MOST_ROWS = `(() => {
  globalThis.__mostRows = 0;
  setInterval(() => {
    const rows = document.querySelectorAll(".receiver").length;
    globalThis.__mostRows = Math.max(globalThis.__mostRows, rows);
  }, 5);
})();`;

const RESUME_PAIRS: readonly (readonly [BrowserKind, BrowserKind])[] = [
  ["chromium", "firefox"],
  ["chromium", "chromium"],
  ["firefox", "firefox"],
];

for (const [from, to] of RESUME_PAIRS) {
  Deno.test(
    `a ${
      BROWSER_NAMES[to]
    } receiver that loses signaling and its connection mid-file resumes under a new peer id, and the ${
      BROWSER_NAMES[from]
    } sender keeps one row for it`,
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, `resumed ${to}.bin`, 48 << 20, 9);
        const { page: sender, link } = await shareIn(
          s,
          from,
          [file],
          MOST_ROWS,
        );
        const receiver = await openIn(
          s,
          to,
          link,
          NO_PICKERS + SIGNAL_PROBE + CUT_BOTH,
        );
        await receiver.clickButton("Download");
        await receiver.waitFor(".phase-done, .phase-failed", {
          timeout: 120_000,
        });
        const text = await receiver.text(".receive-panel [role=status]");
        assert.match(text, /Saved/, `the ${to} receiver says: ${text}`);
        const path = await (await s.browser(to)).waitForDownload(file.name, {
          size: file.size,
        });
        assert.equal(await hashFile(path), file.sha256);
        const signal = await receiver.evaluate(() =>
          (globalThis as unknown as { __beamSignal: SignalRecord })
            .__beamSignal
        );
        // It did resume, under a second id.
        assert.equal(signal.ids.length, 2, `peer ids: ${signal.ids}`);
        await sender.waitFor(".receiver[data-state='done']");
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const rows = await sender.evaluate(() =>
          [...document.querySelectorAll(".receiver")].map((row) => [
            row.getAttribute("data-receiver"),
            row.getAttribute("data-state"),
          ])
        );
        assert.deepEqual(rows, [[signal.ids[1], "done"]]);
        assert.equal(
          await sender.evaluate(() =>
            (globalThis as unknown as { __mostRows: number }).__mostRows
          ),
          1,
          "the most rows the sender showed at once",
        );
        assert.deepEqual(receiver.dialogs, [], "dialogs on the receive page");
        await sender.evaluate(() =>
          document.querySelector(".receivers-box")?.scrollIntoView()
        );
        await sender.screenshot(
          new URL(
            `../tmp/${from}_sender_after_${to}_resume.png`,
            import.meta.url,
          )
            .pathname,
        );
      } finally {
        await s.close();
      }
    },
  );
}

/**
 * In the sending page: once its one receiver is `CUT_AT` % through, closes
 * the page's signaling socket (the link stops working; the transfer must
 * not).
 */
const CUT_SENDER_SIGNAL = `(() => {
  if (location.pathname !== "/") return;
  const sockets = [];
  const NativeSocket = globalThis.WebSocket;
  globalThis.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  };
  const timer = setInterval(() => {
    const bar = document.querySelector(".receiver .percent");
    if (Number(bar?.getAttribute("data-percent") ?? 0) < ${CUT_AT}) return;
    clearInterval(timer);
    for (const socket of sockets) socket.close(4000, "Cut by the test");
  }, 5);
})();`;

for (const from of ["firefox", "chromium"] as const) {
  Deno.test(
    `a ${
      BROWSER_NAMES[from]
    } sender whose signaling drops mid-file finishes the transfer and keeps its row in view`,
    browserTest,
    async () => {
      const s = await crossSetup();
      try {
        const file = await makeFile(s.dir, `from ${from}.bin`, 48 << 20, 10);
        const { page: sender, link } = await shareIn(
          s,
          from,
          [file],
          CUT_SENDER_SIGNAL,
        );
        const receiver = await openIn(s, "chromium", link);
        await receiver.clickButton("Download");
        await receiver.waitFor(".phase-done, .phase-failed", {
          timeout: 120_000,
        });
        const text = await receiver.text(".receive-panel [role=status]");
        assert.match(text, /Saved/, `the receiver says: ${text}`);
        const path = await (await s.browser("chromium")).waitForDownload(
          file.name,
          { size: file.size },
        );
        assert.equal(await hashFile(path), file.sha256);
        // The sender says its link stopped working, and still shows the
        // transfer, done.
        assert.match(
          await sender.text(".send-panel [role=alert]"),
          /no longer works/,
        );
        await sender.waitFor(".receiver[data-state='done']");
        assert.equal(await sender.count(".receiver"), 1);
      } finally {
        await s.close();
      }
    },
  );
}
