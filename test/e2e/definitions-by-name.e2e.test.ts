import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Injectable, Module, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  Assignment,
  compilePlanout,
  Experiment,
  ExperimentInstance,
  InMemorySink,
  ManualExposure,
  NamespaceInstance,
  NamespaceParam,
  Param,
  PlanoutDefinitions,
  PlanoutModule,
  PlanoutService,
  PlanoutUnknownExperimentError,
  SimpleNamespace,
  StaticDefinitionSource,
  UniformChoice,
  type DefinitionSet,
  type Experiment as CoreExperiment,
  type PlanoutModuleOptions,
  type PlanoutRequest,
} from '../../src/index.js';
import { createApp } from './support.js';

// Data-defined experiments used by name from controllers and services, next to classes:
// the same exposure, deduplication, manual exposure and override behaviour.

@Experiment({ name: 'ClassBased' })
class ClassBased {
  assign(params: Assignment<{ size: number }>, inputs: { userid: string }): void {
    params.set('size', new UniformChoice({ choices: [1, 2], unit: inputs.userid }));
  }
}

const DEFINITIONS: DefinitionSet = {
  experiments: [
    { name: 'homepage', script: "button_color = uniformChoice(choices=['blue', 'green'], unit=userid);" },
    { name: 'salted', salt: 'custom-salt', script: compilePlanout("flag = bernoulliTrial(p=0.5, unit=userid);") },
    { name: 'banner_text', script: "text = uniformChoice(choices=['Hi', 'Hello'], unit=userid);" },
  ],
  namespaces: [
    {
      name: 'banners',
      primaryUnit: 'userid',
      segments: 10,
      history: [{ action: 'add', name: 'text', experiment: 'banner_text', segments: 10 }],
    },
  ],
};

@Injectable()
class HomepageService {
  constructor(private readonly planout: PlanoutService) {}

  color(): unknown {
    return this.planout.experiment('homepage').get('button_color');
  }
}

@Controller()
class ByNameController {
  constructor(
    private readonly planout: PlanoutService,
    private readonly homepage: HomepageService,
  ) {}

  @Get('param')
  param(@Param('homepage', 'button_color', 'none') color: string, @Param(ClassBased, 'size') size: number): unknown {
    return { color, size };
  }

  @Get('instance')
  instance(@ExperimentInstance('salted') exp: CoreExperiment): unknown {
    return { ...exp.getParams(), salt: exp.salt };
  }

  @Get('service')
  service(): unknown {
    return { color: this.homepage.color() };
  }

  @Get('manual')
  @ManualExposure()
  manual(): unknown {
    const color = this.planout.experiment('homepage').get('button_color');
    this.planout.logEvent('homepage', 'rendered');
    return { color };
  }

  @Get('manual-expose')
  @ManualExposure()
  manualExpose(): unknown {
    const color = this.planout.experiment('homepage').get('button_color');
    this.planout.logExposure('homepage');
    return { color };
  }

  @Get('namespace')
  namespace(@NamespaceParam('banners', 'text', 'default') text: string, @NamespaceInstance('banners') ns: SimpleNamespace): unknown {
    return { text, experiment: ns.currentExperiment?.name ?? null };
  }
}

describe('data-defined experiments by name', () => {
  let app: INestApplication | undefined;
  let sink: InMemorySink;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(extra: Partial<PlanoutModuleOptions> = {}, definitions: DefinitionSet = DEFINITIONS): Promise<INestApplication> {
    sink = new InMemorySink();
    @Module({
      imports: [
        PlanoutModule.forRoot({
          experiments: [ClassBased],
          inputs: (req: PlanoutRequest) => ({ userid: String((req.query as Record<string, unknown>).userid ?? '') }),
          definitions: new StaticDefinitionSource(definitions),
          logSink: sink,
          overrides: { allow: () => true },
          ...extra,
        }),
      ],
      controllers: [ByNameController],
      providers: [HomepageService],
    })
    class ByNameModule {}
    app = await createApp('express', { imports: [ByNameModule] });
    return app;
  }

  async function records() {
    await app!.get(PlanoutService).flush();
    return sink.records;
  }

  it('@Param by name next to a class: one exposure each, deduplicated across requests', async () => {
    await start();
    const first = (await request(app!.getHttpServer()).get('/param?userid=3').expect(200)).body;
    expect(['blue', 'green']).toContain(first.color);
    await request(app!.getHttpServer()).get('/param?userid=3').expect(200, first);
    expect((await records()).map((r) => `${r.name}:${r.event}`).sort()).toEqual(['ClassBased:exposure', 'homepage:exposure']);
  });

  it('@ExperimentInstance by name keeps the definition salt; PlanoutService.experiment(name) from a service', async () => {
    await start();
    const out = (await request(app!.getHttpServer()).get('/instance?userid=9').expect(200)).body;
    expect(out.salt).toBe('custom-salt');
    const service = (await request(app!.getHttpServer()).get('/service?userid=9').expect(200)).body;
    expect(['blue', 'green']).toContain(service.color);
    expect((await records()).map((r) => [r.name, r.salt])).toEqual([
      ['salted', 'custom-salt'],
      ['homepage', 'homepage'],
    ]);
  });

  it('PlanoutService.create(name, inputs) outside HTTP logs through the module like a request', async () => {
    await start();
    const exp = app!.get(PlanoutService).create('homepage', { userid: '77' });
    expect(['blue', 'green']).toContain(exp.get('button_color'));
    expect((await records()).map((r) => [r.name, r.inputs.userid, r.event])).toEqual([['homepage', '77', 'exposure']]);
  });

  it('@ManualExposure: reading logs nothing, logExposure(name) logs once, events are logged', async () => {
    await start();
    await request(app!.getHttpServer()).get('/manual?userid=1').expect(200);
    expect((await records()).map((r) => r.event)).toEqual(['rendered']);
    await request(app!.getHttpServer()).get('/manual-expose?userid=1').expect(200);
    await request(app!.getHttpServer()).get('/manual-expose?userid=1').expect(200);
    expect((await records()).map((r) => r.event)).toEqual(['rendered', 'exposure']);
  });

  it('QA overrides apply by the definition name and mark the records overridden', async () => {
    await start();
    const out = await request(app!.getHttpServer())
      .get('/param?userid=4')
      .set('x-planout-overrides', JSON.stringify({ homepage: { button_color: 'purple' } }))
      .expect(200);
    expect(out.body.color).toBe('purple');
    const logged = await records();
    expect(logged.find((r) => r.name === 'homepage')).toMatchObject({ params: { button_color: 'purple' }, overridden: true });
    expect(logged.find((r) => r.name === 'ClassBased')!.overridden).toBeUndefined();
  });

  it('a data-defined namespace routes units to its experiments, named <namespace>-<name>', async () => {
    await start();
    const out = (await request(app!.getHttpServer()).get('/namespace?userid=5').expect(200)).body;
    expect(out.experiment).toBe('banners-text');
    expect(['Hi', 'Hello']).toContain(out.text);
    expect((await records())[0]).toMatchObject({ name: 'banners-text', salt: 'banners.text', event: 'exposure' });
  });

  it('a definition may not take the name or the salt of a class-based experiment: refused, the class serves', async () => {
    await start({}, {
      experiments: [
        { name: 'ClassBased', script: 'size = 99;' },
        { name: 'other', salt: 'ClassBased', script: 'x = 1;' },
        DEFINITIONS.experiments[0]!,
      ],
      namespaces: [],
    });
    const report = app!.get(PlanoutDefinitions).report();
    expect(report.errors.map((e) => [e.name, e.serving])).toEqual([
      ['ClassBased', false],
      ['other', false],
    ]);
    expect(report.errors[0]!.message).toMatch(/class-based/);
    expect(report.errors[1]!.message).toMatch(/salt "ClassBased"/);
    expect([1, 2]).toContain((await request(app!.getHttpServer()).get('/param?userid=1').expect(200)).body.size);
  });

  it('an unknown name in a decorator fails the request with an error naming it', async () => {
    await start({}, { experiments: [], namespaces: [] });
    const out = await request(app!.getHttpServer()).get('/param?userid=1');
    expect(out.status).toBe(500);
    expect(() => app!.get(PlanoutService).create('homepage', { userid: '1' })).toThrow(PlanoutUnknownExperimentError);
    await expect(
      app!.get(PlanoutService).run({ userid: '1' }, async () => app!.get(PlanoutService).experiment('homepage')),
    ).rejects.toThrow(/homepage.*unknown experiment|unknown experiment.*homepage/);
  });
});
