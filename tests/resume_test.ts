/**
 * Resume in real browsers: the peer connection is cut mid-transfer, the
 * receiver reconnects through signaling and continues from the last byte it
 * wrote, and the file still arrives byte-identical. In Chromium the file is
 * saved through the save picker (stubbed with OPFS); in Firefox, which has
 * no picker, it streams through the service worker into a download.
 */

import assert from "node:assert/strict";
import { BROWSER_NAMES, BROWSERS } from "./_helpers/browser.ts";
import {
  crossSetup,
  hashFile,
  makeFile,
  NO_PICKERS,
  openIn,
  opfsSha256,
  PICKER_STUB,
  shareIn,
} from "./_helpers/transfer.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** Keeps every peer connection, and counts binary bytes sent on channels. */
const SPY = `
  globalThis.__pcs = [];
  globalThis.__binarySent = 0;
  const Native = RTCPeerConnection;
  globalThis.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); globalThis.__pcs.push(this); }
  };
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (typeof data !== "string") globalThis.__binarySent += data.byteLength;
    return send.call(this, data);
  };
`;

/** The default window of FileSender: at most this much is ever in flight. */
const WINDOW = 16 * 1024 * 1024;

for (const kind of BROWSERS) {
  for (const side of ["sender", "receiver"] as const) {
    Deno.test(
      kind === "chromium"
        ? `a transfer resumes after the ${side}'s peer connection drops`
        : `a transfer resumes after the ${side}'s peer connection drops, in ${
          BROWSER_NAMES[kind]
        } saving to a streamed download`,
      browserTest,
      async () => {
        const s = await crossSetup();
        try {
          const file = await makeFile(
            s.dir,
            "resume.bin",
            96 * 1024 * 1024,
            31,
          );
          const { page: sender, link } = await shareIn(s, kind, [file], SPY);
          const receiver = await openIn(
            s,
            kind,
            link,
            (kind === "chromium" ? PICKER_STUB : NO_PICKERS) + SPY,
          );
          await receiver.waitFor(".phase-ready");
          // Record every phase the receiver page shows.
          await receiver.evaluate(() => {
            const seen: string[] = [];
            (globalThis as unknown as { __phases: string[] }).__phases = seen;
            const status = document.querySelector("[role=status]")!;
            new MutationObserver(() =>
              seen.push(status.className + " " + status.textContent)
            )
              .observe(status, {
                attributes: true,
                childList: true,
                subtree: true,
                characterData: true,
              });
          });
          await receiver.clickButton("Download");
          await receiver.waitForFunction(
            () => {
              const p = document.querySelector(".percent");
              return Number(p?.getAttribute("data-percent")) >= 30;
            },
            { timeout: 60_000 },
          );
          const cut = side === "sender" ? sender : receiver;
          await cut.evaluate(() => {
            for (
              const pc of (globalThis as unknown as {
                __pcs: RTCPeerConnection[];
              }).__pcs
            ) pc.close();
          });
          await receiver.waitFor(".phase-done, .phase-failed", {
            timeout: 90_000,
          });
          const phases = await receiver.evaluate(() =>
            (globalThis as unknown as { __phases: string[] }).__phases
          );
          assert.ok(
            phases.some((p) =>
              p.includes("phase-resuming") && /attempt 2/.test(p)
            ),
            `phases seen: ${[...new Set(phases)].join(" | ")}`,
          );
          assert.match(await receiver.text("[role=status]"), /Saved/);
          if (kind === "chromium") {
            assert.deepEqual(await opfsSha256(receiver, "resume.bin"), {
              size: file.size,
              sha256: file.sha256,
            });
          } else {
            const path = await (await s.browser(kind)).waitForDownload(
              file.name,
              { size: file.size },
            );
            assert.equal(await hashFile(path), file.sha256);
          }
          const sent = await sender.evaluate(() =>
            (globalThis as unknown as { __binarySent: number }).__binarySent
          );
          const resent = sent - file.size;
          console.log(
            `${kind}, ${side} cut: re-sent ${resent} bytes of ${file.size}`,
          );
          assert.ok(
            resent >= 0 && resent <= WINDOW,
            `re-sent ${resent} bytes`,
          );
          await sender.waitFor(".receiver[data-state='done']");
          assert.deepEqual(receiver.dialogs, [], "dialogs on the receive page");
        } finally {
          await s.close();
        }
      },
    );
  }
}
