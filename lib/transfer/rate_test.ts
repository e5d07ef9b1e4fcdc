import assert from "node:assert/strict";
import {
  formatBytes,
  formatDuration,
  RateMeter,
  StallWatch,
  throttle,
  TokenBucket,
} from "./rate.ts";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("RateMeter measures the rate from samples", () => {
  const meter = new RateMeter();
  assert.equal(meter.rate, 0);
  meter.sample(0, 1000);
  meter.sample(1000, 2000);
  assert.equal(meter.rate, 1000);
  meter.sample(3000, 3000);
  // Smoothed: between the old rate and the new one.
  assert.ok(meter.rate > 1000 && meter.rate < 2000, `${meter.rate}`);
});

Deno.test("RateMeter follows a steady rate exactly", () => {
  const meter = new RateMeter(500);
  for (let i = 0; i <= 20; i++) meter.sample(i * 500, 1000 + i * 250);
  assert.equal(meter.rate, 2000);
});

Deno.test("RateMeter ignores samples less than 100 ms apart", () => {
  const meter = new RateMeter();
  meter.sample(0, 1000);
  meter.sample(1_000_000, 1099);
  assert.equal(meter.rate, 0);
  // The ignored sample did not move the baseline: 100 ms after the first.
  meter.sample(100, 1100);
  assert.equal(meter.rate, 1000);
});

Deno.test("RateMeter restarts when the byte count goes back", () => {
  const meter = new RateMeter();
  meter.sample(0, 1000);
  meter.sample(5000, 2000);
  assert.equal(meter.rate, 5000);
  meter.sample(0, 3000); // a new transfer: new baseline, rate kept
  meter.sample(5000, 4000);
  assert.equal(meter.rate, 5000);
});

Deno.test("RateMeter.secondsLeft() is Infinity when idle", () => {
  const meter = new RateMeter();
  assert.equal(meter.secondsLeft(1000), Infinity);
  meter.sample(0, 1000);
  assert.equal(meter.secondsLeft(1000), Infinity);
  meter.sample(0, 2000);
  assert.equal(meter.secondsLeft(1000), Infinity);
});

Deno.test("RateMeter.secondsLeft() divides what is left by the rate", () => {
  const meter = new RateMeter();
  meter.sample(0, 1000);
  meter.sample(1000, 2000);
  assert.equal(meter.secondsLeft(11_000), 10);
  assert.equal(meter.secondsLeft(1000), 0);
  assert.equal(meter.secondsLeft(500), 0);
});

Deno.test("formatBytes() uses SI units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(1000), "1.00 kB");
  assert.equal(formatBytes(1500), "1.50 kB");
  assert.equal(formatBytes(12_345), "12.3 kB");
  assert.equal(formatBytes(123_456), "123 kB");
  assert.equal(formatBytes(1_500_000), "1.50 MB");
  assert.equal(formatBytes(2_000_000_000), "2.00 GB");
  assert.equal(formatBytes(3_000_000_000_000), "3.00 TB");
});

Deno.test("formatBytes() stops at TB", () => {
  assert.equal(formatBytes(5_000_000_000_000_000), "5000 TB");
});

Deno.test("formatDuration() shows seconds, minutes and hours", () => {
  assert.equal(formatDuration(0), "0 s");
  assert.equal(formatDuration(4.4), "4 s");
  assert.equal(formatDuration(59), "59 s");
  assert.equal(formatDuration(59.6), "1 min 0 s");
  assert.equal(formatDuration(65), "1 min 5 s");
  assert.equal(formatDuration(3599), "59 min 59 s");
  assert.equal(formatDuration(3600), "1 h 0 min");
  assert.equal(formatDuration(2 * 3600 + 15 * 60 + 30), "2 h 15 min");
});

Deno.test("formatDuration() shows a dash when unknown", () => {
  assert.equal(formatDuration(Infinity), "—");
  assert.equal(formatDuration(NaN), "—");
});

Deno.test("throttle() calls at once the first time", () => {
  const calls: number[] = [];
  const report = throttle((value: number) => calls.push(value), 1000);
  report(1);
  assert.deepEqual(calls, [1]);
  report.flush();
  assert.deepEqual(calls, [1]);
});

Deno.test("throttle() coalesces later calls to the latest value", async () => {
  const calls: number[] = [];
  let second!: () => void;
  const called = new Promise<void>((resolve) => second = resolve);
  const report = throttle((value: number) => {
    calls.push(value);
    if (calls.length === 2) second();
  }, 30);
  report(1);
  report(2);
  report(3);
  report(4);
  assert.deepEqual(calls, [1]);
  await called;
  assert.deepEqual(calls, [1, 4]);
  report.flush();
  assert.deepEqual(calls, [1, 4]);
});

Deno.test("throttle() flush() delivers the pending value at once", async () => {
  const calls: string[] = [];
  const report = throttle((value: string) => calls.push(value), 50);
  report("a");
  report("b");
  report("c");
  report.flush();
  assert.deepEqual(calls, ["a", "c"]);
  // The timer was cleared: nothing more arrives. (Waiting is the only way
  // to see that nothing happens; 80 ms is past the 50 ms interval.)
  await delay(80);
  assert.deepEqual(calls, ["a", "c"]);
});

Deno.test("throttle() calls at once again after a quiet interval", async () => {
  const calls: number[] = [];
  const report = throttle((value: number) => calls.push(value), 20);
  report(1);
  // Time passing is what this test is about, not a way to wait for work.
  await delay(40);
  report(2);
  assert.deepEqual(calls, [1, 2]);
  report.flush();
});

Deno.test("formatBytes() picks the unit after rounding", () => {
  assert.equal(formatBytes(999_999), "1.00 MB");
  assert.equal(formatBytes(9_999), "10.0 kB");
  assert.equal(formatBytes(99_960), "100 kB");
});

Deno.test("RateMeter takes a first sample at time 0 as a sample", () => {
  const meter = new RateMeter();
  meter.sample(0, 0);
  meter.sample(1000, 1000);
  assert.equal(meter.rate, 1000);
});

Deno.test("TokenBucket allows a burst, then refills at its rate", () => {
  const bucket = new TokenBucket(10, 3);
  assert.deepEqual(
    [0, 0, 0, 0].map(() => bucket.take(1000)),
    [true, true, true, false],
  );
  // 10 per second: one token every 100 ms.
  assert.equal(bucket.take(1050), false);
  assert.equal(bucket.take(1100), true);
  assert.equal(bucket.take(1100), false);
  // Never more than the burst, however long the pause.
  assert.deepEqual(
    [0, 0, 0, 0].map(() => bucket.take(60_000)),
    [true, true, true, false],
  );
});

Deno.test("TokenBucket takes several tokens at once, or none", () => {
  const bucket = new TokenBucket(10, 5);
  assert.equal(bucket.take(0, 4), true);
  assert.equal(bucket.take(0, 2), false);
  assert.equal(bucket.take(0, 1), true);
});

Deno.test("StallWatch calls a transfer stalled once nothing moved for its time while the sender waits", () => {
  const watch = new StallWatch(5000);
  const frozen = { acked: 10, buffered: 300, waiting: true };
  assert.equal(watch.sample(0, frozen), false);
  assert.equal(watch.sample(4999, frozen), false);
  assert.equal(watch.sample(5000, frozen), true);
  // An acknowledgement is movement: the clock starts again.
  assert.equal(watch.sample(6000, { ...frozen, acked: 11 }), false);
  assert.equal(watch.sample(10_999, { ...frozen, acked: 11 }), false);
  assert.equal(watch.sample(11_000, { ...frozen, acked: 11 }), true);
});

Deno.test("StallWatch counts a draining buffer as movement, a growing one not", () => {
  const watch = new StallWatch(1000);
  assert.equal(
    watch.sample(0, { acked: 0, buffered: 500, waiting: true }),
    false,
  );
  assert.equal(
    watch.sample(900, { acked: 0, buffered: 400, waiting: true }),
    false,
  );
  assert.equal(
    watch.sample(1800, { acked: 0, buffered: 400, waiting: true }),
    false,
  );
  assert.equal(
    watch.sample(1900, { acked: 0, buffered: 450, waiting: true }),
    true,
  );
});

Deno.test("StallWatch never calls a sender stalled that is not waiting on the receiver", () => {
  const watch = new StallWatch(1000);
  const idle = { acked: 5, buffered: 0, waiting: false };
  assert.equal(watch.sample(0, idle), false);
  assert.equal(watch.sample(60_000, idle), false);
  // Waiting from now on: its time counts from the last sample that was not.
  assert.equal(watch.sample(60_500, { ...idle, waiting: true }), false);
  assert.equal(watch.sample(61_500, { ...idle, waiting: true }), true);
});
