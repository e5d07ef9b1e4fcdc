/**
 * Prints the functions with the most self time in a V8 `.cpuprofile`, as
 * written by `deno run --cpu-prof`: the quick look behind the benchmark's
 * suggestions for lib/signal/.
 *
 * Run: `deno run -R bench/prof_top.ts CPU.*.cpuprofile [count]`.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self and total time per function, in ms, heaviest self time first. */
export function topFunctions(
  profile: Profile,
): { name: string; selfMs: number; totalMs: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (n: ProfileNode) => {
    const file = n.callFrame.url.split("/").slice(-2).join("/");
    return `${n.callFrame.functionName || "(anonymous)"} ${file}:${
      n.callFrame.lineNumber + 1
    }`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    self.set(key(node), (self.get(key(node)) ?? 0) + us);
    // Each function on the stack once, however deep its recursion.
    const seen = new Set<string>();
    for (
      let at: number | undefined = id;
      at !== undefined;
      at = parent.get(at)
    ) {
      const k = key(byId.get(at)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + us);
    }
  }
  return [...self.entries()]
    .map(([name, us]) => ({
      name,
      selfMs: us / 1000,
      totalMs: (total.get(name) ?? us) / 1000,
    }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

if (import.meta.main) {
  const [path, count] = Deno.args;
  if (!path) {
    console.error(
      "usage: deno run -R bench/prof_top.ts FILE.cpuprofile [count]",
    );
    Deno.exit(2);
  }
  const profile: Profile = JSON.parse(await Deno.readTextFile(path));
  const rows = topFunctions(profile);
  const all = rows.reduce((s, r) => s + r.selfMs, 0);
  console.log(`total sampled: ${all.toFixed(1)} ms`);
  for (const r of rows.slice(0, Number(count ?? 25))) {
    console.log(
      `${r.selfMs.toFixed(1).padStart(9)} ms self ${
        (100 * r.selfMs / all).toFixed(1).padStart(5)
      } %` +
        `  ${r.totalMs.toFixed(1).padStart(9)} ms total  ${r.name}`,
    );
  }
}
