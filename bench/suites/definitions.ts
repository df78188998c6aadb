// The reload time of 1,000 data definitions: the first load, a reload with every definition
// changed, a reload with one changed (the others are reused, not compiled again), and a
// reload from a folder of 1,000 files (read, parse, compile, check, dry-run, swap).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefinitionSource, type DefinitionSet, type ExperimentDefinitionData } from '../../src/nest/definitions/definition-source.js';
import { FolderDefinitionSource } from '../../src/nest/definitions/folder-definition.source.js';
import { PlanoutDefinitions } from '../../src/nest/definitions/planout-definitions.js';
import { PlanoutMetrics } from '../../src/nest/planout-metrics.js';
import { round } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';

class MemorySource extends DefinitionSource {
  readonly description = 'memory';
  set: DefinitionSet = { experiments: [], namespaces: [] };
  async load(): Promise<DefinitionSet> {
    return this.set;
  }
  watch(): () => void {
    return () => undefined;
  }
}

/** Exp1-sized programs (4 params, a branch), each distinct. */
function program(i: number, version: number): string {
  return [
    `group_size = uniformChoice(choices=[1, ${10 + version}], unit=userid);`,
    `specific_goal = bernoulliTrial(p=0.8, unit=userid);`,
    `if (specific_goal) {`,
    `  ratings_per_user_goal = uniformChoice(choices=[8, 16, 32, ${64 + i}], unit=userid);`,
    `  ratings_goal = group_size * ratings_per_user_goal;`,
    `}`,
  ].join('\n');
}

function definitions(count: number, version: number): ExperimentDefinitionData[] {
  return Array.from({ length: count }, (_, i) => ({ name: `exp_${i}`, script: program(i, version) }));
}

// The longest wait of a 1 ms timer while a reload runs (not while the bench writes files):
// how long a request arriving during the reload could wait.
let maxStallMs = 0;

async function timed(fn: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let timer: NodeJS.Timeout;
  const probe = (): void => {
    const now = performance.now();
    maxStallMs = Math.max(maxStallMs, now - last - 1);
    last = now;
    timer = setTimeout(probe, 1);
  };
  timer = setTimeout(probe, 1);
  const started = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // The wait since the last tick counts too (the reload's last slice).
  maxStallMs = Math.max(maxStallMs, performance.now() - last - 1);
  clearTimeout(timer);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

runSuite('definitions', async ({ quick }) => {
  const count = 1000;
  const rounds = quick ? 3 : 7;
  const reserved = { names: new Set<string>(), salts: new Set<string>() };
  const first: number[] = [];
  const all: number[] = [];
  const one: number[] = [];
  const folder: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const source = new MemorySource();
    source.set = { experiments: definitions(count, 0), namespaces: [] };
    const served = new PlanoutDefinitions(source, new PlanoutMetrics(), {});
    first.push(await timed(() => served.start(reserved)));
    source.set = { experiments: definitions(count, 1), namespaces: [] };
    all.push(await timed(() => served.reload()));
    const changed = definitions(count, 1);
    changed[r] = { name: `exp_${r}`, script: program(r, 2) };
    source.set = { experiments: changed, namespaces: [] };
    one.push(await timed(() => served.reload()));
    if (served.snapshot.experiments.size !== count || served.report().errors.length > 0) throw new Error('definitions did not all load');
    await served.onApplicationShutdown();

    const dir = mkdtempSync(join(tmpdir(), 'planout-bench-definitions-'));
    try {
      definitions(count, r).forEach((d) => writeFileSync(join(dir, `${d.name}.planout`), d.script as string));
      const fromFolder = new PlanoutDefinitions(new FolderDefinitionSource({ dir, pollIntervalMs: 0 }), new PlanoutMetrics(), {});
      folder.push(await timed(() => fromFolder.start(reserved)));
      if (fromFolder.snapshot.experiments.size !== count) throw new Error('folder definitions did not all load');
      await fromFolder.onApplicationShutdown();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    progress(`round ${r + 1}/${rounds}: first ${round(first.at(-1)!, 1)} ms, all changed ${round(all.at(-1)!, 1)} ms, one changed ${round(one.at(-1)!, 1)} ms, folder ${round(folder.at(-1)!, 1)} ms`);
  }
  return {
    definitions: count,
    // Longest the event loop waited during all reloads (they yield every ~5 ms of compiling).
    event_loop_max_stall_ms: round(maxStallMs, 1),
    rounds,
    // Medians, in ms: compile + static checks + dry run (5 units each) + swap.
    reload_ms: {
      first_load: round(median(first), 1),
      all_changed: round(median(all), 1),
      one_changed: round(median(one), 1),
      folder_first_load: round(median(folder), 1),
    },
  };
});
