import { describe, expect, it } from '@jest/globals';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { CacheManagerExposureCache } from '../../../src/nest/caches/cache-manager-exposure.cache.js';
import { PlanoutMetrics } from '../../../src/nest/planout-metrics.js';
import { CapturingLogger } from '../sinks/fixtures.js';

/** A Keyv store whose reads and writes the test can make hang or fail. */
class ControllableStore extends Map<string, unknown> {
  mode: 'ok' | 'hang' | 'fail' = 'ok';
  private act<T>(ok: () => T): Promise<T> {
    if (this.mode === 'hang') return new Promise(() => undefined);
    if (this.mode === 'fail') return Promise.reject(new Error('store down'));
    return Promise.resolve(ok());
  }
  // Keyv calls these on a Map-like store; they go async to mimic a network store.
  override get(key: string): never {
    return this.act(() => super.get(key)) as never;
  }
  override set(key: string, value: unknown): never {
    return this.act(() => super.set(key, value)) as never;
  }
}

function setup(mode: ControllableStore['mode'] = 'ok', operationTimeoutMs = 50) {
  const store = new ControllableStore();
  const keyv = new Keyv({ store, throwOnErrors: true });
  keyv.on('error', () => undefined);
  const cache = createCache({ stores: [keyv] });
  const metrics = new PlanoutMetrics();
  const logger = new CapturingLogger();
  const exposures = new CacheManagerExposureCache({ cache, operationTimeoutMs, metrics, logger });
  store.mode = mode;
  return { store, cache, metrics, logger, exposures };
}

describe('CacheManagerExposureCache', () => {
  it('counts recent successes, failures and timeouts for health checks', async () => {
    const { store, exposures } = setup('ok', 30);
    await exposures.mark('a');
    expect(await exposures.has('a')).toBe(true);
    expect(await exposures.has('b')).toBe(false);
    expect(exposures.recentOutcomes).toEqual({ windowMs: 10_000, succeeded: 3, failed: 0, timedOut: 0 });
    store.mode = 'hang';
    expect(await exposures.has('a')).toBe(false);
    await exposures.mark('c');
    store.mode = 'fail';
    expect(await exposures.has('a')).toBe(false);
    await exposures.mark('d');
    expect(exposures.recentOutcomes).toEqual({ windowMs: 10_000, succeeded: 3, failed: 4, timedOut: 2 });
    await exposures.close();
  });

  it('marks and finds keys under the prefix in cache-manager (in-memory store)', async () => {
    const cache = createCache();
    const exposures = new CacheManagerExposureCache({ cache, keyPrefix: 'p:' });
    expect(await exposures.has('k')).toBe(false);
    await exposures.mark('k');
    expect(await exposures.has('k')).toBe(true);
    expect(await cache.get('p:k')).toBe(1);
    await exposures.close();
  });

  it('uses the default prefix and ttl, and honours a per-mark ttl', async () => {
    const cache = createCache();
    const exposures = new CacheManagerExposureCache({ cache, ttlMs: 60_000 });
    const before = Date.now();
    await exposures.mark('a');
    await exposures.mark('b', 1);
    const expiresA = await cache.ttl('planout:exposure:a');
    expect(expiresA).toBeGreaterThanOrEqual(before + 60_000);
    await new Promise((r) => setTimeout(r, 5));
    expect(await exposures.has('b')).toBe(false);
    expect(await exposures.has('a')).toBe(true);
  });

  it('two instances on one cache see each other\'s marks', async () => {
    const cache = createCache();
    const one = new CacheManagerExposureCache({ cache });
    const two = new CacheManagerExposureCache({ cache });
    await one.mark('x');
    expect(await two.has('x')).toBe(true);
  });

  it('a hanging store makes has() resolve false within the budget and counts a cache error', async () => {
    const { metrics, logger, exposures } = setup('hang');
    await expect(exposures.has('k')).resolves.toBe(false);
    await expect(exposures.mark('k')).resolves.toBeUndefined();
    expect(metrics.snapshot().cacheErrors).toBe(2);
    expect(exposures.lastError?.message).toMatch(/timed out after 50ms/);
    expect(logger.warnings.length).toBeGreaterThan(0);
  });

  it('a failing store (errors swallowed by cache-manager) resolves false and counts each failure once', async () => {
    const { store, metrics, exposures } = setup('ok');
    await exposures.mark('k');
    store.mode = 'fail';
    await expect(exposures.has('k')).resolves.toBe(false);
    await expect(exposures.mark('j')).resolves.toBeUndefined();
    expect(metrics.snapshot().cacheErrors).toBe(2);
    expect(metrics.lastError?.message).toBe('store down');
    store.mode = 'ok';
    await expect(exposures.has('k')).resolves.toBe(true);
    expect(metrics.snapshot().cacheErrors).toBe(2);
  });

  it('ignores errors of other users of the same cache', async () => {
    const { store, cache, metrics } = setup('fail');
    await cache.get('someone-else');
    expect(metrics.snapshot().cacheErrors).toBe(0);
    store.mode = 'ok';
  });

  it('close() stops listening and disconnects only when asked', async () => {
    const { cache, exposures } = setup();
    await exposures.close();
    await exposures.close();
    const owned = new CacheManagerExposureCache({ cache, disconnectOnClose: true });
    await expect(owned.close()).resolves.toBeUndefined();
    expect(() => new CacheManagerExposureCache({ cache, operationTimeoutMs: 0 })).toThrow(/operationTimeoutMs/);
  });
});
