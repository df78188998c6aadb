// Figure 3: Exp1 as a serialized script, against Exp1 in code and against PlanOut.js's interpreter.
import { Assignment } from '../../src/core/assignment.js';
import { InterpretedExperiment, type PlanoutScript } from '../../src/core/interpreted-experiment.js';
import { Interpreter } from '../../src/core/interpreter.js';
import { BernoulliTrial, UniformChoice, WeightedChoice } from '../../src/core/ops/random.js';
import { deepCopy, type PlanoutValue } from '../../src/core/values.js';
import { EXP1_PARAMS, EXP1_SCRIPT, Exp1, readOurs } from '../lib/experiments.js';
import { loadPlanoutJs } from '../lib/planoutjs.js';
import { compare, range, round, rounded, type Contender } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';

runSuite('interpreter', ({ quick, pair }) => {
  const unitCount = quick ? 50_000 : 100_000;
  const rounds = quick ? 3 : 7;
  const units = range(unitCount, 1_000_000);
  const script = deepCopy(EXP1_SCRIPT as unknown as PlanoutValue) as PlanoutScript;
  // The raw Interpreter writes default salts into the script it runs, as the reference does:
  // it gets its own copy, so the InterpretedExperiment contender runs the script as written.
  const rawScript = deepCopy(script);
  const Interpreted = InterpretedExperiment.define({ script, name: 'Exp1' });
  const native: Contender<number> = { name: 'native_experiment', fn: readOurs };
  const interpreted: Contender<number> = {
    name: 'interpreted_experiment',
    fn: (userid) => {
      const exp = new Interpreted({ userid });
      return (exp.get('group_size') as number) + (exp.get('specific_goal') as number) + (exp.get('ratings_goal') as number);
    },
  };
  if (pair) {
    progress(`interpreter, the native and the interpreted experiment only: ${unitCount} units × ${rounds} rounds`);
    return { units: unitCount, rounds, ns_per_unit: rounded(compare(units, [native, interpreted], rounds)) };
  }
  const pjsDefault = loadPlanoutJs('default');
  const pjsCompat = loadPlanoutJs('compat');

  // Same params from the script as from the code, and from PlanOut.js's compat interpreter.
  let sameAsNative = 0;
  let sameAsCompat = 0;
  const sample = units.slice(0, 10_000);
  for (const userid of sample) {
    const native = new Exp1({ userid }).getParams() as unknown as Record<string, unknown>;
    const interp = new Interpreted({ userid }).getParams();
    const compat = new pjsCompat.Interpreter(EXP1_SCRIPT, 'Exp1', { userid }).getParams();
    if (EXP1_PARAMS.every((p) => interp[p] === native[p])) sameAsNative++;
    if (EXP1_PARAMS.every((p) => compat[p] === native[p])) sameAsCompat++;
  }
  progress(`interpreter agrees with native on ${sameAsNative}/${sample.length}, PlanOut.js compat interpreter on ${sameAsCompat}/${sample.length}`);

  progress(`interpreter: ${unitCount} units × ${rounds} rounds`);
  const ns = compare(
    units,
    [
      native,
      interpreted,
      {
        name: 'native_assignment',
        fn: (userid) => {
          const a = new Assignment('Exp1');
          a.set('group_size', new UniformChoice({ choices: [1, 10], unit: userid }));
          a.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: userid }));
          a.set('ratings_goal', new WeightedChoice({ choices: [8, 16, 32, 64], weights: [0.4, 0.3, 0.2, 0.1], unit: userid }));
          const p = a.toObject();
          return (p.group_size as number) + (p.specific_goal as number) + (p.ratings_goal as number);
        },
      },
      {
        name: 'interpreter',
        fn: (userid) => {
          const p = new Interpreter(rawScript, 'Exp1', { userid }).getParams();
          return (p.group_size as number) + (p.specific_goal as number) + (p.ratings_goal as number);
        },
      },
      {
        name: 'planoutjs_default_interpreter',
        fn: (userid) => {
          const p = new pjsDefault.Interpreter(EXP1_SCRIPT, 'Exp1', { userid }).getParams();
          return (p.group_size as number) + (p.specific_goal as number) + (p.ratings_goal as number);
        },
      },
      {
        name: 'planoutjs_compat_interpreter',
        fn: (userid) => {
          const p = new pjsCompat.Interpreter(EXP1_SCRIPT, 'Exp1', { userid }).getParams();
          return (p.group_size as number) + (p.specific_goal as number) + (p.ratings_goal as number);
        },
      },
    ],
    rounds,
  );
  return {
    units: unitCount,
    rounds,
    ns_per_unit: rounded(ns),
    agreement: {
      sample: sample.length,
      interpreter_vs_native: round(sameAsNative / sample.length, 4),
      planoutjs_compat_interpreter_vs_ours: round(sameAsCompat / sample.length, 4),
    },
  };
});
