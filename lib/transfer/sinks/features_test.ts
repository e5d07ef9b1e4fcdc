import assert from "node:assert/strict";
import { detectFeatures, type FeatureScope } from "./features.ts";
import { destinations } from "../destination.ts";
import type { FileMeta } from "../sink.ts";

Deno.test("detectFeatures() finds no pickers and no service worker in Deno", () => {
  // Deno has transferable streams but no service workers, and is no
  // secure context: nothing to save with but memory.
  assert.deepEqual(detectFeatures(), {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: false,
  });
});

Deno.test("detectFeatures() sees the pickers when the page has them", () => {
  const scope = globalThis as unknown as Record<string, unknown>;
  scope.showSaveFilePicker = () => {};
  scope.showDirectoryPicker = () => {};
  try {
    assert.deepEqual(detectFeatures(), {
      saveFilePicker: true,
      directoryPicker: true,
      serviceWorker: false,
    });
  } finally {
    delete scope.showSaveFilePicker;
    delete scope.showDirectoryPicker;
  }
});

/**
 * A MessageChannel as WebKit has it: a ReadableStream in the transfer list
 * throws a DataCloneError (transferable streams are not implemented).
 */
class NoStreamTransferChannel extends MessageChannel {
  constructor() {
    super();
    const post = this.port1.postMessage.bind(this.port1);
    this.port1.postMessage = ((message: unknown, transfer?: Transferable[]) => {
      if (transfer?.some((item) => item instanceof ReadableStream)) {
        throw new DOMException(
          "The object can not be cloned.",
          "DataCloneError",
        );
      }
      post(message, transfer ?? []);
    }) as MessagePort["postMessage"];
  }
}

const serviceWorkers = { serviceWorker: {} };

/** What each browser offers a page over HTTPS, as feature sets. */
const PROFILES: Record<string, FeatureScope> = {
  "Chromium": {
    showSaveFilePicker: () => {},
    showDirectoryPicker: () => {},
    isSecureContext: true,
    navigator: serviceWorkers,
    MessageChannel,
    ReadableStream,
  },
  "Firefox": {
    isSecureContext: true,
    navigator: serviceWorkers,
    MessageChannel,
    ReadableStream,
  },
  "Safari and iOS (WebKit)": {
    isSecureContext: true,
    navigator: serviceWorkers,
    MessageChannel: NoStreamTransferChannel,
    ReadableStream,
  },
  "any browser over plain HTTP": {
    isSecureContext: false,
    navigator: {},
    MessageChannel,
    ReadableStream,
  },
  "a browser without service workers": {
    isSecureContext: true,
    navigator: {},
    MessageChannel,
    ReadableStream,
  },
};

function meta(name: string): FileMeta {
  return { name, size: 5, type: "text/plain", lastModified: 0 };
}

/**
 * What a browser with no way to stream to disk gets: every save is held in
 * memory first. WebKit, plain HTTP and a browser without service workers
 * reach it by different routes.
 */
const IN_MEMORY = {
  features: {
    saveFilePicker: false,
    directoryPicker: false,
    serviceWorker: false,
  },
  one: [["download", true]],
  two: ["download"],
};

Deno.test("detectFeatures() gives each browser's feature set its save path", () => {
  const seen: Record<string, unknown> = {};
  for (const [browser, scope] of Object.entries(PROFILES)) {
    const features = detectFeatures(scope);
    const one = destinations([meta("a.txt")], features);
    const two = destinations([meta("a.txt"), meta("b.txt")], features);
    seen[browser] = {
      features,
      one: one.map((d) => [d.id, d.inMemory]),
      two: two.map((d) => d.id),
    };
  }
  assert.deepEqual(seen, {
    // The save picker, and a folder for several files.
    "Chromium": {
      features: {
        saveFilePicker: true,
        directoryPicker: true,
        serviceWorker: true,
      },
      one: [["download", false]],
      two: ["download", "folder"],
    },
    // A download streamed through the service worker.
    "Firefox": {
      features: {
        saveFilePicker: false,
        directoryPicker: false,
        serviceWorker: true,
      },
      one: [["download", false]],
      two: ["download"],
    },
    // Service workers, but no stream transfer: memory.
    "Safari and iOS (WebKit)": IN_MEMORY,
    "any browser over plain HTTP": IN_MEMORY,
    "a browser without service workers": IN_MEMORY,
  });
});

Deno.test("detectFeatures() says why WebKit saves in memory, on the button's page", () => {
  const features = detectFeatures(PROFILES["Safari and iOS (WebKit)"]);
  const [download] = destinations([meta("a.txt")], features);
  assert.match(download.description, /in memory first/);
});

/** Where code that runs in a page lives. */
const PAGE_CODE = ["lib", "islands", "components", "routes", "static"];

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (/\.(ts|tsx|js)$/.test(entry.name) && !/_test\.tsx?$/.test(path)) {
      yield path;
    }
  }
}

Deno.test("no page code looks at the user agent: features decide", async () => {
  const root = new URL("../../../", import.meta.url).pathname;
  const sniffing =
    /\buserAgent\b|userAgentData|navigator\.vendor|navigator\.platform/;
  const found: string[] = [];
  let read = 0;
  for (const dir of PAGE_CODE) {
    for await (const path of sources(root + dir)) {
      read++;
      if (sniffing.test(await Deno.readTextFile(path))) found.push(path);
    }
  }
  assert.ok(read > 50, `only ${read} files read`);
  assert.deepEqual(found, []);
});
