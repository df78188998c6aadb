import { describe, expect, it } from '@jest/globals';
import { Assignment, UniformChoice } from '../../../src/core/index.js';

describe('Assignment.drawFilter', () => {
  it('unset, draws run as before; returning false leaves the param unassigned, true draws the same value', () => {
    const plain = new Assignment('salt');
    plain.set('x', new UniformChoice({ choices: [1, 2, 3, 4, 5, 6, 7, 8], unit: 'u1' }));
    const seen: string[] = [];
    const filtered = new Assignment('salt');
    filtered.drawFilter = (op, name) => {
      seen.push(`${name}:${String(op.args.unit)}`);
      return op.args.unit !== 'refused';
    };
    filtered.set('x', new UniformChoice({ choices: [1, 2, 3, 4, 5, 6, 7, 8], unit: 'u1' }));
    filtered.set('y', new UniformChoice({ choices: [1, 2], unit: 'refused' }));
    filtered.set('z', 5);
    expect(filtered.get('x')).toBe(plain.get('x'));
    expect(filtered.get('y', 'unset')).toBe('unset');
    expect(filtered.get('z')).toBe(5);
    expect(seen).toEqual(['x:u1', 'y:refused']);
  });
});
