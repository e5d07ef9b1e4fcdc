/**
 * The first step of `deno task test`: makes sure every program the tests
 * start is installed. A missing one is installed with apt-get when this
 * machine can (root, Debian), saying so; otherwise the run stops at once with
 * one message naming the packages and the command, instead of failing test
 * after test.
 *
 * `BEAM_SETUP_PATH` (tests only) replaces the folders searched for programs,
 * apt-get included, so that tests/setup_test.ts can show what a machine
 * without them sees.
 *
 * @module
 */

import { findProgram, PACKAGES } from "./_helpers/services.ts";

/**
 * The programs the tests start, each from its Debian package (of the same
 * name unless `PACKAGES` says otherwise): the two test browsers, Redis and
 * nginx for the scale-out tests, coturn's `turnserver` for the relay tests,
 * and `unzip` to check the zips Beam writes with a reader other than its own.
 */
export const NEEDED: readonly string[] = [
  "chromium",
  "firefox-esr",
  "redis-server",
  "redis-cli",
  "nginx",
  "turnserver",
  "unzip",
];

/** What {@linkcode planSetup} found. */
export interface SetupPlan {
  /** The programs that are missing. */
  missing: string[];
  /** The Debian packages that bring them. */
  packages: string[];
  /** apt-get's path, when it can be run (root and present). */
  apt?: string;
  /** Why the machine cannot install them itself, when it cannot. */
  cannot?: string;
}

/** Finds which programs are missing and whether this machine can install them. */
export function planSetup(
  options: { path?: string; only?: boolean; isRoot?: boolean } = {},
): SetupPlan {
  const find = (program: string) =>
    findProgram(program, options.path ?? Deno.env.get("PATH"), options.only);
  const missing = NEEDED.filter((program) => find(program) === undefined);
  const packages = [
    ...new Set(missing.map((program) => PACKAGES[program] ?? program)),
  ];
  if (missing.length === 0) return { missing, packages };
  const apt = find("apt-get");
  const isRoot = options.isRoot ?? Deno.uid() === 0;
  if (!isRoot) return { missing, packages, cannot: "not root" };
  if (apt === undefined) return { missing, packages, cannot: "no apt-get" };
  return { missing, packages, apt };
}

/** The one message shown when the machine cannot install what is missing. */
export function cannotInstallMessage(plan: SetupPlan): string {
  const one = plan.missing.length === 1;
  return `The tests need ${plan.missing.join(", ")}, which ${
    one ? "is" : "are"
  } not installed, and this machine cannot install ${
    one ? "it" : "them"
  } by itself (${plan.cannot}). Install ${one ? "it" : "them"} with: ` +
    `sudo apt-get install -y ${plan.packages.join(" ")}`;
}

if (import.meta.main) {
  const override = Deno.env.get("BEAM_SETUP_PATH");
  const plan = planSetup(
    override === undefined ? {} : { path: override, only: true },
  );
  if (plan.cannot !== undefined) {
    console.error(cannotInstallMessage(plan));
    Deno.exit(1);
  }
  if (plan.apt !== undefined) {
    console.log(
      `Installing what the tests need: ${plan.packages.join(" ")} ` +
        `(apt-get update, then apt-get install -y ${plan.packages.join(" ")})`,
    );
    const started = performance.now();
    for (
      const args of [
        ["update", "-qq"],
        ["install", "-y", "-qq", ...plan.packages],
      ]
    ) {
      const { success } = await new Deno.Command(plan.apt, {
        args,
        env: { DEBIAN_FRONTEND: "noninteractive" },
        stdin: "null",
      }).spawn().status;
      if (!success) {
        console.error(
          `Cannot install ${plan.packages.join(" ")}: apt-get ${
            args[0]
          } failed (its output is above). ` +
            `Install them by hand with: sudo apt-get install -y ${
              plan.packages.join(" ")
            }`,
        );
        Deno.exit(1);
      }
    }
    console.log(
      `Installed ${plan.packages.join(" ")} in ${
        ((performance.now() - started) / 1000).toFixed(0)
      } s.`,
    );
  }
}
