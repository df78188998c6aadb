import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { JsonLinesFileSink, PlanoutMetrics, PlanoutModule, PlanoutSrmMonitor, PlanoutService } from '../../../src/index.js';
import { ExposureDispatcher } from '../../../src/nest/exposure-dispatcher.js';
import { BannerNamespace, CheckoutButtonExperiment, Exp1, GermanyExperiment, PriceExperiment, userInputs } from '../../../sample-app/experiments.js';

const dir = mkdtempSync(join(tmpdir(), 'planout-srm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function moduleWith(logSink: JsonLinesFileSink) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlanoutModule.forRoot({
        experiments: [Exp1, GermanyExperiment, PriceExperiment, CheckoutButtonExperiment],
        namespaces: [BannerNamespace],
        inputs: userInputs,
        logSink,
      }),
    ],
  }).compile();
  moduleRef.useLogger(false);
  await moduleRef.init();
  // What bootstrap did not learn within srm.bootstrapMs is learnt in the background.
  await moduleRef.get(PlanoutSrmMonitor).settled();
  return moduleRef;
}

describe('SRM expectations of the sample experiments', () => {
  it('exact shares from the weights where the param is one draw and every unit is in; synthetic counts otherwise', async () => {
    const moduleRef = await moduleWith(new JsonLinesFileSink({ path: join(dir, 'a.jsonl') }));
    const byKey = new Map(moduleRef.get(PlanoutSrmMonitor).expectations().map((e) => [`${e.experiment}.${e.param}`, e]));
    expect(byKey.get('Exp1.group_size')).toEqual({ experiment: 'Exp1', param: 'group_size', labels: ['1', '10'], shares: [0.5, 0.5] });
    expect(byKey.get('Exp1.specific_goal')).toMatchObject({ labels: ['1', '0'], shares: [0.8, expect.closeTo(0.2, 12)] });
    expect(byKey.get('Exp1.ratings_per_user_goal')).toMatchObject({ labels: ['8', '16', '32', '64'], shares: [0.25, 0.25, 0.25, 0.25] });
    // Computed (group_size × ratings_per_user_goal): estimated on 4 000 synthetic units.
    const goal = byKey.get('Exp1.ratings_goal')!;
    expect(goal.shares).toBeUndefined();
    expect(goal.labels).toEqual(['16', '160', '32', '320', '64', '640', '8', '80']);
    expect(goal.syntheticCounts!.reduce((a, b) => a + b, 0)).toBeGreaterThan(3_000);
    // Units drawn 0.99 leave the experiment (no exposure): the weights no longer say what is exposed.
    expect(byKey.get('TradePrice.trade_price')).toMatchObject({ labels: ['0.1', '0.25', '0.5'], syntheticCounts: expect.any(Array) });
    expect(byKey.get('CheckoutButton.button_color')).toMatchObject({ labels: ['"#ff0000"', '"#00ff00"'], shares: [0.5, 0.5] });
    expect(byKey.get('BannerNamespace-size.banner_size')).toMatchObject({ labels: ['12', '16', '24'], shares: [0.25, 0.5, 0.25] });
    expect(byKey.get('BannerNamespace-text.banner_text')).toMatchObject({ shares: [0.5, 0.5] });
    // Synthetic units never reach Germany: nothing to expect, nothing tested.
    expect([...byKey.keys()].filter((k) => k.startsWith('GermanyFeature'))).toEqual([]);
    await moduleRef.close();
  });

  it('a sink built without `metrics` counts into the module’s PlanoutMetrics', async () => {
    const moduleRef = await moduleWith(new JsonLinesFileSink({ path: join(dir, 'b.jsonl') }));
    const service = moduleRef.get(PlanoutService);
    for (let u = 0; u < 5; u++) service.create(Exp1, { userid: String(u) }).getParams();
    await moduleRef.get(ExposureDispatcher).whenIdle();
    await moduleRef.close(); // flushes
    expect(moduleRef.get(PlanoutMetrics).snapshot()).toMatchObject({ accepted: 5, logged: 5 });
  });
});

describe('SRM counting by value', () => {
  const exposure = (params: Record<string, unknown>) =>
    ({ name: 'Exp1', salt: 'Exp1', inputs: { userid: 'u' }, params, event: 'exposure', time: 1, checksum: 'abcd1234' }) as const;
  const pValueOf = (monitor: PlanoutSrmMonitor, param: string) => monitor.results().find((r) => r.experiment === 'Exp1' && r.param === param);

  it('counts a value by its canonical text: 0 and -0 alike, 10 and "10" apart, past the remembered values too', async () => {
    const moduleRef = await moduleWith(new JsonLinesFileSink({ path: join(dir, 'c.jsonl') }));
    const metrics = moduleRef.get(PlanoutMetrics);
    const monitor = moduleRef.get(PlanoutSrmMonitor);
    // specific_goal: 1 on 80 %, 0 (half of them -0) on 20 %: what is expected.
    for (let i = 0; i < 1_000; i++) metrics.recordOutcome('accepted', exposure({ specific_goal: i % 5 !== 0 ? 1 : i % 10 === 0 ? -0 : 0 }));
    expect(pValueOf(monitor, 'specific_goal')).toMatchObject({ exposures: 1_000, pValue: expect.closeTo(1, 6) });
    // group_size: 1 and 10 evenly, but half of the tens are strings, which are not an expected value.
    for (let i = 0; i < 1_000; i++) metrics.recordOutcome('accepted', exposure({ group_size: i % 2 === 0 ? 1 : i % 4 === 1 ? 10 : '10' }));
    expect(pValueOf(monitor, 'group_size')!.pValue).toBeLessThan(1e-6);
    // ratings_per_user_goal: more unexpected values than are remembered, then even expected ones.
    for (let i = 0; i < 600; i++) metrics.recordOutcome('accepted', exposure({ ratings_per_user_goal: 1_000 + i }));
    const afterOthers = pValueOf(monitor, 'ratings_per_user_goal')!;
    expect(afterOthers.exposures).toBe(600);
    for (let i = 0; i < 400; i++) metrics.recordOutcome('accepted', exposure({ ratings_per_user_goal: [8, 16, 32, 64][i % 4] }));
    expect(pValueOf(monitor, 'ratings_per_user_goal')!.exposures).toBe(1_000);
    await moduleRef.close();
  });
});

describe('SRM expectations of an interpreted experiment', () => {
  it('reads the weights from the script’s operators; computed params are estimated', async () => {
    const { compilePlanout } = await import('../../../src/core/compiler/index.js');
    const { InterpretedExperiment } = await import('../../../src/core/index.js');
    const script = compilePlanout(readFileSync('examples/exp1.planout', 'utf8'));
    const ScriptExp1 = InterpretedExperiment.define({ name: 'ScriptExp1', script });
    const moduleRef = await Test.createTestingModule({
      imports: [PlanoutModule.forRoot({ experiments: [ScriptExp1], inputs: userInputs, logSink: new JsonLinesFileSink({ path: join(dir, 'c.jsonl') }) })],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    await moduleRef.get(PlanoutSrmMonitor).settled();
    const byParam = new Map(moduleRef.get(PlanoutSrmMonitor).expectations().map((e) => [e.param, e]));
    expect(byParam.get('group_size')).toEqual({ experiment: 'ScriptExp1', param: 'group_size', labels: ['1', '10'], shares: [0.5, 0.5] });
    expect(byParam.get('specific_goal')).toMatchObject({ labels: ['1', '0'], shares: [0.8, expect.closeTo(0.2, 12)] });
    expect(byParam.get('ratings_per_user_goal')).toMatchObject({ shares: [0.25, 0.25, 0.25, 0.25] });
    // Computed by the script: estimated, over its 8 products.
    expect(byParam.get('ratings_goal')!.shares).toBeUndefined();
    expect(byParam.get('ratings_goal')!.syntheticCounts).toHaveLength(8);
    await moduleRef.close();
  });
});
