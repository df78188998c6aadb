import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';
import { stableStringify } from '../../../src/nest/dedupe-key.js';
import { exposureDedupeKey, exposureRecordId } from '../../../src/nest/record-id.js';
import { ExposureCache } from '../../../src/nest/exposure-cache.interface.js';
import { EXPOSURE_DRAIN_BATCH, EXPOSURE_DRAIN_DELAY_MS, ExposureDispatcher } from '../../../src/nest/exposure-dispatcher.js';
import { LogSink } from '../../../src/nest/log-sink.interface.js';
import { PlanoutMetrics } from '../../../src/nest/planout-metrics.js';
import { InMemoryExposureCache } from '../../../src/nest/caches/in-memory-exposure.cache.js';
import { InMemorySink } from '../../../src/nest/sinks/in-memory.sink.js';

function record(over: Partial<PlanoutLogRecord> = {}): PlanoutLogRecord {
  return { name: 'Exp1', salt: 'Exp1', inputs: { userid: 'u' }, params: { a: 1 }, event: 'exposure', time: 1, checksum: 'abcd1234', ...over };
}

/** A cache whose `has` resolves late, to see what happens meanwhile. */
class SlowCache extends ExposureCache {
  readonly inner = new InMemoryExposureCache();
  readonly order: string[] = [];
  async has(key: string): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return this.inner.has(key);
  }
  mark(key: string): void {
    this.order.push('mark');
    this.inner.mark(key);
  }
}

function dispatcher(sink: LogSink, cache: ExposureCache = new InMemoryExposureCache(), metrics = new PlanoutMetrics()) {
  return new ExposureDispatcher(sink, cache, metrics, {});
}

describe('dedupe key', () => {
  it('is stable under key order and covers salt, checksum, inputs and params', () => {
    expect(stableStringify({ b: 1, a: [2n, null, 'x'] })).toBe('{"a":["2n",null,"x"],"b":1}');
    const base = exposureDedupeKey(record());
    expect(exposureDedupeKey(record({ inputs: { userid: 'u' }, params: { a: 1 }, time: 99 }))).toBe(base);
    for (const change of [{ salt: 's' }, { checksum: 'ffffffff' }, { inputs: { userid: 'v' } }, { params: { a: 2 } }, { name: 'Exp2' }]) {
      expect(exposureDedupeKey(record(change))).not.toBe(base);
    }
  });
});

describe('dedupe key format', () => {
  it('is the name and the record id, which covers stableStringify([salt, checksum, inputs, params])', () => {
    for (const r of [record(), record({ checksum: undefined, inputs: { b: 'x"y', a: 2n }, params: { z: [1, { q: null }], a: true } })]) {
      expect(exposureDedupeKey(r)).toBe(`${r.name}:${exposureRecordId(r)}`);
    }
  });

  it('is what the dispatcher marks, and the id the sink gets', async () => {
    const sink = new SyncSink();
    const cache = new InMemoryExposureCache();
    const d = dispatcher(sink, cache);
    d.enqueue(record());
    await d.whenIdle();
    expect(sink.records[0]!.id).toBe(exposureRecordId(record()));
    expect(cache.has(`Exp1:${sink.records[0]!.id}`)).toBe(true);
  });
});

/**
 * Resolves after the dispatcher's drain of what is queued now: Node fires timers of equal
 * delay in the order they were set, and the drain's timer was set by the first enqueue.
 */
const nextTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, EXPOSURE_DRAIN_DELAY_MS));
const nextImmediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A synchronous sink that can be made to throw. */
class SyncSink extends LogSink {
  readonly records: PlanoutLogRecord[] = [];
  fail = false;
  write(r: PlanoutLogRecord): void {
    if (this.fail) throw new Error('sync nope');
    this.records.push(r);
  }
}

describe('ExposureDispatcher, synchronous cache and sink', () => {
  it('writes, marks and deduplicates a batch within the drain, with nothing left pending', async () => {
    const sink = new SyncSink();
    const cache = new InMemoryExposureCache();
    const metrics = new PlanoutMetrics();
    const d = dispatcher(sink, cache, metrics);
    d.enqueue(record());
    d.enqueue(record());
    d.enqueue(record({ inputs: { userid: 'v' } }));
    d.enqueue(record({ event: 'conversion' }));
    expect(sink.records).toHaveLength(0);
    await nextTurn();
    expect(sink.records.map((r) => [r.event, r.inputs.userid])).toEqual([
      ['exposure', 'u'],
      ['exposure', 'v'],
      ['conversion', 'u'],
    ]);
    expect(cache.has(exposureDedupeKey(record()))).toBe(true);
    expect(metrics.snapshot()).toMatchObject({ accepted: 3, deduplicated: 1, failed: 0 });
  });

  it('waits for its delay with a small batch, drains on the next setImmediate once a full batch waits', async () => {
    const sink = new SyncSink();
    const d = dispatcher(sink, new InMemoryExposureCache(), new PlanoutMetrics());
    d.enqueue(record({ event: 'conversion' }));
    await nextImmediate();
    expect(sink.records).toHaveLength(0);
    for (let i = 1; i < EXPOSURE_DRAIN_BATCH; i++) d.enqueue(record({ inputs: { userid: `u${i}` } }));
    expect(sink.records).toHaveLength(0);
    await nextImmediate();
    expect(sink.records).toHaveLength(EXPOSURE_DRAIN_BATCH);
    // The next record starts a new delayed batch.
    d.enqueue(record({ event: 'conversion' }));
    await nextImmediate();
    expect(sink.records).toHaveLength(EXPOSURE_DRAIN_BATCH);
    await nextTurn();
    expect(sink.records).toHaveLength(EXPOSURE_DRAIN_BATCH + 1);
  });

  it('does not mark the cache when the sink throws, and logs the exposure on a later request', async () => {
    const sink = new SyncSink();
    const cache = new InMemoryExposureCache();
    const metrics = new PlanoutMetrics();
    const d = dispatcher(sink, cache, metrics);
    sink.fail = true;
    d.enqueue(record());
    await d.whenIdle();
    expect(cache.has(exposureDedupeKey(record()))).toBe(false);
    sink.fail = false;
    d.enqueue(record());
    await d.whenIdle();
    expect(sink.records).toHaveLength(1);
    expect(metrics.snapshot()).toMatchObject({ failed: 1, accepted: 1 });
  });

  it('counts a throwing has() as a cache error and still writes the exposure', async () => {
    class BrokenCache extends ExposureCache {
      marked = 0;
      has(): boolean {
        throw new Error('down');
      }
      mark(): void {
        this.marked++;
      }
    }
    const sink = new SyncSink();
    const cache = new BrokenCache();
    const metrics = new PlanoutMetrics();
    const d = dispatcher(sink, cache, metrics);
    d.enqueue(record());
    await d.whenIdle();
    expect(sink.records).toHaveLength(1);
    expect(cache.marked).toBe(1);
    expect(metrics.snapshot()).toMatchObject({ cacheErrors: 1, accepted: 1 });
  });

  it('coalesces while an asynchronous sink holds the exposure, and marks only after it accepted', async () => {
    const order: string[] = [];
    let release!: () => void;
    class HeldSink extends LogSink {
      write(): Promise<void> {
        order.push('write');
        return new Promise<void>((resolve) => (release = resolve)).then(() => void order.push('accepted'));
      }
    }
    class OrderedCache extends InMemoryExposureCache {
      override mark(key: string, ttlMs?: number): void {
        order.push('mark');
        super.mark(key, ttlMs);
      }
    }
    const metrics = new PlanoutMetrics();
    const d = dispatcher(new HeldSink(), new OrderedCache(), metrics);
    d.enqueue(record());
    await nextTurn();
    d.enqueue(record());
    await nextTurn();
    expect(order).toEqual(['write']);
    const idle = d.whenIdle();
    release();
    await idle;
    expect(order).toEqual(['write', 'accepted', 'mark']);
    expect(metrics.snapshot()).toMatchObject({ accepted: 1, deduplicated: 1 });
  });

  it('counts a rejecting asynchronous mark() and whenIdle waits for it', async () => {
    class RejectingMark extends InMemoryExposureCache {
      override mark(): Promise<void> {
        return new Promise((_resolve, reject) => setTimeout(() => reject(new Error('mark down')), 5));
      }
    }
    const sink = new SyncSink();
    const metrics = new PlanoutMetrics();
    const d = dispatcher(sink, new RejectingMark(), metrics);
    d.enqueue(record());
    await d.whenIdle();
    expect(sink.records).toHaveLength(1);
    expect(metrics.snapshot()).toMatchObject({ accepted: 1, cacheErrors: 1 });
  });
});

describe('ExposureDispatcher', () => {
  it('does not touch the sink synchronously', () => {
    const sink = new InMemorySink();
    dispatcher(sink).enqueue(record());
    expect(sink.records).toHaveLength(0);
  });

  it('coalesces identical exposures in flight and logs one', async () => {
    const sink = new InMemorySink();
    const metrics = new PlanoutMetrics();
    const d = dispatcher(sink, new SlowCache(), metrics);
    for (let i = 0; i < 5; i++) d.enqueue(record());
    await d.whenIdle();
    expect(sink.records).toHaveLength(1);
    expect(metrics.snapshot()).toMatchObject({ accepted: 1, deduplicated: 4 });
  });

  it('marks the cache only after the sink accepted', async () => {
    const order: string[] = [];
    const cache = new SlowCache();
    class OrderedSink extends LogSink {
      async write(): Promise<void> {
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.push('write');
      }
    }
    const d = dispatcher(new OrderedSink(), cache);
    d.enqueue(record());
    await d.whenIdle();
    expect([...order, ...cache.order]).toEqual(['write', 'mark']);
  });

  it('never deduplicates events', async () => {
    const sink = new InMemorySink();
    const d = dispatcher(sink);
    for (let i = 0; i < 3; i++) d.enqueue(record({ event: 'conversion' }));
    await d.whenIdle();
    expect(sink.records).toHaveLength(3);
  });

  it('counts a rejecting sink and logs the exposure again later', async () => {
    let fail = true;
    const kept: PlanoutLogRecord[] = [];
    class Flaky extends LogSink {
      async write(r: PlanoutLogRecord): Promise<void> {
        if (fail) throw new Error('nope');
        kept.push(r);
      }
    }
    const metrics = new PlanoutMetrics();
    const d = dispatcher(new Flaky(), new InMemoryExposureCache(), metrics);
    d.enqueue(record());
    await d.whenIdle();
    fail = false;
    d.enqueue(record());
    await d.whenIdle();
    expect(kept).toHaveLength(1);
    expect(metrics.snapshot()).toMatchObject({ failed: 1, accepted: 1 });
  });
});
