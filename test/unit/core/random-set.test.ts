// `set <param> = <random operator>(...)` runs as one generated function (src/core/ops/random-set.ts).
// These tests run the same scripts with it and with the general compiled path and require the
// same params, errors, salts written into the script, salted-node log and checksums, including
// at every budget limit and nesting depth where the two could part.
import { afterEach, describe, expect, it } from '@jest/globals';
import { Assignment } from '../../../src/core/assignment.js';
import type { EvaluationBudget } from '../../../src/core/budget.js';
import { PlanoutError } from '../../../src/core/errors.js';
import { InterpretedExperiment } from '../../../src/core/interpreted-experiment.js';
import { DEFAULT_OPERATORS, OperatorRegistry, runScript, type DefaultSaltLog } from '../../../src/core/interpreter.js';
import { stringifyPlanoutJson } from '../../../src/core/json.js';
import { compileNode } from '../../../src/core/ops/core.js';
import { randomSetCompilation } from '../../../src/core/ops/random-set.js';
import type { RandomOperatorLike } from '../../../src/core/ops/random.js';
import { deepCopy, toPlain, type PlanoutObject, type PlanoutValue } from '../../../src/core/values.js';
import { seededRandom } from '../../support/prng.js';

interface Scenario {
  /** Builds the script; called once per path, so shared sub-objects are shared in both. */
  script: () => PlanoutObject;
  inputs?: PlanoutObject[];
  overrides?: PlanoutObject;
  budget?: EvaluationBudget;
  mutateScript?: boolean;
  frozen?: boolean;
  refuse?: (operator: RandomOperatorLike, name: string) => boolean;
  operators?: OperatorRegistry;
  /** Called with the script after each unit's run: a host editing the script between runs. */
  afterRun?: (script: PlanoutObject) => void;
}

const UNITS: PlanoutObject[] = [{ userid: 42, list: [1, 2, 3], s: 'abc' }, { userid: 7 }, { userid: 'u-9', list: [] }];

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
}

function describeError(error: unknown): string {
  if (!(error instanceof PlanoutError)) return `not a PlanoutError: ${String(error)}`;
  return `${error.constructor.name} [${error.experiment}/${error.param}] ${error.message}`;
}

/** Everything a run shows: per unit the params or the error, then the script and the salted nodes. */
function outcome(scenario: Scenario, generated: boolean): unknown[] {
  randomSetCompilation.enabled = generated;
  const script = scenario.script();
  if (scenario.frozen === true) deepFreeze(script);
  const shown: unknown[] = [];
  // Fresh inputs: a draw may append to a list unit (quirk Q3).
  for (const inputs of deepCopy(scenario.inputs ?? UNITS)) {
    const environment = new Assignment('salty', undefined, 'E');
    if (scenario.overrides !== undefined) environment.setOverrides(scenario.overrides);
    if (scenario.refuse !== undefined) environment.drawFilter = scenario.refuse;
    const salted: DefaultSaltLog = { nodes: [], names: [] };
    try {
      const inExperiment = runScript(script, 'salty', inputs, {
        environment,
        experimentName: 'E',
        mutateScript: scenario.mutateScript,
        defaultSaltLog: salted,
        budget: scenario.budget,
        operators: scenario.operators,
      });
      shown.push({ inExperiment, params: toPlain(environment.toObject()), salt: environment.experimentSalt, sep: environment.saltSep });
    } catch (error) {
      shown.push(describeError(error));
    }
    shown.push(salted.names, salted.nodes.map((node) => stringifyPlanoutJson(node as PlanoutValue)));
    scenario.afterRun?.(script);
  }
  shown.push(stringifyPlanoutJson(script));
  return shown;
}

function expectSamePaths(scenario: Scenario): void {
  expect(outcome(scenario, true)).toEqual(outcome(scenario, false));
}

afterEach(() => {
  randomSetCompilation.enabled = true;
});

const EXP1 = (): PlanoutObject => ({
  op: 'seq',
  seq: [
    { op: 'set', var: 'group_size', value: { op: 'uniformChoice', choices: { op: 'array', values: [1, 10] }, unit: { op: 'get', var: 'userid' } } },
    { op: 'set', var: 'specific_goal', value: { op: 'bernoulliTrial', p: 0.8, unit: { op: 'get', var: 'userid' } } },
    {
      op: 'set',
      var: 'ratings_goal',
      value: {
        op: 'weightedChoice',
        choices: { op: 'array', values: [8, 16, 32, 64] },
        weights: { op: 'array', values: [0.4, 0.3, 0.2, 0.1] },
        unit: { op: 'get', var: 'userid' },
      },
    },
  ],
});

/** Random scripts made mostly of random-operator statements, some of them outside the generated shape. */
function generatedScript(seed: number): () => PlanoutObject {
  return () => {
    const rnd = seededRandom(seed);
    const int = (n: number): number => Math.floor(rnd() * n);
    const pick = <T>(items: readonly T[]): T => items[int(items.length)];
    const list = (values: PlanoutValue[]): PlanoutValue =>
      pick<() => PlanoutValue>([
        () => ({ op: 'array', values }),
        () => [...values],
        () => ({ op: 'array', values: [...values, { op: 'get', var: 'userid' }] }),
        () => ({ op: 'get', var: 'list' }),
        () => ({ op: 'literal', value: values }),
      ])();
    const unit = (): PlanoutValue =>
      pick<() => PlanoutValue>([
        () => ({ op: 'get', var: 'userid' }),
        () => ({ op: 'get', var: 'userid' }),
        () => ({ op: 'get', var: 'missing' }),
        () => ({ op: 'get', var: 's' }),
        () => 5,
        () => ({ op: 'array', values: [{ op: 'get', var: 'userid' }, 'x'] }),
        () => ({ op: 'get', var: 'list' }),
      ])();
    const operator = (): PlanoutObject => {
      const op = pick(['uniformChoice', 'weightedChoice', 'bernoulliTrial', 'bernoulliFilter', 'randomInteger', 'randomFloat', 'sample', 'fastSample']);
      const node: PlanoutObject = { op };
      if (op !== 'bernoulliTrial' && op !== 'randomInteger' && op !== 'randomFloat') node.choices = list(pick([[1, 2, 3], ['a', 'b'], [], [0.5]]));
      if (op === 'weightedChoice') node.weights = list(pick([[1, 2, 3], [0.4, 0.6], [0, 0], ['x']]));
      if (op === 'bernoulliTrial' || op === 'bernoulliFilter') node.p = pick([0.5, 0.8, 0, 1, 2, 'x']);
      if (op === 'randomInteger' || op === 'randomFloat') {
        node.min = pick([0, 1, -3, 2.5]);
        node.max = pick([10, 1, 100, 'x']);
      }
      if ((op === 'sample' || op === 'fastSample') && rnd() < 0.5) node.draws = pick([1, 2, 5, -1]);
      if (rnd() < 0.9) node.unit = unit();
      const salt = rnd();
      if (salt < 0.15) node.salt = pick(['fixed', '', 3]);
      else if (salt < 0.2) node.salt = { op: 'get', var: 's' };
      else if (salt < 0.25) node.full_salt = 'full';
      return node;
    };
    const statements: PlanoutValue[] = [];
    const names = ['a', 'b', 'c', 'a', 'experiment_salt', 'salt_sep', 'constructor'];
    let previous: PlanoutObject | undefined;
    for (let i = 1 + int(4); i > 0; i--) {
      const r = rnd();
      if (r < 0.75) {
        // Now and then the same operator node under a second name, as a script object may share it.
        const value = previous !== undefined && rnd() < 0.15 ? previous : operator();
        previous = value;
        statements.push({ op: 'set', var: pick(names), value });
      } else if (r < 0.85) {
        statements.push({ op: 'set', var: pick(names), value: pick<PlanoutValue>([3, 'v', { op: 'get', var: 'a' }]) });
      } else if (r < 0.92) {
        statements.push({ op: 'return', value: { op: 'get', var: pick(['a', 'userid']) } });
      } else {
        statements.push({ op: 'set', var: pick(names), value: operator() });
        statements.push({ op: 'set', var: 'salt_sep', value: '-' });
      }
    }
    return { op: 'seq', seq: statements };
  };
}

describe('generated random-operator statements', () => {
  it('are generated for the statements of Exp1, and only where the shape allows', () => {
    const [first, second, third] = EXP1().seq as PlanoutObject[];
    for (const statement of [first, second, third]) expect(compileNode(statement).name).toBe('randomSet');
    // A unit built by an operator, a reserved name, a non-random value: the general path.
    const compound = { op: 'set', var: 'x', value: { op: 'uniformChoice', choices: [1, 2], unit: { op: 'array', values: [{ op: 'get', var: 'userid' }] } } };
    const reserved = { op: 'set', var: 'experiment_salt', value: { op: 'uniformChoice', choices: [1, 2], unit: 1 } };
    const plain = { op: 'set', var: 'x', value: { op: 'get', var: 'userid' } };
    for (const statement of [compound, reserved, plain]) expect(compileNode(statement).name).not.toBe('randomSet');
    randomSetCompilation.enabled = false;
    expect(compileNode((EXP1().seq as PlanoutObject[])[0]).name).not.toBe('randomSet');
  });

  it('match the general path on Exp1, shared and mutating, for many units', () => {
    const inputs = Array.from({ length: 200 }, (_, i) => ({ userid: i }));
    expectSamePaths({ script: EXP1, inputs, mutateScript: false });
    expectSamePaths({ script: EXP1, inputs, mutateScript: true });
    expectSamePaths({ script: EXP1, inputs, frozen: true });
  });

  it('match the general path at every operation and element limit around Exp1', () => {
    for (let maxOperations = 1; maxOperations <= 16; maxOperations++) {
      expectSamePaths({ script: EXP1, budget: { maxOperations } });
    }
    for (let maxElements = 1; maxElements <= 16; maxElements++) {
      expectSamePaths({ script: EXP1, budget: { maxElements } });
    }
  });

  it('match the general path at the nesting limit', () => {
    // A checked script cannot nest deeper at run time than in its structure, so nesting is
    // built at run time: `nest` evaluates a new `nest` node one level down, n times, then its body.
    const operators = new OperatorRegistry(DEFAULT_OPERATORS).register('nest', (node, context) => {
      const n = node.n as number;
      return context.evaluate(n > 0 ? { op: 'nest', n: n - 1, body: node.body } : node.body);
    });
    for (let levels = 990; levels <= 1000; levels++) {
      const script = (): PlanoutObject => ({ op: 'nest', n: levels, body: EXP1() });
      expectSamePaths({ script, operators, inputs: [{ userid: 3 }] });
    }
  });

  it('match the general path when an earlier draw grew a list the statement reads', () => {
    // `sample` appends its draws to a list unit in place (quirk Q3); here that list is also
    // the choices of the next statement, which must then charge its new length.
    const script = (): PlanoutObject => {
      const shared: PlanoutValue[] = [1, 2, 3];
      return {
        op: 'seq',
        seq: [
          { op: 'set', var: 'a', value: { op: 'sample', choices: [4, 5, 6], unit: { op: 'literal', value: shared } } },
          { op: 'set', var: 'b', value: { op: 'uniformChoice', choices: { op: 'array', values: shared }, unit: { op: 'get', var: 'userid' } } },
        ],
      };
    };
    for (let maxElements = 1; maxElements <= 40; maxElements++) expectSamePaths({ script, budget: { maxElements } });
  });

  it('match the general path when the script is given a salt between runs', () => {
    const operatorOf = (script: PlanoutObject, i: number): PlanoutObject => ((script.seq as PlanoutObject[])[i].value as PlanoutObject);
    expectSamePaths({ script: EXP1, mutateScript: false, afterRun: (script) => (operatorOf(script, 0).salt = 'written') });
    expectSamePaths({ script: EXP1, mutateScript: false, afterRun: (script) => (operatorOf(script, 1).salt = { op: 'get', var: 's' }) });
    expectSamePaths({ script: EXP1, mutateScript: false, afterRun: (script) => (operatorOf(script, 2).salt = 7) });
  });

  it('match the general path with overrides and a draw filter', () => {
    expectSamePaths({ script: EXP1, overrides: { specific_goal: 5, userid: 9 } });
    expectSamePaths({ script: EXP1, overrides: { group_size: [1] }, mutateScript: false });
    expectSamePaths({ script: EXP1, refuse: (operator) => operator.opName !== 'bernoulliTrial' });
    expectSamePaths({ script: EXP1, refuse: (_operator, name) => name !== 'group_size', mutateScript: false });
  });

  it('match the general path on 600 random scripts, each in four modes', () => {
    for (let seed = 1; seed <= 600; seed++) {
      const script = generatedScript(seed);
      expectSamePaths({ script, mutateScript: true });
      expectSamePaths({ script, mutateScript: false });
      expectSamePaths({ script, frozen: true });
      expectSamePaths({ script, budget: { maxOperations: 1 + (seed % 12), maxElements: 1 + (seed % 7) }, mutateScript: seed % 2 === 0 });
    }
  });

  it('fall back to the general path where code cannot be generated (a content security policy)', () => {
    // A shape no other test compiles, so no generated code is cached for it yet.
    const script = (): PlanoutObject => ({
      op: 'seq',
      seq: [{ op: 'set', var: 'csp', value: { unit: { op: 'get', var: 'userid' }, op: 'randomInteger', max: 99, min: 3 } }],
    });
    const expected = outcome({ script }, false);
    const realFunction = globalThis.Function;
    globalThis.Function = function forbidden(): never {
      throw new EvalError('Code generation from strings disallowed for this context');
    } as unknown as FunctionConstructor;
    try {
      expect(compileNode((script().seq as PlanoutObject[])[0]).name).not.toBe('randomSet');
      expect(outcome({ script }, true)).toEqual(expected);
    } finally {
      globalThis.Function = realFunction;
    }
  });

  it('give InterpretedExperiment the same params and checksums', () => {
    const run = (generated: boolean): unknown[] => {
      randomSetCompilation.enabled = generated;
      const Exp = InterpretedExperiment.define({ script: EXP1(), name: 'Exp1' });
      return Array.from({ length: 50 }, (_, userid) => {
        const exp = new Exp({ userid });
        return [exp.getParams(), exp.checksum];
      });
    };
    expect(run(true)).toEqual(run(false));
  });
});
