// The OpenFeature route of the HTTP benchmark: three flags through @openfeature/nestjs-sdk with
// the server SDK's InMemoryProvider, the same response as the PlanOut route.
import { Controller, Get, Query, type DynamicModule } from '@nestjs/common';
import { BooleanFeatureFlag, NumberFeatureFlag, OpenFeatureModule } from '@openfeature/nestjs-sdk';
import { InMemoryProvider } from '@openfeature/server-sdk';
import { combineLatest, map, type Observable } from 'rxjs';
import type { PlanoutRequest } from '../../src/index.js';
import type { Exp1Params } from './planout-route.js';

/** The part of OpenFeature's EvaluationDetails the route reads (its type lives in @openfeature/core). */
type EvaluationDetails<T> = { value: T };

@Controller()
class OpenFeatureController {
  @Get('r')
  r(
    @Query('u') u: string,
    @NumberFeatureFlag({ flagKey: 'group_size', defaultValue: 1 }) groupSize: Observable<EvaluationDetails<number>>,
    @BooleanFeatureFlag({ flagKey: 'specific_goal', defaultValue: false }) specificGoal: Observable<EvaluationDetails<boolean>>,
    @NumberFeatureFlag({ flagKey: 'ratings_goal', defaultValue: 8 }) ratingsGoal: Observable<EvaluationDetails<number>>,
  ): Observable<Exp1Params & { u: string }> {
    return combineLatest([groupSize, specificGoal, ratingsGoal]).pipe(
      map(([g, s, r]) => ({ u, group_size: g.value, specific_goal: s.value ? 1 : 0, ratings_goal: r.value })),
    );
  }
}

/** Cheap per-unit targeting, so OpenFeature does some work per request, as PlanOut does. */
const lastDigit = (ctx: { targetingKey?: string }): number => (ctx.targetingKey ?? '0').charCodeAt((ctx.targetingKey ?? '0').length - 1) - 48;

export function openFeatureApp(): DynamicModule {
  return {
    module: class OpenFeatureApp {},
    imports: [
      OpenFeatureModule.forRoot({
        defaultProvider: new InMemoryProvider({
          group_size: {
            variants: { small: 1, large: 10 },
            defaultVariant: 'small',
            disabled: false,
            contextEvaluator: (ctx) => (lastDigit(ctx) % 2 ? 'large' : 'small'),
          },
          specific_goal: {
            variants: { on: true, off: false },
            defaultVariant: 'on',
            disabled: false,
            contextEvaluator: (ctx) => (lastDigit(ctx) < 8 ? 'on' : 'off'),
          },
          ratings_goal: {
            variants: { a: 8, b: 16, c: 32, d: 64 },
            defaultVariant: 'a',
            disabled: false,
            contextEvaluator: (ctx) => (['a', 'a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'd'] as const)[lastDigit(ctx)] ?? 'a',
          },
        }),
        contextFactory: (ctx) => ({ targetingKey: String((ctx.switchToHttp().getRequest<PlanoutRequest>().query as Record<string, unknown>).u) }),
      }),
    ],
    controllers: [OpenFeatureController],
  };
}
