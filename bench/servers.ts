/**
 * Starting, watching and stopping the servers under test and the load
 * processes, on loopback only.
 *
 * Each server runs under `bash -c 'ulimit -n N; exec ...'`, so the process
 * whose /proc entry we read is the server itself, with a known open-file
 * limit. Its output goes to a log file, never to a pipe nobody reads.
 *
 * @module
 */

import type { ServerKind } from "./conversation.ts";
import { freePort } from "../tests/_helpers/process.ts";

/** The version of the PeerJS server the benchmark compares with. */
export const PEER_VERSION = "1.0.2";

const BENCH_DIR = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
/** The repository's root. */
export const ROOT = BENCH_DIR.replace(/\/bench$/, "");

/** Where run-time files go: the PeerJS install and the server logs. */
export const WORK_DIR = `${Deno.env.get("TMPDIR") ?? "/tmp"}/beam-bench`;

/** What /proc says of a process. */
export interface ProcStat {
  /** utime + stime, in ms. */
  cpuMs: number;
  /** Resident memory, in KiB. */
  rssKiB: number;
  /** Open file descriptors. */
  fds: number;
  /** Whether the process still exists. */
  alive: boolean;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux.

/** Reads a process's CPU time, resident memory and descriptors. */
export function procStat(pid: number): ProcStat {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return { cpuMs: 0, rssKiB: 0, fds: 0, alive: false };
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    let fds = 0;
    try {
      for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) fds++;
    } catch {
      fds = -1;
    }
    return {
      cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
      rssKiB: rss,
      fds,
      alive: true,
    };
  } catch {
    return { cpuMs: 0, rssKiB: 0, fds: 0, alive: false };
  }
}

/**
 * CPU time all processes of the machine spent busy, in ms (/proc/stat). Less
 * the server's and the load's, it shows how much else ran during a
 * measurement: the machine may be shared.
 */
export function machineBusyMs(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.split(
    /\s+/,
  ).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

/** The hard open-file limit this process may raise its children to. */
export function hardFileLimit(): number {
  const limits = Deno.readTextFileSync("/proc/self/limits");
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits);
  if (!m) return 1024;
  return m[2] === "unlimited" ? 1 << 20 : Number(m[2]);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `word` quoted for bash. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * `path` as the results may hold it: relative to the repository inside it,
 * else its file name only (a folder of this machine means nothing to a
 * reader, and may name a person).
 */
export function withoutMachinePath(path: string): string {
  if (path.startsWith(ROOT + "/")) return path.slice(ROOT.length + 1);
  if (!path.startsWith("/")) return path;
  return `<outside the repository>/${path.slice(path.lastIndexOf("/") + 1)}`;
}

/** A command-line argument with any absolute path in its value made neutral. */
export function argWithoutMachinePath(arg: string): string {
  const at = arg.indexOf("=");
  if (at === -1 || !arg.slice(at + 1).startsWith("/")) return arg;
  return arg.slice(0, at + 1) + withoutMachinePath(arg.slice(at + 1));
}

/** Runs a command to completion and returns its stdout, or throws with its stderr. */
export async function run(
  cmd: string,
  args: string[],
  cwd = ROOT,
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `Cannot run ${cmd} ${args.join(" ")}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return text;
}

/** Installs `peer@1.0.2` outside the repository once, and returns its CLI's path. */
export async function ensurePeerJs(): Promise<string> {
  const prefix = `${WORK_DIR}/peer-${PEER_VERSION}`;
  const cli = `${prefix}/node_modules/peer/dist/bin/peerjs.js`;
  try {
    const pkg = JSON.parse(
      await Deno.readTextFile(`${prefix}/node_modules/peer/package.json`),
    );
    if (pkg.version === PEER_VERSION) return cli;
  } catch {
    // Not installed yet.
  }
  await Deno.mkdir(prefix, { recursive: true });
  console.error(`bench: installing peer@${PEER_VERSION} into ${prefix}`);
  await run("npm", [
    "install",
    "--prefix",
    prefix,
    `peer@${PEER_VERSION}`,
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
  ], WORK_DIR);
  return cli;
}

/** Options of {@linkcode beamSnapshot}. */
export interface SnapshotOptions {
  /**
   * Give the snapshot its own `node_modules` (`deno install`) and its own
   * island build, made once and reused, instead of links to the work
   * tree's: the pages then run the commit's own code, which a benchmark of
   * the browser side needs (a linked `_build` is the work tree's islands).
   */
  ownBuild?: boolean;
}

/**
 * Extracts a commit's tree (git archive) outside the repository, with the
 * work tree's node_modules and _build linked in (or, with `ownBuild`, its
 * own), so Beam can be measured at a commit while the work tree is
 * mid-edit. Returns the folder.
 */
export async function beamSnapshot(
  ref: string,
  options: SnapshotOptions = {},
): Promise<{ dir: string; commit: string }> {
  const commit =
    (await run("git", ["rev-parse", "--verify", `${ref}^{commit}`])).trim();
  const dir = `${WORK_DIR}/src-${commit.slice(0, 12)}`;
  let extracted = false;
  try {
    await Deno.stat(`${dir}/main.ts`);
    extracted = true;
  } catch {
    // Not extracted yet.
  }
  if (!extracted) {
    await Deno.mkdir(dir, { recursive: true });
    await run("bash", [
      "-c",
      `git archive ${shellQuote(commit)} | tar -x -C ${shellQuote(dir)}`,
    ]);
  }
  if (options.ownBuild) {
    await ensureOwnBuild(dir);
  } else if (!extracted) {
    await Deno.symlink(`${ROOT}/node_modules`, `${dir}/node_modules`);
    try {
      await Deno.stat(`${ROOT}/_build/manifest.json`);
      await Deno.symlink(`${ROOT}/_build`, `${dir}/_build`);
    } catch {
      await run(Deno.execPath(), ["run", "-A", "lib/islands/build.ts"], dir);
    }
  }
  return { dir, commit };
}

/**
 * Installs a snapshot's packages and builds its islands, unless a build of
 * its own is there (the build writes `manifest.json` last). Links to the
 * work tree's folders, from a snapshot made without `ownBuild`, are
 * replaced: `deno install` would write through them into the work tree.
 */
async function ensureOwnBuild(dir: string): Promise<void> {
  let linked = false;
  for (const name of ["node_modules", "_build"]) {
    const stat = await Deno.lstat(`${dir}/${name}`).catch(() => null);
    if (stat?.isSymlink) {
      await Deno.remove(`${dir}/${name}`);
      linked = true;
    }
  }
  if (!linked) {
    try {
      await Deno.stat(`${dir}/_build/manifest.json`);
      return;
    } catch {
      // Not built yet.
    }
  }
  console.error(`bench: installing and building the islands in ${dir}`);
  await run(Deno.execPath(), ["install"], dir);
  await run(Deno.execPath(), ["run", "-A", "lib/islands/build.ts"], dir);
}

/** A running server under test. */
export interface RunningServer {
  kind: ServerKind;
  port: number;
  pid: number;
  log: string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Stops it (SIGTERM, then SIGKILL after 3 s) and waits for it. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  /** The open-file limit the server runs with. */
  nofile: number;
  /** Where the PeerJS CLI is. */
  peerCli: string;
  /** PeerJS's `--concurrent_limit`; its default is 5000. */
  peerLimit?: number;
  /** A name for the log file. */
  label: string;
  /** CPUs to pin the server to (taskset's list), if any. */
  cpus?: string;
  /** Where Beam runs from: the work tree (default) or a snapshot. */
  beamDir?: string;
  /** More environment for the server. */
  env?: Record<string, string>;
}

/** A `taskset` prefix that pins a command to `cpus`, if given. */
export function pinned(cpus: string | undefined): string {
  return cpus ? `taskset -c ${shellQuote(cpus)} ` : "";
}

/**
 * BENCH_SERVER_FLAGS: extra runtime flags for the Deno servers, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile Beam under the load.
 */
export function serverFlags(): string[] {
  return (Deno.env.get("BENCH_SERVER_FLAGS") ?? "").split(" ").filter(Boolean);
}

/**
 * BENCH_SERVER_ENV: extra environment for the Deno servers only, as
 * space-separated `NAME=value` words, e.g. `MALLOC_ARENA_MAX=2`: set for the
 * whole benchmark, it would reach the load processes too.
 */
function serverEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of (Deno.env.get("BENCH_SERVER_ENV") ?? "").split(" ")) {
    const at = word.indexOf("=");
    if (at > 0) env[word.slice(0, at)] = word.slice(at + 1);
  }
  return env;
}

/** How the `start` task runs the app: its environment and `deno run` flags. */
export interface StartTask {
  /** `NAME=value` words before `deno run`, such as allocator settings. */
  env: Record<string, string>;
  /** The flags between `deno run` and the entry point. */
  flags: string[];
}

/**
 * The last command of the `start` task in `dir`'s deno.json, the way the app
 * is started. Beam is measured with exactly this, so a setting the app is
 * deployed with (permissions, V8 heap, allocator) is in its figures.
 */
export function startTask(dir = ROOT): StartTask {
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/deno.json`));
  const task = String(config.tasks?.start ?? "");
  const words = task.split("&&").at(-1)!.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] ?? "")) {
    const word = words.shift()!;
    const at = word.indexOf("=");
    env[word.slice(0, at)] = word.slice(at + 1);
  }
  if (words[0] !== "deno" || words[1] !== "run" || words.length < 3) {
    throw new TypeError(
      `Cannot read the start task of ${dir}/deno.json: its last command is not \`deno run ... main.ts\``,
    );
  }
  return { env, flags: words.slice(2, -1) };
}

/**
 * The start task's flags that tune the runtime rather than grant
 * permissions: the bare relay runs with them (and the task's environment)
 * too, so that what separates it from Beam is code, not settings.
 */
function runtimeFlags(flags: string[]): string[] {
  return flags.filter((flag) => !/^--allow-|^-A$/.test(flag));
}

/** Starts a server on a fresh loopback port and waits until it accepts. */
export async function startServer(
  kind: ServerKind,
  options: StartOptions,
): Promise<RunningServer> {
  const port = freePort();
  await Deno.mkdir(`${WORK_DIR}/logs`, { recursive: true });
  const log = `${WORK_DIR}/logs/${options.label}.log`;
  let argv: string[];
  // Beam's own start task for Beam; the work tree's for the bare relay.
  const task = startTask(kind === "beam" ? options.beamDir : ROOT);
  if (kind === "beam") {
    argv = [
      Deno.execPath(),
      "run",
      ...task.flags,
      ...serverFlags(),
      "main.ts",
    ];
  } else if (kind === "bare") {
    argv = [
      Deno.execPath(),
      "run",
      "-A",
      ...runtimeFlags(task.flags),
      ...serverFlags(),
      "bench/bare_relay.ts",
    ];
  } else {
    argv = [
      "node",
      options.peerCli,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
    ];
    if (options.peerLimit !== undefined) {
      argv.push("--concurrent_limit", String(options.peerLimit));
    }
  }
  const script = `ulimit -n ${options.nofile} && exec ${pinned(options.cpus)}${
    argv.map(shellQuote).join(" ")
  } >${shellQuote(log)} 2>&1`;
  const child = new Deno.Command("bash", {
    args: ["-c", script],
    cwd: kind === "beam" ? options.beamDir ?? ROOT : ROOT,
    env: {
      ...(kind === "peerjs" ? {} : { ...task.env, ...serverEnv() }),
      ...options.env,
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const pid = child.pid;
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = performance.now() + 30_000;
  while (true) {
    if (exited) {
      const text = await Deno.readTextFile(log).catch(() => "");
      throw new Error(`Cannot start ${kind}: it exited (${text.slice(-400)})`);
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      if (performance.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`Cannot start ${kind}: port ${port} never opened`);
      }
      await sleep(50);
    }
  }
  return {
    kind,
    port,
    pid,
    log,
    alive: () => !exited && procStat(pid).alive,
    async stop() {
      if (exited) return;
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 3000);
      await status;
      clearTimeout(killer);
    },
  };
}

/** A load-generating process, driven by JSON lines. */
export class LoadClient {
  readonly index: number;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #waiters = new Map<number, (reply: Record<string, unknown>) => void>();
  #nextId = 1;
  #encoder = new TextEncoder();
  #done: Promise<void>;

  constructor(index: number, nofile: number, cpus?: string) {
    this.index = index;
    // BENCH_CLIENT_FLAGS: extra runtime flags, e.g. --cpu-prof to profile the load itself.
    const flags = (Deno.env.get("BENCH_CLIENT_FLAGS") ?? "").split(" ").filter(
      Boolean,
    ).map(shellQuote).join(" ");
    const script = `ulimit -n ${nofile} && exec ${pinned(cpus)}${
      shellQuote(Deno.execPath())
    } run -A ${flags} bench/load_client.ts`;
    this.#child = new Deno.Command("bash", {
      args: ["-c", script],
      cwd: ROOT,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#done = this.#readReplies();
  }

  /** The process id, for its CPU time. */
  get pid(): number {
    return this.#child.pid;
  }

  async #readReplies(): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of this.#child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let message: { id: number; reply: Record<string, unknown> };
        try {
          message = JSON.parse(line);
        } catch {
          console.error(`client ${this.index}: ${line}`);
          continue;
        }
        const waiter = this.#waiters.get(message.id);
        this.#waiters.delete(message.id);
        waiter?.(message.reply);
      }
    }
    for (const waiter of this.#waiters.values()) {
      waiter({ error: "client process ended" });
    }
    this.#waiters.clear();
  }

  /** Sends a command and resolves with the process's reply. */
  async call(
    cmd: string,
    args: Record<string, unknown> = {},
  ): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const reply = new Promise<Record<string, unknown>>((resolve) =>
      this.#waiters.set(id, resolve)
    );
    await this.#writer.write(
      this.#encoder.encode(JSON.stringify({ id, cmd, ...args }) + "\n"),
    );
    const result = await reply;
    if (typeof result.error === "string") {
      throw new Error(`Client ${this.index} failed ${cmd}: ${result.error}`);
    }
    return result;
  }

  /** Kills the process at once (the benchmark's watchdog). */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  /** Ends the process. */
  async exit(): Promise<void> {
    try {
      await this.call("exit");
    } catch {
      // It may already be gone.
    }
    try {
      await this.#writer.close();
    } catch {
      // Already closed.
    }
    await this.#child.status;
    await this.#done;
  }
}
