import assert from "node:assert/strict";
import {
  backoffDelay,
  connectReconnecting,
  reclaimUrl,
  type ReconnectingSignal,
  SignalClient,
  signalUrl,
} from "./client.ts";
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

/** A signaling server on a given port (0: a free one), with a secret. */
function serveOn(port: number, secret: string) {
  const signal = new SignalServer({ reclaimSecret: secret });
  const server = Deno.serve(
    { port, hostname: "127.0.0.1", onListen() {} },
    (request, info) => signal.handle(request, info),
  );
  return {
    signal,
    port: server.addr.port,
    url: `ws://127.0.0.1:${server.addr.port}/api/signal`,
    async close() {
      signal.closeAll();
      await server.shutdown();
      await server.finished;
    },
  };
}

/** Resolves on the next state a reconnecting client reports. */
function nextState(client: ReconnectingSignal): Promise<string> {
  return new Promise((resolve) => {
    const stop = client.onState((state) => {
      stop();
      resolve(state);
    });
  });
}

/** Waits until a client's token has arrived (the frame after assign). */
async function tokenArrived(url: string): Promise<void> {
  // One round trip to the server after assign: the token is before it.
  const probe = await SignalClient.connect(url);
  probe.close();
}

Deno.test("backoffDelay() doubles from the first wait to the longest and spreads it by half either way", () => {
  assert.equal(backoffDelay(0, 500, 10_000, 0.5), 500);
  assert.equal(backoffDelay(1, 500, 10_000, 0.5), 1000);
  assert.equal(backoffDelay(4, 500, 10_000, 0.5), 8000);
  assert.equal(backoffDelay(5, 500, 10_000, 0.5), 10_000);
  assert.equal(backoffDelay(500, 500, 10_000, 0.5), 10_000);
  assert.equal(backoffDelay(0, 500, 10_000, 0), 250);
  assert.equal(backoffDelay(5, 500, 10_000, 0.999999), 15_000);
});

Deno.test("reclaimUrl() opts in with an empty value and carries a token escaped", () => {
  assert.equal(
    reclaimUrl("ws://h/api/signal", ""),
    "ws://h/api/signal?reclaim=",
  );
  assert.equal(
    reclaimUrl("ws://h/api/signal", "a.1+2"),
    "ws://h/api/signal?reclaim=a.1%2B2",
  );
});

Deno.test("ReconnectingSignal takes its id back from a restarted server and relays again", async () => {
  const first = serveOn(0, "client-test");
  const client = await connectReconnecting(first.url, {
    firstDelayMs: 20,
    random: () => 0.5,
  });
  const id = client.id;
  let ended = false;
  const end = new Promise<number>((resolve) =>
    client.onClose((code) => {
      ended = true;
      resolve(code);
    })
  );
  await tokenArrived(first.url);
  const down = nextState(client);
  await first.close();
  assert.equal(await down, "reconnecting");
  assert.equal(client.open, false);
  // Nothing of the first server is left but the port and the secret.
  const second = serveOn(first.port, "client-test");
  assert.equal(await nextState(client), "open");
  assert.equal(client.id, id);
  assert.equal(client.open, true);
  assert.equal(ended, false);
  const other = await SignalClient.connect(second.url);
  const atClient = nextFrame(client as unknown as SignalClient);
  other.send(EVENT.request, id);
  assert.deepEqual(await atClient, { event: EVENT.request, from: other.id });
  other.close();
  client.close();
  assert.equal(await end, 1000);
  await second.close();
});

Deno.test("ReconnectingSignal ends when the restarted server cannot give its id back", async () => {
  const first = serveOn(0, "one key");
  const client = await connectReconnecting(first.url, { firstDelayMs: 20 });
  await tokenArrived(first.url);
  const ended = new Promise<number>((resolve) => client.onClose(resolve));
  await first.close();
  const second = serveOn(first.port, "another key");
  assert.equal(await ended, 1001);
  assert.equal(client.open, false);
  await second.close();
});

Deno.test("ReconnectingSignal gives up after giveUpMs with no server", async () => {
  const first = serveOn(0, "gone");
  const client = await connectReconnecting(first.url, {
    firstDelayMs: 10,
    maxDelayMs: 20,
    giveUpMs: 200,
  });
  await tokenArrived(first.url);
  const ended = new Promise<number>((resolve) => client.onClose(resolve));
  await first.close();
  assert.equal(await ended, 1001);
  assert.equal(client.reconnecting, false);
});
