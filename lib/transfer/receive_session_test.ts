import assert from "node:assert/strict";
import {
  CANCELLED,
  DOWNLOAD_CANCELLED,
  LINK_DAMAGED,
  LINK_INACTIVE,
  LINK_MALFORMED,
  NO_ANSWER,
  ReceiveSession,
  SENDER_AWAY,
  STOPPED_BY_SENDER,
} from "./receive_session.ts";
import { MemoryFiles, MemoryLinks, MemorySignal } from "./fakes.ts";
import { EVENT } from "../signal/protocol.ts";
import { deriveKeys } from "./auth.ts";
import {
  GENERIC_ADVICE,
  KEY_MISSING_TEXT,
  UNVERIFIED_TEXT,
} from "./error_text.ts";
import {
  RECEIVER_KEY_MISSING,
  STOPPED_ONE,
  STOPPED_TO_RECEIVER,
} from "./send_machine.ts";
import { isNickname, newSessionId, openSessionId } from "./session_id.ts";
import { startShare, until } from "../../tests/_helpers/sessions.ts";
import { formatLinkKey, newSecret } from "./secret.ts";

Deno.test("ReceiveSession receives a share whole and leaves signaling when done", async () => {
  const share = await startShare();
  const r = share.receiver();
  const manifest = await r.session.open();
  assert.deepEqual(manifest.files.map((f) => f.name), ["a.bin"]);
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.equal(r.sink.finished, true);
  assert.deepEqual(r.phases, [
    "requesting",
    "ready",
    "connecting",
    "receiving",
    "verifying",
    "done",
  ]);
  assert.equal(r.session.status.bytes, share.bytes.byteLength);
  // Done: the receiver left signaling, so only the sender is connected.
  await until(() => share.signal.ids.length === 1, "the receiver to leave");
  share.sender.stop();
});

Deno.test("ReceiveSession fails with LINK_MALFORMED for a sender id that is not an id", async () => {
  const r = new ReceiveSession({
    connectSignal: new MemorySignal().connect,
    createLink: new MemoryLinks().factory(),
    senderId: "not an id",
    linkKey: "x",
  });
  await assert.rejects(r.open(), { message: LINK_MALFORMED });
  assert.equal(r.status.phase, "failed");
});

Deno.test("ReceiveSession fails with LINK_INACTIVE when the sender is gone", async () => {
  const share = await startShare(10);
  share.sender.stop();
  await until(() => share.signal.ids.length === 0, "the sender to leave");
  // No grace: the wait for a sender on its way back has a test of its own.
  const r = share.receiver({ senderAwayMs: 0 });
  await assert.rejects(r.session.open(), { message: LINK_INACTIVE });
});

Deno.test("ReceiveSession says when the signaling server cannot be reached", async () => {
  const share = await startShare(10);
  share.signal.refuse = "Cannot reach the signaling server: closed (1006)";
  const r = share.receiver();
  await assert.rejects(r.session.open(), {
    message:
      `Cannot reach the signaling server: closed (1006). ${GENERIC_ADVICE}`,
  });
  share.sender.stop();
});

Deno.test("ReceiveSession gives up when the sender does not answer `request` in time", async () => {
  // A scripted peer that holds an id and never answers.
  const signal = new MemorySignal();
  const silent = await signal.connect();
  const r = new ReceiveSession({
    connectSignal: signal.connect,
    createLink: new MemoryLinks().factory(),
    senderId: silent.id,
    linkKey: formatLinkKey({ secret: newSecret(), keyId: newSecret() }),
    requestTimeoutMs: 50,
  });
  await assert.rejects(r.open(), { message: NO_ANSWER });
  assert.equal(
    signal.relayed.filter((f) => f.event === EVENT.request).length,
    1,
  );
});

Deno.test("ReceiveSession without the key fails and tells the sender, which refuses", async () => {
  const share = await startShare(10);
  const r = share.receiver({ linkKey: "" });
  await assert.rejects(r.session.open(), { message: KEY_MISSING_TEXT });
  const refusal = await share.signal.waitFor(
    (f) => f.event === EVENT.offer,
    "the empty offer",
  );
  assert.deepEqual(refusal.payload, { sdp: null, mac: null });
  await until(
    () => share.row(refusal.from)?.phase === "failed",
    "the sender to refuse",
  );
  assert.equal(
    share.row(refusal.from)?.message,
    `Refused: t${RECEIVER_KEY_MISSING.slice(1)}`,
  );
  share.sender.stop();
});

Deno.test("ReceiveSession says a link whose key is cut short or changed is damaged, and asks nothing", async () => {
  const share = await startShare(10);
  for (
    const linkKey of [
      share.linkKey.slice(0, 10),
      `${share.linkKey}%E0`,
      // A link of the old format: the secret without the key's id.
      share.secret,
    ]
  ) {
    const r = share.receiver({ linkKey });
    await assert.rejects(r.session.open(), { message: LINK_DAMAGED });
  }
  assert.equal(
    share.signal.relayed.filter((f) => f.event === EVENT.request).length,
    0,
  );
  share.sender.stop();
});

Deno.test("ReceiveSession refuses an answer whose MAC fails, and says so to the sender", async () => {
  const share = await startShare(1024);
  // The server swaps the DTLS fingerprint in the sender's answer.
  share.signal.tamper = (frame) => {
    if (frame.event !== EVENT.answer) return frame;
    const payload = frame.payload as { sdp: string; mac: string };
    return {
      ...frame,
      payload: {
        ...payload,
        sdp: payload.sdp.replace(
          /fingerprint:sha-256 \S\S/,
          "fingerprint:sha-256 00",
        ),
      },
    };
  };
  const r = share.receiver();
  await r.session.open();
  await assert.rejects(r.session.download(r.sink), {
    message: UNVERIFIED_TEXT,
  });
  assert.equal(r.sink.aborted, true);
  const id = share.signal.relayed.find((f) => f.event === EVENT.offer)!.from;
  await until(() => share.row(id)?.phase === "failed", "the sender's row");
  assert.equal(share.row(id)?.message, UNVERIFIED_TEXT);
  share.sender.stop();
});

Deno.test("ReceiveSession resumes from the written byte when the channel drops mid-file", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 256 * 1024;
  const r = share.receiver();
  await r.session.open();
  let cut = false;
  r.sink.onWrite = (written) => {
    if (written > 1024 * 1024 && !cut) {
      cut = true;
      share.links.links[0].close();
    }
  };
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.ok(r.phases.includes("resuming"), r.phases.join(" "));
  assert.equal(r.phases.at(-1), "done");
  // Two connections (one per attempt), two links each: four in all.
  assert.equal(share.links.links.length, 4);
  share.sender.stop();
});

Deno.test("ReceiveSession retries a connection that fails, then succeeds", async () => {
  const share = await startShare(1024);
  share.links.fates.push("fail");
  const r = share.receiver();
  await r.session.open();
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.ok(r.phases.includes("retrying"), r.phases.join(" "));
  assert.ok(
    r.statuses.some((s) => s.phase === "connecting" && s.attempt === 2),
  );
  share.sender.stop();
});

Deno.test("ReceiveSession gives up after maxAttempts connections fail", async () => {
  const share = await startShare(1024);
  share.links.fates.push("fail", "fail", "fail");
  const r = share.receiver({ maxAttempts: 3 });
  await r.session.open();
  await assert.rejects(r.session.download(r.sink), {
    message: /^Cannot connect to the sender after 3 attempts: /,
  });
  assert.equal(r.sink.aborted, true);
  share.sender.stop();
});

Deno.test("ReceiveSession counts a connection that never opens as failed after the connect timeout", async () => {
  const share = await startShare(1024, { connectTimeoutMs: 60_000 });
  share.links.fates.push("stall");
  const r = share.receiver({ connectTimeoutMs: 50, connectGraceMs: 0 });
  await r.session.open();
  await r.session.download(r.sink);
  assert.ok(
    r.statuses.some((s) =>
      s.message?.startsWith(
        "Cannot connect: no route between the browsers in time",
      )
    ),
  );
  share.sender.stop();
});

Deno.test("ReceiveSession keeps receiving when signaling drops mid-transfer", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 256 * 1024;
  const r = share.receiver();
  await r.session.open();
  r.sink.onWrite = (written) => {
    if (written !== 256 * 1024) return;
    share.signal.drop(share.signal.ids.find((id) => id !== share.senderId)!);
  };
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.ok(!r.phases.includes("resuming"), r.phases.join(" "));
  share.sender.stop();
});

Deno.test("ReceiveSession resumes on a new connection when ICE stays disconnected", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver({ iceGraceMs: 20 });
  await r.session.open();
  // The receiver made links[0] (its offer), the sender links[1].
  r.sink.onWrite = (written) => {
    if (written === 256 * 1024) share.links.links[0].ice("disconnected");
  };
  await r.session.download(r.sink);
  assert.ok(r.phases.includes("resuming"), r.phases.join(" "));
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  share.sender.stop();
});

Deno.test("ReceiveSession keeps the connection when ICE recovers within the grace period", async () => {
  const share = await startShare(4 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver({ iceGraceMs: 5_000 });
  await r.session.open();
  r.sink.onWrite = (written) => {
    if (written !== 256 * 1024) return;
    share.links.links[0].ice("disconnected");
    share.links.links[0].ice("connected");
  };
  await r.session.download(r.sink);
  assert.ok(!r.phases.includes("resuming"), r.phases.join(" "));
  share.sender.stop();
});

Deno.test("ReceiveSession.close() cancels a transfer and removes what was saved", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver();
  await r.session.open();
  r.sink.onWrite = (written) => {
    if (written === 256 * 1024) r.session.close();
  };
  await assert.rejects(r.session.download(r.sink), { message: CANCELLED });
  assert.equal(r.sink.aborted, true);
  assert.equal(r.sink.files.has("a.bin"), false);
  share.sender.stop();
});

Deno.test("ReceiveSession.cancel() removes what was saved, tells the sender, spares the other receiver, and can download again", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const [a, b] = [share.receiver(), share.receiver()];
  await a.session.open();
  await b.session.open();
  a.sink.onWrite = (written) => {
    if (written === 2 * 1024 * 1024) a.session.cancel();
  };
  const other = b.session.download(b.sink);
  await assert.rejects(a.session.download(a.sink), {
    message: DOWNLOAD_CANCELLED,
  });
  assert.equal(a.sink.aborted, true);
  assert.equal(a.sink.files.has("a.bin"), false);
  assert.equal(a.session.status.phase, "ready");
  assert.equal(a.session.status.message, DOWNLOAD_CANCELLED);
  // The sender's row says so, at the share acknowledged (a whole MiB).
  const cancelled = () =>
    share.rows.at(-1)!.find((row) => row.message?.startsWith("Cancelled"));
  await until(() => cancelled() !== undefined, "the sender's row");
  assert.equal(cancelled()!.phase, "failed");
  assert.match(
    cancelled()!.message!,
    /^Cancelled by the receiver at (12|25) %\. They can open the link again to download\.$/,
  );
  // The other receiver goes on to the end, byte for byte.
  await other;
  assert.deepEqual(b.sink.bytes("a.bin"), share.bytes);
  // And the one that cancelled downloads again, from the first byte.
  const again = new MemoryFiles();
  share.links.bytesPerTick = 1024 * 1024;
  await a.session.download(again);
  assert.deepEqual(again.bytes("a.bin"), share.bytes);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(share.rows.at(-1)!.map((row) => row.phase), [
    "done",
    "done",
  ]);
  share.sender.stop();
});

Deno.test("ReceiveSession picks its name when the first download starts, and keeps it for the next", async () => {
  const share = await startShare(64 * 1024);
  const r = share.receiver();
  await r.session.open();
  assert.equal(r.session.name, null, "not before a download");
  r.sink.onWrite = () => r.session.cancel();
  await r.session.download(r.sink).catch(() => {});
  const name = r.session.name;
  assert.ok(isNickname(name), String(name));
  await r.session.download(new MemoryFiles());
  assert.equal(r.session.name, name);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(share.rows.at(-1)!.map((row) => row.name), [name]);
  share.sender.stop();
});

Deno.test("ReceiveSession keeps the session id and name it was given (a tab reloaded by Try again), and the sender's row says that name", async () => {
  const share = await startShare(64 * 1024);
  const sessionId = newSessionId();
  const r = share.receiver({ sessionId, name: "Amber Otter" });
  assert.equal(r.session.sessionId, sessionId);
  assert.equal(r.session.name, "Amber Otter", "given, so known at once");
  await r.session.open();
  await r.session.download(r.sink);
  assert.equal(r.session.name, "Amber Otter");
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(share.rows.at(-1)!.map((row) => row.name), ["Amber Otter"]);
  share.sender.stop();
});

Deno.test("ReceiveSession.cancel() while connecting tells the sender through signaling", async () => {
  const share = await startShare(1024);
  // A connection that never opens keeps the receiver connecting.
  share.links.fates.push("stall");
  const r = share.receiver();
  await r.session.open();
  const done = r.session.download(r.sink);
  await until(() => r.session.status.phase === "connecting", "connecting");
  await until(() => share.rows.at(-1)?.length === 1, "the sender's row");
  r.session.cancel();
  await assert.rejects(done, { message: DOWNLOAD_CANCELLED });
  await until(
    () => share.rows.at(-1)![0].message?.startsWith("Cancelled by") === true,
    "the sender's row",
  );
  assert.equal(share.sender.liveCount, 0);
  share.sender.stop();
  r.session.close();
});

Deno.test("ReceiveSession shows the sender's stop for this receiver, with no retry, and removes what was saved", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const [a, b] = [share.receiver(), share.receiver()];
  await a.session.open();
  await b.session.open();
  const other = b.session.download(b.sink);
  a.sink.onWrite = (written) => {
    if (written !== 1024 * 1024) return;
    const id =
      share.rows.at(-1)!.find((row) => row.name === a.session.name)!.id;
    share.sender.stopReceiver(id);
  };
  await assert.rejects(a.session.download(a.sink), {
    message: STOPPED_BY_SENDER,
  });
  assert.equal(a.session.status.phase, "failed");
  assert.equal(a.sink.aborted, true);
  assert.ok(!a.phases.includes("resuming"), a.phases.join(" "));
  await other;
  assert.deepEqual(b.sink.bytes("a.bin"), share.bytes);
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  const row = (name: string | null) =>
    share.rows.at(-1)!.find((row) => row.name === name)!;
  assert.deepEqual(
    [row(a.session.name).phase, row(a.session.name).message],
    ["failed", STOPPED_ONE],
  );
  assert.equal(row(b.session.name).phase, "done");
  share.sender.stop();
});

Deno.test("ReceiveSession stopped while its channel is down is refused when it comes back", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 256 * 1024;
  const r = share.receiver();
  await r.session.open();
  let cut = false;
  r.sink.onWrite = (written) => {
    if (written <= 1024 * 1024 || cut) return;
    cut = true;
    // The channel breaks; the stop comes before the receiver is back.
    share.links.links[0].close();
    share.sender.stopReceiver(share.rows.at(-1)![0].id);
  };
  await assert.rejects(r.session.download(r.sink), {
    message: STOPPED_BY_SENDER,
  });
  assert.equal(r.sink.aborted, true);
  // It came back (resuming, a new offer) and heard the stop as a refusal.
  assert.deepEqual(r.phases.slice(-3), ["resuming", "connecting", "failed"]);
  assert.equal(share.rows.at(-1)!.length, 1);
  assert.equal(share.rows.at(-1)![0].message, STOPPED_ONE);
  assert.equal(share.rows.at(-1)![0].ended, "stopped");
  share.sender.stop();
});

Deno.test("ReceiveSession hears a stop while connecting as the sender's refusal", async () => {
  const share = await startShare(1024);
  share.links.fates.push("stall");
  const r = share.receiver();
  await r.session.open();
  const done = r.session.download(r.sink);
  await until(() => share.rows.at(-1)?.[0]?.phase === "connecting", "row");
  share.sender.stopReceiver(share.rows.at(-1)![0].id);
  await assert.rejects(done, { message: STOPPED_BY_SENDER });
  assert.equal(share.rows.at(-1)![0].message, STOPPED_ONE);
  share.sender.stop();
});

Deno.test("ReceiveSession fails with the sender's reason when the sender cannot read a file", async () => {
  const share = await startShare(4 * 1024 * 1024, { failAt: 2 * 1024 * 1024 });
  const r = share.receiver();
  await r.session.open();
  await assert.rejects(r.session.download(r.sink), {
    message: /Cannot read a\.bin: the file changed/,
  });
  assert.equal(r.sink.aborted, true);
  share.sender.stop();
});

Deno.test("ReceiveSession fails at once, told why, when the sender stops mid-transfer", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 128 * 1024;
  const r = share.receiver();
  await r.session.open();
  r.sink.onWrite = (written) => {
    if (written === 256 * 1024) share.sender.stop();
  };
  await assert.rejects(r.session.download(r.sink), {
    message: `The sender stopped: ${STOPPED_TO_RECEIVER}`,
  });
  assert.equal(r.sink.aborted, true);
});

Deno.test("ReceiveSession.download() refuses to start before the file list is ready", async () => {
  const r = new ReceiveSession({
    connectSignal: new MemorySignal().connect,
    createLink: new MemoryLinks().factory(),
    senderId: "AAAAAAAAAAAAAAAA",
    linkKey: "x",
  });
  await assert.rejects(r.download(new MemoryFiles()), {
    message: "Cannot download: the file list is not ready",
  });
});

Deno.test("ReceiveSession keeps its data channel and its peer id when signaling drops mid-transfer, and does not reconnect", async () => {
  const share = await startShare(8 * 1024 * 1024);
  share.links.bytesPerTick = 256 * 1024;
  let connects = 0;
  const r = share.receiver({
    connectSignal: () => {
      connects++;
      return share.signal.connect();
    },
  });
  await r.session.open();
  const id = share.signal.ids.find((peer) => peer !== share.senderId)!;
  r.sink.onWrite = (written) => {
    if (written === 512 * 1024) share.signal.drop(id);
  };
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  assert.equal(connects, 1);
  assert.ok(!r.phases.includes("resuming"), r.phases.join(" "));
  await until(() => share.sender.liveCount === 0, "the sender to finish");
  assert.deepEqual(
    share.rows.at(-1)!.map((row) => [row.id, row.phase]),
    [[id, "done"]],
  );
  share.sender.stop();
});

Deno.test("ReceiveSession sends the same sealed session id in every offer, under each peer id", async () => {
  const share = await startShare(4 * 1024 * 1024);
  share.links.bytesPerTick = 256 * 1024;
  const r = share.receiver();
  await r.session.open();
  const first = share.signal.ids.find((id) => id !== share.senderId)!;
  let cut = false;
  r.sink.onWrite = (written) => {
    if (cut || written < 1024 * 1024) return;
    cut = true;
    share.signal.drop(first);
    share.links.links[0].close();
  };
  await r.session.download(r.sink);
  const offers = share.signal.relayed.filter((f) => f.event === EVENT.offer);
  assert.equal(offers.length, 2);
  assert.notEqual(offers[0].from, offers[1].from);
  const keys = await deriveKeys(share.secret, share.senderId);
  const ids = await Promise.all(
    offers.map((offer) =>
      openSessionId(
        keys,
        share.senderId,
        offer.from,
        (offer.payload as { session: unknown }).session,
      )
    ),
  );
  assert.ok(ids[0] !== null);
  assert.equal(ids[0], ids[1]);
  share.sender.stop();
});

Deno.test("ReceiveSession opened while the sender is away waits for it, and receives once it is back", async () => {
  const share = await startShare(1024 * 1024, { reconnecting: true });
  // Its token comes a task after its id.
  await new Promise((resolve) => setTimeout(resolve, 20));
  // The sender's socket drops and its reconnects fail for a while.
  share.signal.refuseReclaims = "The server is still starting";
  share.signal.drop(share.senderId);
  const r = share.receiver();
  const opened = r.session.open();
  await until(
    () => r.statuses.some((s) => s.message === SENDER_AWAY),
    "the receiver to say it waits for the sender",
  );
  assert.equal(r.statuses.at(-1)!.phase, "requesting");
  share.signal.refuseReclaims = null;
  await opened;
  await r.session.download(r.sink);
  assert.deepEqual(r.sink.bytes("a.bin"), share.bytes);
  share.sender.stop();
});

Deno.test("ReceiveSession says the link is no longer active once the sender stays away past senderAwayMs", async () => {
  const share = await startShare(1024, { reconnecting: true });
  share.sender.stop();
  await until(
    () => !share.signal.ids.includes(share.senderId),
    "the sender to leave",
  );
  const r = share.receiver({ senderAwayMs: 300, requestTimeoutMs: 5_000 });
  await assert.rejects(r.session.open(), /no longer active/);
  assert.ok(r.statuses.some((s) => s.message === SENDER_AWAY));
});
