import assert from "node:assert/strict";
import * as receiving from "./receiving.ts";

Deno.test("receiving.ts gives the receive page all it loads to download", () => {
  assert.deepEqual(Object.keys(receiving).sort(), [
    "FileReceiver",
    "IceSource",
    "ReceiveLanes",
    "directorySink",
    "fileHandleSink",
    "lanesAllowed",
    "lanesEager",
    "memorySink",
    "rtcLinks",
    "serviceWorkerSink",
    "zipSink",
  ]);
});
