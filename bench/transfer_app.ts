/**
 * One transfer through the app as a person makes it: the send page, a file
 * chosen in `#file-input`, the link from `#share-link` opened in a second
 * page, "Download" pressed, the file saved through the save-picker stub into
 * OPFS (on disk: the profile is persistent), until the receive page says
 * `phase-done` (every byte written and the SHA-256 checked against the
 * sender's). Meanwhile the receiver's renderer is watched: V8 heap through
 * CDP and resident memory through /proc. Also the source file the runs
 * send, and a check of the saved copy on disk.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { BrowserContext, CDPSession, Page } from "playwright-core";
import { PICKER_STUB } from "../tests/_helpers/transfer.ts";
import {
  type CpuWindow,
  cpuWindow,
  type HotFunction,
  PeakSampler,
  rendererOfPage,
  rssBytes,
  topSelf,
} from "./transfer_procs.ts";
import { withTimeout } from "./transfer_raw.ts";

/** A file on disk to send, with its SHA-256. */
export interface Source {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/**
 * Returns `dir/beam-bench-<size>.bin`, made once from random bytes and kept
 * (with its hash beside it in `.sha256`) for later runs.
 */
export async function ensureSource(dir: string, size: number): Promise<Source> {
  await Deno.mkdir(dir, { recursive: true });
  const name = `beam-bench-${size}.bin`;
  const path = `${dir}/${name}`;
  try {
    const [stat, sha256] = await Promise.all([
      Deno.stat(path),
      Deno.readTextFile(`${path}.sha256`),
    ]);
    if (stat.size === size && /^[0-9a-f]{64}$/.test(sha256.trim())) {
      return { path, name, size, sha256: sha256.trim() };
    }
  } catch {
    // Not made yet.
  }
  const file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const hash = createHash("sha256");
  const buffer = new Uint8Array(4 * 1024 * 1024);
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(buffer.length, size - done);
      // getRandomValues fills at most 64 KiB per call.
      for (let i = 0; i < n; i += 65536) {
        crypto.getRandomValues(buffer.subarray(i, Math.min(n, i + 65536)));
      }
      const part = buffer.subarray(0, n);
      hash.update(part);
      for (let written = 0; written < n;) {
        written += await file.write(part.subarray(written));
      }
      done += n;
    }
  } finally {
    file.close();
  }
  const sha256 = hash.digest("hex");
  await Deno.writeTextFile(`${path}.sha256`, sha256 + "\n");
  return { path, name, size, sha256 };
}

/** SHA-256 (hex) of a file on disk, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buffer = new Uint8Array(4 * 1024 * 1024);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

/**
 * The newest regular file of exactly `size` bytes below `dir`: where
 * Chromium keeps the OPFS file the receive page saved (its name there is
 * Chromium's own, not the saved name).
 */
export async function findFileOfSize(
  dir: string,
  size: number,
): Promise<string | null> {
  let best: { path: string; mtime: number } | null = null;
  const walk = async (at: string) => {
    for await (const entry of Deno.readDir(at)) {
      const path = `${at}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) {
        const stat = await Deno.stat(path).catch(() => null);
        const mtime = stat?.mtime?.getTime() ?? 0;
        if (stat?.size === size && (best === null || mtime > best.mtime)) {
          best = { path, mtime };
        }
      }
    }
  };
  await walk(dir);
  return (best as { path: string } | null)?.path ?? null;
}

/** Memory figures of the receiver's renderer, in bytes. */
export interface MemoryFigures {
  /** Before Download, after a forced GC. */
  baseline: number;
  /** Highest sample during the transfer. */
  peak: number;
  /** After the transfer, after a forced GC. */
  after: number;
  /** Samples taken during the transfer. */
  samples: number;
}

/** What one app run measured. */
export interface AppRunResult {
  /** Download was pressed (ms since the epoch). */
  click: number;
  /**
   * How many peer connections carried the file, as the send page's row
   * said ("over 3 connections"): the most at once, and each change as
   * `[ms after Download was pressed, connections]`.
   */
  connections: { max: number; changes: [number, number][] };
  /** The receive page's phases, when each first showed (ms since the epoch). */
  phases: Record<string, number>;
  /** The receive page's status line at the end. */
  status: string;
  /** V8 heap in use (CDP `Performance.getMetrics` `JSHeapUsedSize`). */
  heap: MemoryFigures;
  /** Resident memory of the receiver's renderer (/proc VmRSS). */
  rss: MemoryFigures;
  /** Resident memory of the sender's renderer. */
  senderRss: MemoryFigures;
  /** CPU ms per process from Download to done, by role. */
  cpuMs: Record<string, number>;
  /** Cores the rest of the machine used meanwhile. */
  otherCores: number;
  /** The busiest threads by role (see `cpuWindow`). */
  threads: Record<string, Record<string, number>>;
  /** SHA-256 of the saved file read back from the profile, if found. */
  savedSha256: string | null;
  /** Heaviest functions by self time, per page, when profiled. */
  profile?: { sender: HotFunction[]; receiver: HotFunction[] };
}

/** Settings of an app run. */
export interface AppRunOptions {
  context: BrowserContext;
  /** The profile folder of `context`. */
  profileDir: string;
  /** The app's origin, like `http://127.0.0.1:PORT`. */
  origin: string;
  source: Source;
  /** Give up after this long. */
  timeoutMs: number;
  /** Read the saved file back from the profile and hash it. */
  verifyOnDisk: boolean;
  /** CPU-profile both pages' main threads (slows them down). */
  profile?: boolean;
  /**
   * The `beam:lanes` setting of both pages (README: how many connections
   * a transfer may use; "1" is one). Default: unset, the app's default.
   */
  lanes?: string;
  /**
   * Another browser for the receive page (bench:wan: one per network
   * namespace), with its profile folder. Default: `context` itself.
   */
  receiver?: { context: BrowserContext; profileDir: string };
  /** Script run in both pages before the app's, after `lanes`'s. */
  initScript?: string;
}

/**
 * Sets the `beam:lanes` setting before the page's scripts run, or removes
 * it for the default: the profile is kept from run to run, so a setting
 * left by an earlier `app-lanes-N` run would otherwise apply to `app`.
 */
export function lanesInit(lanes: string | undefined): string {
  return lanes === undefined
    ? `localStorage.removeItem("beam:lanes");`
    : `localStorage.setItem("beam:lanes", ${JSON.stringify(lanes)});`;
}

// Records each change of the connections the send page's row names.
const CONNECTIONS_RECORDER = `
  globalThis.__benchConnections = [];
  addEventListener("DOMContentLoaded", () => {
    const changes = globalThis.__benchConnections;
    new MutationObserver(() => {
      const text = document.querySelector(".receiver .state")?.textContent;
      if (text === undefined) return;
      const n = Number(/over (\\d+) connections/.exec(text)?.[1] ?? 1);
      if (changes.at(-1)?.[1] !== n) changes.push([Date.now(), n]);
    }).observe(document.documentElement, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
`;

// Records when the receive page's status line first shows each phase.
const PHASE_RECORDER = `
  globalThis.__benchPhases = {};
  addEventListener("DOMContentLoaded", () => {
    const phases = globalThis.__benchPhases;
    const check = () => {
      const status = document.querySelector(".receive-panel [role=status]");
      const m = status && /(?:^|\\s)phase-([\\w-]+)/.exec(status.className);
      if (m && !(m[1] in phases)) {
        phases[m[1]] = performance.timeOrigin + performance.now();
      }
    };
    new MutationObserver(check).observe(document.documentElement, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["class"],
    });
    check();
  });
`;

/**
 * {@linkcode cpuWindow} over two browsers: the receiving browser's roles
 * are prefixed `receiver.` (its renderer stays `receiveRenderer`), and
 * neither browser counts as the rest of the machine.
 */
function twoBrowsersCpuWindow(
  senderDir: string,
  senderPid: number,
  receiverDir: string,
  receiverPid: number,
): { stop(): CpuWindow } {
  const a = cpuWindow(senderDir, senderPid, -1);
  const b = cpuWindow(receiverDir, -1, receiverPid);
  return {
    stop() {
      const x = a.stop();
      const y = b.stop();
      const cpuMs = { ...x.cpuMs };
      let yTotal = 0;
      for (const [role, ms] of Object.entries(y.cpuMs)) {
        yTotal += ms;
        const key = role === "receiveRenderer" ? role : `receiver.${role}`;
        cpuMs[key] = (cpuMs[key] ?? 0) + ms;
      }
      const threads = { ...x.threads };
      for (const [role, t] of Object.entries(y.threads)) {
        threads[role === "receiveRenderer" ? role : `receiver.${role}`] = t;
      }
      return {
        cpuMs,
        threads,
        otherCores: Math.max(0, x.otherCores - yTotal / x.wallMs),
        wallMs: x.wallMs,
      };
    },
  };
}

async function heapUsed(cdp: CDPSession): Promise<number> {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return metrics.find((m) => m.name === "JSHeapUsedSize")?.value ?? NaN;
}

/** Sends `options.source` through the app once. */
export async function runApp(options: AppRunOptions): Promise<AppRunResult> {
  const { context, profileDir, origin, source, timeoutMs } = options;
  const receiverContext = options.receiver?.context ?? context;
  const receiverDir = options.receiver?.profileDir ?? profileDir;
  const init = lanesInit(options.lanes) + (options.initScript ?? "");
  const pages: Page[] = [];
  let cdp: CDPSession | null = null;
  const profilers: CDPSession[] = [];
  try {
    const sender = await context.newPage();
    pages.push(sender);
    await sender.addInitScript(init + CONNECTIONS_RECORDER);
    await sender.goto(origin);
    await sender.waitForSelector("beam-island[data-hydrated]");
    // Found while the page is idle: once a file is chosen, it hashes it
    // (SendSession), and a busy sender would hide which renderer is whose.
    const senderPid = await rendererOfPage(profileDir, sender);
    await sender.setInputFiles("#file-input", source.path);
    const input = sender.locator("#share-link");
    await input.waitFor({ timeout: 30_000 });
    const link = await input.inputValue();

    const receiver = await receiverContext.newPage();
    pages.push(receiver);
    await receiver.addInitScript(PICKER_STUB + PHASE_RECORDER + init);
    await receiver.goto(link);
    await receiver.waitForSelector("beam-island[data-hydrated]");
    const download = receiver.getByRole("button", {
      name: "Download",
      exact: true,
    });
    await download.waitFor({ timeout: 30_000 });

    const receiverPid = await rendererOfPage(
      receiverDir,
      receiver,
      receiverDir === profileDir ? [senderPid] : [],
    );

    cdp = await receiverContext.newCDPSession(receiver);
    await cdp.send("Performance.enable");
    await cdp.send("HeapProfiler.collectGarbage");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const heapBaseline = await heapUsed(cdp);
    const rssBaseline = rssBytes(receiverPid);
    const senderRssBaseline = rssBytes(senderPid);

    const session = cdp;
    const heapSampler = new PeakSampler(() => heapUsed(session), 250);
    const rssSampler = new PeakSampler(() => rssBytes(receiverPid), 100);
    const senderRssSampler = new PeakSampler(() => rssBytes(senderPid), 100);
    if (options.profile) {
      for (const page of [sender, receiver]) {
        const session = await page.context().newCDPSession(page);
        await session.send("Profiler.enable");
        await session.send("Profiler.setSamplingInterval", { interval: 500 });
        await session.send("Profiler.start");
        profilers.push(session);
      }
    }
    const cpu = receiverDir === profileDir
      ? cpuWindow(profileDir, senderPid, receiverPid)
      : twoBrowsersCpuWindow(profileDir, senderPid, receiverDir, receiverPid);

    const click = Date.now();
    await download.click();
    try {
      await withTimeout(
        receiver.waitForSelector(".phase-done, .phase-failed", {
          timeout: timeoutMs,
        }),
        timeoutMs + 1_000,
        "the app transfer",
      );
    } catch (error) {
      // What the page said is what tells a stall from a slow machine.
      const status = await receiver.locator(".receive-panel [role=status]")
        .innerText({ timeout: 2_000 }).catch(() => "(no status line)");
      throw new Error(
        `Cannot complete the app transfer at ${origin} in time (the receive page says: ${
          JSON.stringify(status)
        })`,
        { cause: error },
      );
    } finally {
      await Promise.all([
        heapSampler.stop(),
        rssSampler.stop(),
        senderRssSampler.stop(),
      ]);
    }
    const { cpuMs, otherCores, threads } = cpu.stop();
    let profile: AppRunResult["profile"];
    if (profilers.length > 0) {
      const [s, r] = await Promise.all(
        profilers.map((session) => session.send("Profiler.stop")),
      );
      profile = { sender: topSelf(s.profile), receiver: topSelf(r.profile) };
    }
    const status = await receiver.locator(".receive-panel [role=status]")
      .innerText();
    const phases = await receiver.evaluate(() =>
      (globalThis as unknown as { __benchPhases: Record<string, number> })
        .__benchPhases
    );
    if (!("done" in phases)) {
      throw new Error(`Cannot complete the app transfer: ${status}`);
    }
    const changes = (await sender.evaluate(() =>
      (globalThis as unknown as { __benchConnections: [number, number][] })
        .__benchConnections
    )).map(([at, n]): [number, number] => [at - click, n]);
    const connections = {
      max: Math.max(
        1,
        ...changes.map(([, n]) =>
          n
        ),
      ),
      changes,
    };

    await cdp.send("HeapProfiler.collectGarbage");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const heapAfter = await heapUsed(cdp);
    const rssAfter = rssBytes(receiverPid);
    const senderRssAfter = rssBytes(senderPid);

    let savedSha256: string | null = null;
    if (options.verifyOnDisk) {
      const saved = await findFileOfSize(receiverDir, source.size);
      if (saved !== null) savedSha256 = await sha256File(saved);
    }
    // Free the disk for the next run.
    await receiver.evaluate(async (name) => {
      const root = await navigator.storage.getDirectory();
      await root.removeEntry(name).catch(() => {});
    }, source.name);

    return {
      click,
      connections,
      phases,
      status,
      heap: {
        baseline: heapBaseline,
        peak: Math.max(heapSampler.peak, heapBaseline),
        after: heapAfter,
        samples: heapSampler.samples,
      },
      rss: {
        baseline: rssBaseline,
        peak: Math.max(rssSampler.peak, rssBaseline),
        after: rssAfter,
        samples: rssSampler.samples,
      },
      senderRss: {
        baseline: senderRssBaseline,
        peak: Math.max(senderRssSampler.peak, senderRssBaseline),
        after: senderRssAfter,
        samples: senderRssSampler.samples,
      },
      cpuMs,
      otherCores,
      threads,
      savedSha256,
      ...(profile ? { profile } : {}),
    };
  } finally {
    for (const session of profilers) await session.detach().catch(() => {});
    await cdp?.detach().catch(() => {});
    for (const page of pages.reverse()) await page.close().catch(() => {});
  }
}
