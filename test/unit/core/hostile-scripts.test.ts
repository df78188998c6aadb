import { describe, expect, it } from '@jest/globals';
import { PlanoutBudgetError, PlanoutError } from '../../../src/core/errors.js';
import { InterpretedExperiment } from '../../../src/core/interpreted-experiment.js';
import { Interpreter } from '../../../src/core/interpreter.js';
import type { PlanoutObject, PlanoutValue } from '../../../src/core/values.js';

const DEPTH = 100_000;

function nest(depth: number, wrap: (inner: PlanoutValue) => PlanoutValue, leaf: PlanoutValue = 1): PlanoutValue {
  let node: PlanoutValue = leaf;
  for (let i = 0; i < depth; i++) node = wrap(node);
  return node;
}

/** What running `script` as an InterpretedExperiment throws (define, construct, read params and checksum). */
function failureOf(script: PlanoutObject, name = 'Hostile'): unknown {
  try {
    const Defined = InterpretedExperiment.define({ name, script });
    const experiment = new Defined({ userid: 42 });
    experiment.getParams();
    void experiment.checksum;
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectPlanoutError(error: unknown, experiment: string, param?: string): void {
  if (!(error instanceof PlanoutError)) throw new Error(`expected a PlanoutError, got ${String(error)}`);
  expect(error.experiment).toBe(experiment);
  if (param !== undefined) expect(error.param).toBe(param);
}

const setValue = (value: PlanoutValue): PlanoutObject => ({
  op: 'seq',
  seq: [{ op: 'set', var: 'deep', value }],
});

describe('hostile scripts: deep nesting and cycles (issue 9, item 5)', () => {
  const deepCases: [string, () => PlanoutObject][] = [
    ['operators', () => setValue(nest(DEPTH, (v) => ({ op: 'not', value: v })))],
    ['arrays', () => setValue(nest(DEPTH, (v) => [v]))],
    ['array operators', () => setValue(nest(DEPTH, (v) => ({ op: 'array', values: [v] })))],
    ['a literal', () => setValue({ op: 'literal', value: nest(DEPTH, (v) => [v]) })],
    ['objects', () => setValue(nest(DEPTH, (v) => ({ a: v })))],
    ['the script itself', () => nest(DEPTH, (v) => ({ op: 'seq', seq: [v] }), { op: 'set', var: 'x', value: 1 }) as PlanoutObject],
  ];

  it.each(deepCases)('%s nested 100 000 deep fail with a PlanoutError naming the experiment', (_label, build) => {
    expectPlanoutError(failureOf(build()), 'Hostile');
  });

  it('a cyclic script object fails with a PlanoutError', () => {
    const script = setValue({ op: 'literal', value: null }) as PlanoutObject & { seq: PlanoutValue[] };
    script.seq.push(script);
    expectPlanoutError(failureOf(script), 'Hostile');
  });

  it('a cyclic literal value fails with a PlanoutError', () => {
    const value: PlanoutObject = { a: 1 };
    value.self = value;
    expectPlanoutError(failureOf(setValue({ op: 'literal', value })), 'Hostile');
  });

  it('a cyclic list fails with a PlanoutError', () => {
    const list: PlanoutValue[] = [1];
    list.push(list);
    expectPlanoutError(failureOf(setValue(list)), 'Hostile');
  });

  it('a shared sub-object is checked at each depth it sits at', () => {
    const shared = nest(600, (v) => [v]);
    // Fine where first met (level 2), too deep the second time (level 602).
    expectPlanoutError(failureOf(setValue({ op: 'literal', value: [shared, nest(600, (v) => [v], shared)] })), 'Hostile');
    expect(failureOf(setValue({ op: 'literal', value: [shared, shared] }))).toBeUndefined();
  });

  it('params share the expanded-size limit', () => {
    // Each param alone is within maxElements once expanded; together they are not.
    const seq: PlanoutValue[] = [{ op: 'set', var: 'x', value: [1] }];
    // 14 doublings: 3 * 2^14 - 1 = 49 151 nodes once expanded, for x and for each copy of it.
    for (let i = 0; i < 14; i++) {
      seq.push({ op: 'set', var: 'x', value: { op: 'array', values: [{ op: 'get', var: 'x' }, { op: 'get', var: 'x' }] } });
    }
    expect(failureOf({ op: 'seq', seq: [...seq, { op: 'set', var: 'a', value: { op: 'get', var: 'x' } }] })).toBeUndefined();
    for (const name of ['a', 'b', 'c']) seq.push({ op: 'set', var: name, value: { op: 'get', var: 'x' } });
    const error = failureOf({ op: 'seq', seq });
    expectPlanoutError(error, 'Hostile', 'b');
    expect(error).toBeInstanceOf(PlanoutBudgetError);
  });

  it('the bare interpreter fails the same way', () => {
    for (const [, build] of deepCases) {
      const interpreter = new Interpreter(build(), 'salt', { userid: 1 }, { experimentName: 'Bare' });
      expect(() => interpreter.getParams()).toThrow(PlanoutError);
    }
  });

  it('a value built deep by many sets (not by script depth) is refused naming the param', () => {
    // Each set nests the previous value once more: the script is shallow, the value is not.
    const seq: PlanoutValue[] = [{ op: 'set', var: 'x', value: 1 }];
    for (let i = 0; i < 20_000; i++) {
      seq.push({ op: 'set', var: 'x', value: { op: 'array', values: [{ op: 'get', var: 'x' }] } });
    }
    seq.push({ op: 'set', var: 'y', value: 2 });
    expectPlanoutError(failureOf({ op: 'seq', seq }), 'Hostile', 'x');
  });

  it('a value that shares one list exponentially is refused, not expanded', () => {
    // 40 doublings: 2^40 elements if copied or serialized, 80 created.
    const seq: PlanoutValue[] = [{ op: 'set', var: 'x', value: [1] }];
    for (let i = 0; i < 40; i++) {
      seq.push({ op: 'set', var: 'x', value: { op: 'array', values: [{ op: 'get', var: 'x' }, { op: 'get', var: 'x' }] } });
    }
    const error = failureOf({ op: 'seq', seq });
    expectPlanoutError(error, 'Hostile', 'x');
    expect(error).toBeInstanceOf(PlanoutBudgetError);
  });

  it('comparing exponentially shared values stops at the budget', () => {
    const seq: PlanoutValue[] = [{ op: 'set', var: 'x', value: [1] }];
    for (let i = 0; i < 40; i++) {
      seq.push({ op: 'set', var: 'x', value: { op: 'array', values: [{ op: 'get', var: 'x' }, { op: 'get', var: 'x' }] } });
    }
    seq.push({ op: 'set', var: 'same', value: { op: 'equals', left: { op: 'get', var: 'x' }, right: { op: 'get', var: 'x' } } });
    const error = failureOf({ op: 'seq', seq });
    expectPlanoutError(error, 'Hostile', 'same');
    expect(error).toBeInstanceOf(PlanoutBudgetError);
  });

  it('float() of a long string that is not a number fails in linear time', () => {
    const text = '1'.repeat(200_000) + 'x';
    const error = failureOf(setValue({ op: '/', left: { op: 'literal', value: text }, right: 1 }));
    expectPlanoutError(error, 'Hostile', 'deep');
    // Parsed without regex backtracking (quadratic: seconds at 40 000 characters, minutes at this
    // length); how fast is the bench's to measure, not a test's.
    expect(new Interpreter(setValue({ op: '/', left: '1_000.5e1', right: 2 }), 's').get('deep')).toBe(5002.5);
  });

  it('an error message never expands a huge shared value', () => {
    const seq: PlanoutValue[] = [{ op: 'set', var: 'x', value: [1] }];
    for (let i = 0; i < 40; i++) {
      seq.push({ op: 'set', var: 'x', value: { op: 'array', values: [{ op: 'get', var: 'x' }, { op: 'get', var: 'x' }] } });
    }
    const weights = { op: 'array', values: [{ op: 'get', var: 'x' }] };
    seq.push({ op: 'set', var: 'w', value: { op: 'weightedChoice', choices: [1], weights, unit: 1 } });
    const error = failureOf({ op: 'seq', seq });
    expectPlanoutError(error, 'Hostile', 'w');
    expect((error as Error).message).toContain('weights must be numbers, got a list of 2 elements');
  });

  it('scripts at a sane depth still run', () => {
    const Defined = InterpretedExperiment.define({
      name: 'Sane',
      script: setValue(nest(200, (v) => ({ op: 'array', values: [v] }))),
    });
    const params = new Defined({ userid: 1 }).getParams() as { deep: unknown };
    expect(JSON.stringify(params.deep)).toBe('['.repeat(200) + '1' + ']'.repeat(200));
  });
});
