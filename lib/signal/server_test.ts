import assert from "node:assert/strict";
import {
  addressBucket,
  clientAddress,
  SignalServer,
  type SignalServerOptions,
} from "./server.ts";
import { isPeerId } from "./protocol.ts";

const HANDSHAKE = {
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
};

/**
 * A server on a free loopback port, with what a test needs of it. The
 * handler passes on `Deno.serve`'s connection info, as the app's route does:
 * without it every client would share the per-address cap of "unknown".
 */
function serve(options: SignalServerOptions = {}) {
  const signal = new SignalServer(options);
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (request, info) => signal.handle(request, info),
  );
  return {
    signal,
    url: `ws://127.0.0.1:${server.addr.port}/api/signal`,
    async close() {
      await server.shutdown();
      await server.finished;
    },
  };
}

/** A client that has its id and queues every later frame. */
interface Client {
  socket: WebSocket;
  id: string;
  frames: string[];
  closed: Promise<CloseEvent>;
  /** Resolves once `frames` has `n` frames. */
  receive(n: number): Promise<string[]>;
}

function connect(url: string): Promise<Client> {
  const socket = new WebSocket(url);
  const closed = Promise.withResolvers<CloseEvent>();
  const assigned = Promise.withResolvers<Client>();
  const frames: string[] = [];
  let waiting: { n: number; resolve: () => void } | undefined;
  const client: Client = {
    socket,
    id: "",
    frames,
    closed: closed.promise,
    async receive(n) {
      if (frames.length < n) {
        const { promise, resolve } = Promise.withResolvers<void>();
        waiting = { n, resolve };
        await promise;
      }
      return frames;
    },
  };
  socket.onmessage = (event) => {
    if (client.id === "") {
      const [name, id] = JSON.parse(event.data);
      assert.equal(name, "assign");
      client.id = id;
      assigned.resolve(client);
      return;
    }
    frames.push(event.data);
    if (waiting && frames.length >= waiting.n) waiting.resolve();
  };
  socket.onclose = (event) => {
    closed.resolve(event);
    assigned.reject(new Error(`Closed before assign: ${event.code}`));
  };
  return assigned.promise;
}

Deno.test("SignalServer.handle() answers 426 to a request that is not an upgrade", async () => {
  const signal = new SignalServer();
  for (const method of ["GET", "POST", "PUT", "DELETE"]) {
    const response = signal.handle(
      new Request("http://localhost/api/signal", { method }),
    );
    assert.equal(response.status, 426);
    assert.equal(response.headers.get("upgrade"), "websocket");
    assert.match(
      response.headers.get("content-type") ?? "",
      /^text\/plain; charset=utf-8$/,
    );
    const body = await response.text();
    assert.match(body, /^426 Upgrade Required: [^\n]+\n$/);
  }
  const other = signal.handle(
    new Request("http://localhost/api/signal", {
      headers: { upgrade: "h2c", connection: "Upgrade" },
    }),
  );
  await other.body?.cancel();
  assert.equal(other.status, 426);
  assert.equal(signal.peerCount, 0);
});

Deno.test("SignalServer.handle() answers 426 to an upgrade without the handshake", async () => {
  const signal = new SignalServer();
  const { "sec-websocket-key": _, ...noKey } = HANDSHAKE;
  const { connection: __, ...noConnection } = HANDSHAKE;
  for (const headers of [{ upgrade: "websocket" }, noKey, noConnection]) {
    const response = signal.handle(
      new Request("http://localhost/api/signal", { headers }),
    );
    await response.body?.cancel();
    assert.equal(response.status, 426, JSON.stringify(headers));
  }
  assert.equal(signal.peerCount, 0);
});

Deno.test("SignalServer counts peers as they come and go", async () => {
  const server = serve();
  const a = await connect(server.url);
  const b = await connect(server.url);
  try {
    assert.ok(isPeerId(a.id) && isPeerId(b.id));
    assert.notEqual(a.id, b.id);
    assert.equal(server.signal.peerCount, 2);
    a.socket.close();
    await a.closed;
    b.socket.send(JSON.stringify(["request", a.id]));
    assert.deepEqual(await b.receive(1), [`["peer not exists"]`]);
    assert.equal(server.signal.peerCount, 1);
  } finally {
    a.socket.close();
    b.socket.close();
    await Promise.all([a.closed, b.closed]);
    await server.close();
  }
});

Deno.test("SignalServer honours maxFrameBytes", async () => {
  const maxFrameBytes = 100;
  const server = serve({ maxFrameBytes });
  const a = await connect(server.url);
  const b = await connect(server.url);
  try {
    // The pair rules: a requests from b before it may send progress.
    a.socket.send(`["request","${b.id}"]`);
    assert.deepEqual(await b.receive(1), [`["request","${a.id}"]`]);
    const head = `["progress","${b.id}","`;
    const fill = maxFrameBytes - head.length - 2;
    a.socket.send(head + "x".repeat(fill) + `"]`);
    assert.deepEqual(await b.receive(2), [
      `["request","${a.id}"]`,
      `["progress","${a.id}","${"x".repeat(fill)}"]`,
    ]);
    a.socket.send(head + "x".repeat(fill + 1) + `"]`);
    const event = await a.closed;
    assert.equal(event.code, 1009);
    assert.match(event.reason, /100 bytes/);
  } finally {
    a.socket.close();
    b.socket.close();
    await Promise.all([a.closed, b.closed]);
    await server.close();
  }
});

Deno.test("SignalServer.closeAll() closes every socket with 1001 and a reason", async () => {
  const server = serve();
  const clients = await Promise.all([1, 2, 3].map(() => connect(server.url)));
  try {
    server.signal.closeAll();
    for (const client of clients) {
      const event = await client.closed;
      assert.equal(event.code, 1001);
      assert.equal(event.reason, "Server is shutting down");
    }
    server.signal.closeAll("Bye");
  } finally {
    for (const client of clients) client.socket.close();
    await Promise.all(clients.map((client) => client.closed));
    await server.close();
  }
  assert.equal(server.signal.peerCount, 0);
});

Deno.test("clientAddress() reads the socket's remote address", () => {
  const tcp = (hostname: string): Deno.NetAddr => ({
    transport: "tcp",
    hostname,
    port: 51234,
  });
  assert.equal(
    clientAddress({ remoteAddr: tcp("203.0.113.7") }),
    "203.0.113.7",
  );
  assert.equal(
    clientAddress({ remoteAddr: tcp("2001:db8::1") }),
    "2001:db8::1",
  );
  // A dual-stack socket reports IPv4 clients as IPv4-in-IPv6: one client,
  // one bucket, whichever way it arrived.
  assert.equal(
    clientAddress({ remoteAddr: tcp("::ffff:203.0.113.7") }),
    "203.0.113.7",
  );
});

Deno.test("clientAddress() says unknown when there is no address to read", () => {
  assert.equal(clientAddress(undefined), "unknown");
  assert.equal(clientAddress({}), "unknown");
  // A Unix socket has a path, not a host.
  assert.equal(
    clientAddress({
      remoteAddr: { transport: "unix", path: "/tmp/beam.sock" },
    }),
    "unknown",
  );
});

Deno.test("addressBucket() counts two IPv6 addresses of one /64 as one, IPv4 by the whole address", () => {
  // One client is commonly handed a whole /64: every address in it is the
  // same client for the per-address cap.
  assert.equal(addressBucket("2001:db8:1:2::a"), "2001:db8:1:2::/64");
  assert.equal(
    addressBucket("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"),
    addressBucket("2001:db8:1:2::a"),
  );
  assert.equal(addressBucket("2001:DB8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressBucket("[2001:db8:1:2::1]"), "2001:db8:1:2::/64");
  assert.equal(addressBucket("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(addressBucket("::1"), "0:0:0:0::/64");
  // IPv4-mapped, in any spelling, is the IPv4 address: every IPv4 client of
  // a dual-stack socket would otherwise share one bucket.
  assert.equal(addressBucket("::ffff:1.2.3.4"), "1.2.3.4");
  assert.equal(addressBucket("::FFFF:1.2.3.4"), "1.2.3.4");
  assert.equal(addressBucket("[::ffff:1.2.3.4]"), "1.2.3.4");
  assert.equal(addressBucket("0:0:0:0:0:ffff:0102:0304"), "1.2.3.4");
  assert.equal(addressBucket("::ffff:cb00:7107"), "203.0.113.7");
  assert.notEqual(
    addressBucket("::ffff:1.2.3.5"),
    addressBucket("::ffff:1.2.3.4"),
  );
  assert.equal(addressBucket("::ffff:1.2.3.256"), "::ffff:1.2.3.256");
  assert.equal(addressBucket("1.2.3.4::1"), "1.2.3.4::1");
  assert.equal(addressBucket("64:ff9b::1.2.3.4"), "64:ff9b:0:0::/64");
  assert.equal(addressBucket("1:2::7:8"), "1:2:0:0::/64");
  assert.equal(addressBucket("1:2:3:4:5::"), "1:2:3:4::/64");
  // The next /64 is another client.
  assert.notEqual(
    addressBucket("2001:db8:1:3::a"),
    addressBucket("2001:db8:1:2::a"),
  );
  // IPv4 counts each address apart.
  assert.equal(addressBucket("203.0.113.7"), "203.0.113.7");
  assert.notEqual(addressBucket("203.0.113.8"), addressBucket("203.0.113.7"));
  // What is not an address is its own bucket, never merged with another.
  assert.equal(addressBucket("unknown"), "unknown");
  assert.equal(addressBucket("1:2:3"), "1:2:3");
  assert.equal(addressBucket("1::2::3"), "1::2::3");
  assert.equal(addressBucket("1:2:3:4:5:6:7:8:9"), "1:2:3:4:5:6:7:8:9");
  assert.equal(addressBucket("g::1"), "g::1");
});

/** The token of a client that opted in: the first frame after `assign`. */
async function tokenOf(client: Client, n = 1): Promise<string> {
  const frames = await client.receive(n);
  const [name, token] = JSON.parse(frames[n - 1]);
  assert.equal(name, "token");
  assert.equal(typeof token, "string");
  return token;
}

/** Closes a client and waits for its close. */
async function leave(client: Client): Promise<void> {
  client.socket.close();
  await client.closed;
}

Deno.test("SignalServer sends no token to a client that did not ask for one", async () => {
  const server = serve({ tokenRefreshMs: 20 });
  const a = await connect(server.url);
  try {
    // Past several refreshes, the first frame after assign is the answer.
    await new Promise((resolve) => setTimeout(resolve, 100));
    a.socket.send(JSON.stringify(["request", "AAAAAAAAAAAAAAAA"]));
    assert.deepEqual(await a.receive(1), ['["peer not exists"]']);
  } finally {
    await leave(a);
    await server.close();
  }
});

Deno.test("SignalServer sends a token after assign to a client with ?reclaim, and fresh ones after", async () => {
  const server = serve({ tokenRefreshMs: 30 });
  const a = await connect(`${server.url}?reclaim`);
  try {
    const first = await tokenOf(a);
    assert.ok(first.startsWith(`${a.id}.`));
    const second = await tokenOf(a, 2);
    assert.ok(second.startsWith(`${a.id}.`));
  } finally {
    await leave(a);
    await server.close();
  }
});

Deno.test("SignalServer gives an id back to its token after the socket closed", async () => {
  const server = serve();
  const a = await connect(`${server.url}?reclaim`);
  const token = await tokenOf(a);
  await leave(a);
  const again = await connect(
    `${server.url}?reclaim=${encodeURIComponent(token)}`,
  );
  const b = await connect(server.url);
  try {
    assert.equal(again.id, a.id);
    // The id works again: a request to it arrives, from b.
    b.socket.send(JSON.stringify(["request", a.id]));
    const [[name, from]] = (await again.receive(2)).slice(1).map((f) =>
      JSON.parse(f)
    );
    assert.deepEqual([name, from], ["request", b.id]);
  } finally {
    await leave(again);
    await leave(b);
    await server.close();
  }
});

Deno.test("SignalServer gives an id back after a restart with the same secret", async () => {
  const before = serve({ reclaimSecret: "restart-secret" });
  const a = await connect(`${before.url}?reclaim`);
  const token = await tokenOf(a);
  await leave(a);
  await before.close();
  // Nothing of the first server is left: only the secret is shared.
  const after = serve({ reclaimSecret: "restart-secret" });
  const again = await connect(`${after.url}?reclaim=${token}`);
  try {
    assert.equal(again.id, a.id);
    assert.ok((await tokenOf(again)).startsWith(`${a.id}.`));
  } finally {
    await leave(again);
    await after.close();
  }
});

Deno.test("SignalServer assigns a new id for a token it cannot verify", async () => {
  const before = serve({ reclaimSecret: "one" });
  const a = await connect(`${before.url}?reclaim`);
  const token = await tokenOf(a);
  await leave(a);
  await before.close();
  const after = serve({ reclaimSecret: "two" });
  const forged = await connect(`${after.url}?reclaim=${token}`);
  const garbage = await connect(`${after.url}?reclaim=not-a-token`);
  try {
    assert.notEqual(forged.id, a.id);
    assert.ok(isPeerId(forged.id) && isPeerId(garbage.id));
    // Still opted in: a token for the new id.
    assert.ok((await tokenOf(forged)).startsWith(`${forged.id}.`));
  } finally {
    await leave(forged);
    await leave(garbage);
    await after.close();
  }
});

Deno.test("SignalServer replaces a live socket that holds a reclaimed id, closing it with 4000", async () => {
  const server = serve();
  const old = await connect(`${server.url}?reclaim`);
  const token = await tokenOf(old);
  const fresh = await connect(`${server.url}?reclaim=${token}`);
  try {
    assert.equal(fresh.id, old.id);
    const closed = await old.closed;
    assert.equal(closed.code, 4000);
    assert.match(closed.reason, /newer connection/);
    assert.equal(server.signal.peerCount, 1);
  } finally {
    await leave(fresh);
    await server.close();
  }
});
