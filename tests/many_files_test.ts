/**
 * What signaling carries for a share of many files, and what the server
 * can learn from it (issue #12, items 7 and 10): the file list crosses in
 * sealed, padded pages, every frame under the server's cap, and `progress`
 * reports are sealed for their pair. Sessions over the in-memory fakes, and
 * the same over the real server (its 64 KiB cap and rate limit), with
 * in-memory peer connections.
 */

import assert from "node:assert/strict";
import { memoryFile, type RelayedFrame } from "../lib/transfer/fakes.ts";
import type { SourceFile } from "../lib/transfer/sender.ts";
import { DEFAULT_MAX_FRAME_BYTES, EVENT } from "../lib/signal/protocol.ts";
import { startShare, until } from "./_helpers/sessions.ts";
import { startServer } from "./_helpers/server.ts";
import { LIST_TOO_LONG } from "../lib/transfer/manifest.ts";
import { MAX_SHARED_FILES } from "../lib/transfer/tuning.ts";

/** `count` files of one to three bytes with names that do not compress. */
function tinyFiles(count: number): SourceFile[] {
  return Array.from({ length: count }, (_, i) =>
    memoryFile(
      `${String(i).padStart(5, "0")}-${crypto.randomUUID().slice(0, 12)}.txt`,
      new Uint8Array(1 + i % 3).fill(i % 256),
    ));
}

/** A relayed frame as the server reads it off the socket, in bytes. */
function wireBytes(frame: RelayedFrame): number {
  return new TextEncoder().encode(
    JSON.stringify([frame.event, frame.to, frame.payload]),
  ).byteLength;
}

Deno.test("a share of 5,000 files reaches the receiver whole, in frames under the server's cap", async () => {
  const files = tinyFiles(5000);
  const share = await startShare(1, { files });
  const r = share.receiver();
  const manifest = await r.session.open();
  assert.deepEqual(
    manifest.files.map((f) => f.name),
    files.map((f) => f.name),
  );
  const responses = share.signal.relayed.filter((f) =>
    f.event === EVENT.response
  );
  assert.ok(responses.length > 1, `${responses.length} response frame(s)`);
  for (const frame of share.signal.relayed) {
    const bytes = wireBytes(frame);
    assert.ok(bytes < 48 * 1024, `${frame.event}: ${bytes} bytes`);
    assert.ok(bytes < DEFAULT_MAX_FRAME_BYTES);
  }
  await r.session.download(r.sink);
  assert.equal(r.sink.files.size, 5000);
  assert.deepEqual(r.sink.bytes(files[4999].name), new Uint8Array(2).fill(135));
  share.sender.stop();
});

Deno.test("the sealed file list's length does not tell how many files: 1 and 10 files cross in the same length", async () => {
  const lengths: number[] = [];
  for (const count of [1, 10]) {
    const share = await startShare(1, { files: tinyFiles(count) });
    const r = share.receiver();
    await r.session.open();
    const [response, ...more] = share.signal.relayed.filter((f) =>
      f.event === EVENT.response
    );
    assert.equal(more.length, 0);
    lengths.push(wireBytes(response));
    r.session.close();
    share.sender.stop();
  }
  assert.equal(lengths[0], lengths[1], lengths.join(" against "));
});

Deno.test("progress crosses the server sealed: no byte count, no size, and every report the same length", async () => {
  const share = await startShare(3 * 1024 * 1024);
  // Slow enough for several reports, 250 ms apart.
  share.links.bytesPerTick = 16 * 1024;
  const r = share.receiver();
  await r.session.open();
  await r.session.download(r.sink);
  // The first report, and the last (the whole share), sent as it ends.
  const reports = () =>
    share.signal.relayed.filter((f) => f.event === EVENT.progress);
  await until(() => reports().length >= 2, "two reports");
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const total = String(3 * 1024 * 1024);
  for (const report of reports()) {
    const text = JSON.stringify(report.payload);
    assert.ok(!/bytes|total/.test(text), text);
    assert.ok(!text.includes(total), text);
  }
  assert.equal(
    new Set(reports().map((f) => JSON.stringify(f.payload).length)).size,
    1,
  );
  share.sender.stop();
});

Deno.test("a relay cannot fail a receiver's row with a forged progress error, nor with another receiver's", async () => {
  const share = await startShare(2 * 1024 * 1024);
  share.links.bytesPerTick = 256 * 1024;
  // Receiver A's answer is altered on the way: A refuses it and reports
  // the error to the sender, which the relay keeps.
  const a = share.receiver();
  await a.session.open();
  const aId = share.signal.relayed.find((f) => f.event === EVENT.request)!
    .from;
  let forged: unknown[] = [{ error: "This connection could not be verified" }];
  share.signal.tamper = (frame) => {
    if (frame.event === EVENT.answer && frame.to === aId) {
      return {
        ...frame,
        payload: JSON.parse(
          JSON.stringify(frame.payload).replace("v=0", "v=1"),
        ),
      };
    }
    if (frame.event === EVENT.progress && frame.from === aId) {
      forged = [...forged, frame.payload];
    }
    return frame;
  };
  await assert.rejects(a.session.download(a.sink), /could not be verified/);
  await until(() => forged.length === 2, "A's report of the error");
  await until(
    () => share.row(aId)?.phase === "failed",
    "A's row to show the error",
  );
  // Receiver B: each of its reports is swapped for a forged error in
  // clear, or for A's sealed one.
  const b = share.receiver();
  await b.session.open();
  const bId = share.signal.relayed.findLast((f) => f.event === EVENT.request)!
    .from;
  let swapped = 0;
  share.signal.tamper = (frame) =>
    frame.event === EVENT.progress && frame.from === bId
      ? { ...frame, payload: forged[swapped++ % forged.length] }
      : frame;
  await b.session.download(b.sink);
  assert.deepEqual(b.sink.bytes("a.bin"), share.bytes);
  // The first report goes mid-transfer, the last as it ends.
  await until(() => swapped >= 2, "two of B's reports swapped");
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.equal(share.row(bId)?.phase, "done");
  share.sender.stop();
});

Deno.test({
  name:
    "a share of 5,000 files crosses the real server, which never closes the sender",
  // The server's socket and timers outlive the test's own bookkeeping.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startServer();
    try {
      const files = tinyFiles(5000);
      const disconnects: string[] = [];
      const share = await startShare(1, {
        files,
        connectSignal: undefined,
        signalUrl: server.wsUrl,
        onDisconnect: (message) => disconnects.push(message),
      });
      const r = share.receiver({
        connectSignal: undefined,
        signalUrl: server.wsUrl,
      });
      const manifest = await r.session.open();
      assert.equal(manifest.files.length, 5000);
      assert.deepEqual(
        manifest.files.map((f) => f.name),
        files.map((f) => f.name),
      );
      await r.session.download(r.sink);
      assert.equal(r.sink.files.size, 5000);
      assert.deepEqual(disconnects, []);
      share.sender.stop();
      r.session.close();
    } finally {
      await server.close();
    }
  },
});

Deno.test("a receiver that asks again and again gets the pages sealed once, not once per request", async () => {
  const share = await startShare(1, { files: tinyFiles(3000) });
  // A script, not a page: the same id asks ten times.
  const client = await share.signal.connect();
  for (let i = 0; i < 10; i++) client.send(EVENT.request, share.senderId);
  const responses = () =>
    share.signal.relayed.filter((f) =>
      f.event === EVENT.response && f.to === client.id
    );
  // Ten copies of one list: as many frames as ten times its distinct pages.
  const distinct = () =>
    new Set(responses().map((f) => JSON.stringify(f.payload))).size;
  await until(
    () => responses().length > 0 && responses().length === 10 * distinct(),
    "ten identical copies of the sealed list",
  );
  assert.ok(distinct() > 1, "one list, several pages");
  share.sender.stop();
});

Deno.test("a share of more than 50,000 files is refused when it starts, saying what to do", async () => {
  const files = Array.from(
    { length: MAX_SHARED_FILES + 1 },
    (_, i) => memoryFile(`${i}.txt`, new Uint8Array(1)),
  );
  await assert.rejects(
    startShare(1, { files }),
    (error: Error) => error.message === LIST_TOO_LONG,
  );
});
