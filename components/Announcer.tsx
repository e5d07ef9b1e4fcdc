/**
 * The page's one polite live region, visually hidden: screen readers hear
 * only what is put here (phase changes, every tenth of the progress,
 * "Copied"), never the numbers that change many times a second.
 *
 * `count` tells two equal messages apart ("Copied" twice): a screen reader
 * announces a change of the region's text, so the second gets an invisible
 * mark that changes it.
 */
export function Announcer({ text, count }: { text: string; count: number }) {
  return (
    <p
      class="visually-hidden"
      role="status"
      aria-live="polite"
      aria-atomic="true"
      data-announcer
    >
      {text}
      {count % 2 === 1 ? "\u00a0" : ""}
    </p>
  );
}
