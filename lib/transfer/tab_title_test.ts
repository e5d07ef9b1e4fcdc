import assert from "node:assert/strict";
import { type ReceiverProgress, sendingStatus } from "./tab_title.ts";

function row(
  phase: string,
  bytes: number,
  receiving = phase === "sending" || phase === "connecting",
): ReceiverProgress {
  return { phase, bytes, total: 200, receiving };
}

Deno.test("sendingStatus() gives the least advanced receiver in flight, in whole percent", () => {
  assert.equal(
    sendingStatus([row("sending", 150), row("sending", 85)]),
    "42 %",
  );
  assert.equal(sendingStatus([row("connecting", 0), row("done", 200)]), "0 %");
});

Deno.test("sendingStatus() ignores receivers that left or finished while others receive", () => {
  assert.equal(
    sendingStatus([row("resuming", 2), row("failed", 1), row("sending", 100)]),
    "50 %",
  );
});

Deno.test("sendingStatus() says Sent once nobody receives and someone got everything", () => {
  assert.equal(sendingStatus([row("done", 200), row("resuming", 6)]), "Sent");
});

Deno.test("sendingStatus() gives the page's own title back when nothing is in flight", () => {
  assert.equal(sendingStatus([]), null);
  assert.equal(sendingStatus([row("resuming", 6), row("waiting", 0)]), null);
});

Deno.test("sendingStatus() counts an empty share as all there", () => {
  assert.equal(
    sendingStatus([{ phase: "sending", bytes: 0, total: 0, receiving: true }]),
    "100 %",
  );
});
