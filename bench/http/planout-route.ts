// The bench's PlanOut route: Exp1 (the seeds' example) as an @Experiment class, its inputs from
// the query, and the controller that reads its three params with @Param. Shared by the HTTP server
// (bench/http/server.ts) and the in-process loop (bench/request-path.ts), so both run the same route.
import { Controller, Get, Query } from '@nestjs/common';
import { Assignment, BernoulliTrial, Experiment, Param, UniformChoice, WeightedChoice, type PlanoutRequest } from '../../src/index.js';

export type Exp1Params = { group_size: number; specific_goal: number; ratings_goal: number };
export type UserInputs = { userid: string };

@Experiment({ name: 'Exp1' })
export class Exp1 {
  assign(params: Assignment<Exp1Params>, inputs: UserInputs): void {
    params.set('group_size', new UniformChoice({ choices: [1, 10], unit: inputs.userid }));
    params.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: inputs.userid }));
    params.set('ratings_goal', new WeightedChoice({ choices: [8, 16, 32, 64], weights: [0.4, 0.3, 0.2, 0.1], unit: inputs.userid }));
  }
}

/** The unit is the `u` query parameter. */
export const userInputs = (req: PlanoutRequest): UserInputs => ({ userid: String((req.query as Record<string, unknown>).u) });

@Controller()
export class PlanoutController {
  @Get('r')
  r(
    @Query('u') u: string,
    @Param(Exp1, 'group_size') group_size: number,
    @Param(Exp1, 'specific_goal') specific_goal: number,
    @Param(Exp1, 'ratings_goal') ratings_goal: number,
  ): Exp1Params & { u: string } {
    return { u, group_size, specific_goal, ratings_goal };
  }
}
