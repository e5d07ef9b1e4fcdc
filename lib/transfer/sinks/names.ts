/**
 * File names and download headers every sink agrees on: a sender's name may
 * hold any letters, and each destination (a folder, a zip, a download) must
 * get one that is safe to save and distinct from the others.
 *
 * @module
 */

/**
 * The name of the zip that several files become. It lives here, not in
 * `zip_sink.ts`, so that a page can name the zip before it loads the zip
 * code (`../destination.ts` loads sinks when a download starts).
 */
export const ZIP_NAME = "beam-files.zip";

/** The most UTF-8 bytes in a name: what ext4, NTFS and APFS all take. */
export const MAX_NAME_BYTES = 255;

/** An extension longer than this is cut with the rest, not kept whole. */
const MAX_EXTENSION_BYTES = 32;

/**
 * Characters that turn the text around them: U+202E (right-to-left
 * override) makes `"invoice\u202Etxt.exe"` show as `invoiceexe.txt`. They
 * become `_`, so the name shows what it really ends with.
 */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Characters that cannot be saved or shown: C0 and C1 controls, line and
 * paragraph separators, lone surrogates, the path separators and what
 * Windows forbids in a name. They become `_`.
 */
const UNSAVABLE = /[\p{Cc}\p{Zl}\p{Zp}\p{Cs}/\\:*?"<>|]/gu;

/**
 * Invisible format characters (zero-width space and joiners, soft hyphen,
 * byte-order mark, tags): they are dropped, so two names that look alike
 * are alike. The zero-width joiner stays between two emoji, where it draws
 * one (👩‍👧) instead of hiding anything.
 */
const INVISIBLE = /[^\P{Cf}\u200d]/gu;
const EMOJI_END = /\p{Extended_Pictographic}[\u{fe0f}\u{1f3fb}-\u{1f3ff}]?$/u;
const EMOJI_START = /^\p{Extended_Pictographic}/u;

/**
 * `text` without zero-width joiners but those between two emoji. (Split,
 * not a lookbehind: Safari before 16.4 cannot parse one, and this module is
 * in the page.)
 */
function dropLooseJoiners(text: string): string {
  return text.split("\u200d").reduce((out, part) =>
    out + (EMOJI_END.test(out) && EMOJI_START.test(part) ? "\u200d" : "") +
    part
  );
}

/**
 * Names Windows keeps for devices, whatever follows the first dot: saving
 * `nul.txt` or `COM1.tar.gz` opens the device, not a file.
 */
const DEVICE =
  /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])\s*(\.|$)/iu;

const encoder = new TextEncoder();

function utf8Length(text: string): number {
  return encoder.encode(text).byteLength;
}

/**
 * The longest start of `text` of at most `max` UTF-8 bytes, cut between
 * graphemes, so neither a character nor an accent or emoji sequence is
 * split.
 */
function cut(text: string, max: number): string {
  let kept = "";
  let bytes = 0;
  // Firefox before 125 has no Segmenter: there the cut is between code
  // points, which still never splits a character.
  const segments = typeof Intl.Segmenter === "function"
    ? Array.from(new Intl.Segmenter().segment(text), (s) => s.segment)
    : Array.from(text);
  for (const segment of segments) {
    bytes += utf8Length(segment);
    if (bytes > max) break;
    kept += segment;
  }
  return kept;
}

/** `name` split at its last dot: `["a.tar", ".gz"]`; `["README", ""]`. */
function splitExtension(name: string): [string, string] {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
}

/**
 * `stem` + `suffix` in at most {@linkcode MAX_NAME_BYTES}: the stem is cut,
 * the suffix (an extension, a number) kept.
 */
function fit(stem: string, suffix: string): string {
  if (utf8Length(stem + suffix) <= MAX_NAME_BYTES) return stem + suffix;
  return cut(stem, MAX_NAME_BYTES - utf8Length(suffix)) + suffix;
}

/**
 * Makes a name from the other side safe to show and to save, on any system:
 *
 * - bidi controls, C0/C1 controls, line separators, `/`, `\` and the
 *   characters Windows forbids become `_`; invisible characters are dropped;
 * - leading dots and spaces (hidden files, `..`) and trailing ones (which
 *   Windows drops) go; nothing left is `file`;
 * - a Windows device name (`CON`, `nul.txt`, `com1.tar.gz`) gets a `_` first;
 * - at most 255 UTF-8 bytes, cut between characters, the extension kept.
 */
export function safeFileName(name: string): string {
  let safe = dropLooseJoiners(name).replace(BIDI, "_").replace(UNSAVABLE, "_")
    .replace(INVISIBLE, "")
    .replace(/^[\s.]+/u, "")
    .replace(/[\s.]+$/u, "");
  if (safe === "") safe = "file";
  if (DEVICE.test(safe)) safe = `_${safe}`;
  if (utf8Length(safe) > MAX_NAME_BYTES) {
    const [stem, extension] = splitExtension(safe);
    safe = utf8Length(extension) <= MAX_EXTENSION_BYTES
      ? fit(stem, extension)
      : cut(safe, MAX_NAME_BYTES);
    // The cut may end the name in a dot or a space again.
    safe = safe.replace(/[\s.]+$/u, "") || "file";
  }
  return safe;
}

/**
 * `"a.txt"` numbered `n`: `"a (n).txt"`, still at most
 * {@linkcode MAX_NAME_BYTES} (the name before the number is cut).
 */
export function numberedName(name: string, n: number): string {
  let [stem, extension] = splitExtension(name);
  // A long extension is numbered as part of the name: the number must stay,
  // or every number would give the same name.
  if (utf8Length(extension) > MAX_EXTENSION_BYTES) {
    [stem, extension] = [name, ""];
  }
  return fit(stem, ` (${n})${extension}`);
}

/**
 * Safe, distinct names for `names`, in order: a repeated name gets " (1)",
 * " (2)" and so on (compared without case, as most file systems do).
 */
export function uniqueNames(names: string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    const safe = safeFileName(name);
    let candidate = safe;
    for (let n = 1; taken.has(candidate.toLowerCase()); n++) {
      candidate = numberedName(safe, n);
    }
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}

/** The most folders a saved path keeps: deeper ones are dropped. */
export const MAX_PATH_DEPTH = 32;

/**
 * Where a file from the other side is saved, relative to the folder or zip
 * it goes into: safe segments, the last one its name. A sender's `path`
 * (`"photos/2024/a.jpg"`) is never trusted as it is:
 *
 * - it is split at `/` only; a `\` (or any other character a name may not
 *   hold) is made safe within its segment by {@linkcode safeFileName}, so
 *   `a\..\b` stays one name and climbs nowhere;
 * - empty, `.` and `..` segments are dropped (`/etc/passwd` is
 *   `etc/passwd`, `a//b` and `a/./b` are `a/b`, `../x` is `x`), so no path
 *   leaves the folder it is saved in;
 * - each folder is made safe like a name; at most
 *   {@linkcode MAX_PATH_DEPTH} folders are kept (the deepest go);
 * - the file's name is the path's last segment, or `meta.name` when the
 *   path has none.
 *
 * Without a `path`, it is `[safeFileName(meta.name)]`, as before folders.
 */
export function safeRelativePath(
  meta: { name: string; path?: string },
): string[] {
  if (typeof meta.path !== "string") return [safeFileName(meta.name)];
  const segments = meta.path.split("/").filter((segment) =>
    segment !== "" && segment !== "." && segment !== ".."
  );
  const name = segments.pop() ?? meta.name;
  const folders = segments.slice(0, MAX_PATH_DEPTH).map(safeFileName);
  return [...folders, safeFileName(name)];
}

/**
 * Safe, distinct relative paths (`/`-joined) for `metas`, in order (see
 * {@linkcode safeRelativePath}): a file whose path is taken, by a file or
 * by a folder, gets " (1)", " (2)" and so on in its name, and so does a
 * folder whose path a file took (compared without case, as most file
 * systems do). Files of one folder stay together in one folder.
 */
export function uniquePaths(
  metas: { name: string; path?: string }[],
): string[] {
  const files = new Set<string>();
  // A folder as sent (made safe, lowercased) to the path it is saved as.
  const folders = new Map<string, string>();
  const used = new Set<string>();
  const taken = (path: string) =>
    files.has(path.toLowerCase()) || used.has(path.toLowerCase());
  return metas.map((meta) => {
    const segments = safeRelativePath(meta);
    const name = segments.pop()!;
    let folder = "";
    for (let i = 0; i < segments.length; i++) {
      const key = segments.slice(0, i + 1).join("/").toLowerCase();
      let saved = folders.get(key);
      if (saved === undefined) {
        saved = folder + segments[i];
        for (let n = 1; files.has(saved.toLowerCase()); n++) {
          saved = folder + numberedName(segments[i], n);
        }
        folders.set(key, saved);
        used.add(saved.toLowerCase());
      }
      folder = `${saved}/`;
    }
    let candidate = folder + name;
    for (let n = 1; taken(candidate); n++) {
      candidate = folder + numberedName(name, n);
    }
    files.add(candidate.toLowerCase());
    return candidate;
  });
}

/** The `Content-Disposition` of a download named `name` (RFC 6266/5987). */
export function contentDisposition(name: string): string {
  const safe = safeFileName(name);
  // An ASCII fallback for old clients, and the exact name in UTF-8.
  const ascii = safe.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const encoded = encodeURIComponent(safe).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * The sender's MIME type if it is a plain `type/subtype` (no parameters),
 * else `application/octet-stream`.
 */
export function mimeType(type: string): string {
  return /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/.test(type)
    ? type.toLowerCase()
    : "application/octet-stream";
}
