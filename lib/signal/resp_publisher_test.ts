import assert from "node:assert/strict";
import {
  encodeCommand,
  parseRedisUrl,
  parseReplies,
  type Reply,
  RespPublisher,
} from "./resp_publisher.ts";
import { startRedis } from "../../tests/_helpers/services.ts";
import { waitFor } from "../../tests/_helpers/ws.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("encodeCommand() counts bulk lengths in UTF-8 bytes", () => {
  assert.equal(
    encodeCommand(["PUBLISH", "c", '["x"]']),
    '*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$5\r\n["x"]\r\n',
  );
  assert.equal(encodeCommand(["é🦕"]), "*1\r\n$6\r\né🦕\r\n");
  assert.equal(encodeCommand([""]), "*1\r\n$0\r\n\r\n");
});

Deno.test("parseReplies() reads whole replies and leaves a partial one", () => {
  const { replies, used } = parseReplies(
    bytes(":1\r\n:0\r\n+PONG\r\n-ERR wrong\r\n:12"),
  );
  assert.equal(used, 27);
  assert.deepEqual(replies.slice(0, 3), [1, 0, "PONG"]);
  assert.ok(replies[3] instanceof Error);
  assert.match((replies[3] as Error).message, /ERR wrong/);
  assert.deepEqual(parseReplies(bytes(":5\r")), { replies: [], used: 0 });
});

Deno.test("parseReplies() refuses a reply it cannot follow", () => {
  assert.throws(() => parseReplies(bytes("$3\r\nabc\r\n")), TypeError);
  assert.throws(() => parseReplies(bytes(":x\r\n")), TypeError);
});

Deno.test("parseRedisUrl() reads host, port, TLS and credentials", () => {
  assert.deepEqual(parseRedisUrl("redis://r.example"), {
    hostname: "r.example",
    port: 6379,
    tls: false,
    username: "",
    password: "",
  });
  assert.deepEqual(parseRedisUrl("rediss://us%40er:p%3Ass@[::1]:6380/2"), {
    hostname: "::1",
    port: 6380,
    tls: true,
    username: "us@er",
    password: "p:ss",
  });
  assert.throws(() => parseRedisUrl("http://x"), TypeError);
  assert.throws(() => parseRedisUrl("nope"), TypeError);
});

Deno.test("RespPublisher publishes after AUTH, and answers in order", async () => {
  const redis = await startRedis(["--requirepass", "s3cret"]);
  const url = redis.url.replace("redis://", "redis://:s3cret@");
  const publisher = new RespPublisher(url);
  try {
    await publisher.connect(() => 100);
    assert.ok(publisher.isReady);
    const replies: Reply[] = [];
    for (let i = 0; i < 100; i++) {
      publisher.send(
        ["PUBLISH", `c${i}`, "é".repeat(i)],
        (r) => replies.push(r),
      );
    }
    publisher.send(["PING"], (r) => replies.push(r));
    await waitFor(() => replies.length === 101, 5000, "101 replies");
    assert.deepEqual(replies, [...new Array(100).fill(0), "PONG"]);
  } finally {
    publisher.close();
    await redis.stop();
  }
});

Deno.test("RespPublisher with a wrong password is never ready and says why", async () => {
  const redis = await startRedis(["--requirepass", "s3cret"]);
  const url = redis.url.replace("redis://", "redis://:wrong@");
  const errors: string[] = [];
  const publisher = new RespPublisher(url, (ready, error) => {
    if (!ready && error) errors.push(error.message);
  });
  try {
    publisher.connect(() => 50);
    await waitFor(() => errors.length >= 2, 5000, "two failed tries");
    assert.ok(!publisher.isReady);
    assert.match(errors[0], /WRONGPASS|invalid password/i);
    assert.equal(publisher.send(["PING"], () => {}), false);
  } finally {
    publisher.close();
    await redis.stop();
  }
});

Deno.test("RespPublisher fails what waits when Redis goes, and comes back with it", async () => {
  const redis = await startRedis();
  const states: boolean[] = [];
  const publisher = new RespPublisher(redis.url, (ready) => states.push(ready));
  try {
    await publisher.connect(() => 50);
    redis.pause();
    let reply: Reply | undefined;
    publisher.send(["PING"], (r) => reply = r);
    await redis.stop();
    await waitFor(() => reply !== undefined, 5000, "the PING to fail");
    assert.ok(reply instanceof Error);
    assert.ok(!publisher.isReady);
    await redis.restart();
    await waitFor(() => publisher.isReady, 5000, "ready again");
    assert.deepEqual(states.slice(0, 2), [true, false]);
  } finally {
    publisher.close();
    await redis.stop();
  }
});
