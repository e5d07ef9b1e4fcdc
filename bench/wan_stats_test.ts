import assert from "node:assert/strict";
import {
  difference,
  linkMBps,
  parseCondition,
  parseRelayLine,
  parseUdpSnmp,
  rows,
  wanMarkdown,
  type WanRecord,
} from "./wan_stats.ts";

Deno.test("parseCondition() reads the rate, the RTT and the loss", () => {
  const c = parseCondition("80ms-100M-0.5%");
  assert.deepEqual(c.link.rttMs, 80);
  assert.deepEqual(c.link.rateBps, 100e6);
  assert.deepEqual(c.link.loss, 0.005);
  assert.deepEqual(c.link.lossDirs, "both");
  // One bandwidth-delay product: 12.5 MB/s × 80 ms.
  assert.deepEqual(c.link.queueBytes, 1_000_000);
});

Deno.test("parseCondition() keeps the queue at 64 KiB at least", () => {
  assert.deepEqual(parseCondition("1ms-10M").link.queueBytes, 65536);
});

Deno.test("parseCondition() reads nodelay as no limit at all", () => {
  const c = parseCondition("nodelay");
  assert.deepEqual(c.link.rateBps, 0);
  assert.deepEqual(c.link.rttMs, 0);
  assert.deepEqual(Number.isNaN(linkMBps(c.link)), true);
});

Deno.test("parseCondition() rejects a name it cannot read", () => {
  assert.throws(
    () => parseCondition("80-100"),
    (e) => e instanceof TypeError && e.message.includes("Cannot read"),
  );
  assert.throws(() => parseCondition("80ms-0M"), RangeError);
});

Deno.test("parseRelayLine() reads both directions' counters", () => {
  const dir = (n: number) => ({
    packetsIn: n,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    dropsLoss: 0,
    dropsQueue: 0,
    dropsSlots: 0,
    maxQueueBytes: 0,
    maxInFlight: 0,
    lateMeanUs: 0,
    lateMaxUs: 0,
    lateOver1ms: 0,
  });
  const line = JSON.stringify({ event: "stats", ab: dir(3), ba: dir(4) });
  const counters = parseRelayLine(line);
  assert.deepEqual(counters.ab.packetsIn, 3);
  assert.deepEqual(counters.ba.packetsIn, 4);
});

Deno.test("parseRelayLine() rejects a line without counters", () => {
  assert.throws(
    () => parseRelayLine("ready"),
    (e) => e instanceof SyntaxError && e.message.includes("not JSON"),
  );
  assert.throws(
    () => parseRelayLine('{"event":"set"}'),
    (e) => e instanceof TypeError && e.message.includes("no ab"),
  );
});

Deno.test("parseUdpSnmp() reads the Udp: counters", () => {
  const text = [
    "Ip: Forwarding DefaultTTL",
    "Ip: 1 64",
    "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors",
    "Udp: 100 0 7 50 7",
    "UdpLite: InDatagrams",
    "UdpLite: 0",
  ].join("\n");
  const udp = parseUdpSnmp(text);
  assert.deepEqual(udp.InDatagrams, 100);
  assert.deepEqual(udp.RcvbufErrors, 7);
  assert.deepEqual(difference({ a: 5, b: 2 }, { a: 3 }), { a: 2, b: 2 });
});

function record(name: string, round: number, mbps: number): WanRecord {
  return {
    kind: "run",
    condition: "80ms-100M",
    name,
    mode: name.startsWith("raw") ? "raw" : "app",
    lanes: 1,
    round,
    bytes: 1,
    seconds: 1,
    mbps,
  };
}

Deno.test("rows() gives medians per row, leaving out round 0", () => {
  const records = [
    record("raw ×1", 0, 100),
    record("raw ×1", 1, 2),
    record("raw ×1", 2, 4),
    record("raw ×4", 1, 8),
  ];
  assert.deepEqual(rows(records, "80ms-100M"), [
    { name: "raw ×1", runs: 2, mbps: 3, min: 2, max: 4 },
    { name: "raw ×4", runs: 1, mbps: 8, min: 8, max: 8 },
  ]);
});

Deno.test("wanMarkdown() gives ratios to raw ×1 and to the link", () => {
  const md = wanMarkdown(
    [record("raw ×1", 1, 2.5), record("raw ×4", 1, 10)],
    [parseCondition("80ms-100M")],
  );
  assert.deepEqual(md.includes("| raw ×4 | 1 | 10 | 10–10 | 4 | 0.8 |"), true);
  assert.deepEqual(md.includes("(link 12.5 MB/s, queue 977 KiB)"), true);
});
