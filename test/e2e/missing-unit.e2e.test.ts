import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Post, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  Assignment,
  Experiment,
  ExperimentInstance,
  NamespaceParam,
  Param,
  PlanoutMetrics,
  PlanoutModule,
  PlanoutService,
  UniformChoice,
  type ExperimentInstanceOf,
  type PlanoutInputResolver,
  type PlanoutModuleOptions,
  type PlanoutRequest,
  type RequestInputs,
} from '../../src/index.js';
import { getPlanoutRecorder, PlanoutTestingModule, type PlanoutRecorder } from '../../src/testing/index.js';
import { Exp1, GermanyExperiment, GroupSizes, TestNamespace } from './fixtures.js';

/** A core Experiment subclass, registered directly (built per request with the inputs). */
class CoreLabel extends Experiment<{ label: string }> {
  assign(params: Assignment<{ label: string }>, inputs: { userid?: string }): void {
    params.set('label', new UniformChoice({ choices: ['c1', 'c2'], unit: inputs.userid }));
  }
}
import { createApp, PLATFORMS } from './support.js';

type UserInputs = { userid: string };

/** Counts its assign calls: a declared unit is checked before assign runs. */
@Experiment({ name: 'DeclaredUnit', units: ['userid'] })
class DeclaredUnitExperiment {
  static calls = 0;
  assign(params: Assignment<{ color: string }>, inputs: UserInputs & { page?: string }): void {
    DeclaredUnitExperiment.calls++;
    // The draw's unit is the page: without the declaration, a missing userid would go unseen.
    params.set('color', new UniformChoice({ choices: ['red', 'blue'], unit: inputs.page ?? 'home' }));
  }
}

/** A compound unit: missing when any part is. */
@Experiment({ name: 'Compound' })
class CompoundExperiment {
  assign(params: Assignment<{ size: number; constant: number }>, inputs: UserInputs & { page?: string }): void {
    params.set('constant', 1);
    params.set('size', new UniformChoice({ choices: [1, 2, 3], unit: [inputs.userid, inputs.page] }));
  }
}

/** Units from one header only: a repeated header is not a unit, a missing one is typed so. */
function header(req: PlanoutRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

const inputs: PlanoutInputResolver<UserInputs & { page: string; country: string }> = (req) => ({
  userid: header(req, 'x-user-id'),
  page: header(req, 'x-page'),
  country: header(req, 'x-country'),
});

@Controller()
class MissingUnitController {
  constructor(private readonly planout: PlanoutService) {}

  @Get('exp1')
  exp1(@Param(Exp1, 'group_size', -1) size: number, @ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>): Record<string, unknown> {
    return { group_size: size, in_experiment: exp.inExperiment, params: exp.getParams() };
  }

  @Get('declared')
  declared(@Param(DeclaredUnitExperiment, 'color', 'none') color: string): Record<string, unknown> {
    return { color };
  }

  @Get('compound')
  compound(@ExperimentInstance(CompoundExperiment) exp: ExperimentInstanceOf<typeof CompoundExperiment>): Record<string, unknown> {
    return { size: exp.get('size', 0), constant: exp.get('constant', 0) };
  }

  @Get('germany')
  germany(@Param(GermanyExperiment, 'feature_enabled', 'off') enabled: number | string): Record<string, unknown> {
    return { feature_enabled: enabled };
  }

  @Get('namespace')
  namespace(@NamespaceParam(TestNamespace, 'label', 'default') label: string): Record<string, unknown> {
    return { label, in_experiment: this.planout.namespace(TestNamespace).inExperiment };
  }

  @Get('core')
  core(@Param(CoreLabel, 'label', 'default') label: string): Record<string, unknown> {
    return { label };
  }

  @Post('convert')
  convert(): Record<string, unknown> {
    this.planout.logExposure(Exp1);
    this.planout.logEvent(Exp1, 'conversion', { amount: 1 });
    this.planout.logEvent(CoreLabel, 'conversion');
    this.planout.namespace(TestNamespace).logEvent('conversion');
    return { ok: true };
  }
}

const options: PlanoutModuleOptions = {
  experiments: [Exp1, DeclaredUnitExperiment, CompoundExperiment, GermanyExperiment, CoreLabel],
  namespaces: [TestNamespace],
  inputs,
};

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe.each(PLATFORMS)('missing units over HTTP on %s', (platform) => {
  let recorder: PlanoutRecorder;
  let metrics: PlanoutMetrics;

  async function start(moduleOptions = options): Promise<INestApplication> {
    app = await createApp(platform, {
      imports: [PlanoutTestingModule.forRoot(moduleOptions)],
      controllers: [MissingUnitController],
      providers: [GroupSizes, Exp1],
    });
    recorder = getPlanoutRecorder(app);
    metrics = app.get(PlanoutMetrics);
    return app;
  }

  const missing = (): number => metrics.snapshot().missingUnit;

  it('no unit header: params read their defaults, nothing is logged, missingUnit counts each instance', async () => {
    const server = (await start()).getHttpServer();
    const res = await request(server).get('/exp1').expect(200);
    expect(res.body).toEqual({ group_size: -1, in_experiment: false, params: {} });
    await request(server).get('/exp1').set('x-user-id', '').expect(200);
    await request(server).post('/convert').expect(201);
    await recorder.flush();
    expect(recorder.records).toEqual([]);
    // Two /exp1 requests, then /convert: Exp1, CoreLabel and the namespace.
    expect(missing()).toBe(5);
  });

  it('the same requests with a unit are assigned and logged as before', async () => {
    const server = (await start()).getHttpServer();
    const res = await request(server).get('/exp1').set('x-user-id', '42').expect(200);
    const expected = app!.get(PlanoutService).create(Exp1, { userid: '42' }, { autoExposureLogging: false });
    expect(res.body).toEqual({ group_size: expected.get('group_size'), in_experiment: true, params: expected.getParams() });
    await request(server).post('/convert').set('x-user-id', '42').expect(201);
    await recorder.flush();
    expect(recorder.records.map((r) => `${r.name}:${r.event}`).sort()).toEqual(
      ['Exp1:exposure', 'Exp1:conversion', 'CoreLabel:conversion', 'TestNs-a:conversion'].sort(),
    );
    expect(missing()).toBe(0);
  });

  it('a declared unit is checked before assign runs, even when the draws use another input', async () => {
    const server = (await start()).getHttpServer();
    DeclaredUnitExperiment.calls = 0;
    expect((await request(server).get('/declared').set('x-page', 'cart').expect(200)).body).toEqual({ color: 'none' });
    expect(DeclaredUnitExperiment.calls).toBe(0);
    expect(missing()).toBe(1);
    const assigned = (await request(server).get('/declared').set('x-user-id', '7').set('x-page', 'cart').expect(200)).body;
    expect(['red', 'blue']).toContain(assigned.color);
    expect(DeclaredUnitExperiment.calls).toBe(1);
    await recorder.flush();
    expect(recorder.records).toEqual([expect.objectContaining({ name: 'DeclaredUnit', inputs: expect.objectContaining({ userid: '7', page: 'cart' }) })]);
  });

  it('a compound unit with a missing part is missing; other params read defaults too', async () => {
    const server = (await start()).getHttpServer();
    expect((await request(server).get('/compound').set('x-user-id', '7').expect(200)).body).toEqual({ size: 0, constant: 0 });
    const assigned = (await request(server).get('/compound').set('x-user-id', '7').set('x-page', 'p').expect(200)).body;
    expect(assigned.constant).toBe(1);
    expect([1, 2, 3]).toContain(assigned.size);
    expect(missing()).toBe(1);
  });

  it('only units count: a missing targeting input (country) is the experiment\'s own business', async () => {
    const server = (await start()).getHttpServer();
    expect((await request(server).get('/germany').set('x-user-id', '7').expect(200)).body).toEqual({ feature_enabled: 'off' });
    expect(missing()).toBe(0);
    expect((await request(server).get('/germany').set('x-country', 'Germany').expect(200)).body).toEqual({ feature_enabled: 'off' });
    expect(missing()).toBe(1);
    await recorder.flush();
    expect(recorder.records).toEqual([]);
  });

  it('a namespace without its primary unit routes nowhere; a core Experiment subclass reads its default', async () => {
    const server = (await start()).getHttpServer();
    expect((await request(server).get('/namespace').expect(200)).body).toEqual({ label: 'default', in_experiment: false });
    expect((await request(server).get('/core').expect(200)).body).toEqual({ label: 'default' });
    await recorder.flush();
    expect(recorder.records).toEqual([]);
    expect(missing()).toBe(2);
  });

  it('the module `units` option declares the units of every experiment without its own', async () => {
    const server = (await start({ ...options, units: ['userid', 'page'] })).getHttpServer();
    // Exp1 draws only with userid, but the module says a page is needed too.
    expect((await request(server).get('/exp1').set('x-user-id', '42').expect(200)).body.group_size).toBe(-1);
    expect((await request(server).get('/exp1').set('x-user-id', '42').set('x-page', 'p').expect(200)).body.in_experiment).toBe(true);
    expect(missing()).toBe(1);
  });
});

describe('missing units outside a request', () => {
  it('PlanoutService.create and run accept a missing unit, and the instance is not in the experiment', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [PlanoutTestingModule.forRoot(options)],
      providers: [GroupSizes, Exp1],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const planout = app.get(PlanoutService);
    const job: { userId?: string } = {};
    const exp = planout.create(Exp1, { userid: job.userId });
    expect(exp.inExperiment).toBe(false);
    expect(exp.get('group_size', 5)).toBe(5);
    exp.logExposure();
    exp.logEvent('conversion');
    expect(planout.run({ userid: null }, () => planout.experiment(Exp1).get('group_size', 7))).toBe(7);
    const recorder = getPlanoutRecorder(app);
    await recorder.flush();
    expect(recorder.records).toEqual([]);
    expect(app.get(PlanoutMetrics).snapshot().missingUnit).toBe(2);
  });

  it('refuses a malformed `units` declaration at bootstrap, naming the experiment', async () => {
    @Experiment({ name: 'BadUnits', units: [] })
    class BadUnits {
      assign(): void {}
    }
    const moduleRef = await Test.createTestingModule({
      imports: [PlanoutModule.forRoot({ experiments: [BadUnits], inputs })],
    }).compile();
    const bad = moduleRef.createNestApplication({ logger: false });
    await expect(bad.init()).rejects.toThrow(/BadUnits.*units/);
    await bad.close().catch(() => {});
  });
});

describe('missing units in types', () => {
  it('a resolved unit is typed as possibly missing, and a repeated header is not a unit', () => {
    const request: PlanoutRequest = { headers: { 'x-user-id': 'u' } };
    const resolved = inputs(request, undefined as unknown as ExecutionContext);
    // @ts-expect-error the unit may be missing: it does not type-check as a string
    const unit: string = resolved.userid;
    expect(unit).toBe('u');
    // @ts-expect-error req.headers[...] may be a string[] (a repeated header), which is not a unit
    const raw: PlanoutInputResolver<UserInputs> = (req) => ({ userid: req.headers['x-user-id'] });
    const maybe: RequestInputs<UserInputs> = { userid: undefined };
    expect([typeof raw, maybe.userid]).toEqual(['function', undefined]);
  });
});
