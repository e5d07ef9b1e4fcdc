/**
 * Several Beam processes acting as one signaling server over a real
 * `redis-server`, and what happens when a part fails: an instance killed,
 * Redis stopped and started again, Redis frozen, foreign frames on Beam's
 * channels. Each instance is `main.ts` run as Deno Deploy runs it.
 */

import assert from "node:assert/strict";
import { type BeamProcess, startBeam } from "./_helpers/beam.ts";
import { startRedis, type TestRedis } from "./_helpers/services.ts";
import {
  assertTalking,
  closeAll,
  expectFrame,
  Peer,
  waitFor,
  within,
} from "./_helpers/ws.ts";

/** A Redis and two instances on it; everything stopped afterwards. */
async function withInstances(
  fn: (one: BeamProcess, two: BeamProcess, redis: TestRedis) => Promise<void>,
): Promise<void> {
  const redis = await startRedis();
  const started: BeamProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      started.push(await startBeam({ REDIS_URL: redis.url }));
    }
    await fn(started[0], started[1], redis);
  } finally {
    for (const beam of started) await beam.stop();
    await redis.stop();
  }
}

Deno.test("two instances over Redis relay a whole conversation between them", async () => {
  await withInstances(async (one, two) => {
    const receiver = await Peer.connect(one.wsUrl);
    const sender = await Peer.connect(two.wsUrl);
    try {
      assert.equal((await one.health()).body.peers, 1);
      assert.equal((await two.health()).body.peers, 1);
      assert.equal((await one.health()).body.bus, "up");
      receiver.send(["request", sender.id]);
      await expectFrame(sender, ["request", receiver.id]);
      sender.send(["response", receiver.id, { v: 1, iv: "x", ct: "y" }]);
      await expectFrame(receiver, ["response", sender.id, {
        v: 1,
        iv: "x",
        ct: "y",
      }]);
      receiver.send(["offer", sender.id, { sdp: "o", mac: "m" }]);
      await expectFrame(sender, ["offer", receiver.id, { sdp: "o", mac: "m" }]);
      sender.send(["answer", receiver.id, { sdp: "a", mac: "m" }]);
      await expectFrame(receiver, ["answer", sender.id, {
        sdp: "a",
        mac: "m",
      }]);
      receiver.send(["progress", sender.id, { bytes: 1, total: 2 }]);
      await expectFrame(sender, ["progress", receiver.id, {
        bytes: 1,
        total: 2,
      }]);
    } finally {
      await closeAll(receiver, sender);
    }
  });
});

Deno.test("kill -9 of one instance: its peers are gone within a second, the other keeps serving", async () => {
  await withInstances(async (one, two) => {
    const doomed = await Peer.connect(one.wsUrl);
    const [sender, receiver] = [
      await Peer.connect(two.wsUrl),
      await Peer.connect(two.wsUrl),
    ];
    try {
      doomed.send(["request", sender.id]);
      await expectFrame(sender, ["request", doomed.id]);
      await one.kill();
      await within(doomed.closed, 5000, "the killed instance's socket to end");
      // Redis drops the dead process's subscriptions with its connection.
      const started = performance.now();
      sender.send(["response", doomed.id, { files: 1 }]);
      await expectFrame(sender, ["peer not exists"]);
      const took = performance.now() - started;
      assert.ok(took < 1000, `peer not exists after ${took.toFixed(0)} ms`);
      // The survivor serves its peers, and new links.
      await assertTalking(receiver, sender);
      const newcomer = await Peer.connect(two.wsUrl);
      await assertTalking(newcomer, sender);
      await newcomer.close();
      assert.equal((await two.health()).status, 200);
    } finally {
      await closeAll(doomed, sender, receiver);
    }
  });
});

Deno.test("Redis stopped: local pairs keep working, others get peer not exists, /healthz says 503 until Redis is back, then all works again", async () => {
  await withInstances(async (one, two, redis) => {
    const a = await Peer.connect(one.wsUrl);
    const b = await Peer.connect(one.wsUrl);
    const far = await Peer.connect(two.wsUrl);
    let late: Peer | undefined;
    try {
      await assertTalking(a, far);
      await redis.stop();
      await waitFor(
        async () => (await one.health()).status === 503,
        5000,
        "one's /healthz to say 503",
      );
      const { body } = await one.health();
      assert.equal(body.bus, "down");
      assert.equal(body.status, "degraded");
      // Inside one instance nothing changed.
      await assertTalking(a, b);
      // Across instances: peer not exists, at once.
      a.send(["request", far.id]);
      await expectFrame(a, ["peer not exists"]);
      // A peer that arrives meanwhile is served, and joins the bus later.
      late = await Peer.connect(one.wsUrl);
      await assertTalking(late, a);

      await redis.restart();
      await waitFor(
        async () =>
          (await one.health()).status === 200 &&
          (await two.health()).status === 200,
        15_000,
        "both instances' buses to come back",
      );
      // Every peer held through the outage is reachable again, the one
      // that came during it too, without a restart.
      await assertTalking(far, a);
      await assertTalking(far, late);
      await assertTalking(b, far);
    } finally {
      await closeAll(a, b, far, ...(late ? [late] : []));
    }
  });
});

Deno.test("Redis frozen: frames to other instances get peer not exists within the deadline, nothing piles up", async () => {
  await withInstances(async (one, two, redis) => {
    const a = await Peer.connect(one.wsUrl);
    const far = await Peer.connect(two.wsUrl);
    try {
      await assertTalking(a, far);
      redis.pause();
      try {
        const started = performance.now();
        a.send(["request", far.id]);
        await expectFrame(a, ["peer not exists"]);
        const took = performance.now() - started;
        assert.ok(took < 7000, `answered after ${took.toFixed(0)} ms`);
        assert.equal((await one.health()).status, 503);
        // From now on at once, not after another wait.
        const again = performance.now();
        a.send(["request", far.id]);
        await expectFrame(a, ["peer not exists"]);
        assert.ok(performance.now() - again < 1000);
      } finally {
        redis.resume();
      }
      await waitFor(
        async () => (await one.health()).status === 200,
        15_000,
        "one's bus to be up again once Redis answers",
      );
      await assertTalking(a, far);
    } finally {
      await closeAll(a, far);
    }
  });
});

Deno.test("a frame on Beam's Redis channel that is not Beam's is dropped, counted, and harms nothing", async () => {
  await withInstances(async (one, two, redis) => {
    const target = await Peer.connect(one.wsUrl);
    const other = await Peer.connect(two.wsUrl);
    try {
      for (
        const junk of [
          "not json",
          '{"event":"request"}',
          `["assign","${other.id}"]`,
          `["request","bad id"]`,
          `["offer","${other.id}"]`,
        ]
      ) {
        assert.equal(
          await redis.cli("PUBLISH", `beam:peer:${target.id}`, junk),
          "1",
        );
      }
      await waitFor(
        async () => (await one.health()).body.busDropped === 5,
        5000,
        "5 dropped frames counted",
      );
      assert.equal(target.pending, 0);
      assert.equal((await one.health()).status, 200);
      await assertTalking(other, target);
    } finally {
      await closeAll(target, other);
    }
  });
});
