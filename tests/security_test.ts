/**
 * End-to-end authentication in real browsers: with a tampering relay in
 * place of an honest signaling server (rewriting an SDP, adding lines a
 * browser may parse, or helping another holder of the link pose as the
 * sender), or a link without its key, the transfer is refused on both pages
 * and no file bytes flow. Each case runs in Chromium (a browser of its own,
 * as a test of its own) and in Firefox (one test whose steps share a
 * browser: a Firefox start costs seconds).
 */

import assert from "node:assert/strict";
import {
  deriveKeys,
  newSenderKeys,
  signPayload,
} from "../lib/transfer/auth.ts";
import { newSecret, parseLinkKey } from "../lib/transfer/secret.ts";
import {
  decodeManifest,
  encodeManifest,
  sealManifest,
} from "../lib/transfer/manifest.ts";
import { newPeerId } from "../lib/signal/protocol.ts";
import {
  BROWSER_NAMES,
  type CrossBrowser,
  launchBrowser,
  type TestPage,
} from "./_helpers/browser.ts";
import {
  makeFile,
  NO_PICKERS,
  PICKER_STUB,
  type SourceOnDisk,
} from "./_helpers/transfer.ts";
import {
  afterFirstLine,
  breakFingerprint,
  FINGERPRINT_INJECTIONS,
  type Rewrite,
  rewritePayload,
  startTamperingServer,
  type TamperingServer,
} from "./_helpers/tamper.ts";

const browserTest = { sanitizeOps: false, sanitizeResources: false };

/** The pages of one scenario, and the link the sender's page showed. */
interface Pages {
  sender: TestPage;
  receiver: TestPage;
  link: string;
}

/** What one case does: made afresh for each browser it runs in. */
interface Scenario {
  rewrite: Rewrite;
  run: (pages: Pages) => Promise<void>;
  cutLink?: (link: string) => string;
  refused?: boolean;
}

/** The cases, each run in every browser (registered at the end). */
const CASES: { name: string; make: () => Scenario }[] = [];

function securityTest(name: string, make: () => Scenario): void {
  CASES.push({ name, make });
}

/**
 * Runs one case in `browser` (Chromium: launched for this case, given the
 * tampering server's origin for its host candidates).
 */
async function scenario(
  browser: CrossBrowser | "chromium",
  { rewrite, run, cutLink = (link) => link, refused = true }: Scenario,
): Promise<void> {
  let server: TamperingServer | undefined;
  let own: CrossBrowser | undefined;
  const pages: TestPage[] = [];
  const dir = await Deno.makeTempDir();
  try {
    server = await startTamperingServer(rewrite);
    if (browser === "chromium") {
      own = await launchBrowser({ kind: "chromium", origin: server.url });
      browser = own;
    }
    const file: SourceOnDisk = await makeFile(
      dir,
      "secret plans.bin",
      1024 * 1024,
    );
    const sender = await browser.newPage();
    pages.push(sender);
    await sender.goto(server.url);
    await sender.waitFor("beam-island[data-hydrated]");
    await sender.setInputFiles("#file-input", [file.path]);
    const link = cutLink(await sender.value("#share-link"));
    const receiver = await browser.newPage();
    pages.push(receiver);
    await receiver.addInitScript(
      browser.kind === "chromium" ? PICKER_STUB : NO_PICKERS,
    );
    await receiver.goto(link);
    await receiver.waitFor("beam-island[data-hydrated]");
    await run({ sender, receiver, link });
    if (!refused) return;
    // No file bytes crossed: the sender never counted any.
    assert.equal(await sender.attribute(".receiver", "data-state"), "failed");
    assert.equal(
      await sender.attribute(".receiver .percent", "data-percent"),
      "0",
    );
  } finally {
    // A shared browser outlives the case: its pages do not.
    if (own === undefined) {
      for (const page of pages) await page.close().catch(() => {});
    }
    await own?.close();
    await server?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function failedWith(
  page: TestPage,
  pattern: RegExp,
  selector = "[role=status]",
) {
  await page.waitFor(".phase-failed, .receiver[data-state='failed']", {
    timeout: 30_000,
  });
  const text = await page.text(selector);
  assert.match(text, pattern, text);
}

/** Each row on the send page: its state and its percentage. */
function rows(sender: TestPage) {
  return sender.evaluate(() =>
    [...document.querySelectorAll(".receiver")].map((row) => ({
      state: row.getAttribute("data-state"),
      percent: row.querySelector(".percent")?.getAttribute("data-percent"),
    }))
  );
}

/**
 * A relay that edits the SDP of `event` on its way (`way`: the offer crosses
 * the server on its way up, the answer on its way down): both pages must
 * refuse the connection as unverified.
 */
function sdpTamperCase(
  event: "offer" | "answer",
  way: "up" | "down",
  edit: (sdp: string) => string,
) {
  const tamper = rewritePayload(
    event,
    (p) => typeof p.sdp === "string" ? { ...p, sdp: edit(p.sdp) } : p,
  );
  return {
    rewrite: (dir: "up" | "down", text: string) =>
      dir === way ? tamper(text) : text,
    run: async (
      { sender, receiver }: { sender: TestPage; receiver: TestPage },
    ) => {
      await receiver.clickButton("Download");
      await failedWith(receiver, /could not be verified/);
      await failedWith(sender, /could not be verified/, ".receiver");
    },
  };
}

const SDP_WAYS = [["offer", "up"], ["answer", "down"]] as const;

for (const [event, way] of SDP_WAYS) {
  securityTest(
    `a relay that rewrites the ${event}'s fingerprint is refused on both pages`,
    () => sdpTamperCase(event, way, breakFingerprint),
  );
}

// The MAC covers the whole SDP: a line added in a form that a regex over
// fingerprint lines skipped, but a browser's parser may take, is refused.
for (const [what, line] of FINGERPRINT_INJECTIONS) {
  for (const [event, way] of SDP_WAYS) {
    securityTest(
      `a relay that adds a fingerprint with ${what} to the ${event} is refused on both pages`,
      () => sdpTamperCase(event, way, (sdp) => afterFirstLine(sdp, line)),
    );
  }
}

securityTest(
  "another holder of the link cannot serve a receiver a file list of its own, even with the relay's help",
  () => {
    // The impostor holds the whole link (so the share's keys) and signs
    // with a key of its own; the relay puts its list in place of the
    // sender's, sealed for the victim.
    // The link, once the sender's page shows it (the relay holds the
    // sender's list until then).
    const shared = Promise.withResolvers<string>();
    const forge = async (receiverId: string) => {
      const url = new URL(await shared.promise);
      const senderId = url.pathname.split("/").at(-1)!;
      const key = parseLinkKey(url.hash.slice(1))!;
      const keys = await deriveKeys(key.secret, senderId);
      const pages = await sealManifest(
        keys,
        receiverId,
        await encodeManifest({
          files: [{
            name: "invoice.pdf.exe",
            size: 26,
            type: "application/octet-stream",
            lastModified: 0,
          }],
        }),
      );
      const signer = await newSenderKeys();
      return Promise.all(
        pages.map((page) =>
          signPayload(signer, "response", senderId, receiverId, page)
        ),
      );
    };
    return {
      rewrite: async (dir, text) => {
        if (dir !== "up" || !text.startsWith('["response"')) return text;
        const [event, receiverId] = JSON.parse(text);
        const [page] = await forge(receiverId);
        return JSON.stringify([event, receiverId, page]);
      },
      run: async ({ receiver, link }) => {
        shared.resolve(link);
        await failedWith(receiver, /could not be verified/);
        assert.equal(
          await receiver.evaluate(() =>
            document.body.innerText.includes("invoice.pdf.exe")
          ),
          false,
        );
        assert.equal(await receiver.buttonCount("Download"), 0);
      },
      refused: false,
    };
  },
);

securityTest(
  "a relay that alters the sealed file list cannot make it readable",
  () => {
    const flip = rewritePayload("response", (p) => ({
      ...p,
      ct: typeof p.ct === "string"
        ? (p.ct[0] === "A" ? "B" : "A") + p.ct.slice(1)
        : p.ct,
    }));
    return {
      rewrite: (dir, text) => dir === "down" ? flip(text) : text,
      run: async ({ sender, receiver }) => {
        // Its signature no longer holds: the list is not the sender's, so
        // the receiver refuses it unread (and has nothing to tell the
        // sender, which never hears from it again).
        await failedWith(receiver, /could not be verified/);
        assert.equal(await receiver.buttonCount("Download"), 0);
        for (const row of await rows(sender)) {
          assert.notEqual(row.state, "sending");
          assert.equal(row.percent, "0");
        }
      },
      refused: false,
    };
  },
);

securityTest(
  "a link cut off at # is refused by the sender, which says why",
  () => ({
    rewrite: (_dir, text) => text,
    run: async ({ sender, receiver }) => {
      await failedWith(receiver, /missing its key/);
      await failedWith(sender, /Refused: .*missing its key/, ".receiver");
    },
    cutLink: (link) => link.slice(0, link.indexOf("#")),
  }),
);

/** Bytes of a base64 string, or `undefined` if it is not base64. */
function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** Bytes of a hex string, or `undefined` if it is not hex. */
function fromHex(text: string): Uint8Array | undefined {
  if (!/^([0-9a-f]{2})*$/i.test(text)) return undefined;
  return Uint8Array.from(
    text.match(/../g) ?? [],
    (pair) => parseInt(pair, 16),
  );
}

/** Whether `bytes`, read as text, give away the file list. */
function readable(bytes: Uint8Array): boolean {
  const text = new TextDecoder().decode(bytes);
  if (text.includes("secret plans")) return true;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

securityTest(
  "the file list crosses the server only as ciphertext",
  () => {
    const seen: { dir: "up" | "down"; text: string }[] = [];
    const rewrite: Rewrite = (dir, text) => {
      seen.push({ dir, text });
      return text;
    };
    const run = async ({ receiver, link }: Pages) => {
      await receiver.waitFor(".phase-ready");
      // What the sender's page gave the server for the receiver.
      const sent = seen.filter(({ dir, text }) =>
        dir === "up" && text.startsWith('["response"')
      ).map(({ text }) => JSON.parse(text));
      assert.equal(sent.length, 1);
      const [, receiverId, payload] = sent[0];
      assert.ok(
        !seen.some(({ text }) => text.includes("secret plans")),
        "file name leaked to the server",
      );
      // Only the sealed form, and none of its strings decodes (base64 or
      // hex) to the list or to anything JSON: the server holds no plaintext.
      // (`key` and `sig` are the sender's public key and signature.)
      assert.deepEqual(Object.keys(payload).sort(), [
        "ct",
        "iv",
        "key",
        "sig",
        "v",
      ]);
      for (const value of [payload.iv, payload.ct]) {
        assert.equal(typeof value, "string");
        for (const bytes of [fromBase64(value), fromHex(value)]) {
          assert.ok(bytes === undefined || !readable(bytes), value);
        }
      }
      // It is AES-GCM under the key of the link's fragment, bound to this
      // receiver: it opens with that key and with nothing else.
      const url = new URL(link);
      const senderId = url.pathname.split("/").at(-1)!;
      const open = async (secret: string, forId: string) =>
        new TextDecoder().decode(
          await crypto.subtle.decrypt(
            {
              name: "AES-GCM",
              iv: fromBase64(payload.iv)!,
              additionalData: new TextEncoder().encode(forId),
            },
            (await deriveKeys(secret, senderId)).seal,
            fromBase64(payload.ct)!,
          ),
        );
      const { secret } = parseLinkKey(url.hash.slice(1))!;
      const manifest = await decodeManifest([
        JSON.parse(await open(secret, receiverId)),
      ]);
      assert.equal(manifest.files[0].name, "secret plans.bin");
      assert.equal(manifest.files[0].size, 1024 * 1024);
      await assert.rejects(open(newSecret(), receiverId));
      await assert.rejects(open(secret, newPeerId()));
    };
    return { rewrite, run, refused: false };
  },
);

for (const { name, make } of CASES) {
  Deno.test(name, browserTest, () => scenario("chromium", make()));
}

Deno.test(
  `in ${BROWSER_NAMES.firefox}, each case above holds as in Chromium`,
  browserTest,
  async (t) => {
    const firefox = await launchBrowser({ kind: "firefox" });
    try {
      for (const { name, make } of CASES) {
        await t.step(`${name} [firefox]`, () => scenario(firefox, make()));
      }
    } finally {
      await firefox.close();
    }
  },
);
