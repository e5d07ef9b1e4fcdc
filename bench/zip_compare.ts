/**
 * The zip writer Beam keeps (`lib/transfer/zip.ts`, its CRC-32 from
 * hash-wasm) against client-zip (npm, streaming, ZIP64): the same input
 * through each, in one process, alternating runs, so that both see the
 * same noise. The input is what a
 * receiver zips: data-channel chunks of 256 KiB (the app's chunk size),
 * pseudo-random (nothing compresses; both writers store). Each archive
 * also goes to `unzip -t` once, and its length to each writer's own
 * prediction, so that a fast writer is also a right one.
 *
 * ```sh
 * deno run -A bench/zip_compare.ts             # 256 MiB, 1,000 x 64 KiB; 9 rounds
 * deno run -A bench/zip_compare.ts --rounds=3
 * ```
 *
 * Prints one line per run, then per input each writer's median rate and
 * the median of the per-round ratios (the figure to compare).
 *
 * @module
 */

import { makeZip, predictLength } from "client-zip";
import type { FileMeta } from "../lib/transfer/sink.ts";
import { zipSize, ZipWriter } from "../lib/transfer/zip.ts";
import { readFlags } from "./flags.ts";

const HELP = `Usage: deno run -A bench/zip_compare.ts [flags]
  --rounds=9   rounds; each runs both writers on both inputs, alternating`;

const CHUNK = 256 << 10;
const rounds = Number(readFlags(Deno.args, HELP).get("rounds") ?? 9);

/** Pseudo-random bytes (xorshift32): the same input for every run. */
function pattern(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, size);
}

interface Input {
  label: string;
  files: FileMeta[];
}

const source = pattern(CHUNK, 7);
/** The chunks of a file of `size` bytes, each a fresh view, as received. */
function* chunks(size: number): Generator<Uint8Array> {
  for (let at = 0; at < size; at += CHUNK) {
    yield source.subarray(0, Math.min(CHUNK, size - at));
  }
}

const inputs: Input[] = [
  {
    label: "1 file of 256 MiB",
    files: [{ name: "big.bin", size: 256 << 20, type: "", lastModified: 0 }],
  },
  {
    label: "1,000 files of 64 KiB",
    files: Array.from({ length: 1000 }, (_, i) => ({
      name: `file ${i}.bin`,
      size: 64 << 10,
      type: "",
      lastModified: 0,
    })),
  },
];

type Sink = (bytes: Uint8Array) => void;

async function zipTs(files: FileMeta[], sink: Sink): Promise<number> {
  const zip = new ZipWriter((bytes) => {
    sink(bytes);
    return Promise.resolve();
  });
  for (const file of files) {
    const entry = zip.add(file);
    for (const chunk of chunks(file.size)) await entry.write(chunk);
    await entry.close();
  }
  await zip.finish();
  return zipSize(files);
}

async function clientZip(files: FileMeta[], sink: Sink): Promise<number> {
  // client-zip pulls each file from a stream; the receiver pushes chunks,
  // so each file is a stream of its chunks (what an adapter would do).
  const entries = files.map((file) => ({
    name: file.name,
    size: file.size,
    lastModified: new Date(file.lastModified),
    input: ReadableStream.from(chunks(file.size)),
  }));
  for await (const bytes of makeZip(entries)) sink(bytes);
  return Number(
    predictLength(files.map((f) => ({ name: f.name, size: f.size }))),
  );
}

const writers = {
  "zip.ts (hash-wasm CRC)": zipTs,
  "client-zip 2.5.1": clientZip,
};

/** Writes one archive to a file and has `unzip -t` test it. */
async function check(
  name: string,
  write: typeof zipTs,
  files: FileMeta[],
): Promise<void> {
  const path = await Deno.makeTempFile({ suffix: ".zip" });
  const parts: Uint8Array[] = [];
  let length = 0;
  const predicted = await write(files, (bytes) => {
    parts.push(bytes.slice());
    length += bytes.length;
  });
  try {
    const out = await Deno.open(path, { write: true });
    for (const part of parts) await out.write(part);
    out.close();
    const { code } = await new Deno.Command("unzip", {
      args: ["-tqq", path],
    }).output();
    if (code !== 0) throw new Error(`Cannot trust ${name}: unzip -t failed`);
    if (predicted !== length) {
      throw new Error(
        `Cannot trust ${name}: it predicted ${predicted} bytes, wrote ${length}`,
      );
    }
  } finally {
    await Deno.remove(path);
  }
}

const small = [{ name: "a.txt", size: 5 }, { name: "b 後.bin", size: 700_000 }]
  .map((f) => ({ ...f, type: "", lastModified: Date.UTC(2024, 4, 6) }));
for (const [name, write] of Object.entries(writers)) {
  await check(name, write, small);
}

const results: Record<string, number[]> = {};
for (let round = 1; round <= rounds; round++) {
  for (const input of inputs) {
    const bytes = input.files.reduce((sum, f) => sum + f.size, 0);
    // Alternate which goes first, so neither always runs on a warmer heap.
    const order = Object.entries(writers);
    if (round % 2 === 0) order.reverse();
    for (const [name, write] of order) {
      let written = 0;
      const started = performance.now();
      await write(input.files, (chunk) => written += chunk.length);
      const seconds = (performance.now() - started) / 1000;
      const rate = bytes / 2 ** 20 / seconds;
      (results[`${input.label}: ${name}`] ??= []).push(rate);
      console.log(
        `round ${round}  ${input.label}  ${name}  ${rate.toFixed(0)} MiB/s`,
      );
    }
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
// On a shared machine the rates swing with the load; the ratio of two
// runs of one round, back to back, swings much less.
const [mine, theirs] = Object.keys(writers);
console.log(
  `\nMedians of ${rounds} rounds: MiB/s of input, and ${mine} / ${theirs} ` +
    "per round (median, lowest, highest)",
);
for (const input of inputs) {
  const a = results[`${input.label}: ${mine}`];
  const b = results[`${input.label}: ${theirs}`];
  const ratios = a.map((rate, i) => rate / b[i]);
  console.log(
    `| ${input.label} | ${median(a).toFixed(0)} | ${median(b).toFixed(0)} | ${
      median(ratios).toFixed(2)
    } (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`,
  );
}
