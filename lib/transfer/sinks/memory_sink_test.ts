import assert from "node:assert/strict";
import { memorySink } from "./memory_sink.ts";
import { meta, writeAll } from "../../../tests/_helpers/sink_io.ts";

const encoder = new TextEncoder();

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
  assert.equal(saved[0][1].type, "application/octet-stream");
  assert.deepEqual(new Uint8Array(await saved[1][1].arrayBuffer()), big);
  assert.equal(saved[2][1].size, 0);
});

Deno.test("memorySink() types every Blob application/octet-stream and saves it under a sanitized name", async () => {
  // An object URL of the page's own origin typed text/html would run the
  // sender's script there if it were opened instead of downloaded.
  for (
    const [name, type, saveAs] of [
      ["page.html", "text/html", "page.html"],
      ["image.svg", "image/svg+xml", "image.svg"],
      ["a.txt", "text/plain", "a.txt"],
      ["evil\u202egpj.html", "text/html", "evil_gpj.html"],
      [".htaccess", "application/zip", "htaccess"],
    ]
  ) {
    const saved: [string, Blob][] = [];
    const sink = memorySink({
      save: (blob, name) => void saved.push([name, blob]),
    });
    await writeAll(sink, [[meta(name, 2, type), encoder.encode("<a")]]);
    assert.equal(saved[0][0], saveAs);
    assert.equal(saved[0][1].type, "application/octet-stream", type);
    assert.equal(await saved[0][1].text(), "<a");
  }
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
