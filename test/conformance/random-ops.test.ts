import { afterAll, describe, expect, it } from '@jest/globals';
import { Assignment } from '../../src/core/assignment.js';
import { RANDOM_OPERATORS } from '../../src/core/ops/random.js';
import { deepCopy, type PlanoutObject } from '../../src/core/values.js';
import { countCase, executedCases, expectSame, loadCases } from './vectors.js';

interface RandomOpCase {
  id: string;
  op: keyof typeof RANDOM_OPERATORS;
  experiment_salt: string;
  param: string;
  args: PlanoutObject;
  expected: unknown;
  tags: string[];
}

const cases = loadCases<RandomOpCase>('random-ops.json');

describe('random-ops.json (Assignment API)', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));

  it.each(cases.map((c) => [`${c.id} ${c.op} [${c.tags.join(' ')}]`, c] as const))('%s', (_title, c) => {
    countCase();
    const Op = RANDOM_OPERATORS[c.op];
    const assignment = new Assignment(c.experiment_salt);
    assignment.set(c.param, new Op(deepCopy(c.args) as never));
    expectSame(assignment.get(c.param), c.expected, c.id);
  });

  afterAll(() => {
    console.log(`random-ops conformance: ${executedCases()} cases executed`);
  });
});
