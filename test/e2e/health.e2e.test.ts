import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { PlanoutHealthIndicator } from '../../src/nest/health/index.js';
import {
  BatchingSink,
  BatchLogSink,
  ExposureCache,
  InMemoryExposureCache,
  PlanoutMetrics,
  PlanoutModule,
  type RecentOutcomes,
} from '../../src/index.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { ColorExperiment, TestController, DeepService, Exp1, GroupSizes, testInputs } from './fixtures.js';
import { createApp } from './support.js';
import { until } from '../integration/support/tcp-proxy.js';

/** A destination that fails while `broken` is set, and hangs while `hung` is. */
class SwitchableDestination extends BatchLogSink {
  broken = false;
  hung: Promise<void> | undefined;
  readonly delivered: PlanoutLogRecord[] = [];
  async writeBatch(records: PlanoutLogRecord[]): Promise<void> {
    await this.hung;
    if (this.broken) throw new Error('destination unreachable');
    this.delivered.push(...records);
  }
}

/** An exposure cache that reports a connection state, like the Redis one. */
class ConnectedCache extends InMemoryExposureCache {
  connected = true;
  recentOutcomes: RecentOutcomes | undefined;
}

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly planout: PlanoutHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.planout.isHealthy('planout', { maxBacklog: 5 })]);
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start() {
  const metrics = new PlanoutMetrics();
  const destination = new SwitchableDestination();
  const sink = new BatchingSink(destination, {
    batchSize: 1,
    flushIntervalMs: 5,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    // A test failing while the destination is broken must not hold up close().
    shutdownTimeoutMs: 500,
    // Failures leave the health window one second after recovery.
    healthWindowMs: 1000,
    metrics,
    logger: new CapturingLogger(),
  });
  const cache = new ConnectedCache();
  app = await createApp('express', {
    imports: [
      TerminusModule,
      PlanoutModule.forRoot({ experiments: [Exp1, ColorExperiment], inputs: testInputs, logSink: sink, exposureCache: cache, metrics }),
    ],
    controllers: [TestController, HealthController],
    providers: [GroupSizes, Exp1, DeepService, PlanoutHealthIndicator],
  });
  return { server: app.getHttpServer(), metrics, destination, sink, cache };
}

describe('PlanoutHealthIndicator behind a Terminus HealthController (Express)', () => {
  it('reports up with the counters, backlog and cache state; the module metrics are the ones given in the options', async () => {
    const { server, metrics, destination } = await start();
    expect(app!.get(PlanoutMetrics)).toBe(metrics);
    await request(server).get('/param').query({ userid: 'a' }).expect(200);
    await request(server).get('/param').query({ userid: 'a' }).expect(200);
    await request(server).get('/param').query({ userid: 'b' }).expect(200);
    await until(() => destination.delivered.length === 2, 5000);
    const res = await request(server).get('/health').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.info.planout).toMatchObject({
      status: 'up',
      backlog: 0,
      lastError: null,
      cacheConnected: true,
      counters: { accepted: 2, logged: 2, deduplicated: 1, dropped: 0, rejected: 0, failed: 0, retried: 0, cacheErrors: 0 },
      writePendingMs: 0,
      recent: { sink: { windowMs: 1000, succeeded: 2, failed: 0, timedOut: 0 }, cache: null },
    });
  });

  it('is degraded while the sink fails below the backlog bound, down above it, and up again after recovery', async () => {
    const { server, destination, sink } = await start();
    destination.broken = true;
    for (const userid of ['u1', 'u2']) await request(server).get('/param').query({ userid }).expect(200);
    await until(() => sink.lastError !== undefined && app!.get(PlanoutMetrics).snapshot().retried > 0, 5000);

    const degraded = await request(server).get('/health').expect(200);
    expect(degraded.body.status).toBe('degraded');
    expect(degraded.body.info.planout).toMatchObject({
      status: 'degraded',
      backlog: 2,
      lastError: { message: 'destination unreachable' },
      reasons: ['sink failing: destination unreachable'],
    });
    expect(degraded.body.info.planout.counters.retried).toBeGreaterThan(0);

    for (const userid of ['u3', 'u4', 'u5', 'u6']) await request(server).get('/param').query({ userid }).expect(200);
    await until(() => sink.backlog === 6, 5000);
    const down = await request(server).get('/health').expect(503);
    expect(down.body.status).toBe('error');
    expect(down.body.error.planout).toMatchObject({ status: 'down', backlog: 6, reasons: ['sink backlog 6 exceeds 5'] });

    destination.broken = false;
    await until(() => sink.backlog === 0, 5000);
    await until(() => sink.recentOutcomes.failed === 0, 5000);
    const up = await request(server).get('/health').expect(200);
    expect(up.body.info.planout).toMatchObject({ status: 'up', backlog: 0, counters: { logged: 6, dropped: 0 } });
    // The sink's error is cleared by its success; the module still remembers the last one.
    expect(up.body.info.planout.lastError.message).toBe('destination unreachable');
  });

  it('is degraded while the exposure cache is disconnected', async () => {
    const { server, cache } = await start();
    cache.connected = false;
    const res = await request(server).get('/health').expect(200);
    expect(res.body.info.planout).toMatchObject({
      status: 'degraded',
      cacheConnected: false,
      reasons: ['exposure cache disconnected: deduplication off'],
    });
    expect(app!.get(ExposureCache)).toBe(cache);
  });

  it('is degraded while a sink write hangs, long before it times out, and up once it lands', async () => {
    const { server, destination, sink } = await start();
    let release!: () => void;
    destination.hung = new Promise((resolve) => (release = resolve));
    await request(server).get('/param').query({ userid: 'h1' }).expect(200);
    await until(() => sink.writePendingMs > 300, 5000);
    const check = () => request(server).get('/health').query({}).expect(200);
    // maxWritePendingMs is 2000 by default; wait for it rather than configure it.
    await until(async () => (await check()).body.info.planout.status === 'degraded', 10_000);
    const res = await check();
    expect(res.body.info.planout.reasons).toEqual([expect.stringMatching(/^sink stalled: a write has been pending for \d+ms$/)]);
    expect(res.body.info.planout.lastError).toBeNull();
    release();
    destination.hung = undefined;
    await until(() => sink.backlog === 0, 5000);
    expect((await check()).body.info.planout.status).toBe('up');
  });

  it('is degraded while most recent cache calls fail or time out, although the cache says it is connected', async () => {
    const { server, cache } = await start();
    cache.recentOutcomes = { windowMs: 10_000, succeeded: 2, failed: 40, timedOut: 38 };
    const res = await request(server).get('/health').expect(200);
    expect(res.body.info.planout).toMatchObject({
      status: 'degraded',
      cacheConnected: true,
      recent: { cache: { failed: 40, timedOut: 38 } },
      reasons: ['exposure cache failing: 40 of 42 operations in the last 10s failed (38 timed out): deduplication impaired'],
    });
    // Below the rate or the minimum count, a blip is not an outage.
    cache.recentOutcomes = { windowMs: 10_000, succeeded: 400, failed: 30, timedOut: 30 };
    expect((await request(server).get('/health').expect(200)).body.info.planout.status).toBe('up');
    cache.recentOutcomes = { windowMs: 10_000, succeeded: 0, failed: 2, timedOut: 2 };
    expect((await request(server).get('/health').expect(200)).body.info.planout.status).toBe('up');
  });
});
