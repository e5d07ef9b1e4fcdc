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

/**
 * A Screen Wake Lock API whose locks are EventTargets, as the browser's
 * are: `drop()` is the browser letting go (the tab was hidden), and
 * `grant()` answers the oldest request still waiting.
 */
function browserApi() {
  const waiting:
    ((lock: EventTarget & { release(): Promise<void> }) => void)[] = [];
  const api = {
    requests: 0,
    held: new Set<EventTarget>(),
    request() {
      api.requests++;
      return new Promise<EventTarget & { release(): Promise<void> }>(
        (resolve) => waiting.push(resolve),
      );
    },
    grant() {
      const lock = Object.assign(new EventTarget(), {
        release() {
          api.held.delete(lock);
          lock.dispatchEvent(new Event("release"));
          return Promise.resolve();
        },
      });
      api.held.add(lock);
      waiting.shift()!(lock);
    },
    drop() {
      for (const lock of api.held) {
        api.held.delete(lock);
        lock.dispatchEvent(new Event("release"));
      }
    },
  };
  return api;
}

Deno.test("ScreenAwake takes the lock again when the page returns after the browser let it go", async () => {
  const api = browserApi();
  const states: AwakeState[] = [];
  const awake = new ScreenAwake(api, (s) => states.push(s));
  const wanted = awake.want(true);
  api.grant();
  await wanted;
  assert.equal(api.held.size, 1);
  // Still held: coming back to the page asks for nothing more.
  await awake.retake();
  assert.equal(api.requests, 1);
  // Hidden: the browser released it. Back: it is asked for again.
  api.drop();
  assert.equal(api.held.size, 0);
  const retaken = awake.retake();
  api.grant();
  await retaken;
  assert.equal(api.requests, 2);
  assert.equal(api.held.size, 1);
  await awake.want(false);
  assert.equal(api.held.size, 0);
  assert.deepEqual(states, ["held", "held", "idle"]);
});

Deno.test("ScreenAwake releases at once a lock granted after the transfer ended", async () => {
  const api = browserApi();
  const states: AwakeState[] = [];
  const awake = new ScreenAwake(api, (s) => states.push(s));
  const wanted = awake.want(true);
  await awake.want(false);
  // The browser answers late: the screen must not stay awake for nothing.
  api.grant();
  await wanted;
  assert.equal(api.held.size, 0);
  assert.deepEqual(states, ["idle"]);
  // And it does not come back with the page.
  await awake.retake();
  assert.equal(api.requests, 1);
});
