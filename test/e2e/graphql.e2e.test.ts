import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Args, Field, GraphQLModule, Int, Mutation, ObjectType, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import request from 'supertest';
import {
  ExperimentInstance,
  NamespaceParam,
  Param,
  PlanoutMetrics,
  PlanoutService,
  type ExperimentInstanceOf,
} from '../../src/index.js';
import { getPlanoutRecorder, PlanoutTestingModule, type PlanoutRecorder } from '../../src/testing/index.js';
import { ColorExperiment, Exp1, GroupSizes, TestNamespace } from './fixtures.js';
import { createApp, PLATFORMS } from './support.js';
import { HttpVariantController, transportOptions } from './transport-fixtures.js';

@ObjectType()
class Variant {
  @Field(() => Int)
  index!: number;

  @Field(() => Int)
  group_size!: number;

  @Field(() => Boolean)
  in_exp1!: boolean;
}

@Resolver(() => Variant)
class VariantResolver {
  constructor(private readonly planout: PlanoutService) {}

  @Query(() => Variant)
  variant(@Param(Exp1, 'group_size', -1) size: number, @ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>): Variant {
    return { index: 0, group_size: size, in_exp1: exp.inExperiment };
  }

  /** Several parents: every field resolver below runs once per item. */
  @Query(() => [Variant])
  variants(@Args('count', { type: () => Int }) count: number, @Param(Exp1, 'group_size', -1) size: number): Variant[] {
    return Array.from({ length: count }, (_, index) => ({ index, group_size: size, in_exp1: true }));
  }

  @ResolveField(() => String)
  color(@Parent() _variant: Variant, @Param(ColorExperiment, 'color', 'none') color: string): string {
    return color;
  }

  @ResolveField(() => String)
  label(@NamespaceParam(TestNamespace, 'label', 'default') label: string): string {
    return String(label);
  }

  @Mutation(() => Boolean)
  convert(@Args('amount', { type: () => Int }) amount: number): boolean {
    this.planout.logEvent(Exp1, 'conversion', { amount });
    return true;
  }

  /** A service path: PlanoutService finds the same request's instance. */
  @ResolveField(() => Int)
  viaService(): number {
    return this.planout.experiment(Exp1).get('group_size', -1);
  }
}

describe.each(PLATFORMS)('GraphQL (Apollo, code-first) on %s', (platform) => {
  let app: INestApplication;
  let recorder: PlanoutRecorder;
  let planout: PlanoutService;
  let metrics: PlanoutMetrics;

  beforeAll(async () => {
    app = await createApp(platform, {
      imports: [
        PlanoutTestingModule.forRoot(transportOptions),
        // Nest runs no interceptor on field resolvers unless asked: PlanoutService needs it there.
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, fieldResolverEnhancers: ['interceptors'] }),
      ],
      controllers: [HttpVariantController],
      providers: [GroupSizes, Exp1, VariantResolver],
    });
    recorder = getPlanoutRecorder(app);
    planout = app.get(PlanoutService);
    metrics = app.get(PlanoutMetrics);
  });
  afterAll(async () => app.close());
  beforeEach(() => recorder.clear());

  async function gql(query: string, userid?: string): Promise<Record<string, unknown>> {
    const req = request(app.getHttpServer()).post('/graphql').send({ query });
    if (userid !== undefined) req.set('x-user-id', userid);
    const res = await req.expect(200);
    expect(res.body.errors).toBeUndefined();
    return res.body.data as Record<string, unknown>;
  }

  it('query and field resolvers get the HTTP request as inputs: the same params as HTTP and outside a request', async () => {
    for (const userid of ['g1', 'g2', 'g3', 'g4']) {
      const data = await gql('{ variant { group_size in_exp1 color label viaService } }', userid);
      const http = await request(app.getHttpServer()).get('/variant').set('x-user-id', userid).expect(200);
      const exp1 = planout.create(Exp1, { userid }, { autoExposureLogging: false });
      const color = planout.create(ColorExperiment, { userid }, { autoExposureLogging: false });
      expect(data.variant).toEqual({
        group_size: exp1.get('group_size'),
        in_exp1: true,
        color: color.get('color'),
        label: http.body.label,
        viaService: exp1.get('group_size'),
      });
      expect(http.body).toMatchObject({ group_size: exp1.get('group_size'), color: color.get('color') });
      expect(['a1', 'a2']).toContain(http.body.label);
    }
  });

  it('field resolvers of many parents share one context per request: one exposure per unit, no dedupe lookups', async () => {
    const before = metrics.snapshot().deduplicated;
    const data = await gql('{ variants(count: 5) { index color label viaService } }', 'fan-out');
    const items = data.variants as Array<{ color: string; label: string }>;
    expect(items).toHaveLength(5);
    expect(new Set(items.map((i) => i.color)).size).toBe(1);
    await recorder.flush();
    expect(recorder.exposures('Exp1')).toHaveLength(1);
    expect(recorder.exposures('ColorExperiment')).toHaveLength(1);
    expect(recorder.exposures('TestNs-a')).toHaveLength(1);
    // Five color reads on one shared instance: nothing reached the cross-request dedupe.
    expect(metrics.snapshot().deduplicated).toBe(before);

    // The next request of the same unit is deduplicated as on HTTP.
    await gql('{ variants(count: 2) { color } }', 'fan-out');
    await recorder.flush();
    expect(recorder.exposures('ColorExperiment')).toHaveLength(1);
    expect(metrics.snapshot().deduplicated).toBeGreaterThan(before);
  });

  it('a request without a unit reads defaults, logs nothing and counts missingUnit', async () => {
    const before = metrics.snapshot().missingUnit;
    const data = await gql('{ variant { group_size in_exp1 color label viaService } }');
    expect(data.variant).toEqual({ group_size: -1, in_exp1: false, color: 'none', label: 'default', viaService: -1 });
    await recorder.flush();
    expect(recorder.records).toEqual([]);
    // Exp1, ColorExperiment and the namespace: one each for the request.
    expect(metrics.snapshot().missingUnit - before).toBe(3);
  });

  it('mutations log events of the request unit, and none without a unit', async () => {
    expect(await gql('mutation { convert(amount: 4) }')).toEqual({ convert: true });
    expect(await gql('mutation { convert(amount: 5) }', 'gql-buyer')).toEqual({ convert: true });
    await recorder.flush();
    expect(recorder.records).toEqual([
      expect.objectContaining({ name: 'Exp1', event: 'conversion', inputs: { userid: 'gql-buyer' }, extra_data: { amount: 5 } }),
    ]);
  });
});

@Resolver(() => Variant)
class ParamsOnlyResolver {
  @Query(() => [Variant])
  variants(@Args('count', { type: () => Int }) count: number): Variant[] {
    return Array.from({ length: count }, (_, index) => ({ index, group_size: 0, in_exp1: true }));
  }

  @ResolveField(() => String)
  color(@Param(ColorExperiment, 'color', 'none') color: string): string {
    return color;
  }
}

describe('GraphQL field resolvers without fieldResolverEnhancers', () => {
  let app: INestApplication;
  afterAll(async () => app?.close());

  it('the param decorators still find the request context (built by the first field that reads it) and share it', async () => {
    app = await createApp('express', {
      imports: [PlanoutTestingModule.forRoot(transportOptions), GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true })],
      providers: [GroupSizes, Exp1, ParamsOnlyResolver],
    });
    const recorder = getPlanoutRecorder(app);
    const res = await request(app.getHttpServer())
      .post('/graphql')
      .set('x-user-id', 'no-enhancers')
      .send({ query: '{ variants(count: 4) { color } }' })
      .expect(200);
    expect(res.body.errors).toBeUndefined();
    const expected = app.get(PlanoutService).create(ColorExperiment, { userid: 'no-enhancers' }, { autoExposureLogging: false }).get('color');
    expect(res.body.data.variants).toEqual(Array.from({ length: 4 }, () => ({ color: expected })));
    await recorder.flush();
    expect(recorder.exposures('ColorExperiment')).toHaveLength(1);
    expect(app.get(PlanoutMetrics).snapshot().deduplicated).toBe(0);
  });
});

describe('GraphQL and QA overrides', () => {
  let app: INestApplication;
  afterAll(async () => app?.close());

  it('reads the override header of the HTTP request behind the query', async () => {
    app = await createApp('express', {
      imports: [
        PlanoutTestingModule.forRoot({ ...transportOptions, overrides: { allow: () => true } }),
        GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true }),
      ],
      providers: [GroupSizes, Exp1, ParamsOnlyResolver],
    });
    const res = await request(app.getHttpServer())
      .post('/graphql')
      .set('x-user-id', 'qa')
      .set('x-planout-overrides', '{"ColorExperiment":{"color":"green"}}')
      .send({ query: '{ variants(count: 2) { color } }' })
      .expect(200);
    expect(res.body.data.variants).toEqual([{ color: 'green' }, { color: 'green' }]);
    const recorder = getPlanoutRecorder(app);
    await recorder.flush();
    expect(recorder.exposures('ColorExperiment')).toEqual([expect.objectContaining({ params: { color: 'green' }, overridden: true })]);
  });
});
