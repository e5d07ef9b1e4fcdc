// Written by `deno task build` (lib/islands/build.ts). Do not edit.
// It lists routes and islands statically, as Fresh's fresh.gen.ts does.

import * as $r0 from "./routes/_404.tsx";
import * as $r1 from "./routes/api/ice.ts";
import * as $r2 from "./routes/api/signal.ts";
import * as $r3 from "./routes/healthz.ts";
import * as $r4 from "./routes/index.tsx";
import * as $r5 from "./routes/r/[id].tsx";
import * as $r6 from "./routes/share/target.ts";
import $i0 from "./islands/ReceivePanel.tsx";
import $i1 from "./islands/SendPanel.tsx";

export const routes = {
  "routes/_404.tsx": $r0,
  "routes/api/ice.ts": $r1,
  "routes/api/signal.ts": $r2,
  "routes/healthz.ts": $r3,
  "routes/index.tsx": $r4,
  "routes/r/[id].tsx": $r5,
  "routes/share/target.ts": $r6,
};

export const islands = {
  "ReceivePanel": $i0,
  "SendPanel": $i1,
};
