import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { InMemoryExposureCache } from '../../../src/nest/caches/in-memory-exposure.cache.js';

/** The reference LRU: an array, most recently used last. */
class ModelLru {
  readonly keys: string[] = [];
  constructor(private readonly max: number) {}
  has(key: string): boolean {
    const i = this.keys.indexOf(key);
    if (i < 0) return false;
    this.keys.splice(i, 1);
    this.keys.push(key);
    return true;
  }
  mark(key: string): void {
    const i = this.keys.indexOf(key);
    if (i >= 0) this.keys.splice(i, 1);
    this.keys.push(key);
    if (this.keys.length > this.max) this.keys.shift();
  }
  clear(): void {
    this.keys.length = 0;
  }
}

/** A small deterministic PRNG, so a failure replays. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('InMemoryExposureCache eviction', () => {
  it.each([1, 7, 64, 3000])('evicts exactly as a reference LRU over random has/mark/clear (maxEntries %i)', (max) => {
    const random = lcg(max * 7919);
    const cache = new InMemoryExposureCache({ maxEntries: max });
    const model = new ModelLru(max);
    for (let step = 0; step < 20_000; step++) {
      const key = `k${Math.floor(random() * max * 3)}`;
      const op = random();
      if (op < 0.45) expect(cache.has(key)).toBe(model.has(key));
      else if (op < 0.999) {
        cache.mark(key);
        model.mark(key);
      } else {
        cache.clear();
        model.clear();
      }
      expect(cache.size).toBe(model.keys.length);
    }
    for (const key of model.keys) expect(cache.has(key)).toBe(true);
  });

  it.each([1, 7, 64, 3000])('evicts exactly as a reference LRU when every mark follows a has that missed, as the dispatcher calls it (maxEntries %i)', (max) => {
    const random = lcg(max * 104729);
    const cache = new InMemoryExposureCache({ maxEntries: max });
    const model = new ModelLru(max);
    for (let step = 0; step < 20_000; step++) {
      const key = `k${Math.floor(random() * max * 3)}`;
      const seen = cache.has(key);
      expect(seen).toBe(model.has(key));
      if (!seen && random() < 0.9) {
        // Sometimes another key is looked up in between.
        if (random() < 0.2) {
          const other = `k${Math.floor(random() * max * 3)}`;
          expect(cache.has(other)).toBe(model.has(other));
        }
        cache.mark(key);
        model.mark(key);
      }
      expect(cache.size).toBe(model.keys.length);
    }
    for (const key of model.keys) expect(cache.has(key)).toBe(true);
  });

  describe('with expiry', () => {
    afterEach(() => {
      jest.useRealTimers();
    });

    it.each([7, 2000])('drops expired entries on read and evicts the least recently used, as a reference model (maxEntries %i)', (max) => {
      jest.useFakeTimers({ now: 1_000_000 });
      const random = lcg(max * 31);
      const cache = new InMemoryExposureCache({ maxEntries: max });
      const model = new ModelLru(max);
      const expiry = new Map<string, number>();
      for (let step = 0; step < 20_000; step++) {
        if (random() < 0.05) jest.advanceTimersByTime(Math.floor(random() * 20));
        const key = `k${Math.floor(random() * max * 3)}`;
        const expires = expiry.get(key);
        let expected = model.keys.includes(key);
        if (expected && expires! <= Date.now()) {
          model.keys.splice(model.keys.indexOf(key), 1);
          expected = false;
        }
        if (expected) model.has(key);
        expect(cache.has(key)).toBe(expected);
        if (!expected) {
          const ttl = 1 + Math.floor(random() * 100);
          cache.mark(key, ttl);
          model.mark(key);
          expiry.set(key, Date.now() + ttl);
        }
        expect(cache.size).toBe(model.keys.length);
      }
    });
  });
});
