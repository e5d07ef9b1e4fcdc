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
import type { BrowserContext, CDPSession, Page } from "playwright-core";
import { withTimeout } from "./transfer_raw.ts";
import type { Source } from "./transfer_app.ts";
import type { LabReceiveOptions, LabSendOptions } from "./transfer_lab_page.ts";
import {
  chromiumProcesses,
  cpuSnapshot,
  machineBusyMs,
  rendererOf,
} from "./transfer_procs.ts";

export type { LabReceiveOptions, LabSendOptions };

/** Where the lab page is served (by a route, not by the app). */
export const LAB_PATH = "/__bench/lab";

const ENTRY = decodeURIComponent(
  new URL("./transfer_lab_page.ts", import.meta.url).pathname,
);

/** Bundles the lab page and serves it in every page of `context`. */
export async function routeLabPage(context: BrowserContext): Promise<void> {
  let code: string;
  try {
    const result = await esbuild.build({
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      target: ["chrome110"],
      logLevel: "warning",
    });
    code = result.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
  const html = `<!doctype html>
<meta charset="utf-8">
<title>transfer lab</title>
<input type="file">
<script type="module" src="${LAB_PATH}.js"></script>
`;
  await context.route(`**${LAB_PATH}`, (route) =>
    route.fulfill({
      status: 200,
      contentType: "text/html; charset=utf-8",
      body: html,
    }));
  await context.route(`**${LAB_PATH}.js`, (route) =>
    route.fulfill({
      status: 200,
      contentType: "text/javascript; charset=utf-8",
      body: code,
    }));
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
    send(
      options: LabSendOptions,
    ): Promise<{ start: number; end: number; error?: string }>;
    hashSpeed(total: number, chunk: number): number;
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
  machineBusyMs: number;
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
): Promise<LabResult> {
  const sender = await context.newPage();
  const receiver = await context.newPage();
  const sessions: CDPSession[] = [];
  try {
    for (const page of [sender, receiver]) {
      await page.goto(origin + LAB_PATH);
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
    await receiver.evaluate(
      ([m, o]) => (globalThis as G).lab.arm(m, o),
      [meta, receive] as const,
    );
    const burn = (page: Page) => () =>
      page.evaluate(() => {
        const t = performance.now();
        while (performance.now() - t < 400) { /* busy */ }
      });
    const senderPid = await rendererOf(profileDir, burn(sender));
    const receiverPid = await rendererOf(profileDir, burn(receiver));
    if (profile) {
      for (const page of [sender, receiver]) {
        const cdp = await context.newCDPSession(page);
        await cdp.send("Profiler.enable");
        await cdp.send("Profiler.setSamplingInterval", { interval: 500 });
        await cdp.send("Profiler.start");
        sessions.push(cdp);
      }
    }
    const procs = chromiumProcesses(profileDir);
    const cpuBefore = cpuSnapshot(procs);
    const busyBefore = machineBusyMs();
    const work = Promise.all([
      sender.evaluate((o) => (globalThis as G).lab.send(o), send),
      receiver.evaluate(() => (globalThis as G).lab.done()),
    ]);
    const [sent, got] = await withTimeout(work, timeoutMs, "the lab transfer");
    const busy = machineBusyMs() - busyBefore;
    const cpuAfter = cpuSnapshot(procs);
    if (sent.error || got.error) {
      throw new Error(
        `Cannot complete the lab transfer: ${sent.error ?? got.error}`,
      );
    }
    const cpuMs: Record<string, number> = {};
    for (const proc of procs) {
      const role = proc.pid === senderPid
        ? "sendRenderer"
        : proc.pid === receiverPid
        ? "receiveRenderer"
        : proc.kind === "renderer"
        ? "otherRenderers"
        : proc.kind;
      const ms = cpuAfter.get(proc.pid)! - cpuBefore.get(proc.pid)!;
      if (Number.isFinite(ms)) cpuMs[role] = (cpuMs[role] ?? 0) + ms;
    }
    const result: LabResult = {
      start: sent.start,
      end: got.end,
      cpuMs,
      machineBusyMs: busy,
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
