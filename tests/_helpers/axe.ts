/**
 * axe-core in a test page: what it finds wrong with the page as it stands,
 * one line per rule broken. The tests choose the states, viewports and
 * colour schemes; this only runs the checker (and loads it once per page).
 */

import type { Page } from "playwright-core";

/** axe-core's browser build, as npm ships it (pinned in deno.json). */
const AXE = await Deno.readTextFile(
  new URL("../../node_modules/axe-core/axe.min.js", import.meta.url),
);

/**
 * axe-core's violations on `page` now, each as "rule (help) at targets", after
 * a frame so that a new layout or colour scheme has applied.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(() => new Promise(requestAnimationFrame));
  if (!await page.evaluate(() => "axe" in globalThis)) {
    await page.evaluate(AXE);
  }
  return await page.evaluate(async () => {
    const axe = (globalThis as unknown as {
      axe: {
        run(context: Document, options: object): Promise<{
          violations: {
            id: string;
            help: string;
            nodes: { target: string[] }[];
          }[];
        }>;
      };
    }).axe;
    const { violations } = await axe.run(document, {
      resultTypes: ["violations"],
    });
    return violations.map((v) =>
      `${v.id} (${v.help}) at ${
        v.nodes.map((n) => n.target.join(" ")).join(", ")
      }`
    );
  });
}

/**
 * Runs {@linkcode axeViolations} in light and dark, calling `each` after
 * each (a screenshot, say), and gives what was found, each line prefixed
 * with the scheme. The page is left light.
 */
export async function axeBothSchemes(
  page: Page,
  each?: (scheme: "light" | "dark") => Promise<void>,
): Promise<string[]> {
  const found: string[] = [];
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    found.push(...(await axeViolations(page)).map((v) => `${scheme}: ${v}`));
    await each?.(scheme);
  }
  await page.emulateMedia({ colorScheme: "light" });
  return found;
}
