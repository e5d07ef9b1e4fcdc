import assert from "node:assert/strict";
import {
  compareBase,
  median,
  perMB,
  resultsMarkdown,
  type RunRecord,
} from "./transfer_stats.ts";
import {
  formatSize,
  parseBytes,
  parseFlags,
  summarize,
} from "./transfer_bench.ts";
import { lanesInit } from "./transfer_app.ts";

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

/** A measured run with only the fields the figures read. */
function run(
  name: string,
  round: number,
  mbps: number,
  cpuTotal: number,
): RunRecord {
  return {
    kind: "run",
    mode: name.startsWith("raw") ? "raw" : "app",
    name,
    round,
    bytes: 64 * 2 ** 20,
    seconds: 1,
    span: "test",
    mbps,
    cpuMs: {},
    cpuMsPerMB: { total: cpuTotal },
    otherCores: 0,
    threads: {},
  };
}

Deno.test("parseFlags() reads --base as a git revision and refuses it bare", () => {
  assert.equal(parseFlags([]).base, null);
  assert.equal(parseFlags(["--base=df6c446"]).base, "df6c446");
  assert.throws(() => parseFlags(["--base"]), TypeError);
  assert.throws(() => parseFlags(["--base=--all"]), TypeError);
});

Deno.test("compareBase() gives app / app-base of the medians and of each round", () => {
  const runs = [
    run("app", 0, 99, 1),
    run("app", 1, 20, 80),
    run("app-base", 1, 25, 100),
    run("app", 2, 30, 90),
    run("app-base", 2, 30, 90),
    run("app", 3, 24, 75),
    run("app-base", 3, 20, 100),
    run("raw-256KiB", 1, 40, 50),
  ];
  assert.deepEqual(compareBase(runs, { ref: "HEAD~1", commit: "abc1234" }), {
    ref: "HEAD~1",
    commit: "abc1234",
    appRuns: 3,
    runs: 3,
    medianMbps: 25,
    cpuMsPerMB: 100,
    mbpsRatio: 0.96,
    cpuRatio: 0.8,
    pairedMbpsRatio: 1,
    pairedCpuRatio: 0.8,
  });
  assert.equal(
    compareBase(runs.filter((r) => r.name !== "app-base"), {
      ref: "HEAD",
      commit: "abc1234",
    }),
    null,
  );
});

Deno.test("summarize() keeps app-base out of the app's figures and prints the ratios", () => {
  const runs = [
    run("app-lanes-1", 1, 10, 100),
    run("app-base", 1, 20, 80),
    run("raw-256KiB", 1, 40, 50),
  ];
  const flags = parseFlags(["--base=HEAD~1", "--app-lanes=1"]);
  const summary = summarize(runs, {
    date: "2026-12-01T00:00:00.000Z",
    command: "deno task bench:transfer --base=HEAD~1",
    machine: {},
    flags,
    rawChunk: 256 * 1024,
    truncated: false,
    elapsedSeconds: 1,
  }, { ref: "HEAD~1", commit: "abc1234" });
  assert.equal(summary.app.medianMbps, 10);
  assert.equal(summary.base?.medianMbps, 20);
  // No plain `app` row: nothing to compare with.
  assert.ok(Number.isNaN(summary.base?.mbpsRatio));
  const markdown = resultsMarkdown({
    ...summary,
    base: compareBase([run("app", 1, 19, 84), ...runs], {
      ref: "HEAD~1",
      commit: "abc1234",
    }),
  });
  assert.match(markdown, /app-base`, 1 runs\) \| \*\*20 MB\/s\*\*/);
  assert.match(markdown, /MB\/s, app \/ app-base .* \*\*0\.95\*\* .* \(met\)/);
  assert.match(markdown, /app \/ app-base \| \*\*1\.05\*\* .* \(met\)/);
  assert.match(markdown, /commit abc1234 \(`--base=HEAD~1`\)/);
});

Deno.test("lanesInit() sets beam:lanes, or removes it for the default", () => {
  assert.equal(
    lanesInit("1"),
    `localStorage.setItem("beam:lanes", "1");`,
  );
  assert.equal(lanesInit(undefined), `localStorage.removeItem("beam:lanes");`);
});
