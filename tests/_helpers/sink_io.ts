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

/** What Python's zipfile reads in `bytes`: its test result and text files. */
export async function pythonZip(
  bytes: Uint8Array,
): Promise<{ bad: string | null; files: Record<string, string> }> {
  const path = await Deno.makeTempFile({ suffix: ".zip" });
  try {
    await Deno.writeFile(path, bytes);
    const output = await new Deno.Command("python3", {
      args: [
        "-c",
        `import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps({"bad": z.testzip(), "files": {i.filename: z.read(i).decode() for i in z.infolist()}}))`,
        path,
      ],
    }).output();
    if (output.code !== 0) {
      throw new Error(
        `Cannot read the zip with Python: ${
          new TextDecoder().decode(output.stderr)
        }`,
      );
    }
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    await Deno.remove(path);
  }
}
