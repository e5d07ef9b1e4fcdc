/**
 * The reclaim extension (docs/protocol.md, "Reclaiming an id") end to end:
 * `main.ts` as a real process on each signaling transport, killed with
 * SIGKILL and started again on the same port, and real WebSocket clients
 * that take their ids back with the token the first process gave them.
 */

import assert from "node:assert/strict";
import { startBeam } from "./_helpers/beam.ts";
import { closeAll, Peer } from "./_helpers/ws.ts";
import { freePort } from "./_helpers/process.ts";
import { startRedis } from "./_helpers/services.ts";

for (const transport of ["raw", "native"]) {
  Deno.test(`a peer reclaims its id from a restarted server (SIGNAL_TRANSPORT=${transport})`, async () => {
    const env = {
      PORT: String(freePort()),
      SIGNAL_TRANSPORT: transport,
      SIGNAL_SECRET: "reclaim-test-secret",
    };
    const first = await startBeam(env);
    let second;
    try {
      const sender = await Peer.connect(`${first.wsUrl}?reclaim`);
      const [name, token] = await sender.next();
      assert.equal(name, "token");
      // A client of the contract alone: no token, ever.
      const plain = await Peer.connect(first.wsUrl);
      await first.kill();
      await closeAll(sender, plain);

      second = await startBeam(env);
      const again = await Peer.connect(
        `${second.wsUrl}?reclaim=${encodeURIComponent(token as string)}`,
      );
      assert.equal(again.id, sender.id);
      assert.equal((await again.next())[0], "token");
      // The id is reachable again: a receiver's request arrives.
      const receiver = await Peer.connect(second.wsUrl);
      receiver.send(["request", sender.id]);
      assert.deepEqual(await again.next(), ["request", receiver.id]);
      // The plain client's id is gone with the first process.
      receiver.send(["request", plain.id]);
      assert.deepEqual(await receiver.next(), ["peer not exists"]);
      await closeAll(again, receiver);
    } finally {
      await first.stop();
      await second?.stop();
    }
  });
}

Deno.test("a peer whose instance died reclaims its id on another instance over Redis, and frames from a third reach it there", async () => {
  const redis = await startRedis();
  const env = { REDIS_URL: redis.url, SIGNAL_SECRET: "reclaim-test-secret" };
  const one = await startBeam(env);
  const two = await startBeam(env);
  const three = await startBeam(env);
  try {
    // The sender's instance dies and it comes back on another; the
    // receiver is on a third, so every frame between them crosses Redis.
    const receiver = await Peer.connect(three.wsUrl);
    const sender = await Peer.connect(`${one.wsUrl}?reclaim`);
    const [name, token] = await sender.next();
    assert.equal(name, "token");
    await one.kill();
    await closeAll(sender);

    const again = await Peer.connect(
      `${two.wsUrl}?reclaim=${encodeURIComponent(token as string)}`,
    );
    assert.equal(again.id, sender.id);
    assert.equal((await again.next())[0], "token");
    receiver.send(["request", sender.id]);
    assert.deepEqual(await again.next(), ["request", receiver.id]);
    again.send(["response", receiver.id, { v: 1, iv: "x", ct: "y" }]);
    assert.deepEqual(await receiver.next(), [
      "response",
      sender.id,
      { v: 1, iv: "x", ct: "y" },
    ]);
    await closeAll(again, receiver);
  } finally {
    await one.stop();
    await two.stop();
    await three.stop();
    await redis.stop();
  }
});
