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

Deno.test("directorySink() removes every file it wrote when aborted, and leaves what was there", async () => {
  const dir = new FakeDirectory();
  await dir.getFileHandle("there.txt", { create: true });
  const sink = directorySink(dir.handle);
  const done = await sink.open(meta("done.txt", 1));
  await done.write(encoder.encode("d"));
  await done.close();
  const writer = await sink.open(meta("partial.txt", 10));
  await writer.write(encoder.encode("abc"));
  await sink.abort(new Error("peer left"));
  assert.deepEqual([...dir.files.keys()], ["there.txt"]);
});

Deno.test("directorySink() saves a shared folder's files into subfolders, never outside", async () => {
  const dir = new FakeDirectory();
  dir.folders.add("photos"); // there already: written into, not replaced
  await dir.getFileHandle("clash", { create: true });
  const at = (name: string, path: string, size: number) => ({
    ...meta(name, size),
    path,
  });
  const sink = directorySink(dir.handle);
  await writeAll(sink, [
    [at("a.jpg", "photos/2024/a.jpg", 1), encoder.encode("1")],
    [at("b.jpg", "photos/2024/b.jpg", 1), encoder.encode("2")],
    [at("a.jpg", "photos/2024/A.jpg", 1), encoder.encode("3")],
    [at("c.txt", "photos/c.txt", 1), encoder.encode("4")],
    [at("x", "../../x", 1), encoder.encode("5")],
    [at("p", "/etc/passwd", 1), encoder.encode("6")],
    [at("d", "a//.//b\\..\\d", 1), encoder.encode("7")],
    [at("y", "clash/y", 1), encoder.encode("8")],
  ]);
  const tree = dir.tree();
  assert.deepEqual(
    [...tree].map((
      [path, file],
    ) => [path, new TextDecoder().decode(file.bytes)]),
    [
      ["clash", ""],
      ["x", "5"],
      ["photos/c.txt", "4"],
      ["photos/2024/a.jpg", "1"],
      ["photos/2024/b.jpg", "2"],
      ["photos/2024/A (1).jpg", "3"],
      ["etc/passwd", "6"],
      ["a/b_.._d", "7"],
      ["clash (1)/y", "8"],
    ],
  );
});

Deno.test("directorySink() removes a nested file being written when aborted", async () => {
  const dir = new FakeDirectory();
  const sink = directorySink(dir.handle);
  const writer = await sink.open({ ...meta("p.bin", 10), path: "d/e/p.bin" });
  await writer.write(encoder.encode("abc"));
  await sink.abort(new Error("peer left"));
  assert.deepEqual([...dir.tree().keys()], []);
});
