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

  it('answers as a plain LRU with expiry on random operations (growth, eviction, expiry, clear, has-then-mark)', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    // A small deterministic generator: the same sequences on every run.
    let seed = 12345;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (const maxEntries of [1, 2, 3, 7, 64, 1500]) {
      const cache = new InMemoryExposureCache({ maxEntries, ttlMs: 50 });
      // The model: insertion order is recency, oldest first; expired entries stay until read or evicted.
      const model = new Map<string, number>();
      const keys = Array.from({ length: maxEntries * 3 + 5 }, (_, i) => `key-${i}`);
      for (let step = 0; step < 20_000; step++) {
        const key = keys[random(keys.length)]!;
        const op = random(100);
        if (op < 2) jest.advanceTimersByTime(random(40));
        if (op < 45) {
          const expires = model.get(key);
          let expected = false;
          if (expires !== undefined) {
            model.delete(key);
            if (expires > Date.now()) {
              model.set(key, expires);
              expected = true;
            }
          }
          expect(cache.has(key)).toBe(expected);
          // What the dispatcher does after a miss: mark the same key at once.
          if (!expected && op < 30) markBoth(key);
        } else if (op < 99) {
          markBoth(key, op < 60 ? 5 + random(100) : undefined);
        } else {
          cache.clear();
          model.clear();
        }
        expect(cache.size).toBe(model.size);
      }
      for (const key of keys) expect(cache.has(key)).toBe((model.get(key) ?? 0) > Date.now());

      function markBoth(key: string, ttlMs?: number): void {
        cache.mark(key, ttlMs);
        model.delete(key);
        if (model.size >= maxEntries) model.delete(model.keys().next().value!);
        model.set(key, Date.now() + (ttlMs ?? 50));
      }
    }
  });

  it('validates options and clears on close', async () => {
    expect(() => new InMemoryExposureCache({ maxEntries: 0 })).toThrow(/maxEntries/);
    const cache = new InMemoryExposureCache();
    cache.mark('a');
    await cache.close();
    expect(cache.has('a')).toBe(false);
  });
});
