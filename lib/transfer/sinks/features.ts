/**
 * What this browser offers to save with: the File System Access pickers,
 * and service workers that can take a transferred stream. The destinations
 * (`../destination.ts`) offer only what is here.
 *
 * By feature detection only, never by the user agent: a browser is given
 * the path its features allow, whatever it calls itself, and a browser that
 * gains a feature takes the better path without a change here. Safari (and
 * every browser on iOS, which all run WebKit) has service workers but
 * cannot transfer a stream through `postMessage`, so the stream test below
 * is what sends it to memory; docs/browsers.md has the details.
 *
 * @module
 */

/** What the browser offers, from {@linkcode detectFeatures}. */
export interface SinkFeatures {
  /** `showSaveFilePicker()` exists. */
  saveFilePicker: boolean;
  /** `showDirectoryPicker()` exists. */
  directoryPicker: boolean;
  /** Service workers and transferable streams both work here. */
  serviceWorker: boolean;
}

/** The parts of a page's global scope that the detection reads. */
export interface FeatureScope {
  showSaveFilePicker?: unknown;
  showDirectoryPicker?: unknown;
  isSecureContext?: boolean;
  navigator?: { serviceWorker?: unknown };
  MessageChannel?: typeof MessageChannel;
  ReadableStream?: typeof ReadableStream;
}

/**
 * Whether `postMessage` can transfer a ReadableStream here: the page hands
 * the download's stream to the service worker this way. Chromium and
 * Firefox can; WebKit (Safari, every iOS browser) throws a
 * `DataCloneError`. Tried, not assumed.
 */
function canTransferStreams(scope: FeatureScope): boolean {
  const Channel = scope.MessageChannel;
  const Stream = scope.ReadableStream;
  if (typeof Channel !== "function" || typeof Stream !== "function") {
    return false;
  }
  const { port1, port2 } = new Channel();
  try {
    const stream = new Stream();
    port1.postMessage(stream, [stream as unknown as Transferable]);
    return true;
  } catch {
    return false;
  } finally {
    port1.close();
    port2.close();
  }
}

/** Finds out what this browser (or `scope`, in tests) offers. */
export function detectFeatures(
  scope: FeatureScope = globalThis as unknown as FeatureScope,
): SinkFeatures {
  return {
    saveFilePicker: typeof scope.showSaveFilePicker === "function",
    directoryPicker: typeof scope.showDirectoryPicker === "function",
    // Service workers exist only in secure contexts (HTTPS or localhost).
    serviceWorker: scope.isSecureContext === true &&
      scope.navigator?.serviceWorker !== undefined &&
      scope.navigator?.serviceWorker !== null &&
      canTransferStreams(scope),
  };
}
