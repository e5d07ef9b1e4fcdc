import assert from "node:assert/strict";
import { directorySink } from "./folder_sink.ts";
import { FakeDirectory } from "../../../tests/_helpers/fake_fs.ts";
import { meta, writeAll } from "../../../tests/_helpers/sink_io.ts";

const encoder = new TextEncoder();

Deno.test("directorySink() never overwrites a file", async () => {
  const dir = new FakeDirectory();
  await dir.getFileHandle("a.txt", { create: true });
  dir.folders.add("b.txt");
  const sink = directorySink(dir.handle);
  assert.equal(sink.kind, "directory");
  await writeAll(sink, [
    [meta("a.txt", 1), encoder.encode("1")],
    [meta("a.txt", 1), encoder.encode("2")],
    [meta("b.txt", 1), encoder.encode("3")],
    [meta("../c.txt", 1), encoder.encode("4")],
  ]);
  assert.deepEqual([...dir.files.keys()], [
    "a.txt",
    "a (1).txt",
    "a (2).txt",
    "b (1).txt",
    "_c.txt",
  ]);
  // The file that was there first was not written to at all.
  assert.equal(dir.files.get("a.txt")!.writes, 0);
  assert.equal(dir.files.get("a.txt")!.committed, false);
  assert.equal(
    new TextDecoder().decode(dir.files.get("a (2).txt")!.bytes),
    "2",
  );
});

Deno.test("directorySink() removes the file being written when aborted", async () => {
  const dir = new FakeDirectory();
  const sink = directorySink(dir.handle);
  const done = await sink.open(meta("done.txt", 1));
  await done.write(encoder.encode("d"));
  await done.close();
  const writer = await sink.open(meta("partial.txt", 10));
  await writer.write(encoder.encode("abc"));
  await sink.abort(new Error("peer left"));
  assert.deepEqual([...dir.files.keys()], ["done.txt"]);
});
