import assert from "node:assert/strict";
import {
  type CacheStorageLike,
  receiveShared,
  SHARE_NOT_OPENED,
  SHARE_SCOPE,
  type Shared,
  sharedPath,
  type ShareTargetPage,
} from "./share_target.ts";
import {
  INBOX_CACHE,
  keepShare,
  SHARE_GONE,
  SHARE_NOTES,
} from "./share_inbox.ts";
import { WORKER_URL } from "./sinks/sw_protocol.ts";

/**
 * Cache Storage kept in this process's memory: Deno's own is one store on
 * disk for every test process at once, and a test of this file failed
 * under CI's parallel load on it.
 */
function memoryCaches(): CacheStorageLike {
  const named = new Map<string, Map<string, { body: Blob; type: string }>>();
  const keyOf = (request: RequestInfo | URL) =>
    typeof request === "string"
      ? request
      : request instanceof URL
      ? request.href
      : request.url;
  return {
    open(name) {
      const entries = named.get(name) ?? new Map();
      named.set(name, entries);
      const cache = {
        async put(request: RequestInfo | URL, response: Response) {
          entries.set(keyOf(request), {
            body: await response.blob(),
            type: response.headers.get("content-type") ?? "",
          });
        },
        match(request: RequestInfo | URL) {
          const entry = entries.get(keyOf(request));
          return Promise.resolve(
            entry &&
              new Response(entry.body, {
                headers: { "content-type": entry.type },
              }),
          );
        },
        delete(request: RequestInfo | URL) {
          return Promise.resolve(entries.delete(keyOf(request)));
        },
      };
      return Promise.resolve(cache as unknown as Cache);
    },
    delete(name) {
      return Promise.resolve(named.delete(name));
    },
  };
}

const store = memoryCaches();

const ORIGIN = "http://127.0.0.1:8000";
// Not share_inbox_test.ts's: both files run at once on one Cache Storage.
const ID = "7d1e3c5a-2b4f-4e6a-8c9d-0f1a2b3c4d5e";

/**
 * A send page at `search`: what it registered, where its address went, and
 * what it said and shared. Its `caches` are Deno's own Cache Storage.
 */
function sendPage(search: string, options: { refuse?: boolean } = {}) {
  const seen = {
    registered: [] as [string, string][],
    address: `/${search}`,
    shared: [] as Shared[],
    said: [] as string[],
  };
  const page: ShareTargetPage = {
    location: { origin: ORIGIN, pathname: "/", search },
    history: { replaceState: (_data, _unused, url) => seen.address = url },
    serviceWorker: {
      register(url, { scope }) {
        seen.registered.push([url, scope]);
        return options.refuse
          ? Promise.reject(new DOMException("no", "SecurityError"))
          : Promise.resolve({});
      },
    },
    caches: store,
  };
  return {
    seen,
    options: {
      page,
      onShared: (shared: Shared) => void seen.shared.push(shared),
      onMessage: (text: string) => void seen.said.push(text),
    },
  };
}

async function withInbox(fn: () => Promise<void>): Promise<void> {
  await store.delete(INBOX_CACHE);
  try {
    await fn();
  } finally {
    await store.delete(INBOX_CACHE);
  }
}

Deno.test("receiveShared() registers the worker for the share scope on every visit, and takes nothing without ?shared", async () => {
  const { seen, options } = sendPage("");
  await receiveShared(options);
  assert.deepEqual(seen.registered, [[WORKER_URL, SHARE_SCOPE]]);
  assert.equal(seen.address, "/");
  assert.deepEqual(seen.shared, []);
  assert.deepEqual(seen.said, []);
});

Deno.test("receiveShared() goes on when the browser refuses the worker", async () => {
  const { seen, options } = sendPage("", { refuse: true });
  await receiveShared(options);
  // A rejection left unhandled would fail this test.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(seen.registered.length, 1);
  assert.deepEqual(seen.said, []);
});

Deno.test("receiveShared() takes the share the address names, once, and the address forgets it", async () => {
  await withInbox(async () => {
    const file = new File(["hello"], "hello.txt", { type: "text/plain" });
    await keepShare(store, ORIGIN, ID, {
      title: "",
      text: "Note",
      url: "",
      files: [file],
    });
    const { seen, options } = sendPage(sharedPath(ID).slice(1));
    await receiveShared(options);
    assert.equal(seen.address, "/");
    assert.deepEqual(seen.said, []);
    assert.equal(seen.shared.length, 1);
    assert.equal(seen.shared[0].text, "Note");
    assert.equal(await seen.shared[0].files[0].text(), "hello");
    // A second page (a reload that kept the address) finds it gone.
    const again = sendPage(sharedPath(ID).slice(1));
    await receiveShared(again.options);
    assert.deepEqual(again.seen.said, [SHARE_GONE]);
    assert.deepEqual(again.seen.shared, []);
  });
});

Deno.test("receiveShared() says each note the address names", async () => {
  for (const [note, text] of Object.entries(SHARE_NOTES)) {
    const { seen, options } = sendPage(`?shared=${note}`);
    await receiveShared(options);
    assert.deepEqual(seen.said, [text]);
    assert.equal(seen.address, "/");
    assert.deepEqual(seen.shared, []);
  }
});

Deno.test("receiveShared() says the share is gone for an id that is no share, or without Cache Storage", async () => {
  for (const search of ["?shared=toString", "?shared=../x", "?shared="]) {
    const { seen, options } = sendPage(search);
    await receiveShared(options);
    assert.deepEqual(seen.said, [SHARE_GONE], search);
  }
  const { seen, options } = sendPage(`?shared=${ID}`);
  delete options.page.caches;
  await receiveShared(options);
  assert.deepEqual(seen.said, [SHARE_GONE]);
});

Deno.test("receiveShared() keeps the address to reload when the inbox cannot be loaded", async () => {
  const { seen, options } = sendPage(`?shared=${ID}`);
  await receiveShared({
    ...options,
    loadInbox: () => Promise.reject(new TypeError("Failed to fetch")),
  });
  assert.deepEqual(seen.said, [SHARE_NOT_OPENED]);
  assert.equal(seen.address, `/?shared=${ID}`);
});

Deno.test("sharedPath() is the send page with ?shared=", () => {
  assert.equal(sharedPath(ID), `/?shared=${ID}`);
  assert.equal(sharedPath("missed"), "/?shared=missed");
});

Deno.test("SHARE_NOT_OPENED is a whole sentence that says what to do", () => {
  for (const text of [SHARE_NOT_OPENED]) {
    assert.match(text, /^[A-Z].*[a-z]+.*\.$/);
    assert.doesNotMatch(text, /undefined|\[object/);
  }
});
