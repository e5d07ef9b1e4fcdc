/**
 * What a cross-browser test may do with a page, the same in Chromium
 * (playwright-core, `./browser.ts`) and Firefox (puppeteer-core over
 * WebDriver BiDi, `./firefox.ts`): the two libraries differ in argument
 * order and in what they wait for, so the tests see only this.
 *
 * @module
 */

/** The browsers the end-to-end tests run in. */
export type BrowserKind = "chromium" | "firefox";

/** Every browser a cross-browser test runs in, in the order of its names. */
export const BROWSERS: readonly BrowserKind[] = ["chromium", "firefox"];

/** Display names, for test names: "sent from Firefox". */
export const BROWSER_NAMES: Readonly<Record<BrowserKind, string>> = {
  chromium: "Chromium",
  firefox: "Firefox",
};

/** Options of the waits: at most `timeout` ms (default 30 s). */
export interface WaitOptions {
  timeout?: number;
}

/** The default wait: generous, since CI machines are busy. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** What each browser's driver gives {@linkcode makeTestPage}. */
export interface PageDriver {
  kind: BrowserKind;
  addInitScript(script: string): Promise<void>;
  goto(url: string): Promise<void>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  waitForFunction<A>(
    fn: (arg: A) => unknown,
    arg: A,
    timeout: number,
  ): Promise<void>;
  /** A native click (with user activation) on the first match. */
  click(selector: string): Promise<void>;
  fill(selector: string, value: string): Promise<void>;
  setInputFiles(selector: string, paths: string[]): Promise<void>;
  onError(listener: (message: string) => void): () => void;
  screenshot(path: string): Promise<void>;
  reloaded(action: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/** A page in either browser. */
export interface TestPage {
  readonly kind: BrowserKind;
  /**
   * Every dialog the page opened, as `"type: message"`, in order (a
   * `beforeunload` one is accepted or dismissed as the browser was launched
   * to; any other is dismissed). A test asserts this is empty.
   */
  readonly dialogs: readonly string[];
  /** Runs `script` before any script of each document the page loads. */
  addInitScript(script: string): Promise<void>;
  /** Navigates and waits for `load`. */
  goto(url: string): Promise<void>;
  evaluate<R>(fn: () => R | Promise<R>): Promise<R>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Waits until `fn(arg)` is truthy in the page, polling. */
  waitForFunction(fn: () => unknown, options?: WaitOptions): Promise<void>;
  waitForFunction<A>(
    fn: (arg: A) => unknown,
    arg: A,
    options?: WaitOptions,
  ): Promise<void>;
  /** Waits until `selector` matches an element (visible or not). */
  waitFor(selector: string, options?: WaitOptions): Promise<void>;
  /** Waits until `selector` matches at least `n` elements. */
  waitForCount(
    selector: string,
    n: number,
    options?: WaitOptions,
  ): Promise<void>;
  /** A native click on the first match, once there is one. */
  click(selector: string, options?: WaitOptions): Promise<void>;
  /**
   * Clicks the visible, enabled button named `name` (its `aria-label` or
   * text, whitespace collapsed): a string matches the whole name, a RegExp
   * any part of it. Waits for one to appear.
   */
  clickButton(name: string | RegExp, options?: WaitOptions): Promise<void>;
  /** How many visible buttons are named `name` (as in `clickButton`). */
  buttonCount(name: string | RegExp): Promise<number>;
  fill(selector: string, value: string): Promise<void>;
  setInputFiles(selector: string, paths: string[]): Promise<void>;
  /** `innerText` of the first match, once there is one. */
  text(selector: string, options?: WaitOptions): Promise<string>;
  /** `innerText` of every match. */
  texts(selector: string): Promise<string[]>;
  /** An attribute of the first match, once there is one. */
  attribute(
    selector: string,
    name: string,
    options?: WaitOptions,
  ): Promise<string | null>;
  /** The `value` of the first matching input, once there is one. */
  value(selector: string, options?: WaitOptions): Promise<string>;
  count(selector: string): Promise<number>;
  /**
   * Calls `listener` with each console error and uncaught exception's
   * message; returns a function that stops it.
   */
  onError(listener: (message: string) => void): () => void;
  /** Saves a PNG of the viewport. */
  screenshot(path: string): Promise<void>;
  /** Runs `action` and waits for the page to load again after it. */
  reloaded(action: () => Promise<void>): Promise<void>;
  /** Closes the page without running `beforeunload`. */
  close(): Promise<void>;
}

/** A browser of either kind, with its own profile and downloads folder. */
export interface CrossBrowser {
  readonly kind: BrowserKind;
  /** Where this browser's downloads land, under their own names. */
  readonly downloads: string;
  newPage(): Promise<TestPage>;
  /**
   * Waits until the download `name` is complete in {@linkcode downloads}
   * (the browser's temporary file gone, the size steady, and `size` when
   * given) and returns its path.
   */
  waitForDownload(
    name: string,
    options?: WaitOptions & { size?: number },
  ): Promise<string>;
  /** Stops the browser (its process group if it will not close). */
  close(): Promise<void>;
}

/** A name to match in the page: a string whole, a RegExp by its source. */
type NameArg = { exact: string | null; source: string; flags: string };

function nameArg(name: string | RegExp): NameArg {
  return typeof name === "string"
    ? { exact: name, source: "", flags: "" }
    : { exact: null, source: name.source, flags: name.flags };
}

/**
 * In the page: marks the buttons named as `arg` says with `data-test-mark`
 * (only the first when `mark` is set) and returns how many there are.
 */
function markButtons(arg: NameArg & { mark: string }): number {
  const pattern = arg.exact === null ? new RegExp(arg.source, arg.flags) : null;
  let found = 0;
  const candidates = document.querySelectorAll(
    "button, [role=button], input[type=button], input[type=submit]",
  );
  for (const el of candidates) {
    const label = (el.getAttribute("aria-label") ?? el.textContent ?? "")
      .replace(/\s+/g, " ").trim();
    const named = pattern === null ? label === arg.exact : pattern.test(label);
    if (!named || el.getClientRects().length === 0) continue;
    if ((el as HTMLButtonElement).disabled) continue;
    if (arg.mark !== "" && found === 0) {
      el.setAttribute("data-test-mark", arg.mark);
    }
    found++;
  }
  return found;
}

/** A dialog as both playwright and puppeteer hand it to a listener. */
interface AnyDialog {
  type(): string;
  message(): string;
  accept(): Promise<void>;
  dismiss(): Promise<void>;
}

/**
 * Records every dialog `page` opens as "type: message", answering a
 * `beforeunload` as `beforeunload` says and dismissing any other, so that a
 * page cannot hang a test and a test can assert that none appeared.
 */
export function recordDialogs(
  page: { on(event: "dialog", listener: (dialog: AnyDialog) => void): unknown },
  beforeunload: "accept" | "dismiss",
): string[] {
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    const answer = dialog.type() === "beforeunload" && beforeunload === "accept"
      ? dialog.accept()
      : dialog.dismiss();
    answer.catch(() => {});
  });
  return dialogs;
}

/** Builds the whole {@linkcode TestPage} on a browser's driver. */
export function makeTestPage(
  driver: PageDriver,
  dialogs: readonly string[],
): TestPage {
  const exists = async (selector: string, options: WaitOptions = {}) => {
    await driver.waitForFunction(
      (s: string) => document.querySelector(s) !== null,
      selector,
      options.timeout ?? DEFAULT_TIMEOUT_MS,
    ).catch((error) => {
      throw new Error(
        `Cannot find "${selector}" in the ${driver.kind} page: ${error.message}`,
      );
    });
  };
  let marks = 0;
  const page: TestPage = {
    kind: driver.kind,
    dialogs,
    addInitScript: (script) => driver.addInitScript(script),
    goto: (url) => driver.goto(url),
    evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg?: A) =>
      driver.evaluate(fn, arg as A),
    waitForFunction: <A>(
      fn: (arg: A) => unknown,
      arg?: A | WaitOptions,
      options?: WaitOptions,
    ) => {
      // `waitForFunction(fn, options)` for a function without an argument.
      if (fn.length === 0 && options === undefined) {
        return driver.waitForFunction(
          fn,
          undefined as A,
          (arg as WaitOptions | undefined)?.timeout ?? DEFAULT_TIMEOUT_MS,
        );
      }
      return driver.waitForFunction(
        fn,
        arg as A,
        options?.timeout ?? DEFAULT_TIMEOUT_MS,
      );
    },
    waitFor: exists,
    async waitForCount(selector, n, options = {}) {
      await driver.waitForFunction(
        ({ s, n }: { s: string; n: number }) =>
          document.querySelectorAll(s).length >= n,
        { s: selector, n },
        options.timeout ?? DEFAULT_TIMEOUT_MS,
      );
    },
    async click(selector, options) {
      await exists(selector, options);
      await driver.click(selector);
    },
    async clickButton(name, options = {}) {
      const mark = `m${++marks}`;
      const arg = { ...nameArg(name), mark };
      // markButtons marks the first it finds, and counts: truthy once found.
      await driver.waitForFunction(
        markButtons,
        arg,
        options.timeout ?? DEFAULT_TIMEOUT_MS,
      ).catch((error) => {
        throw new Error(
          `Cannot find a button named ${name} in the ${driver.kind} page: ${error.message}`,
        );
      });
      await driver.click(`[data-test-mark="${mark}"]`);
    },
    buttonCount: (name) =>
      driver.evaluate(markButtons, { ...nameArg(name), mark: "" }),
    fill: (selector, value) => driver.fill(selector, value),
    setInputFiles: (selector, paths) => driver.setInputFiles(selector, paths),
    async text(selector, options) {
      await exists(selector, options);
      return driver.evaluate(
        (s: string) => (document.querySelector(s) as HTMLElement).innerText,
        selector,
      );
    },
    texts: (selector) =>
      driver.evaluate(
        (s: string) =>
          [...document.querySelectorAll(s)].map((el) =>
            (el as HTMLElement).innerText
          ),
        selector,
      ),
    async attribute(selector, name, options) {
      await exists(selector, options);
      return driver.evaluate(
        ({ s, name }: { s: string; name: string }) =>
          document.querySelector(s)!.getAttribute(name),
        { s: selector, name },
      );
    },
    async value(selector, options) {
      await exists(selector, options);
      return driver.evaluate(
        (s: string) => (document.querySelector(s) as HTMLInputElement).value,
        selector,
      );
    },
    count: (selector) =>
      driver.evaluate(
        (s: string) => document.querySelectorAll(s).length,
        selector,
      ),
    onError: (listener) => driver.onError(listener),
    screenshot: (path) => driver.screenshot(path),
    reloaded: (action) => driver.reloaded(action),
    close: () => driver.close(),
  };
  return page;
}

/**
 * Waits for `dir/name` to be a finished download: Firefox writes into
 * `name.part` beside an empty `name` until the end, Chromium's copy (see
 * `./browser.ts`) is renamed into place when whole; either way the size
 * must stay put across two looks, and equal `size` when given.
 */
export async function waitForFile(
  dir: string,
  name: string,
  { timeout = 60_000, size }: WaitOptions & { size?: number } = {},
): Promise<string> {
  const path = `${dir}/${name}`;
  const deadline = Date.now() + timeout;
  let last = -1;
  while (Date.now() < deadline) {
    const now = await Deno.stat(path).then((s) => s.size, () => -1);
    const partial = await Deno.stat(`${path}.part`).then(
      () => true,
      () => false,
    );
    if (now >= 0 && !partial && now === last && (size ?? now) === now) {
      return path;
    }
    last = partial ? -1 : now;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const there: string[] = [];
  for await (const entry of Deno.readDir(dir)) there.push(entry.name);
  throw new Error(
    `Cannot find the download "${name}" in ${dir} after ${timeout} ms: it holds ${
      JSON.stringify(there)
    }`,
  );
}
