import assert from "node:assert/strict";
import { channelPair, type MemoryChannel } from "./memory_channel.ts";
import { FileSender } from "./sender.ts";
import { FileReceiver } from "./receiver.ts";
import { ChannelClosedError } from "./channel.ts";
import { sha256Of } from "./hash.ts";
import { memoryFile, MemoryFiles, type MemoryLinks } from "./fakes.ts";
import { startShare, until as within } from "../../tests/_helpers/sessions.ts";
import { encodeControl, type Lane } from "./wire.ts";
import { pseudoRandomBytes } from "../../tests/_helpers/bytes.ts";
import {
  LaneGrowth,
  type LaneGrowthOptions,
  lanesAllowed,
  lanesEager,
} from "./lanes.ts";

const KiB = 1024;

function share() {
  return [
    memoryFile("a.bin", pseudoRandomBytes(700 * KiB + 3, 1)),
    memoryFile("empty.txt", new Uint8Array(0)),
    memoryFile("b.bin", pseudoRandomBytes(300 * KiB + 11, 2)),
    memoryFile("c.bin", pseudoRandomBytes(5, 3)),
  ];
}

/** Waits until `check()` holds, a tick at a time. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 1));
}

/**
 * A sender and a receiver over a first channel and `speeds.length`
 * parallel ones (bytes per tick each: unequal speeds deliver out of order).
 * Parallel channels join once the receiver's `start` has reached the
 * sender, receiver first, as the sessions join them.
 */
async function parallel(
  speeds: number[],
  options: {
    onWrite?: (written: number, lanes: MemoryChannel[]) => void;
    /** Called when `done` arrives on the first channel. */
    onDone?: (lanes: MemoryChannel[]) => void;
  } = {},
) {
  const files = share();
  const sink = new MemoryFiles();
  const [tx, rx] = channelPair(64 * KiB);
  const receiver = new FileReceiver({ files }, sink, {
    ackBytes: 32 * KiB,
    windowBytes: 256 * KiB,
  });
  const sender = new FileSender(tx, files, {
    chunkSize: 16 * KiB,
    readSize: 64 * KiB,
    highWaterMark: 64 * KiB,
    lowWaterMark: 16 * KiB,
    windowBytes: 256 * KiB,
  });
  const lanes = speeds.map((speed) => channelPair(speed));
  sink.onWrite = (written) =>
    options.onWrite?.(written, lanes.map(([lane]) => lane));
  rx.addEventListener("message", (event) => {
    const data = (event as MessageEvent).data;
    if (typeof data === "string" && data.includes('"t":"done"')) {
      options.onDone?.(lanes.map(([lane]) => lane));
    }
  });
  const sent = sender.run();
  const received = receiver.receive(rx);
  await until(() => sink.written > 0);
  for (const [laneTx, laneRx] of lanes) {
    assert.equal(receiver.addLane(laneRx), true);
    sender.addLane(laneTx);
  }
  assert.equal(sender.channels, 1 + speeds.length);
  await Promise.all([sent, received]);
  return { files, sink, receiver, tx, lanes };
}

Deno.test("FileReceiver puts a share in order from three channels that deliver out of order", async () => {
  const { files, sink, receiver, tx, lanes } = await parallel([
    8 * KiB,
    32 * KiB,
  ]);
  for (const file of files) {
    const bytes = new Uint8Array(await file.slice(0, file.size).arrayBuffer());
    assert.deepEqual(sink.bytes(file.name), bytes, file.name);
  }
  assert.equal(receiver.finished, true);
  assert.equal(sink.finished, true);
  // Every channel carried part of it.
  assert.ok(tx.bytesSent > 0);
  for (const [lane] of lanes) assert.ok(lane.bytesSent > 0);
  assert.ok(
    tx.bytesSent + lanes.reduce((n, [lane]) => n + lane.bytesSent, 0) >=
      files.reduce((n, f) => n + f.size, 0),
  );
});

Deno.test("FileSender sends again what a parallel channel held when it closes mid-range", async () => {
  let cut = false;
  const { files, sink, receiver } = await parallel([16 * KiB, 16 * KiB], {
    onWrite: (written, lanes) => {
      if (!cut && written > 200 * KiB) {
        cut = true;
        // Whatever it still held is lost with it.
        lanes[0].close();
      }
    },
  });
  assert.equal(cut, true);
  for (const file of files) {
    const bytes = new Uint8Array(await file.slice(0, file.size).arrayBuffer());
    assert.deepEqual(sink.bytes(file.name), bytes, file.name);
  }
  assert.equal(receiver.finished, true);
});

Deno.test("FileSender sends again what a parallel channel held when it closes after the last byte was handed out", async () => {
  let cut = false;
  // The slow one still holds chunks when the sender has sent `done`.
  const { files, sink, receiver } = await parallel([1 * KiB], {
    onDone: (lanes) => {
      cut = true;
      lanes[0].close();
    },
  });
  assert.equal(cut, true);
  for (const file of files) {
    const bytes = new Uint8Array(await file.slice(0, file.size).arrayBuffer());
    assert.deepEqual(sink.bytes(file.name), bytes, file.name);
  }
  assert.equal(receiver.finished, true);
});

Deno.test("FileSender gives up a parallel channel whose buffer stopped moving, sends what it held on the others, and uses it again once it drains", async () => {
  const files = share();
  const sink = new MemoryFiles();
  // A slow first channel: the transfer is still under way when the
  // other drains again.
  const [tx, rx] = channelPair(4 * KiB);
  const [laneTx, laneRx] = channelPair(16 * KiB);
  const receiver = new FileReceiver({ files }, sink, {
    ackBytes: 32 * KiB,
    windowBytes: 256 * KiB,
  });
  const sender = new FileSender(tx, files, {
    chunkSize: 16 * KiB,
    readSize: 64 * KiB,
    highWaterMark: 64 * KiB,
    lowWaterMark: 16 * KiB,
    windowBytes: 256 * KiB,
    stuckMs: 100,
  });
  const sent = sender.run();
  const received = receiver.receive(rx);
  await until(() => sink.written > 0);
  receiver.addLane(laneRx);
  sender.addLane(laneTx);
  // In retransmission timeouts: open, silent, its buffer frozen.
  await until(() => laneTx.bytesSent > 64 * KiB);
  laneTx.vanish();
  await until(() => sender.channels === 1);
  // Out of them: its buffer drains, and it carries chunks again.
  const before = laneTx.bytesSent;
  laneTx.revive();
  await until(() => laneTx.bytesSent > before);
  await Promise.all([sent, received]);
  for (const file of files) {
    const bytes = new Uint8Array(await file.slice(0, file.size).arrayBuffer());
    assert.deepEqual(sink.bytes(file.name), bytes, file.name);
  }
  laneTx.close();
  tx.close();
});

Deno.test("FileReceiver resumes with parallel channels after the first one breaks", async () => {
  const files = share();
  const sink = new MemoryFiles();
  const receiver = new FileReceiver({ files }, sink);
  const options = {
    chunkSize: 16 * KiB,
    readSize: 64 * KiB,
    highWaterMark: 64 * KiB,
    lowWaterMark: 16 * KiB,
  };
  for (let attempt = 0;; attempt++) {
    const [tx, rx] = channelPair(32 * KiB);
    const [laneTx, laneRx] = channelPair(16 * KiB);
    const sender = new FileSender(tx, files, options);
    const sent = sender.run();
    const received = receiver.receive(rx);
    sent.catch(() => {});
    received.catch(() => {});
    await until(() => sink.written > 0 || attempt > 0);
    await new Promise((resolve) => setTimeout(resolve, 1));
    receiver.addLane(laneRx);
    sender.addLane(laneTx);
    if (attempt === 0) {
      // The first connection breaks, with bytes held on both channels.
      await until(() => sink.written > 300 * KiB);
      tx.close();
      laneTx.close();
      await assert.rejects(received, ChannelClosedError);
      await assert.rejects(sent, ChannelClosedError);
      assert.ok(receiver.position > 300 * KiB);
      continue;
    }
    await Promise.all([sent, received]);
    break;
  }
  for (const file of files) {
    const bytes = new Uint8Array(await file.slice(0, file.size).arrayBuffer());
    assert.deepEqual(sink.bytes(file.name), bytes, file.name);
  }
  assert.equal(receiver.finished, true);
});

/**
 * A receiver with a parallel channel, and the sender's ends of both, for
 * what a hostile sender might send. Resolves once `start` arrived.
 */
async function hostile() {
  const files = [memoryFile("a.bin", pseudoRandomBytes(64 * KiB, 4))];
  const sink = new MemoryFiles();
  const receiver = new FileReceiver({ files }, sink, {
    windowBytes: 32 * KiB,
    maxChunkBytes: 16 * KiB,
  });
  const [tx, rx] = channelPair();
  const [laneTx, laneRx] = channelPair();
  const received = receiver.receive(rx);
  received.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 5));
  receiver.addLane(laneRx);
  tx.send(
    encodeControl({
      t: "file",
      index: 0,
      offset: 0,
      meta: { ...files[0], type: "application/octet-stream" },
    }),
  );
  return { received, tx, laneTx, sink };
}

Deno.test("FileReceiver refuses bytes on a parallel channel before it says where they go", async () => {
  const { received, laneTx } = await hostile();
  laneTx.send(new Uint8Array(100));
  await assert.rejects(received, /file bytes came before a file header/);
});

Deno.test("FileReceiver refuses two `at`s with no bytes between", async () => {
  const { received, laneTx } = await hostile();
  laneTx.send(encodeControl({ t: "at", position: 0 }));
  laneTx.send(encodeControl({ t: "at", position: 10 }));
  await assert.rejects(received, /said twice where bytes go/);
});

Deno.test("FileReceiver refuses bytes past the window on a parallel channel", async () => {
  const { received, laneTx, sink } = await hostile();
  laneTx.send(encodeControl({ t: "at", position: 60 * KiB }));
  laneTx.send(new Uint8Array(4 * KiB));
  await assert.rejects(received, /more than the window allows/);
  assert.equal(sink.aborted, true);
});

Deno.test("FileReceiver refuses overlapping bytes", async () => {
  const { received, laneTx, tx } = await hostile();
  laneTx.send(encodeControl({ t: "at", position: 1000 }));
  laneTx.send(new Uint8Array(1000));
  tx.send(new Uint8Array(1500));
  await assert.rejects(received, /overlapping bytes/);
});

Deno.test("FileReceiver refuses a file header on a parallel channel", async () => {
  const { received, laneTx } = await hostile();
  laneTx.send(encodeControl({ t: "done" }));
  await assert.rejects(received, /"done" message on a parallel connection/);
});

Deno.test("FileReceiver hands `lane` messages of the first channel to the session", async () => {
  const files = [memoryFile("a.bin", pseudoRandomBytes(10, 5))];
  const heard: Lane[] = [];
  const receiver = new FileReceiver({ files }, new MemoryFiles(), {
    onLane: (message) => heard.push(message),
  });
  const [tx, rx] = channelPair();
  const sender = new FileSender(tx, files);
  const lane: Lane = { t: "lane", lane: 2, sdp: "v=0", mac: "m" };
  const done = Promise.all([sender.run(), receiver.receive(rx)]);
  tx.send(encodeControl(lane));
  await done;
  assert.deepEqual(heard, [lane]);
});

Deno.test("FileSender hands `lane` messages to the session, and refuses them without one", async () => {
  const files = [memoryFile("a.bin", pseudoRandomBytes(10, 6))];
  const heard: Lane[] = [];
  const [tx, rx] = channelPair();
  const sender = new FileSender(tx, files, {
    onLane: (message) => heard.push(message),
  });
  const lane: Lane = { t: "lane", lane: 1, ready: true };
  rx.send(encodeControl(lane));
  await Promise.all([
    sender.run(),
    new FileReceiver({ files }, new MemoryFiles()).receive(rx),
  ]);
  assert.deepEqual(heard, [lane]);

  const [tx2, rx2] = channelPair();
  const plain = new FileSender(tx2, files);
  rx2.send(encodeControl(lane));
  await assert.rejects(plain.run(), /unexpected "lane" message/);
});

Deno.test("FileSender refuses a message from the receiver on a parallel channel", async () => {
  const files = [memoryFile("a.bin", pseudoRandomBytes(256 * KiB, 7))];
  const [tx, rx] = channelPair(8 * KiB);
  const [laneTx, laneRx] = channelPair();
  const sender = new FileSender(tx, files, { chunkSize: 4 * KiB });
  const sent = sender.run();
  const received = new FileReceiver({ files }, new MemoryFiles()).receive(rx);
  received.catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 5));
  sender.addLane(laneTx);
  laneRx.send("hello");
  await assert.rejects(sent, /sent a message on a parallel connection/);
});

function growth(options: Partial<LaneGrowthOptions> = {}) {
  return new LaneGrowth({
    max: 8,
    settleMs: 1000,
    measureMs: 2000,
    gain: 1.15,
    minBytesLeft: 0,
    ...options,
  });
}

/** Feeds `growth` a steady `rate` (bytes/s) from `from` to `to` ms. */
function feed(
  g: LaneGrowth,
  state: { bytes: number; now: number },
  rate: (lanes: number) => number,
  to: number,
  rttMs: number | null = 50,
): number[] {
  const asked: number[] = [];
  for (; state.now <= to; state.now += 100) {
    state.bytes += rate(g.lanes) / 10;
    const want = g.sample(state.bytes, state.now, 1e12, rttMs);
    if (want !== 0) asked.push(want);
    if (want > 0) g.opened(want);
  }
  return asked;
}

Deno.test("LaneGrowth doubles the connections while the rate grows, up to its maximum", () => {
  const g = growth();
  const state = { bytes: 0, now: 0 };
  // Each connection adds 3 MB/s: every doubling pays.
  const asked = feed(g, state, (n) => n * 3e6, 30_000);
  assert.deepEqual(asked, [1, 2, 4]);
  assert.equal(g.lanes, 8);
});

Deno.test("LaneGrowth closes a doubling that did not pay, and adds no more", () => {
  const g = growth();
  const state = { bytes: 0, now: 0 };
  // Two connections fill the path: four add nothing.
  const asked = feed(g, state, (n) => Math.min(n, 2) * 5e6, 30_000);
  assert.deepEqual(asked, [1, 2, -2]);
  assert.equal(g.lanes, 2);
  assert.equal(g.done, true);
});

Deno.test("LaneGrowth goes back to one connection when a second does not pay", () => {
  const g = growth();
  const state = { bytes: 0, now: 0 };
  // A second connection costs more CPU than it gains (loopback).
  const asked = feed(g, state, (n) => n === 1 ? 10e6 : 8e6, 30_000);
  assert.deepEqual(asked, [1, -1]);
  assert.equal(g.lanes, 1);
});

Deno.test("LaneGrowth settles and measures for at least eight round trips", () => {
  const g = growth({ settleMs: 100, measureMs: 100 });
  const state = { bytes: 0, now: 0 };
  // At 200 ms: 1.6 s to settle, 1.6 s to measure.
  assert.deepEqual(feed(g, state, () => 1e6, 3_100, 200), []);
  assert.deepEqual(feed(g, state, () => 1e6, 3_300, 200), [1]);
});

Deno.test("LaneGrowth tries nothing over a round trip under minRttMs", () => {
  const g = growth({ minRttMs: 10 });
  const state = { bytes: 0, now: 0 };
  assert.deepEqual(feed(g, state, () => 10e6, 30_000, 0.3), []);
  assert.equal(g.done, true);
  // Unknown: tried.
  const unknown = growth({ minRttMs: 10 });
  assert.deepEqual(feed(unknown, { bytes: 0, now: 0 }, () => 1e6, 4000, null), [
    1,
  ]);
});

Deno.test("LaneGrowth adds nothing to a transfer about to end, or past its maximum", () => {
  const ending = growth({ minBytesLeft: 100e6 });
  assert.equal(ending.sample(0, 0, 50e6), 0);
  assert.equal(ending.sample(5e6, 5000, 45e6), 0);
  const one = growth({ max: 1 });
  const state = { bytes: 0, now: 0 };
  assert.deepEqual(feed(one, state, () => 1e6, 10_000), []);
});

Deno.test("LaneGrowth waits for connections asked for that never open", () => {
  const g = growth();
  const state = { bytes: 0, now: 0 };
  let asked = 0;
  for (; state.now < 20_000; state.now += 100) {
    state.bytes += 1e5;
    asked += g.sample(state.bytes, state.now, 1e12);
  }
  // Asked once; none opened, so nothing to measure and no more asked.
  assert.equal(asked, 1);
  g.failed(1);
  assert.equal(g.done, true);
});

Deno.test("LaneGrowth opens every connection at once when eager, and no more", () => {
  const g = growth({ eager: true, max: 3 });
  assert.equal(g.sample(0, 0, 0), 2);
  g.opened(1);
  g.opened(1);
  assert.equal(g.lanes, 3);
  assert.equal(g.done, true);
});

Deno.test("lanesEager() is true for `=N` only", () => {
  assert.equal(lanesEager("=3"), true);
  assert.equal(lanesEager(" =8"), true);
  assert.equal(lanesEager("3"), false);
  assert.equal(lanesEager(null), false);
});

Deno.test("lanesAllowed() reads the `beam:lanes` setting", () => {
  assert.equal(lanesAllowed("=3"), 3);
  assert.equal(lanesAllowed(null), 8);
  assert.equal(lanesAllowed("1"), 1);
  assert.equal(lanesAllowed("3"), 3);
  assert.equal(lanesAllowed("20"), 8);
  assert.equal(lanesAllowed("off"), 1);
  assert.equal(lanesAllowed("0"), 1);
});

/** The bytes each link's own channel sent, in the order the links were made. */
function sentPerLink(links: MemoryLinks): number[] {
  return links.links.map((link) => link.channel?.bytesSent ?? 0);
}

Deno.test("the sessions add the connections a `=3` setting asks for, and the share arrives intact over all three", async () => {
  const share = await startShare(24 * 1024 * 1024);
  // Slow enough that the transfer is still under way when they open.
  share.links.bytesPerTick = 256 * KiB;
  const r = share.receiver({ lanesSetting: "=3" });
  await r.session.open();
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  // The first connection and two more, each made by both sides.
  assert.equal(share.links.links.length, 6);
  const sent = sentPerLink(share.links);
  assert.equal(sent.filter((bytes) => bytes > 0).length, 3);
  share.sender.stop();
});

Deno.test("the sessions add no connection when the sender's setting says one", async () => {
  const share = await startShare(8 * 1024 * 1024, { maxLanes: 1 });
  share.links.bytesPerTick = 256 * KiB;
  const r = share.receiver({ lanesSetting: "=3" });
  await r.session.open();
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.equal(share.links.links.length, 2);
  share.sender.stop();
});

Deno.test("a parallel connection whose certificate is not the signed one is not used, and the transfer goes on", async () => {
  const share = await startShare(16 * 1024 * 1024);
  share.links.bytesPerTick = 256 * KiB;
  // The first connection is made; whatever connects after it is someone
  // else's certificate.
  share.links.wrongCertificatesFrom = 2;
  const r = share.receiver({ lanesSetting: "=2" });
  await r.session.open();
  const done = r.session.download(r.sink);
  await done;
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.equal(share.links.links.length, 4);
  assert.deepEqual(sentPerLink(share.links).slice(2), [0, 0]);
  await within(
    () => share.links.links.slice(2).every((link) => link.closed),
    "both ends closed",
  );
  share.sender.stop();
});

Deno.test("the sessions close a connection that did not pay, and the share still arrives intact", async () => {
  const share = await startShare(24 * 1024 * 1024);
  share.links.bytesPerTick = 64 * KiB;
  share.links.roundTripMs = 1;
  const r = share.receiver({
    // Measured quickly, and no doubling can pay.
    laneGrowth: {
      settleMs: 10,
      measureMs: 30,
      gain: 1000,
      minBytesLeft: 0,
      minRttMs: 0,
    },
  });
  await r.session.open();
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.equal(share.links.links.length, 4);
  // The second connection carried bytes, then closed.
  assert.ok((share.links.links[3].channel?.bytesSent ?? 0) > 0);
  await within(() => share.links.links[2].closed, "the second one closed");
  share.sender.stop();
});

Deno.test("FileReceiver holds the next file's bytes until that file's header arrives on the first channel", async () => {
  const a = pseudoRandomBytes(10, 8);
  const b = pseudoRandomBytes(10, 9);
  const files = [memoryFile("a.bin", a), memoryFile("b.bin", b)];
  const sink = new MemoryFiles();
  const receiver = new FileReceiver({ files }, sink);
  const [tx, rx] = channelPair();
  const [laneTx, laneRx] = channelPair();
  const received = receiver.receive(rx);
  receiver.addLane(laneRx);
  // b's bytes come first, on the other channel; then, on the first, all
  // of a, its end and b's header.
  laneTx.send(encodeControl({ t: "at", position: 10 }));
  laneTx.send(b);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const meta = (file: typeof files[number]) => ({
    name: file.name,
    size: file.size,
    type: file.type,
    lastModified: file.lastModified,
  });
  tx.send(
    encodeControl({ t: "file", index: 0, offset: 0, meta: meta(files[0]) }),
  );
  tx.send(a);
  tx.send(
    encodeControl({ t: "end", index: 0, sha256: await sha256Of(files[0]) }),
  );
  tx.send(
    encodeControl({ t: "file", index: 1, offset: 0, meta: meta(files[1]) }),
  );
  tx.send(
    encodeControl({ t: "end", index: 1, sha256: await sha256Of(files[1]) }),
  );
  tx.send(encodeControl({ t: "done" }));
  await received;
  assert.deepEqual(sink.bytes("a.bin"), a);
  assert.deepEqual(sink.bytes("b.bin"), b);
});
