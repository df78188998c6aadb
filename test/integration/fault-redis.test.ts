import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { createClient } from '@keyv/redis';
import { randomUUID } from 'node:crypto';
import { InMemorySink, PlanoutMetrics } from '../../src/index.js';
import { ExposureDispatcher } from '../../src/nest/exposure-dispatcher.js';
import { createRedisExposureCache, type RedisExposureCache } from '../../src/nest/caches/redis-exposure.cache.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { hitUnits, startFaultApp, units } from './support/fault-app.js';
import { TcpProxy, until } from './support/tcp-proxy.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const target = new URL(REDIS_URL);
const prefix = `planout-fault:${randomUUID()}:`;
const admin = createClient({ url: REDIS_URL });
let proxy: TcpProxy;
let app: INestApplication | undefined;

beforeAll(async () => {
  await admin.connect();
  proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
  await proxy.up();
});

afterEach(async () => {
  await app?.close();
  app = undefined;
  await proxy.up().catch(() => undefined);
});

afterAll(async () => {
  await proxy.down();
  const keys: string[] = [];
  for await (const batch of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...batch);
  if (keys.length > 0) await admin.del(keys);
  admin.destroy();
});

/** A Redis cache through the proxy, under its own key prefix, with short bounds so outages show fast. */
function proxiedCache(metrics: PlanoutMetrics, reconnectMaxDelayMs = 100): RedisExposureCache {
  return createRedisExposureCache({
    url: `redis://127.0.0.1:${proxy.port}`,
    keyPrefix: `${prefix}${randomUUID()}:`,
    connectTimeoutMs: 200,
    operationTimeoutMs: 200,
    reconnectMaxDelayMs,
    metrics,
    logger: new CapturingLogger(),
  });
}

async function start() {
  const metrics = new PlanoutMetrics();
  const sink = new InMemorySink();
  const cache = proxiedCache(metrics);
  const started = await startFaultApp({ metrics, logSink: sink, exposureCache: cache });
  app = started.app;
  const dispatcher = app.get(ExposureDispatcher);
  /** Requests each unit `times` times (waiting for the exposure pipeline between rounds). */
  const traffic = async (list: string[], times = 1): Promise<void> => {
    for (let i = 0; i < times; i++) {
      expect(await hitUnits(started.url, list)).toHaveLength(list.length);
      await dispatcher.whenIdle();
    }
  };
  const count = (unit: string): number => sink.byName('Exp1').filter((r) => r.inputs.userid === unit).length;
  return { metrics, sink, cache, traffic, count };
}

async function waitConnected(cache: RedisExposureCache): Promise<void> {
  await until(() => cache.connected, 10_000);
}

/**
 * Resolves once a mark written now reads back: Redis answers commands again, not only accepts
 * the connection. Until then a `has` may still time out and log a (counted) duplicate, by design.
 */
async function waitAnswering(cache: RedisExposureCache): Promise<void> {
  const probe = `probe:${randomUUID()}`;
  await until(async () => {
    await cache.mark(probe);
    return cache.has(probe);
  }, 10_000);
}

describe('Redis unreachable (real Nest app, real Redis through a proxy)', () => {
  it('at start: requests served, every exposure logged, errors counted; dedupe resumes when Redis comes up', async () => {
    await proxy.down();
    const { metrics, cache, traffic, count } = await start();
    const early = units('start', 20);
    await traffic(early, 2);
    expect(cache.connected).toBe(false);
    // Duplicates allowed (dedupe is off), losses not.
    for (const unit of early) expect(count(unit)).toBeGreaterThanOrEqual(1);
    expect(metrics.snapshot().cacheErrors).toBeGreaterThanOrEqual(40);

    await proxy.up();
    await waitConnected(cache);
    await waitAnswering(cache);
    const late = units('after-start', 20);
    await traffic(late, 3);
    for (const unit of late) expect(count(unit)).toBe(1);
    expect(metrics.snapshot().deduplicated).toBeGreaterThanOrEqual(40);
  });

  it('in the middle of traffic: requests served, nothing lost during the outage, dedupe resumes (old marks kept)', async () => {
    const { metrics, cache, traffic, count } = await start();
    await waitConnected(cache);
    const first = units('mid-first', 20);
    await traffic(first, 2);
    for (const unit of first) expect(count(unit)).toBe(1);
    expect(metrics.snapshot().cacheErrors).toBe(0);

    await proxy.down();
    await until(() => !cache.connected, 10_000);
    const during = units('mid-during', 20);
    await traffic([...first, ...during], 2);
    for (const unit of during) expect(count(unit)).toBeGreaterThanOrEqual(1);
    const errorsDuring = metrics.snapshot().cacheErrors;
    expect(errorsDuring).toBeGreaterThan(0);

    await proxy.up();
    await waitConnected(cache);
    await waitAnswering(cache);
    // The probe's failed attempts, if any, count too: from here on, nothing fails.
    const errorsBefore = metrics.snapshot().cacheErrors;
    const firstCounts = first.map(count);
    await traffic(first, 2);
    // Marks written before the outage are still in Redis: no new record for those units.
    expect(first.map(count)).toEqual(firstCounts);
    const after = units('mid-after', 20);
    await traffic(after, 3);
    for (const unit of after) expect(count(unit)).toBe(1);
    expect(metrics.snapshot().cacheErrors).toBe(errorsBefore);
  });

  it('as Redis returns, a marked key reads as seen or the miss is counted: never a silent duplicate', async () => {
    const metrics = new PlanoutMetrics();
    const cache = proxiedCache(metrics, 20);
    try {
      await waitConnected(cache);
      const keys = Array.from({ length: 20 }, (_, i) => `marked-${i}`);
      await Promise.all(keys.map((key) => cache.mark(key)));
      expect(await Promise.all(keys.map((key) => cache.has(key)))).toEqual(keys.map(() => true));
      expect(metrics.snapshot().cacheErrors).toBe(0);
      let misses = 0;
      let counted = 0;
      let seen = 0;
      for (let cycle = 0; cycle < 5; cycle++) {
        await proxy.down();
        await until(() => !cache.connected, 10_000);
        await proxy.up();
        // Ask for every key, over and over, from before the client reconnects until it has answered for a while:
        // each "not seen" must be a failure the metrics counted, or the exposure would be logged twice unnoticed.
        let answeredSince: number | undefined;
        const deadline = Date.now() + 10_000;
        while (answeredSince === undefined || Date.now() - answeredSince < 300) {
          if (Date.now() > deadline) {
            const state = `connected ${cache.connected}, misses ${misses}, counted ${counted}, last error ${cache.lastError?.message}`;
            throw new Error(`cycle ${cycle}: Redis did not answer again within 10 s (${state})`);
          }
          const errorsBefore = metrics.snapshot().cacheErrors;
          const answers = await Promise.all(keys.map((key) => cache.has(key)));
          const missed = answers.filter((answer) => !answer).length;
          misses += missed;
          counted += Math.min(missed, metrics.snapshot().cacheErrors - errorsBefore);
          seen += answers.length - missed;
          if (missed === 0) answeredSince ??= Date.now();
          // Offline calls fail in microtasks only: let the client's timers and socket run between rounds.
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }
      // The test saw both sides of the return: misses while Redis was unreachable, answers after.
      expect(misses).toBeGreaterThan(0);
      expect(seen).toBeGreaterThan(0);
      expect(counted).toBe(misses);
    } finally {
      await cache.close();
    }
  });
});
