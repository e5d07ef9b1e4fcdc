import assert from "node:assert/strict";
import type { FileMeta } from "./sink.ts";
import { dosDateTime, type ZipOptions, zipSize, ZipWriter } from "./zip.ts";
import { pseudoRandomBytes } from "../../tests/_helpers/bytes.ts";
import { crc32 } from "node:zlib";

const encoder = new TextEncoder();

interface TestFile {
  meta: FileMeta;
  bytes: Uint8Array;
}

function file(name: string, bytes: Uint8Array | string, lastModified = 0) {
  const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  return {
    meta: { name, size: data.length, type: "", lastModified },
    bytes: data,
  };
}

/** Writes the files as a zip, in `chunk`-byte writes, into a temp file. */
async function writeZip(
  files: TestFile[],
  options: ZipOptions = {},
  chunk = 1000,
): Promise<{ path: string; bytes: Uint8Array }> {
  const path = await Deno.makeTempFile({ suffix: ".zip" });
  const out = await Deno.open(path, { write: true, truncate: true });
  try {
    const zip = new ZipWriter(async (bytes) => {
      let at = 0;
      while (at < bytes.length) at += await out.write(bytes.subarray(at));
    }, options);
    for (const { meta, bytes } of files) {
      const entry = zip.add(meta);
      for (let i = 0; i < bytes.length; i += chunk) {
        await entry.write(bytes.subarray(i, i + chunk));
      }
      await entry.close();
    }
    await zip.finish();
    assert.equal(zip.bytesWritten, zipSize(files.map((f) => f.meta), options));
  } finally {
    out.close();
  }
  return { path, bytes: await Deno.readFile(path) };
}

/** What Python's zipfile reads from an archive. */
interface PythonView {
  bad: string | null;
  zip64: boolean;
  entries: {
    name: string;
    size: number;
    crc: number;
    flags: number;
    date: number[];
    sha256: string;
  }[];
}

const PYTHON_READER = `
import hashlib, json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    with open(sys.argv[1], "rb") as f:
        zip64 = b"PK\\x06\\x06" in f.read()
    entries = []
    for info in z.infolist():
        entries.append({
            "name": info.filename,
            "size": info.file_size,
            "crc": info.CRC,
            "flags": info.flag_bits,
            "date": list(info.date_time),
            "sha256": hashlib.sha256(z.read(info)).hexdigest(),
        })
    print(json.dumps({"bad": bad, "zip64": zip64, "entries": entries}))
`;

async function readWithPython(path: string): Promise<PythonView> {
  const output = await new Deno.Command("python3", {
    args: ["-c", PYTHON_READER, path],
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `python3 failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** `unzip` (Info-ZIP) runs in every test run: tests/setup.ts installs it. */
async function unzip(...args: string[]): Promise<string> {
  const output = await new Deno.Command("unzip", { args }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.equal(
    output.code,
    0,
    `unzip ${args.join(" ")} failed:\n${text}${
      new TextDecoder().decode(output.stderr)
    }`,
  );
  return text;
}

async function unzipTest(path: string): Promise<void> {
  assert.match(await unzip("-t", path), /No errors detected/);
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

async function assertArchive(
  files: TestFile[],
  options: ZipOptions = {},
  chunk?: number,
): Promise<PythonView> {
  const { path } = await writeZip(files, options, chunk);
  try {
    const view = await readWithPython(path);
    assert.equal(view.bad, null);
    assert.deepEqual(
      view.entries.map((e) => e.name),
      files.map((f) => f.meta.name),
    );
    for (const [i, { bytes }] of files.entries()) {
      const entry = view.entries[i];
      assert.equal(entry.size, bytes.length);
      // Computed here from the input: Python's own reads check the stored
      // CRC only against the bytes in the archive.
      assert.equal(entry.crc, crc32(bytes), "the stored CRC is zlib's");
      assert.equal(entry.flags & 0x0808, 0x0808);
      assert.equal(entry.sha256, await sha256(bytes));
    }
    // unzip calls an empty archive a warning (exit code 1).
    if (files.length > 0) await unzipTest(path);
    return view;
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("ZipWriter writes stored entries that zipfile and unzip verify", async () => {
  const view = await assertArchive([
    file("hello.txt", "Hello, Beam!\n"),
    file("empty", ""),
    file("random.bin", pseudoRandomBytes(100_000, 42)),
    file("one byte", "x"),
  ]);
  assert.equal(view.zip64, false);
});

Deno.test("ZipWriter keeps names with spaces and non-Latin letters", async () => {
  await assertArchive([
    file("résumé 履歴書.txt", "CV\n"),
    file("Привет мир.md", "# hi\n"),
    file("emoji 🎉 party.txt", ""),
    file("spaces   inside .txt", "s"),
  ]);
});

Deno.test("ZipWriter stores a DOS date and time in local time", async () => {
  const moment = new Date(2024, 2, 9, 13, 45, 58).getTime();
  const view = await assertArchive([file("dated.txt", "d", moment)]);
  assert.deepEqual(view.entries[0].date, [2024, 3, 9, 13, 45, 58]);
});

Deno.test("ZipWriter writes ZIP64 records that zipfile reads", async () => {
  const files = [
    file("a.txt", "alpha\n"),
    file("empty.txt", ""),
    file("名前 b.bin", pseudoRandomBytes(70_000, 7)),
  ];
  const view = await assertArchive(files, { forceZip64: true }, 4096);
  assert.equal(view.zip64, true);
  const { path, bytes } = await writeZip(files, { forceZip64: true });
  await Deno.remove(path);
  // The first local header: version 4.5, size markers, a 20-byte extra.
  const local = new DataView(bytes.buffer);
  assert.equal(local.getUint16(4, true), 45);
  assert.equal(local.getUint32(18, true), 0xffffffff);
  assert.equal(local.getUint32(22, true), 0xffffffff);
  assert.equal(local.getUint16(28, true), 20);
  // Its data descriptor has 8-byte sizes.
  const descriptor = 30 + 5 + 20 + 6;
  assert.equal(local.getUint32(descriptor, true), 0x08074b50);
  assert.equal(local.getBigUint64(descriptor + 8, true), 6n);
  assert.equal(local.getBigUint64(descriptor + 16, true), 6n);
});

Deno.test("ZipWriter writes a valid archive with no entries", async () => {
  const view = await assertArchive([]);
  assert.deepEqual(view.entries, []);
  const zip64 = await assertArchive([], { forceZip64: true });
  assert.deepEqual(zip64.entries, []);
});

Deno.test("zipSize() equals the bytes written for many shapes", async () => {
  const shapes: TestFile[][] = [
    [],
    [file("a", "")],
    [file("é", "abc"), file("b c", pseudoRandomBytes(5000, 1))],
    Array.from(
      { length: 40 },
      (_, i) => file(`file ${i} 文件`, pseudoRandomBytes(i * 37, i + 1)),
    ),
  ];
  for (const files of shapes) {
    for (const forceZip64 of [false, true]) {
      const { path, bytes } = await writeZip(files, { forceZip64 });
      await Deno.remove(path);
      assert.equal(
        bytes.length,
        zipSize(files.map((f) => f.meta), { forceZip64 }),
      );
    }
  }
});

Deno.test("zipSize() accounts for ZIP64 when sizes and offsets pass 4 GiB", () => {
  const meta = (name: string, size: number): FileMeta => ({
    name,
    size,
    type: "",
    lastModified: 0,
  });
  // One small file: header 30 + 1, data 10, descriptor 16; central 46 + 1;
  // end 22.
  assert.equal(zipSize([meta("a", 10)]), 30 + 1 + 10 + 16 + 46 + 1 + 22);
  // A 5 GiB file: ZIP64 local extra (20) and descriptor (24), central extra
  // with both sizes (4 + 16); the central directory then starts past 4 GiB,
  // so the ZIP64 end record (56) and locator (20) appear.
  const big = 5 * 2 ** 30;
  assert.equal(
    zipSize([meta("a", big)]),
    30 + 1 + 20 + big + 24 + 46 + 1 + 20 + 56 + 20 + 22,
  );
  // A second file whose header starts past 4 GiB needs a ZIP64 offset (4 + 8)
  // in the central directory, though its own sizes are small.
  assert.equal(
    zipSize([meta("a", big), meta("b", 1)]),
    30 + 1 + 20 + big + 24 + (30 + 1 + 1 + 16) +
      (46 + 1 + 20) + (46 + 1 + 12) + 56 + 20 + 22,
  );
  // Exactly 0xffffffff bytes is the ZIP64 marker, so it counts as ZIP64.
  assert.equal(
    zipSize([meta("a", 0xffffffff)]),
    30 + 1 + 20 + 0xffffffff + 24 + 46 + 1 + 20 + 56 + 20 + 22,
  );
  // 65535 entries or more need the ZIP64 end record for the count.
  const many = Array.from({ length: 0xffff }, () => meta("x", 0));
  assert.equal(
    zipSize(many),
    0xffff * (30 + 1 + 16 + 46 + 1) + 56 + 20 + 22,
  );
});

Deno.test("ZipWriter rejects sizes other than the announced one", async () => {
  const zip = new ZipWriter(async () => {});
  const entry = zip.add({ name: "a", size: 3, type: "", lastModified: 0 });
  await assert.rejects(
    () => entry.write(encoder.encode("four")),
    RangeError,
  );
  await entry.write(encoder.encode("ab"));
  await assert.rejects(() => entry.close(), {
    name: "RangeError",
    message: 'Cannot close "a": 2 of the 3 bytes announced were written',
  });
  await entry.write(encoder.encode("c"));
  await entry.close();
  await assert.rejects(() => entry.write(encoder.encode("d")), {
    message: 'Cannot write to "a": it is closed',
  });
  await zip.finish();
});

Deno.test("ZipWriter opens one entry at a time", async () => {
  const zip = new ZipWriter(async () => {});
  const first = zip.add({ name: "a", size: 0, type: "", lastModified: 0 });
  assert.throws(
    () => zip.add({ name: "b", size: 0, type: "", lastModified: 0 }),
    {
      message: 'Cannot add "b" to the zip: "a" is still open',
    },
  );
  await assert.rejects(() => zip.finish(), {
    message: 'Cannot finish the zip: "a" is still open',
  });
  await first.close();
  await zip.finish();
  assert.throws(
    () => zip.add({ name: "c", size: 0, type: "", lastModified: 0 }),
    {
      message: 'Cannot add "c" to the zip: the archive is finished',
    },
  );
});

Deno.test("ZipWriter rejects bad names and sizes", () => {
  const zip = new ZipWriter(async () => {});
  assert.throws(
    () => zip.add({ name: "", size: 0, type: "", lastModified: 0 }),
    TypeError,
  );
  assert.throws(
    () => zip.add({ name: "a", size: -1, type: "", lastModified: 0 }),
    RangeError,
  );
  assert.throws(
    () => zip.add({ name: "a", size: 1.5, type: "", lastModified: 0 }),
    RangeError,
  );
  assert.throws(
    () =>
      zip.add({ name: "a".repeat(70_000), size: 0, type: "", lastModified: 0 }),
    RangeError,
  );
});

Deno.test("ZipWriter fails the archive when an entry is aborted", async () => {
  const zip = new ZipWriter(async () => {});
  const entry = zip.add({ name: "a", size: 5, type: "", lastModified: 0 });
  await entry.write(encoder.encode("ab"));
  await entry.abort(new Error("peer left"));
  assert.throws(
    () => zip.add({ name: "b", size: 0, type: "", lastModified: 0 }),
    {
      message: 'Cannot add "b" to the zip: the archive failed',
    },
  );
  await assert.rejects(() => zip.finish(), {
    message: "Cannot finish the zip: the archive failed",
  });
});

Deno.test("ZipWriter reports a failing sink", async () => {
  let calls = 0;
  const zip = new ZipWriter(() => {
    calls++;
    return calls === 2
      ? Promise.reject(new Error("disk full"))
      : Promise.resolve();
  });
  const entry = zip.add({ name: "a", size: 2, type: "", lastModified: 0 });
  await assert.rejects(() => entry.write(encoder.encode("ab")), {
    message: "disk full",
  });
  await assert.rejects(() => entry.close(), {
    message: 'Cannot close "a": the archive failed',
  });
});

Deno.test("dosDateTime() clamps to the years DOS can hold", () => {
  assert.deepEqual(dosDateTime(0), { date: 33, time: 0 });
  assert.deepEqual(dosDateTime(Number.NaN), { date: 33, time: 0 });
  assert.deepEqual(dosDateTime(new Date(2200, 0, 1).getTime()), {
    date: (127 << 9) | (12 << 5) | 31,
    time: (23 << 11) | (59 << 5) | 29,
  });
  assert.deepEqual(dosDateTime(new Date(1980, 0, 1, 0, 0, 3).getTime()), {
    date: 33,
    time: 1,
  });
});

Deno.test("ZipWriter writes a real ZIP64 archive past 4 GiB", async () => {
  // 4 GiB of zeros into a sparse file: the writer's bytes of zeros are
  // skipped with seek, so only its CRC work is real (about 5 s). The
  // archive is checked from its central directory, as a reader finds it:
  // unzip lists the ZIP64 sizes and extracts the entry past 4 GiB by its
  // ZIP64 offset, and Python reads the records; neither reads the zeros.
  const zero = new Uint8Array(64 << 20);
  const big = 2 ** 32 + 10;
  const files: FileMeta[] = [
    { name: "big.bin", size: big, type: "", lastModified: 0 },
    { name: "after 後.txt", size: 5, type: "", lastModified: 0 },
  ];
  const path = await Deno.makeTempFile({ suffix: ".zip" });
  try {
    const out = await Deno.open(path, { write: true });
    try {
      const zip = new ZipWriter(async (bytes) => {
        if (bytes === zero || bytes.buffer === zero.buffer) {
          await out.seek(bytes.length, Deno.SeekMode.Current);
          return;
        }
        let at = 0;
        while (at < bytes.length) at += await out.write(bytes.subarray(at));
      });
      const entry = zip.add(files[0]);
      for (let left = big; left > 0; left -= zero.length) {
        await entry.write(zero.subarray(0, Math.min(left, zero.length)));
      }
      await entry.close();
      const after = zip.add(files[1]);
      await after.write(encoder.encode("after"));
      await after.close();
      await zip.finish();
      assert.equal(zip.bytesWritten, zipSize(files));
    } finally {
      out.close();
    }
    assert.equal((await Deno.stat(path)).size, zipSize(files));

    const listing = await unzip("-Z", "-l", path);
    assert.match(listing, new RegExp(`\\b${big}\\b.* big\\.bin\\n`));
    assert.match(listing, /\b5\b.* after 後\.txt\n/);
    assert.equal(await unzip("-p", path, "after 後.txt"), "after");

    const output = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    infos = z.infolist()
    print(json.dumps({
        "names": [i.filename for i in infos],
        "sizes": [i.file_size for i in infos],
        "offsets": [i.header_offset for i in infos],
        "crcs": [i.CRC for i in infos],
        "after": z.read(infos[1]).decode(),
    }))
`,
        path,
      ],
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const view = JSON.parse(new TextDecoder().decode(output.stdout));
    assert.deepEqual(view.names, ["big.bin", "after 後.txt"]);
    assert.deepEqual(view.sizes, [big, 5]);
    assert.equal(view.offsets[1], 30 + 7 + 20 + big + 24);
    // zlib.crc32 of 2^32 + 10 zero bytes, computed once with Python.
    assert.equal(view.crcs[0], 0x6b87b1ec);
    assert.equal(view.after, "after");
  } finally {
    await Deno.remove(path);
  }
});
