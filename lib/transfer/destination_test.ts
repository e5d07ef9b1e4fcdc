import assert from "node:assert/strict";
import {
  type Destination,
  destinations,
  isMany,
  makeSink,
  zipNameOf,
} from "./destination.ts";
import type { FileMeta, Sink } from "./sink.ts";
import type { SinkFeatures } from "./sinks/features.ts";
import { ZIP_NAME } from "./sinks/zip_sink.ts";
import { FakeDirectory, FakeFile } from "../../tests/_helpers/fake_fs.ts";

const encoder = new TextEncoder();

function meta(name: string, size: number, type = "text/plain"): FileMeta {
  return { name, size, type, lastModified: 0 };
}

const ONE = [meta("a.txt", 5)];
const TWO = [meta("a.txt", 5), meta("b.txt", 3)];

/** Every combination of the three features. */
function allFeatures(): SinkFeatures[] {
  const list: SinkFeatures[] = [];
  for (const saveFilePicker of [false, true]) {
    for (const directoryPicker of [false, true]) {
      for (const serviceWorker of [false, true]) {
        list.push({ saveFilePicker, directoryPicker, serviceWorker });
      }
    }
  }
  return list;
}

function fakePage(has: { save?: boolean; folder?: boolean } = {}) {
  const calls: string[] = [];
  const saved: { blob: Blob; name: string }[] = [];
  const picked: FakeFile[] = [];
  const folder = new FakeDirectory();
  return {
    calls,
    saved,
    picked,
    folder,
    actions: {
      showSaveFilePicker: has.save
        ? (options: { suggestedName: string }) => {
          calls.push(`save:${options.suggestedName}`);
          const file = new FakeFile(options.suggestedName);
          picked.push(file);
          return Promise.resolve(file as unknown as FileSystemFileHandle);
        }
        : undefined,
      showDirectoryPicker: has.folder
        ? (options: { mode: "readwrite" }) => {
          calls.push(`folder:${options.mode}`);
          return Promise.resolve(
            folder as unknown as FileSystemDirectoryHandle,
          );
        }
        : undefined,
      startDownload(url: string) {
        calls.push(`download:${url}`);
      },
      saveBlob(blob: Blob, name: string) {
        calls.push(`blob:${name}`);
        saved.push({ blob, name });
      },
    },
  };
}

/** Writes `contents` (one per file) through `sink` and finishes it. */
async function writeAll(sink: Sink, files: FileMeta[], contents: string[]) {
  for (let i = 0; i < files.length; i++) {
    const writer = await sink.open(files[i]);
    await writer.write(encoder.encode(contents[i]));
    await writer.close();
  }
  await sink.finish();
}

function download(features: SinkFeatures, files: FileMeta[]): Destination {
  return destinations(files, features)[0];
}

Deno.test("destinations() offers one download for one file", () => {
  for (const features of allFeatures()) {
    const list = destinations(ONE, features);
    assert.equal(list.length, 1, JSON.stringify(features));
    assert.equal(list[0].id, "download");
    assert.equal(list[0].label, "Download");
    assert.equal(
      list[0].inMemory,
      !features.saveFilePicker && !features.serviceWorker,
    );
    assert.doesNotMatch(list[0].description, /zip/);
  }
});

Deno.test("destinations() offers a folder for several files only with a directory picker", () => {
  for (const features of allFeatures()) {
    const list = destinations(TWO, features);
    const name = JSON.stringify(features);
    assert.equal(list[0].id, "download", name);
    assert.equal(list[0].label, "Download");
    assert.match(list[0].description, new RegExp(ZIP_NAME.replace(".", "\\.")));
    if (features.directoryPicker) {
      assert.equal(list.length, 2, name);
      assert.deepEqual(list[1], {
        id: "folder",
        label: "Save into a folder…",
        description:
          "Saving each file into the folder you chose, as it arrives.",
        inMemory: false,
      });
    } else {
      assert.equal(list.length, 1, name);
    }
  }
});

Deno.test("destinations() says where the download goes", () => {
  const none = {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: false,
  };
  assert.equal(
    download({ ...none, saveFilePicker: true }, ONE).description,
    "Saving straight to the place you chose, as it arrives.",
  );
  assert.equal(
    download({ ...none, serviceWorker: true }, ONE).description,
    "Saving as a download streamed to disk as it arrives.",
  );
  assert.equal(
    download(none, ONE).description,
    "Saving in memory first: this browser cannot stream to disk.",
  );
  assert.equal(
    download(none, TWO).description,
    `Saving as one zip file (${ZIP_NAME}), in memory first: this browser cannot stream to disk.`,
  );
  assert.equal(download(none, ONE).inMemory, true);
  assert.equal(download({ ...none, serviceWorker: true }, TWO).inMemory, false);
});

Deno.test("makeSink() saves one file through the save picker", async () => {
  const page = fakePage({ save: true, folder: true });
  const sink = await makeSink(
    download({
      saveFilePicker: true,
      directoryPicker: true,
      serviceWorker: true,
    }, ONE),
    ONE,
    page.actions,
  );
  assert.equal(sink.kind, "file-picker");
  assert.equal(sink.inMemory, false);
  assert.deepEqual(page.calls, ["save:a.txt"]);
  await writeAll(sink, ONE, ["hello"]);
  assert.equal(page.picked[0].text, "hello");
});

Deno.test("makeSink() suggests the sanitized name to the save picker", async () => {
  // U+202E would show "invoice\u202etxt.exe" as "invoiceexe.txt" in the
  // picker, and the picker may save it as suggested.
  const hostile = [meta("invoice\u202etxt.exe", 5)];
  const page = fakePage({ save: true });
  await makeSink(
    download({
      saveFilePicker: true,
      directoryPicker: false,
      serviceWorker: false,
    }, hostile),
    hostile,
    page.actions,
  );
  assert.deepEqual(page.calls, ["save:invoice_txt.exe"]);
});

Deno.test("makeSink() zips several files through the save picker", async () => {
  const page = fakePage({ save: true });
  const sink = await makeSink(
    download({
      saveFilePicker: true,
      directoryPicker: false,
      serviceWorker: false,
    }, TWO),
    TWO,
    page.actions,
  );
  assert.equal(sink.kind, "zip");
  assert.equal(sink.inMemory, false);
  assert.deepEqual(page.calls, [`save:${ZIP_NAME}`]);
  await writeAll(sink, TWO, ["hello", "bye"]);
  const zip = page.picked[0].text!;
  assert.ok(zip.startsWith("PK\x03\x04"), "a zip archive");
  assert.ok(zip.includes("a.txt") && zip.includes("hello"));
  assert.ok(zip.includes("b.txt") && zip.includes("bye"));
});

Deno.test("makeSink() saves several files into the picked folder", async () => {
  const page = fakePage({ save: true, folder: true });
  const features = {
    saveFilePicker: true,
    directoryPicker: true,
    serviceWorker: true,
  };
  const folder = destinations(TWO, features)[1];
  const sink = await makeSink(folder, TWO, page.actions);
  assert.equal(sink.kind, "directory");
  assert.equal(sink.inMemory, false);
  assert.deepEqual(page.calls, ["folder:readwrite"]);
  await writeAll(sink, TWO, ["hello", "bye"]);
  assert.deepEqual(
    [...page.folder.files].map(([name, file]) => [name, file.text]),
    [["a.txt", "hello"], ["b.txt", "bye"]],
  );
});

Deno.test("makeSink() rejects a folder without a folder picker", async () => {
  const page = fakePage({ save: true });
  const folder = destinations(TWO, {
    saveFilePicker: true,
    directoryPicker: true,
    serviceWorker: false,
  })[1];
  await assert.rejects(
    makeSink(folder, TWO, page.actions),
    new TypeError(
      "Cannot save into a folder: this browser has no folder picker",
    ),
  );
  assert.deepEqual(page.calls, []);
});

Deno.test("makeSink() passes on a cancelled picker", async () => {
  const page = fakePage();
  const cancelled = () =>
    Promise.reject(new DOMException("The user aborted", "AbortError"));
  await assert.rejects(
    makeSink(
      download({
        saveFilePicker: true,
        directoryPicker: true,
        serviceWorker: false,
      }, ONE),
      ONE,
      { ...page.actions, showSaveFilePicker: cancelled },
    ),
    (error: unknown) =>
      error instanceof DOMException && error.name === "AbortError",
  );
  await assert.rejects(
    makeSink(
      destinations(TWO, {
        saveFilePicker: false,
        directoryPicker: true,
        serviceWorker: false,
      })[1],
      TWO,
      { ...page.actions, showDirectoryPicker: cancelled },
    ),
    (error: unknown) =>
      error instanceof DOMException && error.name === "AbortError",
  );
});

Deno.test("makeSink() streams through the service worker without a picker", async () => {
  const features = {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: true,
  };
  const page = fakePage();
  const one = await makeSink(download(features, ONE), ONE, page.actions);
  assert.equal(one.kind, "service-worker");
  assert.equal(one.inMemory, false);
  const two = await makeSink(download(features, TWO), TWO, page.actions);
  assert.equal(two.kind, "zip");
  assert.equal(two.inMemory, false);
  // The download starts only when the first file opens.
  assert.deepEqual(page.calls, []);
});

Deno.test("makeSink() keeps one file in memory as the last resort", async () => {
  const page = fakePage();
  const features = {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: false,
  };
  const sink = await makeSink(download(features, ONE), ONE, page.actions);
  assert.equal(sink.kind, "memory");
  assert.equal(sink.inMemory, true);
  await writeAll(sink, ONE, ["hello"]);
  assert.deepEqual(page.calls, ["blob:a.txt"]);
  assert.equal(await page.saved[0].blob.text(), "hello");
  // Not the sender's text/plain: see memory_sink.ts.
  assert.equal(page.saved[0].blob.type, "application/octet-stream");
});

Deno.test("makeSink() zips several files in memory as the last resort", async () => {
  const page = fakePage();
  const features = {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: false,
  };
  const sink = await makeSink(download(features, TWO), TWO, page.actions);
  assert.equal(sink.kind, "zip");
  assert.equal(sink.inMemory, true);
  await writeAll(sink, TWO, ["hello", "bye"]);
  assert.deepEqual(page.calls, [`blob:${ZIP_NAME}`]);
  const zip = await page.saved[0].blob.text();
  assert.ok(zip.startsWith("PK\x03\x04"), "a zip archive");
  assert.ok(zip.includes("hello") && zip.includes("bye"));
});

const FOLDER: FileMeta[] = [
  { ...meta("a.txt", 5), path: "trip/a.txt" },
  { ...meta("b.txt", 3), path: "trip/days/b.txt" },
];

Deno.test("isMany() counts a shared folder's one file as several", () => {
  assert.equal(isMany(ONE), false);
  assert.equal(isMany(TWO), true);
  assert.equal(isMany([FOLDER[0]]), true);
});

Deno.test("zipNameOf() names the zip after the one folder shared", () => {
  assert.equal(zipNameOf(FOLDER), "trip.zip");
  assert.equal(zipNameOf(TWO), ZIP_NAME);
  assert.equal(zipNameOf([...FOLDER, meta("c.txt", 1)]), ZIP_NAME);
  assert.equal(zipNameOf([{ ...meta("x", 1), path: "../con/x" }]), "_con.zip");
});

Deno.test("destinations() offers a folder for a shared folder's one file", () => {
  const features = {
    saveFilePicker: false,
    directoryPicker: true,
    serviceWorker: true,
  };
  const list = destinations([FOLDER[0]], features);
  assert.deepEqual(list.map((d) => d.id), ["download", "folder"]);
  assert.match(list[0].description, /one zip file \(trip\.zip\)/);
  assert.match(list[1].description, /in its own folders/);
});

Deno.test("makeSink() zips a shared folder through the save picker under its name", async () => {
  const page = fakePage({ save: true });
  const features = {
    saveFilePicker: true,
    directoryPicker: false,
    serviceWorker: false,
  };
  const sink = await makeSink(
    download(features, FOLDER),
    FOLDER,
    page.actions,
  );
  assert.equal(sink.kind, "zip");
  assert.deepEqual(page.calls, ["save:trip.zip"]);
  await writeAll(sink, FOLDER, ["hello", "bye"]);
  assert.equal(page.picked[0].committed, true);
});

Deno.test("makeSink() saves a shared folder into the picked folder with its subfolders", async () => {
  const page = fakePage({ folder: true });
  const features = {
    saveFilePicker: false,
    directoryPicker: true,
    serviceWorker: false,
  };
  const folder = destinations(FOLDER, features)[1];
  const sink = await makeSink(folder, FOLDER, page.actions);
  await writeAll(sink, FOLDER, ["hello", "bye"]);
  assert.deepEqual(
    [...page.folder.tree()].map(([path, file]) => [path, file.text]),
    [["trip/a.txt", "hello"], ["trip/days/b.txt", "bye"]],
  );
});
