import { describe, expect, it } from '@jest/globals';
import { Assignment } from '../../../src/core/assignment.js';
import { PlanoutArgumentError } from '../../../src/core/errors.js';
import { UniformChoice } from '../../../src/core/ops/random.js';

// Values computed with the reference's hashing: int(sha1(s).hexdigest()[:15], 16) % 8,
// s = '<experiment salt>.<param><salt_sep><unit>' (Assignment.__setitem__ in planout/assignment.py
// keeps salt_sep and experiment_salt out of the params).
const EIGHT = [0, 1, 2, 3, 4, 5, 6, 7];

describe('Assignment reserved names (salt_sep, experiment_salt)', () => {
  it("salt_sep = ',' changes the separator of later draws and is not a param", () => {
    const params = new Assignment('test_salt');
    params.set('salt_sep', ',');
    params.set('foo', new UniformChoice({ choices: EIGHT, unit: '4' }));
    // sha1('test_salt.foo,4'): 6; with the default '.', sha1('test_salt.foo.4') gives 7.
    expect(params.get('foo')).toBe(6);
    expect(params.toObject()).toEqual({ foo: 6 });
    expect(params.keys()).toEqual(['foo']);
    expect(params.get('salt_sep')).toBe(',');
  });

  it('the default separator gives the reference value too', () => {
    const params = new Assignment('test_salt');
    params.set('foo', new UniformChoice({ choices: EIGHT, unit: '4' }));
    expect(params.get('foo')).toBe(7);
  });

  it('experiment_salt changes the salt of later draws and is not a param', () => {
    const params = new Assignment('test_salt');
    params.set('experiment_salt', 'other_salt');
    params.set('foo', new UniformChoice({ choices: EIGHT, unit: '4' }));
    params.set('salt_sep', '|');
    params.set('bar', new UniformChoice({ choices: EIGHT, unit: '4' }));
    // sha1('other_salt.foo.4') % 8 == 6, sha1('other_salt.bar|4') % 8 == 7
    expect(params.toObject()).toEqual({ foo: 6, bar: 7 });
    expect(params.get('experiment_salt')).toBe('other_salt');
    expect(params.experimentSalt).toBe('other_salt');
  });

  it('overrides do not apply to the reserved names, as in the reference', () => {
    const params = new Assignment('test_salt', { salt_sep: '|' });
    params.set('salt_sep', ',');
    params.set('foo', new UniformChoice({ choices: EIGHT, unit: '4' }));
    expect(params.get('foo')).toBe(6);
  });

  it('a non-string separator is hashed as str() of the value and read back as given', () => {
    const params = new Assignment('test_salt');
    params.set('salt_sep', 1);
    params.set('foo', new UniformChoice({ choices: EIGHT, unit: '4' }));
    // sha1('test_salt.foo14') % 8 == 3
    expect(params.get('foo')).toBe(3);
    expect(params.get('salt_sep')).toBe(1);
  });


  it('a random operator as separator is refused with the name', () => {
    const params = new Assignment('test_salt', undefined, 'Exp');
    expect(() => params.set('salt_sep', new UniformChoice({ choices: [',', '.'], unit: '4' }))).toThrow(PlanoutArgumentError);
    expect(() => params.set('salt_sep', new UniformChoice({ choices: [',', '.'], unit: '4' }))).toThrow(/salt_sep/);
  });
});
