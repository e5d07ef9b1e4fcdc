/**
 * Beam as a real process, the way a deployment runs it: `deno run main.ts`
 * with Deploy's permissions (no write), its own port and environment, in a
 * process group of its own so that a test can stop it, or `kill -9` it.
 *
 * @module
 */

import { ROOT } from "./server.ts";
import {
  freePort,
  spawnProcess,
  type TestProcess,
  waitForHttp,
} from "./process.ts";

/** The permissions Deno Deploy grants; notably no `--allow-write`. */
export const DEPLOY_FLAGS: readonly string[] = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-sys",
];

/** A running Beam process. */
export interface BeamProcess {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `ws://127.0.0.1:PORT/api/signal`. */
  wsUrl: string;
  port: number;
  process: TestProcess;
  /** Its `/healthz` answer: HTTP status and JSON body. */
  health(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Kills the whole process group at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

/**
 * Starts `main.ts` on a free loopback port (or `env.PORT`) with `env` (ICE_SERVERS `[]`
 * unless given) and waits until `/healthz` answers 200, that is, until its
 * bus is up when it has one.
 */
export async function startBeam(
  env: Record<string, string | undefined> = {},
): Promise<BeamProcess> {
  // A given PORT is kept: a test restarts a killed process on its port.
  const port = env.PORT === undefined ? freePort() : Number(env.PORT);
  const process = spawnProcess(Deno.execPath(), {
    args: ["run", ...DEPLOY_FLAGS, "main.ts"],
    cwd: ROOT,
    env: {
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      ICE_SERVERS: "[]",
      // What the tests' own environment may hold must not change the run.
      DENO_DEPLOYMENT_ID: undefined,
      REDIS_URL: undefined,
      MALLOC_MMAP_THRESHOLD_: undefined,
      DENO_V8_FLAGS: undefined,
      ...env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, { process });
  } catch (error) {
    await process.stop();
    throw error;
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/api/signal`,
    port,
    process,
    async health() {
      const response = await fetch(`${url}/healthz`);
      return { status: response.status, body: await response.json() };
    },
    async kill() {
      try {
        Deno.kill(-process.pid, "SIGKILL");
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      await process.stop();
    },
    async stop() {
      await process.stop();
    },
  };
}
