/**
 * File routes, as in Fresh: `routes/index.tsx` is `/`, `routes/r/[id].tsx`
 * is `/r/:id`, and `routes/_404.tsx` is the not-found page. Paths without
 * parameters are found by one map lookup; the rest by `URLPattern`.
 *
 * @module
 */

/** Turns a route file path into its URL pattern. */
export function routePattern(file: string): string {
  const path = file
    .replace(/^routes/, "")
    .replace(/\.tsx?$/, "")
    .replace(/\/index$/, "")
    .replace(/\[\.\.\.([A-Za-z0-9_]+)\]/g, ":$1*")
    .replace(/\[([A-Za-z0-9_]+)\]/g, ":$1");
  return path === "" ? "/" : path;
}

/** A matched route and the parameters taken from the path. */
export interface RouteMatch<T> {
  /** The route's module. */
  route: T;
  /** Path parameters by name. */
  params: Record<string, string>;
}

/** Finds the route for a path. */
export class Router<T> {
  #exact = new Map<string, T>();
  #patterns: { pattern: URLPattern; route: T }[] = [];
  #special = new Map<string, T>();

  /** Routes by file path (`routes/...`), as listed in `beam.gen.ts`. */
  constructor(routes: Record<string, T>) {
    for (const [file, route] of Object.entries(routes)) {
      const name = file.replace(/^.*\//, "");
      if (name.startsWith("_")) {
        this.#special.set(name.replace(/\.tsx?$/, ""), route);
        continue;
      }
      const pattern = routePattern(file);
      if (pattern.includes(":")) {
        this.#patterns.push({
          pattern: new URLPattern({ pathname: pattern }),
          route,
        });
      } else {
        this.#exact.set(pattern, route);
      }
    }
  }

  /** The route for `pathname`, if any. */
  match(pathname: string): RouteMatch<T> | undefined {
    const exact = this.#exact.get(pathname);
    if (exact !== undefined) return { route: exact, params: {} };
    for (const { pattern, route } of this.#patterns) {
      const result = pattern.exec({ pathname });
      if (result !== null) {
        const params: Record<string, string> = {};
        for (const [key, value] of Object.entries(result.pathname.groups)) {
          if (value !== undefined) params[key] = value;
        }
        return { route, params };
      }
    }
    return undefined;
  }

  /** A special route such as `_404`, if defined. */
  special(name: string): T | undefined {
    return this.#special.get(name);
  }
}
