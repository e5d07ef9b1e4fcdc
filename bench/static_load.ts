/**
 * How long loading `static/` into memory takes at start, with and without
 * the build's codings (`_build/codings/`, made by `deno task build`): without
 * them the server compresses each text file itself (brotli at its best).
 * Run `deno task build`, then `deno run -A bench/static_load.ts`; each case
 * is timed `RUNS` times, alternating, and the median is printed.
 */

import { StaticFiles } from "../lib/http/static.ts";
import { CODINGS_DIR } from "../lib/islands/render.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const RUNS = 9;
const cases = {
  "compressed at start": undefined,
  "build's codings": `${ROOT}_build/${CODINGS_DIR}`,
};
const times: Record<string, number[]> = {};
for (let i = 0; i < RUNS; i++) {
  for (const [name, codings] of Object.entries(cases)) {
    const start = performance.now();
    await StaticFiles.load([
      { dir: `${ROOT}static`, prefix: "", immutable: false, codings },
    ]);
    (times[name] ??= []).push(performance.now() - start);
  }
}
for (const [name, list] of Object.entries(times)) {
  const median = list.sort((a, b) => a - b)[Math.floor(list.length / 2)];
  console.log(`${name}: median ${median.toFixed(1)} ms of ${RUNS}`);
}
