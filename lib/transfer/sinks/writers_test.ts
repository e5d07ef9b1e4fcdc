import assert from "node:assert/strict";
import type { FileWriter } from "../sink.ts";
import {
  batchWriter,
  BufferPool,
  onlyOnce,
  streamWriter,
  WriterSink,
} from "./writers.ts";
import { DOM_EXCEPTION_TEXT, isSentence } from "../error_text.ts";
import { meta } from "../../../tests/_helpers/sink_io.ts";

/** A writer that records each write's length and keeps a copy. */
function recorder(): FileWriter & { sizes: number[]; closed: boolean } {
  const writer = {
    sizes: [] as number[],
    closed: false,
    write(chunk: Uint8Array) {
      writer.sizes.push(chunk.length);
      return Promise.resolve();
    },
    close() {
      writer.closed = true;
      return Promise.resolve();
    },
    abort: () => Promise.resolve(),
  };
  return writer;
}

Deno.test("batchWriter() gathers small chunks into full batches", async () => {
  const inner = recorder();
  const writer = batchWriter(inner, 10);
  for (let i = 0; i < 7; i++) await writer.write(new Uint8Array(3));
  assert.deepEqual(inner.sizes, [10, 10]);
  await writer.close();
  assert.deepEqual(inner.sizes, [10, 10, 1]);
  assert.equal(inner.closed, true);
});

Deno.test("BufferPool gives back only whole buffers of its size, at most 4", () => {
  const pool = new BufferPool(8);
  const a = pool.take();
  assert.equal(a.length, 8);
  pool.give(a.subarray(0, 4));
  assert.notEqual(pool.take(), a, "a part of a buffer is not reused");
  pool.give(a);
  assert.equal(pool.take(), a);
  const many = Array.from({ length: 6 }, () => pool.take());
  for (const buffer of many) pool.give(buffer);
  const again = Array.from({ length: 6 }, () => pool.take());
  assert.equal(again.filter((b) => many.includes(b)).length, 4);
});

Deno.test("WriterSink opens one file at a time and aborts the open one", async () => {
  const aborted: unknown[] = [];
  const sink = new WriterSink("memory", true, () =>
    Promise.resolve({
      write: () => Promise.resolve(),
      close: () => Promise.resolve(),
      abort: (reason) => {
        aborted.push(reason);
        return Promise.resolve();
      },
    }));
  const writer = await sink.open(meta("a", 1));
  await assert.rejects(() => sink.open(meta("b", 1)), {
    message: 'Cannot open "b": a file is still open',
  });
  await assert.rejects(() => sink.finish(), {
    message: "Cannot finish: a file is still open",
  });
  await sink.abort("gone");
  assert.deepEqual(aborted, ["gone"]);
  await writer.write(new Uint8Array(1)); // the writer itself is not done
  await assert.rejects(() => sink.open(meta("c", 1)), {
    message: 'Cannot open "c": the sink is done',
  });
});

Deno.test("onlyOnce() refuses a second file", () => {
  const first = onlyOnce("the picked file");
  first(meta("a", 1));
  assert.throws(() => first(meta("b", 1)), {
    message: 'Cannot open "b": the picked file holds one file',
  });
});

/** A stream that errors at once with `reason`, as a cancelled download's. */
function erroredStream(reason: unknown): WritableStream<Uint8Array> {
  return new WritableStream({
    start: (controller) => controller.error(reason),
  });
}

Deno.test("streamWriter() words a stream error without a reason as a sentence", async () => {
  const writer = streamWriter(erroredStream(undefined), "the download");
  await assert.rejects(
    () => writer.write(new Uint8Array(1)),
    (error: Error) => {
      assert.equal(
        error.message,
        "Cannot write to the download: the browser gave no reason. Try again; if it keeps failing, reload the page.",
      );
      return true;
    },
  );
});

Deno.test("streamWriter() words a DOMException by its name, not the browser's message", async () => {
  const writer = streamWriter(
    erroredStream(
      new DOMException("Failed to execute 'write'", "NotAllowedError"),
    ),
    "the download",
  );
  await assert.rejects(
    () => writer.write(new Uint8Array(1)),
    (error: Error) => {
      assert.ok(isSentence(error.message), error.message);
      assert.ok(
        error.message.includes(DOM_EXCEPTION_TEXT.NotAllowedError.advice),
      );
      assert.doesNotMatch(error.message, /Failed to execute/);
      return true;
    },
  );
});
