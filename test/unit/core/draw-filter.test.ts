import { describe, expect, it } from '@jest/globals';
import { Assignment, Interpreter, UniformChoice } from '../../../src/core/index.js';

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

describe('drawFilter in the interpreter', () => {
  const script = {
    op: 'seq',
    seq: [
      { op: 'set', var: 'a', value: { op: 'uniformChoice', choices: { op: 'array', values: [1, 2, 3, 4] }, unit: { op: 'get', var: 'userid' } } },
      { op: 'set', var: 'b', value: { op: 'uniformChoice', choices: { op: 'array', values: [1, 2, 3, 4] }, unit: { op: 'get', var: 'accountid' } } },
    ],
  };

  it('unset, draws run as before; a refused draw stops the script out of the experiment before hashing', () => {
    const plain = new Interpreter(script, 'salt', { userid: 'u1', accountid: 'a1' });
    const allowed = new Assignment('salt');
    allowed.drawFilter = () => true;
    const same = new Interpreter(script, 'salt', { userid: 'u1', accountid: 'a1' }, { environment: allowed });
    expect(same.getParams()).toEqual(plain.getParams());
    expect(same.inExperiment).toBe(true);

    const seen: string[] = [];
    const refusing = new Assignment('salt');
    refusing.drawFilter = (op, name) => {
      seen.push(`${name}:${String(op.args.unit)}`);
      return op.args.unit !== undefined && op.args.unit !== null;
    };
    const stopped = new Interpreter(script, 'salt', { userid: 'u1' }, { environment: refusing });
    expect(stopped.inExperiment).toBe(false);
    expect(stopped.getParams()).toEqual({ a: plain.getParams().a });
    expect(seen).toEqual(['a:u1', 'b:null']);
  });
});
