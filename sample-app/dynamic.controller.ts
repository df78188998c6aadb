import { Controller, Get, NotFoundException, Param as RouteParam } from '@nestjs/common';
import { PlanoutService, PlanoutUnknownExperimentError } from '../src/index.js';

/** Data-defined experiments (PLANOUT_DEFINITIONS_DIR), by name. */
@Controller('dynamic')
export class DynamicController {
  constructor(private readonly planout: PlanoutService) {}

  /** The params of experiment `name` for this request's unit; reading them logs the exposure (once per unit). */
  @Get(':name')
  params(@RouteParam('name') name: string): Record<string, unknown> {
    try {
      return this.planout.experiment(name).getParams();
    } catch (error) {
      if (error instanceof PlanoutUnknownExperimentError) throw new NotFoundException(`unknown experiment "${name}"`);
      throw error;
    }
  }
}
