/**
 * Helpers for the sink tests: file metadata, and writing files through a
 * sink the way the receiver does (open, chunks, close, then finish).
 *
 * @module
 */

import type { FileMeta, Sink } from "../../lib/transfer/sink.ts";

/** A file's metadata, modified at the epoch. */
export function meta(name: string, size: number, type = ""): FileMeta {
  return { name, size, type, lastModified: 0 };
}

/** Writes each file of `files` into `sink`, in two chunks each. */
export async function writeAll(
  sink: Sink,
  files: [FileMeta, Uint8Array][],
): Promise<void> {
  for (const [file, bytes] of files) {
    const writer = await sink.open(file);
    const half = bytes.length >> 1;
    await writer.write(bytes.subarray(0, half));
    await writer.write(bytes.subarray(half));
    await writer.close();
  }
  await sink.finish();
}

/** A zip as Info-ZIP's `unzip` reads it: its entries, in order. */
export interface ZipView {
  /** Each entry's name and bytes, in the archive's order. */
  entries: [string, Uint8Array][];
  /** The entries as text, by name. */
  files: Record<string, string>;
}

/**
 * Reads a zip with Debian's `unzip` (a reader other than Beam's own, which
 * tests/setup.ts installs): `unzip -t` checks every entry's CRC, `-Z1` lists
 * the names in order, and the archive is extracted to read each entry.
 * Throws with unzip's output when it finds anything wrong.
 */
export async function unzipView(zip: Uint8Array | string): Promise<ZipView> {
  const dir = await Deno.makeTempDir({ prefix: "beam-unzip-" });
  try {
    let path = zip as string;
    if (typeof zip !== "string") {
      path = `${dir}/archive.zip`;
      await Deno.writeFile(path, zip);
    }
    const run = async (...args: string[]) => {
      const output = await new Deno.Command("unzip", { args }).output();
      const text = new TextDecoder().decode(output.stdout);
      if (output.code !== 0) {
        throw new Error(
          `unzip ${args.join(" ")} failed (exit ${output.code}):\n${text}${
            new TextDecoder().decode(output.stderr)
          }`,
        );
      }
      return text;
    };
    await run("-tq", path);
    const names = (await run("-Z1", path)).split("\n").filter((n) => n);
    await run("-qq", path, "-d", `${dir}/out`);
    const entries: [string, Uint8Array][] = [];
    for (const name of names) {
      entries.push([name, await Deno.readFile(`${dir}/out/${name}`)]);
    }
    const decoder = new TextDecoder();
    return {
      entries,
      files: Object.fromEntries(
        entries.map(([n, b]) => [n, decoder.decode(b)]),
      ),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The SHA-256 of `bytes`, in hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Each entry's SHA-256 in hex, by name, in the archive's order. */
export async function zipDigests(
  zip: Uint8Array | string,
): Promise<Record<string, string>> {
  const { entries } = await unzipView(zip);
  const digests: Record<string, string> = {};
  for (const [name, bytes] of entries) digests[name] = await sha256Hex(bytes);
  return digests;
}
