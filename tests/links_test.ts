/**
 * Every link in the project's Markdown resolves: a relative link names a
 * file inside the repository (never outside it), a `#anchor` names a heading
 * of its target as GitHub makes anchors, a reference link has its
 * definition, and an http(s) link is a well-formed URL (not fetched: no
 * network in tests).
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The Markdown files whose links must resolve. */
async function markdownFiles(): Promise<string[]> {
  const files = ["README.md", "CONTRIBUTING.md", "bench/README.md"];
  for await (const entry of Deno.readDir(join(ROOT, "docs"))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  return files.sort();
}

/** One link: where it is, and where it points. */
interface MarkdownLink {
  line: number;
  target: string;
}

/**
 * The text with code blocks and code spans blanked out (same length, same
 * lines), so that a `[x](y)` shown as code is not taken for a link.
 */
function withoutCode(text: string): string {
  const blank = (part: string) => part.replace(/[^\n]/g, " ");
  return text
    .replace(
      /^( {0,3})(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:^\1?\2[`~]*[ \t]*$|$(?![\s\S]))/gm,
      blank,
    )
    .replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, blank);
}

function lineAt(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

/** Inline links and images, reference definitions, and full references. */
function linksOf(markdown: string): {
  links: MarkdownLink[];
  definitions: Set<string>;
  references: MarkdownLink[];
} {
  const text = withoutCode(markdown);
  const links: MarkdownLink[] = [];
  const inline =
    /!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*(<[^>\n]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
  for (const match of text.matchAll(inline)) {
    links.push({
      line: lineAt(text, match.index),
      target: match[2].replace(/^<|>$/g, ""),
    });
  }
  const definitions = new Set<string>();
  const definition = /^ {0,3}\[([^\]]+)\]:[ \t]*(<[^>\n]*>|\S+)/gm;
  for (const match of text.matchAll(definition)) {
    definitions.add(label(match[1]));
    links.push({
      line: lineAt(text, match.index),
      target: match[2].replace(/^<|>$/g, ""),
    });
  }
  const references: MarkdownLink[] = [];
  for (const match of text.matchAll(/\]\[([^\]]+)\]/g)) {
    references.push({ line: lineAt(text, match.index), target: match[1] });
  }
  return { links, definitions, references };
}

/** A reference label as Markdown matches it: case and spaces folded. */
function label(text: string): string {
  return text.trim().replace(/\s+/g, " ").toLowerCase();
}

/**
 * The anchor GitHub gives a heading: lower case, markup and punctuation
 * dropped (letters, digits, `-`, `_` and spaces kept), spaces as `-`.
 */
function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor of a Markdown file, numbered for repeats as GitHub does. */
function anchorsOf(markdown: string): Set<string> {
  const text = withoutCode(markdown);
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const add = (heading: string) => {
    const base = slug(heading.trim());
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  };
  // Code spans were blanked: read heading text from the original lines.
  const lines = markdown.split("\n");
  const blanked = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const atx = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(
      blanked[i],
    );
    if (atx) {
      add(
        lines[i].replace(/^ {0,3}#{1,6}[ \t]+/, "").replace(
          /[ \t]+#+[ \t]*$/,
          "",
        ).replace(/`/g, ""),
      );
      continue;
    }
    if (
      i > 0 && /^ {0,3}(=+|-+)[ \t]*$/.test(blanked[i]) &&
      blanked[i - 1].trim() !== "" && !/^ {0,3}[-*+>#]/.test(blanked[i - 1])
    ) {
      add(lines[i - 1].replace(/`/g, ""));
    }
  }
  for (const match of markdown.matchAll(/<a\s[^>]*(?:name|id)="([^"]+)"/g)) {
    anchors.add(match[1]);
  }
  return anchors;
}

/** What is wrong with one link of `file` (a path from the root), or null. */
async function problemOf(
  file: string,
  target: string,
  anchors: (path: string) => Promise<Set<string>>,
): Promise<string | null> {
  if (/^https?:/i.test(target)) {
    try {
      const url = new URL(target);
      if (!url.hostname.includes(".") && url.hostname !== "localhost") {
        return `${target}: no domain`;
      }
      return /\s/.test(target) ? `${target}: a space in the URL` : null;
    } catch {
      return `${target}: not a URL`;
    }
  }
  if (/^mailto:[^@\s]+@[^@\s]+$/.test(target)) return null;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
    return `${target}: neither http(s) nor a path in the repository`;
  }
  const [rawPath, anchor] = target.split("#", 2) as [string, string?];
  const path = decodeURIComponent(rawPath);
  if (path.startsWith("/")) {
    return `${target}: an absolute path (use one relative to ${file})`;
  }
  const absolute = path === ""
    ? join(ROOT, file)
    : resolve(ROOT, dirname(file), path);
  const inside = relative(ROOT, absolute);
  if (inside.startsWith("..") || inside === "" && path !== "") {
    return `${target}: outside the repository`;
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(absolute);
  } catch {
    return `${target}: ${inside} does not exist`;
  }
  if (anchor === undefined || anchor === "") return null;
  if (!info.isFile || !inside.endsWith(".md")) {
    return `${target}: an anchor into ${inside}, which is not Markdown`;
  }
  return (await anchors(inside)).has(anchor)
    ? null
    : `${target}: ${inside} has no heading for #${anchor}`;
}

Deno.test("every link in README, CONTRIBUTING, docs and bench/README resolves", async () => {
  const cache = new Map<string, Promise<Set<string>>>();
  const anchors = (path: string) => {
    let found = cache.get(path);
    if (found === undefined) {
      found = Deno.readTextFile(join(ROOT, path)).then(anchorsOf);
      cache.set(path, found);
    }
    return found;
  };
  const problems: string[] = [];
  let checked = 0;
  for (const file of await markdownFiles()) {
    const text = await Deno.readTextFile(join(ROOT, file));
    const { links, definitions, references } = linksOf(text);
    for (const link of links) {
      checked++;
      const problem = await problemOf(file, link.target, anchors);
      if (problem !== null) problems.push(`${file}:${link.line}: ${problem}`);
    }
    for (const reference of references) {
      if (!definitions.has(label(reference.target))) {
        problems.push(
          `${file}:${reference.line}: [${reference.target}] is not defined`,
        );
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked > 20, `only ${checked} links found`);
});

Deno.test("slug() makes GitHub's anchors", () => {
  assert.equal(
    slug("What Beam adds to the contract"),
    "what-beam-adds-to-the-contract",
  );
  assert.equal(slug("GET /api/ice"), "get-apiice");
  assert.equal(slug("The receiver's session id"), "the-receivers-session-id");
  assert.equal(slug("Close codes"), "close-codes");
  assert.equal(slug("`retry`"), "retry");
  assert.equal(slug("Safari & iOS (WebKit)"), "safari--ios-webkit");
  assert.equal(slug("[Link](x.md) here"), "link-here");
  assert.equal(slug("Größe 2"), "größe-2");
});

Deno.test("anchorsOf() numbers repeated headings and skips code", () => {
  const anchors = anchorsOf(
    "# A\n\n## A\n\n```\n# Not a heading\n```\n\nSetext\n------\n\n## `code` B\n",
  );
  assert.deepEqual([...anchors].sort(), ["a", "a-1", "code-b", "setext"]);
});

Deno.test("linksOf() finds inline, wrapped, reference and image links, not code", () => {
  const { links, definitions, references } = linksOf(
    [
      'See [the\nprotocol](docs/protocol.md#keys "title") and ![a](x.png).',
      "`[not](a-link.md)` and [ref][Some Ref].",
      "",
      "```",
      "[not](either.md)",
      "```",
      "",
      "[some ref]: https://example.com/x",
    ].join("\n"),
  );
  assert.deepEqual(links.map((l) => l.target), [
    "docs/protocol.md#keys",
    "x.png",
    "https://example.com/x",
  ]);
  assert.deepEqual([...definitions], ["some ref"]);
  assert.deepEqual(references.map((r) => r.target), ["Some Ref"]);
});

Deno.test("a link outside the repository is refused", async () => {
  const none = () => Promise.resolve(new Set<string>());
  assert.match(
    (await problemOf("README.md", "../shared/spec/PROTOCOL.md", none))!,
    /outside the repository/,
  );
  assert.match(
    (await problemOf("README.md", "/work/shared/spec/PROTOCOL.md", none))!,
    /absolute path/,
  );
  assert.match(
    (await problemOf("docs/x.md", "../../etc/passwd", none))!,
    /outside the repository/,
  );
  assert.match(
    (await problemOf("README.md", "docs/nope.md", none))!,
    /does not exist/,
  );
  assert.match(
    (await problemOf("README.md", "docs/protocol.md#nope", anchorsFromDisk))!,
    /no heading for #nope/,
  );
  assert.equal(
    await problemOf("README.md", "https://example.com/a?b#c", none),
    null,
  );
  assert.match((await problemOf("README.md", "https://", none))!, /not a URL/);
  assert.match((await problemOf("README.md", "file:///etc", none))!, /neither/);
});

function anchorsFromDisk(path: string): Promise<Set<string>> {
  return Deno.readTextFile(join(ROOT, path)).then(anchorsOf);
}
