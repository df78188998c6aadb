import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { PlanoutHealthIndicator } from '../../src/nest/health/index.js';
import { BatchingSink, BatchLogSink, ExposureCache, InMemoryExposureCache, PlanoutMetrics, PlanoutModule } from '../../src/index.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { ColorExperiment, TestController, DeepService, Exp1, GroupSizes, testInputs } from './fixtures.js';
import { createApp } from './support.js';
import { until } from '../integration/support/tcp-proxy.js';

/** A destination that fails while `broken` is set. */
class SwitchableDestination extends BatchLogSink {
  broken = false;
  readonly delivered: PlanoutLogRecord[] = [];
  async writeBatch(records: PlanoutLogRecord[]): Promise<void> {
    if (this.broken) throw new Error('destination unreachable');
    this.delivered.push(...records);
  }
}

/** An exposure cache that reports a connection state, like the Redis one. */
class ConnectedCache extends InMemoryExposureCache {
  connected = true;
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
    maxRetries: 1000,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    // A test failing while the destination is broken must not hold up close().
    shutdownTimeoutMs: 500,
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
      counters: { accepted: 2, logged: 2, deduplicated: 1, dropped: 0, failed: 0, retried: 0, cacheErrors: 0 },
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
});
