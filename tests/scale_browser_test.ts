/**
 * Several instances as one signaling server, end to end: a real
 * `redis-server`, two real Beam processes (main.ts) joined over it, and
 * nginx in front of both so that two headless Chromiums see one origin. The
 * sender's signaling socket and the receiver's are made to land on
 * different instances, and the file still arrives byte-identical; then the
 * sender's instance is killed outright (SIGKILL) and a new share through
 * the same origin works on the survivor. Run `deno task build` first.
 */

import assert from "node:assert/strict";
import {
  collectPageErrors,
  launchBrowser,
  type Page,
  type PageErrors,
  type TestBrowser,
} from "./_helpers/browser.ts";
import { type BeamProcess, startBeam } from "./_helpers/beam.ts";
import { waitFor } from "./_helpers/ws.ts";
import {
  startNginx,
  startRedis,
  type TestNginx,
  type TestRedis,
} from "./_helpers/services.ts";
import {
  makeFile,
  opfsSha256,
  PICKER_STUB,
  type SourceOnDisk,
} from "./_helpers/transfer.ts";

/**
 * How many receive pages may be opened before one lands on the instance
 * that does not hold the sender. Round robin alternates, but every page
 * load also sends plain HTTP requests through it, so a try can miss (the
 * first one usually does).
 */
const LANDING_TRIES = 6;

/** How long a page or an instance gets to reach a state the test waits on. */
const WAIT_MS = 15_000;

/** When set, a screenshot of the last finished receive page goes there. */
const SCREENSHOT = Deno.env.get("BEAM_SCREENSHOT");

/** One Beam process. */
type Instance = BeamProcess;

/** What an instance's `/healthz` answers. */
interface Health {
  status: string;
  uptime: number;
  peers: number;
  bus: string;
  busDropped: number;
}

/**
 * Runs main.ts as a deployment's instance does (tests/_helpers/beam.ts),
 * joined over `redisUrl`, and waits until its bus is up.
 */
async function startInstance(redisUrl: string): Promise<Instance> {
  const instance = await startBeam({
    REDIS_URL: redisUrl,
    // nginx connects from loopback: its X-Forwarded-For names the browser.
    TRUST_PROXY: "loopback",
    // What the tests' own environment may hold must not change the run.
    MAX_PEERS: undefined,
    MAX_PEERS_PER_IP: undefined,
    CONNECT_TIMEOUT_MS: undefined,
  });
  try {
    // 200 means the bus is not down; it must also not be merely local.
    await waitUntil(
      async () => (await health(instance)).bus === "up",
      `instance on port ${instance.port} reports its bus up`,
    );
  } catch (error) {
    await instance.stop();
    throw error;
  }
  return instance;
}

/** An instance's `/healthz`, read from its own port. */
async function health(instance: Instance): Promise<Health> {
  const response = await fetch(`${instance.url}/healthz`);
  const body = await response.json() as Health;
  assert.equal(
    response.status,
    body.bus === "down" ? 503 : 200,
    `/healthz of port ${instance.port}: ${JSON.stringify(body)}`,
  );
  return body;
}

/** Each instance's peer count, in the order given. */
function peerCounts(instances: Instance[]): Promise<number[]> {
  return Promise.all(instances.map(async (i) => (await health(i)).peers));
}

/** Polls `condition` until it holds; fails with `what` after `WAIT_MS`. */
function waitUntil(
  condition: () => Promise<boolean>,
  what: string,
): Promise<void> {
  return waitFor(condition, WAIT_MS, what);
}

/** Waits until the instances hold exactly `expected` peers each. */
async function waitForPeers(
  instances: Instance[],
  expected: number[],
): Promise<void> {
  let last: number[] = [];
  await waitUntil(async () => {
    last = await peerCounts(instances);
    return last.every((n, i) => n === expected[i]);
  }, `peers per instance ${JSON.stringify(expected)}`).catch((error) => {
    throw new Error(`${error.message} (last: ${JSON.stringify(last)})`);
  });
}

/** A page, and the errors it has reported since it opened. */
interface OpenPage {
  page: Page;
  errors: PageErrors;
}

/**
 * Opens the send page through `origin`, chooses `file`, reads the link.
 */
async function share(
  browser: TestBrowser,
  origin: string,
  file: SourceOnDisk,
): Promise<OpenPage & { link: string }> {
  const page = await browser.newPage();
  const errors = collectPageErrors(page);
  await page.goto(origin);
  await page.waitForSelector("beam-island[data-hydrated]");
  await page.setInputFiles("#file-input", file.path);
  const input = page.locator("#share-link");
  await input.waitFor({ timeout: WAIT_MS });
  const link = await input.inputValue();
  // The link names the origin the sender used: nginx's, never an instance's.
  assert.ok(
    link.startsWith(`${origin}/r/`),
    `a link through ${origin}: ${link}`,
  );
  return { page, errors, link };
}

/** Opens a share link with the save pickers stubbed, until it hydrates. */
async function openReceive(
  browser: TestBrowser,
  link: string,
): Promise<OpenPage> {
  const page = await browser.newPage();
  const errors = collectPageErrors(page);
  await page.addInitScript(PICKER_STUB);
  await page.goto(link);
  await page.waitForSelector("beam-island[data-hydrated]");
  return { page, errors };
}

/**
 * Presses Download on a ready receive page, waits for the saved file and
 * compares it with the source; the sender's row must reach "done" too, and
 * neither page may have reported an error.
 */
async function download(
  { page: sender, errors: senderErrors }: OpenPage,
  { page: receiver, errors: receiverErrors }: OpenPage,
  file: SourceOnDisk,
): Promise<void> {
  // Ready means the sealed file list crossed from the sender already.
  await receiver.waitForSelector(".phase-ready", { timeout: WAIT_MS });
  await receiver.getByRole("button", { name: "Download", exact: true })
    .click();
  await receiver.waitForSelector(".phase-done, .phase-failed", {
    timeout: 30_000,
  });
  const text = await receiver.locator(".receive-panel [role=status]")
    .innerText();
  assert.match(text, /Saved/, `receiver says: ${text}`);
  assert.deepEqual(await opfsSha256(receiver, file.name), {
    size: file.size,
    sha256: file.sha256,
  });
  const row = sender.locator(".receiver").last();
  await row.locator(".percent[data-percent='100']").waitFor({
    timeout: WAIT_MS,
  });
  assert.equal(await row.getAttribute("data-state"), "done");
  assert.deepEqual(senderErrors.messages, [], "the send page's errors");
  assert.deepEqual(receiverErrors.messages, [], "the receive page's errors");
}

/** What each instance printed and each open page says, for a failure. */
async function describeState(
  instances: Instance[],
  browsers: TestBrowser[],
): Promise<string> {
  const lines: string[] = [];
  for (const { port, process } of instances) {
    lines.push(
      `instance on port ${port} (${process.running ? "running" : "exited"}):`,
      process.stdout.trim(),
      process.stderr.trim(),
    );
  }
  for (const browser of browsers) {
    for (const page of browser.context.pages()) {
      const status = await page.locator(".status").allInnerTexts()
        .catch(() => []);
      lines.push(`page ${page.url()}: ${status.join(" / ") || "(no status)"}`);
    }
  }
  return lines.filter((line) => line !== "").join("\n");
}

Deno.test(
  "a share crosses two instances behind nginx, and survives killing the sender's instance",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "beam-scale-" });
    let redis: TestRedis | undefined;
    const instances: Instance[] = [];
    let nginx: TestNginx | undefined;
    const browsers: TestBrowser[] = [];
    try {
      redis = await startRedis();
      const started = await Promise.allSettled(
        [0, 1].map(() => startInstance(redis!.url)),
      );
      for (const result of started) {
        if (result.status === "fulfilled") instances.push(result.value);
      }
      for (const result of started) {
        if (result.status === "rejected") throw result.reason;
      }
      // One origin in front of both, as a deployment has.
      nginx = await startNginx(instances.map((i) => `127.0.0.1:${i.port}`));
      const origin = nginx.url;
      // Two browsers, as two people would use: separate profiles and OPFS.
      for (let i = 0; i < 2; i++) {
        browsers.push(await launchBrowser({ origin }));
      }
      const [senderBrowser, receiverBrowser] = browsers;
      await waitForPeers(instances, [0, 0]);

      // Sender and receiver on different instances.
      const first = await makeFile(dir, "across.bin", 4 * 1024 * 1024, 41);
      const sender = await share(senderBrowser, origin, first);
      let counts: number[] = [];
      await waitUntil(async () => {
        counts = await peerCounts(instances);
        return counts[0] + counts[1] === 1;
      }, "the sender's socket on one instance");
      const senderAt = counts.indexOf(1);
      const otherAt = 1 - senderAt;

      let receiver: OpenPage | undefined;
      const landings: number[] = [];
      for (let tries = 0; tries < LANDING_TRIES; tries++) {
        const opened = await openReceive(receiverBrowser, sender.link);
        await waitUntil(async () => {
          counts = await peerCounts(instances);
          return counts[0] + counts[1] === 2;
        }, "the receiver's socket on some instance");
        const landedAt = counts[otherAt] === 1 ? otherAt : senderAt;
        landings.push(instances[landedAt].port);
        if (landedAt === otherAt) {
          receiver = opened;
          break;
        }
        await opened.page.close();
        await waitForPeers(
          instances,
          senderAt === 0 ? [1, 0] : [0, 1],
        );
        // A page load sends a fixed number of requests through the round
        // robin; when that number is even, every reload would land where
        // the last one did. One extra request on every other miss breaks
        // that parity, whichever it is.
        if (tries % 2 === 0) {
          await (await fetch(`${origin}/healthz`)).body?.cancel();
        }
      }
      assert.ok(
        receiver,
        `Cannot put the receiver on the instance without the sender: ` +
          `${LANDING_TRIES} receive pages all landed on port ` +
          `${instances[senderAt].port} (landings: ${landings.join(", ")})`,
      );
      await download(sender, receiver, first);
      // A finished receiver leaves signaling, as the protocol says; the
      // sender stays where it was.
      await waitForPeers(instances, senderAt === 0 ? [1, 0] : [0, 1]);

      // Kill the sender's instance outright: no goodbye to Redis or sockets.
      const killed = instances[senderAt];
      const survivor = instances[otherAt];
      Deno.kill(-killed.process.pid, "SIGKILL");
      const status = await killed.process.stop();
      assert.equal(status.signal, "SIGKILL");
      await sender.page.close();
      await receiver.page.close();
      await waitForPeers([survivor], [0]);

      // A new share through the same origin: nginx fails over.
      const second = await makeFile(dir, "survivor.bin", 4 * 1024 * 1024, 43);
      const sender2 = await share(senderBrowser, origin, second);
      const receiver2 = await openReceive(receiverBrowser, sender2.link);
      await download(sender2, receiver2, second);
      await waitForPeers([survivor], [1]);
      const after = await health(survivor);
      assert.equal(after.status, "ok");
      assert.equal(after.bus, "up");
      assert.equal(after.busDropped, 0);
      if (SCREENSHOT !== undefined) {
        await receiver2.page.screenshot({ path: SCREENSHOT, fullPage: true });
      }
    } catch (error) {
      // The processes' output and the pages are gone once cleaned up.
      console.error(await describeState(instances, browsers));
      throw error;
    } finally {
      for (const browser of browsers) await browser.close();
      await nginx?.stop();
      for (const instance of instances) await instance.process.stop();
      await redis?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
