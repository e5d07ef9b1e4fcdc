import assert from "node:assert/strict";
import type { FileMeta, Sink } from "./sink.ts";
import {
  canTransferStreams,
  chooseSink,
  contentDisposition,
  detectFeatures,
  directorySink,
  downloadHeaders,
  fileHandleSink,
  memorySink,
  mimeType,
  numberedName,
  safeFileName,
  uniqueNames,
  ZIP_NAME,
  zipSink,
} from "./sinks.ts";
import { zipSize } from "./zip.ts";
import { FakeDirectory, FakeFile } from "../../tests/_helpers/fake_fs.ts";

const encoder = new TextEncoder();

function meta(name: string, size: number, type = ""): FileMeta {
  return { name, size, type, lastModified: 0 };
}

/** Writes each file of `files` into `sink`, in two chunks each. */
async function writeAll(sink: Sink, files: [FileMeta, Uint8Array][]) {
  for (const [file, bytes] of files) {
    const writer = await sink.open(file);
    const half = bytes.length >> 1;
    await writer.write(bytes.subarray(0, half));
    await writer.write(bytes.subarray(half));
    await writer.close();
  }
  await sink.finish();
}

Deno.test("chooseSink() prefers pickers, then the service worker, then memory", () => {
  const all = {
    saveFilePicker: true,
    directoryPicker: true,
    serviceWorker: true,
  };
  const none = {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: false,
  };
  const one = [meta("a", 1)];
  const two = [meta("a", 1), meta("b", 2)];
  assert.deepEqual(chooseSink(one, all), {
    kind: "file-picker",
    via: null,
    inMemory: false,
  });
  assert.deepEqual(chooseSink(one, { ...none, serviceWorker: true }), {
    kind: "service-worker",
    via: null,
    inMemory: false,
  });
  assert.deepEqual(chooseSink(one, none), {
    kind: "memory",
    via: null,
    inMemory: true,
  });
  assert.deepEqual(chooseSink(two, all), {
    kind: "directory",
    via: null,
    inMemory: false,
  });
  assert.deepEqual(chooseSink(two, { ...all, directoryPicker: false }), {
    kind: "zip",
    via: "service-worker",
    inMemory: false,
  });
  assert.deepEqual(chooseSink(two, { ...none, saveFilePicker: true }), {
    kind: "zip",
    via: "file-picker",
    inMemory: false,
  });
  assert.deepEqual(chooseSink(two, none), {
    kind: "zip",
    via: "memory",
    inMemory: true,
  });
});

Deno.test("detectFeatures() finds no pickers and no service worker in Deno", () => {
  assert.deepEqual(detectFeatures(), {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: false,
  });
  assert.equal(typeof canTransferStreams(), "boolean");
});

Deno.test("safeFileName() keeps letters and removes path tricks", () => {
  assert.equal(safeFileName("résumé 履歴書.txt"), "résumé 履歴書.txt");
  assert.equal(safeFileName("../../etc/passwd"), ".._.._etc_passwd");
  assert.equal(safeFileName('a\\b:c*d?e"f<g>h|i'), "a_b_c_d_e_f_g_h_i");
  assert.equal(safeFileName("line\nbreak\u0000.txt"), "line_break_.txt");
  assert.equal(safeFileName("  spaced.  "), "spaced");
  assert.equal(safeFileName(".."), "file");
  assert.equal(safeFileName(""), "file");
  assert.equal(safeFileName(".hidden"), ".hidden");
  const long = safeFileName("é".repeat(300) + ".tar");
  assert.equal(Array.from(long).length, 200);
  assert.ok(long.endsWith("é.tar"));
});

Deno.test("uniqueNames() numbers repeated names before the extension", () => {
  assert.equal(numberedName("a.txt", 2), "a (2).txt");
  assert.equal(numberedName("README", 1), "README (1)");
  assert.equal(numberedName(".env", 1), ".env (1)");
  assert.deepEqual(
    uniqueNames(["a.txt", "A.txt", "a.txt", "a (1).txt", "b", "b"]),
    ["a.txt", "A (1).txt", "a (2).txt", "a (1) (1).txt", "b", "b (1)"],
  );
});

Deno.test("contentDisposition() gives an ASCII fallback and the UTF-8 name", () => {
  assert.equal(
    contentDisposition("résumé 履歴書.txt"),
    'attachment; filename="r_sum_ ___.txt"; ' +
      "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E5%B1%A5%E6%AD%B4%E6%9B%B8.txt",
  );
  assert.equal(
    contentDisposition("it's (1) 100%*.txt"),
    'attachment; filename="it\'s (1) 100__.txt"; ' +
      "filename*=UTF-8''it%27s%20%281%29%20100%25_.txt",
  );
  assert.equal(
    contentDisposition('a"b\\c.txt'),
    "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a_b_c.txt",
  );
});

Deno.test("downloadHeaders() passes only a plain MIME type and the size", () => {
  const headers = new Headers(
    downloadHeaders(meta("a.pdf", 123, "application/pdf")),
  );
  assert.equal(headers.get("content-type"), "application/pdf");
  assert.equal(headers.get("content-length"), "123");
  assert.match(headers.get("content-disposition")!, /^attachment; /);
  assert.equal(headers.get("x-content-type-options"), "nosniff");
  assert.equal(
    mimeType("text/html; charset=utf-8"),
    "application/octet-stream",
  );
  assert.equal(
    mimeType("text/plain\r\nset-cookie: a=b"),
    "application/octet-stream",
  );
  assert.equal(mimeType(""), "application/octet-stream");
  assert.equal(mimeType("Image/PNG"), "image/png");
});

Deno.test("memorySink() hands each file to save() as a Blob", async () => {
  const saved: [string, Blob][] = [];
  const sink = memorySink({
    save: (blob, name) => void saved.push([name, blob]),
  });
  assert.equal(sink.kind, "memory");
  assert.equal(sink.inMemory, true);
  const big = new Uint8Array(9 << 20).map((_, i) => i);
  await writeAll(sink, [
    [meta("a/b.txt", 5, "text/plain"), encoder.encode("hello")],
    [meta("big.bin", big.length), big],
    [meta("empty", 0), new Uint8Array()],
  ]);
  assert.deepEqual(saved.map(([name]) => name), [
    "a_b.txt",
    "big.bin",
    "empty",
  ]);
  assert.equal(await saved[0][1].text(), "hello");
  assert.equal(saved[0][1].type, "text/plain");
  assert.deepEqual(new Uint8Array(await saved[1][1].arrayBuffer()), big);
  assert.equal(saved[2][1].size, 0);
});

Deno.test("memorySink() drops an aborted file", async () => {
  const saved: string[] = [];
  const sink = memorySink({ save: (_, name) => void saved.push(name) });
  const writer = await sink.open(meta("a", 3));
  await writer.write(encoder.encode("ab"));
  await writer.abort(new Error("gone"));
  await assert.rejects(() => writer.write(encoder.encode("c")), {
    message: 'Cannot write to "a": it is aborted',
  });
  await sink.abort(new Error("gone"));
  assert.deepEqual(saved, []);
  await assert.rejects(() => sink.open(meta("b", 1)), {
    message: 'Cannot open "b": the sink is done',
  });
});

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
  assert.equal(file.bytes.length, 0);
});

Deno.test("fileHandleSink() still cleans up after a failed close", async () => {
  const file = new FakeFile("picked.bin");
  file.failClose = true;
  const sink = fileHandleSink(file.handle);
  const writer = await sink.open(meta("x.bin", 1));
  await writer.write(encoder.encode("x"));
  await assert.rejects(() => writer.close(), {
    message: 'Cannot close "picked.bin": disk full',
  });
  await sink.abort(new Error("disk full"));
  assert.equal(file.removed, true);
});

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
    ".._c.txt",
  ]);
  assert.equal(dir.files.get("a.txt")!.bytes.length, 0);
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

async function pythonZip(bytes: Uint8Array) {
  const path = await Deno.makeTempFile({ suffix: ".zip" });
  try {
    await Deno.writeFile(path, bytes);
    const output = await new Deno.Command("python3", {
      args: [
        "-c",
        `import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps({"bad": z.testzip(), "files": {i.filename: z.read(i).decode() for i in z.infolist()}}))`,
        path,
      ],
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    await Deno.remove(path);
  }
}

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
  assert.equal(blob.type, "application/zip");
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
  const view = await pythonZip(new Uint8Array(await blob.arrayBuffer()));
  assert.equal(view.bad, null);
  assert.deepEqual(Object.keys(view.files), names);
  assert.equal(view.files["notes (1).txt"], "two");
  assert.equal(view.files["empty.txt"], "");
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
  assert.deepEqual((await pythonZip(file.bytes)).files, { a: "a", b: "bb" });
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
  assert.deepEqual((await pythonZip(bytes)).files, {
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
