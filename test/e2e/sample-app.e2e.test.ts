import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { Assignment, InMemorySink, LogSink, PlanoutMetrics, UniformChoice } from '../../src/index.js';
import { getPlanoutRecorder, type PlanoutRecorder } from '../../src/testing/index.js';
import { AppModule } from '../../sample-app/app.module.js';
import { createApp, PLATFORMS } from './support.js';

// The sample's HTTP contract, with the sink swapped for an in-memory one.
describe.each(PLATFORMS)('sample app on %s', (platform) => {
  let app: INestApplication;
  let recorder: PlanoutRecorder;

  beforeAll(async () => {
    app = await createApp(platform, { imports: [AppModule] }, (b) => b.overrideProvider(LogSink).useValue(new InMemorySink()));
    recorder = getPlanoutRecorder(app);
  });
  afterAll(async () => app.close());

  async function records() {
    await recorder.flush();
    return recorder.records;
  }

  it('GET /exp1 answers the seeds’ Exp1 params and logs exactly one exposure per unit', async () => {
    recorder.clear();
    const first = await request(app.getHttpServer()).get('/exp1?userid=42').expect(200);
    expect([1, 10]).toContain(first.body.group_size);
    expect([0, 1]).toContain(first.body.specific_goal);
    if (first.body.specific_goal === 1) {
      expect(first.body.ratings_goal).toBe(first.body.group_size * first.body.ratings_per_user_goal);
    }
    const again = await request(app.getHttpServer()).get('/exp1').set('x-user-id', '42').expect(200);
    expect(again.body).toEqual(first.body);
    const logged = await records();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ name: 'Exp1', salt: 'Exp1', event: 'exposure', inputs: { userid: '42' }, params: first.body });
  });

  it('GET /germany: non-Germany units get false and no record', async () => {
    recorder.clear();
    const out = await request(app.getHttpServer()).get('/germany?userid=7&country=France').expect(200);
    expect(out.body).toEqual({ feature_enabled: false });
    expect(await records()).toHaveLength(0);
    const de = await request(app.getHttpServer()).get('/germany?userid=7&country=Germany').expect(200);
    expect(typeof de.body.feature_enabled).toBe('boolean');
    expect((await records()).map((r) => r.name)).toEqual(['GermanyFeature']);
  });

  it('GET /price: the seeds’ trade price; units drawn 0.99 get 0.5 and no exposure', async () => {
    recorder.clear();
    const units = 200;
    const answered = new Map<string, number>();
    for (let u = 0; u < units; u++) {
      answered.set(String(u), (await request(app.getHttpServer()).get(`/price?userid=${u}`).expect(200)).body.trade_price);
    }
    const logged = new Map((await records()).map((r) => [String(r.inputs.userid), r] as const));
    const arms = new Map<number, number>();
    for (const [userid, price] of answered) {
      // The arm this unit was drawn, by the reference's hashing (salt TradePrice.trade_price).
      const draw = new Assignment<{ trade_price: number }>('TradePrice');
      draw.set('trade_price', new UniformChoice({ choices: [0.1, 0.25, 0.5, 0.99], unit: userid }));
      const arm = draw.get('trade_price')!;
      arms.set(arm, (arms.get(arm) ?? 0) + 1);
      if (arm === 0.99) {
        expect(price).toBe(0.5);
        expect(logged.has(userid)).toBe(false);
      } else {
        expect(price).toBe(arm);
        expect(logged.get(userid)).toMatchObject({ name: 'TradePrice', event: 'exposure', params: { trade_price: arm } });
      }
    }
    expect(new Set(answered.values())).toEqual(new Set([0.1, 0.25, 0.5]));
    // About a quarter of the units in each arm; the 0.99 arm is the unlogged quarter.
    for (const arm of [0.1, 0.25, 0.5, 0.99]) {
      expect(arms.get(arm)! / units).toBeGreaterThan(0.15);
      expect(arms.get(arm)! / units).toBeLessThan(0.35);
    }
    expect(logged.size).toBe(units - arms.get(0.99)!);
  });


  it('GET /manual logs only when expose=1', async () => {
    recorder.clear();
    await request(app.getHttpServer()).get('/manual?userid=9&expose=0').expect(200);
    expect(await records()).toHaveLength(0);
    await request(app.getHttpServer()).get('/manual?userid=9&expose=1').expect(200);
    expect((await records()).map((r) => [r.name, r.event])).toEqual([['CheckoutButton', 'exposure']]);
  });

  it('POST /exp1/convert logs a conversion event with extra_data', async () => {
    recorder.clear();
    await request(app.getHttpServer()).post('/exp1/convert?userid=5').send({ amount: 3 }).expect(200);
    const logged = await records();
    expect(logged).toEqual([expect.objectContaining({ name: 'Exp1', event: 'conversion', extra_data: { amount: 3 }, inputs: { userid: '5' } })]);
  });

  it('requests without a userid are in no experiment: defaults, and nothing logged (not even a conversion)', async () => {
    recorder.clear();
    const server = app.getHttpServer();
    await request(server).post('/exp1/convert').send({ amount: 3 }).expect(200);
    expect((await request(server).get('/exp1').expect(200)).body).toEqual({});
    expect((await request(server).get('/germany?country=Germany').expect(200)).body).toEqual({ feature_enabled: false });
    expect((await request(server).get('/banner').set('x-user-id', '').expect(200)).body).toEqual({
      experiment: null,
      banner_text: 'Welcome',
      banner_size: 16,
    });
    expect(await records()).toEqual([]);
    expect(app.get(PlanoutMetrics).snapshot().missingUnit).toBeGreaterThanOrEqual(4);
  });

  it('GET /banner routes units through the namespace', async () => {
    recorder.clear();
    const seen = new Set<string | null>();
    for (let u = 0; u < 20; u++) seen.add((await request(app.getHttpServer()).get(`/banner?userid=${u}`).expect(200)).body.experiment);
    expect(seen.has('BannerNamespace-text')).toBe(true);
    expect((await records()).every((r) => r.name.startsWith('BannerNamespace-'))).toBe(true);
  });
});
