import assert from "node:assert/strict";
import { LocalBus } from "./bus.ts";

Deno.test("LocalBus reaches no other instance: every send is a synchronous miss", async () => {
  const bus = new LocalBus();
  let received = 0;
  bus.listen(() => received++);
  assert.equal(bus.state, "local");
  assert.equal(bus.join("AAAAAAAAAAAAAAAA"), undefined);
  assert.equal(
    bus.send("AAAAAAAAAAAAAAAA", '["request","BBBBBBBBBBBBBBBB"]'),
    false,
  );
  bus.leave("AAAAAAAAAAAAAAAA");
  assert.equal(bus.dropped, 0);
  assert.equal(received, 0);
  await bus.close();
});
