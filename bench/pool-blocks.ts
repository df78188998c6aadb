// Pools the HTTP blocks of several full runs: one run's 9 blocks put a wide interval on a target ratio,
// and runs on one machine disagree by more than their intervals suggest (bench/README.md).
// Usage (after `npx tsc -p tsconfig.bench.json`):
//   node dist-bench/bench/pool-blocks.js BENCHMARKS.md V=/tmp/run-V.json W=/tmp/run-W.json
// A Markdown file contributes its per-block rows (`| R | express, ours | 0.971 0.929 … |`), a report
// (`npm run bench -- --out=…`) named LETTER=path its `results.http.paired_ratios[…].blocks`; a run found in
// both is taken from the report. Prints, per adapter, the median of all blocks of ours and of the floor with
// ids over the no-op route, and of ours over the floor with ids block by block, each with the order-statistic
// interval the bench prints (bench/lib/stats.ts).
import { readFileSync } from 'node:fs';
import { medianInterval } from './lib/stats.js';

type Route = 'ours' | 'floor with ids';
const ROUTES: Record<Route, string> = { ours: 'planout', 'floor with ids': 'floor_ids' };
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

const sources = process.argv.slice(2);
if (sources.length === 0) throw new Error('usage: pool-blocks.js [BENCHMARKS.md] [LETTER=report.json …]');
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
      if (ratios === undefined) throw new Error(`${path}: no blocks of ${adapter}.${variant}/${adapter}.noop`);
      put(run, `${adapter}, ${route}`, ratios);
    }
  }
  fromReports.add(run);
}
const row = /^\| ([A-Za-z0-9]+) \| ((?:express|fastify), (?:ours|floor with ids)) \| ([0-9. ]+) \|$/;
for (const source of sources) {
  if (/^[A-Za-z0-9]+=/.test(source)) continue;
  for (const line of readFileSync(source, 'utf8').split('\n')) {
    const match = row.exec(line);
    if (match === null || fromReports.has(match[1]!)) continue;
    put(match[1]!, match[2]!, match[3]!.trim().split(/ +/).map(Number));
  }
}

const runs = [...blocks.keys()].sort();
const format = (xs: number[]): string => {
  const m = medianInterval(xs);
  return `${m.median.toFixed(3)} (${m.low.toFixed(3)}–${m.high.toFixed(3)}, ${m.n} blocks, ${(m.coverage * 100).toFixed(1)} %)`;
};
console.log(`runs: ${runs.join(', ')}`);
for (const adapter of ADAPTERS) {
  const all: Record<Route, number[]> = { ours: [], 'floor with ids': [] };
  const oursOverFloor: number[] = [];
  for (const run of runs) {
    const ours = blocks.get(run)!.get(`${adapter}, ours`);
    const floor = blocks.get(run)!.get(`${adapter}, floor with ids`);
    if (ours === undefined || floor === undefined || ours.length !== floor.length) {
      throw new Error(`run ${run}: ${adapter} needs as many blocks of ours as of the floor with ids`);
    }
    all.ours.push(...ours);
    all['floor with ids'].push(...floor);
    // Both over the same no-op route in the same block: their quotient is ours over the floor in that block.
    for (let i = 0; i < ours.length; i++) oursOverFloor.push(ours[i]! / floor[i]!);
  }
  console.log(`${adapter}, ours / no-op:            ${format(all.ours)}`);
  console.log(`${adapter}, floor with ids / no-op:  ${format(all['floor with ids'])}`);
  console.log(`${adapter}, ours / floor with ids:   ${format(oursOverFloor)}`);
}
