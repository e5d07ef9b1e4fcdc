/**
 * Static files, served from memory: the folders are read once into a map
 * keyed by URL path, so a request can only ever name a file that was listed
 * (no `..`, encoded or not, and no absolute path can reach past the folder).
 * Each file carries a strong ETag from its content; content-hashed build
 * files are cached as immutable.
 *
 * Text files are also held brotli'd and gzipped, and each request gets the
 * coding its `Accept-Encoding` prefers (`./compress.ts`), with its own
 * Content-Length and ETag, and `Vary: Accept-Encoding` on every answer. The
 * build writes `name.br` and `name.gz` beside each file it makes (brotli at
 * its best takes time, and the server must not write files); those are
 * taken as the codings of `name`, not served as files of their own. Text
 * without them (the files of `static/`) is compressed once, in memory, as
 * it is read.
 *
 * @module
 */

import { toHex } from "../transfer/hash.ts";
import {
  ENCODING_SUFFIX,
  isCompressible,
  negotiateEncoding,
  precompress,
  varyOnEncoding,
} from "./compress.ts";

/** One folder to serve under a URL prefix. */
export interface StaticRoot {
  /** Folder on disk. */
  dir: string;
  /** URL path prefix, `""` or like `"/_beam"`. */
  prefix: string;
  /** Whether every file name carries a content hash (cache forever). */
  immutable: boolean;
  /**
   * A folder of codings made ahead by the build for files of `dir` that
   * have none beside them (`static/`, kept in git without them): named by
   * the file's content hash (`contentHash()`) and the coding's suffix, so a
   * file edited since the build is never given the old file's codings.
   */
  codings?: string;
}

/** One coding of a file: its bytes and their ETag. */
interface Variant {
  body: Uint8Array<ArrayBuffer>;
  etag: string;
}

interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  etag: string;
  type: string;
  cacheControl: string;
  /** The compressed codings held, each smaller than the file. */
  encoded: Partial<Record<"br" | "gzip", Variant>>;
}

/** Codings offered, best first. */
const OFFER = ["br", "gzip"] as const;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  map: "application/json",
  webmanifest: "application/manifest+json",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  jpg: "image/jpeg",
  webp: "image/webp",
  txt: "text/plain; charset=utf-8",
  woff2: "font/woff2",
};

/** The hash that names a file's content: its ETag and its build codings. */
export async function contentHash(
  body: Uint8Array<ArrayBuffer>,
): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", body);
  return toHex(new Uint8Array(digest)).slice(0, 32);
}

/** Returns the Content-Type for a file name, by its extension. */
export function contentType(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return TYPES[ext] ?? "application/octet-stream";
}

/** Files from a set of folders, held in memory. */
export class StaticFiles {
  #files: Map<string, StaticFile>;

  private constructor(files: Map<string, StaticFile>) {
    this.#files = files;
  }

  /** Reads every file below the roots. A missing folder is skipped. */
  static async load(roots: StaticRoot[]): Promise<StaticFiles> {
    const files = new Map<string, StaticFile>();
    for (const root of roots) {
      const paths = new Set(await Array.fromAsync(walk(root.dir, "")));
      const codingOf = (path: string) =>
        Object.values(ENCODING_SUFFIX).some((suffix) =>
          path.endsWith(suffix) && paths.has(path.slice(0, -suffix.length))
        );
      for (const path of paths) {
        if (codingOf(path)) continue;
        const body = await Deno.readFile(`${root.dir}${path}`);
        const hash = await contentHash(body);
        const type = contentType(path);
        const encoded: StaticFile["encoded"] = {};
        if (isCompressible(type)) {
          // Beside the file, else made ahead by the build, else made now.
          const read = async (coding: typeof OFFER[number]) => {
            const suffix = ENCODING_SUFFIX[coding];
            if (paths.has(`${path}${suffix}`)) {
              return await Deno.readFile(`${root.dir}${path}${suffix}`);
            }
            if (root.codings === undefined) return null;
            return await Deno.readFile(`${root.codings}/${hash}${suffix}`)
              .catch(() => null);
          };
          const stored = { br: await read("br"), gzip: await read("gzip") };
          const made = stored.br && stored.gzip ? null : precompress(body);
          for (const coding of OFFER) {
            const bytes = stored[coding] ?? made![coding];
            // Tiny files can grow when compressed: those stay as they are.
            if (bytes.byteLength < body.byteLength) {
              encoded[coding] = { body: bytes, etag: `"${hash}-${coding}"` };
            }
          }
        }
        files.set(`${root.prefix}${path}`, {
          body,
          etag: `"${hash}"`,
          type,
          cacheControl: root.immutable
            ? "public, max-age=31536000, immutable"
            : "public, max-age=0, must-revalidate",
          encoded,
        });
      }
    }
    return new StaticFiles(files);
  }

  /** Whether a URL path names a file. */
  has(pathname: string): boolean {
    return this.#files.has(pathname);
  }

  /**
   * Answers a GET or HEAD for `pathname` (as it appears in the URL, still
   * percent-encoded), or returns `undefined` when no such file exists.
   */
  serve(request: Request, pathname: string): Response | undefined {
    let path: string;
    try {
      path = decodeURIComponent(pathname);
    } catch {
      return undefined;
    }
    const file = this.#files.get(path);
    if (file === undefined) return undefined;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("405 Method Not Allowed\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    const coding = negotiateEncoding(
      request.headers.get("accept-encoding"),
      OFFER.filter((c) => file.encoded[c] !== undefined),
    );
    const variant: Variant = coding === "identity"
      ? file
      : file.encoded[coding]!;
    const headers = new Headers({
      "content-type": file.type,
      etag: variant.etag,
      "cache-control": file.cacheControl,
    });
    if (coding !== "identity") headers.set("content-encoding", coding);
    varyOnEncoding(headers);
    if (matchesEtag(request.headers.get("if-none-match"), variant.etag)) {
      return new Response(null, { status: 304, headers });
    }
    headers.set("content-length", String(variant.body.byteLength));
    return new Response(request.method === "HEAD" ? null : variant.body, {
      headers,
    });
  }
}

function matchesEtag(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) =>
    tag.trim().replace(/^W\//, "") === etag
  );
}

async function* walk(dir: string, rel: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(`${dir}${rel}`));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const entry of entries) {
    const path = `${rel}/${entry.name}`;
    if (entry.isDirectory) yield* walk(dir, path);
    else if (entry.isFile) yield path;
  }
}
