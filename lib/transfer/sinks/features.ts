/**
 * What this browser offers to save with: the File System Access pickers,
 * and service workers that can take a transferred stream. The destinations
 * (`../destination.ts`) offer only what is here.
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

/**
 * Whether `postMessage` can transfer a ReadableStream here (Chromium can;
 * some browsers throw a DataCloneError).
 */
function canTransferStreams(): boolean {
  if (
    typeof MessageChannel !== "function" ||
    typeof ReadableStream !== "function"
  ) {
    return false;
  }
  const { port1, port2 } = new MessageChannel();
  try {
    const stream = new ReadableStream();
    port1.postMessage(stream, [stream]);
    return true;
  } catch {
    return false;
  } finally {
    port1.close();
    port2.close();
  }
}

/** Finds out what this browser offers. */
export function detectFeatures(): SinkFeatures {
  const scope = globalThis as unknown as Record<string, unknown>;
  const nav = globalThis.navigator as Navigator | undefined;
  return {
    saveFilePicker: typeof scope.showSaveFilePicker === "function",
    directoryPicker: typeof scope.showDirectoryPicker === "function",
    serviceWorker: globalThis.isSecureContext === true &&
      nav?.serviceWorker !== undefined && canTransferStreams(),
  };
}
