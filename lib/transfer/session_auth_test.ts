/**
 * Attacks on the handshake over the in-memory fakes (issue #12 items 1, 2):
 * a signaling server that rewrites an SDP the way a browser's parser might
 * still take, a connection whose certificate is not the signed one, and a
 * second holder of the link who, with the server's help, poses as the
 * sender to a third receiver. Each is refused on both sides and no byte
 * of any file is written.
 */

import assert from "node:assert/strict";
import { EVENT } from "../signal/protocol.ts";
import type { SignalPort } from "../signal/client.ts";
import { memoryFile, type RelayedFrame } from "./fakes.ts";
import { SendSession } from "./send_session.ts";
import {
  type MemoryShare,
  startShare,
  until,
} from "../../tests/_helpers/sessions.ts";

const EVIL =
  "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

/**
 * Lines a relay adds to a signed SDP: each names another certificate in a
 * form that a regex over `a=fingerprint:<alg> <hex>` lines skipped but
 * some browser's parser takes.
 */
const INJECTIONS: [string, string][] = [
  ["a bare \\r line break", `\ra=fingerprint:sha-256 ${EVIL}`],
  ["a bare \\n line break", `\na=fingerprint:sha-256 ${EVIL}`],
  ["a=FINGERPRINT: in capitals", `\r\na=FINGERPRINT:sha-256 ${EVIL}`],
  ["a tab after the colon", `\r\na=fingerprint:\tsha-256 ${EVIL}`],
  ["two spaces after the colon", `\r\na=fingerprint:  sha-256 ${EVIL}`],
];

/** Adds `line` after the first line of the SDP in frames of `event`. */
function inject(event: string, line: string) {
  return (frame: RelayedFrame): RelayedFrame => {
    const payload = frame.payload as Record<string, unknown> | undefined;
    if (frame.event !== event || typeof payload?.sdp !== "string") {
      return frame;
    }
    return {
      ...frame,
      payload: { ...payload, sdp: payload.sdp.replace("v=0", `v=0${line}`) },
    };
  };
}

/** The id of the (first) receiver, once it asked. */
async function receiverId(share: MemoryShare): Promise<string> {
  const request = await share.signal.waitFor(
    (f) => f.event === EVENT.request,
    "a request",
  );
  return request.from;
}

/**
 * A receiver of `share` is refused ("could not be verified") with no byte
 * written, and the sender's row for it fails with the same reason, at 0.
 */
async function refusedOnBothSides(share: MemoryShare): Promise<void> {
  const r = share.receiver();
  await r.session.open();
  await assert.rejects(r.session.download(r.sink), {
    message: /could not be verified/,
  });
  assert.equal(r.sink.written, 0);
  const id = await receiverId(share);
  await until(() => share.row(id)?.phase === "failed", "the sender's row");
  assert.match(share.row(id)!.message!, /could not be verified/);
  assert.equal(share.row(id)!.bytes, 0);
}

for (const [what, line] of INJECTIONS) {
  for (const event of [EVENT.offer, EVENT.answer]) {
    Deno.test(`A relay that adds ${what} to the ${event} is refused on both sides`, async () => {
      const share = await startShare(64 * 1024);
      share.signal.tamper = inject(event, line);
      await refusedOnBothSides(share);
      share.sender.stop();
    });
  }
}

Deno.test("A connection whose certificate is not the one the signed SDP names is refused on both sides", async () => {
  const share = await startShare(64 * 1024);
  share.links.wrongCertificates = true;
  await refusedOnBothSides(share);
  share.sender.stop();
});

/**
 * A second page that holds the whole link poses as the sender: the server
 * tells it the sender's id (servers assign ids), and passes to it what the
 * victim sends to the sender (`steal`), and its frames to the victim as
 * from the sender. It shares a file of its own.
 */
async function impostor(
  share: MemoryShare,
  steal: (event: string) => boolean,
): Promise<{ files: Uint8Array<ArrayBuffer> }> {
  const own = await share.signal.connect();
  const posing: SignalPort = {
    get id() {
      return share.senderId;
    },
    get open() {
      return own.open;
    },
    send: (event, to, ...payload) => own.send(event, to, ...payload),
    listen: (listener) => own.listen(listener),
    onClose: (listener) => own.onClose(listener),
    close: () => own.close(),
  };
  const files = new TextEncoder().encode("not what the sender shares");
  const session = new SendSession({
    connectSignal: () => Promise.resolve(posing),
    createLink: share.links.factory(),
    files: [memoryFile("evil.exe", files)],
    secret: share.secret,
  });
  await session.start();
  share.signal.tamper = (frame) => {
    if (frame.to === share.senderId && steal(frame.event)) {
      return { ...frame, to: own.id };
    }
    if (frame.from === own.id) return { ...frame, from: share.senderId };
    return frame;
  };
  return { files };
}

Deno.test("Another holder of the link cannot serve a receiver its own file list", async () => {
  const share = await startShare(64 * 1024);
  // Every frame the victim sends to the sender goes to the impostor.
  await impostor(share, () => true);
  const r = share.receiver();
  await assert.rejects(r.session.open(), { message: /could not be verified/ });
  assert.equal(r.sink.written, 0);
  share.sender.stop();
});

Deno.test("Another holder of the link cannot answer a receiver in the sender's place", async () => {
  const share = await startShare(64 * 1024);
  // The sender's own file list reaches the victim; its offer goes to the
  // impostor, which answers with its own connection.
  await impostor(share, (event) => event !== EVENT.request);
  const r = share.receiver();
  const manifest = await r.session.open();
  assert.deepEqual(manifest.files.map((f) => f.name), ["a.bin"]);
  await assert.rejects(r.session.download(r.sink), {
    message: /could not be verified/,
  });
  assert.equal(r.sink.written, 0);
  share.sender.stop();
});
