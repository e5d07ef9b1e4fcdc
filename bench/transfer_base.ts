/**
 * The app as it was at an earlier commit, for `bench:transfer --base=REF`:
 * the commit's tree extracted outside the repository with its own packages
 * and island build (`beamSnapshot`, made once and reused), and its
 * `main.ts` started as a second server on a loopback port of its own, in a
 * process group of its own, so that the same browser can send the same file
 * through both versions of the app in one run.
 *
 * @module
 */

import {
  freePort,
  spawnProcess,
  type TestProcess,
  waitForHttp,
} from "../tests/_helpers/process.ts";
import { beamSnapshot, startTask } from "./servers.ts";

/** The base server, running. */
export interface BaseServer {
  /** What was asked for, e.g. `df6c446` or `HEAD~3`. */
  ref: string;
  /** The full commit it resolved to. */
  commit: string;
  /** Its origin, like `http://127.0.0.1:PORT`. */
  url: string;
  /** Stops its process group and waits for it. */
  stop(): Promise<void>;
}

/**
 * Extracts and builds `ref` (once) and starts its `main.ts` the way its own
 * `start` task does, on 127.0.0.1 with `ICE_SERVERS=[]` like the in-process
 * server of the work tree.
 */
export async function startBaseServer(ref: string): Promise<BaseServer> {
  const { dir, commit } = await beamSnapshot(ref, { ownBuild: true });
  const task = startTask(dir);
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: TestProcess = spawnProcess(Deno.execPath(), {
    args: ["run", ...task.flags, "main.ts"],
    cwd: dir,
    env: {
      ...task.env,
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      ICE_SERVERS: "[]",
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      // A bus set where the benchmark runs must not join the two servers.
      REDIS_URL: undefined,
    },
  });
  try {
    await waitForHttp(url, { process: child, timeoutMs: 60_000 });
  } catch (error) {
    await child.stop();
    throw error;
  }
  return {
    ref,
    commit,
    url,
    async stop() {
      await child.stop();
    },
  };
}
