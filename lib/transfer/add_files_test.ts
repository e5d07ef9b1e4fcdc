import assert from "node:assert/strict";
import { memoryFile, MemoryFiles } from "./fakes.ts";
import { TEXT_SHARED } from "./send_session.ts";
import { addsTo } from "./receiver.ts";
import type { Manifest } from "./wire.ts";
import { startShare, until } from "../../tests/_helpers/sessions.ts";
import { pseudoRandomBytes } from "../../tests/_helpers/bytes.ts";

// Adding files to a running share (docs/protocol.md, "Adding files"): the
// sender's `add()`, and what receivers at each stage make of it.

const ADDED = pseudoRandomBytes(300 * 1024, 21);

Deno.test("SendSession.add() sends the longer list to a receiver on its ready screen, which receives every file", async () => {
  const share = await startShare(200 * 1024);
  const lists: Manifest[] = [];
  const r = share.receiver({ onList: (list) => lists.push(list) });
  const first = await r.session.open();
  assert.deepEqual(first.files.map((f) => f.name), ["a.bin"]);
  await share.sender.add([memoryFile("b.bin", ADDED)]);
  await until(() => lists.length === 1, "the longer list");
  assert.deepEqual(lists[0].files.map((f) => f.name), ["a.bin", "b.bin"]);
  assert.equal(r.session.status.total, 200 * 1024 + ADDED.byteLength);
  assert.equal(r.session.status.added, 0);
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.deepEqual(r.sink.bytes("b.bin"), ADDED);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const rows = share.rows.at(-1)!;
  assert.equal(rows.length, 1);
  assert.equal(rows[0].phase, "done");
  assert.equal(rows[0].bytes, rows[0].total);
  assert.equal(rows[0].total, 200 * 1024 + ADDED.byteLength);
  share.sender.stop();
});

Deno.test("A receiver opening the link after SendSession.add() gets every file", async () => {
  const share = await startShare(64 * 1024);
  await share.sender.add([memoryFile("b.bin", ADDED)]);
  const r = share.receiver();
  const list = await r.session.open();
  assert.deepEqual(list.files.map((f) => f.name), ["a.bin", "b.bin"]);
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("b.bin"), ADDED);
  share.sender.stop();
});

Deno.test("A receiver mid-download keeps its list, hears of added files, and downloadMore() fetches only them", async () => {
  const share = await startShare(2 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver();
  await r.session.open();
  let added = false;
  r.sink.onWrite = (written) => {
    if (added || written < 256 * 1024) return;
    added = true;
    share.sender.add([memoryFile("b.bin", ADDED)]);
  };
  await r.session.download(r.sink);
  assert.deepEqual([...r.sink.files.keys()], ["a.bin"]);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  await until(() => r.session.status.added === 1, "the added file's news");
  assert.equal(r.session.status.phase, "done");
  const more = new MemoryFiles();
  await r.session.downloadMore(more);
  assert.deepEqual([...more.files.keys()], ["b.bin"]);
  assert.deepEqual(more.bytes("b.bin"), ADDED);
  assert.equal(more.finished, true);
  assert.equal(r.session.status.phase, "done");
  assert.equal(r.session.status.added, 0);
  assert.equal(r.session.status.bytes, r.session.status.total);
  // One row for this receiver, done, however many connections it took.
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const rows = share.rows.at(-1)!;
  assert.deepEqual(rows.map((row) => row.phase), ["done"]);
  r.session.close();
  share.sender.stop();
});

Deno.test("SendSession.add() adds text to a share of files, and refuses a second text, changing nothing", async () => {
  const share = await startShare(1024);
  assert.equal(share.sender.hasText, false);
  await share.sender.add([], "the door code is 4711");
  assert.equal(share.sender.hasText, true);
  await assert.rejects(
    share.sender.add([memoryFile("b.bin", ADDED)], "other text"),
    (error: Error) => error.message === TEXT_SHARED,
  );
  const r = share.receiver();
  const list = await r.session.open();
  assert.equal(list.text, "the door code is 4711");
  assert.deepEqual(list.files.map((f) => f.name), ["a.bin"]);
  share.sender.stop();
});

Deno.test("SendSession.add() refuses once sharing stopped", async () => {
  const share = await startShare(1024);
  share.sender.stop();
  await assert.rejects(
    share.sender.add([memoryFile("b.bin", ADDED)]),
    /Cannot add files: the share has stopped/,
  );
});

Deno.test("addsTo() takes only a list with files or text added after the held one", () => {
  const a = { name: "a", size: 1, type: "", lastModified: 0 };
  const b = { name: "b", size: 2, type: "", lastModified: 0 };
  assert.equal(addsTo({ files: [a] }, { files: [a, b] }), true);
  assert.equal(addsTo({ files: [a] }, { files: [a], text: "hi" }), true);
  assert.equal(addsTo({ files: [a] }, { files: [a] }), false, "the same");
  assert.equal(addsTo({ files: [a, b] }, { files: [a] }), false, "shorter");
  assert.equal(addsTo({ files: [a] }, { files: [b, a] }), false, "reordered");
  assert.equal(
    addsTo({ files: [a] }, { files: [{ ...a, size: 9 }, b] }),
    false,
    "a file changed",
  );
  assert.equal(
    addsTo({ files: [a], text: "x" }, { files: [a, b], text: "y" }),
    false,
    "the text changed",
  );
});
