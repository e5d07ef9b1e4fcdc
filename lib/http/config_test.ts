import assert from "node:assert/strict";
import {
  DEFAULT_ICE_SERVERS,
  DEFAULT_TURN_TTL_SECONDS,
  defaultMaxPeers,
  deployWarning,
  loadConfig,
  originAllowed,
  parseAddress,
} from "./config.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "../signal/protocol.ts";

Deno.test("loadConfig() uses the documented defaults for an empty env", () => {
  const config = loadConfig({});
  assert.equal(config.port, 8000);
  assert.equal(config.hostname, "0.0.0.0");
  assert.equal(config.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
  assert.deepEqual(config.iceServers, DEFAULT_ICE_SERVERS);
  assert.deepEqual(config.iceServers, [
    { urls: "stun:stun.l.google.com:19302" },
  ]);
  assert.equal(config.dev, false);
});

Deno.test("loadConfig() treats empty variables as unset", () => {
  const config = loadConfig({
    PORT: "",
    HOSTNAME: "",
    MAX_FRAME_BYTES: "",
    ICE_SERVERS: "",
  });
  assert.equal(config.port, 8000);
  assert.equal(config.hostname, "0.0.0.0");
  assert.equal(config.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
  assert.deepEqual(config.iceServers, DEFAULT_ICE_SERVERS);
});

Deno.test("loadConfig() reads every variable", () => {
  const iceServers = [
    { urls: "stun:127.0.0.1:3478" },
    { urls: ["turn:127.0.0.1:3478"], username: "u", credential: "p" },
  ];
  const config = loadConfig({
    PORT: "8080",
    HOSTNAME: "127.0.0.1",
    MAX_FRAME_BYTES: "4096",
    ICE_SERVERS: JSON.stringify(iceServers),
    BEAM_DEV: "1",
  });
  assert.equal(config.port, 8080);
  assert.equal(config.hostname, "127.0.0.1");
  assert.equal(config.maxFrameBytes, 4096);
  assert.deepEqual(config.iceServers, iceServers);
  assert.equal(config.dev, true);
});

Deno.test("loadConfig() accepts an empty ICE_SERVERS list", () => {
  assert.deepEqual(loadConfig({ ICE_SERVERS: "[]" }).iceServers, []);
});

const BAD: [string, string][] = [
  ["PORT", "abc"],
  ["PORT", "-1"],
  ["PORT", "80.5"],
  ["PORT", "1e3"],
  ["PORT", "65536"],
  ["HOSTNAME", "bad host"],
  ["HOSTNAME", "host/path"],
  ["MAX_FRAME_BYTES", "lots"],
  ["MAX_FRAME_BYTES", "0"],
  ["MAX_FRAME_BYTES", "999999999999"],
  ["ICE_SERVERS", "stun:stun.example"],
  ["ICE_SERVERS", "{}"],
  ["ICE_SERVERS", "null"],
  ["ICE_SERVERS", "[null]"],
  ["ICE_SERVERS", '["stun:127.0.0.1"]'],
  ["ICE_SERVERS", "[{}]"],
  ["ICE_SERVERS", '[{"urls": []}]'],
  ["ICE_SERVERS", '[{"urls": [1]}]'],
  ["ICE_SERVERS", '[{"urls": "stun:x", "username": 1}]'],
  ["ICE_SERVERS", '[{"urls": "stun:x", "credential": {}}]'],
  ["CONNECT_TIMEOUT_MS", "soon"],
  ["CONNECT_TIMEOUT_MS", "10"],
  ["MAX_PEERS", "0"],
  ["MAX_PEERS", "many"],
  ["MAX_PEERS_PER_IP", "-3"],
  ["RATE_LIMIT", "fast"],
  ["RATE_BURST", "0"],
  ["ALLOWED_ORIGINS", "example.com"],
  ["ALLOWED_ORIGINS", "https://example.com/"],
  ["ALLOWED_ORIGINS", "https://a.example, nope"],
  ["REDIS_URL", "localhost:6379"],
  ["REDIS_URL", "http://localhost:6379"],
  ["REDIS_URL", "redis://"],
  ["REDIS_URL", "redis://h:6379/zero"],
  ["TRUST_PROXY", "yes"],
  ["TRUST_PROXY", "10.0.0.0/33"],
  ["TRUST_PROXY", "10.0.0.256"],
  ["TRUST_PROXY", "::1/129"],
  ["TRUST_PROXY", "fe80::1::2"],
];

for (const [name, value] of BAD) {
  Deno.test(`loadConfig() rejects ${name}=${value} naming ${name}`, () => {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (error: unknown) => {
        assert.ok(
          error instanceof TypeError || error instanceof RangeError,
          `expected a TypeError or RangeError, got ${error}`,
        );
        assert.match(error.message, new RegExp(`^Cannot read ${name}: `));
        return true;
      },
    );
  });
}

Deno.test("loadConfig() reads the hardening variables", () => {
  const config = loadConfig({
    CONNECT_TIMEOUT_MS: "5000",
    MAX_PEERS: "123",
    MAX_PEERS_PER_IP: "7",
    RATE_LIMIT: "10",
    RATE_BURST: "40",
    ALLOWED_ORIGINS: "https://beam.example, http://localhost:8000",
  });
  assert.equal(config.connectTimeoutMs, 5000);
  assert.equal(config.maxPeers, 123);
  assert.equal(config.maxPeersPerIp, 7);
  assert.equal(config.rateLimit, 10);
  assert.equal(config.rateBurst, 40);
  assert.deepEqual(config.allowedOrigins, [
    "https://beam.example",
    "http://localhost:8000",
  ]);
  assert.deepEqual(loadConfig({ ALLOWED_ORIGINS: "*" }).allowedOrigins, ["*"]);
  assert.deepEqual(loadConfig({}).allowedOrigins, []);
});

/** The text of /proc/self/limits for a soft open-file limit of `soft`. */
function limits(soft: string): string {
  return `Limit                     Soft Limit           Hard Limit           Units\n` +
    `Max open files            ${soft}                1048576              files\n`;
}

Deno.test("defaultMaxPeers() stays under the open-file limit", () => {
  assert.equal(defaultMaxPeers(limits("20000")), 17_936);
  assert.equal(defaultMaxPeers(limits("1024")), 857);
  assert.equal(defaultMaxPeers(limits("1048576")), 50_000);
  assert.equal(defaultMaxPeers(limits("unlimited")), 10_000);
  assert.equal(defaultMaxPeers(""), 10_000);
});

Deno.test("loadConfig() takes the default MAX_PEERS from the open-file limit it is given", () => {
  assert.equal(loadConfig({}, limits("1024")).maxPeers, 857);
  assert.equal(loadConfig({}, limits("20000")).maxPeers, 17_936);
  assert.equal(loadConfig({}, limits("1048576")).maxPeers, 50_000);
  // No limits to read (not Linux, or no permission): the fixed default.
  assert.equal(loadConfig({}, "").maxPeers, 10_000);
  // MAX_PEERS set wins over any limit.
  assert.equal(loadConfig({ MAX_PEERS: "42" }, limits("1024")).maxPeers, 42);
});

Deno.test("loadConfig() reads REDIS_URL, for redis:// and rediss://", () => {
  assert.equal(loadConfig({}).redisUrl, undefined);
  for (
    const url of [
      "redis://127.0.0.1:6379",
      "redis://:secret@redis.example:6380/2",
      "rediss://user:secret@redis.example:6380",
    ]
  ) {
    assert.equal(loadConfig({ REDIS_URL: url }).redisUrl, url);
  }
});

Deno.test("loadConfig() never echoes a REDIS_URL it rejects: it may hold a password", () => {
  assert.throws(
    () => loadConfig({ REDIS_URL: "http://:hunter2@x" }),
    (error: Error) => !error.message.includes("hunter2"),
  );
});

Deno.test("loadConfig() reads TRUST_PROXY as addresses, CIDR ranges and loopback", () => {
  assert.equal(loadConfig({}).trustProxy, undefined);
  const trusted = loadConfig({
    TRUST_PROXY: "10.1.0.0/16, 192.0.2.7, 2001:db8::/32, loopback",
  }).trustProxy!;
  for (
    const address of [
      "10.1.0.1",
      "10.1.255.255",
      "192.0.2.7",
      "::ffff:192.0.2.7",
      "2001:db8::1",
      "2001:db8:ffff::",
      "127.0.0.1",
      "127.9.9.9",
      "::1",
    ]
  ) assert.ok(trusted(address), address);
  for (
    const address of [
      "10.2.0.1",
      "192.0.2.8",
      "2001:db9::1",
      "::2",
      "8.8.8.8",
      "unknown",
      "",
    ]
  ) assert.ok(!trusted(address), address);
});

Deno.test("parseAddress() reads IPv4 and IPv6 and refuses anything else", () => {
  assert.deepEqual(parseAddress("1.2.3.4"), new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual(
    parseAddress("::1"),
    new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
  );
  assert.deepEqual(
    parseAddress("2001:db8::ff00:42"),
    new Uint8Array([
      0x20,
      0x01,
      0x0d,
      0xb8,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0xff,
      0x00,
      0,
      0x42,
    ]),
  );
  assert.equal(parseAddress("1:2:3:4:5:6:7:8")?.length, 16);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "::1::",
      "1:2:3:4:5:6:7:8:9",
      "g::1",
      "1.2.3.4/8",
    ]
  ) assert.equal(parseAddress(bad), undefined, bad);
});

Deno.test("deployWarning() warns on Deno Deploy without REDIS_URL, and only then", () => {
  const deploy = { DENO_DEPLOYMENT_ID: "abc123" };
  const warning = deployWarning(deploy, loadConfig(deploy));
  assert.match(warning ?? "", /REDIS_URL/);
  assert.match(warning ?? "", /several instances/);
  const withRedis = { ...deploy, REDIS_URL: "redis://r.example:6379" };
  assert.equal(deployWarning(withRedis, loadConfig(withRedis)), undefined);
  assert.equal(deployWarning({}, loadConfig({})), undefined);
});

Deno.test("loadConfig() picks the raw signaling transport off Deno Deploy and the native one on it", () => {
  assert.equal(loadConfig({}, "").signalTransport, "raw");
  assert.equal(
    loadConfig({ DENO_DEPLOYMENT_ID: "abc" }, "").signalTransport,
    "native",
  );
  assert.equal(
    loadConfig({ SIGNAL_TRANSPORT: "native" }, "").signalTransport,
    "native",
  );
  assert.throws(() => loadConfig({ SIGNAL_TRANSPORT: "ws" }, ""), {
    message: 'Cannot read SIGNAL_TRANSPORT: "ws" is not native or raw',
  });
});

const TURN_SECRET = "0123456789abcdef0123456789abcdef";

Deno.test("loadConfig() reads TURN_SECRET, TURN_URLS and TURN_TTL", () => {
  assert.equal(loadConfig({}).turn, undefined);
  const config = loadConfig({
    TURN_SECRET,
    TURN_URLS:
      "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:443?transport=tcp,turn:[::1]:3478,turn:10.0.0.1",
    TURN_TTL: "600",
  });
  assert.deepEqual(config.turn, {
    secret: TURN_SECRET,
    urls: [
      "turn:turn.example.com:3478?transport=udp",
      "turns:turn.example.com:443?transport=tcp",
      "turn:[::1]:3478",
      "turn:10.0.0.1",
    ],
    ttlSeconds: 600,
    clockOffsetSeconds: 0,
  });
  assert.equal(
    loadConfig({ TURN_SECRET, TURN_URLS: "turn:t.example" }).turn?.ttlSeconds,
    DEFAULT_TURN_TTL_SECONDS,
  );
  assert.equal(DEFAULT_TURN_TTL_SECONDS, 3600);
});

const BAD_TURN: [string, Record<string, string>][] = [
  ["TURN_SECRET", { TURN_URLS: "turn:t.example" }],
  ["TURN_URLS", { TURN_SECRET }],
  ["TURN_TTL", { TURN_TTL: "600" }],
  ["TURN_SECRET", { TURN_SECRET: "short", TURN_URLS: "turn:t.example" }],
  ["TURN_URLS", { TURN_SECRET, TURN_URLS: "stun:t.example:3478" }],
  ["TURN_URLS", { TURN_SECRET, TURN_URLS: "https://t.example" }],
  ["TURN_URLS", { TURN_SECRET, TURN_URLS: "turn:t.example:99999" }],
  ["TURN_URLS", { TURN_SECRET, TURN_URLS: "turn:t.example?transport=sctp" }],
  ["TURN_URLS", { TURN_SECRET, TURN_URLS: "turn:t.example, turn:" }],
  ["TURN_URLS", { TURN_SECRET, TURN_URLS: "turn:[zz::1]:3478" }],
  ["TURN_TTL", { TURN_SECRET, TURN_URLS: "turn:t.example", TURN_TTL: "10" }],
  ["TURN_TTL", { TURN_SECRET, TURN_URLS: "turn:t.example", TURN_TTL: "1h" }],
  ["BEAM_TEST_ICE_POLICY", { BEAM_TEST_ICE_POLICY: "relay-only" }],
  ["BEAM_TEST_TURN_CLOCK_OFFSET", {
    TURN_SECRET,
    TURN_URLS: "turn:t.example",
    BEAM_TEST_TURN_CLOCK_OFFSET: "-2h",
  }],
];

for (const [name, env] of BAD_TURN) {
  Deno.test(`loadConfig() rejects ${JSON.stringify(env)} naming ${name}`, () => {
    assert.throws(() => loadConfig(env), (error: unknown) => {
      assert.ok(error instanceof TypeError || error instanceof RangeError);
      assert.match(error.message, new RegExp(`^Cannot read ${name}: `));
      return true;
    });
  });
}

Deno.test("loadConfig() never echoes TURN_SECRET in an error", () => {
  assert.throws(
    () => loadConfig({ TURN_SECRET: "hunter2", TURN_URLS: "turn:t.example" }),
    (error: Error) => !error.message.includes("hunter2"),
  );
});

Deno.test("loadConfig() reads the test-only switches BEAM_TEST_ICE_POLICY and BEAM_TEST_TURN_CLOCK_OFFSET", () => {
  assert.equal(loadConfig({}).testIcePolicy, undefined);
  assert.equal(
    loadConfig({ BEAM_TEST_ICE_POLICY: "all" }).testIcePolicy,
    undefined,
  );
  assert.equal(
    loadConfig({ BEAM_TEST_ICE_POLICY: "relay" }).testIcePolicy,
    "relay",
  );
  assert.equal(
    loadConfig({
      TURN_SECRET,
      TURN_URLS: "turn:t.example",
      BEAM_TEST_TURN_CLOCK_OFFSET: "-7200",
    }).turn?.clockOffsetSeconds,
    -7200,
  );
});

Deno.test("originAllowed() takes the server's own host, listed origins and *", () => {
  const request = new Request("http://beam.test/api/ice", {
    headers: { host: "beam.test" },
  });
  assert.ok(originAllowed("https://beam.test", request, []));
  assert.ok(!originAllowed("https://evil.example", request, []));
  assert.ok(originAllowed("https://a.example", request, ["https://a.example"]));
  assert.ok(originAllowed("https://evil.example", request, ["*"]));
  assert.ok(!originAllowed("null", request, []));
});
