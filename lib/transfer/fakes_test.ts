import assert from "node:assert/strict";
import { memoryFile, MemoryFiles, MemoryLinks, MemorySignal } from "./fakes.ts";
import { EVENT, type ServerFrame } from "../signal/protocol.ts";
import { fingerprints } from "./auth.ts";
import { until } from "../../tests/_helpers/sessions.ts";

function inbox(port: { listen(l: (f: ServerFrame) => void): unknown }) {
  const frames: ServerFrame[] = [];
  port.listen((frame) => frames.push(frame));
  return frames;
}

Deno.test("MemorySignal relays with the sender's id, as the server does", async () => {
  const signal = new MemorySignal();
  const a = await signal.connect();
  const b = await signal.connect();
  const got = inbox(b);
  a.send(EVENT.offer, b.id, { sdp: "x" });
  await until(() => got.length === 1, "the frame");
  assert.deepEqual(got, [{
    event: EVENT.offer,
    from: a.id,
    payload: { sdp: "x" },
  }]);
  assert.deepEqual(signal.relayed, [{
    event: EVENT.offer,
    from: a.id,
    to: b.id,
    payload: { sdp: "x" },
  }]);
});

Deno.test("MemorySignal answers `invalid peer id` and `peer not exists` to the sender", async () => {
  const signal = new MemorySignal();
  const a = await signal.connect();
  const got = inbox(a);
  a.send(EVENT.request, "bad");
  a.send(EVENT.request, "AAAAAAAAAAAAAAAA");
  await until(() => got.length === 2, "both answers");
  assert.deepEqual(got, [
    { event: EVENT.invalidPeerId },
    { event: EVENT.peerNotExists },
  ]);
});

Deno.test("MemorySignal.drop() closes a client with 1006 and forgets its id", async () => {
  const signal = new MemorySignal();
  const a = await signal.connect();
  const closed = new Promise<number>((resolve) => a.onClose(resolve));
  signal.drop(a.id);
  assert.equal(await closed, 1006);
  assert.equal(a.open, false);
  assert.deepEqual(signal.ids, []);
});

Deno.test("MemorySignal refuses connections while `refuse` is set", async () => {
  const signal = new MemorySignal();
  signal.refuse = "Cannot reach the signaling server";
  await assert.rejects(signal.connect(), {
    message: "Cannot reach the signaling server",
  });
});

Deno.test("MemoryLinks opens a channel pair once the answer is accepted, with a fingerprint in each SDP", async () => {
  const links = new MemoryLinks();
  const make = links.factory();
  const receiver = make(() => {});
  const sender = make(() => {});
  const offer = await receiver.offer();
  const answer = await sender.answer(offer);
  assert.equal(fingerprints(offer).length, 1);
  assert.notDeepEqual(fingerprints(offer), fingerprints(answer));
  await receiver.accept(answer);
  const [mine, theirs] = await Promise.all([receiver.opened, sender.opened]);
  const got = new Promise<unknown>((resolve) =>
    theirs.addEventListener("message", (e) => resolve((e as MessageEvent).data))
  );
  mine.send("hello");
  assert.equal(await got, "hello");
});

Deno.test("MemoryLinks fails or stalls connections as its fates say", async () => {
  const links = new MemoryLinks();
  links.fates.push("fail");
  const make = links.factory();
  const receiver = make(() => {});
  const sender = make(() => {});
  await receiver.accept(await sender.answer(await receiver.offer()));
  await assert.rejects(receiver.opened, { name: "ConnectError" });
  await assert.rejects(sender.opened, { name: "ConnectError" });
  // Closing rejects a link that would never open.
  links.fates.push("stall");
  const stalled = make(() => {});
  const other = make(() => {});
  await stalled.accept(await other.answer(await stalled.offer()));
  stalled.close();
  await assert.rejects(stalled.opened, {
    message: "Cannot connect: the connection closed",
  });
});

Deno.test("memoryFile() reads its bytes and fails past failAt", async () => {
  const file = memoryFile("f", new Uint8Array([1, 2, 3, 4]), 2);
  assert.deepEqual(
    new Uint8Array(await file.slice(0, 2).arrayBuffer()),
    new Uint8Array([1, 2]),
  );
  await assert.rejects(file.slice(0, 3).arrayBuffer(), {
    message: "Cannot read f: the file changed",
  });
});

Deno.test("MemoryFiles keeps what is written and removes an aborted file", async () => {
  const sink = new MemoryFiles();
  const meta = { name: "x", size: 3, type: "", lastModified: 0 };
  const writer = await sink.open(meta);
  await writer.write(new Uint8Array([1, 2]));
  await writer.write(new Uint8Array([3]));
  assert.deepEqual(sink.bytes("x"), new Uint8Array([1, 2, 3]));
  assert.equal(sink.written, 3);
  await writer.abort();
  assert.equal(sink.files.has("x"), false);
});
