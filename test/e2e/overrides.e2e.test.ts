import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  Assignment,
  Experiment,
  ExposureCache,
  exposureDedupeKey,
  InMemoryExposureCache,
  Param,
  PlanoutMetrics,
  PlanoutService,
  UniformChoice,
  signPlanoutOverrides,
  type ExperimentInputs,
  type PlanoutModuleOptions,
  type PlanoutRequest,
} from '../../src/index.js';
import { getPlanoutRecorder, PlanoutTestingModule, type PlanoutRecorder } from '../../src/testing/index.js';
import { ColorExperiment, DeepService, Exp1, GermanyExperiment, GroupSizes, TestController, TestNamespace, testInputs } from './fixtures.js';
import { createApp, PLATFORMS, type Platform } from './support.js';

const SECRET = 'e2e-qa-secret-0123456789';
const HEADER = 'x-planout-overrides';

/** A core Experiment subclass registered directly (not through @Experiment). */
class CoreButton extends Experiment<{ size: number }> {
  assign(params: Assignment<{ size: number }>, inputs: ExperimentInputs): void {
    params.set('size', new UniformChoice({ choices: [1, 2, 3], unit: String(inputs.userid) }));
  }
}

@Controller('qa')
class QaController {
  @Get('core')
  core(@Param(CoreButton, 'size') size: number): Record<string, unknown> {
    return { size };
  }
}

const base: PlanoutModuleOptions = {
  experiments: [Exp1, ColorExperiment, GermanyExperiment, CoreButton],
  namespaces: [TestNamespace],
  inputs: testInputs,
};

function isInternal(req: PlanoutRequest): boolean {
  return req.headers['x-internal'] === '1';
}

describe.each(PLATFORMS)('QA overrides on %s', (platform: Platform) => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(overrides?: PlanoutModuleOptions['overrides'], exposureCache?: ExposureCache) {
    app = await createApp(platform, {
      imports: [PlanoutTestingModule.forRoot({ ...base, overrides, exposureCache })],
      controllers: [TestController, QaController],
      providers: [GroupSizes, Exp1, DeepService],
    });
    const recorder: PlanoutRecorder = getPlanoutRecorder(app);
    const metrics = app.get(PlanoutMetrics);
    const planout = app.get(PlanoutService);
    /** Exp1's real params for `userid`, with no record logged. */
    const real = (userid: string) => planout.create(Exp1, { userid }, { autoExposureLogging: false }).getParams();
    return { server: app.getHttpServer(), recorder, metrics, real };
  }

  const token = (overrides: Record<string, Record<string, unknown>>, expiresInSeconds?: number, secret = SECRET) =>
    signPlanoutOverrides(overrides, secret, { expiresInSeconds });

  it('without the option, the header is ignored completely: real assignment, unflagged record, nothing counted', async () => {
    const { server, recorder, metrics, real } = await start();
    for (const value of [token({ Exp1: { group_size: 7 } }), '{"Exp1":{"group_size":7}}']) {
      const res = await request(server).get('/param').query({ userid: 'u-off' }).set(HEADER, value).set('x-internal', '1').expect(200);
      expect(res.body.group_size).toBe(real('u-off').group_size);
    }
    await recorder.flush();
    const [exposure] = recorder.exposures('Exp1');
    expect(recorder.exposures('Exp1')).toHaveLength(1);
    expect(exposure).not.toHaveProperty('overridden');
    expect(metrics.snapshot()).toMatchObject({ overridesApplied: 0, overridesRejected: 0 });
  });

  it('a valid signed token forces the param; its record is flagged overridden', async () => {
    const { server, recorder, metrics } = await start({ secret: SECRET });
    const res = await request(server)
      .get('/param')
      .query({ userid: 'u-qa' })
      .set(HEADER, token({ Exp1: { group_size: 7, specific_goal: 1, ratings_per_user_goal: 3 } }, 600))
      .expect(200);
    expect(res.body).toEqual({ group_size: 7, ratings_goal: 21 });
    await recorder.flush();
    expect(recorder.exposures('Exp1')).toEqual([
      expect.objectContaining({
        inputs: { userid: 'u-qa' },
        params: { group_size: 7, specific_goal: 1, ratings_per_user_goal: 3, ratings_goal: 21 },
        overridden: true,
      }),
    ]);
    expect(metrics.snapshot()).toMatchObject({ overridesApplied: 1, overridesRejected: 0 });
  });

  it('a tampered signature, a wrong secret, an expired or garbage token: ignored, counted, never a 4xx/5xx', async () => {
    const { server, recorder, metrics, real } = await start({ secret: SECRET });
    const good = token({ Exp1: { group_size: 7 } });
    const dot = good.indexOf('.');
    const tampered = good.slice(0, dot + 2) + (good[dot + 2] === 'A' ? 'B' : 'A') + good.slice(dot + 3);
    const bad = [tampered, token({ Exp1: { group_size: 7 } }, undefined, 'wrong-secret-0123456789'), token({ Exp1: { group_size: 7 } }, -10), 'garbage', ''];
    for (const [i, value] of bad.entries()) {
      const userid = `u-bad-${i}`;
      const res = await request(server).get('/param').query({ userid }).set(HEADER, value).expect(200);
      expect(res.body.group_size).toBe(real(userid).group_size);
    }
    await recorder.flush();
    expect(recorder.exposures('Exp1')).toHaveLength(bad.length);
    expect(recorder.records.filter((r) => r.overridden !== undefined)).toEqual([]);
    expect(metrics.snapshot()).toMatchObject({ overridesApplied: 0, overridesRejected: bad.length });
  });

  it('a signed-only setup refuses unsigned JSON, even from a request an allow predicate would accept', async () => {
    const { server, recorder, metrics, real } = await start({ secret: SECRET });
    const res = await request(server).get('/param').query({ userid: 'u-json' }).set(HEADER, '{"Exp1":{"group_size":7}}').set('x-internal', '1').expect(200);
    expect(res.body.group_size).toBe(real('u-json').group_size);
    await recorder.flush();
    expect(recorder.exposures('Exp1')[0]).not.toHaveProperty('overridden');
    expect(metrics.snapshot().overridesRejected).toBe(1);
  });

  it('allow predicate: unsigned JSON applies when it returns true; signed tokens work regardless', async () => {
    const { server, recorder, metrics } = await start({ secret: SECRET, allow: isInternal });
    const json = '{"ColorExperiment":{"color":"green"}}';
    const allowed = await request(server).get('/items/1').query({ userid: 'u-int' }).set(HEADER, json).set('x-internal', '1').expect(200);
    expect(allowed.body.color).toBe('green');
    const refused = await request(server).get('/items/1').query({ userid: 'u-ext' }).set(HEADER, json).expect(200);
    expect(['red', 'blue']).toContain(refused.body.color);
    const signed = await request(server).get('/param').query({ userid: 'u-ext' }).set(HEADER, token({ Exp1: { group_size: 7 } })).expect(200);
    expect(signed.body.group_size).toBe(7);
    await recorder.flush();
    expect(recorder.exposures('ColorExperiment').map((r) => [r.inputs.userid, r.params.color, r.overridden])).toEqual([
      ['u-int', 'green', true],
      ['u-ext', refused.body.color, undefined],
    ]);
    expect(recorder.exposures('Exp1')[0]!.overridden).toBe(true);
    expect(metrics.snapshot()).toMatchObject({ overridesApplied: 2, overridesRejected: 1 });
  });

  it('allow-only setup: a token is refused (no secret), hostile JSON cannot pollute, a throwing predicate refuses', async () => {
    let calls = 0;
    const { server, metrics } = await start({
      allow: (req) => {
        calls++;
        if (req.headers['x-boom'] === '1') throw new Error('boom');
        return true;
      },
    });
    await request(server).get('/items/1').query({ userid: 'u1' }).set(HEADER, token({ ColorExperiment: { color: 'green' } })).expect(200);
    const hostile = '{"__proto__":{"polluted":"yes"},"ColorExperiment":{"constructor":{"prototype":{"polluted":"yes"}}}}';
    const res = await request(server).get('/items/1').query({ userid: 'u2' }).set(HEADER, hostile).expect(200);
    expect(['red', 'blue']).toContain(res.body.color);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await request(server).get('/items/1').query({ userid: 'u3' }).set(HEADER, '{"ColorExperiment":{"color":"green"}}').set('x-boom', '1').expect(200);
    expect(calls).toBe(2);
    expect(metrics.snapshot()).toMatchObject({ overridesApplied: 0, overridesRejected: 3 });
  });

  it('namespace experiments are keyed by their full name; core Experiment subclasses are flagged too', async () => {
    const { server, recorder } = await start({ secret: SECRET });
    const header = token({ 'TestNs-a': { label: 'forced' }, CoreButton: { size: 9 } });
    const ns = await request(server).get('/ns').query({ userid: 'u-ns' }).set(HEADER, header).expect(200);
    expect(ns.body).toEqual({ label: 'forced' });
    const core = await request(server).get('/qa/core').query({ userid: 'u-ns' }).set(HEADER, header).expect(200);
    expect(core.body).toEqual({ size: 9 });
    const plain = await request(server).get('/ns').query({ userid: 'u-ns' }).expect(200);
    expect(['a1', 'a2']).toContain(plain.body.label);
    await recorder.flush();
    expect(recorder.exposures().map((r) => [r.name, r.params, r.overridden])).toEqual([
      ['TestNs-a', { label: 'forced' }, true],
      ['CoreButton', { size: 9 }, true],
      ['TestNs-a', { label: plain.body.label }, undefined],
    ]);
  });

  it('an overridden exposure equal to the real assignment neither marks nor consults the cache: the real one is still logged', async () => {
    const cache = new InMemoryExposureCache();
    const { server, recorder, metrics, real } = await start({ secret: SECRET }, cache);
    const params = real('u-same');
    // Forcing exactly the unit's real params makes the records identical but for the flag.
    await request(server).get('/param').query({ userid: 'u-same' }).set(HEADER, token({ Exp1: params })).expect(200);
    await request(server).get('/param').query({ userid: 'u-same' }).set(HEADER, token({ Exp1: params })).expect(200);
    await recorder.flush();
    const [flagged] = recorder.exposures('Exp1');
    expect(recorder.exposures('Exp1')).toHaveLength(2);
    expect(await cache.has(exposureDedupeKey(flagged!))).toBe(false);
    await request(server).get('/param').query({ userid: 'u-same' }).expect(200);
    await request(server).get('/param').query({ userid: 'u-same' }).expect(200);
    await recorder.flush();
    const exposures = recorder.exposures('Exp1');
    expect(exposures.map((r) => r.overridden)).toEqual([true, true, undefined]);
    expect(exposures[2]!.params).toEqual(flagged!.params);
    expect(await cache.has(exposureDedupeKey(exposures[2]!))).toBe(true);
    expect(metrics.snapshot().deduplicated).toBe(1);
  });

  it('queryParam: off unless set; when set, a token in the query string applies', async () => {
    const value = token({ Exp1: { group_size: 7 } });
    const off = await start({ secret: SECRET });
    const ignored = await request(off.server).get('/param').query({ userid: 'u-q', qa: value }).expect(200);
    expect(ignored.body.group_size).toBe(off.real('u-q').group_size);
    expect(off.metrics.snapshot()).toMatchObject({ overridesApplied: 0, overridesRejected: 0 });
    await app!.close();
    const on = await start({ secret: SECRET, queryParam: 'qa' });
    const applied = await request(on.server).get('/param').query({ userid: 'u-q', qa: value }).expect(200);
    expect(applied.body.group_size).toBe(7);
    expect(on.metrics.snapshot().overridesApplied).toBe(1);
  });

  it('maxAgeSeconds refuses tokens without expiry or expiring too late', async () => {
    const { server, metrics } = await start({ secret: SECRET, maxAgeSeconds: 3600 });
    const sizes: unknown[] = [];
    for (const expiresIn of [undefined, 86_400, 600]) {
      const res = await request(server).get('/param').query({ userid: 'u-age' }).set(HEADER, token({ Exp1: { group_size: 7 } }, expiresIn)).expect(200);
      sizes.push(res.body.group_size);
    }
    expect(sizes[2]).toBe(7);
    expect(sizes.slice(0, 2)).not.toContain(7);
    expect(metrics.snapshot()).toMatchObject({ overridesApplied: 1, overridesRejected: 2 });
  });

  it('refuses to start with an overrides option that has neither secret nor allow, or a short secret', async () => {
    for (const [overrides, message] of [
      [{}, /needs a `secret`/],
      [{ secret: 'short' }, /at least 16 characters/],
    ] as const) {
      await expect(start(overrides)).rejects.toThrow(message);
    }
  });
});
