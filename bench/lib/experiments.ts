// The benchmarked experiment, written once for each implementation.
//
// Exp1 has three params, one per random operator the brief names:
//   group_size    = uniformChoice(choices=[1, 10], unit=userid)
//   specific_goal = bernoulliTrial(p=0.8, unit=userid)
//   ratings_goal  = weightedChoice(choices=[8, 16, 32, 64], weights=[0.4, 0.3, 0.2, 0.1], unit=userid)
import type { Assignment } from '../../src/core/assignment.js';
import { Experiment } from '../../src/core/experiment.js';
import { digestMod, digestToUnitFloat, sha1Digest } from '../../src/core/hash.js';
import { BernoulliTrial, UniformChoice, WeightedChoice, type RandomOperator } from '../../src/core/ops/random.js';
import type { PjsAssignment, PjsExperiment, PlanoutJs } from './planoutjs.js';

export const EXP1_PARAMS = ['group_size', 'specific_goal', 'ratings_goal'] as const;

export type Exp1Params = {
  group_size: number;
  specific_goal: number;
  ratings_goal: number;
};

export interface UnitInputs {
  [key: string]: unknown;
  userid: number;
}

/** Ours, as a user would write it. */
export class Exp1 extends Experiment<Exp1Params, UnitInputs> {
  protected override setup(): void {
    this.name = 'Exp1';
  }

  assign(params: Assignment<Exp1Params>, inputs: UnitInputs): void {
    params.set('group_size', new UniformChoice({ choices: [1, 10], unit: inputs.userid }));
    params.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: inputs.userid }));
    params.set('ratings_goal', new WeightedChoice({ choices: [8, 16, 32, 64], weights: [0.4, 0.3, 0.2, 0.1], unit: inputs.userid }));
  }
}

/** Creates Exp1 for one unit and reads every param, as a request handler would. */
export function readOurs(userid: number): number {
  const exp = new Exp1({ userid });
  return (exp.get('group_size') as number) + (exp.get('specific_goal') as number) + (exp.get('ratings_goal') as number);
}

/** The same experiment against PlanOut.js (either build). Exposure logging on, logger a no-op, as for ours. */
/**
 * Exp1's draws written inline, as the lower bound of what any library can do with Exp1 as
 * users write it: the same operator objects with their argument objects and arrays, the
 * three reference hashes and the three draws, the params in a Map, then read. No Experiment,
 * no Assignment, no exposure record. The difference from `ours` is the library's cost.
 */
export function readHandwritten(userid: number): number {
  const params = handwrittenParams(userid);
  return params.get('group_size')! + params.get('specific_goal')! + params.get('ratings_goal')!;
}

/** The params of {@link readHandwritten}. */
export function handwrittenParams(userid: number): Map<string, number> {
  const unit = String(userid);
  const params = new Map<string, number>();
  const group = new UniformChoice({ choices: [1, 10], unit: userid });
  const goal = new BernoulliTrial({ p: 0.8, unit: userid });
  const ratings = new WeightedChoice({ choices: [8, 16, 32, 64], weights: [0.4, 0.3, 0.2, 0.1], unit: userid });
  const choices = group.args.choices;
  params.set('group_size', choices[digestMod(sha1Digest('Exp1.group_size.' + unit), choices.length)]!);
  params.set('specific_goal', digestToUnitFloat(sha1Digest('Exp1.specific_goal.' + unit)) <= goal.args.p ? 1 : 0);
  const weights = ratings.args.weights;
  let sum = 0;
  for (let i = 0; i < weights.length; i++) sum += weights[i]!;
  const stop = sum * digestToUnitFloat(sha1Digest('Exp1.ratings_goal.' + unit));
  let cumulative = 0;
  let rating = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i]!;
    if (stop <= cumulative) {
      rating = ratings.args.choices[i]!;
      break;
    }
  }
  params.set('ratings_goal', rating);
  return params;
}

export function planoutJsExp1(P: PlanoutJs): new (inputs: UnitInputs) => PjsExperiment {
  const R = P.Ops.Random;
  class PjsExp1 extends P.Experiment {
    setup(): void {
      (this as unknown as { setName(n: string): void }).setName('Exp1');
    }
    configureLogger(): void {}
    log(): void {}
    previouslyLogged(): boolean {
      return (this as unknown as { _exposureLogged: boolean })._exposureLogged;
    }
    getParamNames(): string[] {
      return EXP1_PARAMS as unknown as string[];
    }
    assign(params: PjsAssignment, args: UnitInputs): void {
      params.set('group_size', new R.UniformChoice({ choices: [1, 10], unit: args.userid }));
      params.set('specific_goal', new R.BernoulliTrial({ p: 0.8, unit: args.userid }));
      params.set('ratings_goal', new R.WeightedChoice({ choices: [8, 16, 32, 64], weights: [0.4, 0.3, 0.2, 0.1], unit: args.userid }));
    }
  }
  return PjsExp1 as unknown as new (inputs: UnitInputs) => PjsExperiment;
}

export function readPlanoutJs(Ctor: new (inputs: UnitInputs) => PjsExperiment): (userid: number) => number {
  return (userid) => {
    const exp = new Ctor({ userid });
    return (exp.get('group_size') as number) + (exp.get('specific_goal') as number) + (exp.get('ratings_goal') as number);
  };
}

/** The hash inputs Exp1 needs for one unit (the reference's `<salt>.<param>.<unit>`). */
export function exp1HashInputs(userid: number): string[] {
  return EXP1_PARAMS.map((p) => `Exp1.${p}.${userid}`);
}

/** Exp1 as a compiled PlanOut script (what the PlanOut compiler emits). */
export const EXP1_SCRIPT = {
  op: 'seq',
  seq: [
    {
      op: 'set',
      var: 'group_size',
      value: { op: 'uniformChoice', choices: { op: 'array', values: [1, 10] }, unit: { op: 'get', var: 'userid' } },
    },
    {
      op: 'set',
      var: 'specific_goal',
      value: { op: 'bernoulliTrial', p: 0.8, unit: { op: 'get', var: 'userid' } },
    },
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
};

/** Param i of the cost-growth experiments: the three operators in turn. */
function growthOp(i: number, unit: number): RandomOperator<any, any> {
  switch (i % 3) {
    case 0:
      return new UniformChoice({ choices: [1, 2, 3, 4], unit });
    case 1:
      return new BernoulliTrial({ p: 0.5, unit });
    default:
      return new WeightedChoice({ choices: [8, 16, 32], weights: [1, 2, 3], unit });
  }
}

/** An experiment with `n` params p0..p(n-1), for the params cost-growth series. */
export function experimentWithParams(n: number): new (inputs: UnitInputs) => Experiment<Record<string, number>, UnitInputs> {
  const names = Array.from({ length: n }, (_, i) => `p${i}`);
  return class GrowthExperiment extends Experiment<Record<string, number>, UnitInputs> {
    protected override setup(): void {
      this.name = `Growth${n}`;
    }
    assign(params: Assignment<Record<string, number>>, inputs: UnitInputs): void {
      for (let i = 0; i < n; i++) params.set(names[i]!, growthOp(i, inputs.userid));
    }
    override getParamNames(): readonly string[] {
      return names;
    }
  };
}
