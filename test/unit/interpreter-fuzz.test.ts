import { describe, expect, it } from '@jest/globals';
import { PlanoutError } from '../../src/core/errors.js';
import { InterpretedExperiment } from '../../src/core/interpreted-experiment.js';
import { DEFAULT_OPERATORS, Interpreter, OperatorRegistry } from '../../src/core/interpreter.js';
import { parsePlanoutJson, stringifyPlanoutJson } from '../../src/core/json.js';
import { PyFloat, setOwn, type PlanoutObject, type PlanoutValue } from '../../src/core/values.js';
import { seededRandom } from '../support/prng.js';

const OPS = DEFAULT_OPERATORS.names();
const BAD_OPS = ['nope', '', 'Set', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'boom', 'jsError'];
const KEYS = [
  'values', 'value', 'left', 'right', 'var', 'seq', 'cond', 'base', 'index', 'choices', 'weights', 'unit',
  'p', 'min', 'max', 'draws', 'salt', 'full_salt', 'if', 'then', 'op', '__proto__', 'constructor', 'x',
];
const NAMES = ['a', 'b', 'x', 'u', 'experiment_salt', 'salt_sep', '__proto__', 'constructor', 'toString', 'prototype'];
const STRINGS = ['', 'a', 'abc', '0', ' ', "it's", 'q"uote', 'back\\slash', 'h\u00e9', '\u{1F600}', '1e5', ' 2.5 ', 'nan', '-inf'];

function generator(seed: number) {
  const rnd = seededRandom(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];

  const scalar = (): PlanoutValue => {
    switch (int(12)) {
      case 0: return null;
      case 1: return rnd() < 0.5;
      case 2: return int(21) - 10;
      case 3: return pick([0, 1, -1, 2, 3, 100, 1e15, -7]);
      case 4: return pick([2n ** 53n + 1n, 2n ** 60n, -(2n ** 63n), 10n ** 30n]);
      case 5: return pick([0.5, -2.75, 1e-5, 0.1, 1e300, NaN, Infinity, -Infinity, 2.5]);
      case 6: return new PyFloat(pick([0, -0, 2, -3, 1e16, 7]));
      case 7: return pick(NAMES);
      default: return pick(STRINGS);
    }
  };

  const value = (depth: number): PlanoutValue => {
    const r = rnd();
    if (depth <= 0 || r < 0.35) return scalar();
    if (r < 0.5) return Array.from({ length: int(4) }, () => value(depth - 1));
    if (r < 0.6) {
      const obj: PlanoutObject = {};
      for (let i = int(3); i > 0; i--) setOwn(obj, pick(KEYS), value(depth - 1));
      return obj;
    }
    return node(depth - 1);
  };

  const node = (depth: number): PlanoutObject => {
    const r = rnd();
    const op: PlanoutValue = r < 0.02 ? scalar() : r < 0.08 ? pick(BAD_OPS) : pick(OPS);
    const out: PlanoutObject = { op };
    // Mostly well-formed shapes, so evaluation gets deep before something fails.
    switch (op) {
      case 'set':
        out.var = rnd() < 0.9 ? pick(NAMES) : scalar();
        out.value = value(depth);
        break;
      case 'get':
        out.var = rnd() < 0.9 ? pick(NAMES) : scalar();
        break;
      case 'seq':
      case 'array':
      case 'and':
      case 'or':
      case 'coalesce':
      case 'sum':
      case 'product':
      case 'min':
      case 'max':
        out[op === 'seq' ? 'seq' : 'values'] = Array.from({ length: int(4) }, () => value(depth));
        break;
      case 'cond':
        out.cond = Array.from({ length: int(3) }, () => (rnd() < 0.9 ? { if: value(depth), then: value(depth) } : value(depth)));
        break;
      case 'uniformChoice':
      case 'weightedChoice':
      case 'bernoulliTrial':
      case 'bernoulliFilter':
      case 'randomInteger':
      case 'randomFloat':
      case 'sample':
      case 'fastSample':
        out.unit = value(depth);
        out.choices = Array.from({ length: int(4) }, () => value(depth - 1));
        out.weights = Array.from({ length: int(4) }, () => (rnd() < 0.8 ? int(5) : scalar()));
        out.p = rnd() < 0.8 ? rnd() : scalar();
        out.min = rnd() < 0.8 ? int(10) : scalar();
        out.max = rnd() < 0.8 ? 10 + int(10) : scalar();
        if (rnd() < 0.3) out.draws = rnd() < 0.8 ? int(3) : scalar();
        if (rnd() < 0.5) out.salt = rnd() < 0.8 ? pick(NAMES) : scalar();
        if (rnd() < 0.1) out.full_salt = rnd() < 0.8 ? pick(STRINGS) : scalar();
        break;
      default:
        // One family of argument keys per node keeps scripts small.
        if (rnd() < 0.5) {
          out.left = value(depth);
          out.right = value(depth);
        } else if (rnd() < 0.7) {
          out.value = value(depth);
        } else {
          out.base = value(depth);
          out.index = value(depth);
        }
    }
    // Random extra or missing keys.
    if (rnd() < 0.2) setOwn(out, pick(KEYS), value(depth - 1));
    if (rnd() < 0.1) delete out[pick(KEYS)];
    return out;
  };

  const deepChain = (): PlanoutValue => {
    let n: PlanoutValue = scalar();
    const length = 500 + int(3000);
    const op = pick(['not', 'negative', 'array', 'literal', 'list']);
    for (let i = 0; i < length; i++) {
      n = op === 'list' ? [n] : op === 'array' ? { op, values: [n] } : { op, value: n };
    }
    return n;
  };

  return {
    script: (): PlanoutValue => {
      if (rnd() < 0.03) return { op: 'set', var: 'deep', value: deepChain() };
      if (rnd() < 0.02) return scalar();
      return { op: 'seq', seq: Array.from({ length: 1 + int(5) }, () => node(1 + int(5))) };
    },
    inputs: (): PlanoutObject => {
      const obj: PlanoutObject = {};
      for (let i = int(4); i > 0; i--) setOwn(obj, pick(NAMES), value(2));
      return obj;
    },
    maybe: (p: number): boolean => rnd() < p,
    name: (): string => pick(NAMES),
    salt: (): string => pick(STRINGS),
  };
}

function show(script: PlanoutValue): string {
  try {
    return stringifyPlanoutJson(script).slice(0, 300);
  } catch {
    return '<unprintable>';
  }
}

/** Custom operators that misbehave the way user code might. */
const operators = new OperatorRegistry(DEFAULT_OPERATORS)
  .register('boom', () => {
    throw new TypeError('user operator bug');
  })
  .register('jsError', () => {
    throw new RangeError('Maximum call stack size exceeded');
  });

describe('interpreter fuzz', () => {
  it('every evaluation succeeds or throws a PlanoutError', () => {
    const gen = generator(20261121);
    const stats = { ok: 0, planoutError: 0 };
    const offenders: string[] = [];
    for (let i = 0; i < 6000; i++) {
      const script = gen.script();
      const interpreter = new Interpreter(script, gen.salt(), gen.inputs(), { operators, experimentName: `fuzz${i}` });
      try {
        if (gen.maybe(0.1)) interpreter.setOverrides(gen.inputs());
        const first = gen.maybe(0.5) ? 'params' : 'inExperiment';
        if (first === 'inExperiment') void interpreter.inExperiment;
        interpreter.getParams();
        interpreter.get(gen.name());
        void interpreter.inExperiment;
        stats.ok++;
      } catch (error) {
        if (error instanceof PlanoutError) stats.planoutError++;
        else offenders.push(`${String(error)} <- ${show(script)}`);
      }
    }
    expect(offenders.slice(0, 5)).toEqual([]);
    // Both outcomes are common, so the generator exercises real evaluation.
    expect(stats.ok).toBeGreaterThan(500);
    expect(stats.planoutError).toBeGreaterThan(500);
  }, 60_000);

  it('scripts parsed from JSON text behave the same', () => {
    const gen = generator(7);
    for (let i = 0; i < 500; i++) {
      const script = gen.script();
      let text: string;
      try {
        text = stringifyPlanoutJson(script);
      } catch {
        continue;
      }
      const run = (s: PlanoutValue): string => {
        try {
          const interp = new Interpreter(s, 'salt', {}, { operators });
          return stringifyPlanoutJson([interp.getParams(), interp.inExperiment]);
        } catch (error) {
          expect(error).toBeInstanceOf(PlanoutError);
          return `error ${(error as Error).name}`;
        }
      };
      let parsed: PlanoutValue;
      try {
        parsed = parsePlanoutJson(text);
      } catch {
        continue; // nesting beyond the parser's limit
      }
      expect(run(parsed)).toBe(run(script));
    }
  });
});

/**
 * Scripts built to hurt: nesting far past the limits (operators, arrays, literals,
 * objects), cycles, products of millions of elements, draws over them, long and
 * growing units, values doubled by sharing, ints squared again and again.
 */
function hostileGenerator(seed: number) {
  const rnd = seededRandom(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  // Log-uniform sizes: mostly small, sometimes millions.
  const size = (max: number): number => Math.floor(Math.exp(rnd() * Math.log(max)));
  const get = (name: string): PlanoutObject => ({ op: 'get', var: name });
  const set = (name: string, value: PlanoutValue): PlanoutObject => ({ op: 'set', var: name, value });

  const nest = (depth: number): PlanoutValue => {
    const kind = pick(['op', 'array', 'arrayOp', 'literal', 'object', 'seq', 'cond']);
    let node: PlanoutValue = kind === 'seq' ? set('leaf', 1) : 1;
    for (let i = 0; i < depth; i++) {
      if (kind === 'op') node = { op: pick(['not', 'negative', 'length', 'round']), value: node };
      else if (kind === 'array' || kind === 'literal') node = [node];
      else if (kind === 'arrayOp') node = { op: 'array', values: [node] };
      else if (kind === 'object') node = { k: node };
      else if (kind === 'seq') node = { op: 'seq', seq: [node] };
      else node = { op: 'cond', cond: [{ if: true, then: node }] };
    }
    return kind === 'literal' ? { op: 'literal', value: node } : node;
  };

  const bigList = (): PlanoutValue => ({ op: 'product', values: [pick([[1], [0, 1], ['a', 'b', 'c']]), size(20_000_000)] });
  const unit = (): PlanoutValue =>
    pick<PlanoutValue>([
      get('userid'),
      [get('userid'), 'x'],
      { op: 'product', values: ['u', size(2_000_000)] },
      { op: 'product', values: [[get('userid')], size(5000)] },
    ]);

  const statement = (i: number): PlanoutValue => {
    const name = `p${i}`;
    switch (int(16)) {
      case 0:
        return set(name, nest(size(150_000)));
      case 12:
        // float() of a long run of digits that is not a number (quadratic backtracking once).
        return set(name, { op: '/', left: { op: 'literal', value: '1'.repeat(size(300_000)) + 'x' }, right: 1 });
      case 13:
      case 14: {
        // A value doubled by sharing, then used where it is walked: a salt, weights, an error message.
        const seq: PlanoutValue[] = [set('d', [1])];
        for (let k = size(45); k > 0; k--) seq.push(set('d', { op: 'array', values: [get('d'), get('d')] }));
        seq.push(
          pick<PlanoutValue>([
            set('experiment_salt', get('d')),
            set('salt_sep', get('d')),
            set(name, { op: 'weightedChoice', choices: [1], weights: { op: 'array', values: [get('d')] }, unit: 1 }),
            set(name, { op: 'bernoulliFilter', choices: { op: 'array', values: [get('d'), get('d')] }, p: 0.5, unit: get('userid') }),
            set(name, { op: 'min', values: get('d') }),
          ]),
        );
        return { op: 'seq', seq };
      }
      case 15:
        return set(name, { op: 'length', value: { op: 'product', values: ['ab', size(20_000_000)] } });
      case 1:
        return set(name, bigList());
      case 2:
        return set(name, { op: pick(['sample', 'fastSample']), choices: bigList(), draws: int(3), unit: unit() });
      case 3:
        return set(name, { op: 'bernoulliFilter', choices: bigList(), p: rnd(), unit: unit() });
      case 4:
        return set(name, { op: 'array', values: Array.from({ length: size(60) }, bigList) });
      case 5: {
        // Doubling by sharing: 2^k elements once expanded, 2k created.
        const seq: PlanoutValue[] = [set('d', [1])];
        for (let k = size(50); k > 0; k--) seq.push(set('d', { op: 'array', values: [get('d'), get('d')] }));
        seq.push(set(name, pick<PlanoutValue>([get('d'), { op: 'equals', left: get('d'), right: get('d') }, { op: 'max', values: [get('d'), get('d')] }, { op: 'map', a: get('d') }, { op: 'uniformChoice', choices: [1, 2], unit: get('d') }])));
        return { op: 'seq', seq };
      }
      case 6: {
        const seq: PlanoutValue[] = [set('n', pick([2n ** 64n, 10n ** 30n, 3]))];
        for (let k = size(60); k > 0; k--) seq.push(set('n', { op: 'product', values: [get('n'), get('n')] }));
        return { op: 'seq', seq };
      }
      case 7:
        return set(name, { op: 'sum', values: bigList() });
      case 8:
        return set(name, { op: 'product', values: [pick(['ab', 'xyz']), size(20_000_000)] });
      case 9:
        return set(name, { op: 'uniformChoice', choices: [1, 2, 3], unit: unit() });
      default:
        return set(name, { op: 'randomInteger', min: 0, max: 100, unit: get('userid') });
    }
  };

  return {
    script: (): PlanoutObject => {
      const seq = Array.from({ length: 1 + int(4) }, (_, i) => statement(i));
      const script: PlanoutObject = { op: 'seq', seq };
      if (rnd() < 0.08) {
        // A cycle somewhere: the script, a literal, or a list.
        const target = pick(['script', 'literal', 'list']);
        if (target === 'script') seq.push(script);
        else if (target === 'literal') {
          const value: PlanoutObject = { a: 1 };
          value.self = value;
          seq.push(set('cyclic', { op: 'literal', value }));
        } else {
          const list: PlanoutValue[] = [1];
          list.push(list);
          seq.push(set('cyclic', list));
        }
      }
      return script;
    },
    budget: () => (rnd() < 0.2 ? { maxOperations: size(200_000), maxElements: size(5_000_000) } : undefined),
  };
}

describe('interpreter fuzz: hostile scripts (large and deep)', () => {
  it('only PlanoutErrors are thrown, and every run stays bounded', () => {
    const gen = hostileGenerator(20261129);
    const stats = { ok: 0, planoutError: 0 };
    const offenders: string[] = [];
    for (let i = 0; i < 150; i++) {
      const script = gen.script();
      const budget = gen.budget();
      try {
        const Defined = InterpretedExperiment.define({ name: `Hostile${i}`, script, budget });
        const experiment = new Defined({ userid: `user${i}` });
        experiment.getParams();
        void experiment.checksum;
        stats.ok++;
      } catch (error) {
        if (error instanceof PlanoutError && error.experiment === `Hostile${i}`) stats.planoutError++;
        else offenders.push(`${String(error)} <- ${show(script)}`);
      }
    }
    expect(offenders.slice(0, 5)).toEqual([]);
    expect(stats.ok).toBeGreaterThan(10);
    expect(stats.planoutError).toBeGreaterThan(50);
    // Bounded: the budgets stop every run (how fast is the bench's to measure, not a test's).
  }, 120_000);

  it('the bare interpreter too', () => {
    const gen = hostileGenerator(11);
    for (let i = 0; i < 60; i++) {
      const script = gen.script();
      try {
        new Interpreter(script, 'salt', { userid: i }, { budget: gen.budget() }).getParams();
      } catch (error) {
        expect(error).toBeInstanceOf(PlanoutError);
      }
    }
  }, 120_000);
});
