/**
 * main.ts as Deno Deploy runs it: a child process started with
 * `deno run --allow-net --allow-env --allow-read --allow-sys main.ts`, so
 * with no write access and none of `deno task start`'s runtime settings
 * (no V8 flags, no `MALLOC_MMAP_THRESHOLD_`), configured only by its
 * environment, and spoken to over real HTTP and WebSockets.
 * Run `deno task build` first.
 */

import assert from "node:assert/strict";
import { readAssets } from "../lib/islands/render.ts";
import type { TestProcess } from "./_helpers/process.ts";
import { type BeamProcess, startBeam } from "./_helpers/beam.ts";
import { ROOT } from "./_helpers/server.ts";
import { closeAll, expectFrame, Peer } from "./_helpers/ws.ts";

/** What Deno prints when code needs a permission it was not given. */
const PERMISSION_ERROR =
  /NotCapable|PermissionDenied|Requires \w+ access|--allow-\w+ flag/;

/**
 * Runs main.ts in a child process, as Deploy runs it, until `fn` is done,
 * then stops it and returns it (its output is complete by then).
 */
async function withBeam(
  env: Record<string, string | undefined>,
  fn: (beam: BeamProcess) => Promise<void>,
): Promise<TestProcess> {
  const beam = await startBeam(env);
  try {
    await fn(beam);
  } finally {
    await beam.stop();
  }
  return beam.process;
}

Deno.test("main.ts runs as Deno Deploy runs it", async (t) => {
  const assets = await readAssets(`${ROOT}/_build`);
  assert.ok(assets, 'the island build exists: run "deno task build"');

  const process = await withBeam({}, async ({ url, wsUrl }) => {
    let html = "";
    await t.step(
      "GET / answers the send page with the build's boot script",
      async () => {
        const response = await fetch(`${url}/`);
        assert.equal(response.status, 200);
        assert.equal(
          response.headers.get("content-type"),
          "text/html; charset=utf-8",
        );
        html = await response.text();
        assert.ok(html.startsWith("<!DOCTYPE html>"));
        const islands = [...html.matchAll(/<beam-island data-island="(\w+)"/g)];
        assert.deepEqual(islands.map((m) => m[1]), ["SendPanel"]);
        assert.ok(html.includes('id="__beam_islands"'));
        assert.ok(
          html.includes(`<script type="module" src="${assets.boot}">`),
          `the page loads ${assets.boot}`,
        );
      },
    );

    await t.step(
      "GET of a /_beam/ file the page names answers JavaScript",
      async () => {
        const src = /<script type="module" src="(\/_beam\/[^"]+\.js)">/
          .exec(html)?.[1];
        assert.ok(src, "the page names a /_beam/ script");
        const response = await fetch(`${url}${src}`);
        assert.equal(response.status, 200);
        assert.match(
          response.headers.get("content-type") ?? "",
          /^text\/javascript\b/,
        );
        assert.equal(
          await response.text(),
          await Deno.readTextFile(`${ROOT}/_build${src}`),
        );
      },
    );

    await t.step(
      "two WebSocket clients hold a signaling conversation",
      async () => {
        // connect() asserts that each first gets ["assign", id].
        const sender = await Peer.connect(wsUrl);
        const receiver = await Peer.connect(wsUrl);
        try {
          assert.notEqual(sender.id, receiver.id);
          receiver.send(["request", sender.id]);
          await expectFrame(sender, ["request", receiver.id]);
          sender.send(["response", receiver.id, { x: 1 }]);
          await expectFrame(receiver, ["response", sender.id, { x: 1 }]);
        } finally {
          await closeAll(sender, receiver);
        }
      },
    );
  });

  assert.match(
    process.stdout,
    /Beam is listening on http:\/\/127\.0\.0\.1:\d+\//,
  );
  assert.doesNotMatch(process.stderr, PERMISSION_ERROR, process.stderr);
});

Deno.test({
  name: "main.ts on Deno Deploy without REDIS_URL warns about REDIS_URL",
  async fn() {
    const process = await withBeam(
      { DENO_DEPLOYMENT_ID: "test123" },
      async ({ url }) => {
        // It still serves: the warning does not stop it.
        const response = await fetch(`${url}/healthz`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      },
    );
    assert.match(process.stderr, /REDIS_URL/, process.stderr);
    assert.doesNotMatch(process.stderr, PERMISSION_ERROR, process.stderr);
  },
});
