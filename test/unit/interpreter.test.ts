import { describe, expect, it } from '@jest/globals';
import { Assignment } from '../../src/core/assignment.js';
import { PlanoutArgumentError, PlanoutError, PlanoutScriptError } from '../../src/core/errors.js';
import {
  DEFAULT_OPERATORS,
  Interpreter,
  OperatorRegistry,
  randomOperator,
  simpleOperator,
} from '../../src/core/interpreter.js';
import { parsePlanoutJson, stringifyPlanoutJson } from '../../src/core/json.js';
import { RandomInteger, UniformChoice } from '../../src/core/ops/random.js';
import { pyRepr, type PlanoutObject, type PlanoutValue } from '../../src/core/values.js';

/** Parses a script keeping `2.0` a float. */
const js = (text: string): PlanoutValue => parsePlanoutJson(text);

/** Value of `x` after `set x = <expr>` (the raw Python value, PyFloat boxes kept). */
function evalExpr(expr: string, inputs: Record<string, unknown> = {}): PlanoutValue {
  const interpreter = new Interpreter(js(`{"op": "set", "var": "x", "value": ${expr}}`), 'salt', inputs);
  interpreter.getParams();
  return interpreter.environment.get('x') as PlanoutValue;
}

/** Python `repr` of the result: distinguishes `2` from `2.0`. */
const reprOf = (expr: string, inputs: Record<string, unknown> = {}): string => pyRepr(evalExpr(expr, inputs));

function errorOf(fn: () => unknown): PlanoutError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PlanoutError);
    return error as PlanoutError;
  }
  throw new Error('expected a PlanoutError');
}

const bin = (op: string, left: string, right: string): string => `{"op": "${op}", "left": ${left}, "right": ${right}}`;
const vals = (op: string, values: string): string => `{"op": "${op}", "values": ${values}}`;
const un = (op: string, value: string): string => `{"op": "${op}", "value": ${value}}`;

describe('Interpreter basics', () => {
  it('evaluates lazily, once, on the first read', () => {
    let calls = 0;
    const ops = new OperatorRegistry(DEFAULT_OPERATORS).register('count', () => ++calls);
    const interpreter = new Interpreter({ op: 'set', var: 'n', value: { op: 'count' } }, 's', {}, { operators: ops });
    expect(calls).toBe(0);
    expect(interpreter.evaluated).toBe(false);
    expect(interpreter.get('n')).toBe(1);
    expect(interpreter.getParams()).toEqual({ n: 1 });
    expect(interpreter.inExperiment).toBe(true);
    expect(calls).toBe(1);
  });

  it('inExperiment read before anything else evaluates and tells the truth', () => {
    const script = js('{"op": "seq", "seq": [{"op": "set", "var": "a", "value": 1}, {"op": "return", "value": false}, {"op": "set", "var": "b", "value": 2}]}');
    const interpreter = new Interpreter(script, 'salt');
    expect(interpreter.inExperiment).toBe(false);
    expect(interpreter.getParams()).toEqual({ a: 1 });
  });

  it('return uses Python truthiness; no return means in experiment', () => {
    for (const [value, expected] of [
      ['[]', false],
      ['{}', false],
      ['0.0', false],
      ['""', false],
      ['null', false],
      ['"0"', true],
      ['[0]', true],
      ['-1', true],
      ['{"op": "literal", "value": {"k": 0}}', true],
    ] as const) {
      expect(new Interpreter(js(`{"op": "return", "value": ${value}}`)).inExperiment).toBe(expected);
    }
    expect(new Interpreter(js('{"op": "set", "var": "x", "value": 1}')).inExperiment).toBe(true);
  });

  it('get prefers params (even None) over inputs, and returns None when missing', () => {
    const script = js(`{"op": "seq", "seq": [
      {"op": "set", "var": "u", "value": null},
      {"op": "set", "var": "a", "value": {"op": "get", "var": "u"}},
      {"op": "set", "var": "b", "value": {"op": "get", "var": "v"}},
      {"op": "set", "var": "c", "value": {"op": "get", "var": "missing"}}]}`);
    const interpreter = new Interpreter(script, 's', { u: 'input-u', v: 'input-v' });
    expect(interpreter.getParams()).toEqual({ u: null, a: null, b: 'input-v', c: null });
    expect(interpreter.get('v')).toBe('input-v');
    expect(interpreter.get('nope', 'dflt')).toBe('dflt');
    expect(interpreter.get('nope')).toBeNull();
  });

  it('overrides fix params and replace inputs read by get', () => {
    const script = js(`{"op": "seq", "seq": [
      {"op": "set", "var": "color", "value": {"op": "uniformChoice", "choices": ["r", "g"], "unit": {"op": "get", "var": "id"}}},
      {"op": "set", "var": "echo", "value": {"op": "get", "var": "id"}}]}`);
    const interpreter = new Interpreter(script, 's', { id: 1 }).setOverrides({ color: 'blue', id: 42 });
    expect(interpreter.getParams()).toEqual({ color: 'blue', id: 42, echo: 42 });
    expect(interpreter.hasOverride('color')).toBe(true);
  });

  it('stores params in a given environment', () => {
    const env = new Assignment('exp_salt');
    const interpreter = new Interpreter(js('{"op": "set", "var": "x", "value": 3}'), 'exp_salt', {}, { environment: env });
    expect(interpreter.inExperiment).toBe(true);
    expect(env.get('x')).toBe(3);
    expect(interpreter.environment).toBe(env);
  });

  it('writes the default salt into the script, as the reference (checksum input)', () => {
    const script = js('{"op": "set", "var": "p", "value": {"op": "bernoulliTrial", "p": 0.5, "unit": 1}}');
    new Interpreter(script, 's').getParams();
    expect(stringifyPlanoutJson(script)).toBe(
      '{"op": "set", "var": "p", "value": {"op": "bernoulliTrial", "p": 0.5, "unit": 1, "salt": "p"}}',
    );
    // Even non-random operators get one (the reference does not distinguish).
    const other = js('{"op": "set", "var": "q", "value": {"op": "get", "var": "u"}}') as PlanoutObject;
    new Interpreter(other, 's').getParams();
    expect((other.value as PlanoutObject).salt).toBe('q');
  });

  it('runs frozen scripts without mutating them', () => {
    const value = Object.freeze({ op: 'uniformChoice', choices: Object.freeze(['a', 'b']), unit: 7 });
    const script = Object.freeze({ op: 'set', var: 'c', value }) as unknown as PlanoutValue;
    const expected = new Interpreter(js('{"op": "set", "var": "c", "value": {"op": "uniformChoice", "choices": ["a", "b"], "unit": 7}}'), 's').get('c');
    expect(new Interpreter(script, 's').get('c')).toBe(expected);
    expect(Object.keys(value)).not.toContain('salt');
  });

  it('experiment_salt changes later hashing and get; salt_sep changes the separator; neither is a param', () => {
    const withSalt = js(`{"op": "seq", "seq": [
      {"op": "set", "var": "experiment_salt", "value": "other"},
      {"op": "set", "var": "s", "value": {"op": "get", "var": "experiment_salt"}},
      {"op": "set", "var": "c", "value": {"op": "randomInteger", "min": 0, "max": 1000000, "unit": 5}}]}`);
    const a = new Interpreter(withSalt, 'original');
    const reference = new Interpreter(js('{"op": "set", "var": "c", "value": {"op": "randomInteger", "min": 0, "max": 1000000, "unit": 5}}'), 'other');
    expect(a.getParams()).toEqual({ s: 'other', c: reference.get('c') });

    const withSep = js(`{"op": "seq", "seq": [
      {"op": "set", "var": "salt_sep", "value": "|"},
      {"op": "set", "var": "g", "value": {"op": "get", "var": "salt_sep"}},
      {"op": "set", "var": "c", "value": {"op": "randomInteger", "min": 0, "max": 1000000, "unit": 5}}]}`);
    const b = new Interpreter(withSep, 'x');
    const expected = new RandomInteger({ min: 0, max: 1000000, unit: 5, salt: 'c' }).execute({ experimentSalt: 'x', saltSep: '|' });
    expect(b.getParams()).toEqual({ g: null, c: expected });
    expect(b.environment.saltSep).toBe('|');
  });

  it('public evaluate runs a node in the environment', () => {
    const interpreter = new Interpreter(js('{"op": "seq", "seq": []}'), 's', { a: 2 });
    expect(interpreter.evaluate(js(vals('sum', '[{"op": "get", "var": "a"}, 3]')))).toBe(5);
    expect(interpreter.evaluate(js('{"op": "return", "value": 0}'))).toBeNull();
    expect(interpreter.inExperiment).toBe(false);
  });
});

describe('custom operators', () => {
  it('registers on a copy; the default registry stays frozen and unchanged', () => {
    const ops = new OperatorRegistry(DEFAULT_OPERATORS).register(
      'double',
      simpleOperator((args, ctx) => {
        const v = args.value;
        if (typeof v !== 'number') return ctx.fail('double: value must be a number', PlanoutArgumentError);
        return v * 2;
      }),
    );
    const script = js('{"op": "set", "var": "d", "value": {"op": "double", "value": {"op": "get", "var": "n"}}}');
    expect(new Interpreter(script, 's', { n: 21 }, { operators: ops }).get('d')).toBe(42);
    expect(DEFAULT_OPERATORS.has('double')).toBe(false);
    expect(DEFAULT_OPERATORS.isFrozen).toBe(true);
    expect(() => DEFAULT_OPERATORS.register('x', () => null)).toThrow(PlanoutError);
    expect(() => new OperatorRegistry(DEFAULT_OPERATORS).register('sum', () => null)).toThrow(/already registered/);
    expect(DEFAULT_OPERATORS.names()).toHaveLength(37);

    const err = errorOf(() => new Interpreter(js('{"op": "set", "var": "d", "value": {"op": "double", "value": "a"}}'), 's', {}, { operators: ops }).getParams());
    expect(err).toBeInstanceOf(PlanoutArgumentError);
    expect(err.message).toBe('Experiment "s", param "d": double: value must be a number');
  });

  it('adapts random operator classes', () => {
    const ops = new OperatorRegistry().register('myChoice', randomOperator(UniformChoice));
    const mine = new Interpreter(js('{"op": "set", "var": "c", "value": {"op": "myChoice", "choices": [1, 2, 3], "unit": 9}}'), 's', {}, { operators: ops });
    const builtin = new Interpreter(js('{"op": "set", "var": "c", "value": {"op": "uniformChoice", "choices": [1, 2, 3], "unit": 9}}'), 's');
    expect(mine.get('c')).toBe(builtin.get('c'));
  });

  it('unknown operators name the operator, the experiment and the param', () => {
    const script = js('{"op": "seq", "seq": [{"op": "set", "var": "color", "value": {"op": "nope", "x": 1}}]}');
    const named = errorOf(() => new Interpreter(script, 'salty', {}, { experimentName: 'Exp1' }).getParams());
    expect(named).toBeInstanceOf(PlanoutScriptError);
    expect(named.message).toBe('Experiment "Exp1", param "color": unknown operator "nope"');
    expect(named.experiment).toBe('Exp1');
    expect(named.param).toBe('color');
    const bySalt = errorOf(() => new Interpreter(js('{"op": 5}'), 'salty').inExperiment);
    expect(bySalt.message).toBe('Experiment "salty": unknown operator of type int');
  });
});

describe('Python operator semantics', () => {
  it('% takes the sign of the divisor; ints stay ints, floats stay floats', () => {
    expect(reprOf(bin('%', '-7', '3'))).toBe('2');
    expect(reprOf(bin('%', '7', '-3'))).toBe('-2');
    expect(reprOf(bin('%', '-2.75', '2'))).toBe('1.25');
    expect(reprOf(bin('%', '5.5', '-2'))).toBe('-0.5');
    expect(reprOf(bin('%', '-0.0', '5'))).toBe('0.0');
    expect(reprOf(bin('%', '0.0', '-5'))).toBe('-0.0');
    expect(reprOf(bin('%', '6.0', '3'))).toBe('0.0');
    expect(reprOf(bin('%', '1152921504606846976', '7'))).toBe('1');
    expect(reprOf(bin('%', '-1152921504606846976', '7'))).toBe('6');
    expect(reprOf(bin('%', 'true', '2'))).toBe('1');
    expect(reprOf(bin('%', '7', '2.5'))).toBe('2.0');
    expect(reprOf(bin('%', '{"op": "/", "left": 1, "right": 0.0000001}', '5'))).toBe('0.0');
    expect(reprOf(bin('%', '-5.0', '{"op": "/", "left": "inf", "right": 1}'))).toBe('inf');
    expect(reprOf(bin('%', '{"op": "/", "left": "inf", "right": 1}', '5'))).toBe('nan');
  });

  it('/ is always a float and parses strings like float()', () => {
    expect(reprOf(bin('/', '6', '3'))).toBe('2.0');
    expect(reprOf(bin('/', '1', '4'))).toBe('0.25');
    expect(reprOf(bin('/', '" 1_000.5 "', '1'))).toBe('1000.5');
    expect(reprOf(bin('/', '"-inf"', '1'))).toBe('-inf');
  });

  it('round is half-to-even and returns ints', () => {
    const cases: [string, string][] = [
      ['2.5', '2'],
      ['-2.5', '-2'],
      ['3.5', '4'],
      ['0.5', '0'],
      ['-0.5', '0'],
      ['2.675', '3'],
      ['-0.49999999999999994', '0'],
      ['1e16', '10000000000000000'],
      ['1e300', BigInt(1e300).toString()],
      ['7', '7'],
      ['true', '1'],
    ];
    for (const [input, expected] of cases) expect(reprOf(un('round', input))).toBe(expected);
  });

  it('sum and product track int vs float and are exact beyond 2^53', () => {
    expect(reprOf(vals('sum', '[1, 2.5]'))).toBe('3.5');
    expect(reprOf(vals('sum', '[1, 2.0]'))).toBe('3.0');
    expect(reprOf(vals('sum', '[]'))).toBe('0');
    expect(reprOf(vals('sum', '[true, true]'))).toBe('2');
    expect(reprOf(vals('sum', '[9007199254740992, 1]'))).toBe('9007199254740993');
    expect(reprOf(vals('product', '[9007199254740993, 3]'))).toBe('27021597764222979');
    expect(reprOf(vals('product', '[2, 3]'))).toBe('6');
    expect(reprOf(vals('product', '[2, 3.0]'))).toBe('6.0');
    expect(reprOf(vals('product', '[-1, 0]'))).toBe('0');
    expect(reprOf(vals('product', '[true]'))).toBe('True');
    expect(reprOf(vals('product', '[2, "ab"]'))).toBe("'abab'");
    expect(reprOf(vals('product', '[{"op": "array", "values": [1]}, 3]'))).toBe('[1, 1, 1]');
    expect(reprOf(vals('product', '[true, 2.5]'))).toBe('2.5');
  });

  it('negative, exp and sqrt', () => {
    expect(reprOf(un('negative', '5'))).toBe('-5');
    expect(reprOf(un('negative', '0'))).toBe('0');
    expect(reprOf(un('negative', '2.0'))).toBe('-2.0');
    expect(reprOf(un('negative', 'true'))).toBe('-1');
    expect(reprOf(un('sqrt', '4'))).toBe('2.0');
    expect(reprOf(un('sqrt', '2'))).toBe('1.4142135623730951');
    expect(reprOf(un('exp', '0'))).toBe('1.0');
  });

  it('min/max return the first of equal elements and compare lists lexicographically', () => {
    expect(reprOf(vals('min', '[1.0, 1, 2]'))).toBe('1.0');
    expect(reprOf(vals('max', '[1, 1.0, true]'))).toBe('1');
    expect(reprOf(vals('min', '[[1, 2], [1]]'))).toBe('[1]');
    expect(reprOf(vals('max', '["a", "b"]'))).toBe("'b'");
    expect(reprOf(vals('min', '[{"op": "literal", "value": {"k": 1}}]'))).toBe("{'k': 1}");
  });

  it('equality and ordering follow Python', () => {
    expect(evalExpr(bin('equals', '1', '1.0'))).toBe(true);
    expect(evalExpr(bin('equals', '1', 'true'))).toBe(true);
    expect(evalExpr(bin('equals', '"1"', '1'))).toBe(false);
    expect(evalExpr(bin('equals', '[1, [2]]', '[1.0, [2]]'))).toBe(true);
    expect(evalExpr(bin('<', '[1, 2]', '[1, 3]'))).toBe(true);
    expect(evalExpr(bin('>=', '"b"', '"a"'))).toBe(true);
    expect(evalExpr(bin('<', '9007199254740993', '9007199254740992.0'))).toBe(false);
    expect(evalExpr(bin('>', '9007199254740993', '9007199254740992.0'))).toBe(true);
  });

  it('and/or return booleans; not, coalesce, length', () => {
    expect(evalExpr(vals('and', '[1, "x"]'))).toBe(true);
    expect(evalExpr(vals('and', '[1, []]'))).toBe(false);
    expect(evalExpr(vals('or', '[0, ""]'))).toBe(false);
    expect(evalExpr(vals('or', '[0, "x"]'))).toBe(true);
    expect(evalExpr(un('not', '{"op": "literal", "value": {}}'))).toBe(true);
    expect(evalExpr(vals('coalesce', '[null, {"op": "get", "var": "nope"}, 0, 5]'))).toBe(0);
    expect(evalExpr(vals('coalesce', '[null]'))).toBeNull();
    expect(evalExpr(un('length', '"h\u00e9llo"'))).toBe(5);
    expect(evalExpr(un('length', '[1, 2]'))).toBe(2);
    expect(evalExpr(un('length', '{"op": "literal", "value": {"a": 1, "b": 2}}'))).toBe(2);
  });

  it('and/or short-circuit', () => {
    const script = js(`{"op": "seq", "seq": [
      {"op": "set", "var": "r", "value": {"op": "or", "values": [1, {"op": "set", "var": "side", "value": 1}]}}]}`);
    expect(new Interpreter(script, 's').getParams()).toEqual({ r: true });
  });

  it('index: lists by int (None when out of range), maps by key', () => {
    expect(evalExpr('{"op": "index", "base": [10, 20], "index": 1}')).toBe(20);
    expect(evalExpr('{"op": "index", "base": [10, 20], "index": true}')).toBe(20);
    expect(evalExpr('{"op": "index", "base": [10, 20], "index": 2}')).toBeNull();
    expect(evalExpr('{"op": "index", "base": [10, 20], "index": -1}')).toBeNull();
    expect(evalExpr('{"op": "index", "base": [10, 20], "index": 5.0}')).toBeNull();
    expect(evalExpr('{"op": "index", "base": {"op": "literal", "value": {"a": 1}}, "index": "a"}')).toBe(1);
    expect(evalExpr('{"op": "index", "base": {"op": "literal", "value": {"a": 1}}, "index": "b"}')).toBeNull();
    expect(evalExpr('{"op": "index", "base": {"op": "literal", "value": {"1": 1}}, "index": 1}')).toBeNull();
    expect(evalExpr('{"op": "index", "base": {"op": "literal", "value": {}}, "index": "constructor"}')).toBeNull();
  });

  it('literal is not evaluated; map drops op and salt; cond picks the first truthy branch', () => {
    expect(evalExpr('{"op": "literal", "value": {"op": "nope"}}')).toEqual({ op: 'nope' });
    expect(evalExpr('{"op": "map", "a": {"op": "sum", "values": [1, 2]}, "b": [1]}')).toEqual({ a: 3, b: [1] });
    expect(
      evalExpr('{"op": "cond", "cond": [{"if": 0, "then": "a"}, {"if": [0], "then": "b"}, {"if": true, "then": "c"}]}'),
    ).toBe('b');
    expect(evalExpr('{"op": "cond", "cond": [{"if": 0, "then": "a"}]}')).toBeNull();
  });

  it('list units of get are mutated by appended draws (Q3)', () => {
    const script = js(`{"op": "seq", "seq": [
      {"op": "set", "var": "u", "value": [1, 2]},
      {"op": "set", "var": "s", "value": {"op": "sample", "choices": [1, 2, 3], "unit": {"op": "get", "var": "u"}}}]}`);
    expect(new Interpreter(script, 'salt').getParams().u).toEqual([1, 2, 2, 1]);
  });
});

describe('errors', () => {
  const expectError = (expr: string, kind: typeof PlanoutError, pattern: RegExp): void => {
    const error = errorOf(() => evalExpr(expr));
    expect(error).toBeInstanceOf(kind);
    expect(error.message).toMatch(/^Experiment "salt", param "x": /);
    expect(error.message).toMatch(pattern);
  };

  it('raises where the reference raises, naming experiment and param', () => {
    expectError(bin('<', '[1]', '1'), PlanoutArgumentError, /not supported between instances of 'list' and 'int'/);
    expectError(bin('<', 'null', 'null'), PlanoutArgumentError, /not supported/);
    expectError(vals('max', '[1, "a"]'), PlanoutArgumentError, /not supported/);
    expectError(bin('%', '1', '0'), PlanoutArgumentError, /modulo by zero/);
    expectError(bin('%', '1.5', '0'), PlanoutArgumentError, /modulo by zero/);
    expectError(bin('/', '1', '0'), PlanoutArgumentError, /division by zero/);
    expectError(bin('/', '"abc"', '1'), PlanoutArgumentError, /could not convert/);
    expectError('{"op": "index", "base": [1, 2], "index": 1.0}', PlanoutArgumentError, /list indices must be integers/);
    expectError('{"op": "index", "base": [1, 2], "index": "a"}', PlanoutArgumentError, /not supported/);
    expectError('{"op": "index", "base": 5, "index": 0}', PlanoutScriptError, /base must be a map or list/);
    expectError(vals('sum', '[1, "a"]'), PlanoutArgumentError, /unsupported operand/);
    expectError(vals('product', '[]'), PlanoutArgumentError, /empty/);
    expectError(vals('min', '[]'), PlanoutArgumentError, /empty sequence/);
    expectError(un('length', '5'), PlanoutArgumentError, /has no len/);
    expectError(un('round', '"a"'), PlanoutArgumentError, /__round__/);
    expectError(un('sqrt', '-1'), PlanoutArgumentError, /math domain error/);
    expectError(un('exp', '1000'), PlanoutArgumentError, /math range error/);
    expectError('{"op": "get"}', PlanoutScriptError, /missing argument "var"/);
    expectError('{"op": "get", "var": 5}', PlanoutScriptError, /var must be a string/);
    expectError('{"op": "array", "values": 5}', PlanoutScriptError, /must be a list/);
    expectError('{"op": "cond", "cond": [{"if": true}]}', PlanoutScriptError, /without "then"/);
    expectError(bin('equals', '1', '{"op": "nope"}'), PlanoutScriptError, /unknown operator "nope"/);
  });

  it('errors from operators name the param being set, whatever they said', () => {
    const random = errorOf(() => evalExpr('{"op": "bernoulliTrial", "p": 2, "unit": 1, "salt": "custom"}'));
    expect(random).toBeInstanceOf(PlanoutArgumentError);
    expect(random.message).toBe('Experiment "salt", param "x": bernoulliTrial: p must be between 0 and 1, got 2');
    const ops = new OperatorRegistry().register('bare', () => {
      throw new PlanoutArgumentError('bare failure');
    });
    const bare = errorOf(() => new Interpreter(js('{"op": "set", "var": "v", "value": {"op": "bare"}}'), 's', {}, { operators: ops }).getParams());
    expect(bare).toBeInstanceOf(PlanoutArgumentError);
    expect(bare.message).toBe('Experiment "s", param "v": bare failure');
    const crash = new OperatorRegistry().register('crash', () => {
      throw new TypeError('oops');
    });
    const wrapped = errorOf(() => new Interpreter(js('{"op": "set", "var": "v", "value": {"op": "crash"}}'), 's', {}, { operators: crash }).getParams());
    expect(wrapped).toBeInstanceOf(PlanoutScriptError);
    expect(wrapped.message).toBe('Experiment "s", param "v": evaluation failed: TypeError: oops');
  });

  it('map and random operators nested without salt raise (Q6)', () => {
    expectError('{"op": "array", "values": [{"op": "map", "a": 1}]}', PlanoutScriptError, /salt/);
    expectError(
      '{"op": "array", "values": [{"op": "uniformChoice", "choices": [1, 2], "unit": 1}]}',
      PlanoutArgumentError,
      /salt/,
    );
    expect(evalExpr('{"op": "array", "values": [{"op": "uniformChoice", "choices": [1], "unit": 1, "salt": "y"}]}')).toEqual([1]);
  });

  it('deep nesting is a PlanoutScriptError, not a stack overflow', () => {
    let node: PlanoutValue = 1;
    for (let i = 0; i < 50_000; i++) node = { op: 'not', value: node };
    const error = errorOf(() => new Interpreter({ op: 'set', var: 'deep', value: node }, 's').getParams());
    expect(error).toBeInstanceOf(PlanoutScriptError);
    expect(error.message).toMatch(/nested/);

    let list: PlanoutValue = [];
    for (let i = 0; i < 50_000; i++) list = [list];
    const literal = errorOf(() => new Interpreter({ op: 'set', var: 'l', value: { op: 'literal', value: list } }, 's').getParams());
    expect(literal).toBeInstanceOf(PlanoutScriptError);
  });

  it('a failed evaluation keeps failing with the same error', () => {
    const interpreter = new Interpreter(js('{"op": "set", "var": "x", "value": {"op": "nope"}}'), 's');
    const first = errorOf(() => interpreter.getParams());
    expect(errorOf(() => interpreter.inExperiment)).toBe(first);
  });
});

describe('prototype safety', () => {
  it('inputs, params and maps with __proto__/constructor keys never reach a prototype', () => {
    const inputs = parsePlanoutJson('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}') as PlanoutObject;
    const script = js(`{"op": "seq", "seq": [
      {"op": "set", "var": "__proto__", "value": {"op": "literal", "value": {"polluted": 2}}},
      {"op": "set", "var": "m", "value": {"op": "map", "__proto__": {"polluted": 3}, "constructor": 4}},
      {"op": "set", "var": "i", "value": {"op": "get", "var": "__proto__"}},
      {"op": "set", "var": "c", "value": {"op": "get", "var": "constructor"}},
      {"op": "set", "var": "t", "value": {"op": "get", "var": "toString"}},
      {"op": "set", "var": "h", "value": {"op": "get", "var": "hasOwnProperty"}}]}`);
    const interpreter = new Interpreter(script, 's', inputs);
    const params = interpreter.getParams();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(Object.keys(params)).toEqual(['__proto__', 'm', 'i', 'c', 't', 'h']);
    expect(params.i).toEqual({ polluted: 2 });
    expect(params.c).toEqual({ prototype: { polluted: 1 } });
    expect(params.t).toBeNull();
    expect(params.h).toBeNull();
    const m = params.m as Record<string, unknown>;
    expect(Object.keys(m)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
  });

  it('get of constructor is None unless it is an own param or input', () => {
    const script = js('{"op": "set", "var": "c", "value": {"op": "get", "var": "constructor"}}');
    expect(new Interpreter(script, 's').get('c')).toBeNull();
    expect(new Interpreter(js('{"op": "seq", "seq": []}'), 's').get('constructor')).toBeNull();
  });

  it('operator names from Object.prototype are unknown operators', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const error = errorOf(() => new Interpreter({ op: 'set', var: 'x', value: { op: name } }, 's').getParams());
      expect(error.message).toContain(`unknown operator "${name}"`);
    }
  });
});
