import assert from "node:assert/strict";
import { channelPair } from "./memory_channel.ts";
import { FileSender, type SourceFile } from "./sender.ts";
import { FileReceiver, IntegrityError } from "./receiver.ts";
import { ChannelClosedError } from "./channel.ts";
import { Sha256, sha256Of, ShareDigests, toHex } from "./hash.ts";
import type { FileMeta, FileWriter, Sink } from "./sink.ts";
import { encodeControl } from "./wire.ts";
import { pseudoRandomBytes } from "../../tests/_helpers/bytes.ts";

function source(
  name: string,
  bytes: Uint8Array<ArrayBuffer>,
): SourceFile & { bytes: Uint8Array<ArrayBuffer> } {
  return {
    name,
    size: bytes.byteLength,
    type: "application/octet-stream",
    lastModified: 0,
    bytes,
    slice: (start, end) => ({
      arrayBuffer: () => Promise.resolve(bytes.slice(start, end).buffer),
    }),
  };
}

interface MemorySink extends Sink {
  files: Map<string, Uint8Array[]>;
  finished: boolean;
  aborted: boolean;
  maxPending: number;
}

function memorySink(writeDelayMs = 0): MemorySink {
  const sink: MemorySink = {
    kind: "memory",
    inMemory: true,
    files: new Map(),
    finished: false,
    aborted: false,
    maxPending: 0,
    open(meta: FileMeta): Promise<FileWriter> {
      const parts: Uint8Array[] = [];
      sink.files.set(meta.name, parts);
      return Promise.resolve({
        async write(chunk) {
          if (writeDelayMs) {
            await new Promise((r) => setTimeout(r, writeDelayMs));
          }
          parts.push(chunk.slice());
        },
        close: () => Promise.resolve(),
        abort: () => {
          sink.files.delete(meta.name);
          return Promise.resolve();
        },
      });
    },
    finish() {
      sink.finished = true;
      return Promise.resolve();
    },
    abort() {
      sink.aborted = true;
      return Promise.resolve();
    },
  };
  return sink;
}

function joined(parts: Uint8Array[] | undefined): Uint8Array {
  const out = new Uint8Array(
    (parts ?? []).reduce((n, p) => n + p.byteLength, 0),
  );
  let at = 0;
  for (const p of parts ?? []) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

Deno.test("FileSender and FileReceiver move several files intact, an empty one too", async () => {
  const files = [
    source("a.bin", pseudoRandomBytes(300_000, 1)),
    source("empty.txt", new Uint8Array(0)),
    source("résumé 履歴書.txt", pseudoRandomBytes(70_001, 2)),
  ];
  const [tx, rx] = channelPair();
  const sink = memorySink();
  const progress: number[] = [];
  const receiver = new FileReceiver({ files }, sink, {
    onProgress: (n) => progress.push(n),
  });
  const sender = new FileSender(tx, files, { chunkSize: 16 * 1024 });
  await Promise.all([sender.run(), receiver.receive(rx)]);
  for (const file of files) {
    assert.deepEqual(joined(sink.files.get(file.name)), file.bytes);
  }
  assert.equal(sink.finished, true);
  assert.equal(receiver.finished, true);
  assert.equal(progress.at(-1), 370_001);
  tx.close();
});

Deno.test("FileSender keeps at most its window in flight while the disk is slow", async () => {
  const file = source("slow.bin", pseudoRandomBytes(2_000_000));
  const [tx, rx] = channelPair(64 * 1024);
  let maxInFlight = 0;
  const sink = memorySink(2);
  const sender = new FileSender(tx, [file], {
    chunkSize: 32 * 1024,
    windowBytes: 256 * 1024,
    highWaterMark: 128 * 1024,
    lowWaterMark: 32 * 1024,
  });
  let written = 0;
  const check = setInterval(() => {
    maxInFlight = Math.max(maxInFlight, tx.bytesSent - written);
  }, 1);
  const done = Promise.all([
    sender.run(),
    new FileReceiver({ files: [file] }, sink, {
      ackBytes: 64 * 1024,
      onProgress: (n) => written = n,
    }).receive(rx),
  ]);
  await done;
  clearInterval(check);
  assert.ok(maxInFlight <= 256 * 1024 + 32 * 1024, `in flight ${maxInFlight}`);
  assert.deepEqual(joined(sink.files.get("slow.bin")), file.bytes);
  tx.close();
});

Deno.test("FileReceiver resumes on a new channel from the last written byte", async () => {
  const file = source("big.bin", pseudoRandomBytes(1_500_000, 7));
  const sink = memorySink();
  const receiver = new FileReceiver({ files: [file] }, sink, {
    ackBytes: 32 * 1024,
  });
  const [tx1, rx1] = channelPair(64 * 1024);
  const sender1 = new FileSender(tx1, [file], { chunkSize: 16 * 1024 });
  const first = receiver.receive(rx1);
  const run1 = sender1.run().catch((e) => e);
  // Cut the channel once about a third has been written.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (receiver.position > 500_000) {
        clearInterval(poll);
        resolve();
      }
    }, 1);
  });
  tx1.close();
  await assert.rejects(first, ChannelClosedError);
  assert.ok((await run1) instanceof ChannelClosedError);
  const resumedAt = receiver.position;
  assert.ok(resumedAt > 0 && resumedAt < file.size);

  const [tx2, rx2] = channelPair(64 * 1024);
  const sender2 = new FileSender(tx2, [file], { chunkSize: 16 * 1024 });
  await Promise.all([sender2.run(), receiver.receive(rx2)]);
  assert.deepEqual(joined(sink.files.get("big.bin")), file.bytes);
  // Only what was not yet written crossed again.
  assert.equal(tx2.bytesSent, file.size - resumedAt);
  tx2.close();
});

Deno.test("FileReceiver refuses a file whose checksum does not match, on both sides", async () => {
  const file = source("x.bin", pseudoRandomBytes(50_000));
  const [tx, rx] = channelPair();
  const sink = memorySink();
  const receiver = new FileReceiver({ files: [file] }, sink);
  const result = receiver.receive(rx);
  // A sender that lies about the hash.
  rx.addEventListener("message", () => {}, { once: true });
  tx.addEventListener("message", (event) => {
    if (!String((event as MessageEvent).data).includes('"start"')) return;
    tx.send(encodeControl({ t: "file", index: 0, offset: 0, meta: file }));
    tx.send(file.bytes.slice().buffer);
    tx.send(encodeControl({ t: "end", index: 0, sha256: "0".repeat(64) }));
  }, { once: true });
  const reply = new Promise<string>((resolve) => {
    tx.addEventListener("message", (event) => {
      const data = String((event as MessageEvent).data);
      if (data.includes("verified")) resolve(data);
    });
  });
  await assert.rejects(result, IntegrityError);
  assert.match(await reply, /"ok":false/);
  assert.equal(sink.files.has("x.bin"), false);
  assert.equal(sink.aborted, true);
  tx.close();
});

Deno.test("FileSender rejects when the receiver reports a checksum mismatch", async () => {
  const file = source("y.bin", pseudoRandomBytes(10_000));
  const [tx, rx] = channelPair();
  const run = new FileSender(tx, [file]).run();
  rx.send(encodeControl({ t: "start", index: 0, offset: 0 }));
  rx.send(encodeControl({ t: "verified", index: 0, ok: false }));
  await assert.rejects(run, /checksum mismatch/);
  tx.close();
});

Deno.test("FileReceiver rejects bytes beyond a file's size", async () => {
  const file = source("z.bin", pseudoRandomBytes(10));
  const [tx, rx] = channelPair();
  const sink = memorySink();
  const result = new FileReceiver({ files: [file] }, sink).receive(rx);
  tx.send(encodeControl({ t: "file", index: 0, offset: 0, meta: file }));
  tx.send(new Uint8Array(11).buffer);
  await assert.rejects(result, /more bytes than its 10/);
  tx.close();
});

Deno.test("Sha256 hashes incrementally like a one-shot digest", async () => {
  const bytes = pseudoRandomBytes(1_000_003);
  const h = await Sha256.create();
  for (let i = 0; i < bytes.length; i += 65_536) {
    h.update(bytes.subarray(i, i + 65_536));
  }
  const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  assert.equal(
    h.hex(),
    [...expected].map((b) => b.toString(16).padStart(2, "0")).join(""),
  );
});

Deno.test("FileSender reads readSize blocks and sends them as chunkSize messages", async () => {
  const file = source("blocks.bin", pseudoRandomBytes(1_000_000, 3));
  const reads: number[] = [];
  const counted: SourceFile = {
    ...file,
    slice: (start, end) => {
      reads.push(end - start);
      return file.slice(start, end);
    },
  };
  const [tx, rx] = channelPair();
  const sizes: number[] = [];
  rx.addEventListener("message", (event) => {
    const data = (event as MessageEvent).data;
    if (typeof data !== "string") sizes.push(data.byteLength);
  });
  const sink = memorySink();
  await Promise.all([
    new FileSender(tx, [counted], { chunkSize: 10_000, readSize: 300_000 })
      .run(),
    new FileReceiver({ files: [file] }, sink).receive(rx),
  ]);
  assert.deepEqual(reads, [300_000, 300_000, 300_000, 100_000]);
  assert.equal(sizes.length, 100);
  assert.ok(sizes.every((n) => n === 10_000));
  assert.deepEqual(joined(sink.files.get("blocks.bin")), file.bytes);
  tx.close();
});

Deno.test("sha256Of() hashes a file in blocks like a one-shot digest", async () => {
  const file = source("whole.bin", pseudoRandomBytes(2_500_001, 6));
  const expected = toHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", file.bytes)),
  );
  assert.equal(await sha256Of(file, 1_000_000), expected);
  assert.equal(
    await sha256Of(source("none", new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("ShareDigests hashes each file once and names a missing index", async () => {
  const files = [
    source("one", pseudoRandomBytes(10_000, 1)),
    source("two", pseudoRandomBytes(20_000, 2)),
  ];
  let reads = 0;
  const counted = files.map((file) => ({
    ...file,
    slice: (start: number, end: number) => {
      reads++;
      return file.slice(start, end);
    },
  }));
  const digests = new ShareDigests(counted);
  assert.equal(await digests.get(1), await sha256Of(files[1]));
  assert.equal(await digests.get(0), await sha256Of(files[0]));
  await digests.get(0);
  assert.equal(reads, 2);
  await assert.rejects(digests.get(2), /Cannot hash file 2/);
});

Deno.test("ShareDigests.stop() ends the hashing of files not yet hashed", async () => {
  const files = [
    source("first", pseudoRandomBytes(3_000_000, 1)),
    source("second", pseudoRandomBytes(3_000_000, 2)),
  ];
  const digests = new ShareDigests(files);
  digests.stop();
  await assert.rejects(digests.get(0), /sharing stopped/);
  await assert.rejects(digests.get(1), /sharing stopped/);
});

Deno.test("FileSender with digests sends the given SHA-256 and re-reads nothing on resume", async () => {
  const file = source("given.bin", pseudoRandomBytes(600_000, 8));
  const digests = new ShareDigests([file]);
  const sink = memorySink();
  const receiver = new FileReceiver({ files: [file] }, sink, {
    ackBytes: 32 * 1024,
  });
  const [tx1, rx1] = channelPair(64 * 1024);
  const first = receiver.receive(rx1);
  const run1 = new FileSender(tx1, [file], {
    chunkSize: 16 * 1024,
    digest: (i) => digests.get(i),
  }).run().catch((e) => e);
  const deadline = Date.now() + 10_000;
  while (receiver.position < 200_000) {
    assert.ok(Date.now() < deadline, "the first transfer stalled");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  tx1.close();
  await assert.rejects(first, ChannelClosedError);
  assert.ok((await run1) instanceof ChannelClosedError);
  const resumedAt = receiver.position;

  const reads: number[] = [];
  const counted: SourceFile = {
    ...file,
    slice: (start, end) => {
      reads.push(start);
      return file.slice(start, end);
    },
  };
  const [tx2, rx2] = channelPair(64 * 1024);
  await Promise.all([
    new FileSender(tx2, [counted], {
      chunkSize: 16 * 1024,
      digest: (i) => digests.get(i),
    }).run(),
    receiver.receive(rx2),
  ]);
  assert.deepEqual(joined(sink.files.get("given.bin")), file.bytes);
  // Nothing before the resume point was read again.
  assert.ok(reads.every((start) => start >= resumedAt), `${reads}`);
  tx2.close();
});

Deno.test("FileSender fails the transfer when a file's digest cannot be made", async () => {
  const file = source("gone.bin", pseudoRandomBytes(1_000, 9));
  const [tx, rx] = channelPair();
  const receiver = new FileReceiver({ files: [file] }, memorySink());
  const got = receiver.receive(rx).catch((e) => e);
  await assert.rejects(
    new FileSender(tx, [file], {
      digest: () =>
        Promise.reject(new Error("Cannot read gone.bin: it was modified")),
    }).run(),
    /Cannot read gone.bin: it was modified/,
  );
  tx.close();
  assert.ok((await got) instanceof Error);
});
