import assert from "node:assert/strict";
import * as sharing from "./sharing.ts";

Deno.test("sharing.ts gives the send page all it loads to share", () => {
  assert.deepEqual(Object.keys(sharing).sort(), [
    "IceSource",
    "SendSession",
    "describeError",
    "newSecret",
    "rtcLinks",
    "shareLink",
    "signalUrl",
  ]);
});
