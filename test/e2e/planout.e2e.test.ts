import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  Assignment,
  BernoulliTrial,
  Experiment,
  ExposureCache,
  exposureRecordId,
  InMemorySink,
  LogSink,
  PlanoutMetrics,
  PlanoutModule,
  PlanoutService,
  type PlanoutLogRecord,
  type PlanoutModuleOptions,
} from '../../src/index.js';
import { getPlanoutRecorder, PlanoutTestingModule, type PlanoutRecorder } from '../../src/testing/index.js';
import {
  ColorExperiment,
  DeepService,
  Exp1,
  GermanyExperiment,
  GroupSizes,
  ManualController,
  TestController,
  TestNamespace,
  testInputs,
} from './fixtures.js';
import { createApp, PLATFORMS } from './support.js';

const options: PlanoutModuleOptions = {
  experiments: [Exp1, ColorExperiment, GermanyExperiment],
  namespaces: [TestNamespace],
  inputs: testInputs,
};

function appMetadata(planout = PlanoutTestingModule.forRoot(options)) {
  return {
    imports: [planout],
    controllers: [TestController, ManualController],
    providers: [GroupSizes, Exp1, DeepService],
  };
}

describe.each(PLATFORMS)('PlanoutModule on %s', (platform) => {
  describe('decorators and exposure', () => {
    let app: INestApplication;
    let recorder: PlanoutRecorder;
    let planout: PlanoutService;

    beforeEach(async () => {
      app = await createApp(platform, appMetadata());
      recorder = getPlanoutRecorder(app);
      planout = app.get(PlanoutService);
    });
    afterEach(async () => app.close());

    it('@Param injects the same params the experiment assigns outside HTTP', async () => {
      for (const userid of ['u1', 'u2', 'u3', 'u4']) {
        const res = await request(app.getHttpServer()).get('/param').query({ userid }).expect(200);
        const exp = planout.create(Exp1, { userid }, { autoExposureLogging: false });
        expect(res.body).toEqual({ group_size: exp.get('group_size'), ratings_goal: exp.get('ratings_goal') ?? null });
      }
    });

    it('logs one exposure per unit, deduplicated across requests, in the reference format', async () => {
      const server = app.getHttpServer();
      await request(server).get('/param').query({ userid: 'alice' }).expect(200);
      await request(server).get('/param').query({ userid: 'alice' }).expect(200);
      await request(server).get('/instance').set('x-user-id', 'alice').expect(200);
      await request(server).get('/param').query({ userid: 'bob' }).expect(200);
      await recorder.flush();
      const exposures = recorder.exposures('Exp1');
      expect(exposures.map((r) => r.inputs.userid)).toEqual(['alice', 'bob']);
      const [record] = exposures as [PlanoutLogRecord];
      // The reference's fields, plus the record id the module adds (deterministic for an exposure).
      expect(Object.keys(record).sort()).toEqual(['checksum', 'event', 'id', 'inputs', 'name', 'params', 'salt', 'time']);
      expect(record.id).toBe(exposureRecordId(record));
      expect(record).toMatchObject({ name: 'Exp1', salt: 'Exp1', event: 'exposure', inputs: { userid: 'alice' } });
      expect(record.checksum).toMatch(/^[0-9a-f]{8}$/);
      expect(app.get(PlanoutMetrics).snapshot().deduplicated).toBe(2);
    });

    it('@ExperimentInstance injects the whole instance; @ExperimentParam sits beside Nest’s @Param', async () => {
      const inst = await request(app.getHttpServer()).get('/instance').query({ userid: 'carol' }).expect(200);
      expect(inst.body.name).toBe('Exp1');
      expect(inst.body.params).toEqual(planout.create(Exp1, { userid: 'carol' }).getParams());
      const item = await request(app.getHttpServer()).get('/items/42').query({ userid: 'carol' }).expect(200);
      expect(item.body.id).toBe('42');
      expect(['red', 'blue']).toContain(item.body.color);
    });

    it('builds experiments lazily: a route that reads nothing assigns and logs nothing', async () => {
      await request(app.getHttpServer()).get('/nothing').query({ userid: 'dave' }).expect(200);
      await recorder.flush();
      expect(recorder.records).toHaveLength(0);
    });

    it('a unit not in the experiment gets the default and no record', async () => {
      const out = await request(app.getHttpServer()).get('/germany').query({ userid: 'erin', country: 'France' }).expect(200);
      expect(out.body).toEqual({ feature_enabled: false });
      await request(app.getHttpServer()).get('/germany').query({ userid: 'erin', country: 'Germany' }).expect(200);
      await recorder.flush();
      expect(recorder.exposures('Germany').map((r) => r.inputs)).toEqual([{ userid: 'erin', country: 'Germany' }]);
    });

    it('@ManualExposure on a handler: reading logs nothing, the service logs on demand', async () => {
      await request(app.getHttpServer()).get('/manual').query({ userid: 'frank' }).expect(200);
      await recorder.flush();
      expect(recorder.records).toHaveLength(0);
      await request(app.getHttpServer()).get('/manual').query({ userid: 'frank', expose: '1' }).expect(200);
      await recorder.flush();
      expect(recorder.exposures('Exp1')).toHaveLength(1);
      expect(recorder.exposures('Exp1')[0]!.extra_data).toEqual({ source: 'manual' });
    });

    it('@ManualExposure on a controller, and @ManualExposure(false) on one of its handlers', async () => {
      await request(app.getHttpServer()).get('/manual-ctl').query({ userid: 'gina' }).expect(200);
      await recorder.flush();
      expect(recorder.records).toHaveLength(0);
      await request(app.getHttpServer()).get('/manual-ctl/auto').query({ userid: 'gina' }).expect(200);
      await recorder.flush();
      expect(recorder.exposures('ColorExperiment')).toHaveLength(1);
    });

    it('services reach the request’s experiments after an await; the per-request toggle turns exposure off', async () => {
      const off = await request(app.getHttpServer()).get('/deep').query({ userid: 'hank', off: '1' }).expect(200);
      expect(['red', 'blue']).toContain(off.body.color);
      await recorder.flush();
      expect(recorder.records).toHaveLength(0);
      await request(app.getHttpServer()).get('/deep').query({ userid: 'hank' }).expect(200);
      await recorder.flush();
      expect(recorder.exposures('ColorExperiment')).toHaveLength(1);
    });

    it('events are never deduplicated and carry extra_data', async () => {
      for (let i = 0; i < 2; i++) {
        await request(app.getHttpServer()).post('/convert').query({ userid: 'ivy' }).send({ amount: 5 }).expect(201);
      }
      await recorder.flush();
      const events = recorder.events('conversion', 'Exp1');
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({ event: 'conversion', extra_data: { amount: 5 }, inputs: { userid: 'ivy' } });
      expect(recorder.exposures()).toHaveLength(0);
    });

    it('@NamespaceParam routes the unit and logs its experiment’s exposure', async () => {
      const res = await request(app.getHttpServer()).get('/ns').query({ userid: 'jack' }).expect(200);
      expect(['a1', 'a2']).toContain(res.body.label);
      await recorder.flush();
      expect(recorder.exposures()).toEqual([expect.objectContaining({ name: 'TestNs-a', salt: 'TestNs.a', params: { label: res.body.label } })]);
    });

    it('outside HTTP: create() with explicit inputs and run() for services', async () => {
      const exp = planout.create(Exp1, { userid: 'job-1' });
      expect([1, 10]).toContain(exp.get('group_size'));
      const color = await planout.run({ userid: 'job-2' }, () => app.get(DeepService).color(false));
      expect(['red', 'blue']).toContain(color);
      await recorder.flush();
      expect(recorder.exposures().map((r) => r.inputs.userid).sort()).toEqual(['job-1', 'job-2']);
      expect(() => planout.experiment(Exp1)).toThrow(/no current request/);
    });
  });

  describe('failing backends never fail a request', () => {
    class ThrowingSink extends LogSink {
      write(): void {
        throw new Error('disk on fire');
      }
    }
    class RejectingCache extends ExposureCache {
      readonly marks: string[] = [];
      async has(): Promise<boolean> {
        throw new Error('cache down');
      }
      async mark(key: string): Promise<void> {
        this.marks.push(key);
      }
    }

    it('a sink that throws: 200, failure counted, nothing marked in the cache', async () => {
      const cache = new RejectingCache();
      const app = await createApp(platform, appMetadata(PlanoutModule.forRoot({ ...options, logSink: new ThrowingSink(), exposureCache: cache })));
      try {
        await request(app.getHttpServer()).get('/param').query({ userid: 'kim' }).expect(200);
        await app.get(PlanoutService).flush();
        const metrics = app.get(PlanoutMetrics).snapshot();
        expect(metrics.failed).toBe(1);
        expect(metrics.cacheErrors).toBe(1);
        expect(app.get(PlanoutMetrics).lastError?.message).toBe('disk on fire');
        expect(cache.marks).toEqual([]);
      } finally {
        await app.close();
      }
    });

    it('a cache that rejects: the exposure is still logged, then marked', async () => {
      const cache = new RejectingCache();
      const sink = new InMemorySink();
      const app = await createApp(platform, appMetadata(PlanoutModule.forRoot({ ...options, logSink: sink, exposureCache: cache })));
      try {
        await request(app.getHttpServer()).get('/param').query({ userid: 'lee' }).expect(200);
        await app.get(PlanoutService).flush();
        expect(sink.byEvent('exposure')).toHaveLength(1);
        expect(cache.marks).toHaveLength(1);
        expect(cache.marks[0]).toBe(`Exp1:${sink.byEvent('exposure')[0]!.id}`);
      } finally {
        await app.close();
      }
    });

    it('a slow sink does not delay the response, and shutdown waits for it, then flushes and closes', async () => {
      const calls: string[] = [];
      // The write finishes only when the test releases it: the response must come first.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      class SlowSink extends LogSink {
        async write(): Promise<void> {
          calls.push('write started');
          await released;
          calls.push('write');
        }
        override async flush(): Promise<void> {
          calls.push('flush');
        }
        override async close(): Promise<void> {
          calls.push('close');
        }
      }
      const app = await createApp(platform, appMetadata(PlanoutModule.forRoot({ ...options, logSink: new SlowSink() })));
      await request(app.getHttpServer()).get('/param').query({ userid: 'max' }).expect(200);
      // Answered while the write is still pending (or not yet started).
      expect(calls.filter((call) => call !== 'write started')).toEqual([]);
      const closed = app.close();
      // Shutdown waits for the write: nothing flushed or closed while it is pending.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(calls.filter((call) => call !== 'write started')).toEqual([]);
      release();
      await closed;
      calls.splice(calls.indexOf('write started'), 1);
      expect(calls).toEqual(['write', 'flush', 'close']);
    });
  });

  describe('configuration', () => {
    it('forRootAsync with useFactory and inject', async () => {
      @Injectable()
      class Config {
        readonly sink = new InMemorySink();
      }
      @Module({ providers: [Config], exports: [Config] })
      class ConfigModule {}
      const planout = PlanoutModule.forRootAsync({
        imports: [ConfigModule],
        inject: [Config],
        useFactory: (config: Config) => ({ ...options, logSink: config.sink }),
      });
      const app = await createApp(platform, appMetadata(planout));
      try {
        await request(app.getHttpServer()).get('/param').query({ userid: 'ned' }).expect(200);
        await app.get(PlanoutService).flush();
        expect(app.get(Config).sink.byEvent('exposure')).toHaveLength(1);
      } finally {
        await app.close();
      }
    });

    it('forRootAsync with useClass; autoExposureLogging false makes every route manual', async () => {
      const sink = new InMemorySink();
      @Injectable()
      class Factory {
        createPlanoutOptions(): PlanoutModuleOptions {
          return { ...options, logSink: sink, autoExposureLogging: false };
        }
      }
      const app = await createApp(platform, appMetadata(PlanoutModule.forRootAsync({ useClass: Factory })));
      try {
        await request(app.getHttpServer()).get('/param').query({ userid: 'olga' }).expect(200);
        await app.get(PlanoutService).flush();
        expect(sink.records).toHaveLength(0);
      } finally {
        await app.close();
      }
    });
  });

  describe('bootstrap validation refuses to start', () => {
    async function bootError(planoutOptions: PlanoutModuleOptions): Promise<string> {
      try {
        const app = await createApp(platform, appMetadata(PlanoutTestingModule.forRoot(planoutOptions)));
        await app.close();
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error('the app started');
    }

    it('on duplicate names', async () => {
      @Experiment({ name: 'Exp1', salt: 'other' })
      class Copy {
        assign(): void {}
      }
      expect(await bootError({ ...options, experiments: [Exp1, Copy] })).toMatch(/Experiment "Exp1": name "Exp1" is already used/);
    });

    it('on duplicate salts', async () => {
      @Experiment({ name: 'Other', salt: 'Exp1' })
      class SameSalt {
        assign(): void {}
      }
      expect(await bootError({ ...options, experiments: [Exp1, SameSalt] })).toMatch(/Experiment "Other": salt "Exp1" is already used by Exp1/);
    });

    it('on invalid operator arguments', async () => {
      @Experiment({ name: 'BadP' })
      class BadP {
        assign(params: Assignment<{ on: number }>, inputs: { userid: string }): void {
          params.set('on', new BernoulliTrial({ p: 1.5, unit: inputs.userid }));
        }
      }
      expect(await bootError({ ...options, experiments: [BadP] })).toMatch(/Experiment "BadP", param "on": bernoulliTrial: p must be between 0 and 1/);
    });

    it('without an inputs resolver', async () => {
      expect(await bootError({ experiments: [ColorExperiment] })).toMatch(/Experiment "ColorExperiment": no inputs resolver/);
    });

    it('on a class that is not an experiment', async () => {
      class Plain {}
      expect(await bootError({ ...options, experiments: [Plain as never] })).toMatch(/Experiment "Plain": is neither decorated/);
    });
  });
});
