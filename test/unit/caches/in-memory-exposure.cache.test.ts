import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { InMemoryExposureCache } from '../../../src/nest/caches/in-memory-exposure.cache.js';

describe('InMemoryExposureCache', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('remembers marked keys', () => {
    const cache = new InMemoryExposureCache();
    expect(cache.has('a')).toBe(false);
    cache.mark('a');
    expect(cache.has('a')).toBe(true);
    expect(cache.has('b')).toBe(false);
  });

  it('expires entries lazily on read, with the default or a per-mark ttl', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const cache = new InMemoryExposureCache({ ttlMs: 1000 });
    cache.mark('default');
    cache.mark('short', 10);
    jest.setSystemTime(1_000_009);
    expect(cache.has('short')).toBe(true);
    jest.setSystemTime(1_000_010);
    expect(cache.has('short')).toBe(false);
    expect(cache.size).toBe(1);
    expect(cache.has('default')).toBe(true);
    jest.setSystemTime(1_001_000);
    expect(cache.has('default')).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('sets no timer per entry', () => {
    jest.useFakeTimers();
    const cache = new InMemoryExposureCache();
    for (let i = 0; i < 100; i++) cache.mark(`k${i}`);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('is bounded: evicts the least recently used entry, counting reads as use', () => {
    const cache = new InMemoryExposureCache({ maxEntries: 3 });
    cache.mark('a');
    cache.mark('b');
    cache.mark('c');
    expect(cache.has('a')).toBe(true); // a is now the most recent
    cache.mark('d'); // evicts b
    expect(cache.size).toBe(3);
    expect(cache.has('b')).toBe(false);
    expect(cache.has('a')).toBe(true);
    expect(cache.has('c')).toBe(true);
    expect(cache.has('d')).toBe(true);
    cache.mark('c'); // re-marking refreshes too; next eviction takes a
    cache.mark('e');
    expect(cache.has('a')).toBe(false);
  });

  it('stays at maxEntries under many distinct keys', () => {
    const cache = new InMemoryExposureCache({ maxEntries: 1000 });
    for (let i = 0; i < 50_000; i++) cache.mark(`k${i}`);
    expect(cache.size).toBe(1000);
    expect(cache.has('k49999')).toBe(true);
    expect(cache.has('k48999')).toBe(false);
  });

  it('validates options and clears on close', async () => {
    expect(() => new InMemoryExposureCache({ maxEntries: 0 })).toThrow(/maxEntries/);
    const cache = new InMemoryExposureCache();
    cache.mark('a');
    await cache.close();
    expect(cache.has('a')).toBe(false);
  });
});
