import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  DefinitionSource,
  InMemorySink,
  PlanoutCatalog,
  PlanoutDefinitions,
  PlanoutMetrics,
  PlanoutModule,
  PlanoutService,
  PlanoutSrmMonitor,
  type DefinitionSet,
  type PlanoutModuleOptions,
} from '../../../src/index.js';
import { BannerNamespace, CheckoutButtonExperiment, userInputs } from '../../../sample-app/experiments.js';

// Monitoring of data-defined experiments and namespaces: SRM expectations learnt at bootstrap
// and again after a reload, missing units counted under the experiment's name, and the
// namespace names the OpenTelemetry provider reads from PlanoutCatalog.

const HOMEPAGE = "button_color = uniformChoice(choices=['blue', 'green'], unit=userid);";
const BANNERS = {
  name: 'banners',
  primaryUnit: 'userid',
  segments: 10,
  history: [{ action: 'add' as const, name: 'text', experiment: 'banner_text', segments: 10 }],
};
const DEFINITIONS: DefinitionSet = {
  experiments: [
    { name: 'homepage', script: HOMEPAGE },
    { name: 'banner_text', script: "text = weightedChoice(choices=['Hi', 'Hello'], weights=[1, 3], unit=userid);" },
  ],
  namespaces: [BANNERS],
};

class SwappableSource extends DefinitionSource {
  readonly description = 'swappable';

  constructor(private definitions: DefinitionSet) {
    super();
  }

  async load(): Promise<DefinitionSet> {
    return this.definitions;
  }

  watch(): () => void {
    return () => undefined;
  }

  set(definitions: DefinitionSet): void {
    this.definitions = definitions;
  }
}

let moduleRef: TestingModule | undefined;
afterEach(async () => {
  await moduleRef?.close();
  moduleRef = undefined;
});

/** Starts the module; unless `settle` is false, waits for the SRM learning left to the background. */
async function start(source: SwappableSource, extra: Partial<PlanoutModuleOptions> = {}, settle = true): Promise<TestingModule> {
  moduleRef = await Test.createTestingModule({
    imports: [
      PlanoutModule.forRoot({
        experiments: [CheckoutButtonExperiment],
        namespaces: [BannerNamespace],
        inputs: userInputs,
        definitions: source,
        logSink: new InMemorySink(),
        ...extra,
      }),
    ],
  }).compile();
  moduleRef.useLogger(false);
  await moduleRef.init();
  if (settle) await moduleRef.get(PlanoutSrmMonitor).settled();
  return moduleRef;
}

const expectationsOf = (ref: TestingModule) =>
  new Map(ref.get(PlanoutSrmMonitor).expectations().map((e) => [`${e.experiment}.${e.param}`, e.shares ?? e.syntheticCounts]));

async function reload(ref: TestingModule, source: SwappableSource, definitions: DefinitionSet): Promise<void> {
  source.set(definitions);
  await ref.get(PlanoutDefinitions).reload();
  await ref.get(PlanoutSrmMonitor).settled();
}

describe('SRM alarm on data-defined experiments', () => {
  it('learns their expected shares at bootstrap, next to the classes', async () => {
    const ref = await start(new SwappableSource(DEFINITIONS));
    const expectations = expectationsOf(ref);
    expect(expectations.get('homepage.button_color')).toEqual([0.5, 0.5]);
    expect(expectations.get('banners-text.text')).toEqual([0.25, 0.75]);
    expect(expectations.get('CheckoutButton.button_color')).toEqual([0.5, 0.5]);
    expect(expectations.get('BannerNamespace-size.banner_size')).toEqual([0.25, 0.5, 0.25]);
  });

  it('alarms on a biased exposure pattern of a data-defined experiment', async () => {
    const ref = await start(new SwappableSource(DEFINITIONS));
    const service = ref.get(PlanoutService);
    for (let unit = 0; unit < 400; unit++) {
      const exp = service.create('homepage', { userid: `u${unit}` }, { autoExposureLogging: false });
      if (exp.get('button_color') === 'blue') exp.logExposure();
    }
    await service.flush();
    const [alarm] = ref.get(PlanoutSrmMonitor).alarms();
    expect(alarm).toMatchObject({ experiment: 'homepage', param: 'button_color' });
    expect(alarm!.exposures).toBeGreaterThanOrEqual(100);
    expect(alarm!.pValue).toBeLessThan(0.001);
  });

  it('after a reload: a changed definition is learnt again from zero, a removed one is no longer tested, others keep counting', async () => {
    const source = new SwappableSource(DEFINITIONS);
    const ref = await start(source);
    const service = ref.get(PlanoutService);
    const monitor = ref.get(PlanoutSrmMonitor);
    for (let unit = 0; unit < 20; unit++) {
      service.create('homepage', { userid: `u${unit}` }).getParams();
      service.create(CheckoutButtonExperiment, { userid: `u${unit}` }).getParams();
    }
    await service.flush();
    const tested = () => monitor.results().map((r) => [`${r.experiment}.${r.param}`, r.exposures]);
    expect(tested()).toEqual([
      ['CheckoutButton.button_color', 20],
      ['CheckoutButton.button_text', 20],
      ['homepage.button_color', 20],
    ]);

    const weighted = "button_color = weightedChoice(choices=['blue', 'green'], weights=[1, 3], unit=userid);";
    await reload(ref, source, { experiments: [{ name: 'homepage', script: weighted }, DEFINITIONS.experiments[1]!], namespaces: [BANNERS] });
    expect(expectationsOf(ref).get('homepage.button_color')).toEqual([0.25, 0.75]);
    expect(tested()).toEqual([
      ['CheckoutButton.button_color', 20],
      ['CheckoutButton.button_text', 20],
    ]);
    service.create('homepage', { userid: 'after' }).getParams();
    await service.flush();
    expect(monitor.results().find((r) => r.experiment === 'homepage')?.exposures).toBe(1);

    await reload(ref, source, { experiments: [DEFINITIONS.experiments[1]!], namespaces: [] });
    const keys = [...expectationsOf(ref).keys()];
    expect(keys.filter((k) => k.startsWith('homepage.') || k.startsWith('banners-'))).toEqual([]);
    expect(keys).toContain('CheckoutButton.button_color');
    expect(tested().map(([key]) => key)).toEqual(['CheckoutButton.button_color', 'CheckoutButton.button_text']);
  });
});

describe('missing units of data-defined experiments and namespaces', () => {
  it('are counted under the experiment or namespace name', async () => {
    const ref = await start(new SwappableSource(DEFINITIONS));
    const labels: (string | undefined)[] = [];
    ref.get(PlanoutMetrics).addListener({
      counter: (counter, _by, counterLabels) => {
        if (counter === 'missingUnit') labels.push(counterLabels?.experiment);
      },
    });
    const service = ref.get(PlanoutService);
    expect(service.create('homepage', { userid: '' }).get('button_color', 'none')).toBe('none');
    expect(service.create(CheckoutButtonExperiment, { userid: undefined as unknown as string }).inExperiment).toBe(false);
    service.run({ userid: undefined }, () => service.namespace('banners').get('text', 'none'));
    service.run({ userid: undefined }, () => service.namespace(BannerNamespace).get('banner_size', 0));
    expect(labels).toEqual(['homepage', 'CheckoutButton', 'banners', 'BannerNamespace']);
    expect(ref.get(PlanoutMetrics).snapshot().missingUnit).toBe(4);
  });
});

describe('PlanoutCatalog', () => {
  it('names class-based and data-defined namespaces, following reloads', async () => {
    const source = new SwappableSource(DEFINITIONS);
    const ref = await start(source);
    const catalog = ref.get(PlanoutCatalog);
    expect(catalog.namespaces()).toEqual(['BannerNamespace', 'banners']);
    expect(catalog.namespaceOf('banners-text')).toBe('banners');
    expect(catalog.namespaceOf('BannerNamespace-size')).toBe('BannerNamespace');
    expect(catalog.namespaceOf('homepage')).toBeUndefined();
    await reload(ref, source, { experiments: DEFINITIONS.experiments, namespaces: [] });
    expect(catalog.namespaces()).toEqual(['BannerNamespace']);
    expect(catalog.namespaceOf('banners-text')).toBeUndefined();
  });
});

/** `count` data experiments `many_0`… running the homepage script. */
function homepages(count: number): DefinitionSet {
  return { experiments: Array.from({ length: count }, (_, i) => ({ name: `many_${i}`, script: HOMEPAGE })), namespaces: [] };
}

describe('SRM learning at bootstrap is bounded', () => {
  it('learns what fits in srm.bootstrapMs at start and the rest in the background', async () => {
    const many = homepages(40);
    const ref = await start(new SwappableSource(many), { srm: { bootstrapMs: 0 } }, false);
    const srm = ref.get(PlanoutSrmMonitor);
    // With no bootstrap time, start-up ran one synthetic unit: the sources come later.
    const atStart = new Set(srm.expectations().map((e) => e.experiment));
    expect(atStart.size).toBeLessThan(10);
    await srm.settled();
    const learnt = new Set(srm.expectations().map((e) => e.experiment));
    for (let i = 0; i < 40; i++) expect(learnt.has(`many_${i}`)).toBe(true);
    expect(learnt.has('CheckoutButton')).toBe(true);
  }, 60_000);

  it('what is learnt does not depend on when: the same expectations with no bootstrap time as with all of it', async () => {
    const computed: DefinitionSet = {
      experiments: [{ name: 'goal', script: 'size = uniformChoice(choices=[1, 10], unit=userid); per = uniformChoice(choices=[8, 16], unit=userid); goal = size * per;' }],
      namespaces: [],
    };
    const learnt = async (bootstrapMs: number) => {
      const ref = await start(new SwappableSource(computed), { srm: { bootstrapMs } }, false);
      await ref.get(PlanoutSrmMonitor).settled();
      const expectations = ref.get(PlanoutSrmMonitor).expectations();
      await ref.close();
      moduleRef = undefined;
      return expectations;
    };
    const sliced = await learnt(0);
    const goal = sliced.find((e) => e.experiment === 'goal' && e.param === 'goal')!;
    // A computed param: estimated on every one of the 4 000 synthetic units, however sliced.
    expect(goal.syntheticCounts!.reduce((a, b) => a + b, 0)).toBe(4_000);
    expect(await learnt(60_000)).toEqual(sliced);
  }, 60_000);

  it('exposures that arrive before their experiment is learnt are counted once it is', async () => {
    const many = homepages(20);
    const ref = await start(new SwappableSource(many), { srm: { bootstrapMs: 0 } }, false);
    const srm = ref.get(PlanoutSrmMonitor);
    const service = ref.get(PlanoutService);
    expect(srm.expectations().some((e) => e.experiment === 'many_19')).toBe(false);
    for (let unit = 0; unit < 30; unit++) service.create('many_19', { userid: `u${unit}` }).getParams();
    await service.flush();
    await srm.settled();
    expect(srm.results().find((r) => r.experiment === 'many_19')).toMatchObject({ param: 'button_color', exposures: 30 });
  }, 60_000);

  it('a source too costly for the safety net (srm.maxMsPerSource) is not tested rather than learnt from part of its units', async () => {
    const ref = await start(new SwappableSource(DEFINITIONS), { srm: { bootstrapMs: 0, maxMsPerSource: 0 } }, false);
    const srm = ref.get(PlanoutSrmMonitor);
    await srm.settled();
    expect(srm.expectations()).toEqual([]);
  }, 60_000);
});
