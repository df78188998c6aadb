import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Experiment as CoreExperiment } from '../../../src/core/experiment.js';
import {
  Assignment,
  Experiment,
  getExperimentOptions,
  Param,
  UniformChoice,
  type ExperimentInstanceOf,
  type ParamNameOf,
  type ParamsOf,
} from '../../../src/index.js';

type Params = { size: number; color: string };

@Experiment({ name: 'Typed', salt: 's1' })
class Typed {
  assign(params: Assignment<Params>, inputs: { userid: string }): void {
    params.set('size', new UniformChoice({ choices: [1, 2], unit: inputs.userid }));
  }
}

class Sub extends Experiment<Params> {
  assign(params: Assignment<Params>): void {
    params.set('color', 'red');
  }
}

describe('Experiment: class and decorator under one name', () => {
  it('decorates a class with its options', () => {
    expect(getExperimentOptions(Typed)).toEqual({ name: 'Typed', salt: 's1' });
  });

  it('is still the core abstract class', () => {
    const exp = new Sub({});
    expect(exp).toBeInstanceOf(CoreExperiment);
    expect(exp).toBeInstanceOf(Experiment);
    expect(exp.get('color')).toBe('red');
  });

  it('type-checks param names (checked by tsc)', () => {
    const names: ParamNameOf<typeof Typed>[] = ['size', 'color'];
    const params: ParamsOf<Typed> = { size: 1, color: 'x' };
    expect(names).toHaveLength(2);
    expect(params.size).toBe(1);
    expect(typeof Param(Typed, 'size')).toBe('function');
    expect(typeof Param(Sub, 'color')).toBe('function');
    // @ts-expect-error: not a param of Typed
    Param(Typed, 'nope');
    const check = (e: ExperimentInstanceOf<typeof Typed>): number | undefined => e.get('size');
    expect(typeof check).toBe('function');
  });
});
