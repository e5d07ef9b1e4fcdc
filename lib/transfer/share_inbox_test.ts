import assert from "node:assert/strict";
import {
  answerShare,
  INBOX_CACHE,
  isShareId,
  isShareRequest,
  keepShare,
  openShare,
  readShareForm,
  serveShares,
  SHARE_GONE,
  SHARE_NOTES,
  sharedText,
  type ShareForm,
  takeShare,
} from "./share_inbox.ts";
import { type CacheStorageLike, SHARE_ACTION } from "./share_target.ts";

/**
 * Deno's own Cache Storage (the API a service worker has), under names of
 * this file's own: test files run in parallel and may share the storage.
 */
const store: CacheStorageLike = {
  open: (name) => caches.open(`inbox-test:${name}`),
  delete: (name) => caches.delete(`inbox-test:${name}`),
};

const ORIGIN = "http://127.0.0.1:8000";
const ID = "0b6c2a4e-8f1d-4c3b-9a7e-5d2f1e0c9b8a";

function form(fields: Partial<ShareForm>): ShareForm {
  return { title: "", text: "", url: "", files: [], ...fields };
}

function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
}

/** Runs `fn` with the inbox empty before and after. */
async function withInbox(fn: () => Promise<void>): Promise<void> {
  await store.delete(INBOX_CACHE);
  try {
    await fn();
  } finally {
    await store.delete(INBOX_CACHE);
  }
}

async function inboxKeys(): Promise<string[]> {
  const cache = await store.open(INBOX_CACHE);
  return (await cache.keys()).map((request) => new URL(request.url).pathname);
}

function shareRequest(body: FormData | string, url = SHARE_ACTION): Request {
  return new Request(new URL(url, ORIGIN), { method: "POST", body });
}

Deno.test("readShareForm() reads the text fields trimmed and every file, not an empty file part", () => {
  const data = new FormData();
  data.set("title", "  A page ");
  data.set("text", "Look at this\n");
  data.set("url", "https://example.com/a");
  data.append("files", new File(["one"], "a.txt", { type: "text/plain" }));
  data.append("files", new File([], "empty.txt"));
  // What a form with no file chosen sends: a part with no name, no bytes.
  data.append("files", new File([], ""));
  const read = readShareForm(data);
  assert.equal(read.title, "A page");
  assert.equal(read.text, "Look at this");
  assert.equal(read.url, "https://example.com/a");
  assert.deepEqual(read.files.map((f) => f.name), ["a.txt", "empty.txt"]);
});

Deno.test("readShareForm() reads a form without fields as an empty share", () => {
  assert.deepEqual(readShareForm(new FormData()), form({}));
});

Deno.test("sharedText() says each part once, one a line, the link inside the text not repeated", () => {
  assert.equal(
    sharedText(form({ title: "Title", text: "Some text", url: "https://a/" })),
    "Title\nSome text\nhttps://a/",
  );
  assert.equal(
    sharedText(
      form({ title: "Title", text: "Read https://a/ now", url: "https://a/" }),
    ),
    "Title\nRead https://a/ now",
  );
  assert.equal(
    sharedText(form({ title: "https://a/", url: "https://a/" })),
    "https://a/",
  );
  assert.equal(sharedText(form({})), "");
});

Deno.test("sharedText() leaves the title out when files come with it", () => {
  const files = [new File(["x"], "photo.jpg")];
  assert.equal(sharedText(form({ title: "photo.jpg", files })), "");
  assert.equal(
    sharedText(form({ title: "photo.jpg", text: "From the trip", files })),
    "From the trip",
  );
});

Deno.test("keepShare() then takeShare() give back each file's bytes, name, type and date, and the text, once", async () => {
  await withInbox(async () => {
    const files = [
      new File([bytes(300_000, 1)], "clip 🎬.mp4", {
        type: "video/mp4",
        lastModified: 1_700_000_000_000,
      }),
      new File([], "empty.txt", { type: "text/plain", lastModified: 42 }),
    ];
    assert.equal(
      await keepShare(store, ORIGIN, ID, form({ text: "Hi", files })),
      true,
    );
    const taken = await takeShare(store, ORIGIN, ID);
    assert.ok(taken);
    assert.equal(taken.text, "Hi");
    assert.deepEqual(
      taken.files.map((f) => [f.name, f.type, f.lastModified, f.size]),
      [
        ["clip 🎬.mp4", "video/mp4", 1_700_000_000_000, 300_000],
        ["empty.txt", "text/plain", 42, 0],
      ],
    );
    assert.deepEqual(
      new Uint8Array(await taken.files[0].arrayBuffer()),
      bytes(300_000, 1),
    );
    // Taken: nothing of it is left, and it cannot be taken again.
    assert.deepEqual(await inboxKeys(), []);
    assert.equal(await takeShare(store, ORIGIN, ID), null);
  });
});

Deno.test("keepShare() keeps only the latest share", async () => {
  await withInbox(async () => {
    const other = "11111111-2222-4333-8444-555555555555";
    await keepShare(store, ORIGIN, other, form({ text: "first" }));
    await keepShare(store, ORIGIN, ID, form({ text: "second" }));
    assert.equal(await takeShare(store, ORIGIN, other), null);
    assert.equal((await takeShare(store, ORIGIN, ID))?.text, "second");
  });
});

Deno.test("keepShare() keeps nothing for a share with no file and no text", async () => {
  await withInbox(async () => {
    assert.equal(
      await keepShare(store, ORIGIN, ID, form({ title: "" })),
      false,
    );
    assert.deepEqual(await inboxKeys(), []);
  });
});

Deno.test("takeShare() returns null for a share never kept or an id that is not one", async () => {
  await withInbox(async () => {
    assert.equal(await takeShare(store, ORIGIN, ID), null);
    assert.equal(await takeShare(store, ORIGIN, "../../etc"), null);
  });
});

Deno.test("answerShare() keeps a POSTed share and sends the browser to the send page that takes it", async () => {
  await withInbox(async () => {
    const data = new FormData();
    data.set("text", "hello");
    data.append("files", new File([bytes(1000, 7)], "a.bin"));
    const response = await answerShare(shareRequest(data), store, ID);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), `${ORIGIN}/?shared=${ID}`);
    const taken = await takeShare(store, ORIGIN, ID);
    assert.equal(taken?.text, "hello");
    assert.deepEqual(
      new Uint8Array(await taken!.files[0].arrayBuffer()),
      bytes(1000, 7),
    );
  });
});

Deno.test("answerShare() sends an empty share to ?shared=empty and a body that is no form to ?shared=failed", async () => {
  await withInbox(async () => {
    const empty = await answerShare(shareRequest(new FormData()), store, ID);
    assert.equal(empty.status, 303);
    assert.equal(empty.headers.get("location"), `${ORIGIN}/?shared=empty`);
    const request = new Request(new URL(SHARE_ACTION, ORIGIN), {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=x" },
      body: "not multipart at all",
    });
    const failed = await answerShare(request, store, ID);
    assert.equal(failed.status, 303);
    assert.equal(failed.headers.get("location"), `${ORIGIN}/?shared=failed`);
    assert.deepEqual(await inboxKeys(), []);
  });
});

Deno.test("isShareRequest() takes only a POST to the share action of the worker's own origin", () => {
  assert.equal(isShareRequest(shareRequest("x"), ORIGIN), true);
  assert.equal(
    isShareRequest(new Request(new URL(SHARE_ACTION, ORIGIN)), ORIGIN),
    false,
  );
  assert.equal(
    isShareRequest(shareRequest("x", "/share/other"), ORIGIN),
    false,
  );
  assert.equal(isShareRequest(shareRequest("x"), "http://elsewhere"), false);
});

Deno.test("serveShares() answers share POSTs and leaves every other request to the network", async () => {
  await withInbox(async () => {
    let listener:
      | ((event: {
        request: Request;
        respondWith(response: Promise<Response>): void;
      }) => void)
      | undefined;
    serveShares({
      location: { origin: ORIGIN },
      caches: store,
      addEventListener: (_type, fn) => listener = fn,
    });
    const answers: Promise<Response>[] = [];
    const fetchEvent = (request: Request) => ({
      request,
      respondWith: (response: Promise<Response>) => void answers.push(response),
    });
    listener!(fetchEvent(new Request(new URL("/", ORIGIN))));
    listener!(fetchEvent(new Request(new URL(SHARE_ACTION, ORIGIN))));
    assert.equal(answers.length, 0);
    const data = new FormData();
    data.set("url", "https://example.com/");
    listener!(fetchEvent(shareRequest(data)));
    assert.equal(answers.length, 1);
    const response = await answers[0];
    assert.equal(response.status, 303);
    const id = new URL(response.headers.get("location")!).searchParams.get(
      "shared",
    )!;
    assert.equal(
      (await takeShare(store, ORIGIN, id))?.text,
      "https://example.com/",
    );
  });
});

Deno.test("isShareId() takes the worker's UUIDs only", () => {
  assert.equal(isShareId(crypto.randomUUID()), true);
  assert.equal(isShareId(ID.toUpperCase()), false);
  assert.equal(isShareId("missed"), false);
  assert.equal(isShareId(`${ID}/0`), false);
});

Deno.test("openShare() gives each note's sentence, and says gone for what is no kept share", async () => {
  for (const [note, text] of Object.entries(SHARE_NOTES)) {
    assert.deepEqual(await openShare(note, store, ORIGIN), { message: text });
  }
  await withInbox(async () => {
    for (const value of ["toString", "../x", "", ID]) {
      assert.deepEqual(await openShare(value, store, ORIGIN), {
        message: SHARE_GONE,
      });
    }
    assert.deepEqual(await openShare(ID, undefined, ORIGIN), {
      message: SHARE_GONE,
    });
  });
});

Deno.test("openShare() takes a kept share", async () => {
  await withInbox(async () => {
    await keepShare(store, ORIGIN, ID, form({ text: "Hi" }));
    assert.deepEqual(await openShare(ID, store, ORIGIN), {
      shared: { files: [], text: "Hi" },
    });
  });
});

Deno.test("the share notes are whole sentences that say what to do", () => {
  for (const text of [...Object.values(SHARE_NOTES), SHARE_GONE]) {
    assert.match(text, /^[A-Z].*[a-z]+.*\.$/);
    assert.doesNotMatch(text, /undefined|\[object/);
  }
});
