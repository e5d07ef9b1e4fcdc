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

/** CPU ms the whole machine spent busy (/proc/stat, all cores). */
export function machineBusyMs(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line
    .split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) * (1000 / TICKS);
}

/** CPU ms of each process, keyed by pid. */
export function cpuSnapshot(procs: ChromiumProcess[]): Map<number, number> {
  return new Map(procs.map((p) => [p.pid, cpuMs(p.pid)]));
}

/**
 * The renderer among `profileDir`'s processes that runs the code `burn`
 * starts: `burn` should keep one page's main thread busy for a few hundred
 * milliseconds. Throws if no renderer stands out.
 */
export async function rendererOf(
  profileDir: string,
  burn: () => Promise<unknown>,
): Promise<number> {
  for (let attempt = 1;; attempt++) {
    const renderers = chromiumProcesses(profileDir).filter((p) =>
      p.kind === "renderer"
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
