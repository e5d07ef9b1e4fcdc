import assert from "node:assert/strict";
import { detectFeatures } from "./features.ts";

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
