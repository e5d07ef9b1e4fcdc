/**
 * The emulated WAN of `deno task bench:wan`: two network namespaces
 * (`beam-wan-<pid>-a` and `-b`) joined by the userspace relay of
 * `bench/wan/relay.c` over two TUN devices, one moved into each namespace,
 * addressed `10.201.<k>.1/24` (A) and `.2/24` (B). The relay is built with
 * Debian's gcc at first use (gcc, iproute2 and chromium are installed with
 * apt-get if missing), runs in its own process group, and takes its link settings on
 * stdin, so one set of namespaces serves every condition of a run.
 *
 * Everything made here is removed by `close()` (the processes started in
 * the namespaces by their process groups, anything else still inside them
 * by `ip netns pids`, the namespaces, the relay); namespaces left by a
 * benchmark that was killed (their pid is gone) are emptied and removed the
 * same way at the next start.
 *
 * @module
 */

import {
  type LinkSettings,
  parseRelayLine,
  parseUdpSnmp,
  type RelayCounters,
} from "./wan_stats.ts";

const BENCH_DIR = decodeURIComponent(new URL(".", import.meta.url).pathname)
  .replace(/\/$/, "");
/** Where the relay binary and the logs go. */
export const WAN_DIR = `${Deno.env.get("TMPDIR") ?? "/tmp"}/beam-bench/wan`;

/** Runs a command; throws with its stderr when it fails. */
export async function sh(cmd: string, args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(`Cannot run ${cmd}: ${(error as Error).message}`);
  }
  if (!out.success) {
    throw new Error(
      `Cannot run ${cmd} ${args.join(" ")}: ${
        new TextDecoder().decode(out.stderr).trim() || `exit ${out.code}`
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

async function has(cmd: string): Promise<boolean> {
  try {
    await sh("sh", ["-c", `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** Installs Debian packages with apt-get (updating the lists once if asked). */
async function aptInstall(packages: string[]): Promise<void> {
  console.error(`bench:wan: installing ${packages.join(", ")} with apt-get`);
  const install = () =>
    sh("apt-get", ["install", "-y", "--no-install-recommends", ...packages]);
  try {
    await install();
  } catch {
    await sh("apt-get", ["update"]);
    await install();
  }
}

/**
 * Installs gcc, iproute2 and Chromium if missing (a fresh machine runs the
 * benchmark from one command), and builds the relay once.
 */
export async function ensureRelay(): Promise<string> {
  if (Deno.uid() !== 0) {
    throw new Error(
      "Cannot make network namespaces: bench:wan must run as root (it creates namespaces and TUN devices)",
    );
  }
  const missing = [];
  if (!(await has("gcc"))) missing.push("gcc", "libc6-dev");
  if (!(await has("ip")) || !(await has("ss"))) missing.push("iproute2");
  const chromium = await Deno.stat("/usr/bin/chromium").then(
    () => true,
    () => false,
  );
  if (!chromium) missing.push("chromium");
  if (missing.length > 0) await aptInstall(missing);
  await Deno.mkdir(WAN_DIR, { recursive: true });
  const source = `${BENCH_DIR}/wan/relay.c`;
  const binary = `${WAN_DIR}/relay`;
  const [src, bin] = await Promise.all([
    Deno.stat(source),
    Deno.stat(binary).catch(() => null),
  ]);
  if (
    bin === null || (bin.mtime?.getTime() ?? 0) < (src.mtime?.getTime() ?? 0)
  ) {
    await sh("gcc", ["-O2", "-Wall", "-Wextra", "-o", binary, source]);
  }
  return binary;
}

/**
 * Removes `beam-wan-<pid>-*` namespaces, profiles and browser wrappers whose
 * benchmark is gone.
 */
async function removeStale(): Promise<void> {
  const list = await sh("ip", ["netns", "list"]).catch(() => "");
  for (const m of list.matchAll(/^(beam-wan-(\d+)-[ab])\b/gm)) {
    const alive = await Deno.stat(`/proc/${m[2]}`).then(
      () => true,
      () => false,
    );
    if (!alive) await removeNamespace(m[1]);
  }
  // Profiles and browser wrappers of benchmarks that are gone.
  for await (const entry of Deno.readDir(WAN_DIR)) {
    const m = /^(?:profile-|chromium-beam-wan-)(\d+)-/.exec(entry.name);
    if (m === null) continue;
    const alive = await Deno.stat(`/proc/${m[1]}`).then(
      () => true,
      () => false,
    );
    if (!alive) {
      await Deno.remove(`${WAN_DIR}/${entry.name}`, { recursive: true })
        .catch(() => {});
    }
  }
}

/**
 * Ends every process still inside namespace `ns` (a server or a browser
 * left by a benchmark that was killed), then removes the namespace.
 */
async function removeNamespace(ns: string): Promise<void> {
  const pids = await sh("ip", ["netns", "pids", ns]).catch(() => "");
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  await sh("ip", ["netns", "del", ns]).catch(() => {});
}

/** The two namespaces and the relay between them. */
export interface Wan {
  /** Namespace names. */
  nsA: string;
  nsB: string;
  /** Addresses: A's (the server's) and B's. */
  addrA: string;
  addrB: string;
  /** Applies link settings (both directions). */
  set(link: LinkSettings): Promise<void>;
  /** The relay's counters since the last call, and resets them. */
  stats(): Promise<RelayCounters>;
  /** Runs `cmd args` in namespace `ns`, in its own process group. */
  spawnIn(
    ns: string,
    cmd: string,
    args: string[],
    options?: Deno.CommandOptions,
  ): Deno.ChildProcess;
  /** The `Udp:` counters of /proc/net/snmp in namespace `ns`. */
  udp(ns: string): Promise<Record<string, number>>;
  /** Removes everything (idempotent). */
  close(): Promise<void>;
}

/** Builds the relay, makes the namespaces and starts the relay. */
export async function openWan(): Promise<Wan> {
  const binary = await ensureRelay();
  await removeStale();
  const pid = Deno.pid;
  const nsA = `beam-wan-${pid}-a`;
  const nsB = `beam-wan-${pid}-b`;
  const tunA = `bw${pid}a`.slice(0, 15);
  const tunB = `bw${pid}b`.slice(0, 15);
  const k = 1 + (pid % 250);
  const addrA = `10.201.${k}.1`;
  const addrB = `10.201.${k}.2`;
  const children = new Set<Deno.ChildProcess>();
  const made: string[] = [];

  const relay = new Deno.Command(binary, {
    args: [tunA, tunB],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = relay.stdin.getWriter();
  const lines = relay.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(splitLines()).getReader();
  const nextLine = async (what: string) => {
    const { value, done } = await lines.read();
    if (done) throw new Error(`Cannot ${what}: the relay exited`);
    return value;
  };
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      for (const child of children) {
        try {
          Deno.kill(-child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          relay.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 3_000);
      await relay.status;
      clearTimeout(timer);
      for (const ns of made) await removeNamespace(ns);
    })();
  try {
    const ready = await nextLine("start the relay");
    if (ready !== "ready") throw new Error(`Cannot start the relay: ${ready}`);
    for (const [ns, tun, addr] of [[nsA, tunA, addrA], [nsB, tunB, addrB]]) {
      await sh("ip", ["netns", "add", ns]);
      made.push(ns);
      await sh("ip", ["link", "set", tun, "netns", ns]);
      await sh("ip", ["-n", ns, "addr", "add", `${addr}/24`, "dev", tun]);
      await sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
      await sh("ip", ["-n", ns, "link", "set", tun, "up"]);
    }
  } catch (error) {
    await close();
    throw error;
  }
  const send = async (line: string) => {
    await writer.write(new TextEncoder().encode(line + "\n"));
  };
  return {
    nsA,
    nsB,
    addrA,
    addrB,
    async set(link) {
      await send(
        `set ${link.rateBps} ${Math.round(link.rttMs * 500)} ${
          Math.round(link.loss * 1e6)
        } ${link.queueBytes} ${link.lossDirs} ${link.seed ?? 1}`,
      );
      const line = await nextLine("set the link");
      if (!line.includes('"set"')) {
        throw new Error(`Cannot set the link: the relay said ${line}`);
      }
    },
    async stats() {
      await send("stats");
      return parseRelayLine(await nextLine("read the relay's counters"));
    },
    async udp(ns) {
      return parseUdpSnmp(
        await sh("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"]),
      );
    },
    spawnIn(ns, cmd, args, options = {}) {
      const child = new Deno.Command("ip", {
        ...options,
        args: ["netns", "exec", ns, cmd, ...args],
        detached: true,
      }).spawn();
      children.add(child);
      child.status.finally(() => children.delete(child));
      return child;
    },
    close,
  };
}

/** Splits a text stream into lines. */
export function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (rest) controller.enqueue(rest);
    },
  });
}
