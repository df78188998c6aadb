import { describe, expect, it } from '@jest/globals';
import { PlanoutBudgetError, PlanoutError } from '../../../src/core/errors.js';
import { Interpreter } from '../../../src/core/interpreter.js';
import { parsePlanoutJson, stringifyPlanoutJson } from '../../../src/core/json.js';
import { PyFloat } from '../../../src/core/values.js';

describe('parsePlanoutJson: integers of any length, as Python json (issue 9, item 9)', () => {
  it.each([1, 15, 16, 17, 400, 401, 1000, 5000, 100_000])('%i digits parse exactly and round-trip', (digits) => {
    const text = '9' + '1234567890'.repeat(Math.ceil(digits / 10)).slice(0, digits - 1);
    for (const signed of [text, '-' + text]) {
      const value = parsePlanoutJson(signed);
      expect(BigInt(value as number | bigint)).toBe(BigInt(signed));
      expect(stringifyPlanoutJson(value)).toBe(signed);
      expect(stringifyPlanoutJson(parsePlanoutJson(`{"n": [${signed}, 1]}`))).toBe(`{"n": [${signed}, 1]}`);
    }
  });

  it('keeps numbers up to 2^53 as numbers and the rest as bigints', () => {
    expect(parsePlanoutJson('9007199254740991')).toBe(9007199254740991);
    expect(parsePlanoutJson('9007199254740993')).toBe(9007199254740993n);
    expect(parsePlanoutJson('-9007199254740993')).toBe(-9007199254740993n);
  });

  it('reads -0 as the int 0 and -0.0 as a float, as Python', () => {
    expect(Object.is(parsePlanoutJson('-0'), 0)).toBe(true);
    expect(stringifyPlanoutJson(parsePlanoutJson('[-0, -0.0, 0.0]'))).toBe('[0, -0.0, 0.0]');
  });

  it('floats keep their kind, huge ones become infinities, as Python', () => {
    expect(parsePlanoutJson('2.0')).toEqual(new PyFloat(2));
    expect(parsePlanoutJson('1e400')).toBe(Infinity);
    expect(parsePlanoutJson('-1' + '0'.repeat(400) + '.5')).toBe(-Infinity);
    expect(stringifyPlanoutJson(parsePlanoutJson('[1e400, 2.5e-3]'))).toBe('[Infinity, 0.0025]');
  });

  it('a 5000-digit int in a script keeps its exact value', () => {
    const digits = '7'.repeat(5000);
    const script = parsePlanoutJson(`{"op": "set", "var": "n", "value": {"op": "literal", "value": ${digits}}}`);
    expect(new Interpreter(script, 's').get('n')).toBe(BigInt(digits));
  });

  it('a param holding an int of more digits than maxElements is refused (logging would write them all)', () => {
    const script = (digits: number) => parsePlanoutJson(`{"op": "set", "var": "n", "value": ${'7'.repeat(digits)}}`);
    expect(new Interpreter(script(90_000), 's').get('n')).toBe(BigInt('7'.repeat(90_000)));
    expect(() => new Interpreter(script(200_000), 's').get('n')).toThrow(PlanoutBudgetError);
    expect(new Interpreter(script(200_000), 's', {}, { budget: { maxElements: 300_000 } }).get('n')).toBe(BigInt('7'.repeat(200_000)));
  });

  it('still refuses what is not JSON, with the position', () => {
    for (const bad of ['01', '1.', '.5', '+1', '-', '1e', '[1,]', '{"a" 1}']) {
      expect(() => parsePlanoutJson(bad)).toThrow(PlanoutError);
    }
    expect(() => parsePlanoutJson('[1, x]')).toThrow('Invalid JSON at position 4: expected a value');
  });

  it('a long number costs its own length, not the text length', () => {
    const many = '[' + Array.from({ length: 20_000 }, (_, i) => String(i * 1_000_003)).join(', ') + ']';
    expect((parsePlanoutJson(many) as unknown[]).length).toBe(20_000);
  });
});
