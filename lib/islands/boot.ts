/**
 * The browser side of the islands layer: finds each `<beam-island>` marker,
 * loads its module, revives its props (signals included) and hydrates it in
 * place. It is the build's boot entry; the server render never runs it.
 *
 * It is also the islands' runtime: each island is built on its own
 * (build.ts), and imports Preact, its hooks, its JSX runtime and signals
 * from here, so that a page runs one copy of each, the one that hydrates
 * (two copies of Preact break hooks, two of signals break revived props).
 *
 * @module
 */

import { type ComponentType, h, hydrate } from "preact";
import { signal } from "@preact/signals";
import {
  ISLAND_DATA_ID,
  ISLAND_TAG,
  type IslandData,
  reviveIsland,
} from "./serialize.ts";

/** Loads an island module by URL. */
export type ModuleLoader = (
  url: string,
) => Promise<{ default: ComponentType<Record<string, unknown>> }>;

/** Hydrates every island on `doc`; resolves with how many it hydrated. */
export async function bootIslands(
  doc: Document,
  load: ModuleLoader = (url) => import(url),
): Promise<number> {
  const block = doc.getElementById(ISLAND_DATA_ID);
  if (block === null) return 0;
  const data: IslandData = JSON.parse(block.textContent ?? "");
  const markers = [...doc.querySelectorAll<HTMLElement>(ISLAND_TAG)];
  await Promise.all(markers.map(async (marker) => {
    const island = data.islands[Number(marker.dataset.index)];
    if (island === undefined) {
      throw new RangeError(
        `Cannot hydrate island ${marker.dataset.island}: no props at index ${marker.dataset.index}`,
      );
    }
    const module = await load(data.modules[island.name]);
    hydrate(h(module.default, reviveIsland(island, signal)), marker);
    marker.dataset.hydrated = "";
  }));
  return markers.length;
}

// What islands may import (build.ts, RUNTIME_MODULES), from the one copy.
// Named, and only what islands use: everything an entry exports is kept,
// and all of Preact's and signals' API weighed 1.5 KB more gzipped on every
// page. An island that imports a name missing here fails its build, which
// says to add it.
export { Fragment, h } from "preact";
export {
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from "preact/hooks";
export { signal, useSignal } from "@preact/signals";
export { jsx, jsxs } from "preact/jsx-runtime";

if (typeof document !== "undefined") {
  bootIslands(document).catch((error) => {
    console.error("Beam: islands failed to start", error);
  });
}
