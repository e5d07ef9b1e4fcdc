/**
 * Command-line flags of the benchmarks: `--name` or `--name=value`, and
 * `--help` to print the usage and exit.
 *
 * @module
 */

/**
 * Reads `--name[=value]` flags into a map (`"true"` when no value). A flag
 * that `help` does not mention is an error, not ignored: a command written
 * down with a flag since removed must not measure something else quietly.
 */
export function readFlags(args: string[], help: string): Map<string, string> {
  const known = new Set(
    [...help.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]),
  );
  const map = new Map<string, string>();
  for (const arg of args) {
    if (arg === "--help" || arg === "-h") {
      console.log(help);
      Deno.exit(0);
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) {
      throw new TypeError(
        `Cannot read flag ${
          JSON.stringify(arg)
        }: expected --name or --name=value (see --help)`,
      );
    }
    if (!known.has(m[1])) {
      throw new TypeError(`Cannot read flag "--${m[1]}": not one of --help's`);
    }
    map.set(m[1], m[2] ?? "true");
  }
  return map;
}
