import assert from "node:assert/strict";
import { Histogram, median, round } from "./stats.ts";
import { adapterFor, SCRIPT } from "./conversation.ts";
import { argWithoutMachinePath, ROOT, withoutMachinePath } from "./servers.ts";

Deno.test("Histogram.quantile() is within 2 % of the exact quantile", () => {
  const h = new Histogram();
  const values: number[] = [];
  for (let i = 1; i <= 10_000; i++) {
    const v = i * i / 100; // 0.01 µs .. 1 s, skewed
    values.push(v);
    h.record(v);
  }
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = values[Math.ceil(q * values.length) - 1];
    const got = h.quantile(q);
    assert(Math.abs(got - exact) / exact < 0.02, `q${q}: ${got} vs ${exact}`);
  }
});

Deno.test("Histogram.fromSparse() round-trips toSparse() and add() sums", () => {
  const a = new Histogram();
  const b = new Histogram();
  for (let i = 0; i < 1000; i++) a.record(i);
  for (let i = 0; i < 500; i++) b.record(10 * i);
  const c = Histogram.fromSparse(a.toSparse(), a.max, a.sum);
  assert.equal(c.count, 1000);
  assert.equal(c.quantile(0.5), a.quantile(0.5));
  c.add(b);
  assert.equal(c.count, 1500);
  assert.equal(c.max, 4990);
});

Deno.test("median() and round() behave on small inputs", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert(Number.isNaN(median([NaN])));
  assert.equal(round(12345.678), 12346);
  assert.equal(round(0.0123456), 0.0123);
});

Deno.test("the conversation has the sizes the benchmark claims", () => {
  const beam = adapterFor("beam");
  const to = "AAAAAAAAAAAAAAAA";
  const size = (i: number) =>
    beam.encode(SCRIPT[i], i, to, 12_345_678_901).length;
  assert.equal(SCRIPT.length, 124);
  assert(size(1) > 250 && size(1) < 350, `response ${size(1)}`);
  assert(size(2) > 2900 && size(2) < 3100, `offer ${size(2)}`);
  assert(size(3) > 170 && size(3) < 230, `candidate ${size(3)}`);
  assert(size(123) > 80 && size(123) < 120, `progress ${size(123)}`);
  for (let i = 0; i < SCRIPT.length; i++) {
    // Every frame is valid JSON, so Beam relays it.
    JSON.parse(beam.encode(SCRIPT[i], i, to, 1));
    JSON.parse(adapterFor("peerjs").encode(SCRIPT[i], i, to, 1));
  }
});

Deno.test("withoutMachinePath() keeps no folder of this machine in a result", () => {
  assert.equal(
    withoutMachinePath(`${ROOT}/bench/results/x.json`),
    "bench/results/x.json",
  );
  assert.equal(
    withoutMachinePath("/tmp/beam-base-final1.json"),
    "<outside the repository>/beam-base-final1.json",
  );
  assert.equal(withoutMachinePath("out.json"), "out.json");
  assert.equal(
    argWithoutMachinePath("--out=/home/me/x.json"),
    "--out=<outside the repository>/x.json",
  );
  assert.equal(argWithoutMachinePath("--n=100"), "--n=100");
});
