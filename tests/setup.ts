/**
 * The first step of `deno task test`: makes sure every program the tests
 * start is installed. A missing one is installed with apt-get when this
 * machine can (root, Debian); otherwise the run stops at once with one
 * message naming the package and the command, instead of failing test
 * after test.
 *
 * @module
 */

import { findProgram, PACKAGES } from "./_helpers/services.ts";

/**
 * The programs the tests start, each from its Debian package (of the same
 * name unless `PACKAGES` says otherwise). unzip checks the zips Beam writes
 * with a reader other than its own.
 */
const NEEDED = [
  "chromium",
  "redis-server",
  "redis-cli",
  "nginx",
  "unzip",
];

const missing = NEEDED.filter((program) => findProgram(program) === undefined);
const packages = [
  ...new Set(missing.map((program) => PACKAGES[program] ?? program)),
];
if (packages.length > 0) {
  const isRoot = Deno.uid() === 0;
  const apt = findProgram("apt-get");
  if (!isRoot || apt === undefined) {
    console.error(
      `The tests need ${missing.join(", ")}, which ${
        missing.length === 1 ? "is" : "are"
      } not installed, and this machine cannot install ${
        missing.length === 1 ? "it" : "them"
      } by itself (${isRoot ? "no apt-get" : "not root"}). ` +
        `Install with: sudo apt-get install -y ${packages.join(" ")}`,
    );
    Deno.exit(1);
  }
  console.log(`Installing what the tests need: ${packages.join(" ")}`);
  for (
    const args of [["update", "-qq"], ["install", "-y", "-qq", ...packages]]
  ) {
    const { success } = await new Deno.Command(apt, {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
    }).spawn().status;
    if (!success) {
      console.error(
        `Cannot install ${packages.join(" ")}: apt-get ${args[0]} failed. ` +
          `Install by hand: apt-get install -y ${packages.join(" ")}`,
      );
      Deno.exit(1);
    }
  }
}
