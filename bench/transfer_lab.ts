/**
 * Drives the lab page (bench/transfer_lab_page.ts): bundles it with esbuild
 * (not minified, so CPU profiles name functions), serves it by a route at
 * the app's origin, connects two lab pages and runs one transfer of the
 * app's FileSender/FileReceiver with the given options, optionally under
 * the CPU profiler of both renderers.
 *
 * @module
 */

import * as esbuild from "esbuild";
import type { BrowserContext, CDPSession } from "playwright-core";
import { withTimeout } from "./transfer_raw.ts";
import type { Source } from "./transfer_app.ts";
import type { LabReceiveOptions, LabSendOptions } from "./transfer_lab_page.ts";
import {
  cpuWindow,
  rendererOfPage,
  type RssFigures,
  watchRss,
} from "./transfer_procs.ts";

export type { LabReceiveOptions, LabSendOptions };

/** Where the lab page is served (by a route, not by the app). */
export const LAB_PATH = "/__bench/lab";

const ENTRY = decodeURIComponent(
  new URL("./transfer_lab_page.ts", import.meta.url).pathname,
);

/**
 * Stands in for lib/transfer/hash.ts in the `hash: "off"` bundle: no
 * hashing at all, the same digest on both sides. It measures what the
 * SHA-256 costs (the most a faster hash could win), not a way to ship.
 */
const HASH_OFF_MODULE = `
export class Sha256 {
  static async create() { return new Sha256(); }
  update(bytes) { return this; }
  hex() { return "0".repeat(64); }
}
export function toHex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
`;

async function bundle(hashOff: boolean): Promise<string> {
  const plugins: esbuild.Plugin[] = hashOff
    ? [{
      name: "hash-off",
      setup(build) {
        build.onResolve({ filter: /\/hash\.ts$/ }, (args) =>
          args.importer.includes("/lib/transfer/")
            ? { path: "hash-off", namespace: "hash-off" }
            : undefined);
        build.onLoad(
          { filter: /.*/, namespace: "hash-off" },
          () => ({ contents: HASH_OFF_MODULE, loader: "js" }),
        );
      },
    }]
    : [];
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: ["chrome110"],
    logLevel: "warning",
    plugins,
  });
  return result.outputFiles[0].text;
}

/**
 * Bundles the lab page (twice: as is, and with hashing off) and serves it
 * in every page of `context`: `LAB_PATH` runs the real code,
 * `LAB_PATH?hash=off` the stand-in hash.
 */
export async function routeLabPage(context: BrowserContext): Promise<void> {
  let code: string;
  let codeHashOff: string;
  try {
    code = await bundle(false);
    codeHashOff = await bundle(true);
  } finally {
    await esbuild.stop();
  }
  const html = (script: string) =>
    `<!doctype html>
<meta charset="utf-8">
<title>transfer lab</title>
<input type="file">
<script type="module" src="${script}"></script>
`;
  await context.route(`**${LAB_PATH}*`, (route) => {
    const url = new URL(route.request().url());
    const hashOff = url.searchParams.get("hash") === "off";
    if (url.pathname === LAB_PATH) {
      return route.fulfill({
        status: 200,
        contentType: "text/html; charset=utf-8",
        body: html(`${LAB_PATH}.js${hashOff ? "?hash=off" : ""}`),
      });
    }
    if (url.pathname === `${LAB_PATH}.js`) {
      return route.fulfill({
        status: 200,
        contentType: "text/javascript; charset=utf-8",
        body: hashOff ? codeHashOff : code,
      });
    }
    return route.continue();
  });
}

// What the lab page puts on globalThis; functions passed to evaluate() run
// in the page and name it themselves.
type Lab = {
  lab: {
    offer(): Promise<RTCSessionDescriptionInit>;
    answer(o: RTCSessionDescriptionInit): Promise<RTCSessionDescriptionInit>;
    accept(a: RTCSessionDescriptionInit): Promise<void>;
    opened(): Promise<void>;
    meta(): unknown;
    arm(meta: unknown, options: LabReceiveOptions): Promise<void>;
    done(): Promise<{ end: number; error?: string }>;
    send(options: LabSendOptions): number;
    sent(): Promise<{ start: number; end: number; error?: string }>;
    hashSpeed(total: number, chunk: number): Promise<number>;
    removeFile(name: string): Promise<void>;
    close(): void;
  };
};
type G = typeof globalThis & Lab;

/** A function's share of a renderer's CPU profile. */
export interface HotFunction {
  name: string;
  selfMs: number;
}

/** What one lab transfer measured. */
export interface LabResult {
  /** FileSender.run() began (ms since the epoch). */
  start: number;
  /** The receiver verified the file. */
  end: number;
  /** CPU ms per process during the transfer, by role. */
  cpuMs: Record<string, number>;
  /** Cores the rest of the machine used meanwhile. */
  otherCores: number;
  /** The busiest threads by role (see `cpuWindow`). */
  threads: Record<string, Record<string, number>>;
  /** Resident memory of the receiving renderer. */
  rss: RssFigures;
  /** Heaviest functions by self time, per renderer, when profiled. */
  profile?: { sender: HotFunction[]; receiver: HotFunction[] };
}

/** MB/s of the app's SHA-256 in a lab page (one renderer's main thread). */
export async function hashSpeed(
  context: BrowserContext,
  origin: string,
): Promise<number> {
  const page = await context.newPage();
  try {
    await page.goto(origin + LAB_PATH);
    await page.waitForFunction(() => "lab" in globalThis);
    return await page.evaluate(() =>
      (globalThis as G).lab.hashSpeed(256 * 1024 * 1024, 64 * 1024)
    );
  } finally {
    await page.close();
  }
}

/** One transfer of `source` between two fresh lab pages. */
export async function runLab(
  context: BrowserContext,
  profileDir: string,
  origin: string,
  source: Source,
  send: LabSendOptions,
  receive: LabReceiveOptions,
  timeoutMs: number,
  profile = false,
  hashOff = false,
): Promise<LabResult> {
  const sender = await context.newPage();
  const receiver = await context.newPage();
  const sessions: CDPSession[] = [];
  let rssDone: Promise<RssFigures> | undefined;
  try {
    for (const page of [sender, receiver]) {
      await page.goto(origin + LAB_PATH + (hashOff ? "?hash=off" : ""));
      await page.waitForFunction(() => "lab" in globalThis);
    }
    await sender.setInputFiles("input[type=file]", source.path);
    const offer = await sender.evaluate(() => (globalThis as G).lab.offer());
    const answer = await receiver.evaluate(
      (o) => (globalThis as G).lab.answer(o),
      offer,
    );
    await Promise.all([
      sender.evaluate((a) => (globalThis as G).lab.accept(a), answer),
      receiver.evaluate(() => (globalThis as G).lab.opened()),
    ]);
    const meta = await sender.evaluate(() => (globalThis as G).lab.meta());
    const senderPid = await rendererOfPage(profileDir, sender);
    const receiverPid = await rendererOfPage(profileDir, receiver);
    if (profile) {
      for (const page of [sender, receiver]) {
        const cdp = await context.newCDPSession(page);
        await cdp.send("Profiler.enable");
        await cdp.send("Profiler.setSamplingInterval", { interval: 500 });
        await cdp.send("Profiler.start");
        sessions.push(cdp);
      }
    }
    const cpu = cpuWindow(profileDir, senderPid, receiverPid);
    const rss = watchRss(receiverPid);
    // The sender listens first: the receiver speaks first (`start`).
    await sender.evaluate((o) => (globalThis as G).lab.send(o), send);
    await receiver.evaluate(
      ([m, o]) => (globalThis as G).lab.arm(m, o),
      [meta, receive] as const,
    );
    const work = Promise.all([
      sender.evaluate(() => (globalThis as G).lab.sent()),
      receiver.evaluate(() => (globalThis as G).lab.done()),
    ]);
    const [sent, got] = await withTimeout(work, timeoutMs, "the lab transfer")
      .finally(() => rssDone = rss.stop());
    const { cpuMs, otherCores, threads } = cpu.stop();
    const rssFigures = await rssDone!;
    if (sent.error || got.error) {
      throw new Error(
        `Cannot complete the lab transfer: ${sent.error ?? got.error}`,
      );
    }
    const result: LabResult = {
      start: sent.start,
      end: got.end,
      cpuMs,
      otherCores,
      threads,
      rss: rssFigures,
    };
    if (profile) {
      const [s, r] = await Promise.all(
        sessions.map((cdp) => cdp.send("Profiler.stop")),
      );
      result.profile = {
        sender: topSelf(s.profile),
        receiver: topSelf(r.profile),
      };
    }
    await receiver.evaluate(
      (name) => (globalThis as G).lab.removeFile(name),
      source.name,
    );
    return result;
  } finally {
    for (const cdp of sessions) await cdp.detach().catch(() => {});
    for (const page of [sender, receiver]) {
      await page.evaluate(() => (globalThis as G).lab?.close()).catch(() => {});
      await page.close().catch(() => {});
    }
  }
}

interface ProfileLike {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** The 15 functions with the most self time in a CPU profile. */
export function topSelf(profile: ProfileLike, count = 15): HotFunction[] {
  const names = new Map(profile.nodes.map((n) => {
    const file = n.callFrame.url.split("/").at(-1) ?? "";
    const name = `${n.callFrame.functionName || "(anonymous)"}${
      file ? ` ${file}:${n.callFrame.lineNumber + 1}` : ""
    }`;
    return [n.id, name];
  }));
  const self = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const name = names.get(samples[i]) ?? "?";
    self.set(name, (self.get(name) ?? 0) + (deltas[i] ?? 0) / 1000);
  }
  return [...self.entries()]
    .map(([name, selfMs]) => ({ name, selfMs: Math.round(selfMs) }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, count);
}
