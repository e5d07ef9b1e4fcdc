import assert from "node:assert/strict";
import { median, perMB } from "./transfer_stats.ts";
import { formatSize, parseBytes, parseFlags } from "./transfer_bench.ts";

Deno.test("median() takes the middle value, or the mean of the middle two", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("perMB() gives CPU ms per 10^6 bytes by role, with a total", () => {
  assert.deepEqual(
    perMB({ network: 500, sendRenderer: 250, storage: 0 }, 10_000_000),
    { network: 50, sendRenderer: 25, total: 75 },
  );
});

Deno.test("parseBytes() reads binary suffixes and formatSize() writes them", () => {
  assert.equal(parseBytes("1GiB"), 2 ** 30);
  assert.equal(parseBytes("64KiB"), 65536);
  assert.equal(parseBytes("1000"), 1000);
  assert.throws(() => parseBytes("1GB"), TypeError);
  assert.equal(formatSize(256 * 1024), "256KiB");
  assert.equal(formatSize(2 ** 30), "1GiB");
});

Deno.test("parseFlags() has the full run's defaults and rejects unknown flags", () => {
  const flags = parseFlags([]);
  assert.equal(flags.size, 2 ** 30);
  assert.equal(flags.rounds, 3);
  assert.deepEqual(flags.rawChunks, [65536, 262144]);
  assert.equal(parseFlags(["--quick"]).size, 256 * 2 ** 20);
  assert.throws(() => parseFlags(["--nope"]), TypeError);
});
