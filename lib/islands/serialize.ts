/**
 * How island props travel from the server render to the browser: as JSON in
 * a `<script type="application/json">` block, never as code, so the page
 * needs no inline script and the CSP can forbid them.
 *
 * Props are JSON values, and a top-level prop may also be a signal (sent as
 * its value, revived as a new signal). Anything else is a `TypeError` at
 * render time naming the island, so a bad prop fails on the server, not as a
 * blank island in someone's browser.
 *
 * @module
 */

import { Signal } from "@preact/signals";

/** The id of the JSON block that carries island data on a page. */
export const ISLAND_DATA_ID = "__beam_islands";

/** The tag wrapping each server-rendered island. */
export const ISLAND_TAG = "beam-island";

/** One island instance's props on the wire. */
export interface SerializedIsland {
  /** The island's name (its file name in `islands/`). */
  name: string;
  /** Props, as JSON values. */
  props: Record<string, unknown>;
  /** Names of the props that were signals. */
  signals: string[];
}

/** The JSON block of a page with islands. */
export interface IslandData {
  /** Island name to the URL of its module. */
  modules: Record<string, string>;
  /** Each island instance on the page, in document order. */
  islands: SerializedIsland[];
}

/**
 * Checks and flattens an island's props. Throws a `TypeError` naming the
 * island and the prop when a value is not JSON (or a top-level signal).
 */
export function serializeIsland(
  name: string,
  props: Record<string, unknown>,
): SerializedIsland {
  const out: Record<string, unknown> = {};
  const signals: string[] = [];
  for (const [key, value] of Object.entries(props)) {
    if (key === "children") {
      if (value === undefined) continue;
      throw new TypeError(
        `Cannot serialize props of island ${name}: islands take no children`,
      );
    }
    if (value instanceof Signal) {
      signals.push(key);
      out[key] = value.peek();
      checkJson(name, key, out[key], new Set());
    } else {
      checkJson(name, key, value, new Set());
      out[key] = value;
    }
  }
  return { name, props: out, signals };
}

function checkJson(
  island: string,
  path: string,
  value: unknown,
  seen: Set<object>,
): void {
  const fail = (what: string): never => {
    throw new TypeError(
      `Cannot serialize props of island ${island}: "${path}" is ${what}, not JSON`,
    );
  };
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) fail(String(value));
      return;
    case "object": {
      if (value === null) return;
      if (seen.has(value)) fail("a circular reference");
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) =>
          checkJson(island, `${path}[${i}]`, item, seen)
        );
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          fail(`an instance of ${value.constructor?.name ?? "a class"}`);
        }
        for (const [key, item] of Object.entries(value)) {
          checkJson(island, `${path}.${key}`, item, seen);
        }
      }
      seen.delete(value);
      return;
    }
    case "function":
      return fail("a function");
    default:
      return fail(
        typeof value === "undefined" ? "undefined" : `a ${typeof value}`,
      );
  }
}

/**
 * Serializes island data for a `<script type="application/json">` block.
 * Every `<`, `>` and `&` is escaped, so no prop can close the script or open
 * a comment (`</script>`, `<!--`); U+2028/9 are escaped for old parsers.
 */
export function stringifyIslandData(data: IslandData): string {
  return JSON.stringify(data).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Rebuilds an island's props in the browser, making signals anew. */
export function reviveIsland(
  island: SerializedIsland,
  makeSignal: (value: unknown) => unknown,
): Record<string, unknown> {
  const props = { ...island.props };
  for (const key of island.signals) props[key] = makeSignal(props[key]);
  return props;
}
