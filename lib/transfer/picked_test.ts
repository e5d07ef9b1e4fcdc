import assert from "node:assert/strict";
import {
  droppedEntries,
  type DroppedEntry,
  fromEntries,
  fromPicker,
  type PickedFile,
  sourceOf,
} from "./picked.ts";
import { listedMetaOf, metaOf } from "./sender.ts";

function file(name: string, text = name, relative = ""): PickedFile {
  const blob = new File([text], name, { type: "text/plain", lastModified: 7 });
  return Object.assign(blob, { webkitRelativePath: relative });
}

function fileEntry(name: string): DroppedEntry {
  return {
    isFile: true,
    isDirectory: false,
    name,
    file: (success) => success(file(name)),
  };
}

/** A folder whose reader gives its entries `batch` at a time, as Chromium does (100). */
function folderEntry(
  name: string,
  children: DroppedEntry[],
  batch = 100,
): DroppedEntry {
  return {
    isFile: false,
    isDirectory: true,
    name,
    createReader() {
      let at = 0;
      return {
        readEntries(success) {
          // Asynchronous, as in browsers.
          queueMicrotask(() => {
            success(children.slice(at, at + batch));
            at += batch;
          });
        },
      };
    },
  };
}

Deno.test("fromEntries() walks dropped folders to the bottom, reading every batch", async () => {
  const many = Array.from({ length: 250 }, (_, i) => fileEntry(`f${i}.txt`));
  const dropped = [
    fileEntry("loose.txt"),
    folderEntry("top", [
      fileEntry("a.txt"),
      folderEntry("sub", [fileEntry("b.txt"), folderEntry("empty", [])], 1),
      folderEntry("many", many),
    ]),
  ];
  const files = await fromEntries(dropped);
  assert.equal(files.length, 3 + 250);
  assert.deepEqual(files.slice(0, 3).map(listedMetaOf), [
    { name: "loose.txt", size: 9, type: "text/plain", lastModified: 7 },
    {
      name: "a.txt",
      size: 5,
      type: "text/plain",
      lastModified: 7,
      path: "top/a.txt",
    },
    {
      name: "b.txt",
      size: 5,
      type: "text/plain",
      lastModified: 7,
      path: "top/sub/b.txt",
    },
  ]);
  assert.equal(files.at(-1)!.path, "top/many/f249.txt");
  assert.equal(new Set(files.map((f) => f.path)).size, files.length);
});

Deno.test("fromEntries() rejects when a dropped file cannot be read", async () => {
  const broken: DroppedEntry = {
    isFile: true,
    isDirectory: false,
    name: "gone.txt",
    file: (_, failure) => failure?.(new DOMException("gone", "NotFoundError")),
  };
  await assert.rejects(
    fromEntries([folderEntry("d", [broken])]),
    DOMException,
  );
});

Deno.test("fromPicker() keeps a folder pick's paths, and none for files picked alone", () => {
  const files = fromPicker([
    file("a.txt", "a", "trip/a.txt"),
    file("b.txt", "b"),
  ]);
  assert.equal(files[0].path, "trip/a.txt");
  assert.equal("path" in files[1], false);
  assert.deepEqual(listedMetaOf(files[1]), metaOf(files[1]));
});

Deno.test("sourceOf() reads its bytes from the picked file", async () => {
  const source = sourceOf(file("a.txt", "hello"), "d/a.txt");
  const bytes = await source.slice(1, 4).arrayBuffer();
  assert.equal(new TextDecoder().decode(bytes), "ell");
  // A file header never carries the path; the manifest does.
  assert.equal("path" in metaOf(source), false);
  assert.equal(listedMetaOf(source).path, "d/a.txt");
});

Deno.test("droppedEntries() takes the entries of file items, or null without them", () => {
  const entry = fileEntry("a.txt");
  assert.deepEqual(
    droppedEntries([
      { kind: "string", webkitGetAsEntry: () => null },
      { kind: "file", webkitGetAsEntry: () => entry },
    ]),
    [entry],
  );
  assert.equal(droppedEntries(undefined), null);
  assert.equal(droppedEntries([{ kind: "file" }]), null);
  assert.equal(droppedEntries([]), null);
});
