import assert from "node:assert/strict";
import type { FileMeta, Sink } from "../sink.ts";
import { zipSize } from "../zip.ts";
import { ZIP_NAME, zipSink } from "./zip_sink.ts";
import { fileHandleSink } from "./file_sink.ts";
import { memorySink } from "./memory_sink.ts";
import { FakeFile } from "../../../tests/_helpers/fake_fs.ts";
import { meta, unzipView, writeAll } from "../../../tests/_helpers/sink_io.ts";

const encoder = new TextEncoder();

Deno.test("zipSink() streams several files as one zip of the announced size", async () => {
  const files: [FileMeta, Uint8Array][] = [
    [meta("notes.txt", 5), encoder.encode("notes")],
    [meta("empty.txt", 0), new Uint8Array()],
    [meta("résumé 履歴書.txt", 8), encoder.encode("résumé")],
    [meta("notes.txt", 3), encoder.encode("two")],
  ];
  const saved: [string, Blob][] = [];
  const sink = zipSink(
    files.map(([m]) => m),
    memorySink({ save: (blob, name) => void saved.push([name, blob]) }),
  );
  assert.equal(sink.kind, "zip");
  assert.equal(sink.inMemory, true);
  await writeAll(sink, files);
  assert.equal(saved.length, 1);
  const [name, blob] = saved[0];
  assert.equal(name, ZIP_NAME);
  assert.equal(blob.type, "application/octet-stream");
  const names = [
    "notes.txt",
    "empty.txt",
    "résumé 履歴書.txt",
    "notes (1).txt",
  ];
  assert.equal(
    blob.size,
    zipSize(files.map(([m], i) => ({ ...m, name: names[i] }))),
  );
  const view = await unzipView(new Uint8Array(await blob.arrayBuffer()));
  assert.deepEqual(Object.keys(view.files), names);
  assert.equal(view.files["notes (1).txt"], "two");
  assert.equal(view.files["empty.txt"], "");
});

Deno.test("zipSink() names its entries with sanitized, distinct names", async () => {
  const files: [FileMeta, Uint8Array][] = [
    [meta("../../.bashrc", 1), encoder.encode("1")],
    [meta("invoice\u202etxt.exe", 1), encoder.encode("2")],
    [meta("NUL.txt", 1), encoder.encode("3")],
    [meta("a\u200b.txt", 1), encoder.encode("4")],
    [meta("a.txt", 1), encoder.encode("5")],
    [meta("x".repeat(300) + ".txt", 1), encoder.encode("6")],
  ];
  const saved: Blob[] = [];
  const sink = zipSink(
    files.map(([m]) => m),
    memorySink({ save: (blob) => void saved.push(blob) }),
  );
  await writeAll(sink, files);
  const view = await unzipView(new Uint8Array(await saved[0].arrayBuffer()));
  assert.deepEqual(Object.entries(view.files), [
    ["_.._.bashrc", "1"],
    ["invoice_txt.exe", "2"],
    ["_NUL.txt", "3"],
    ["a.txt", "4"],
    ["a (1).txt", "5"],
    ["x".repeat(251) + ".txt", "6"],
  ]);
});

Deno.test("zipSink() opens the inner sink with the zip's exact size", async () => {
  const file = new FakeFile("out.zip");
  const opened: FileMeta[] = [];
  const inner = fileHandleSink(file.handle);
  const spy: Sink = {
    kind: inner.kind,
    inMemory: inner.inMemory,
    open: (m) => {
      opened.push(m);
      return inner.open(m);
    },
    finish: () => inner.finish(),
    abort: (r) => inner.abort(r),
  };
  const files: [FileMeta, Uint8Array][] = [
    [meta("a", 1), encoder.encode("a")],
    [meta("b", 2), encoder.encode("bb")],
  ];
  await writeAll(zipSink(files.map(([m]) => m), spy, { name: "x.zip" }), files);
  assert.equal(opened.length, 1);
  assert.equal(opened[0].name, "x.zip");
  assert.equal(opened[0].size, file.bytes.length);
  assert.equal(opened[0].type, "application/zip");
  assert.deepEqual((await unzipView(file.bytes)).files, { a: "a", b: "bb" });
});

Deno.test("zipSink() writes ZIP64 when told to", async () => {
  const saved: Blob[] = [];
  const files: [FileMeta, Uint8Array][] = [
    [meta("a.txt", 1), encoder.encode("a")],
    [meta("b.txt", 0), new Uint8Array()],
  ];
  await writeAll(
    zipSink(
      files.map(([m]) => m),
      memorySink({ save: (b) => void saved.push(b) }),
      {
        forceZip64: true,
      },
    ),
    files,
  );
  const bytes = new Uint8Array(await saved[0].arrayBuffer());
  assert.equal(
    bytes.length,
    zipSize(files.map(([m]) => m), { forceZip64: true }),
  );
  assert.deepEqual((await unzipView(bytes)).files, {
    "a.txt": "a",
    "b.txt": "",
  });
});

Deno.test("zipSink() takes only the files it announced, in order", async () => {
  const sink = zipSink([meta("a", 1), meta("b", 1)], memorySink({ save() {} }));
  await assert.rejects(() => sink.open(meta("b", 1)), {
    name: "RangeError",
    message: 'Cannot open "b": the zip expected "a" (1 bytes)',
  });
  const a = await sink.open(meta("a", 1));
  await a.write(encoder.encode("a"));
  await a.close();
  await assert.rejects(() => sink.finish(), {
    message: "Cannot finish the zip: 1 of 2 files were written",
  });
  await assert.rejects(() => sink.open(meta("b", 2)), RangeError);
});

Deno.test("zipSink() aborts the whole zip when one file is aborted", async () => {
  const file = new FakeFile("out.zip");
  const sink = zipSink(
    [meta("a", 1), meta("b", 5)],
    fileHandleSink(file.handle),
  );
  const a = await sink.open(meta("a", 1));
  await a.write(encoder.encode("a"));
  await a.close();
  const b = await sink.open(meta("b", 5));
  await b.write(encoder.encode("bb"));
  await b.abort(new Error("peer left"));
  assert.equal(file.removed, true);
  await assert.rejects(() => sink.open(meta("c", 1)), {
    message: 'Cannot open "c": the zip is aborted',
  });
  await sink.abort(new Error("again")); // no-op
});

Deno.test("zipSink() keeps a shared folder's paths, made safe, as Debian's unzip reads them", async () => {
  const at = (path: string, text: string): [FileMeta, Uint8Array] => [
    { ...meta(path.split("/").at(-1)!, encoder.encode(text).length), path },
    encoder.encode(text),
  ];
  const files: [FileMeta, Uint8Array][] = [
    at("dossier/été/notes.txt", "notes"),
    at("dossier/été/Notes.txt", "again"),
    at("dossier/a/b/c/deep.txt", "deep"),
    at("../../escape.txt", "up"),
    at("/etc/passwd", "root"),
    at("dossier//./odd\\name.txt", "odd"),
    [meta("loose.txt", 5), encoder.encode("loose")],
  ];
  const saved: [string, Blob][] = [];
  const sink = zipSink(
    files.map(([m]) => m),
    memorySink({ save: (blob, name) => void saved.push([name, blob]) }),
  );
  await writeAll(sink, files);
  const zip = new Uint8Array(await saved[0][1].arrayBuffer());
  const { files: read } = await unzipView(zip);
  assert.deepEqual(read, {
    "dossier/été/notes.txt": "notes",
    "dossier/été/Notes (1).txt": "again",
    "dossier/a/b/c/deep.txt": "deep",
    "escape.txt": "up",
    "etc/passwd": "root",
    "dossier/odd_name.txt": "odd",
    "loose.txt": "loose",
  });
});
