import assert from "node:assert/strict";
import { SignalClient, signalUrl } from "./client.ts";
import { CLOSE, EVENT, isPeerId, type ServerFrame } from "./protocol.ts";
import { SignalServer } from "./server.ts";

/** A signaling server on a free loopback port. */
function serve() {
  const signal = new SignalServer();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (request, info) => signal.handle(request, info),
  );
  return {
    signal,
    url: `ws://127.0.0.1:${server.addr.port}/api/signal`,
    async close() {
      signal.closeAll();
      await server.shutdown();
      await server.finished;
    },
  };
}

/** Resolves once `client` has closed, with the code and reason. */
function closed(client: SignalClient): Promise<[number, string]> {
  return new Promise((resolve) =>
    client.onClose((code, reason) => resolve([code, reason]))
  );
}

/** Resolves with the next frame `client` receives. */
function nextFrame(client: SignalClient): Promise<ServerFrame> {
  return new Promise((resolve) => {
    const stop = client.listen((frame) => {
      stop();
      resolve(frame);
    });
  });
}

Deno.test("SignalClient.connect() gets an id from the server", async () => {
  const server = serve();
  const client = await SignalClient.connect(server.url);
  assert.ok(isPeerId(client.id), client.id);
  assert.equal(client.open, true);
  assert.equal(server.signal.peerCount, 1);
  const done = closed(client);
  client.close();
  assert.deepEqual(await done, [1000, "Done"]);
  assert.equal(client.open, false);
  await server.close();
});

Deno.test("SignalClient delivers a request to the other client", async () => {
  const server = serve();
  const a = await SignalClient.connect(server.url);
  const b = await SignalClient.connect(server.url);
  assert.notEqual(a.id, b.id);
  const atB = nextFrame(b);
  a.send(EVENT.request, b.id);
  assert.deepEqual(await atB, { event: EVENT.request, from: a.id });
  const atA = nextFrame(a);
  b.send(EVENT.response, a.id, { files: [] });
  assert.deepEqual(await atA, {
    event: EVENT.response,
    from: b.id,
    payload: { files: [] },
  });
  const done = Promise.all([closed(a), closed(b)]);
  a.close();
  b.close();
  await done;
  await server.close();
});

Deno.test("SignalClient.listen() returns a function that stops listening", async () => {
  const server = serve();
  const a = await SignalClient.connect(server.url);
  const b = await SignalClient.connect(server.url);
  const seen: ServerFrame[] = [];
  const stop = b.listen((frame) => seen.push(frame));
  const first = nextFrame(b);
  a.send(EVENT.request, b.id);
  await first;
  stop();
  const second = nextFrame(b);
  a.send(EVENT.request, b.id);
  assert.deepEqual(await second, { event: EVENT.request, from: a.id });
  assert.deepEqual(seen, [{ event: EVENT.request, from: a.id }]);
  const done = Promise.all([closed(a), closed(b)]);
  a.close();
  b.close();
  await done;
  await server.close();
});

Deno.test("SignalClient hears when the target does not exist", async () => {
  const server = serve();
  const client = await SignalClient.connect(server.url);
  const answer = nextFrame(client);
  client.send(EVENT.request, "AAAAAAAAAAAAAAAA");
  assert.deepEqual(await answer, { event: EVENT.peerNotExists });
  const done = closed(client);
  client.close();
  await done;
  await server.close();
});

Deno.test("SignalClient.onClose() gets the code and reason when the server closes", async () => {
  const server = serve();
  const a = await SignalClient.connect(server.url);
  const b = await SignalClient.connect(server.url);
  const atA = closed(a);
  const atB = closed(b);
  server.signal.closeAll("Going for maintenance");
  assert.deepEqual(await atA, [CLOSE.goingAway, "Going for maintenance"]);
  assert.deepEqual(await atB, [CLOSE.goingAway, "Going for maintenance"]);
  assert.equal(a.open, false);
  // Sending on a closed client does nothing.
  a.send(EVENT.request, b.id);
  await server.close();
});

Deno.test("SignalClient.onClose() returns a function that removes the listener", async () => {
  const server = serve();
  const client = await SignalClient.connect(server.url);
  let removedCalls = 0;
  const remove = client.onClose(() => removedCalls++);
  remove();
  const done = closed(client);
  server.signal.closeAll();
  assert.deepEqual(await done, [CLOSE.goingAway, "Server is shutting down"]);
  assert.equal(removedCalls, 0);
  await server.close();
});

Deno.test("SignalClient.connect() rejects when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    SignalClient.connect(`ws://127.0.0.1:${port}/api/signal`),
    (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(
        error.message,
        /^Cannot reach the signaling server: closed \(\d+/,
      );
      return true;
    },
  );
});

Deno.test("SignalClient.connect() rejects when the server refuses the upgrade", async () => {
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () => new Response("Not here", { status: 404 }),
  );
  await assert.rejects(
    SignalClient.connect(`ws://127.0.0.1:${server.addr.port}/api/signal`),
    /^Error: Cannot reach the signaling server: closed/,
  );
  await server.shutdown();
});

Deno.test("signalUrl() maps http to ws and https to wss", () => {
  assert.equal(signalUrl("http://x:1"), "ws://x:1/api/signal");
  assert.equal(signalUrl("https://x:1"), "wss://x:1/api/signal");
  assert.equal(
    signalUrl("https://beam.example"),
    "wss://beam.example/api/signal",
  );
  assert.equal(
    signalUrl("http://127.0.0.1:8000"),
    "ws://127.0.0.1:8000/api/signal",
  );
});
