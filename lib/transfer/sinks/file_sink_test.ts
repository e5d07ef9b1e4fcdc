import assert from "node:assert/strict";
import { fileHandleSink } from "./file_sink.ts";
import { FakeFile } from "../../../tests/_helpers/fake_fs.ts";
import { meta, writeAll } from "../../../tests/_helpers/sink_io.ts";

const encoder = new TextEncoder();

Deno.test("fileHandleSink() writes one file through createWritable()", async () => {
  const file = new FakeFile("picked.bin");
  const sink = fileHandleSink(file.handle);
  assert.equal(sink.kind, "file-picker");
  assert.equal(sink.inMemory, false);
  await writeAll(sink, [[meta("x.bin", 11), encoder.encode("hello world")]]);
  assert.equal(new TextDecoder().decode(file.bytes), "hello world");
  assert.equal(file.writes, 1, "small chunks are batched into one write");
  assert.equal(file.removed, false);
  await assert.rejects(() => sink.open(meta("y", 1)));
});

Deno.test("fileHandleSink() writes large chunks in 1 MiB batches", async () => {
  const file = new FakeFile("big.bin");
  const bytes = new Uint8Array(3 * (1 << 20) + 5).map((_, i) => i * 7);
  await writeAll(fileHandleSink(file.handle), [[
    meta("big.bin", bytes.length),
    bytes,
  ]]);
  assert.equal(file.writes, 4);
  assert.deepEqual(file.bytes, bytes);
});

Deno.test("fileHandleSink() reuses a batch buffer only once the stream has taken it", async () => {
  const file = new FakeFile("reused.bin");
  // A slow disk: a buffer reused too early would be overwritten before the
  // stream copies it, and the file would differ.
  file.writeDelayMs = 2;
  const bytes = new Uint8Array(10 * (1 << 20) + 3).map((_, i) => i * 13);
  const sink = fileHandleSink(file.handle);
  const writer = await sink.open(meta("reused.bin", bytes.length));
  for (let at = 0; at < bytes.length; at += 256 * 1024) {
    await writer.write(bytes.subarray(at, at + 256 * 1024));
  }
  await writer.close();
  await sink.finish();
  assert.deepEqual(file.bytes, bytes);
  assert.equal(file.writes, 11);
  assert.ok(file.buffers.size <= 4, `${file.buffers.size} buffers`);
});

Deno.test("fileHandleSink() holds one file only", async () => {
  const sink = fileHandleSink(new FakeFile("f").handle);
  const writer = await sink.open(meta("a", 0));
  await writer.close();
  await assert.rejects(() => sink.open(meta("b", 0)), {
    message: 'Cannot open "b": the picked file holds one file',
  });
});

Deno.test("fileHandleSink() removes the file when aborted", async () => {
  const file = new FakeFile("picked.bin");
  const sink = fileHandleSink(file.handle);
  const writer = await sink.open(meta("x.bin", 10));
  await writer.write(encoder.encode("hello"));
  await sink.abort(new Error("peer left"));
  assert.equal(file.removed, true);
  // The stream was aborted, not closed: nothing was committed to the file.
  assert.equal(file.aborted, true);
  assert.equal(file.committed, false);
});

Deno.test("fileHandleSink() still cleans up after a failed close", async () => {
  const file = new FakeFile("picked.bin");
  file.failClose = true;
  const sink = fileHandleSink(file.handle);
  const writer = await sink.open(meta("x.bin", 1));
  await writer.write(encoder.encode("x"));
  await assert.rejects(() => writer.close(), {
    message:
      'Cannot close "picked.bin": disk full. Try again; if it keeps failing, reload the page.',
  });
  await sink.abort(new Error("disk full"));
  assert.equal(file.removed, true);
});
