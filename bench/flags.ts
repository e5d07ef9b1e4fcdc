/**
 * Command-line flags of the benchmarks: `--name` or `--name=value`, and
 * `--help` to print the usage and exit.
 *
 * @module
 */

/** Reads `--name[=value]` flags into a map (`"true"` when no value). */
export function readFlags(args: string[], help: string): Map<string, string> {
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
    map.set(m[1], m[2] ?? "true");
  }
  return map;
}
