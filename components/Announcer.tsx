/**
 * The page's one polite live region, visually hidden: screen readers hear
 * only what is put here (phase changes, every tenth of the progress,
 * "Copied"), never the numbers that change many times a second.
 *
 * It has no role: the visible status lines keep `role="status"` (with
 * `aria-live="off"`, so they are not read twice) for tools and tests that
 * look for them.
 *
 * `count` tells two equal messages apart ("Copied" twice): a screen reader
 * announces a change of the region's text, so the second gets an invisible
 * mark that changes it.
 */
export function Announcer({ text, count }: { text: string; count: number }) {
  return (
    <p
      class="visually-hidden"
      aria-live="polite"
      aria-atomic="true"
      data-announcer
    >
      {text}
      {count % 2 === 1 ? "\u00a0" : ""}
    </p>
  );
}
