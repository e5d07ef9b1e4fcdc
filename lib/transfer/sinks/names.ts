/**
 * File names and download headers every sink agrees on: a sender's name may
 * hold any letters, and each destination (a folder, a zip, a download) must
 * get one that is safe to save and distinct from the others.
 *
 * @module
 */

/**
 * Makes a sender's file name safe to save: no path separators, no control
 * characters, none of the characters Windows forbids, no trailing dots or
 * spaces, not `.` or `..`, at most 200 characters (the extension kept).
 */
export function safeFileName(name: string): string {
  // deno-lint-ignore no-control-regex
  let safe = name.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, "_")
    .replace(/^\s+/, "")
    .replace(/[\s.]+$/, "");
  if (safe === "" || safe === "." || safe === "..") safe = "file";
  const chars = Array.from(safe);
  if (chars.length > 200) {
    const dot = safe.lastIndexOf(".");
    const ext = dot > 0 ? Array.from(safe.slice(dot)) : [];
    const keep = ext.length <= 20 ? ext : [];
    safe = chars.slice(0, 200 - keep.length).join("") + keep.join("");
  }
  return safe;
}

/** `"a.txt"` numbered `n`: `"a (n).txt"`. */
export function numberedName(name: string, n: number): string {
  const dot = name.lastIndexOf(".");
  return dot > 0
    ? `${name.slice(0, dot)} (${n})${name.slice(dot)}`
    : `${name} (${n})`;
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
