// Figures 1, 2 and the params half of 7: in-process assignment cost.
import { hash } from 'node:crypto';
import {
  EXP1_PARAMS,
  Exp1,
  exp1HashInputs,
  experimentWithParams,
  planoutJsExp1,
  handwrittenParams,
  readHandwritten,
  readOurs,
  readPlanoutJs,
  type UnitInputs,
} from '../lib/experiments.js';
import { loadPlanoutJs, type PjsExperiment } from '../lib/planoutjs.js';
import { compare, range, round, rounded, type Contender } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';

runSuite('assign', ({ quick, pair }) => {
  const unitCount = quick ? 100_000 : 200_000;
  const rounds = quick ? 3 : 7;
  // Distinct units, far from 0 so they look like real ids.
  const units = range(unitCount, 1_000_000);
  const indexes = range(unitCount);

  // The floor: only the SHA-1 digests Exp1 needs, over prebuilt (flat) input strings.
  const hashInputs = units.map((u) => exp1HashInputs(u).map((s) => s.split('').join('')));
  const sha1Floor: Contender<number> = {
    name: 'sha1_floor',
    fn: (i) => {
      const inputs = hashInputs[i]!;
      return hash('sha1', inputs[0]!, 'hex').length + hash('sha1', inputs[1]!, 'hex').length + hash('sha1', inputs[2]!, 'hex').length;
    },
  };
  const oursOnIndex: Contender<number> = { name: 'ours', fn: (i) => readOurs(units[i]!) };
  if (pair) {
    progress(`assignment, ours and the SHA-1 floor only: ${unitCount} units × ${rounds} rounds`);
    return { units: unitCount, rounds, ns_per_unit: rounded(compare(indexes, [oursOnIndex, sha1Floor], rounds)) };
  }

  const defaultBuild = planoutJsExp1(loadPlanoutJs('default'));
  const compatBuild = planoutJsExp1(loadPlanoutJs('compat'));

  // The handwritten draws must be Exp1's, or their time means nothing.
  for (const u of units.slice(0, 2_000)) {
    const ours = new Exp1({ userid: u }).getParams();
    const handwritten = handwrittenParams(u);
    if (EXP1_PARAMS.some((p) => handwritten.get(p) !== ours[p])) throw new Error(`handwritten Exp1 differs from ours for unit ${u}`);
  }
  const sanity = checkOutputs(units.slice(0, 20_000), defaultBuild, compatBuild);
  progress(`PlanOut.js valid: default ${sanity.default_valid}, compat ${sanity.compat_valid}; compat = ours on ${sanity.compat_agreement * 100}% of ${sanity.sample} units`);

  const compat = readPlanoutJs(compatBuild);
  const def = readPlanoutJs(defaultBuild);
  const oursNoExposure: Contender<number> = {
    name: 'ours_no_exposure',
    fn: (i) => {
      const exp = new Exp1({ userid: units[i]! });
      exp.setAutoExposureLogging(false);
      return (exp.get('group_size') as number) + (exp.get('specific_goal') as number) + (exp.get('ratings_goal') as number);
    },
  };

  progress(`assignment: ${unitCount} units × ${rounds} rounds (interleaved)`);
  const ns = compare(
    indexes,
    [
      oursOnIndex,
      oursNoExposure,
      sha1Floor,
      { name: 'handwritten', fn: (i) => readHandwritten(units[i]!) },
      { name: 'planoutjs_compat', fn: (i) => compat(units[i]!) },
      { name: 'planoutjs_default', fn: (i) => def(units[i]!) },
    ],
    rounds,
  );

  // Cost growth in the number of params (1, 3, 10, 30), exposure logging on.
  const growthUnits = indexes.slice(0, quick ? 20_000 : 50_000);
  const growth: Record<string, number> = {};
  const series = [1, 3, 10, 30];
  const contenders = series.map((n): Contender<number> => {
    const Ctor = experimentWithParams(n);
    const names = Array.from({ length: n }, (_, i) => `p${i}`);
    return {
      name: String(n),
      fn: (i) => {
        const exp = new Ctor({ userid: units[i]! });
        let s = 0;
        for (const p of names) s += exp.get(p) as number;
        return s;
      },
    };
  });
  progress(`params growth: ${series.join(', ')} params × ${growthUnits.length} units`);
  Object.assign(growth, compare(growthUnits, contenders, rounds));

  return {
    units: unitCount,
    rounds,
    ns_per_unit: rounded(ns),
    growth_ns_per_unit_by_params: rounded(growth),
    growth_ns_per_param: Object.fromEntries(Object.entries(growth).map(([k, v]) => [k, round(v / Number(k), 1)])),
    sanity,
  };
});

interface Sanity {
  sample: number;
  default_valid: boolean;
  compat_valid: boolean;
  /** Share of units where PlanOut.js's compat build gives exactly our params. */
  compat_agreement: number;
  /** Same, default build (expected to be near chance: different hashing). */
  default_agreement: number;
  compat_disagreements_by_param: Record<string, number>;
  ours_distribution: Record<string, Record<string, number>>;
  default_distribution: Record<string, Record<string, number>>;
  compat_distribution: Record<string, Record<string, number>>;
}

const ALLOWED: Record<string, readonly number[]> = {
  group_size: [1, 10],
  specific_goal: [0, 1],
  ratings_goal: [8, 16, 32, 64],
};

function checkOutputs(
  units: readonly number[],
  defaultBuild: new (inputs: UnitInputs) => PjsExperiment,
  compatBuild: new (inputs: UnitInputs) => PjsExperiment,
): Sanity {
  const dist = () => Object.fromEntries(EXP1_PARAMS.map((p) => [p, {} as Record<string, number>]));
  const oursDist = dist();
  const defDist = dist();
  const compatDist = dist();
  let defaultValid = true;
  let compatValid = true;
  let compatSame = 0;
  let defaultSame = 0;
  const compatDiff: Record<string, number> = { group_size: 0, specific_goal: 0, ratings_goal: 0 };
  for (const userid of units) {
    const ours = new Exp1({ userid }).getParams() as unknown as Record<string, number>;
    const d = new defaultBuild({ userid }).getParams() as Record<string, number>;
    const c = new compatBuild({ userid }).getParams() as Record<string, number>;
    let allC = true;
    let allD = true;
    for (const p of EXP1_PARAMS) {
      if (!ALLOWED[p]!.includes(d[p]!)) defaultValid = false;
      if (!ALLOWED[p]!.includes(c[p]!)) compatValid = false;
      if (c[p] !== ours[p]) {
        allC = false;
        compatDiff[p]!++;
      }
      if (d[p] !== ours[p]) allD = false;
      oursDist[p]![String(ours[p])] = (oursDist[p]![String(ours[p])] ?? 0) + 1;
      defDist[p]![String(d[p])] = (defDist[p]![String(d[p])] ?? 0) + 1;
      compatDist[p]![String(c[p])] = (compatDist[p]![String(c[p])] ?? 0) + 1;
    }
    if (allC) compatSame++;
    if (allD) defaultSame++;
  }
  const share = (o: Record<string, Record<string, number>>) =>
    Object.fromEntries(Object.entries(o).map(([p, counts]) => [p, Object.fromEntries(Object.entries(counts).map(([v, n]) => [v, round(n / units.length, 3)]))]));
  // Valid also means "distributed as specified": every share within 2 points of its target.
  const expected: Record<string, Record<string, number>> = {
    group_size: { '1': 0.5, '10': 0.5 },
    specific_goal: { '0': 0.2, '1': 0.8 },
    ratings_goal: { '8': 0.4, '16': 0.3, '32': 0.2, '64': 0.1 },
  };
  const close = (o: Record<string, Record<string, number>>) =>
    Object.entries(expected).every(([p, e]) => Object.entries(e).every(([v, s]) => Math.abs((o[p]![v] ?? 0) / units.length - s) < 0.02));
  return {
    sample: units.length,
    default_valid: defaultValid && close(defDist),
    compat_valid: compatValid && close(compatDist),
    compat_agreement: round(compatSame / units.length, 4),
    default_agreement: round(defaultSame / units.length, 4),
    compat_disagreements_by_param: compatDiff,
    ours_distribution: share(oursDist),
    default_distribution: share(defDist),
    compat_distribution: share(compatDist),
  };
}
