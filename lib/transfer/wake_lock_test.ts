import assert from "node:assert/strict";
import { type AwakeState, ScreenAwake } from "./wake_lock.ts";

function fakeApi(allow: boolean) {
  const api = {
    held: 0,
    request() {
      if (!allow) {
        return Promise.reject(new DOMException("no", "NotAllowedError"));
      }
      api.held++;
      return Promise.resolve({
        release() {
          api.held--;
          return Promise.resolve();
        },
      });
    },
  };
  return api;
}

Deno.test("ScreenAwake holds the lock while wanted and releases it after", async () => {
  const api = fakeApi(true);
  const states: AwakeState[] = [];
  const awake = new ScreenAwake(api, (s) => states.push(s));
  await awake.want(true);
  await awake.want(true);
  assert.equal(api.held, 1);
  await awake.want(false);
  assert.equal(api.held, 0);
  assert.deepEqual(states, ["held", "idle"]);
});

Deno.test("ScreenAwake says unavailable when the browser refuses or lacks the API", async () => {
  const states: AwakeState[] = [];
  await new ScreenAwake(fakeApi(false), (s) => states.push(s)).want(true);
  await new ScreenAwake(undefined, (s) => states.push(s)).want(true);
  assert.deepEqual(states, ["unavailable", "unavailable"]);
});
