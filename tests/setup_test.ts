import assert from "node:assert/strict";
import { cannotInstallMessage, NEEDED, planSetup } from "./setup.ts";
import { PACKAGES } from "./_helpers/services.ts";

/** Runs tests/setup.ts the way `deno task test` does, with `env` added. */
async function runSetup(env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./setup.ts", import.meta.url).pathname],
    env,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("tests/setup.ts on a machine without the programs stops at once with one message naming the packages and the command", async () => {
  const empty = await Deno.makeTempDir({ prefix: "beam-empty-path-" });
  try {
    const { code, stdout, stderr } = await runSetup({ BEAM_SETUP_PATH: empty });
    assert.equal(code, 1);
    assert.equal(stdout, "");
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    const packages = [...new Set(NEEDED.map((p) => PACKAGES[p] ?? p))];
    assert.equal(
      lines[0],
      `The tests need ${
        NEEDED.join(", ")
      }, which are not installed, and this machine cannot install them by itself (no apt-get). ` +
        `Install them with: sudo apt-get install -y ${packages.join(" ")}`,
    );
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("tests/setup.ts says nothing and succeeds when every program is there", async () => {
  const { code, stdout, stderr } = await runSetup({});
  assert.equal(code, 0, stderr);
  assert.equal(stdout + stderr, "");
});

Deno.test("planSetup() names the package of each missing program once", () => {
  const plan = planSetup({ path: "", only: true, isRoot: true });
  assert.deepEqual(plan.missing, [...NEEDED]);
  // redis-server and redis-cli come from one package; turnserver from coturn.
  assert.deepEqual(plan.packages, [
    "chromium",
    "firefox-esr",
    "redis-server",
    "nginx",
    "coturn",
    "unzip",
  ]);
  assert.equal(plan.cannot, "no apt-get");
});

Deno.test("planSetup() will not install as a user who is not root", () => {
  const plan = planSetup({ path: "", only: true, isRoot: false });
  assert.equal(plan.cannot, "not root");
  assert.match(
    cannotInstallMessage(plan),
    /cannot install them by itself \(not root\)\. Install them with: sudo apt-get install -y chromium firefox-esr/,
  );
});

Deno.test("planSetup() plans apt-get as root when apt-get is there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "beam-apt-path-" });
  try {
    await Deno.writeTextFile(`${dir}/apt-get`, "#!/bin/sh\nexit 0\n", {
      mode: 0o755,
    });
    const plan = planSetup({ path: dir, only: true, isRoot: true });
    assert.equal(plan.apt, `${dir}/apt-get`);
    assert.equal(plan.cannot, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cannotInstallMessage() speaks of one program in the singular", () => {
  assert.equal(
    cannotInstallMessage({
      missing: ["turnserver"],
      packages: ["coturn"],
      cannot: "not root",
    }),
    "The tests need turnserver, which is not installed, and this machine cannot install it by itself (not root). Install it with: sudo apt-get install -y coturn",
  );
});
