/**
 * The Chromium processes of one profile, read from /proc: which is which
 * (browser, renderers, network and storage services, GPU), their CPU time
 * and resident memory, and which renderer runs a given page (found by
 * making the page burn CPU and seeing which renderer's clock moves).
 *
 * Linux only: everything comes from /proc.
 *
 * @module
 */

import type { Page } from "playwright-core";
import { machineBusyMs } from "./servers.ts";

/** Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`, 100 on Linux). */
const TICKS = 100;

/** One Chromium process. */
export interface ChromiumProcess {
  pid: number;
  /** `browser`, `renderer`, `gpu-process`, or a utility's sub-type (`network`, `storage`, …). */
  kind: string;
}

/** Every live process whose command line names `--user-data-dir=<dir>`. */
export function chromiumProcesses(profileDir: string): ChromiumProcess[] {
  const found: ChromiumProcess[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let cmdline: string;
    try {
      cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
    } catch {
      continue; // Gone meanwhile.
    }
    // Chromium's children rewrite their argv as one line joined by spaces,
    // so split on both.
    const args = cmdline.split(/[\0 ]/);
    if (!args.includes(`--user-data-dir=${profileDir}`)) continue;
    const type = flag(args, "--type");
    let kind = type ?? "browser";
    if (type === "utility") {
      // "network.mojom.NetworkService" -> "network"
      kind = (flag(args, "--utility-sub-type") ?? "utility").split(".")[0];
    }
    if (kind === "zygote" || args.includes("--top-chrome-webui")) continue;
    found.push({ pid: Number(entry.name), kind });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

function flag(args: string[], name: string): string | undefined {
  const arg = args.find((a) => a.startsWith(`${name}=`));
  return arg?.slice(name.length + 1);
}

/** User plus system CPU time of a process, in ms; `NaN` once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces: split after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 (utime, stime) are 11 and 12 after the name.
    return (Number(fields[11]) + Number(fields[12])) * (1000 / TICKS);
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in bytes (VmRSS); `NaN` once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU ms of each thread of a process, keyed by `tid:name`. */
export function threadCpuMs(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  let tids: Deno.DirEntry[];
  try {
    tids = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return threads;
  }
  for (const tid of tids) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${tid.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      threads.set(
        `${tid.name}:${name}`,
        (Number(fields[11]) + Number(fields[12])) * (1000 / TICKS),
      );
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
}

/** CPU ms of each process, keyed by pid. */
export function cpuSnapshot(procs: ChromiumProcess[]): Map<number, number> {
  return new Map(procs.map((p) => [p.pid, cpuMs(p.pid)]));
}

/**
 * The renderer among `profileDir`'s processes that runs the code `burn`
 * starts: `burn` should keep one page's main thread busy for a few hundred
 * milliseconds. Throws if no renderer stands out. Renderers in `exclude`
 * (already known to run other pages, which may be busy) are not candidates.
 */
export async function rendererOf(
  profileDir: string,
  burn: () => Promise<unknown>,
  exclude: readonly number[] = [],
): Promise<number> {
  for (let attempt = 1;; attempt++) {
    const renderers = chromiumProcesses(profileDir).filter((p) =>
      p.kind === "renderer" && !exclude.includes(p.pid)
    );
    const before = cpuSnapshot(renderers);
    const started = performance.now();
    await burn();
    const wall = performance.now() - started;
    const deltas = renderers.map((p) => ({
      pid: p.pid,
      ms: cpuMs(p.pid) - before.get(p.pid)!,
    })).filter((d) => !Number.isNaN(d.ms)).sort((a, b) => b.ms - a.ms);
    const [best, second] = deltas;
    // The burning renderer stands out (on a busy machine it may get only a
    // part of the wall time, but still far more than any other renderer).
    if (
      best !== undefined && best.ms >= Math.min(50, wall / 4) &&
      (second === undefined || second.ms < best.ms / 4)
    ) {
      return best.pid;
    }
    if (attempt === 5) {
      throw new Error(
        `Cannot tell which renderer runs the page: CPU deltas ${
          JSON.stringify(deltas)
        } over ${Math.round(wall)} ms`,
      );
    }
  }
}

/** The pid of the renderer that runs `page` (one of `profileDir`'s). */
export function rendererOfPage(
  profileDir: string,
  page: Page,
  exclude: readonly number[] = [],
): Promise<number> {
  return rendererOf(profileDir, () =>
    page.evaluate(() => {
      const t = performance.now();
      while (performance.now() - t < 400) { /* busy */ }
    }), exclude);
}

/** CPU used during a span, by process role. */
export interface CpuWindow {
  /** CPU ms by role: `sendRenderer`, `receiveRenderer`, or a process kind. */
  cpuMs: Record<string, number>;
  /** Cores used on average by everything else on the machine (not this browser, not this benchmark). */
  otherCores: number;
  /** Wall-clock ms of the span. */
  wallMs: number;
  /**
   * The busiest threads of each role (at most 3, each over 5 % of a core),
   * as `name: cores`: a thread near 1.0 would be a single-thread limit.
   */
  threads: Record<string, Record<string, number>>;
}

/**
 * Starts measuring the CPU time of `profileDir`'s processes; `stop()`
 * returns it by role (the two given renderers named as such).
 */
export function cpuWindow(
  profileDir: string,
  senderPid: number,
  receiverPid: number,
): { stop(): CpuWindow } {
  const procs = chromiumProcesses(profileDir);
  const before = cpuSnapshot(procs);
  const threadsBefore = new Map(procs.map((p) => [p.pid, threadCpuMs(p.pid)]));
  const selfBefore = cpuMs(Deno.pid);
  const busyBefore = machineBusyMs();
  const started = performance.now();
  return {
    stop() {
      const wallMs = performance.now() - started;
      const busy = machineBusyMs() - busyBefore;
      const self = cpuMs(Deno.pid) - selfBefore;
      const after = cpuSnapshot(procs);
      const byRole: Record<string, number> = {};
      const threads: Record<string, Record<string, number>> = {};
      let ours = 0;
      for (const proc of procs) {
        const role = proc.pid === senderPid
          ? "sendRenderer"
          : proc.pid === receiverPid
          ? "receiveRenderer"
          : proc.kind === "renderer"
          ? "otherRenderers"
          : proc.kind;
        const ms = after.get(proc.pid)! - before.get(proc.pid)!;
        if (!Number.isFinite(ms)) continue;
        byRole[role] = (byRole[role] ?? 0) + ms;
        ours += ms;
        const old = threadsBefore.get(proc.pid)!;
        const busiest = [...threadCpuMs(proc.pid)]
          .map(([key, ms]) =>
            [key, (ms - (old.get(key) ?? 0)) / wallMs] as const
          )
          .filter(([, cores]) => cores > 0.05)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3);
        if (busiest.length > 0) {
          threads[role] = Object.fromEntries(
            busiest.map((
              [key, cores],
            ) => [
              key.slice(key.indexOf(":") + 1),
              Math.round(cores * 100) / 100,
            ]),
          );
        }
      }
      return {
        threads,
        cpuMs: byRole,
        otherCores: Math.max(0, (busy - ours - self) / wallMs),
        wallMs,
      };
    },
  };
}

/** Samples a number now and then and keeps the highest. */
export class PeakSampler {
  peak = -Infinity;
  samples = 0;
  #stopped = false;
  #loop: Promise<void>;

  constructor(read: () => number | Promise<number>, everyMs: number) {
    this.#loop = (async () => {
      while (!this.#stopped) {
        try {
          const value = await read();
          if (Number.isFinite(value)) {
            this.samples++;
            if (value > this.peak) this.peak = value;
          }
        } catch {
          // A sample lost to a closing page is no matter.
        }
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}

/** Resident memory of a process over a span, in bytes. */
export interface RssFigures {
  /** When watching began. */
  baseline: number;
  /** Highest sample (every 100 ms). */
  peak: number;
  samples: number;
}

/** Watches a process's resident memory until `stop()`. */
export function watchRss(pid: number): { stop(): Promise<RssFigures> } {
  const baseline = rssBytes(pid);
  const sampler = new PeakSampler(() => rssBytes(pid), 100);
  return {
    async stop() {
      await sampler.stop();
      return {
        baseline,
        peak: Math.max(sampler.peak, baseline),
        samples: sampler.samples,
      };
    },
  };
}

/** A function's share of a renderer's CPU profile. */
export interface HotFunction {
  name: string;
  selfMs: number;
}

/** What a CPU profile (CDP `Profiler.stop`) holds that is read here. */
interface ProfileLike {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples?: number[];
  timeDeltas?: number[];
}

/** The `count` functions with the most self time in a CPU profile. */
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
