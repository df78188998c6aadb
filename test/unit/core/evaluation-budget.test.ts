import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_EVALUATION_BUDGET } from '../../../src/core/budget.js';
import { PlanoutBudgetError, PlanoutError } from '../../../src/core/errors.js';
import { InterpretedExperiment } from '../../../src/core/interpreted-experiment.js';
import { Interpreter } from '../../../src/core/interpreter.js';
import { Sample } from '../../../src/core/ops/random.js';
import type { EvaluationBudget } from '../../../src/core/budget.js';
import type { PlanoutObject, PlanoutValue } from '../../../src/core/values.js';

const get = (name: string): PlanoutObject => ({ op: 'get', var: name });
const product = (...values: PlanoutValue[]): PlanoutObject => ({ op: 'product', values });
const set = (name: string, value: PlanoutValue): PlanoutObject => ({ op: 'set', var: name, value });
const script = (...seq: PlanoutValue[]): PlanoutObject => ({ op: 'seq', seq });

/** Runs `body` as experiment "Hostile" for one unit; returns the error or the params. */
function run(body: PlanoutObject, budget?: EvaluationBudget, inputs: PlanoutObject = { userid: 42 }) {
  let error: unknown;
  let params: Record<string, unknown> | undefined;
  try {
    const Defined = InterpretedExperiment.define({ name: 'Hostile', script: body, budget });
    params = new Defined(inputs).getParams();
  } catch (caught) {
    error = caught;
  }
  return { error, params };
}

function expectBudgetError(outcome: ReturnType<typeof run>, param: string): void {
  expect(outcome.error).toBeInstanceOf(PlanoutBudgetError);
  const error = outcome.error as PlanoutBudgetError;
  expect(error.experiment).toBe('Hostile');
  expect(error.param).toBe(param);
  expect(error.message).toMatch(/^Experiment "Hostile", param "\w+": evaluation budget exceeded/);
}

describe('evaluation budget (issue 9, item 6): the hostile examples fail fast', () => {
  it('sample over a 10M-element product with draws 1', () => {
    const body = set('s', { op: 'sample', choices: product([1], 10_000_000), draws: 1, unit: get('userid') });
    expectBudgetError(run(body), 's');
  });

  it('fastSample over a 10M-element product', () => {
    const body = set('s', { op: 'fastSample', choices: product([1], 10_000_000), draws: 1, unit: get('userid') });
    expectBudgetError(run(body), 's');
  });

  it('fastSample is charged the draws it makes: all of them when draws is 0', () => {
    const body = (draws: number) => set('s', { op: 'fastSample', choices: product([1], 20_000), draws, unit: get('userid') });
    expect(run(body(3)).error).toBeUndefined();
    expectBudgetError(run(body(0)), 's');
  });

  it('bernoulliFilter over 10M choices', () => {
    const body = set('f', { op: 'bernoulliFilter', choices: product([0], 10_000_000), p: 0.5, unit: get('userid') });
    expectBudgetError(run(body), 'f');
  });

  it('an array of 40 product([1], 10M) fails instead of running out of memory', () => {
    const body = set('a', { op: 'array', values: Array.from({ length: 40 }, () => product([1], 10_000_000)) });
    expectBudgetError(run(body), 'a');
  });

  it('the products of a script are limited in total, not each', () => {
    // Each product alone is within the budget; together they are not.
    const body = script(set('a', product([1], 60_000)), set('b', product([1], 60_000)));
    expectBudgetError(run(body), 'b');
  });

  it('a long string from product counts its characters', () => {
    expectBudgetError(run(set('s', product('abcd', 5_000_000))), 's');
  });

  it('an int squared over and over stops at the budget', () => {
    const seq: PlanoutValue[] = [set('x', 2n ** 64n)];
    for (let i = 0; i < 40; i++) seq.push(set('x', product(get('x'), get('x'))));
    expectBudgetError(run(script(...seq)), 'x');
  });

  it('sum over a huge list charges each element', () => {
    const body = script(set('big', product([1], 90_000)), set('total', { op: 'sum', values: get('big') }));
    expectBudgetError(run(body), 'total');
  });

  it('sample with a list unit and 20k choices', () => {
    const body = set('s', { op: 'sample', choices: product([0, 1, 2, 3], 5_000), unit: [get('userid'), 'x'] });
    expectBudgetError(run(body), 's');
  });

  it('the same sample under a raised budget is linear, not quadratic: it completes', () => {
    const body = set('s', { op: 'sample', choices: product([0, 1, 2, 3], 5_000), unit: [get('userid'), 'x'] });
    const outcome = run(body, { maxOperations: 50_000 });
    expect(outcome.error).toBeUndefined();
    expect((outcome.params!.s as unknown[]).length).toBe(20_000);
  });
});

describe("README's examples", () => {
  it('the messages README shows', () => {
    const body = set('picked', { op: 'sample', choices: product([1], 10_000_000), draws: 1, unit: get('userid') });
    const Picker = InterpretedExperiment.define({ name: 'picker', script: body });
    const outcome = (() => {
      try {
        return new Picker({ userid: 7 }).get('picked');
      } catch (error) {
        return error;
      }
    })();
    expect(outcome).toBeInstanceOf(PlanoutBudgetError);
    expect(`${(outcome as Error).name}: ${(outcome as Error).message}`).toBe(
      'PlanoutBudgetError: Experiment "picker", param "picked": evaluation budget exceeded: at least 10000003 elements needed, ' +
        "the limit is 100000 per assignment (raise maxElements in the experiment's budget or the module's evaluationBudget)",
    );
    const loop = script();
    (loop.seq as PlanoutValue[]).push(loop);
    expect(() => InterpretedExperiment.define({ name: 'loop', script: loop })).toThrow(
      'Experiment "loop": the script contains itself (a cycle); scripts must be trees',
    );
  });

  it('the costliest assignments that pass the defaults', () => {
    const unit: PlanoutValue = [get('userid'), 'x'];
    expect(run(set('s', { op: 'sample', choices: product([1], 9000), unit })).error).toBeUndefined();
    expect(run(set('s', { op: 'sample', choices: product([1], 10_000), unit })).error).toBeInstanceOf(PlanoutBudgetError);
    expect(run(set('p', product([1], 99_000))).error).toBeUndefined();
  });
});

describe('evaluation budget: configuration', () => {
  const big = set('big', product([1], 120_000));

  it('has generous defaults', () => {
    expect(DEFAULT_EVALUATION_BUDGET).toEqual({ maxOperations: 10_000, maxElements: 100_000 });
    const ordinary = script(
      set('choices', product([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 300)),
      set('picked', { op: 'sample', choices: get('choices'), draws: 5, unit: get('userid') }),
      set('kept', { op: 'bernoulliFilter', choices: get('choices'), p: 0.1, unit: get('userid') }),
    );
    expect(run(ordinary).error).toBeUndefined();
  });

  it('per experiment, through define({ budget })', () => {
    expectBudgetError(run(big), 'big');
    const outcome = run(big, { maxElements: 150_000 });
    expect(outcome.error).toBeUndefined();
    expect((outcome.params!.big as unknown[]).length).toBe(120_000);
  });

  it('module-wide defaults sit under the experiment budget', () => {
    const Loose = InterpretedExperiment.define({ name: 'Loose', script: big });
    expect(() => new Loose({}).getParams()).toThrow(PlanoutBudgetError);
    expect(new Loose({}).setBudgetDefaults({ maxElements: 150_000 }).getParams()).toHaveProperty('big');

    const Strict = InterpretedExperiment.define({ name: 'Strict', script: big, budget: { maxElements: 1000 } });
    expect(() => new Strict({}).setBudgetDefaults({ maxElements: 150_000 }).getParams()).toThrow(PlanoutBudgetError);
  });

  it('on the bare interpreter', () => {
    expect(() => new Interpreter(big, 'salt').getParams()).toThrow(PlanoutBudgetError);
    const interpreter = new Interpreter(big, 'salt', {}, { budget: { maxElements: Infinity } });
    expect((interpreter.get('big') as unknown[]).length).toBe(120_000);
  });

  it('an invalid budget fails when the experiment is defined', () => {
    for (const budget of [{ maxOperations: 0 }, { maxElements: -1 }, { maxOperations: Number.NaN }]) {
      expect(() => InterpretedExperiment.define({ name: 'Bad', script: big, budget })).toThrow(PlanoutError);
    }
  });

  it('code experiments (Assignment and random operators) are not metered', () => {
    const choices = Array.from({ length: 120_000 }, (_, i) => i);
    const result = new Sample({ choices, unit: 1, draws: 1, salt: 's' }).execute({ experimentSalt: 'e', saltSep: '.' });
    expect(result).toHaveLength(1);
  });
});

/** The reference's sample, written out naively: the whole unit is re-hashed per draw (a list unit grows). */
function referenceSample(salt: string, param: string, unit: string | string[], choices: number[]): number[] {
  const shuffled = [...choices];
  const grown = Array.isArray(unit) ? [...unit] : undefined;
  for (let i = shuffled.length - 1; i >= 1; i--) {
    grown?.push(String(i));
    const unitText = grown ? grown.join('.') : `${unit as string}.${i}`;
    const digest = createHash('sha1').update(`${salt}.${param}.${unitText}`).digest('hex');
    const j = Number(BigInt('0x' + digest.slice(0, 15)) % BigInt(i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  return shuffled;
}

describe('incremental hashing gives the reference digests', () => {
  it.each([
    ['short, below the incremental threshold', 20],
    ['long', 400],
  ])('%s', (_label, n) => {
    const choices = Array.from({ length: n }, (_, i) => i * 7);
    const interpreter = new Interpreter(set('s', { op: 'sample', choices, unit: ['u1', 'v'] }), 'exp_salt');
    expect(interpreter.get('s')).toEqual(referenceSample('exp_salt', 's', ['u1', 'v'], choices));
  });

  it('a unit list that reaches the threshold mid-sample', () => {
    const unit = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const choices = Array.from({ length: 50 }, (_, i) => i);
    const interpreter = new Interpreter(set('s', { op: 'sample', choices, unit }), 'exp_salt');
    expect(interpreter.get('s')).toEqual(referenceSample('exp_salt', 's', unit, choices));
  });
});

describe('long units are hashed once per draw sequence', () => {
  it('a long string unit gives the reference digests', () => {
    const unit = 'u\u00e9'.repeat(3000); // 6000 chars, non-ASCII too
    const choices = Array.from({ length: 60 }, (_, i) => i);
    const interpreter = new Interpreter(set('s', { op: 'sample', choices, unit }), 'exp_salt');
    expect(interpreter.get('s')).toEqual(referenceSample('exp_salt', 's', unit, choices));
    const single = new Interpreter(set('c', { op: 'uniformChoice', choices, unit }), 'exp_salt');
    const digest = createHash('sha1').update(`exp_salt.c.${unit}`).digest('hex');
    expect(single.get('c')).toBe(Number(BigInt('0x' + digest.slice(0, 15)) % 60n));
  });

  it('a 900k-character unit with 40k draws stays bounded', () => {
    const body = script(
      set('unit', product('x', 900_000)),
      set('s', { op: 'sample', choices: product([1], 40_000), draws: 1, unit: get('unit') }),
    );
    const outcome = run(body, { maxElements: 2_000_000, maxOperations: 100_000 });
    expect(outcome.error).toBeUndefined();
  });

  it('many draws over a long unit are charged for the text they hash', () => {
    // 90 000 / 64 = 1 406 operations per draw: the eighth passes 10 000.
    const draws = Array.from({ length: 200 }, (_, i) => set(`c${i}`, { op: 'uniformChoice', choices: [1, 2], unit: get('unit') }));
    expectBudgetError(run(script(set('unit', product('x', 90_000)), ...draws)), 'c7');
  });
});
