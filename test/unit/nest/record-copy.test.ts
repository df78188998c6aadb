import { describe, expect, it } from '@jest/globals';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';
import { copyWith } from '../../../src/nest/record-copy.js';

function record(): PlanoutLogRecord {
  return { name: 'Exp1', salt: 'Exp1', inputs: { userid: 'u' }, params: { a: 1 }, event: 'exposure', time: 1, checksum: 'abcd1234' };
}

describe('copyWith (what `{ ...record, [key]: value }` gives)', () => {
  it('copies every own enumerable key in order, then the new key; the original is untouched', () => {
    const original = { ...record(), extra_data: { amount: 2 } };
    const copy = copyWith(original, 'id', 'the-id');
    expect(copy).not.toBe(original);
    expect(Object.keys(copy)).toEqual([...Object.keys(original), 'id']);
    expect(JSON.stringify(copy)).toBe(JSON.stringify({ ...original, id: 'the-id' }));
    expect(copy.inputs).toBe(original.inputs);
    expect(original).not.toHaveProperty('id');
  });

  it('a key the record already has keeps its place and takes the new value', () => {
    const original = { ...record(), id: undefined as unknown as string };
    const copy = copyWith(original, 'id', 'x');
    expect(Object.keys(copy)).toEqual(Object.keys(original));
    expect(copy.id).toBe('x');
  });

  it('symbol keys are copied, as a spread copies them', () => {
    const tag = Symbol('tag');
    const original = Object.assign(record(), { [tag]: 7 });
    expect((copyWith(original, 'overridden', true) as unknown as Record<symbol, unknown>)[tag]).toBe(7);
  });

  it('an own "__proto__" key (a parsed record) stays a plain key and never sets the prototype', () => {
    const original = JSON.parse('{"name":"Exp1","__proto__":{"polluted":true},"event":"exposure"}') as PlanoutLogRecord;
    const copy = copyWith(original, 'id', 'x');
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as unknown as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.keys(copy)).toEqual(['name', '__proto__', 'event', 'id']);
    expect(JSON.stringify(copy)).toBe('{"name":"Exp1","__proto__":{"polluted":true},"event":"exposure","id":"x"}');
  });
});
