/**
 * The oversized-frame attack of issue #12 item 6, measured per transport:
 * ten connections each send one 48 MiB text frame (under the runtime's own
 * 64 MiB message limit) to a server whose frame cap is 64 KiB, all at once,
 * and the server process's resident memory is read from /proc before and
 * after. Growth is the peak (`VmHWM`, reset through `clear_refs` just
 * before the attack) less the resident size before it; what is still
 * resident two seconds after is reported too. Each server must then still
 * answer a new client with `assign`.
 *
 * Options (`--options=`, default all):
 * - `native`: Beam's `main.ts` as `deno task start` runs it (Deno.serve and
 *   `Deno.upgradeWebSocket`), from the work tree or `--beam-dir`;
 * - `native-cap4`: the same with `MAX_PEERS_PER_IP=4`, so six of the ten
 *   are refused at the upgrade;
 * - `ws`: `node:http` and `npm:ws` with `maxPayload` (frame_cap_servers.ts);
 * - `raw`: a `Deno.listen` server that reads each frame header itself and
 *   closes before reading the payload (frame_cap_servers.ts);
 * - `beam-raw`: Beam's `main.ts` with `SIGNAL_TRANSPORT=raw`, when that
 *   option exists in the tree measured.
 *
 * Usage: `deno run -A bench/frame_cap.ts [--options=native,raw]
 * [--connections=10] [--mib=48] [--runs=1] [--beam-dir=DIR]`
 *
 * @module
 */

import { readFlags } from "./flags.ts";
import {
  freePort,
  spawnProcess,
  type TestProcess,
} from "../tests/_helpers/process.ts";
import { connectWebSocket } from "../tests/_helpers/ws_client.ts";
import { startTask } from "./servers.ts";

const HELP = `Usage: deno run -A bench/frame_cap.ts [flags]
  --options=native,native-cap4,ws,raw   transports to attack (also beam-raw)
  --connections=10   attacking connections, one frame each
  --mib=48           each frame's payload, in MiB
  --runs=1           runs per option (alternating)
  --beam-dir=DIR     Beam's tree for native and beam-raw (default: this one)`;

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const HOST = "127.0.0.1";
const MIB = 1024 * 1024;

/** One attack's result. */
interface Result {
  option: string;
  beforeMiB: number;
  peakGrowthMiB: number;
  afterGrowthMiB: number;
  /** Close codes the attackers saw (or how their connection ended). */
  ends: string[];
  seconds: number;
  alive: boolean;
}

function status(pid: number): { rssKiB: number; hwmKiB: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  return {
    rssKiB: Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? 0),
    hwmKiB: Number(/VmHWM:\s+(\d+)/.exec(text)?.[1] ?? 0),
  };
}

function start(option: string, beamDir: string, port: number): TestProcess {
  // As `deno task start` runs it, read from `beamDir`'s deno.json.
  const task = startTask(beamDir);
  const beam = (env: Record<string, string>) =>
    spawnProcess(Deno.execPath(), {
      args: ["run", ...task.flags, "main.ts"],
      cwd: beamDir,
      env: {
        ...task.env,
        PORT: String(port),
        HOSTNAME: HOST,
        ICE_SERVERS: "[]",
        REDIS_URL: undefined,
        DENO_DEPLOYMENT_ID: undefined,
        ...env,
      },
    });
  switch (option) {
    case "native":
      return beam({});
    case "native-cap4":
      return beam({ MAX_PEERS_PER_IP: "4" });
    case "beam-raw":
      return beam({ SIGNAL_TRANSPORT: "raw" });
    case "ws":
    case "raw":
      return spawnProcess(Deno.execPath(), {
        args: ["run", "-A", "--no-lock", "bench/frame_cap_servers.ts", option],
        cwd: ROOT,
        env: { PORT: String(port), MALLOC_MMAP_THRESHOLD_: "8192" },
      });
    default:
      throw new TypeError(`Cannot measure option "${option}": unknown`);
  }
}

/** Waits until a client gets `assign`: the server is up, and serving. */
async function assigned(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const socket = await connectWebSocket({ port, timeoutMs: 2000 });
      try {
        const first = await socket.readJson();
        if (Array.isArray(first) && first[0] === "assign") return true;
      } finally {
        await socket.close();
      }
    } catch {
      // Not up yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/**
 * One attacker: upgrade, then one text frame of `bytes`, as fast as TCP
 * takes it. Says how it ended: the close code seen (or `no close`), whether
 * the whole frame was written (`write sent`) or the server stopped it, and
 * how reading ended; or the HTTP status of a refused upgrade.
 */
export async function sendOversizedFrame(
  port: number,
  bytes: number,
): Promise<string> {
  const conn = await Deno.connect({ hostname: HOST, port });
  const key = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  await conn.write(new TextEncoder().encode(
    `GET /api/signal HTTP/1.1\r\nHost: ${HOST}:${port}\r\n` +
      "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  ));
  // Read the 101 and whatever follows (`assign`, then the close), and find
  // the close frame's code in what comes after the head.
  const reading = (async () => {
    const chunks: number[] = [];
    const buffer = new Uint8Array(65_536);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        return { chunks, end: (error as Error).name };
      }
      if (n === null) return { chunks, end: "eof" };
      if (chunks.length < 65_536) chunks.push(...buffer.subarray(0, n));
    }
  })();
  // The frame: FIN + text, masked (with a zero key: the payload is as sent),
  // a 64-bit length.
  const header = new Uint8Array(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  new DataView(header.buffer).setBigUint64(2, BigInt(bytes));
  const chunk = new Uint8Array(MIB).fill(0x78);
  let writeEnd = "sent";
  try {
    await conn.write(header);
    for (let sent = 0; sent < bytes; sent += MIB) {
      await conn.write(chunk.subarray(0, Math.min(MIB, bytes - sent)));
    }
  } catch (error) {
    writeEnd = (error as Error).name;
  }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Closed.
    }
  }, 30_000);
  const { chunks, end } = await reading;
  clearTimeout(timer);
  try {
    conn.close();
  } catch {
    // Closed by the timer, or the reset.
  }
  const bytesIn = new Uint8Array(chunks);
  const text = new TextDecoder("latin1").decode(bytesIn);
  const head = text.indexOf("\r\n\r\n");
  let code = "no close";
  // Walk the frames after the head for the close (opcode 8).
  for (let at = head + 4; head !== -1 && at + 2 <= bytesIn.length;) {
    const opcode = bytesIn[at] & 0x0f;
    let length = bytesIn[at + 1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      length = (bytesIn[at + 2] << 8) | bytesIn[at + 3];
      offset = 4;
    }
    if (opcode === 8 && length >= 2) {
      code = String((bytesIn[at + offset] << 8) | bytesIn[at + offset + 1]);
      break;
    }
    at += offset + length;
  }
  const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "?";
  return status === "101" ? `${code} (write ${writeEnd}, ${end})` : status;
}

async function measure(
  option: string,
  beamDir: string,
  connections: number,
  bytes: number,
): Promise<Result> {
  const port = freePort();
  const process = start(option, beamDir, port);
  try {
    if (!await assigned(port, 20_000)) {
      throw new Error(
        `Cannot start ${option}: no assign within 20 s\n${process.stderr}`,
      );
    }
    // Settle after start-up (the first clients' work, a GC or two), then
    // reset the peak to the resident size now.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    Deno.writeTextFileSync(`/proc/${process.pid}/clear_refs`, "5");
    const before = status(process.pid).rssKiB;
    const started = performance.now();
    const ends = await Promise.all(
      Array.from(
        { length: connections },
        () => sendOversizedFrame(port, bytes),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = status(process.pid);
    const alive = await assigned(port, 5000);
    return {
      option,
      beforeMiB: before / 1024,
      peakGrowthMiB: (after.hwmKiB - before) / 1024,
      afterGrowthMiB: (after.rssKiB - before) / 1024,
      ends,
      seconds,
      alive,
    };
  } finally {
    await process.stop();
  }
}

if (import.meta.main) {
  const flags = readFlags(Deno.args, HELP);
  const options = (flags.get("options") ?? "native,native-cap4,ws,raw")
    .split(",").filter((o) => o !== "");
  const connections = Number(flags.get("connections") ?? "10");
  const bytes = Number(flags.get("mib") ?? "48") * MIB;
  const runs = Number(flags.get("runs") ?? "1");
  const beamDir = flags.get("beam-dir") ?? ROOT;
  const results: Result[] = [];
  for (let run = 0; run < runs; run++) {
    for (const option of options) {
      const result = await measure(option, beamDir, connections, bytes);
      results.push(result);
      console.log(JSON.stringify(result));
    }
  }
  console.log(
    `\n${connections} connections x ${bytes / MIB} MiB, one frame each\n`,
  );
  console.log(
    "| option | RSS before (MiB) | peak growth (MiB) | growth 2 s after (MiB) | attack took (s) | how the attackers ended | serves after |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | --- | --- |");
  for (const r of results) {
    const ends = new Map<string, number>();
    for (const end of r.ends) ends.set(end, (ends.get(end) ?? 0) + 1);
    console.log(
      `| ${r.option} | ${r.beforeMiB.toFixed(1)} | ${
        r.peakGrowthMiB.toFixed(1)
      } | ${r.afterGrowthMiB.toFixed(1)} | ${r.seconds.toFixed(1)} | ${
        [...ends].map(([end, n]) => `${n}x ${end}`).join(", ")
      } | ${r.alive ? "yes" : "NO"} |`,
    );
  }
}
