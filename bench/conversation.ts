/**
 * The conversation one pair of peers has through the signaling server, as a
 * browser has it (PROTOCOL.md, "The flow"), and the adapters that put it on
 * the wire of each server under test.
 *
 * Every payload starts with `{"t":<µs>,"s":<step>`: the sender's clock and
 * the step's index, which the receiver reads from the first bytes of the
 * frame without parsing the rest. Beam's `request` has no payload; its
 * latency is timed from the sender's record instead.
 *
 * @module
 */

/** Who sends a step: the receiver of the file (R) or its sender (S). */
export type Role = "R" | "S";

/** One message of the conversation. */
export interface Step {
  /** Beam's event name. */
  event: string;
  /** Who sends it. */
  from: Role;
  /** The payload's text after `{"t":..,"s":..`, up to and with the `}`; null for none. */
  rest: string | null;
}

/** Candidates each way. */
export const CANDIDATES = 10;
/** Progress reports from the receiver. */
export const PROGRESS = 100;

function sdp(kind: string, target: number): string {
  const lines = [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:EsAw",
    "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 3A:C1:7F:6B:2E:90:44:8D:1C:5F:AB:07:9E:62:D4:11:" +
    "8B:39:E6:20:57:CC:A3:0F:94:6D:B8:12:7A:E5:3C:41",
    `a=setup:${kind === "offer" ? "actpass" : "active"}`,
    "a=mid:0",
    "a=sctp-port:5000",
    "a=max-message-size:262144",
  ];
  let text = lines.join("\r\n") + "\r\n";
  // Pad with the candidate lines a non-trickle SDP would carry.
  for (let i = 0; text.length < target; i++) {
    text +=
      `a=candidate:${1467250027 + i} 1 udp 2122260223 192.168.1.${
        10 + (i % 200)
      } ` +
      `${40000 + i} typ host generation 0 network-id ${1 + (i % 4)}\r\n`;
  }
  return text.slice(0, target);
}

function buildScript(): Step[] {
  const steps: Step[] = [];
  // ~300 B: the file info the sender answers with.
  steps.push({ event: "request", from: "R", rest: null });
  steps.push({
    event: "response",
    from: "S",
    rest: ',"name":"holiday-photos-2024-summer-trip.zip","size":734003200,' +
      '"type":"application/zip","lastModified":1719830400000,"chunkSize":65536,' +
      '"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",' +
      '"note":"three hundred bytes of file info, as a browser would send it"}',
  });
  // ~3 KB each: an SDP, with its \r\n escapes, as the browser makes it.
  steps.push({
    event: "offer",
    from: "R",
    rest: `,"type":"offer","sdp":${JSON.stringify(sdp("offer", 2880))}}`,
  });
  const candidate = (i: number) =>
    `,"candidate":"candidate:${842163049 + i} 1 udp 1677729535 192.168.1.${
      20 + i
    } ` +
    `${50000 + i} typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw",` +
    `"sdpMid":"0","sdpMLineIndex":0}`;
  for (let i = 0; i < CANDIDATES; i++) {
    steps.push({ event: "candidate", from: "R", rest: candidate(i) });
  }
  steps.push({
    event: "answer",
    from: "S",
    rest: `,"type":"answer","sdp":${JSON.stringify(sdp("answer", 2880))}}`,
  });
  for (let i = 0; i < CANDIDATES; i++) {
    steps.push({ event: "candidate", from: "S", rest: candidate(100 + i) });
  }
  // ~100 B: bytes received so far.
  for (let i = 0; i < PROGRESS; i++) {
    steps.push({
      event: "progress",
      from: "R",
      rest: `,"received":${(i + 1) * 7340032},"total":734003200}`,
    });
  }
  return steps;
}

/** The 124 steps of one pair's conversation, in order. */
export const SCRIPT: readonly Step[] = buildScript();
/** Index of the offer. */
export const OFFER = 2;
/** Index of the answer. */
export const ANSWER = 3 + CANDIDATES;
/** Index of the first progress report. */
export const FIRST_PROGRESS = ANSWER + 1 + CANDIDATES;

/**
 * The servers under test. `beam-base`: Beam at another commit
 * (`--beam-base`); `beam-redis`: two Beam instances over one redis-server,
 * every pair split between them (the bus phase). Both speak Beam's wire.
 */
export type ServerKind =
  | "beam"
  | "peerjs"
  | "bare"
  | "beam-base"
  | "beam-redis";

/** How one server's wire carries the conversation. */
export interface Adapter {
  /** The upgrade request's target for a peer (PeerJS: the client picks its id). */
  path(id: string): string;
  /**
   * Reads the first frame after the upgrade: the peer's id (Beam's
   * `assign`, or PeerJS's `OPEN` for the id we chose), or throws.
   */
  hello(text: string, chosenId: string): string;
  /** One frame of a step to `to`, with the send time `t` in µs. */
  encode(step: Step, index: number, to: string, t: number): string;
  /** A frame that keeps the peer alive, if the protocol needs one from clients. */
  heartbeat: string | null;
}

const beamAdapter: Adapter = {
  path: () => "/api/signal",
  hello(text) {
    const m = /^\["assign","([A-Za-z0-9_-]+)"\]$/.exec(text);
    if (!m) {
      throw new Error(
        `Cannot start peer: expected assign, got ${text.slice(0, 80)}`,
      );
    }
    return m[1];
  },
  encode(step, index, to, t) {
    return step.rest === null
      ? `["${step.event}","${to}"]`
      : `["${step.event}","${to}",{"t":${t},"s":${index}${step.rest}]`;
  },
  heartbeat: null,
};

/** PeerJS relays only these types; the conversation's events map onto them. */
const PEERJS_TYPE: Record<string, string> = {
  request: "OFFER",
  response: "ANSWER",
  offer: "OFFER",
  answer: "ANSWER",
  candidate: "CANDIDATE",
  progress: "OFFER",
};

const peerjsAdapter: Adapter = {
  path: (id) => `/peerjs?key=peerjs&id=${id}&token=${id.slice(-8)}`,
  hello(text, chosenId) {
    if (text === '{"type":"OPEN"}') return chosenId;
    throw new Error(
      `Cannot start peer: expected OPEN, got ${text.slice(0, 120)}`,
    );
  },
  encode(step, index, to, t) {
    // Beam's request has no payload; here it needs one to carry the clock.
    return `{"type":"${
      PEERJS_TYPE[step.event]
    }","dst":"${to}","payload":{"t":${t},"s":${index}${step.rest ?? "}"}}`;
  },
  // The peerjs client sends this every 5 s; the server drops a peer
  // without one for 60 s (CLI default), relayed traffic does not count.
  heartbeat: '{"type":"HEARTBEAT"}',
};

/** The adapter for a server. */
export function adapterFor(kind: ServerKind): Adapter {
  return kind === "peerjs" ? peerjsAdapter : beamAdapter;
}
