// CPU-time A/B of the assignment hot path, for a shared or busy machine:
//   npx tsc -p tsconfig.bench.json && node bench/ab.mjs dist-bench [another-dist-bench-copy ...]
// Each build runs in turn; within a build, contenders alternate in bursts of 10,000 units and
// each burst is divided by the SHA-1 floor's burst next to it, so load on the machine cancels
// out. Time is process CPU time (process.cpuUsage), not wall time. Prints median ratios.
import { hash } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

async function measure(dir) {
  const load = (path) => import(pathToFileURL(resolve(dir, path)).href);
  const { readOurs, Exp1, EXP1_SCRIPT } = await load('bench/lib/experiments.js');
  const { readHandwritten } = await load('bench/lib/experiments.js');
  const { InterpretedExperiment } = await load('src/core/interpreted-experiment.js');
  const { deepCopy } = await load('src/core/values.js');
  const Interpreted = InterpretedExperiment.define({ script: deepCopy(EXP1_SCRIPT), name: 'Exp1' });
  const N = 100_000;
  const B = 10_000;
  const units = Array.from({ length: N }, (_, i) => 1_000_000 + i);
  const inputs = units.map((u) => ['group_size', 'specific_goal', 'ratings_goal'].map((p) => `Exp1.${p}.${u}`.split('').join('')));
  const contenders = {
    sha1_floor: (i) => hash('sha1', inputs[i][0], 'hex').length + hash('sha1', inputs[i][1], 'hex').length + hash('sha1', inputs[i][2], 'hex').length,
    ...(readHandwritten ? { handwritten: (i) => readHandwritten(units[i]) } : {}),
    ours_no_exposure: (i) => {
      const exp = new Exp1({ userid: units[i] });
      exp.setAutoExposureLogging(false);
      return exp.get('group_size') + exp.get('specific_goal') + exp.get('ratings_goal');
    },
    ours: (i) => readOurs(units[i]),
    interpreted: (i) => {
      const exp = new Interpreted({ userid: units[i] });
      return exp.get('group_size') + exp.get('specific_goal') + exp.get('ratings_goal');
    },
  };
  const names = Object.keys(contenders);
  const ratios = Object.fromEntries(names.map((k) => [k, []]));
  const floorNs = [];
  let sink = 0;
  for (const k of names) for (let i = 0; i < N; i++) sink += contenders[k](i);
  for (let r = 0; r < 60; r++) {
    const start = (r * B) % N;
    const ns = {};
    for (const k of names) {
      const fn = contenders[k];
      const before = process.cpuUsage();
      for (let i = start; i < start + B; i++) sink += fn(i);
      const used = process.cpuUsage(before);
      ns[k] = ((used.user + used.system) * 1000) / B;
    }
    for (const k of names) ratios[k].push(ns[k] / ns.sha1_floor);
    floorNs.push(ns.sha1_floor);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const out = { floor_ns: Math.round(median(floorNs)) };
  for (const k of names) if (k !== 'sha1_floor') out[`${k}_vs_floor`] = Number(median(ratios[k]).toFixed(2));
  out.interpreted_vs_ours = Number((out.interpreted_vs_floor / out.ours_vs_floor).toFixed(2));
  if (sink === Number.MIN_VALUE) console.log(sink);
  return out;
}

for (const dir of process.argv.slice(2).length ? process.argv.slice(2) : ['dist-bench']) {
  console.log(dir, JSON.stringify(await measure(dir)));
}
