/**
 * Resume in real browsers: the peer connection is cut mid-transfer, the
 * receiver reconnects through signaling and continues from the last byte it
 * wrote, and the file still arrives byte-identical.
 */

import assert from "node:assert/strict";
import {
  makeFile,
  open,
  opfsSha256,
  PICKER_STUB,
  setup,
  share,
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

for (const side of ["sender", "receiver"] as const) {
  Deno.test(
    `a transfer resumes after the ${side}'s peer connection drops`,
    browserTest,
    async () => {
      const s = await setup();
      try {
        const file = await makeFile(s.dir, "resume.bin", 96 * 1024 * 1024, 31);
        const { page: sender, link } = await share(s, [file], SPY);
        const receiver = await open(s, link, PICKER_STUB + SPY);
        await receiver.waitForSelector(".phase-ready");
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
        await receiver.getByRole("button", { name: "Download", exact: true })
          .click();
        await receiver.waitForFunction(
          () => {
            const p = document.querySelector(".percent");
            return Number(p?.getAttribute("data-percent")) >= 30;
          },
          undefined,
          { timeout: 60_000 },
        );
        const cut = side === "sender" ? sender : receiver;
        await cut.evaluate(() => {
          for (
            const pc
              of (globalThis as unknown as { __pcs: RTCPeerConnection[] }).__pcs
          ) pc.close();
        });
        await receiver.waitForSelector(".phase-done, .phase-failed", {
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
        assert.match(
          await receiver.locator("[role=status]").innerText(),
          /Saved/,
        );
        assert.deepEqual(await opfsSha256(receiver, "resume.bin"), {
          size: file.size,
          sha256: file.sha256,
        });
        const sent = await sender.evaluate(() =>
          (globalThis as unknown as { __binarySent: number }).__binarySent
        );
        const resent = sent - file.size;
        console.log(`${side} cut: re-sent ${resent} bytes of ${file.size}`);
        assert.ok(resent >= 0 && resent <= WINDOW, `re-sent ${resent} bytes`);
        await sender.locator(".receiver[data-state='done']").waitFor();
      } finally {
        await s.close();
      }
    },
  );
}
