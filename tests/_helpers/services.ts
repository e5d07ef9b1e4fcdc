/**
 * Real services for end-to-end tests, each started by the test on a
 * loopback port of its own, in a process group of its own, and stopped by
 * that group's id: `redis-server`, `nginx` and coturn's `turnserver` from
 * Debian. `tests/setup.ts` (run by `deno task test` first) installs them
 * when they are missing.
 *
 * @module
 */

import { freePort, spawnProcess, type TestProcess } from "./process.ts";

/** The Debian package that brings each program the tests start. */
export const PACKAGES: Readonly<Record<string, string>> = {
  "redis-server": "redis-server",
  "redis-cli": "redis-server",
  nginx: "nginx",
  chromium: "chromium",
  "firefox-esr": "firefox-esr",
  turnserver: "coturn",
  unzip: "unzip",
};

const SEARCH_PATH = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

/**
 * The full path of `program`, from `PATH` and the usual system folders
 * (nginx lives in /usr/sbin, which a user's `PATH` may lack). With
 * `only`, just the folders of `path` are searched: tests/setup_test.ts uses
 * it to show what a machine without the programs sees.
 */
export function findProgram(
  program: string,
  path: string | undefined = Deno.env.get("PATH"),
  only = false,
): string | undefined {
  const dirs = [
    ...(path ?? "").split(":").filter((d) => d !== ""),
    ...(only ? [] : SEARCH_PATH),
  ];
  for (const dir of dirs) {
    try {
      const info = Deno.statSync(`${dir}/${program}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) {
        return `${dir}/${program}`;
      }
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/** The path of a program a test needs; throws a clear error if missing. */
export function requireProgram(program: string): string {
  const found = findProgram(program);
  if (found !== undefined) return found;
  const pkg = PACKAGES[program] ?? program;
  throw new Error(
    `Cannot start ${program}: it is not installed. Run \`deno task test\`, ` +
      `whose setup installs it, or \`apt-get install -y ${pkg}\`.`,
  );
}

/**
 * Waits up to 10 s for `line` in the output of `process`, a server
 * starting; kills it at once and throws with its output (naming `what`) if
 * it exits first or takes longer.
 */
async function waitForLine(
  process: TestProcess,
  line: string,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!process.stdout.includes(line)) {
    if (!process.running || Date.now() > deadline) {
      await process.stop(0);
      throw new Error(
        `Cannot start ${what}:\n${process.stdout}${process.stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Redis

/** A running `redis-server`. */
export interface TestRedis {
  /** `redis://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Kills it (SIGKILL to its group) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): its connections stay open, it answers nothing. */
  pause(): void;
  /** Lets a paused server go on (SIGCONT). */
  resume(): void;
  /** Runs `redis-cli` against it with `args`; resolves with its output. */
  cli(...args: string[]): Promise<string>;
}

/**
 * Starts a `redis-server` on a free loopback port, without persistence;
 * `extra` adds settings (`["--requirepass", "secret"]`).
 */
export async function startRedis(extra: string[] = []): Promise<TestRedis> {
  const program = requireProgram("redis-server");
  const port = freePort();
  let process: TestProcess | undefined;

  async function start(): Promise<void> {
    process = spawnProcess(program, {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        ...extra,
      ],
    });
    await waitForLine(
      process,
      "Ready to accept connections",
      `redis-server on port ${port}`,
    );
  }

  async function stop(): Promise<void> {
    // At once, SIGKILL: a paused server must not wake to answer first.
    await process?.stop(0);
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      await start();
    },
    pause() {
      Deno.kill(-process!.pid, "SIGSTOP");
    },
    resume() {
      Deno.kill(-process!.pid, "SIGCONT");
    },
    async cli(...args: string[]) {
      const output = await new Deno.Command(requireProgram("redis-cli"), {
        args: ["-p", String(port), ...args],
        stdin: "null",
      }).output();
      return new TextDecoder().decode(output.stdout).trim();
    },
  };
}

// nginx

/** A running nginx in front of some upstream servers. */
export interface TestNginx {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** The configuration it runs with. */
  config: string;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

/**
 * The nginx configuration that puts several Beam instances behind one
 * origin (docs/deploy.md shows the same): round robin, WebSocket upgrades
 * passed through, the client's address in `X-Forwarded-For`. `prefix`
 * holds its pid and temporary files.
 */
export function nginxConfig(
  port: number,
  upstreams: string[],
  prefix: string,
): string {
  return `# Generated by tests/_helpers/services.ts for one test.
daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    "" close;
  }
  upstream beam {
${
    upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=10s;`).join(
      "\n",
    )
  }
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://beam;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;
      proxy_next_upstream error timeout;
    }
  }
}
`;
}

/** Starts nginx on a free loopback port in front of `upstreams` (host:port). */
export async function startNginx(upstreams: string[]): Promise<TestNginx> {
  const program = requireProgram("nginx");
  const port = freePort();
  const prefix = await Deno.makeTempDir({ prefix: "beam-nginx-" });
  const config = nginxConfig(port, upstreams, prefix);
  await Deno.writeTextFile(`${prefix}/nginx.conf`, config);
  const process = spawnProcess(program, {
    args: ["-p", prefix, "-c", `${prefix}/nginx.conf`, "-e", "stderr"],
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      if (!process.running || Date.now() > deadline) {
        await process.stop(0);
        await Deno.remove(prefix, { recursive: true });
        throw new Error(
          `Cannot start nginx on port ${port}:\n${process.stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    config,
    async stop() {
      await process.stop();
      await Deno.remove(prefix, { recursive: true });
    },
  };
}

// coturn

/** A running coturn (`turnserver`) with short-lived credentials. */
export interface TestTurn {
  /** `turn:127.0.0.1:PORT?transport=udp`. */
  url: string;
  port: number;
  /** The secret it checks credentials with (`--static-auth-secret`). */
  secret: string;
  /** Its log so far (coturn logs to stdout here). */
  readonly log: string;
  /** Stops it (SIGTERM to its group, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts coturn on a free loopback port with `use-auth-secret` and
 * `secret`, relaying between loopback addresses (which it refuses unless
 * told: `--allow-loopback-peers`), with no TLS, no DTLS and no CLI. Its
 * relay ports are a 200-port window picked at random in 42000..47999, so
 * two tests at once rarely share one.
 */
export async function startTurn(secret: string): Promise<TestTurn> {
  const program = requireProgram("turnserver");
  const port = freePort();
  const minPort = 42000 + 200 * Math.floor(Math.random() * 30);
  const dir = await Deno.makeTempDir({ prefix: "beam-turn-" });
  const process = spawnProcess(program, {
    args: [
      "-n",
      "--listening-ip=127.0.0.1",
      "--relay-ip=127.0.0.1",
      `--listening-port=${port}`,
      `--min-port=${minPort}`,
      `--max-port=${minPort + 199}`,
      "--realm=beam.test",
      "--use-auth-secret",
      `--static-auth-secret=${secret}`,
      "--no-cli",
      "--no-tls",
      "--no-dtls",
      "--allow-loopback-peers",
      "--log-file=stdout",
      "--simple-log",
      // Each allocation and refusal in the log, for the tests to read.
      "--verbose",
      `--pidfile=${dir}/turnserver.pid`,
      `--userdb=${dir}/turndb`,
    ],
  });
  try {
    await waitForLine(
      process,
      "Total General servers",
      `turnserver on port ${port}`,
    );
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  return {
    url: `turn:127.0.0.1:${port}?transport=udp`,
    port,
    secret,
    get log() {
      return process.stdout;
    },
    async stop() {
      await process.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
