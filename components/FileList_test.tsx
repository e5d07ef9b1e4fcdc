import assert from "node:assert/strict";
import { renderToString } from "preact-render-to-string";
import { FileList } from "./FileList.tsx";

Deno.test("FileList shows each name sanitized, as it would be saved", () => {
  const html = renderToString(
    <FileList
      files={[
        { name: "invoice\u202etxt.exe", size: 1 },
        { name: "../.bashrc", size: 2 },
        { name: "pay\u200bpal.html", size: 3 },
        { name: "CON", size: 4 },
      ]}
    />,
  );
  const names = [...html.matchAll(/<span class="name">([^<]*)<\/span>/g)]
    .map((match) => match[1]);
  assert.deepEqual(names, [
    "invoice_txt.exe",
    "_.bashrc",
    "paypal.html",
    "_CON",
  ]);
  assert.doesNotMatch(html, /[\u202e\u200b]/);
});
