/**
 * Child processes for end-to-end tests: a free loopback port, a command
 * spawned in its own process group with its output collected, stopped by
 * signalling the whole group, and a wait until an HTTP endpoint answers.
 *
 * A test that spawns with these and awaits `stop()` leaves no process, no
 * pipe and no pending op behind, so Deno's sanitizers stay on.
 *
 * @module
 */

/** How a command is spawned. */
export interface SpawnOptions {
  /** Arguments after the command. */
  args?: string[];
  /** Working folder; default the test's. */
  cwd?: string;
  /**
   * Changes to the inherited environment: a string sets a variable,
   * `undefined` removes it (so a variable set where the tests run cannot
   * leak into the child).
   */
  env?: Record<string, string | undefined>;
}

/** A spawned command, in its own process group. */
export interface TestProcess {
  /** Its process id, which is also its process group's id. */
  readonly pid: number;
  /** What it has printed on stdout so far (all of it once stopped). */
  readonly stdout: string;
  /** What it has printed on stderr so far (all of it once stopped). */
  readonly stderr: string;
  /** Whether it is still running. */
  readonly running: boolean;
  /** Resolves when it exits, however it ends. */
  readonly status: Promise<Deno.CommandStatus>;
  /**
   * Sends SIGTERM to its process group, then SIGKILL if it has not exited
   * after `graceMs`; resolves with its status once it has exited and its
   * output is read to the end. Calling it again returns the same status.
   */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
export const STOP_GRACE_MS = 2_000;

/** How long `stop()` waits for output still held by an escaped process. */
const DRAIN_MS = 1_000;

/**
 * A TCP port that was free on `hostname` a moment ago. The OS picks it and
 * the listener closes at once, so another process could take it before the
 * child binds it; that race is rare enough for tests.
 */
export function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0, transport: "tcp" });
  try {
    return listener.addr.port;
  } finally {
    listener.close();
  }
}

/** Reads a stream to its end, handing each piece of text to `append`. */
async function collect(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  append: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    append(decoder.decode(value, { stream: true }));
  }
  append(decoder.decode());
}

/** Sends `signal` to a process group; a group that is gone is no error. */
function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    // A negative pid names the group: the child and whatever it started.
    Deno.kill(-pid, signal);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Spawns `command` detached, in a process group of its own, with stdin
 * closed (nothing can wait on a prompt) and stdout and stderr collected.
 */
export function spawnProcess(
  command: string,
  options: SpawnOptions = {},
): TestProcess {
  const changes = Object.entries(options.env ?? {});
  const removes = changes.some(([, value]) => value === undefined);
  const env: Record<string, string> = removes ? Deno.env.toObject() : {};
  for (const [name, value] of changes) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const child = new Deno.Command(command, {
    args: options.args ?? [],
    cwd: options.cwd,
    env,
    // Deno.Command can only drop inherited variables all at once.
    clearEnv: removes,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Its own group, so that stop() reaches the processes it starts too.
    detached: true,
  }).spawn();

  let stdout = "";
  let stderr = "";
  let running = true;
  const outReader = child.stdout.getReader();
  const errReader = child.stderr.getReader();
  const outDone = collect(outReader, (text) => stdout += text);
  const errDone = collect(errReader, (text) => stderr += text);
  const status = child.status.finally(() => running = false);

  // A process that left the group still holds the pipes open: stop
  // reading instead of waiting for it.
  async function drain(
    done: Promise<void>,
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), DRAIN_MS);
    });
    try {
      if (await Promise.race([done, late]) === "late") {
        await reader.cancel();
        await done;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    pid: child.pid,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    get running() {
      return running;
    },
    status,
    stop(graceMs = STOP_GRACE_MS) {
      stopped ??= (async () => {
        if (running) signalGroup(child.pid, "SIGTERM");
        const timer = setTimeout(
          () => signalGroup(child.pid, "SIGKILL"),
          graceMs,
        );
        let result;
        try {
          result = await status;
        } finally {
          clearTimeout(timer);
        }
        // Whatever it started may outlive it in the group.
        signalGroup(child.pid, "SIGKILL");
        await Promise.all([
          drain(outDone, outReader),
          drain(errDone, errReader),
        ]);
        return result;
      })();
      return stopped;
    },
  };
}

/** How `waitForHttp()` waits. */
export interface WaitForHttpOptions {
  /** Give up after this long. Default 30 s (a cold `deno run` compiles). */
  timeoutMs?: number;
  /** Which answer counts as ready. Default: any 2xx. */
  ready?: (response: Response) => boolean;
  /** The process that should answer: fail at once if it exits. */
  process?: TestProcess;
}

/**
 * Polls `url` with GET until an answer counts as ready. Throws when the time
 * is up, or when `process` exits first (with what it printed on stderr).
 */
export async function waitForHttp(
  url: string,
  options: WaitForHttpOptions = {},
): Promise<void> {
  const { timeoutMs = 30_000, ready = (r) => r.ok, process } = options;
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  for (;;) {
    if (process && !process.running) {
      const { code, signal } = await process.status;
      throw new Error(
        `Cannot reach ${url}: the process exited (${
          signal ?? `code ${code}`
        }) first; stderr:\n${process.stderr}`,
      );
    }
    // Not AbortSignal.timeout(): its timer would outlive a quick answer.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 1000);
    try {
      const response = await fetch(url, { signal: abort.signal });
      await response.body?.cancel();
      if (ready(response)) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Cannot reach ${url}: not ready in ${timeoutMs} ms (last: ${last})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
