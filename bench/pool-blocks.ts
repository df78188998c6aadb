// Pools the HTTP blocks of several full runs: one run's 9 blocks put a wide interval on a target ratio,
// and runs on one machine disagree by more than their intervals suggest (bench/README.md).
// Usage (after `npx tsc -p tsconfig.bench.json`):
//   node dist-bench/bench/pool-blocks.js [--runs=AC,AD] BENCHMARKS.md V=/tmp/run-V.json W=/tmp/run-W.json
// A Markdown file contributes its per-block rows (`| R | express, ours | 0.971 0.929 … |`), a report
// (`npm run bench -- --out=…`) named LETTER=path its `results.http.paired_ratios[…].blocks`; a run found in
// both is taken from the report. Prints, per adapter, the median of all blocks of ours and of the floor with
// ids over the no-op route, and of ours over the floor with ids block by block, each with the order-statistic
// interval the bench prints (bench/lib/stats.ts); then the same with the floor without ids, over the runs that
// have its rows (`| Y | express, floor | … |`) or reports.
import { readFileSync } from 'node:fs';
import { medianInterval } from './lib/stats.js';

type Route = 'ours' | 'floor with ids' | 'floor';
const ROUTES: Record<Route, string> = { ours: 'planout', 'floor with ids': 'floor_ids', floor: 'floor' };
const ADAPTERS = ['express', 'fastify'] as const;

/** blocks[run][`${adapter}, ${route}`]: the route's ratio over the no-op route, in block order. */
const blocks = new Map<string, Map<string, number[]>>();

function put(run: string, series: string, ratios: number[]): void {
  if (!blocks.has(run)) blocks.set(run, new Map());
  blocks.get(run)!.set(series, ratios);
}

interface Report {
  results?: { http?: { paired_ratios?: Record<string, { blocks?: number[] }> } };
}

const args = process.argv.slice(2);
// `--runs=AC,AD`: pool only these runs (e.g. those of one bench design).
const only = args.find((arg) => arg.startsWith('--runs='))?.slice('--runs='.length).split(',');
const sources = args.filter((arg) => !arg.startsWith('--runs='));
if (sources.length === 0) throw new Error('usage: pool-blocks.js [--runs=A,B] [BENCHMARKS.md] [LETTER=report.json …]');
const fromReports = new Set<string>();
for (const source of sources) {
  const named = /^([A-Za-z0-9]+)=(.+)$/.exec(source);
  if (named === null) continue;
  const [, run, path] = named as unknown as [string, string, string];
  const report = JSON.parse(readFileSync(path, 'utf8')) as Report;
  const paired = report.results?.http?.paired_ratios ?? {};
  for (const adapter of ADAPTERS) {
    for (const [route, variant] of Object.entries(ROUTES)) {
      const ratios = paired[`${adapter}.${variant}/${adapter}.noop`]?.blocks;
      if (ratios === undefined && route === 'floor') continue;
      if (ratios === undefined) throw new Error(`${path}: no blocks of ${adapter}.${variant}/${adapter}.noop`);
      put(run, `${adapter}, ${route}`, ratios);
    }
  }
  fromReports.add(run);
}
const row = /^\| ([A-Za-z0-9]+) \| ((?:express|fastify), (?:ours|floor with ids|floor)) \| ([0-9. ]+) \|$/;
for (const source of sources) {
  if (/^[A-Za-z0-9]+=/.test(source)) continue;
  for (const line of readFileSync(source, 'utf8').split('\n')) {
    const match = row.exec(line);
    if (match === null || fromReports.has(match[1]!)) continue;
    put(match[1]!, match[2]!, match[3]!.trim().split(/ +/).map(Number));
  }
}

const runs = [...blocks.keys()].filter((run) => only === undefined || only.includes(run)).sort();
if (runs.length === 0) throw new Error(`no blocks of runs ${only?.join(', ')}`);
/** `a` over `b` block by block (both over the same no-op route in a block: their quotient is a over b in that block). */
const quotients = (a: number[], b: number[]): number[] => a.map((x, i) => x / b[i]!);
const format = (xs: number[]): string => {
  const m = medianInterval(xs);
  return `${m.median.toFixed(3)} (${m.low.toFixed(3)}–${m.high.toFixed(3)}, ${m.n} blocks, ${(m.coverage * 100).toFixed(1)} %)`;
};
console.log(`runs: ${runs.join(', ')}`);
for (const adapter of ADAPTERS) {
  const all = { ours: [] as number[], 'floor with ids': [] as number[] };
  const oursOverFloor: number[] = [];
  for (const run of runs) {
    const ours = blocks.get(run)!.get(`${adapter}, ours`);
    const floor = blocks.get(run)!.get(`${adapter}, floor with ids`);
    if (ours === undefined || floor === undefined || ours.length !== floor.length) {
      throw new Error(`run ${run}: ${adapter} needs as many blocks of ours as of the floor with ids`);
    }
    all.ours.push(...ours);
    all['floor with ids'].push(...floor);
    oursOverFloor.push(...quotients(ours, floor));
  }
  console.log(`${adapter}, ours / no-op:            ${format(all.ours)}`);
  console.log(`${adapter}, floor with ids / no-op:  ${format(all['floor with ids'])}`);
  console.log(`${adapter}, ours / floor with ids:   ${format(oursOverFloor)}`);
  // The floor without ids, where a run has it: over no-op, and ours and the floor with ids over it, block by block.
  const withFloor = runs.filter((run) => blocks.get(run)!.has(`${adapter}, floor`));
  if (withFloor.length === 0) continue;
  const floorOverNoop: number[] = [];
  const oursOverPlainFloor: number[] = [];
  const idsOverPlainFloor: number[] = [];
  for (const run of withFloor) {
    const series = blocks.get(run)!;
    const floor = series.get(`${adapter}, floor`)!;
    const ours = series.get(`${adapter}, ours`)!;
    const ids = series.get(`${adapter}, floor with ids`)!;
    if (floor.length !== ours.length) throw new Error(`run ${run}: ${adapter} needs as many blocks of the floor as of ours`);
    floorOverNoop.push(...floor);
    oursOverPlainFloor.push(...quotients(ours, floor));
    idsOverPlainFloor.push(...quotients(ids, floor));
  }
  console.log(`${adapter}, runs with the floor without ids: ${withFloor.join(', ')}`);
  console.log(`${adapter}, floor / no-op:                 ${format(floorOverNoop)}`);
  console.log(`${adapter}, ours / floor:                  ${format(oursOverPlainFloor)}`);
  console.log(`${adapter}, floor with ids / floor:        ${format(idsOverPlainFloor)}`);
}
