/**
 * End to end through a real TURN relay: Debian's coturn with
 * `use-auth-secret`, started on a loopback port of its own, and Beam
 * handing the pages short-lived credentials from `GET /api/ice`. The pages
 * are forced through the relay (`BEAM_TEST_ICE_POLICY=relay`), so a transfer
 * that arrives went through coturn; and when coturn refuses the page's
 * credential (a wrong secret, or one that has expired), the pages say so.
 * Chromium throughout, and Firefox ESR on either side of a relayed transfer.
 */

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import type { Page } from "playwright-core";
import { startTurn, type TestTurn } from "./_helpers/services.ts";
import { startServer } from "./_helpers/server.ts";
import {
  crossSetup,
  hashFile,
  makeFile,
  NO_PICKERS,
  open,
  openIn,
  opfsSha256,
  PICKER_STUB,
  setup,
  share,
  shareIn,
} from "./_helpers/transfer.ts";
import { BROWSER_NAMES, type BrowserKind } from "./_helpers/test_page.ts";
import { RELAY_REFUSED } from "../lib/transfer/rtc.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

const SECRET = "beam-test-turn-secret-0123456789";

/**
 * Records, in each page, the configuration of every peer connection and the
 * candidate types of the pair it connected through (`getStats()`), while
 * the connection is up: once the transfer is done it is closed.
 */
const PAIR_RECORDER = `
  globalThis.__configs = [];
  globalThis.__pairs = [];
  const Native = RTCPeerConnection;
  globalThis.RTCPeerConnection = class extends Native {
    constructor(configuration) {
      super(configuration);
      globalThis.__configs.push(JSON.parse(JSON.stringify(configuration)));
      this.addEventListener("connectionstatechange", async () => {
        if (this.connectionState !== "connected") return;
        const stats = await this.getStats();
        const reports = [...stats.values()];
        // Chromium names the pair in its transport report; Firefox marks
        // the pair itself as selected.
        const id = reports.find((r) => r.type === "transport")
          ?.selectedCandidatePairId;
        const pair = id !== undefined ? stats.get(id) : reports.find((r) =>
          r.type === "candidate-pair" && r.selected
        );
        if (pair === undefined) return;
        globalThis.__pairs.push({
          local: stats.get(pair.localCandidateId).candidateType,
          remote: stats.get(pair.remoteCandidateId).candidateType,
        });
      });
    }
  };
`;

/** What coturn computes for a username: base64(HMAC-SHA1(secret, user)). */
function coturnPassword(secret: string, username: string): string {
  return createHmac("sha1", secret).update(username).digest("base64");
}

/** The receiver's status line once the transfer is done or failed. */
async function outcome(page: Page, timeout = 90_000): Promise<string> {
  await page.waitForSelector(".phase-done, .phase-failed", { timeout });
  return await page.locator(".receive-panel [role=status]").innerText();
}

/**
 * Runs `body` with a coturn of its own (secret {@linkcode SECRET}) and Beam
 * pages forced through it (`start` with TURN_URLS, the relay-only switch and
 * `env`), and stops both whatever happens.
 */
async function withRelay<S extends { close(): Promise<void> }>(
  start: (env: Record<string, string>) => Promise<S>,
  env: Record<string, string>,
  body: (s: S, turn: TestTurn) => Promise<void>,
): Promise<void> {
  const turn = await startTurn(SECRET);
  try {
    const s = await start({
      TURN_SECRET: SECRET,
      TURN_URLS: turn.url,
      BEAM_TEST_ICE_POLICY: "relay",
      ...env,
    });
    try {
      await body(s, turn);
    } finally {
      await s.close();
    }
  } finally {
    await turn.stop();
  }
}

/** A secret other than the relay's: every credential minted with it is refused. */
const WRONG_SECRET = { TURN_SECRET: "not-the-secret-the-relay-has-0123" };

Deno.test(
  "a transfer between two pages forced through a coturn relay arrives byte-identical, over relay candidates",
  browserTest,
  async () => {
    await withRelay(setup, {}, async (s, turn) => {
      const file = await makeFile(s.dir, "relayed.bin", 3 * 1024 * 1024, 7);
      const { page: sender, link } = await share(s, [file], PAIR_RECORDER);
      const receiver = await open(s, link, PICKER_STUB + PAIR_RECORDER);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      const text = await outcome(receiver);
      assert.match(text, /Saved/, `receiver says: ${text}\n${turn.log}`);
      assert.deepEqual(await opfsSha256(receiver, "relayed.bin"), {
        size: file.size,
        sha256: file.sha256,
      });
      for (const page of [sender, receiver]) {
        const configs = await page.evaluate(() =>
          (globalThis as unknown as { __configs: RTCConfiguration[] })
            .__configs
        );
        assert.ok(configs.length >= 1);
        for (const configuration of configs) {
          assert.equal(configuration.iceTransportPolicy, "relay");
          const [server] = configuration.iceServers!;
          assert.deepEqual(server.urls, [turn.url]);
          assert.equal(
            server.credential,
            coturnPassword(SECRET, server.username!),
          );
        }
        const pairs = await page.evaluate(() =>
          (globalThis as unknown as { __pairs: unknown[] }).__pairs
        );
        assert.deepEqual(pairs, [{ local: "relay", remote: "relay" }]);
      }
      // coturn's own word that it allocated relay addresses.
      assert.match(turn.log, /ALLOCATE processed, success/);
      assert.doesNotMatch(turn.log, /check_stun_auth/);
    });
  },
);

// Across browsers, through the shared page interface: Firefox as the
// receiver (it makes the offer) and as the sender (it answers).
const PAIRS: readonly (readonly [BrowserKind, BrowserKind])[] = [
  ["chromium", "firefox"],
  ["firefox", "chromium"],
];

for (const [from, to] of PAIRS) {
  Deno.test(
    `${BROWSER_NAMES[from]} sends to ${
      BROWSER_NAMES[to]
    } with both forced through the coturn relay, byte-identical, over relay candidates`,
    browserTest,
    async () => {
      await withRelay(crossSetup, {}, async (s, turn) => {
        const file = await makeFile(s.dir, "relayed.bin", 3 << 20, 10);
        const { page: sender, link } = await shareIn(
          s,
          from,
          [file],
          PAIR_RECORDER,
        );
        const receiver = await openIn(s, to, link, NO_PICKERS + PAIR_RECORDER);
        await receiver.clickButton("Download");
        await receiver.waitFor(".phase-done, .phase-failed", {
          timeout: 90_000,
        });
        const text = await receiver.text(".receive-panel [role=status]");
        assert.match(text, /Saved/, `the ${to} receiver says: ${text}`);
        const path = await (await s.browser(to)).waitForDownload(file.name, {
          size: file.size,
        });
        assert.equal(await hashFile(path), file.sha256);
        for (const page of [sender, receiver]) {
          const pairs = await page.evaluate(() =>
            (globalThis as unknown as { __pairs: unknown[] }).__pairs
          );
          assert.deepEqual(pairs, [{ local: "relay", remote: "relay" }]);
        }
        assert.match(turn.log, /ALLOCATE processed, success/);
      });
    },
  );
}

Deno.test(
  "a Firefox page whose relay refuses its credentials says so and what to do",
  browserTest,
  async () => {
    await withRelay(crossSetup, WRONG_SECRET, async (s, turn) => {
      const file = await makeFile(s.dir, "refused-ff.bin", 64 * 1024, 11);
      const { link } = await shareIn(s, "chromium", [file]);
      const receiver = await openIn(s, "firefox", link);
      await receiver.clickButton("Download");
      await receiver.waitFor(".phase-done, .phase-failed", { timeout: 90_000 });
      const text = await receiver.text(".receive-panel [role=status]");
      assert.ok(text.includes(RELAY_REFUSED), `receiver says: ${text}`);
      assert.match(turn.log, /check_stun_auth: Cannot find credentials/);
    });
  },
);

Deno.test(
  "pages whose relay refuses the site's credentials (a wrong TURN_SECRET) say so and what to do",
  browserTest,
  async () => {
    await withRelay(setup, WRONG_SECRET, async (s, turn) => {
      const file = await makeFile(s.dir, "refused.bin", 64 * 1024, 8);
      const { page: sender, link } = await share(s, [file]);
      const receiver = await open(s, link);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      const text = await outcome(receiver);
      assert.ok(text.includes(RELAY_REFUSED), `receiver says: ${text}`);
      // The sender's row for this receiver says it too, while it waits.
      const row = await sender.locator(".receiver").innerText();
      assert.ok(row.includes(RELAY_REFUSED), `sender says: ${row}`);
      // coturn refused them, and allocated nothing.
      assert.match(turn.log, /check_stun_auth: Cannot find credentials/);
      assert.doesNotMatch(turn.log, /ALLOCATE processed, success/);
    });
  },
);

Deno.test(
  "pages handed credentials that have expired say the relay refused them",
  browserTest,
  async () => {
    await withRelay(setup, {
      TURN_TTL: "3600",
      // Minted as if two hours ago: expired an hour ago.
      BEAM_TEST_TURN_CLOCK_OFFSET: "-7200",
    }, async (s, turn) => {
      const file = await makeFile(s.dir, "expired.bin", 64 * 1024, 9);
      const { link } = await share(s, [file]);
      const receiver = await open(s, link);
      await receiver.getByRole("button", { name: "Download", exact: true })
        .click();
      const text = await outcome(receiver);
      assert.ok(text.includes(RELAY_REFUSED), `receiver says: ${text}`);
      // The secret is right: coturn refused the expired usernames.
      const expiries = [
        ...turn.log.matchAll(/Cannot find credentials of user <(\d+):/g),
      ].map((match) => Number(match[1]));
      assert.ok(expiries.length > 0, turn.log);
      for (const expiry of expiries) assert.ok(expiry < Date.now() / 1000);
      assert.doesNotMatch(turn.log, /ALLOCATE processed, success/);
    });
  },
);

Deno.test("GET /api/ice hands out fresh credentials that verify with the secret, never cached, and no page holds one", async () => {
  const server = await startServer({
    TURN_SECRET: SECRET,
    TURN_URLS: "turn:turn.example:3478?transport=udp,turns:turn.example:443",
    TURN_TTL: "600",
    ICE_SERVERS: '[{"urls":"stun:stun.example:3478"}]',
  });
  try {
    const answers = [];
    for (let i = 0; i < 2; i++) {
      const before = Math.floor(Date.now() / 1000);
      const response = await fetch(`${server.url}/api/ice`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("cache-control"), "no-store");
      const answer = await response.json();
      assert.equal(answer.ttl, 600);
      assert.deepEqual(answer.iceServers[0], {
        urls: "stun:stun.example:3478",
      });
      const turn = answer.iceServers[1];
      assert.deepEqual(turn.urls, [
        "turn:turn.example:3478?transport=udp",
        "turns:turn.example:443",
      ]);
      const expiry = Number(turn.username.split(":")[0]);
      assert.ok(expiry >= before + 600 && expiry <= before + 601);
      assert.equal(turn.credential, coturnPassword(SECRET, turn.username));
      answers.push(turn);
    }
    assert.notEqual(answers[0].username, answers[1].username);
    assert.notEqual(answers[0].credential, answers[1].credential);

    const foreign = await fetch(`${server.url}/api/ice`, {
      headers: { origin: "https://elsewhere.example" },
    });
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();

    for (const path of ["/", "/r/AAAAAAAAAAAAAAAA"]) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      const html = await response.text();
      assert.ok(!html.includes(SECRET), `${path} holds the secret`);
      assert.ok(!html.includes("turn.example"), `${path} holds TURN URLs`);
      assert.ok(!/"(username|credential)"/.test(html), `${path}: ${html}`);
      // The page is told where to fetch them.
      assert.ok(html.includes('"iceUrl":"/api/ice"'), `${path}: ${html}`);
    }
  } finally {
    await server.close();
  }
});

Deno.test("pages of a site without TURN are not told to fetch ICE servers", async () => {
  const server = await startServer();
  try {
    for (const path of ["/", "/r/AAAAAAAAAAAAAAAA"]) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      const html = await response.text();
      assert.ok(html.includes('"iceUrl":null'), `${path}: ${html}`);
    }
    const response = await fetch(`${server.url}/api/ice`);
    assert.deepEqual(await response.json(), { iceServers: [] });
  } finally {
    await server.close();
  }
});
