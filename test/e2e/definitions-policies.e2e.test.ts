import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  DefinitionSource,
  InMemorySink,
  NamespaceInstance,
  NamespaceParam,
  Param,
  PlanoutBudgetError,
  PlanoutDefinitionError,
  PlanoutDefinitions,
  PlanoutMetrics,
  PlanoutModule,
  PlanoutService,
  SimpleNamespace,
  type DefinitionSet,
  type PlanoutModuleOptions,
  type PlanoutRequest,
} from '../../src/index.js';
import { createApp } from './support.js';

// Where data-defined experiments meet the missing-unit policy, the evaluation budget and
// record ids: the same behaviour as class-based experiments.

// 120k elements: over the default maxElements (100k), under 150k.
const BIG_SCRIPT = { op: 'set', var: 'big', value: { op: 'product', values: [[1], 120_000] } };

const DEFINITIONS: DefinitionSet = {
  experiments: [
    { name: 'homepage', script: "button_color = uniformChoice(choices=['blue', 'green'], unit=userid);" },
    // Its unit is the account, not the user: inferred from the draw's `unit` argument.
    { name: 'billing', script: "plan = uniformChoice(choices=['monthly', 'yearly'], unit=accountid);" },
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

/** A source whose definitions a test replaces, reloading the module as a store's watch would. */
class SwappableSource extends DefinitionSource {
  readonly description = 'swappable';
  private onChange: (() => void) | undefined;

  constructor(private definitions: DefinitionSet) {
    super();
  }

  async load(): Promise<DefinitionSet> {
    return this.definitions;
  }

  watch(onChange: () => void): () => void {
    this.onChange = onChange;
    return () => (this.onChange = undefined);
  }

  set(definitions: DefinitionSet): void {
    this.definitions = definitions;
    this.onChange?.();
  }
}

@Controller()
class PolicyController {
  constructor(private readonly planout: PlanoutService) {}

  @Get('homepage')
  homepage(@Param('homepage', 'button_color', 'none') color: string): unknown {
    return { color };
  }

  @Get('billing')
  billing(): unknown {
    const exp = this.planout.experiment('billing');
    return { plan: exp.get('plan', 'none'), inExperiment: exp.inExperiment };
  }

  @Get('banner')
  banner(@NamespaceParam('banners', 'text', 'default') text: string, @NamespaceInstance('banners') ns: SimpleNamespace): unknown {
    return { text, experiment: ns.currentExperiment?.name ?? null };
  }

  @Get('big')
  big(): unknown {
    return { size: (this.planout.experiment('big').get('big') as unknown[]).length };
  }
}

// No userid: the resolver says so (undefined), as a request without the header would.
const inputs = (req: PlanoutRequest) => {
  const query = req.query as Record<string, string | undefined>;
  return { userid: query.userid, accountid: query.accountid };
};

describe('data-defined experiments under the module policies', () => {
  let app: INestApplication | undefined;
  let sink: InMemorySink;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(extra: Partial<PlanoutModuleOptions> = {}, source: DefinitionSource = new SwappableSource(DEFINITIONS)): Promise<INestApplication> {
    sink = new InMemorySink();
    @Module({
      imports: [PlanoutModule.forRoot({ inputs, definitions: source, logSink: sink, definitionsReload: { debounceMs: 10 }, ...extra })],
      controllers: [PolicyController],
    })
    class PolicyModule {}
    app = await createApp('express', { imports: [PolicyModule] });
    return app;
  }

  async function records() {
    await app!.get(PlanoutService).flush();
    return sink.records;
  }
  const missing = (): number => app!.get(PlanoutMetrics).snapshot().missingUnit;

  describe('missing units', () => {
    it('a unit inferred from the script: absent, the default is read, nothing is logged, missingUnit counts it', async () => {
      await start();
      await request(app!.getHttpServer()).get('/homepage').expect(200, { color: 'none' });
      await request(app!.getHttpServer()).get('/homepage?userid=').expect(200, { color: 'none' });
      // The user is known but the draw's unit (accountid) is not.
      await request(app!.getHttpServer()).get('/billing?userid=5').expect(200, { plan: 'none', inExperiment: false });
      expect(missing()).toBe(3);
      expect(await records()).toEqual([]);
      // With the unit: assigned and logged as before.
      const out = (await request(app!.getHttpServer()).get('/billing?userid=5&accountid=a1').expect(200)).body;
      expect(['monthly', 'yearly']).toContain(out.plan);
      expect((await records()).map((r) => [r.name, r.inputs])).toEqual([['billing', { userid: '5', accountid: 'a1' }]]);
      expect(missing()).toBe(3);
    });

    it('module-wide declared units apply to data-defined experiments: a missing userid keeps billing out', async () => {
      await start({ units: ['userid'] });
      await request(app!.getHttpServer()).get('/billing?accountid=a1').expect(200, { plan: 'none', inExperiment: false });
      expect(missing()).toBe(1);
      expect(await records()).toEqual([]);
    });

    it('a data-defined namespace without its primary unit routes nowhere: default, nothing logged, counted', async () => {
      await start();
      await request(app!.getHttpServer()).get('/banner').expect(200, { text: 'default', experiment: null });
      expect(missing()).toBe(1);
      expect(await records()).toEqual([]);
      const routed = (await request(app!.getHttpServer()).get('/banner?userid=5').expect(200)).body;
      expect(routed.experiment).toBe('banners-text');
    });

    it('PlanoutService.create(name) with a missing unit: not in the experiment, logs nothing', async () => {
      await start();
      const exp = app!.get(PlanoutService).create('homepage', { userid: undefined });
      expect(exp.get('button_color', 'fallback')).toBe('fallback');
      expect(exp.inExperiment).toBe(false);
      exp.logEvent('clicked');
      expect(await records()).toEqual([]);
      expect(missing()).toBe(1);
    });
  });

  it('records of data-defined experiments carry the record id', async () => {
    await start();
    await request(app!.getHttpServer()).get('/homepage?userid=7').expect(200);
    app!.get(PlanoutService).create('homepage', { userid: '8' }).logEvent('clicked');
    const logged = await records();
    expect(logged.map((r) => [r.name, r.event])).toEqual([
      ['homepage', 'exposure'],
      ['homepage', 'clicked'],
    ]);
    for (const record of logged) expect(record.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(logged[1]!.id).not.toBe(logged[0]!.id);
  });

  describe('evaluation budget', () => {
    const big: DefinitionSet = { experiments: [{ name: 'big', script: BIG_SCRIPT }], namespaces: [] };

    it('a script over the budget is refused at its dry run (cause: PlanoutBudgetError) and never serves', async () => {
      await start({}, new SwappableSource(big));
      const [error] = app!.get(PlanoutDefinitions).report().errors;
      expect(error).toMatchObject({ name: 'big', kind: 'experiment', serving: false });
      expect(error!.message).toMatch(/dry run failed: .*maxElements/);
      expect((await request(app!.getHttpServer()).get('/big')).status).toBe(500);
    });

    it('the module-wide evaluationBudget is the budget of data-defined experiments', async () => {
      await start({ evaluationBudget: { maxElements: 150_000 } }, new SwappableSource(big));
      expect(app!.get(PlanoutDefinitions).report().errors).toEqual([]);
      await request(app!.getHttpServer()).get('/big?userid=1').expect(200, { size: 120_000 });
    }, 30_000); // Its dry run and the SRM alarm's first units build 120 000-element lists: seconds under load.

    it('a reload over the budget leaves the last good definition serving', async () => {
      const source = new SwappableSource({ experiments: [{ name: 'big', script: { op: 'set', var: 'big', value: [1, 2] } }], namespaces: [] });
      await start({ evaluationBudget: { maxElements: 1000 } }, source);
      await request(app!.getHttpServer()).get('/big?userid=1').expect(200, { size: 2 });
      const version = app!.get(PlanoutDefinitions).report().version;
      // 2000 elements: under the default budget, over the module's.
      source.set({ experiments: [{ name: 'big', script: { op: 'set', var: 'big', value: { op: 'product', values: [[1], 2000] } } }], namespaces: [] });
      const definitions = app!.get(PlanoutDefinitions);
      for (let i = 0; i < 200 && definitions.report().errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const report = definitions.report();
      expect(report.version).toBe(version);
      expect(report.errors).toMatchObject([{ name: 'big', serving: true }]);
      expect(report.errors[0]!.message).toMatch(/maxElements/);
      await request(app!.getHttpServer()).get('/big?userid=1').expect(200, { size: 2 });
    });
  });
});

describe('compileExperimentDefinition under a budget', () => {
  it('wraps the dry run budget overrun in PlanoutDefinitionError, the PlanoutBudgetError as its cause', async () => {
    const { compileExperimentDefinition } = await import('../../src/nest/definitions/index.js');
    let thrown: unknown;
    try {
      compileExperimentDefinition({ name: 'big', script: BIG_SCRIPT });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PlanoutDefinitionError);
    expect((thrown as Error).message).toMatch(/big/);
    expect((thrown as Error).cause).toBeInstanceOf(PlanoutBudgetError);
    expect(compileExperimentDefinition({ name: 'big', script: BIG_SCRIPT }, { budget: { maxElements: 150_000 } }).name).toBe('big');
  });
});
