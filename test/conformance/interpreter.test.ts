import { afterAll, describe, expect, it } from '@jest/globals';
import { Interpreter } from '../../src/core/interpreter.js';
import { deepCopy, type PlanoutObject } from '../../src/core/values.js';
import { countCase, executedCases, expectSame, loadCases } from './vectors.js';

interface InterpreterRun {
  inputs: PlanoutObject;
  overrides?: PlanoutObject;
  expected_params: PlanoutObject;
  expected_in_experiment: boolean;
}

interface InterpreterCase {
  id: string;
  name: string;
  script: PlanoutObject;
  experiment_salt: string;
  tags: string[];
  runs: InterpreterRun[];
}

interface RandomOpCase {
  id: string;
  op: string;
  experiment_salt: string;
  param: string;
  args: PlanoutObject;
  expected: unknown;
  tags: string[];
}

const interpreterCases = loadCases<InterpreterCase>('interpreter.json');
const randomCases = loadCases<RandomOpCase>('random-ops.json');

/** README §1.3 / Q17: only params computed with `exp` may differ by one ulp. */
const ulpsFor = (c: InterpreterCase): number => (c.tags.includes('libm-exp') ? 1 : 0);

describe('interpreter.json', () => {
  it('has cases', () => expect(interpreterCases.length).toBeGreaterThan(0));

  const runs = interpreterCases.flatMap((c) =>
    c.runs.map((run, k) => [`${c.id}#${k} ${c.name} [${c.tags.join(' ')}]`, c, run] as const),
  );

  it.each(runs)('%s', (title, c, run) => {
    countCase();
    // The interpreter writes default salts into the script, so every run gets its own copy.
    const interpreter = new Interpreter(deepCopy(c.script), c.experiment_salt, deepCopy(run.inputs));
    if (run.overrides !== undefined) interpreter.setOverrides(deepCopy(run.overrides));
    const params = interpreter.getParams();
    const expectedKeys = Object.keys(run.expected_params).sort();
    expect(Object.keys(params).sort()).toEqual(expectedKeys);
    for (const key of expectedKeys) {
      expectSame(params[key], run.expected_params[key], `${title} param ${key}`, ulpsFor(c));
    }
    expect(interpreter.inExperiment).toBe(run.expected_in_experiment);
  });
});

describe('random-ops.json (through the interpreter)', () => {
  it('has cases', () => expect(randomCases.length).toBeGreaterThan(0));

  it.each(randomCases.map((c) => [`${c.id} ${c.op} [${c.tags.join(' ')}]`, c] as const))('%s', (_title, c) => {
    countCase();
    const script = { op: 'set', var: c.param, value: { ...deepCopy(c.args), op: c.op } };
    const interpreter = new Interpreter(script, c.experiment_salt, {});
    const params = interpreter.getParams();
    expectSame(params[c.param], c.expected, c.id);
  });
});

afterAll(() => {
  console.log(`interpreter conformance: ${executedCases()} cases executed`);
});
