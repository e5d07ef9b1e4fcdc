import assert from "node:assert/strict";
import { reconnectDelay, redactUrl, RedisBus } from "./redis_bus.ts";
import { startRedis, type TestRedis } from "../../tests/_helpers/services.ts";
import { waitFor } from "../../tests/_helpers/ws.ts";

const A = "AAAAAAAAAAAAAAAA";
const B = "BBBBBBBBBBBBBBBB";

/** What a bus handed its server. */
interface Received {
  to: string;
  frame: string;
  event: string;
  from: string;
}

/** A real Redis and two buses on it, as two instances have. */
async function withBuses(
  fn: (
    buses: RedisBus[],
    inbox: Received[][],
    redis: TestRedis,
    logs: string[],
  ) => Promise<void>,
  options: { sendTimeoutMs?: number; maxPendingBytes?: number } = {},
): Promise<void> {
  const redis = await startRedis();
  const logs: string[] = [];
  const buses = [0, 1].map(() =>
    new RedisBus({ url: redis.url, log: (m) => logs.push(m), ...options })
  );
  const inbox: Received[][] = [[], []];
  buses.forEach((bus, i) =>
    bus.listen((to, frame, event, from) =>
      inbox[i].push({ to, frame, event, from })
    )
  );
  try {
    await Promise.all(buses.map((bus) => bus.connect()));
    await fn(buses, inbox, redis, logs);
  } finally {
    await Promise.all(buses.map((bus) => bus.close()));
    await redis.stop();
  }
}

Deno.test("reconnectDelay() backs off to 3 s, with up to 250 ms of jitter", () => {
  assert.equal(reconnectDelay(0, () => 0), 100);
  assert.equal(reconnectDelay(1, () => 0), 200);
  assert.equal(reconnectDelay(4, () => 0), 1600);
  assert.equal(reconnectDelay(5, () => 0), 3000);
  assert.equal(reconnectDelay(50, () => 0), 3000);
  assert.equal(reconnectDelay(50, () => 0.999), 3249);
});

Deno.test("redactUrl() hides a password and keeps the rest", () => {
  assert.equal(
    redactUrl("redis://:hunter2@r.example:6380/1"),
    "redis://:***@r.example:6380/1",
  );
  assert.equal(redactUrl("redis://r.example:6379"), "redis://r.example:6379");
  assert.equal(redactUrl("::"), "(unreadable URL)");
});

Deno.test("RedisBus.send() reaches a peer joined on another instance, and misses once it left", async () => {
  await withBuses(async ([one, two], inbox) => {
    assert.equal(one.state, "up");
    await two.join(B);
    const frame = `["request","${A}"]`;
    assert.equal(await one.send(B, frame), true);
    await waitFor(() => inbox[1].length === 1, 5000, "the frame on two");
    assert.deepEqual(inbox[1][0], { to: B, frame, event: "request", from: A });
    assert.equal(await one.send(A, frame), false, "nobody joined as A");
    two.leave(B);
    await waitFor(async () => !await one.send(B, frame), 5000, "B gone");
    assert.equal(inbox[0].length, 0);
  });
});

Deno.test("RedisBus keeps the order of one instance's frames to a peer", async () => {
  await withBuses(async ([one, two], inbox) => {
    await two.join(B);
    const sends = Array.from(
      { length: 500 },
      (_, i) => one.send(B, `["progress","${A}",${i}]`),
    );
    assert.deepEqual(await Promise.all(sends), new Array(500).fill(true));
    await waitFor(() => inbox[1].length === 500, 5000, "500 frames");
    assert.deepEqual(
      inbox[1].map((r) => JSON.parse(r.frame)[2]),
      Array.from({ length: 500 }, (_, i) => i),
    );
  });
});

Deno.test("RedisBus drops and counts frames on its channels that are not Beam's", async () => {
  await withBuses(async ([one], inbox, redis) => {
    await one.join(B);
    const junk = [
      "not json",
      "{}",
      "[]",
      `["assign","${A}"]`,
      `["peer not exists"]`,
      `["request","not an id"]`,
      `["request",42]`,
      `["hello","${A}"]`,
      `["request","${A}",{}]`,
      `["offer","${A}"]`,
      `["progress","${A}","${"x".repeat(600 * 1024)}"]`,
    ];
    for (const message of junk) {
      // Big payloads go through a file: an argument list has its limits.
      if (message.length > 1000) {
        const file = await Deno.makeTempFile();
        try {
          await Deno.writeTextFile(file, message);
          const sent = await new Deno.Command("sh", {
            args: [
              "-c",
              `redis-cli -p ${redis.port} -x PUBLISH beam:peer:${B} < ${file}`,
            ],
            stdin: "null",
            stdout: "null",
          }).output();
          assert.ok(sent.success);
        } finally {
          await Deno.remove(file);
        }
      } else {
        assert.equal(
          await redis.cli("PUBLISH", `beam:peer:${B}`, message),
          "1",
        );
      }
    }
    await redis.cli("PUBLISH", `beam:peer:${B}`, `["retry","${A}"]`);
    await waitFor(() => inbox[0].length === 1, 5000, "the one good frame");
    assert.equal(inbox[0][0].event, "retry");
    assert.equal(one.dropped, junk.length);
    assert.equal(one.state, "up");
  });
});

Deno.test("RedisBus is down while Redis is, misses at once, and joins every held peer again when it is back", async () => {
  await withBuses(async ([one, two], inbox, redis, logs) => {
    await two.join(B);
    await redis.stop();
    await waitFor(
      () => one.state === "down" && two.state === "down",
      5000,
      "down",
    );
    // A miss at once, not a wait: `false` itself, not a promise of it.
    assert.equal(one.send(B, `["request","${A}"]`), false);
    // A peer that arrives while Redis is away is told its id at once.
    assert.equal(two.join(A), undefined);
    await redis.restart();
    await waitFor(() => one.state === "up" && two.state === "up", 10_000, "up");
    // Both the peer held before and the one that came meanwhile.
    await waitFor(
      async () =>
        await one.send(B, `["retry","${A}"]`) &&
        await one.send(A, `["retry","${B}"]`),
      5000,
      "both peers reachable again",
    );
    // Redis counted the subscriber; the frames reach its listener a moment
    // later.
    await waitFor(() => inbox[1].length >= 2, 5000, "the frames on two");
    assert.ok(logs.some((m) => /bus is down/.test(m)), logs.join("\n"));
    assert.ok(logs.at(-1)?.includes("bus is up"), logs.join("\n"));
  });
});

Deno.test("RedisBus holds frames for a Redis that stopped answering only up to its deadline", async () => {
  await withBuses(async ([one, two], _inbox, redis) => {
    await two.join(B);
    redis.pause();
    try {
      const started = performance.now();
      const sent = one.send(B, `["request","${A}"]`);
      assert.equal(await sent, false);
      const waited = performance.now() - started;
      assert.ok(waited >= 400 && waited < 3000, `answered after ${waited} ms`);
      assert.equal(one.state, "down");
      // Stalled: later frames are missed at once, not queued.
      assert.equal(one.send(B, `["request","${A}"]`), false);
    } finally {
      redis.resume();
    }
    await waitFor(
      async () => one.state === "up" || await one.send(B, `["retry","${A}"]`),
      5000,
      "up again once Redis answers",
    );
  }, { sendTimeoutMs: 500 });
});

Deno.test("RedisBus never holds more than maxPendingBytes for a slow Redis", async () => {
  const frame = `["progress","${A}","${"x".repeat(10_000)}"]`;
  await withBuses(async ([one, two], _inbox, redis) => {
    await two.join(B);
    redis.pause();
    try {
      const sends = Array.from({ length: 20 }, () => one.send(B, frame));
      // Ten fit; the rest are missed at once.
      const immediate = sends.filter((s) => s === false).length;
      assert.equal(immediate, 10);
      assert.deepEqual(
        await Promise.all(sends),
        new Array(20).fill(false),
      );
    } finally {
      redis.resume();
    }
  }, { maxPendingBytes: frame.length * 10 + 5, sendTimeoutMs: 500 });
});
