import assert from "node:assert/strict";
import { channelPair, type MemoryChannel } from "./memory_channel.ts";
import { FileSender, metaOf, type SourceFile } from "./sender.ts";
import {
  FileReceiver,
  IntegrityError,
  type ReceiveOptions,
} from "./receiver.ts";
import { CancelledError, ChannelClosedError, drained } from "./channel.ts";
import { Sha256, sha256Of, ShareDigests, toHex } from "./hash.ts";
import type { FileMeta, FileWriter, Sink } from "./sink.ts";
import {
  type ControlMessage,
  encodeControl,
  type Failure,
  MAX_CONTROL_CHARS,
} from "./wire.ts";
import { CHUNK_BYTES, WINDOW_BYTES } from "./tuning.ts";
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

/**
 * A sink kept in memory. Each write waits `writeDelayMs`, and for `gate`
 * when one is given: a disk that has stalled until the test opens it.
 */
function memorySink(writeDelayMs = 0, gate?: Promise<void>): MemorySink {
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
          await gate;
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
  // Measured at every send, where what is in flight peaks: a timer that
  // samples now and then could miss the peak.
  const send = tx.send.bind(tx);
  tx.send = (data) => {
    send(data);
    maxInFlight = Math.max(maxInFlight, tx.bytesSent - written);
  };
  await Promise.all([
    sender.run(),
    new FileReceiver({ files: [file] }, sink, {
      ackBytes: 64 * 1024,
      onProgress: (n) => written = n,
    }).receive(rx),
  ]);
  assert.ok(maxInFlight <= 256 * 1024 + 32 * 1024, `in flight ${maxInFlight}`);
  assert.deepEqual(joined(sink.files.get("slow.bin")), file.bytes);
  tx.close();
});

Deno.test("FileReceiver resumes on a new channel from the last written byte", async () => {
  const file = source("big.bin", pseudoRandomBytes(1_500_000, 7));
  const sink = memorySink();
  const third = Promise.withResolvers<void>();
  const receiver = new FileReceiver({ files: [file] }, sink, {
    ackBytes: 32 * 1024,
    onProgress: (bytes) => bytes > 500_000 && third.resolve(),
  });
  const [tx1, rx1] = channelPair(64 * 1024);
  const sender1 = new FileSender(tx1, [file], { chunkSize: 16 * 1024 });
  const first = receiver.receive(rx1);
  const run1 = sender1.run().catch((e) => e);
  // Cut the channel once about a third has been written.
  await within(third.promise, 10_000, "a third written");
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
    tx.send(
      encodeControl({ t: "file", index: 0, offset: 0, meta: metaOf(file) }),
    );
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
  rx.addEventListener("message", (event) => {
    const data = (event as MessageEvent).data;
    if (typeof data === "string" && JSON.parse(data).t === "end") {
      rx.send(encodeControl({ t: "verified", index: 0, ok: false }));
    }
  });
  rx.send(encodeControl({ t: "start", index: 0, offset: 0 }));
  await assert.rejects(run, /y\.bin arrived corrupted \(checksum mismatch\)/);
  tx.close();
});

Deno.test("FileReceiver rejects bytes beyond a file's size", async () => {
  const file = source("z.bin", pseudoRandomBytes(10));
  const [tx, rx] = channelPair();
  const sink = memorySink();
  const result = new FileReceiver({ files: [file] }, sink).receive(rx);
  tx.send(
    encodeControl({ t: "file", index: 0, offset: 0, meta: metaOf(file) }),
  );
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
  const some = Promise.withResolvers<void>();
  const receiver = new FileReceiver({ files: [file] }, sink, {
    ackBytes: 32 * 1024,
    onProgress: (bytes) => bytes >= 200_000 && some.resolve(),
  });
  const [tx1, rx1] = channelPair(64 * 1024);
  const first = receiver.receive(rx1);
  const run1 = new FileSender(tx1, [file], {
    chunkSize: 16 * 1024,
    digest: (i) => digests.get(i),
  }).run().catch((e) => e);
  await within(some.promise, 10_000, "200,000 bytes written");
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

// A peer that breaks the protocol: each side must refuse it with an error
// that says what came, never write it down or count it as done.

/** Control messages `channel` receives, parsed, as they arrive. */
function controls(channel: EventTarget): ControlMessage[] {
  const seen: ControlMessage[] = [];
  channel.addEventListener("message", (event) => {
    const data = (event as MessageEvent).data;
    if (typeof data === "string") seen.push(JSON.parse(data));
  });
  return seen;
}

/** Resolves with the first control message of type `t` on `channel`. */
function nextControl(
  channel: EventTarget,
  t: ControlMessage["t"],
): Promise<ControlMessage> {
  return new Promise((resolve) => {
    const listener = (event: Event) => {
      const data = (event as MessageEvent).data;
      if (typeof data !== "string" || JSON.parse(data).t !== t) return;
      channel.removeEventListener("message", listener);
      resolve(JSON.parse(data));
    };
    channel.addEventListener("message", listener);
  });
}

/**
 * A receiver of `files` on a fresh channel, fed by the test through `tx`
 * once it has said where to start. Returns what it settled with, what it
 * told the sender, and its sink.
 */
/** The header of file 0 from its start, as an honest sender sends it. */
function firstHeader(file: FileMeta): string {
  return encodeControl({ t: "file", index: 0, offset: 0, meta: metaOf(file) });
}

async function scriptedSender(
  files: FileMeta[],
  script: (tx: MemoryChannel) => void,
  options: ReceiveOptions & { sink?: MemorySink } = {},
) {
  const [tx, rx] = channelPair();
  const told = controls(tx);
  const sink = options.sink ?? memorySink();
  const receiver = new FileReceiver({ files }, sink, options);
  const started = nextControl(tx, "start");
  const toldWhy = nextControl(tx, "error");
  const result = receiver.receive(rx).then(() => null, (error) => error);
  await started;
  script(tx);
  const error = await within(result, 10_000, "the receiver's verdict");
  // A refusal is sent to the sender as it is made: wait for it to cross
  // (the time limit only turns a missing message into a failure, not a hang).
  if (error !== null) await within(toldWhy, 10_000, "the receiver's error");
  tx.close();
  return { error, told, sink, receiver };
}

/** `promise`, or a failure naming `what` if it takes over `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts the receiver refused with `pattern`, told the sender why and kept nothing. */
function assertRefused(
  outcome: Awaited<ReturnType<typeof scriptedSender>>,
  pattern: RegExp,
): void {
  assert.ok(outcome.error instanceof Error, "the receiver did not refuse");
  assert.match(outcome.error.message, pattern);
  const told = outcome.told.find((m) => m.t === "error");
  assert.deepEqual(told, { t: "error", message: outcome.error.message });
  assert.equal(outcome.sink.aborted, true);
  assert.equal(outcome.sink.finished, false);
  assert.equal(outcome.receiver.finished, false);
}

const TWO = [
  source("one.bin", pseudoRandomBytes(1_000, 11)),
  source("two.bin", pseudoRandomBytes(2_000, 12)),
];

Deno.test("FileReceiver refuses a header for another file than the next", async () => {
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(
      encodeControl({ t: "file", index: 1, offset: 0, meta: metaOf(TWO[1]) }),
    );
  });
  assertRefused(outcome, /the sender sent file 1, expected 0/);
  assert.equal(outcome.sink.files.size, 0);
});

Deno.test("FileReceiver refuses a header for a file outside the share", async () => {
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(
      encodeControl({ t: "file", index: 2, offset: 0, meta: metaOf(TWO[1]) }),
    );
  });
  assertRefused(outcome, /the sender sent file 2, expected 0/);
});

Deno.test("FileReceiver refuses a header whose offset is not what it has written", async () => {
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(
      encodeControl({ t: "file", index: 0, offset: 10, meta: metaOf(TWO[0]) }),
    );
  });
  assertRefused(outcome, /sender starts at byte 10, but 0 are written/);
});

/**
 * A receiver of `file` whose first channel carried its header and 300 bytes,
 * then broke: what a resume starts from.
 */
async function brokenAt300(file: SourceFile & { bytes: Uint8Array }) {
  const sink = memorySink();
  const written = Promise.withResolvers<void>();
  const receiver = new FileReceiver({ files: [file] }, sink, {
    onProgress: (bytes) => bytes === 300 && written.resolve(),
  });
  const [tx, rx] = channelPair();
  const first = receiver.receive(rx);
  await nextControl(tx, "start");
  tx.send(
    encodeControl({ t: "file", index: 0, offset: 0, meta: metaOf(file) }),
  );
  tx.send(file.bytes.slice(0, 300).buffer);
  await written.promise;
  tx.close();
  await assert.rejects(first, ChannelClosedError);
  assert.equal(receiver.position, 300);
  return { receiver, sink };
}

Deno.test("FileReceiver refuses a resumed header whose offset does not match", async () => {
  const [file] = TWO;
  const { receiver, sink } = await brokenAt300(file);
  // The second asks for byte 300; a sender that starts elsewhere is refused.
  const [tx2, rx2] = channelPair();
  const told = controls(tx2);
  const second = receiver.receive(rx2);
  assert.deepEqual(await nextControl(tx2, "start"), {
    t: "start",
    index: 0,
    offset: 300,
    end: 1,
  });
  const toldWhy = nextControl(tx2, "error");
  tx2.send(
    encodeControl({ t: "file", index: 0, offset: 200, meta: metaOf(file) }),
  );
  await assert.rejects(
    second,
    /Cannot resume one\.bin: the sender starts at byte 200, but 300 are written/,
  );
  assert.match(
    (await within(toldWhy, 10_000, "the receiver's error") as Failure).message,
    /starts at byte 200/,
  );
  assert.equal(told.filter((m) => m.t === "error").length, 1);
  assert.equal(sink.aborted, true);
  tx2.close();
});

Deno.test("FileReceiver refuses bytes before a file header", async () => {
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(TWO[0].bytes.slice(0, 10).buffer);
  });
  assertRefused(outcome, /file bytes came before a file header/);
  assert.equal(outcome.sink.files.size, 0);
});

Deno.test("FileReceiver refuses bytes between one file's end and the next header", async () => {
  const [one] = TWO;
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(firstHeader(one));
    tx.send(one.bytes.slice().buffer);
    sha256Of(one).then((sha256) => {
      tx.send(encodeControl({ t: "end", index: 0, sha256 }));
      tx.send(new Uint8Array(5).buffer);
    });
  });
  assertRefused(outcome, /file bytes came before a file header/);
  // The first file was whole and verified before the stray bytes came.
  assert.deepEqual(
    outcome.told.filter((m) => m.t === "verified"),
    [{ t: "verified", index: 0, ok: true }],
  );
});

Deno.test("FileReceiver refuses bytes on a resumed channel before its header", async () => {
  const [file] = TWO;
  const { receiver } = await brokenAt300(file);
  // The file is still open from the first channel, but this channel has not
  // said which file or where: its bytes must not be appended.
  const [tx2, rx2] = channelPair();
  const second = receiver.receive(rx2);
  await nextControl(tx2, "start");
  tx2.send(file.bytes.slice(300, 400).buffer);
  await assert.rejects(second, /file bytes came before a file header/);
  assert.equal(receiver.position, 300);
  tx2.close();
});

Deno.test("FileReceiver refuses an end for another file than the one open", async () => {
  const [one] = TWO;
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(firstHeader(one));
    tx.send(one.bytes.slice().buffer);
    tx.send(encodeControl({ t: "end", index: 1, sha256: "0".repeat(64) }));
  });
  assertRefused(outcome, /unexpected end of file 1/);
});

Deno.test("FileReceiver refuses done before every file arrived", async () => {
  const [one] = TWO;
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(firstHeader(one));
    tx.send(one.bytes.slice(0, 500).buffer);
    tx.send(encodeControl({ t: "done" }));
  });
  assertRefused(outcome, /the sender stopped after 0 of 2 files/);
  // The half-written file was given up, not kept as if complete.
  assert.equal(outcome.sink.files.has("one.bin"), false);
});

Deno.test("FileReceiver refuses done after the first of two files", async () => {
  const [one] = TWO;
  const outcome = await scriptedSender(TWO, (tx) => {
    tx.send(firstHeader(one));
    tx.send(one.bytes.slice().buffer);
    sha256Of(one).then((sha256) => {
      tx.send(encodeControl({ t: "end", index: 0, sha256 }));
      tx.send(encodeControl({ t: "done" }));
    });
  });
  assertRefused(outcome, /the sender stopped after 1 of 2 files/);
});

// A sender that pushes past what the receiver allows: the receiver counts
// what arrives as it arrives, whatever its disk is doing.

/** A file of `size` zero bytes, announced but never read. */
function zeros(name: string, size: number): FileMeta {
  return { name, size, type: "application/octet-stream", lastModified: 0 };
}

/**
 * A script that sends `file`'s header and `chunks` while the sink has
 * stalled, then (once every message has arrived) lets the sink go on.
 */
function pushWhileStalled(
  file: FileMeta,
  chunks: number[],
  opened: () => void,
): (tx: MemoryChannel) => void {
  return (tx) => {
    tx.send(
      encodeControl({ t: "file", index: 0, offset: 0, meta: metaOf(file) }),
    );
    for (const size of chunks) tx.send(new Uint8Array(size).buffer);
    drained(tx).then(opened);
  };
}

Deno.test("FileReceiver refuses bytes past its window while its disk has stalled", async () => {
  // The attack: a sender that ignores acknowledgements and pushes until the
  // receiving page's memory is full. At the default window, one chunk past
  // window plus the one-chunk slack is refused before the stalled sink
  // took anything but the first chunk.
  const chunks = WINDOW_BYTES / CHUNK_BYTES + 2;
  const file = zeros("big.bin", 64 * WINDOW_BYTES);
  const gate = Promise.withResolvers<void>();
  const sink = memorySink(0, gate.promise);
  const outcome = await scriptedSender(
    [file],
    pushWhileStalled(file, Array(chunks).fill(CHUNK_BYTES), gate.resolve),
    { sink },
  );
  assertRefused(
    outcome,
    /^Cannot receive: the sender sent more than the window allows$/,
  );
  // Nothing that came after the refusal was written: at most the chunk
  // whose write was under way when it came.
  assert.ok(outcome.receiver.position <= CHUNK_BYTES);
});

Deno.test("FileReceiver takes a window plus one chunk unacknowledged from an honest sender", async () => {
  // The same stalled disk, one chunk less: the most an honest sender can
  // have in flight (its window, or one chunk when nothing is) is taken.
  const size = WINDOW_BYTES + CHUNK_BYTES;
  const file = zeros("edge.bin", size);
  const hash = await Sha256.create();
  hash.update(new Uint8Array(size));
  const sha256 = hash.hex();
  const gate = Promise.withResolvers<void>();
  const outcome = await scriptedSender(
    [file],
    (tx) =>
      pushWhileStalled(
        file,
        Array(size / CHUNK_BYTES).fill(CHUNK_BYTES),
        () => {
          gate.resolve();
          tx.send(encodeControl({ t: "end", index: 0, sha256 }));
          tx.send(encodeControl({ t: "done" }));
        },
      )(tx),
    { sink: memorySink(0, gate.promise) },
  );
  assert.equal(outcome.error, null);
  assert.equal(outcome.receiver.finished, true);
});

Deno.test("FileReceiver holds the sender to the window it gives, counted from each acknowledgement", async () => {
  // A slow disk: an honest FileSender with the same window never trips it;
  // a second file past the first's acknowledgements is not counted twice.
  const files = [
    source("a.bin", pseudoRandomBytes(300_000, 1)),
    source("b.bin", pseudoRandomBytes(300_000, 2)),
  ];
  const [tx, rx] = channelPair(64 * 1024);
  const sink = memorySink(1);
  const options = { windowBytes: 64 * 1024, maxChunkBytes: 16 * 1024 };
  await Promise.all([
    new FileSender(tx, files, { ...options, chunkSize: 16 * 1024 }).run(),
    new FileReceiver({ files }, sink, { ...options, ackBytes: 16 * 1024 })
      .receive(rx),
  ]);
  for (const file of files) {
    assert.deepEqual(joined(sink.files.get(file.name)), file.bytes);
  }
  tx.close();
});

Deno.test("FileReceiver refuses a message larger than the largest chunk", async () => {
  const file = source("large.bin", pseudoRandomBytes(CHUNK_BYTES + 1, 5));
  const sha256 = await sha256Of(file);
  const outcome = await scriptedSender([file], (tx) => {
    tx.send(
      encodeControl({ t: "file", index: 0, offset: 0, meta: metaOf(file) }),
    );
    tx.send(file.bytes.slice().buffer);
    tx.send(encodeControl({ t: "end", index: 0, sha256 }));
    tx.send(encodeControl({ t: "done" }));
  });
  assertRefused(
    outcome,
    /sent a message of 262145 bytes; chunks are 1 to 262144 bytes/,
  );
  assert.equal(outcome.sink.files.has("large.bin"), false);
});

Deno.test("FileReceiver refuses an empty binary message", async () => {
  const [one] = TWO;
  const outcome = await scriptedSender([one], (tx) => {
    tx.send(firstHeader(one));
    tx.send(new ArrayBuffer(0));
    tx.send(one.bytes.slice().buffer);
    sha256Of(one).then((sha256) => {
      tx.send(encodeControl({ t: "end", index: 0, sha256 }));
      tx.send(encodeControl({ t: "done" }));
    });
  });
  assertRefused(outcome, /sent a message of 0 bytes/);
});

Deno.test("FileReceiver refuses a flood of tiny messages while its disk has stalled", async () => {
  // Each fits the window in bytes, but every message waiting costs the page
  // far more than its one byte: they are charged 256 bytes each.
  const file = zeros("tiny.bin", 10_000);
  const gate = Promise.withResolvers<void>();
  const outcome = await scriptedSender(
    [file],
    pushWhileStalled(file, Array(1_000).fill(1), gate.resolve),
    {
      sink: memorySink(0, gate.promise),
      windowBytes: 64 * 1024,
      maxChunkBytes: 16 * 1024,
    },
  );
  assertRefused(outcome, /the sender sent more than the window allows/);
  assert.ok(outcome.receiver.position <= 1);
});

Deno.test("FileReceiver refuses more control messages than the share needs", async () => {
  // Two files need two headers, two ends and done (and room for an error):
  // a sender repeating a header that would be taken each time is cut off.
  const [one] = TWO;
  const outcome = await scriptedSender(TWO, (tx) => {
    for (let i = 0; i < 7; i++) {
      tx.send(firstHeader(one));
    }
    tx.send(one.bytes.slice().buffer);
    sha256Of(one).then((sha256) => {
      tx.send(encodeControl({ t: "end", index: 0, sha256 }));
    });
  });
  assertRefused(
    outcome,
    /^Cannot receive: the sender sent more control messages than the share needs$/,
  );
});

/**
 * A sender of `files` on a fresh channel, with the test as its receiver.
 * Returns how `run()` settled.
 */
async function scriptedReceiver(
  files: SourceFile[],
  script: (rx: MemoryChannel) => void,
): Promise<unknown> {
  const [tx, rx] = channelPair();
  const run = new FileSender(tx, files).run().then(() => null, (e) => e);
  script(rx);
  const error = await within(run, 10_000, "the sender's verdict");
  tx.close();
  return error;
}

/** Asserts `error` is the refusal `pattern` describes. */
function assertSenderRefused(error: unknown, pattern: RegExp): void {
  assert.ok(error instanceof Error, "the sender did not refuse");
  assert.match(error.message, pattern);
}

Deno.test("FileSender refuses a start at a file outside the share", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 3, offset: 0 }));
  });
  assertSenderRefused(error, /Cannot resume: file 3 is not in this share/);
});

Deno.test("FileSender refuses a start past the end of the share", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 2, offset: 1 }));
  });
  assertSenderRefused(error, /offset 1 is past the end of the share/);
});

Deno.test("FileSender refuses a resume offset past the end of its file", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 0, offset: 1_001 }));
  });
  assertSenderRefused(
    error,
    /Cannot resume one\.bin: offset 1001 is past its end/,
  );
});

Deno.test("FileSender sends only done for a start at the end of the share", async () => {
  // A receiver that had every file verified when the channel broke.
  const [tx, rx] = channelPair();
  const seen = controls(rx);
  const run = new FileSender(tx, TWO).run();
  const done = nextControl(rx, "done");
  rx.send(encodeControl({ t: "start", index: 2, offset: 0 }));
  await run;
  await done;
  assert.deepEqual(seen, [{ t: "done" }]);
  assert.equal(tx.bytesSent, 0);
  tx.close();
});

Deno.test("FileSender refuses a second start", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 0, offset: 0 }));
    rx.send(encodeControl({ t: "start", index: 1, offset: 0 }));
  });
  assertSenderRefused(error, /the receiver asked to start twice/);
});

Deno.test("FileSender refuses an ack of bytes it never sent", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 1, offset: 0 }));
    rx.send(encodeControl({ t: "ack", bytes: 1_000_000 }));
  });
  assertSenderRefused(
    error,
    /acknowledged 1000000 bytes of the share, but \d+ were sent/,
  );
});

Deno.test("FileSender refuses a verified for a file it has not ended", async () => {
  // The share is done only when each file's hash was checked: a receiver
  // that says "verified" for files never sent must not end it early.
  for (const index of [1, 7]) {
    const error = await scriptedReceiver(TWO, (rx) => {
      rx.send(encodeControl({ t: "start", index: 0, offset: 0 }));
      rx.send(encodeControl({ t: "verified", index, ok: true }));
    });
    assertSenderRefused(
      error,
      new RegExp(`the receiver verified file ${index}, which was not sent`),
    );
  }
});

Deno.test("FileSender refuses a verified for a file before where the receiver started", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 1, offset: 0 }));
    rx.send(encodeControl({ t: "verified", index: 0, ok: true }));
  });
  assertSenderRefused(
    error,
    /the receiver verified file 0, which was not sent/,
  );
});

for (const t of ["file", "end", "done"] as const) {
  Deno.test(`FileSender refuses a "${t}" message from the receiver`, async () => {
    const message: ControlMessage = t === "file"
      ? { t, index: 0, offset: 0, meta: metaOf(TWO[0]) }
      : t === "end"
      ? { t, index: 0, sha256: "0".repeat(64) }
      : { t };
    const error = await scriptedReceiver(TWO, (rx) => {
      rx.send(encodeControl({ t: "start", index: 0, offset: 0 }));
      rx.send(encodeControl(message));
    });
    assertSenderRefused(
      error,
      new RegExp(`unexpected "${t}" message from the receiver`),
    );
  });
}

Deno.test("FileSender refuses a verified for a file already verified", async () => {
  // Repeats would pile up in the sender's queue, never read.
  const error = await scriptedReceiver(TWO, (rx) => {
    nextControl(rx, "end").then(() => {
      rx.send(encodeControl({ t: "verified", index: 0, ok: true }));
      rx.send(encodeControl({ t: "verified", index: 0, ok: true }));
    });
    rx.send(encodeControl({ t: "start", index: 0, offset: 0 }));
  });
  assertSenderRefused(error, /the receiver verified file 0 twice/);
});

Deno.test("FileSender refuses a control message longer than MAX_CONTROL_CHARS", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(JSON.stringify({
      t: "start",
      index: 0,
      offset: 0,
      pad: "x".repeat(MAX_CONTROL_CHARS),
    }));
  });
  assertSenderRefused(error, /longer than 16384 characters/);
});

Deno.test("FileSender.halt() stops the file data, and a message sent after it is the next the receiver reads", async () => {
  const file = source("big.bin", pseudoRandomBytes(4 * 1024 * 1024, 7));
  const [tx, rx] = channelPair(64 * 1024);
  const sink = memorySink();
  const sender = new FileSender(tx, [file], { chunkSize: 16 * 1024 });
  const sent = sender.run();
  let halted = false;
  const received = new FileReceiver({ files: [file] }, sink, {
    onProgress: (bytes) => {
      if (bytes < 256 * 1024 || halted) return;
      halted = true;
      sender.halt(new Error("Cannot send: sharing stopped"));
      // What the sending session does next: say why.
      if (tx.readyState === "open") {
        tx.send(encodeControl({ t: "error", message: "it stopped." }));
      }
    },
  }).receive(rx);
  await assert.rejects(sent, { message: "Cannot send: sharing stopped" });
  await assert.rejects(received, {
    message: "The sender stopped: it stopped.",
  });
  // Far less than the whole file crossed: the data stopped at the halt.
  assert.ok(tx.bytesSent < file.size / 2, `${tx.bytesSent} bytes sent`);
  tx.close();
});

Deno.test("FileSender rejects with a CancelledError when the receiver cancels", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 0, offset: 0 }));
    rx.send(encodeControl({ t: "cancel" }));
  });
  assert.ok(error instanceof CancelledError, String(error));
  assert.match(error.message, /the receiver cancelled/);
});

Deno.test("FileReceiver rejects with a CancelledError when the sender cancels, and removes the partial file without a word back", async () => {
  const [one] = TWO;
  const [tx, rx] = channelPair();
  const told = controls(tx);
  const sink = memorySink();
  const receiver = new FileReceiver({ files: TWO }, sink);
  const started = nextControl(tx, "start");
  const result = receiver.receive(rx).then(() => null, (error) => error);
  await started;
  tx.send(firstHeader(one));
  tx.send(one.bytes.slice(0, 500).buffer);
  tx.send(encodeControl({ t: "cancel" }));
  const error = await within(result, 10_000, "the receiver's verdict");
  assert.ok(error instanceof CancelledError, String(error));
  assert.equal(sink.aborted, true);
  assert.equal(sink.files.has("one.bin"), false);
  assert.equal(told.some((m) => m.t === "error"), false);
  tx.close();
});

Deno.test("FileReceiver.abort() mid-transfer gives the sink up once and writes nothing after", async () => {
  const [one] = TWO;
  const [tx, rx] = channelPair();
  let aborts = 0;
  const sink = memorySink();
  const abort = sink.abort.bind(sink);
  sink.abort = (reason?: unknown) => {
    aborts++;
    return abort(reason);
  };
  const receiver = new FileReceiver({ files: TWO }, sink);
  const started = nextControl(tx, "start");
  receiver.receive(rx).catch(() => {});
  await started;
  tx.send(firstHeader(one));
  tx.send(one.bytes.slice(0, 500).buffer);
  await within(
    (async () => {
      while (receiver.position < 500) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })(),
    10_000,
    "the first bytes written",
  );
  await Promise.all([receiver.abort(new Error("cancelled")), receiver.abort()]);
  // Bytes still on the way are dropped unread: no "bytes before a header".
  tx.send(one.bytes.slice(500).buffer);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(aborts, 1);
  assert.equal(receiver.position, 500);
  assert.equal(sink.files.has("one.bin"), false);
  tx.close();
});

Deno.test("FileSender sends only the files before the receiver's end", async () => {
  // A receiver whose list was made before a third file was added.
  const files = [
    source("a.bin", pseudoRandomBytes(5_000, 31)),
    source("b.bin", pseudoRandomBytes(7_000, 32)),
    source("added.bin", pseudoRandomBytes(3_000, 33)),
  ];
  const [tx, rx] = channelPair();
  const sink = memorySink();
  const receiver = new FileReceiver({ files: files.slice(0, 2) }, sink);
  await Promise.all([new FileSender(tx, files).run(), receiver.receive(rx)]);
  assert.deepEqual([...sink.files.keys()], ["a.bin", "b.bin"]);
  assert.equal(receiver.finished, true);
  tx.close();
});

Deno.test("FileSender sends a start without end only the files it listed", async () => {
  // A page that predates adding files names no end: it gets its list's.
  const [tx, rx] = channelPair();
  const seen = controls(rx);
  const run = new FileSender(tx, TWO, { listed: 1 }).run();
  const done = nextControl(rx, "done");
  rx.send(encodeControl({ t: "start", index: 1, offset: 0 }));
  await run;
  await done;
  assert.deepEqual(seen, [{ t: "done" }]);
  tx.close();
});

Deno.test("FileSender refuses a start whose end is past its files", async () => {
  const error = await scriptedReceiver(TWO, (rx) => {
    rx.send(encodeControl({ t: "start", index: 0, offset: 0, end: 3 }));
  });
  assertSenderRefused(error, /asked for 3 files, but the share has 2/);
});

Deno.test("FileReceiver from a later file receives only the files added", async () => {
  const files = [
    source("first.bin", pseudoRandomBytes(4_000, 41)),
    source("added.bin", pseudoRandomBytes(6_000, 42)),
  ];
  const [tx, rx] = channelPair();
  const sink = memorySink();
  const progress: number[] = [];
  const receiver = new FileReceiver({ files }, sink, {
    from: 1,
    onProgress: (n) => progress.push(n),
  });
  assert.equal(receiver.position, 4_000);
  const started = nextControl(tx, "start");
  const run = new FileSender(tx, files).run();
  const receiving = receiver.receive(rx);
  assert.deepEqual(await started, { t: "start", index: 1, offset: 0, end: 2 });
  await Promise.all([run, receiving]);
  assert.deepEqual([...sink.files.keys()], ["added.bin"]);
  assert.deepEqual(joined(sink.files.get("added.bin")), files[1].bytes);
  assert.equal(progress.at(-1), 10_000);
  tx.close();
});
