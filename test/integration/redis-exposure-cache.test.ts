import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createClient } from '@keyv/redis';
import { createRedisExposureCache, type RedisExposureCache } from '../../src/nest/caches/redis-exposure.cache.js';
import { PlanoutMetrics } from '../../src/nest/planout-metrics.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { closedPort, TcpProxy, until } from './support/tcp-proxy.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const target = new URL(REDIS_URL);
const prefix = `planout-test:${randomUUID()}:`;
const admin = createClient({ url: REDIS_URL });
const opened: RedisExposureCache[] = [];

function open(options: Parameters<typeof createRedisExposureCache>[0]) {
  const metrics = new PlanoutMetrics();
  const logger = new CapturingLogger();
  const cache = createRedisExposureCache({ keyPrefix: prefix, metrics, logger, reconnectMaxDelayMs: 100, ...options });
  opened.push(cache);
  return { cache, metrics, logger };
}

beforeAll(async () => {
  await admin.connect();
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  const keys: string[] = [];
  for await (const batch of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...batch);
  if (keys.length > 0) await admin.del(keys);
  admin.destroy();
});

describe('createRedisExposureCache (real Redis)', () => {
  it('two caches with separate clients on one Redis see each other\'s marks, with the ttl in Redis', async () => {
    const one = open({ url: REDIS_URL, ttlMs: 60_000 });
    const two = open({ url: REDIS_URL });
    await until(() => one.cache.connected && two.cache.connected);
    expect(await two.cache.has('exp:unit-1')).toBe(false);
    await one.cache.mark('exp:unit-1');
    expect(await two.cache.has('exp:unit-1')).toBe(true);
    expect(await one.cache.has('exp:unit-2')).toBe(false);
    const pttl = await admin.pTTL(`${prefix}exp:unit-1`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(60_000);
    await one.cache.mark('short', 50);
    await until(async () => !(await two.cache.has('short')));
    expect(one.metrics.snapshot().cacheErrors + two.metrics.snapshot().cacheErrors).toBe(0);
  });

  it('an unreachable Redis at start: has() resolves false, errors are counted, nothing crashes', async () => {
    const port = await closedPort();
    const { cache, metrics, logger } = open({ url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 200, connectTimeoutMs: 200 });
    for (let i = 0; i < 5; i++) {
      await expect(cache.has(`k${i}`)).resolves.toBe(false);
      await expect(cache.mark(`k${i}`)).resolves.toBeUndefined();
    }
    expect(cache.connected).toBe(false);
    expect(metrics.snapshot().cacheErrors).toBe(10);
    expect(cache.lastError).toBeDefined();
    // Outage logs are rate-limited: a handful of lines, not one per call.
    expect(logger.warnings.length).toBeLessThan(10);
    await cache.close();
  });

  it('down at start, then Redis appears: deduplication starts by itself', async () => {
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    const port = await proxy.up();
    await proxy.down();
    const { cache, metrics } = open({ url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 200, connectTimeoutMs: 200 });
    await expect(cache.has('late')).resolves.toBe(false);
    await cache.mark('late');
    expect(metrics.snapshot().cacheErrors).toBe(2);
    await proxy.up();
    try {
      await until(() => cache.connected);
      await cache.mark('late');
      expect(await cache.has('late')).toBe(true);
    } finally {
      await cache.close();
      await proxy.down();
    }
  });

  it('an outage mid-traffic (connections reset) and a hung server both resolve false; marks survive and dedupe resumes', async () => {
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    const port = await proxy.up();
    const { cache, metrics } = open({ url: `redis://127.0.0.1:${port}`, operationTimeoutMs: 150, connectTimeoutMs: 200 });
    try {
      await until(() => cache.connected);
      await cache.mark('seen');
      expect(await cache.has('seen')).toBe(true);

      await proxy.down();
      await expect(cache.has('seen')).resolves.toBe(false);
      await expect(cache.has('seen')).resolves.toBe(false);
      const duringOutage = metrics.snapshot().cacheErrors;
      expect(duringOutage).toBe(2);

      await proxy.up();
      await until(() => cache.connected);
      expect(await cache.has('seen')).toBe(true);

      proxy.stall();
      await expect(cache.has('seen')).resolves.toBe(false);
      expect(metrics.snapshot().cacheErrors).toBe(duringOutage + 1);
      expect(cache.lastError?.message).toMatch(/timed out|Timeout/i);
    } finally {
      await cache.close();
      await proxy.down();
    }
  });
});
