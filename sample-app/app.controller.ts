import { Body, Controller, Get, HttpCode, Injectable, Post, Query } from '@nestjs/common';
import {
  ExperimentInstance,
  ManualExposure,
  NamespaceInstance,
  Param,
  PlanoutService,
  type ExperimentInstanceOf,
} from '../src/index.js';
import {
  BannerNamespace,
  CheckoutButtonExperiment,
  Exp1,
  GermanyExperiment,
  PriceExperiment,
} from './experiments.js';

/** A service deep in the call tree: it reaches the current request's experiment without REQUEST scope. */
@Injectable()
export class CheckoutService {
  constructor(private readonly planout: PlanoutService) {}

  render(expose: boolean): { button_color: string; button_text: string; exposed: boolean } {
    const exp = this.planout.experiment(CheckoutButtonExperiment);
    const view = { button_color: exp.get('button_color', '#000000'), button_text: exp.get('button_text', 'Buy') };
    // The button is only really seen when it is rendered above the fold.
    if (expose) this.planout.logExposure(CheckoutButtonExperiment);
    return { ...view, exposed: expose };
  }
}

@Controller()
export class AppController {
  constructor(
    private readonly planout: PlanoutService,
    private readonly checkout: CheckoutService,
  ) {}

  @Get('exp1')
  exp1(@ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>): Record<string, unknown> {
    return exp.getParams();
  }

  @Get('germany')
  germany(@Param(GermanyExperiment, 'feature_enabled', false) enabled: number | false): { feature_enabled: boolean } {
    return { feature_enabled: Boolean(enabled) };
  }

  @Get('price')
  price(@Param(PriceExperiment, 'trade_price') price: number): { trade_price: number } {
    return { trade_price: price };
  }

  @Get('manual')
  @ManualExposure()
  manual(@Query('expose') expose?: string): ReturnType<CheckoutService['render']> {
    return this.checkout.render(expose === '1');
  }

  @Post('exp1/convert')
  @HttpCode(200)
  convert(@Body() body: { amount?: unknown }): { ok: true } {
    this.planout.logEvent(Exp1, 'conversion', { amount: body?.amount });
    return { ok: true };
  }

  @Get('banner')
  banner(@NamespaceInstance(BannerNamespace) ns: BannerNamespace): Record<string, unknown> {
    return {
      experiment: ns.currentExperiment?.name ?? null,
      banner_text: ns.get('banner_text'),
      banner_size: ns.get('banner_size'),
    };
  }
}
