import assert from "node:assert/strict";
import {
  DOWNLOAD_SCOPE,
  downloadId,
  downloadUrl,
  isDownloadMessage,
  isWorkerMessage,
} from "./sw_protocol.ts";

Deno.test("downloadUrl() puts the id below the scope and downloadId() reads it back", () => {
  const url = downloadUrl(
    "https://beam.test/r/abc#key",
    DOWNLOAD_SCOPE,
    "1234",
    "résumé 1.txt",
  );
  assert.equal(
    url,
    "https://beam.test/_beam_download/1234/r%C3%A9sum%C3%A9%201.txt",
  );
  assert.equal(downloadId(new URL(url).pathname, DOWNLOAD_SCOPE), "1234");
  assert.equal(downloadId("/_beam_download/", DOWNLOAD_SCOPE), null);
  assert.equal(downloadId("/r/1234", DOWNLOAD_SCOPE), null);
});

Deno.test("isWorkerMessage() knows only the worker's messages", () => {
  for (const type of ["beam-ready", "beam-started", "beam-done"]) {
    assert.equal(isWorkerMessage({ type }), true, type);
  }
  assert.equal(isWorkerMessage({ type: "beam-download" }), false);
  assert.equal(isWorkerMessage({ type: "ready" }), false);
  assert.equal(isWorkerMessage(null), false);
  assert.equal(isWorkerMessage("beam-ready"), false);
});

Deno.test("isDownloadMessage() needs an id, headers and a stream", () => {
  const stream = new ReadableStream<Uint8Array>();
  assert.equal(
    isDownloadMessage({ type: "beam-download", id: "a", headers: [], stream }),
    true,
  );
  assert.equal(
    isDownloadMessage({ type: "beam-download", id: "a", headers: [] }),
    false,
  );
  assert.equal(
    isDownloadMessage({ type: "beam-download", id: 1, headers: [], stream }),
    false,
  );
  assert.equal(isDownloadMessage({ type: "beam-keepalive" }), false);
});
