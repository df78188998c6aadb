// Issue 9: hostile scripts must fail fast with a typed error (or, where now linear, finish fast).
// Time per case: define the experiment, build it for one unit, read its params (and checksum).
import type { EvaluationBudget } from '../../src/core/budget.js';
import { InterpretedExperiment } from '../../src/core/interpreted-experiment.js';
import type { PlanoutObject, PlanoutValue } from '../../src/core/values.js';
import { round } from '../lib/stats.js';
import { progress, runSuite } from '../lib/suite.js';

const get = (name: string): PlanoutObject => ({ op: 'get', var: name });
const set = (name: string, value: PlanoutValue): PlanoutObject => ({ op: 'set', var: name, value });
const product = (...values: PlanoutValue[]): PlanoutObject => ({ op: 'product', values });

function nest(depth: number, wrap: (inner: PlanoutValue) => PlanoutValue): PlanoutValue {
  let node: PlanoutValue = 1;
  for (let i = 0; i < depth; i++) node = wrap(node);
  return node;
}

const BUDGETS: Record<string, EvaluationBudget> = {
  sample_list_unit_20k_choices_budget_50k: { maxOperations: 50_000 },
};

const CASES: Record<string, () => PlanoutObject> = {
  sample_10M_product_draws_1: () => set('s', { op: 'sample', choices: product([1], 10_000_000), draws: 1, unit: get('userid') }),
  fastSample_10M_product_draws_1: () => set('s', { op: 'fastSample', choices: product([1], 10_000_000), draws: 1, unit: get('userid') }),
  bernoulliFilter_10M_choices: () => set('f', { op: 'bernoulliFilter', choices: product([0], 10_000_000), p: 0.5, unit: get('userid') }),
  sample_list_unit_20k_choices: () => set('s', { op: 'sample', choices: product([0, 1, 2, 3], 5_000), unit: [get('userid'), 'x'] }),
  array_of_40_product_10M: () => set('a', { op: 'array', values: Array.from({ length: 40 }, () => product([1], 10_000_000)) }),
  ops_nested_100k: () => set('d', nest(100_000, (v) => ({ op: 'not', value: v }))),
  arrays_nested_100k: () => set('d', nest(100_000, (v) => [v])),
  literal_nested_100k: () => set('d', { op: 'literal', value: nest(100_000, (v) => [v]) }),
  objects_nested_100k: () => set('d', nest(100_000, (v) => ({ a: v }))),
  cyclic_script: () => {
    const seq: PlanoutValue[] = [set('x', 1)];
    const script = { op: 'seq', seq };
    seq.push(script);
    return script;
  },
  shared_doubling_40: () => {
    const seq: PlanoutValue[] = [set('x', [1])];
    for (let i = 0; i < 40; i++) seq.push(set('x', { op: 'array', values: [get('x'), get('x')] }));
    return { op: 'seq', seq };
  },
  // The same, over a budget raised to let it run: linear now (the reference's is quadratic).
  sample_list_unit_20k_choices_budget_50k: () =>
    set('s', { op: 'sample', choices: product([0, 1, 2, 3], 5_000), unit: [get('userid'), 'x'] }),
  unit_900k_chars_40k_draws: () =>
    ({ op: 'seq', seq: [set('u', product('x', 900_000)), set('s', { op: 'sample', choices: product([1], 40_000), draws: 1, unit: get('u') })] }),
};

runSuite('hostile', ({ quick }) => {
  const repeats = quick ? 5 : 15;
  const cases: Record<string, { outcome: string; median_ms: number; max_ms: number }> = {};
  let n = 0;
  for (const [name, build] of Object.entries(CASES)) {
    const times: number[] = [];
    let outcome = '';
    for (let r = 0; r < repeats; r++) {
      const script = build(); // built outside the timing: a new object each time, so nothing is cached
      const started = performance.now();
      try {
        const Defined = InterpretedExperiment.define({ name: 'Hostile', script, budget: BUDGETS[name] });
        const experiment = new Defined({ userid: `u${n++}` });
        experiment.getParams();
        void experiment.checksum;
        outcome = 'completed';
      } catch (error) {
        outcome = (error as Error).name;
      }
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    cases[name] = { outcome, median_ms: round(times[times.length >> 1], 2), max_ms: round(times[times.length - 1], 2) };
    progress(`${name}: ${outcome}, median ${cases[name].median_ms} ms, max ${cases[name].max_ms} ms`);
  }
  return { repeats, cases, rss_mb_after: round(process.memoryUsage().rss / 2 ** 20, 1) };
});
