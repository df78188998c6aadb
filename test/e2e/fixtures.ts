import { Controller, Get, Injectable, Param as RouteParam, Post, Body, Query } from '@nestjs/common';
import {
  Assignment,
  BernoulliTrial,
  Experiment,
  ExperimentInstance,
  ExperimentParam,
  ManualExposure,
  NamespaceParam,
  Param,
  PlanoutService,
  SimpleNamespace,
  UniformChoice,
  type ExperimentInputs,
  type ExperimentInstanceOf,
  type PlanoutRequest,
} from '../../src/index.js';

/** Injected into Exp1: dependency injection works inside experiments. */
@Injectable()
export class GroupSizes {
  readonly choices = [1, 10];
}

export type Exp1Params = { group_size: number; specific_goal: number; ratings_per_user_goal: number; ratings_goal: number };
export type UserInputs = { userid: string };

@Experiment({ name: 'Exp1', salt: 'Exp1' })
export class Exp1 {
  constructor(private readonly sizes: GroupSizes) {}

  assign(params: Assignment<Exp1Params>, inputs: UserInputs): void {
    params.set('group_size', new UniformChoice({ choices: this.sizes.choices, unit: inputs.userid }));
    params.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: inputs.userid }));
    if (params.get('specific_goal')) {
      params.set('ratings_per_user_goal', new UniformChoice({ choices: [8, 16, 32, 64], unit: inputs.userid }));
      params.set('ratings_goal', params.get('group_size')! * params.get('ratings_per_user_goal')!);
    }
  }
}

/** Not registered as a provider: the module builds it itself. */
@Experiment()
export class ColorExperiment {
  assign(params: Assignment<{ color: string }>, inputs: UserInputs): void {
    params.set('color', new UniformChoice({ choices: ['red', 'blue'], unit: inputs.userid }));
  }
}

/** Units outside Germany are not in the experiment. */
@Experiment({ name: 'Germany' })
export class GermanyExperiment {
  assign(params: Assignment<{ feature_enabled: number }>, inputs: UserInputs & { country?: string }): boolean {
    if (inputs.country !== 'Germany') return false;
    params.set('feature_enabled', new BernoulliTrial({ p: 0.5, unit: inputs.userid }));
    return true;
  }
}

export class NsA extends Experiment<{ label: string }> {
  assign(params: Assignment<{ label: string }>, inputs: ExperimentInputs): void {
    params.set('label', new UniformChoice({ choices: ['a1', 'a2'], unit: String(inputs.userid) }));
  }
}

export class TestNamespace extends SimpleNamespace {
  protected setup(): void {
    this.name = 'TestNs';
    this.primaryUnit = 'userid';
    this.numSegments = 10;
  }
  protected setupExperiments(): void {
    // Every segment: every unit is in NsA.
    this.addExperiment('a', NsA, 10);
  }
}

export function testInputs(req: PlanoutRequest): ExperimentInputs {
  const query = (req.query ?? {}) as Record<string, string | undefined>;
  const inputs: ExperimentInputs = { userid: query.userid ?? req.headers['x-user-id'] ?? 'anonymous' };
  if (query.country !== undefined) inputs.country = query.country;
  return inputs;
}

/** Deep in the call tree, after an await: reaches the request's experiment through AsyncLocalStorage. */
@Injectable()
export class DeepService {
  constructor(private readonly planout: PlanoutService) {}

  async color(turnOff: boolean): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (turnOff) this.planout.disableAutoExposure();
    return this.planout.experiment(ColorExperiment).get('color', 'none');
  }
}

@Controller()
export class TestController {
  constructor(
    private readonly planout: PlanoutService,
    private readonly deep: DeepService,
  ) {}

  @Get('param')
  param(@Param(Exp1, 'group_size') size: number, @Param(Exp1, 'ratings_goal') goal?: number): Record<string, unknown> {
    return { group_size: size, ratings_goal: goal ?? null };
  }

  @Get('items/:id')
  item(@RouteParam('id') id: string, @ExperimentParam(ColorExperiment, 'color') color: string): Record<string, unknown> {
    return { id, color };
  }

  @Get('instance')
  instance(@ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>): Record<string, unknown> {
    return { name: exp.name, params: exp.getParams() };
  }

  @Get('germany')
  germany(@Param(GermanyExperiment, 'feature_enabled', false) enabled: number | false): Record<string, unknown> {
    return { feature_enabled: enabled };
  }

  @Get('manual')
  @ManualExposure()
  manual(@Param(Exp1, 'group_size') size: number, @Query('expose') expose?: string): Record<string, unknown> {
    if (expose === '1') this.planout.logExposure(Exp1, { source: 'manual' });
    return { group_size: size };
  }

  @Get('deep')
  async deepColor(@Query('off') off?: string): Promise<Record<string, unknown>> {
    return { color: await this.deep.color(off === '1') };
  }

  @Post('convert')
  convert(@Body() body: { amount: number }): Record<string, unknown> {
    this.planout.logEvent(Exp1, 'conversion', { amount: body.amount });
    return { ok: true };
  }

  @Get('ns')
  ns(@NamespaceParam(TestNamespace, 'label') label: string): Record<string, unknown> {
    return { label };
  }

  @Get('nothing')
  nothing(): Record<string, unknown> {
    return { ok: true };
  }
}

@Controller('manual-ctl')
@ManualExposure()
export class ManualController {
  @Get()
  read(@Param(ColorExperiment, 'color') color: string): Record<string, unknown> {
    return { color };
  }

  @Get('auto')
  @ManualExposure(false)
  auto(@Param(ColorExperiment, 'color') color: string): Record<string, unknown> {
    return { color };
  }
}
