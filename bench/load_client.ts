/**
 * One load-generating process of the signaling benchmark. The parent
 * (`signal_bench.ts`) starts several, sends each commands as JSON lines on
 * stdin, and reads one JSON line back per command on stdout.
 *
 * Commands: `setup` (which server, which ports), `connect` (open peers and
 * pair them), `converse` (every pair runs the whole conversation, closed
 * loop), `paced` (open loop at a fixed rate), `close`, `exit`. Every loop is
 * bounded by a count and a deadline. The sockets are the shared raw client
 * of tests/_helpers/ws_client.ts, pushed: each frame is read as a byte range
 * without decoding it, so the load costs less than the server it measures.
 *
 * @module
 */

import {
  ConnectError,
  connectWebSocket,
  decodeText,
  encodeTextFrame,
  type RawWebSocket,
} from "../tests/_helpers/ws_client.ts";
import { Histogram } from "./stats.ts";
import {
  type Adapter,
  adapterFor,
  ANSWER,
  CANDIDATES,
  FIRST_PROGRESS,
  OFFER,
  PROGRESS,
  SCRIPT,
  type ServerKind,
} from "./conversation.ts";

const HOST = "127.0.0.1";

interface Peer {
  ws: RawWebSocket;
  id: string;
  pair: Pair | null;
  other: Peer | null;
}

interface Pair {
  r: Peer;
  s: Peer;
  reqAt: number;
  answered: boolean;
  sCands: number;
  progSent: number;
  progRecv: number;
  done: boolean;
  /** The last step either end received (-1: none yet). */
  lastStep: number;
}

let kind: ServerKind = "beam";
let adapter: Adapter = adapterFor("beam");
let port = 0;
/**
 * With two ports (several instances over a bus), `connect` opens each pair's
 * requester on the first and its sender on the second: every pair is split.
 */
let ports: number[] = [];
let tag = "c0";
let peers: Peer[] = [];
let pairs: Pair[] = [];
let mode: "idle" | "converse" | "paced" = "idle";
let hist = new Histogram();
let relayed = 0;
let sent = 0;
let window = 4;
let donePairs = 0;
/** When each pair finished, in wall-clock ms: how fairly the server served them. */
let doneAt: number[] = [];
let lastReceiveAt = 0;
let onAllDone: (() => void) | null = null;
let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
let heartbeats = 0;
const unexpected = new Map<string, number>();
const closes = new Map<string, number>();

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function nowUs(): number {
  return Math.round(performance.now() * 1000);
}

/** Wall clock in ms with sub-ms precision, comparable across processes. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** This process's CPU time in ms (utime + stime), from /proc. */
function cpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

// Set by scanStamp: the frame's "t" and "s".
let stampT = 0;
let stampS = 0;

/** Finds `"t":<int>,"s":<int>` in the first bytes of a frame. */
function scanStamp(buf: Uint8Array, start: number, end: number): boolean {
  const limit = Math.min(end, start + 200) - 4;
  for (let i = start; i < limit; i++) {
    if (
      buf[i] === 0x22 && buf[i + 1] === 0x74 && buf[i + 2] === 0x22 &&
      buf[i + 3] === 0x3a
    ) {
      let j = i + 4;
      let t = 0;
      while (j < end && buf[j] >= 0x30 && buf[j] <= 0x39) {
        t = t * 10 + buf[j++] - 0x30;
      }
      j += 5; // ,"s":
      let s = 0;
      while (j < end && buf[j] >= 0x30 && buf[j] <= 0x39) {
        s = s * 10 + buf[j++] - 0x30;
      }
      stampT = t;
      stampS = s;
      return true;
    }
  }
  return false;
}

/** Whether a frame is Beam's `["request",...`, which carries no stamp. */
function isRequest(buf: Uint8Array, start: number): boolean {
  return buf[start + 2] === 0x72 && buf[start + 3] === 0x65 &&
    buf[start + 4] === 0x71;
}

function sendStep(pair: Pair, index: number, t: number): void {
  const step = SCRIPT[index];
  const from = step.from === "R" ? pair.r : pair.s;
  const to = step.from === "R" ? pair.s : pair.r;
  if (index === 0) pair.reqAt = t;
  from.ws.sendText(adapter.encode(step, index, to.id, t));
  sent++;
}

function sendProgress(pair: Pair): void {
  sendStep(pair, FIRST_PROGRESS + pair.progSent, nowUs());
  pair.progSent++;
}

function maybeStartProgress(pair: Pair): void {
  if (!pair.answered || pair.sCands < CANDIDATES || pair.progSent > 0) return;
  while (pair.progSent < Math.min(window, PROGRESS)) sendProgress(pair);
}

/** The closed-loop conversation: each step answers the one before. */
function react(pair: Pair, step: number): void {
  pair.lastStep = step;
  if (step === 0) {
    sendStep(pair, 1, nowUs());
  } else if (step === 1) {
    sendStep(pair, OFFER, nowUs());
    for (let i = 1; i <= CANDIDATES; i++) sendStep(pair, OFFER + i, nowUs());
  } else if (step === OFFER) {
    sendStep(pair, ANSWER, nowUs());
    for (let i = 1; i <= CANDIDATES; i++) sendStep(pair, ANSWER + i, nowUs());
  } else if (step === ANSWER) {
    pair.answered = true;
    maybeStartProgress(pair);
  } else if (step > ANSWER && step < FIRST_PROGRESS) {
    pair.sCands++;
    maybeStartProgress(pair);
  } else if (step >= FIRST_PROGRESS) {
    pair.progRecv++;
    if (pair.progSent < PROGRESS) sendProgress(pair);
    if (pair.progRecv === PROGRESS && !pair.done) {
      pair.done = true;
      doneAt.push(wallMs());
      donePairs++;
      if (donePairs === pairs.length) onAllDone?.();
    }
  }
}

function onFrame(
  peer: Peer,
  buf: Uint8Array,
  start: number,
  end: number,
  binary: boolean,
): void {
  const now = nowUs();
  if (!binary && scanStamp(buf, start, end)) {
    hist.record(now - stampT);
    relayed++;
    lastReceiveAt = now;
    if (mode === "converse" && peer.pair) react(peer.pair, stampS);
  } else if (
    !binary && kind !== "peerjs" && isRequest(buf, start) && peer.pair
  ) {
    hist.record(now - peer.pair.reqAt);
    relayed++;
    lastReceiveAt = now;
    if (mode === "converse") react(peer.pair, 0);
  } else {
    const text = binary
      ? "<binary>"
      : decodeText(buf, start, Math.min(end, start + 48));
    bump(unexpected, text.replace(/"(src|dst)":"[^"]*"/g, '"$1":_'));
  }
}

function randomTag(): string {
  return crypto.randomUUID().slice(0, 8);
}

/** Opens one peer and waits for its first frame (assign or OPEN). */
async function openPeer(
  chosenId: string,
  timeoutMs: number,
  to = port,
): Promise<Peer> {
  const ws = await connectWebSocket({
    hostname: HOST,
    port: to,
    path: adapter.path(chosenId),
    timeoutMs,
  });
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void ws.abort();
      reject(new ConnectError("timeout", "Cannot start peer: no first frame"));
    }, timeoutMs);
    ws.handlers = {
      onMessage(buf, start, end) {
        clearTimeout(timer);
        const text = decodeText(buf, start, end);
        try {
          resolve(adapter.hello(text, chosenId));
        } catch (error) {
          const msg = /"msg":"([^"]*)"/.exec(text)?.[1] ?? text.slice(0, 40);
          reject(new ConnectError(`refused: ${msg}`, (error as Error).message));
          void ws.close();
        }
      },
      onClose(code, reason) {
        clearTimeout(timer);
        reject(
          new ConnectError(
            `closed ${code}${reason ? ` ${reason.slice(0, 60)}` : ""}`,
            reason,
          ),
        );
      },
    };
    ws.start();
  });
  const peer: Peer = { ws, id, pair: null, other: null };
  ws.handlers = {
    onMessage: (buf, start, end, binary) =>
      onFrame(peer, buf, start, end, binary),
    onClose: (code, reason) => {
      // Count what the server or the network did, not our own closing.
      if (reason.endsWith("by client")) return;
      bump(closes, `${code}${reason ? ` ${reason.slice(0, 60)}` : ""}`);
    },
  };
  return peer;
}

/** Opens `n` peers with at most `concurrency` handshakes in flight. */
async function openMany(
  n: number,
  concurrency: number,
  timeoutMs: number,
  deadline: number,
  to = port,
): Promise<
  { opened: Peer[]; errors: Record<string, number> }
> {
  const opened: Peer[] = [];
  const errors = new Map<string, number>();
  let next = 0;
  const prefix = `${tag}x${randomTag()}x`;
  async function lane(): Promise<void> {
    while (next < n && performance.now() < deadline) {
      const i = next++;
      try {
        opened.push(await openPeer(`${prefix}${i}`, timeoutMs, to));
      } catch (error) {
        bump(
          errors,
          error instanceof ConnectError
            ? error.kind
            : String(error).slice(0, 60),
        );
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return { opened, errors: Object.fromEntries(errors) };
}

function startHeartbeats(): void {
  if (adapter.heartbeat === null || heartbeatTimer) return;
  const frame = encodeTextFrame(adapter.heartbeat);
  let at = 0;
  // Every peer once per 5 s, spread over 50 ticks of 100 ms.
  heartbeatTimer = setInterval(() => {
    const slice = Math.ceil(peers.length / 50);
    for (let i = 0; i < slice && peers.length > 0; i++) {
      peers[at % peers.length].ws.sendRaw(frame);
      at++;
      heartbeats++;
    }
  }, 100);
}

async function connect(cmd: Record<string, number>): Promise<unknown> {
  const started = performance.now();
  const open = (n: number, concurrency: number, to: number) =>
    openMany(
      n,
      concurrency,
      cmd.timeoutMs ?? 10_000,
      started + (cmd.deadlineMs ?? 60_000),
      to,
    );
  const concurrency = cmd.concurrency ?? 200;
  let opened: Peer[];
  let errors: Record<string, number>;
  /** Requester and sender of pair k: `ends[2k]`, `ends[2k + 1]`. */
  let ends: Peer[];
  let byPort: number[];
  if (ports.length === 2) {
    // Split pairs: requesters on one instance, senders on the other, with
    // the handshakes in flight shared between the two.
    const half = Math.floor(cmd.n / 2);
    const lanes = Math.max(1, Math.floor(concurrency / 2));
    const [a, b] = await Promise.all([
      open(half, lanes, ports[0]),
      open(half, lanes, ports[1]),
    ]);
    opened = [...a.opened, ...b.opened];
    errors = { ...a.errors };
    for (const [k, v] of Object.entries(b.errors)) {
      errors[k] = (errors[k] ?? 0) + v;
    }
    byPort = [a.opened.length, b.opened.length];
    ends = [];
    for (let i = 0; i < Math.min(a.opened.length, b.opened.length); i++) {
      ends.push(a.opened[i], b.opened[i]);
    }
  } else {
    ({ opened, errors } = await open(cmd.n, concurrency, port));
    ends = opened;
    byPort = [opened.length];
  }
  peers = opened;
  pairs = [];
  for (let i = 0; i + 1 < ends.length; i += 2) {
    const r = ends[i];
    const s = ends[i + 1];
    const pair: Pair = {
      r,
      s,
      reqAt: 0,
      answered: false,
      sCands: 0,
      progSent: 0,
      progRecv: 0,
      done: false,
      lastStep: -1,
    };
    r.pair = pair;
    s.pair = pair;
    r.other = s;
    s.other = r;
    pairs.push(pair);
  }
  startHeartbeats();
  return {
    connected: opened.length,
    byPort,
    pairs: pairs.length,
    errors,
    ms: performance.now() - started,
  };
}

function resetCounters(): void {
  hist = new Histogram();
  relayed = 0;
  sent = 0;
  unexpected.clear();
  closes.clear();
}

function histReport(): Record<string, unknown> {
  return { hist: hist.toSparse(), histMax: hist.max, histSum: hist.sum };
}

async function converse(cmd: Record<string, number>): Promise<unknown> {
  resetCounters();
  window = cmd.window ?? 4;
  donePairs = 0;
  doneAt = [];
  for (const pair of pairs) {
    Object.assign(pair, {
      answered: false,
      sCands: 0,
      progSent: 0,
      progRecv: 0,
      done: false,
      lastStep: -1,
    });
  }
  const cpu0 = cpuMs();
  const startAt = wallMs();
  const t0 = performance.now();
  mode = "converse";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finished = new Promise<boolean>((resolve) => {
    onAllDone = () => resolve(true);
    timer = setTimeout(() => resolve(false), cmd.timeoutMs ?? 120_000);
  });
  if (pairs.length === 0) onAllDone?.();
  for (const pair of pairs) sendStep(pair, 0, nowUs());
  const complete = await finished;
  clearTimeout(timer);
  onAllDone = null;
  mode = "idle";
  const endAt = startAt + (lastReceiveAt / 1000 - t0);
  // Where unfinished pairs stopped: the last step they received, and
  // whether an end was closed meanwhile.
  const stuck: Record<string, number> = {};
  for (const pair of pairs) {
    if (pair.done) continue;
    const key = `last step ${pair.lastStep}${
      pair.r.ws.closed || pair.s.ws.closed ? " (closed)" : ""
    }`;
    stuck[key] = (stuck[key] ?? 0) + 1;
  }
  return {
    complete,
    stuck,
    pairs: pairs.length,
    donePairs,
    doneAt,
    sent,
    relayed,
    startAt,
    endAt: complete ? endAt : wallMs(),
    cpuMs: cpuMs() - cpu0,
    heartbeats,
    unexpected: Object.fromEntries(unexpected),
    closes: Object.fromEntries(closes),
    ...histReport(),
  };
}

async function paced(cmd: Record<string, number>): Promise<unknown> {
  resetCounters();
  mode = "paced";
  const rate = cmd.rate;
  const total = Math.floor(rate * cmd.ms / 1000);
  const count = pairs.length;
  const cpu0 = cpuMs();
  const startAt = wallMs();
  const t0 = performance.now();
  let k = 0;
  let maxLagMs = 0;
  if (count > 0) {
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        const due = Math.min(total, Math.floor((now - t0) * rate / 1000));
        while (k < due) {
          const p = k % count;
          // Each pair walks the script from its own offset, so the mix of
          // sizes is the conversation's throughout.
          const step = (Math.floor(k / count) + p) % SCRIPT.length;
          const scheduled = t0 + k * 1000 / rate;
          if (now - scheduled > maxLagMs) maxLagMs = now - scheduled;
          // Open loop: the latency counts from when the frame was due.
          sendStep(pairs[p], step, Math.round(scheduled * 1000));
          k++;
        }
        if (k >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
  }
  const sendEnd = performance.now();
  const drainUntil = sendEnd + (cmd.drainMs ?? 5000);
  while (relayed < sent && performance.now() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  mode = "idle";
  return {
    sent,
    relayed,
    lost: sent - relayed,
    offeredRate: sent / ((sendEnd - t0) / 1000),
    maxLagMs,
    startAt,
    endAt: wallMs(),
    cpuMs: cpuMs() - cpu0,
    unexpected: Object.fromEntries(unexpected),
    closes: Object.fromEntries(closes),
    ...histReport(),
  };
}

async function closeAll(): Promise<unknown> {
  clearInterval(heartbeatTimer);
  heartbeatTimer = undefined;
  await Promise.all(peers.map((peer) => peer.ws.close()));
  peers = [];
  pairs = [];
  return { closed: true };
}

async function dispatch(cmd: Record<string, unknown>): Promise<unknown> {
  const args = cmd as Record<string, number>;
  switch (cmd.cmd) {
    case "setup":
      kind = cmd.kind as ServerKind;
      adapter = adapterFor(kind);
      port = args.port;
      ports = Array.isArray(cmd.ports) ? (cmd.ports as number[]) : [];
      tag = String(cmd.tag ?? "c0");
      return { ok: true };
    case "connect":
      return await connect(args);
    case "converse":
      return await converse(args);
    case "paced":
      return await paced(args);
    case "close":
      return await closeAll();
    case "exit":
      await closeAll();
      return { exiting: true };
    default:
      throw new TypeError(
        `Cannot run command: unknown ${JSON.stringify(cmd.cmd)}`,
      );
  }
}

async function main(): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Deno.stdin.readable) {
    pending += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() === "") continue;
      const cmd = JSON.parse(line);
      let reply: unknown;
      try {
        reply = await dispatch(cmd);
      } catch (error) {
        reply = { error: String((error as Error)?.stack ?? error) };
      }
      console.log(JSON.stringify({ id: cmd.id, reply }));
      if (cmd.cmd === "exit") Deno.exit(0);
    }
  }
  Deno.exit(0);
}

if (import.meta.main) await main();
