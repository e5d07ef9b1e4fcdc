import assert from "node:assert/strict";
import { RECEIVER_LEFT, STOPPED } from "./send_session.ts";
import { RECEIVER_SILENT } from "./send_machine.ts";
import { EVENT } from "../signal/protocol.ts";
import {
  ANSWER_BURST,
  ANSWERS_PER_SECOND,
  FINISHED_ROWS,
  MAX_WAITING,
} from "./tuning.ts";
import { startShare, until } from "../../tests/_helpers/sessions.ts";

Deno.test("SendSession serves several receivers at once and forgets each when done", async () => {
  const share = await startShare(2 * 1024 * 1024);
  const receivers = [share.receiver(), share.receiver(), share.receiver()];
  await Promise.all(receivers.map(async (r) => {
    await r.session.open();
    await r.session.download(r.sink);
  }));
  for (const r of receivers) {
    assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  }
  // The sender is done once the last `verified` reaches it, just after.
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const rows = share.rows.at(-1)!;
  assert.equal(rows.length, 3);
  assert.deepEqual(rows.map((row) => row.phase), ["done", "done", "done"]);
  assert.ok(rows.every((row) => row.bytes === share.bytes.byteLength));
  assert.equal(share.sender.liveCount, 0);
  assert.equal(share.sender.busy, false);
  share.sender.stop();
});

Deno.test("SendSession.busy is true while a receiver is mid-transfer", async () => {
  const share = await startShare(4 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver();
  await r.session.open();
  assert.equal(share.sender.busy, false, "a receiver that only asked");
  let seen = false;
  r.sink.onWrite = () => seen ||= share.sender.busy;
  await r.session.download(r.sink);
  assert.equal(seen, true);
  await until(() => !share.sender.busy, "the sender to finish");
  share.sender.stop();
});

Deno.test("SendSession tells the receiver to retry when the connection cannot be made", async () => {
  const share = await startShare(1024);
  share.links.fates.push("fail");
  const r = share.receiver();
  await r.session.open();
  await r.session.download(r.sink);
  const retry = share.signal.relayed.find((f) => f.event === EVENT.retry);
  assert.ok(retry, "a retry frame");
  assert.equal(retry.from, share.senderId);
  assert.ok(share.rows.some((rows) => rows[0]?.phase === "retrying"));
  await until(() => share.rows.at(-1)![0].phase === "done", "done");
  assert.equal(share.rows.at(-1)![0].attempt, 2);
  share.sender.stop();
});

Deno.test("SendSession shows 'The receiver left' when a broken receiver does not come back", async () => {
  const share = await startShare(8 * 1024 * 1024, { goneTimeoutMs: 30 });
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver();
  await r.session.open();
  const id = share.signal.relayed.find((f) => f.event === EVENT.request)!.from;
  // The receiving page vanishes mid-file: its connections just stop.
  r.sink.onWrite = (written) => {
    if (written !== 256 * 1024) return;
    r.session.close();
  };
  await r.session.download(r.sink).catch(() => {});
  await until(() => share.row(id)?.message === RECEIVER_LEFT, "the row");
  assert.equal(share.row(id)?.phase, "failed");
  assert.ok(share.rows.some((rows) => rows[0]?.phase === "resuming"));
  assert.equal(share.sender.liveCount, 0);
  share.sender.stop();
});

Deno.test("SendSession.stop() marks every unfinished receiver stopped", async () => {
  const share = await startShare(1024);
  // A connection that never opens keeps the receiver connecting.
  share.links.fates.push("stall");
  const r = share.receiver();
  await r.session.open();
  const done = r.session.download(r.sink);
  const id = share.signal.relayed.find((f) => f.event === EVENT.request)!.from;
  await until(() => share.row(id)?.phase === "connecting", "connecting");
  share.sender.stop();
  assert.equal(share.row(id)?.phase, "failed");
  assert.equal(share.row(id)?.message, STOPPED);
  assert.equal(share.sender.liveCount, 0);
  r.session.close();
  await done.catch(() => {});
});

Deno.test("SendSession answers a flood of requests at a pace, shows no row for them, and still serves a real receiver", async () => {
  const share = await startShare(64 * 1024);
  // 1,000 peers that know the sender's id (not the key) each ask once.
  const flood = await Promise.all(
    Array.from({ length: 1000 }, () => share.signal.connect()),
  );
  const began = Date.now();
  for (const peer of flood) peer.send(EVENT.request, share.senderId);
  await until(
    () =>
      share.signal.relayed.filter((f) => f.event === EVENT.request).length ===
        1000,
    "the flood to arrive",
  );
  const answered = () =>
    share.signal.relayed.filter((f) => f.event === EVENT.response).length;
  await until(() => answered() >= ANSWER_BURST, "the first answers");
  // At most the burst, plus what the pace allows for the time the flood
  // took to arrive (seconds on a busy machine): far below 1,000, and below
  // the sender's own rate limit.
  const allowed = ANSWER_BURST +
    Math.ceil(ANSWERS_PER_SECOND * (Date.now() - began) / 1000) + 2;
  assert.ok(answered() <= allowed, `${answered()} answers, ${allowed} allowed`);
  assert.ok(share.sender.liveCount <= MAX_WAITING);
  assert.deepEqual(share.rows.at(-1) ?? [], []);
  // A real receiver, asking once the burst is spent, is still served.
  const r = share.receiver();
  await r.session.open();
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  for (const peer of flood) peer.close();
  share.sender.stop();
});

Deno.test("SendSession shows what the receiver acknowledged on the data channel, not what signaling claims", async () => {
  const share = await startShare(2 * 1024 * 1024);
  // The server inflates every progress report, and writes its own error text.
  share.signal.tamper = (frame) =>
    frame.event === EVENT.progress && frame.to === share.senderId
      ? { ...frame, payload: { bytes: 1e15, total: 1e15 } }
      : frame;
  const r = share.receiver();
  await r.session.open();
  await r.session.download(r.sink);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const seen = share.rows.flat().map((row) => row.bytes);
  assert.ok(
    Math.max(...seen) <= share.bytes.byteLength,
    `${Math.max(...seen)}`,
  );
  share.sender.stop();
});

Deno.test("SendSession keeps the rows of the last FINISHED_ROWS finished receivers only", async () => {
  const share = await startShare(16);
  const extra = 5;
  for (let i = 0; i < FINISHED_ROWS + extra; i++) {
    const r = share.receiver();
    await r.session.open();
    await r.session.download(r.sink);
  }
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const rows = share.rows.at(-1)!;
  assert.equal(rows.length, FINISHED_ROWS);
  assert.ok(rows.every((row) => row.phase === "done"));
  const first = share.signal.relayed.filter((f) => f.event === EVENT.request)
    .map((f) => f.from);
  // The oldest went first.
  assert.equal(rows[0].id, first[extra]);
  assert.equal(share.sender.liveCount, 0);
  share.sender.stop();
});

Deno.test("SendSession keeps one row for a receiver that resumes under a new peer id, and it ends done", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 256 * 1024;
  const r = share.receiver();
  await r.session.open();
  const first = share.signal.ids.find((id) => id !== share.senderId)!;
  let cut = false;
  r.sink.onWrite = (written) => {
    if (cut || written < 1024 * 1024) return;
    cut = true;
    // What Firefox did when the page navigated to its download: the
    // signaling socket and the connection both go, and the receiver
    // resumes under the new id signaling gives it.
    share.signal.drop(first);
    share.links.links[0].close();
  };
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.ok(r.phases.includes("resuming"), r.phases.join(" "));
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const rows = share.rows.at(-1)!;
  assert.equal(rows.length, 1);
  assert.equal(rows[0].phase, "done");
  assert.notEqual(rows[0].id, first);
  // Never two rows for it, not even for a moment.
  assert.ok(share.rows.every((list) => list.length === 1));
  share.sender.stop();
});

Deno.test("SendSession tells receivers apart by their session ids: two receivers keep two rows", async () => {
  const share = await startShare(64 * 1024);
  const receivers = [share.receiver(), share.receiver()];
  for (const r of receivers) {
    await r.session.open();
    await r.session.download(r.sink);
  }
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(share.rows.at(-1)!.map((row) => row.phase), [
    "done",
    "done",
  ]);
  share.sender.stop();
});

Deno.test("SendSession serves an offer without a session id (an older receiver) as a new receiver", async () => {
  const share = await startShare(64 * 1024);
  // The server strips the field: the offer's MAC does not cover it.
  share.signal.tamper = (frame) => {
    if (frame.event !== EVENT.offer) return frame;
    const { session: _, ...rest } = frame.payload as Record<string, unknown>;
    return { ...frame, payload: rest };
  };
  const r = share.receiver();
  await r.session.open();
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(share.rows.at(-1)!.map((row) => row.phase), ["done"]);
  // Nor a name: the row is labelled by its id.
  assert.equal(share.rows.at(-1)![0].name, undefined);
  share.sender.stop();
});

Deno.test("SendSession labels each row with the name its receiver sent sealed", async () => {
  const share = await startShare(64 * 1024);
  const receivers = [
    share.receiver({ name: "Amber Otter" }),
    share.receiver(),
  ];
  for (const r of receivers) {
    await r.session.open();
    await r.session.download(r.sink);
  }
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(share.rows.at(-1)!.map((row) => row.name), [
    "Amber Otter",
    receivers[1].session.name,
  ]);
  // Never in the clear on the server.
  assert.ok(
    !JSON.stringify(share.signal.relayed).includes("Amber Otter"),
  );
  share.sender.stop();
});

Deno.test("SendSession ignores a receiver name that is not a name, and labels the row by id", async () => {
  const share = await startShare(64 * 1024);
  const r = share.receiver({ name: "<img src=x onerror=alert(1)>" });
  await r.session.open();
  await r.session.download(r.sink);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.equal(share.rows.at(-1)![0].phase, "done");
  assert.equal(share.rows.at(-1)![0].name, undefined);
  share.sender.stop();
});

Deno.test("SendSession keeps sending when its own signaling drops mid-transfer, and says the link stopped working", async () => {
  const disconnects: string[] = [];
  const share = await startShare(8 * 1024 * 1024, {
    onDisconnect: (message) => disconnects.push(message),
  });
  share.links.bytesPerTick = 256 * 1024;
  const r = share.receiver();
  await r.session.open();
  r.sink.onWrite = (written) => {
    if (written === 512 * 1024) share.signal.drop(share.senderId);
  };
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.ok(!r.phases.includes("resuming"), r.phases.join(" "));
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(share.rows.at(-1)!.map((row) => row.phase), ["done"]);
  assert.equal(disconnects.length, 1);
  share.sender.stop();
});

Deno.test("SendSession keeps its id through a signaling restart mid-transfer: the transfer goes on and a new receiver is served after", async () => {
  const disconnects: string[] = [];
  const reconnecting: boolean[] = [];
  const share = await startShare(8 * 1024 * 1024, {
    reconnecting: true,
    onDisconnect: (message) => disconnects.push(message),
    onReconnecting: (on) => reconnecting.push(on),
  });
  share.links.bytesPerTick = 256 * 1024;
  const r = share.receiver();
  await r.session.open();
  let restarted = false;
  r.sink.onWrite = (written) => {
    if (written !== 512 * 1024) return;
    // The server dies: every socket drops, and it takes a while to be back.
    share.signal.refuse = "The server is down";
    for (const id of share.signal.ids) share.signal.drop(id);
    setTimeout(() => {
      share.signal.refuse = null;
      restarted = true;
    }, 50);
  };
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.ok(!r.phases.includes("resuming"), r.phases.join(" "));
  await until(() => restarted, "the server to be back");
  await until(() => reconnecting.at(-1) === false, "the sender to reconnect");
  assert.deepEqual(reconnecting, [true, false]);
  assert.ok(share.signal.ids.includes(share.senderId));
  // The same link works for someone new.
  const next = share.receiver();
  await next.session.open();
  await next.session.download(next.sink);
  assert.deepEqual(next.sink.bytes("a.bin"), share.bytes);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(disconnects, []);
  share.sender.stop();
});

Deno.test("SendSession says the link stopped working when a reconnect cannot take its id back", async () => {
  const disconnects: string[] = [];
  const share = await startShare(1024, {
    reconnecting: true,
    onDisconnect: (message) => disconnects.push(message),
  });
  // Someone else holds the id when the sender comes back (as if the server
  // had forgotten it and given it out): the sender cannot have it.
  share.signal.drop(share.senderId);
  await share.signal.open(`token:${share.senderId}`);
  await until(() => disconnects.length === 1, "the sender to give up");
  assert.match(disconnects[0], /this link no longer works/);
  share.sender.stop();
});

Deno.test("SendSession shows a receiver whose tab closed mid-transfer as left (stalled, then ICE out of touch), not busy, and it resumes when it comes back", async () => {
  const share = await startShare(8 * 1024 * 1024, {
    stallMs: 50,
    iceGraceMs: 60_000,
  });
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver();
  await r.session.open();
  const id = share.signal.relayed.find((f) => f.event === EVENT.request)!.from;
  let vanished = false;
  r.sink.onWrite = (written) => {
    // Past the first acknowledgement (at 1 MiB), which has crossed.
    if (vanished || written < 2 * 1024 * 1024) return;
    vanished = true;
    // The tab closes: the channel neither closes nor carries anything.
    share.links.links[0].channel!.vanish();
  };
  const done = r.session.download(r.sink);
  await until(() => share.row(id)?.stalled === true, "the row to stall");
  const stalled = share.row(id)!;
  assert.equal(stalled.phase, "sending");
  assert.equal(stalled.rate, 0);
  assert.equal(stalled.secondsLeft, 0);
  assert.equal(stalled.receiving, true);
  assert.equal(share.sender.busy, true, "a stall alone may be a slow disk");
  // ICE notices the other browser is gone.
  share.links.links[1].ice("disconnected");
  const left = share.rows.at(-1)!.find((row) => row.id === id)!;
  assert.equal(left.phase, "resuming");
  assert.equal(left.left, true);
  assert.equal(left.receiving, false);
  assert.equal(left.message, RECEIVER_SILENT);
  assert.ok(left.bytes > 0 && left.bytes < share.bytes.byteLength);
  assert.equal(share.sender.busy, false, "nobody is receiving");
  // Giving the connection up closed it; this receiver was only asleep, and
  // resumes on a new one.
  await done;
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.equal(share.row(id)?.phase, "done");
  assert.equal(share.row(id)?.left, false);
  share.sender.stop();
});

Deno.test("SendSession waits for a stalled receiver whose browser still answers, showing no speed until bytes move again", async () => {
  const share = await startShare(4 * 1024 * 1024, { stallMs: 50 });
  const r = share.receiver();
  await r.session.open();
  // A slow disk: each write takes long, acknowledgements come seconds apart.
  r.sink.writeDelayMs = 150;
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const rows = share.rows.flat();
  assert.ok(rows.some((row) => row.stalled), "stalled at some point");
  assert.ok(rows.every((row) => !row.left), "never left");
  assert.ok(rows.filter((row) => row.stalled).every((row) => row.receiving));
  assert.ok(
    rows.some((row, i) => i > 0 && !row.stalled && rows[i - 1].stalled),
    "moving again",
  );
  assert.equal(share.rows.at(-1)![0].phase, "done");
  share.sender.stop();
});

Deno.test("SendSession gives up a connection whose ICE stays disconnected past its grace, and the receiver resumes", async () => {
  const share = await startShare(8 * 1024 * 1024, { iceGraceMs: 20 });
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver();
  await r.session.open();
  const id = share.signal.relayed.find((f) => f.event === EVENT.request)!.from;
  let lost = false;
  r.sink.onWrite = (written) => {
    if (lost || written < 1024 * 1024) return;
    lost = true;
    share.links.links[0].channel!.vanish();
    share.links.links[1].ice("disconnected");
  };
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.ok(
    share.rows.some((rows) => rows[0]?.phase === "resuming" && rows[0].left),
  );
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.equal(share.row(id)?.phase, "done");
  share.sender.stop();
});
