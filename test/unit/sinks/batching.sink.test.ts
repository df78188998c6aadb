import { describe, expect, it, jest } from '@jest/globals';
import type { PlanoutLogRecord } from '../../../src/core/log-record.js';
import { PlanoutMetrics } from '../../../src/nest/planout-metrics.js';
import { BatchingSink, BatchLogSink, type BatchingSinkOptions, type DropReason } from '../../../src/nest/sinks/batching.sink.js';
import { LogSinkDataError, SinkClosedError, SinkOverflowError, SinkTimeoutError } from '../../../src/nest/sinks/errors.js';
import { CapturingLogger, record } from './fixtures.js';

/** A destination whose failures, hangs and pauses the test controls. */
class FakeBatchSink extends BatchLogSink {
  readonly batches: number[][] = [];
  calls = 0;
  failures = 0;
  hangs = 0;
  /** Records (by time offset) the destination refuses as bad data, whatever batch they are in. */
  readonly poison = new Set<number>();
  makeDataError: (offset: number) => unknown = (offset) => new LogSinkDataError(`record ${offset} cannot be stored`);
  inFlight = 0;
  maxInFlight = 0;
  closed = false;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  pause(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }
  resume(): void {
    this.openGate?.();
    this.gate = undefined;
  }
  get delivered(): number[] {
    return this.batches.flat();
  }

  async writeBatch(records: PlanoutLogRecord[]): Promise<void> {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate !== undefined) await this.gate;
      if (this.hangs > 0) {
        this.hangs--;
        await new Promise(() => undefined);
      }
      if (this.failures > 0) {
        this.failures--;
        throw new Error('destination down');
      }
      const bad = records.find((r) => this.poison.has(r.time - 1_700_000_000));
      if (bad !== undefined) throw this.makeDataError(bad.time - 1_700_000_000);
      this.batches.push(records.map((r) => r.time - 1_700_000_000));
    } finally {
      this.inFlight--;
    }
  }

  override async close(): Promise<void> {
    this.closed = true;
  }
}

function setup(options: BatchingSinkOptions = {}) {
  const inner = new FakeBatchSink();
  const metrics = new PlanoutMetrics();
  const logger = new CapturingLogger();
  const drops: { times: number[]; reason: DropReason }[] = [];
  const sink = new BatchingSink(inner, {
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 5,
    metrics,
    logger,
    onDrop: (records, reason) => drops.push({ times: records.map((r) => r.time - 1_700_000_000), reason }),
    ...options,
  });
  return { inner, metrics, logger, drops, sink };
}

async function until(check: () => boolean, limitMs = 20_000): Promise<void> {
  // Generous: a loaded CI machine may delay timers by seconds; only liveness is asserted.
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('BatchingSink', () => {
  it('delivers full batches at once, one batch in flight at a time, in order', async () => {
    const { inner, metrics, sink } = setup({ batchSize: 10, flushIntervalMs: 60_000 });
    for (let i = 0; i < 35; i++) sink.write(record(i));
    await until(() => inner.batches.length === 3);
    expect(inner.batches.map((b) => b.length)).toEqual([10, 10, 10]);
    expect(sink.backlog).toBe(5);
    await sink.flush();
    expect(inner.delivered).toEqual(range(0, 35));
    expect(inner.maxInFlight).toBe(1);
    expect(metrics.snapshot()).toMatchObject({ logged: 35, failed: 0, retried: 0, dropped: 0 });
    await sink.close();
  });

  it('delivers a partial batch after flushIntervalMs without flush()', async () => {
    const { inner, sink } = setup({ batchSize: 100, flushIntervalMs: 20 });
    sink.write(record(1));
    sink.write(record(2));
    await until(() => inner.delivered.length === 2);
    expect(inner.batches).toEqual([[1, 2]]);
    await sink.close();
  });

  it('reports how long the pending write has been waiting, and nothing when idle', async () => {
    const { inner, sink } = setup({ batchSize: 1, writeTimeoutMs: 60_000 });
    expect(sink.writePendingMs).toBe(0);
    inner.pause();
    sink.write(record(1));
    await until(() => inner.calls === 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(sink.writePendingMs).toBeGreaterThanOrEqual(25);
    inner.resume();
    await sink.flush();
    expect(sink.writePendingMs).toBe(0);
    await sink.close();
  });

  it('close() logs one line accounting for every record: delivered, nothing dropped', async () => {
    const { logger, sink } = setup({ batchSize: 4 });
    for (let i = 0; i < 10; i++) sink.write(record(i));
    await sink.close();
    expect(logger.logs).toEqual(['FakeBatchSink: closed; all 10 records accepted were delivered']);
    expect(logger.errors).toEqual([]);
  });

  it('write is synchronous and returns while the destination hangs', async () => {
    const { inner, sink } = setup({ batchSize: 1, writeTimeoutMs: 60_000, shutdownTimeoutMs: 20 });
    inner.pause();
    const result: unknown = sink.write(record(1));
    expect(result).toBeUndefined();
    sink.write(record(2));
    expect(sink.backlog).toBe(2);
    inner.resume();
    await sink.close();
    expect(inner.delivered).toEqual([1, 2]);
  });

  it('drop-newest: a full queue rejects the new record with a counted SinkOverflowError and one warning', async () => {
    const { inner, metrics, logger, drops, sink } = setup({ batchSize: 2, maxQueueSize: 4, flushIntervalMs: 60_000 });
    inner.pause();
    for (let i = 0; i < 6; i++) sink.write(record(i)); // 2 in flight, 4 queued
    const errors: unknown[] = [];
    for (let i = 6; i < 16; i++) {
      try {
        sink.write(record(i));
      } catch (error) {
        errors.push(error);
      }
    }
    expect(errors).toHaveLength(10);
    expect(errors.every((e) => e instanceof SinkOverflowError && e.counted)).toBe(true);
    expect(metrics.snapshot().dropped).toBe(10);
    expect(drops.flatMap((d) => d.times)).toEqual(range(6, 16));
    expect(drops.every((d) => d.reason === 'overflow')).toBe(true);
    expect(logger.warnings.filter((w) => w.includes('queue full'))).toHaveLength(1);
    inner.resume();
    await sink.close();
    expect(inner.delivered).toEqual(range(0, 6));
  });

  it('drop-oldest: a full queue accepts the new record and drops the oldest queued one', async () => {
    const { inner, metrics, drops, sink } = setup({ batchSize: 2, maxQueueSize: 4, dropPolicy: 'drop-oldest', flushIntervalMs: 60_000 });
    inner.pause();
    for (let i = 0; i < 10; i++) sink.write(record(i));
    expect(metrics.snapshot().dropped).toBe(4);
    expect(drops.flatMap((d) => d.times)).toEqual([2, 3, 4, 5]);
    inner.resume();
    await sink.close();
    expect(inner.delivered).toEqual([0, 1, 6, 7, 8, 9]);
  });

  it('retries a failed batch with backoff and delivers it once', async () => {
    const { inner, metrics, logger, sink } = setup({ batchSize: 3 });
    inner.failures = 2;
    for (let i = 0; i < 3; i++) sink.write(record(i));
    await sink.flush();
    expect(inner.batches).toEqual([[0, 1, 2]]);
    expect(inner.calls).toBe(3);
    expect(metrics.snapshot()).toMatchObject({ logged: 3, failed: 0, retried: 2, dropped: 0 });
    expect(metrics.lastError?.message).toBe('destination down');
    expect(sink.lastError).toBeUndefined();
    expect(logger.warnings.some((w) => w.includes('attempt 1)') && w.includes('destination down'))).toBe(true);
    await sink.close();
  });

  it('never drops a batch because a retry count ran out: 200 consecutive failures, then everything is delivered in order', async () => {
    const { inner, metrics, drops, sink } = setup({ batchSize: 2, retryBaseDelayMs: 0, retryMaxDelayMs: 1 });
    inner.failures = 200;
    for (let i = 0; i < 6; i++) sink.write(record(i));
    await until(() => inner.delivered.length === 6);
    expect(inner.batches).toEqual([[0, 1], [2, 3], [4, 5]]);
    expect(inner.calls).toBe(203);
    expect(drops).toEqual([]);
    expect(metrics.snapshot()).toMatchObject({ logged: 6, retried: 200, dropped: 0, rejected: 0 });
    expect(sink.stats).toEqual({ delivered: 6, rejected: 0, droppedOverflow: 0, droppedShutdown: 0 });
    await sink.close();
  });

  it('retry delays grow exponentially with jitter and stay within retryMaxDelayMs', async () => {
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    const spy = jest.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return real(fn, 0);
    }) as typeof setTimeout);
    try {
      const { inner, sink } = setup({ batchSize: 1, retryBaseDelayMs: 100, retryMaxDelayMs: 1600, writeTimeoutMs: 99_999, flushIntervalMs: 99_998 });
      inner.failures = 40;
      sink.write(record(1));
      await until(() => inner.delivered.length === 1);
      // Leave out the test's own polling (5 ms) and the sink's other timers (set far apart above).
      const retryDelays = delays.filter((ms) => ms >= 50 && ms <= 1600);
      expect(retryDelays).toHaveLength(40);
      retryDelays.forEach((ms, attempt) => {
        const ceiling = Math.min(100 * 2 ** attempt, 1600);
        expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
        expect(ms).toBeLessThanOrEqual(ceiling);
      });
      // Jitter: capped attempts do not all wait the same time.
      expect(new Set(retryDelays.slice(10)).size).toBeGreaterThan(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('a data error splits the batch: the bad records are rejected (counted, reported, logged with name and event), every other one delivered in order', async () => {
    const { inner, metrics, logger, drops, sink } = setup({ batchSize: 100, flushIntervalMs: 60_000 });
    for (const bad of [0, 37, 38, 99, 150]) inner.poison.add(bad);
    for (let i = 0; i < 200; i++) sink.write(i === 37 ? record(i, { name: 'Checkout', event: 'conversion' }) : record(i));
    await sink.flush();
    const good = range(0, 200).filter((i) => !inner.poison.has(i));
    expect(inner.delivered).toEqual(good);
    expect(drops).toEqual([0, 37, 38, 99, 150].map((i) => ({ times: [i], reason: 'invalid' })));
    expect(metrics.snapshot()).toMatchObject({ logged: 195, rejected: 5, dropped: 0, retried: 0 });
    expect(sink.stats).toEqual({ delivered: 195, rejected: 5, droppedOverflow: 0, droppedShutdown: 0 });
    // Rate-limited: the first rejection is logged with its record's name and event.
    expect(logger.errors[0]).toMatch(/rejected a "exposure" record of "Exp1".*record 0 cannot be stored/);
    // Data errors are not delivery failures: the sink is not reported as failing.
    expect(sink.lastError).toBeUndefined();
    expect(sink.recentOutcomes.failed).toBe(0);
    expect(sink.backlog).toBe(0);
    await sink.close();
    expect(logger.errors.at(-1)).toMatch(/closed; 195 records delivered, 0 dropped .*5 rejected as invalid/);
  });

  it('transient failures while isolating a bad record are retried, not mistaken for bad data', async () => {
    const { inner, metrics, sink } = setup({ batchSize: 8, flushIntervalMs: 60_000 });
    inner.poison.add(5);
    for (let i = 0; i < 8; i++) sink.write(record(i));
    // The first attempt hits the bad record; then the destination goes down for a while.
    const realWrite = inner.writeBatch.bind(inner);
    let calls = 0;
    inner.writeBatch = async (records) => {
      if (++calls === 2) inner.failures = 3;
      return realWrite(records);
    };
    await sink.flush();
    expect(inner.delivered).toEqual([0, 1, 2, 3, 4, 6, 7]);
    expect(metrics.snapshot()).toMatchObject({ logged: 7, rejected: 1, retried: 3, dropped: 0 });
  });

  it("a sink's isDataError classifies its driver's errors; other errors keep the retry path", async () => {
    class CodedSink extends BatchLogSink {
      readonly stored: number[] = [];
      attempts = 0;
      async writeBatch(records: PlanoutLogRecord[]): Promise<void> {
        this.attempts++;
        if (this.attempts <= 2) throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
        if (records.some((r) => r.time === 1_700_000_003)) throw Object.assign(new Error('numeric out of range'), { code: '22003' });
        this.stored.push(...records.map((r) => r.time - 1_700_000_000));
      }
      override isDataError(error: unknown): boolean {
        return (error as { code?: string }).code === '22003';
      }
    }
    const inner = new CodedSink();
    const metrics = new PlanoutMetrics();
    const sink = new BatchingSink(inner, { batchSize: 6, retryBaseDelayMs: 1, retryMaxDelayMs: 2, metrics, logger: new CapturingLogger() });
    for (let i = 0; i < 6; i++) sink.write(record(i));
    await sink.flush();
    expect(inner.stored).toEqual([0, 1, 2, 4, 5]);
    expect(metrics.snapshot()).toMatchObject({ logged: 5, rejected: 1, retried: 2, dropped: 0 });
    await sink.close();
  });

  it('bounds a hanging writeBatch by writeTimeoutMs and counts it as a failure', async () => {
    const { inner, metrics, sink } = setup({ batchSize: 1, writeTimeoutMs: 30 });
    inner.hangs = 1;
    sink.write(record(7));
    await sink.flush();
    expect(inner.batches).toEqual([[7]]);
    expect(inner.calls).toBe(2);
    expect(metrics.snapshot()).toMatchObject({ retried: 1, logged: 1 });
    expect(metrics.lastError?.message).toMatch(/timed out after 30ms/);
    expect(sink.recentOutcomes).toMatchObject({ succeeded: 1, failed: 1, timedOut: 1 });
    await sink.close();
  });

  it('flush() rejects with SinkTimeoutError past shutdownTimeoutMs and keeps the records queued', async () => {
    const { inner, sink } = setup({ batchSize: 10, writeTimeoutMs: 60_000, shutdownTimeoutMs: 30 });
    inner.pause();
    sink.write(record(1));
    await expect(sink.flush()).rejects.toBeInstanceOf(SinkTimeoutError);
    expect(sink.backlog).toBe(1);
    inner.resume();
    await sink.flush();
    expect(inner.delivered).toEqual([1]);
    await sink.close();
  });

  it('close() delivers everything pending, closes the inner sink, then rejects writes', async () => {
    const { inner, metrics, sink } = setup({ batchSize: 7, flushIntervalMs: 60_000 });
    for (let i = 0; i < 50; i++) sink.write(record(i));
    await sink.close();
    expect(inner.delivered).toEqual(range(0, 50));
    expect(inner.closed).toBe(true);
    expect(metrics.snapshot().logged).toBe(50);
    expect(() => sink.write(record(99))).toThrow(SinkClosedError);
    await expect(sink.close()).resolves.toBeUndefined();
  });

  it('close() with the destination down drops the rest (counted, reported) within shutdownTimeoutMs and never rejects', async () => {
    const { inner, metrics, logger, drops, sink } = setup({
      batchSize: 2,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 5,
      shutdownTimeoutMs: 50,
    });
    inner.failures = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) sink.write(record(i));
    await expect(sink.close()).resolves.toBeUndefined();
    // Final as soon as close() resolves, the batch that was in flight included.
    expect(sink.backlog).toBe(0);
    expect(metrics.snapshot().dropped).toBe(5);
    expect(metrics.snapshot().logged).toBe(0);
    expect(drops.flatMap((d) => d.times).sort((a, b) => a - b)).toEqual(range(0, 5));
    expect(drops.every((d) => d.reason === 'shutdown')).toBe(true);
    expect(logger.errors.some((e) => e.includes('not delivered before shutdown'))).toBe(true);
    // However the drops were rate-limited, the last line accounts for every record.
    expect(logger.errors.at(-1)).toBe('FakeBatchSink: closed; 0 records delivered, 5 dropped (0 queue full, 5 at shutdown), 0 rejected as invalid');
    expect(sink.stats).toEqual({ delivered: 0, rejected: 0, droppedOverflow: 0, droppedShutdown: 5 });
    expect(inner.closed).toBe(true);
  });

  it('close() right after a flush() that ran out of time does not wait a second time (Nest calls flush, then close)', async () => {
    const { inner, metrics, drops, sink } = setup({ batchSize: 2, retryBaseDelayMs: 5, retryMaxDelayMs: 5, shutdownTimeoutMs: 100 });
    inner.failures = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) sink.write(record(i));
    await expect(sink.flush()).rejects.toBeInstanceOf(SinkTimeoutError);
    const flush = jest.spyOn(sink, 'flush');
    await sink.close();
    expect(flush).not.toHaveBeenCalled();
    expect(metrics.snapshot()).toMatchObject({ dropped: 5, logged: 0 });
    expect(drops.every((d) => d.reason === 'shutdown')).toBe(true);
  });

  it('close() flushes again when something was delivered since the last flush ran out of time', async () => {
    const { inner, metrics, sink } = setup({ batchSize: 2, retryBaseDelayMs: 5, retryMaxDelayMs: 5, shutdownTimeoutMs: 100 });
    inner.failures = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) sink.write(record(i));
    await expect(sink.flush()).rejects.toBeInstanceOf(SinkTimeoutError);
    inner.failures = 0;
    await until(() => metrics.snapshot().logged > 0);
    const flush = jest.spyOn(sink, 'flush');
    await sink.close();
    expect(flush).toHaveBeenCalledTimes(1);
    expect(inner.delivered).toEqual(range(0, 5));
    expect(metrics.snapshot()).toMatchObject({ dropped: 0, logged: 5 });
  });

  it('close() waits up to writeTimeoutMs for a batch in flight past shutdownTimeoutMs: counters are final when it resolves', async () => {
    const { inner, metrics, drops, sink } = setup({ batchSize: 5, flushIntervalMs: 60_000, writeTimeoutMs: 300, shutdownTimeoutMs: 20 });
    inner.hangs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 8; i++) sink.write(record(i));
    await until(() => inner.calls === 1);
    await sink.close();
    expect(sink.backlog).toBe(0);
    expect(metrics.snapshot()).toMatchObject({ dropped: 8, logged: 0 });
    expect(drops).toEqual([
      { times: range(5, 8), reason: 'shutdown' },
      { times: range(0, 5), reason: 'shutdown' },
    ]);
    expect(metrics.lastError?.message).toMatch(/timed out after 300ms/);
    expect(inner.closed).toBe(true);
  });

  it('close(): a batch in flight that lands while closing counts as logged, not dropped', async () => {
    const { inner, metrics, sink } = setup({
      batchSize: 5,
      flushIntervalMs: 60_000,
      writeTimeoutMs: 60_000,
      shutdownTimeoutMs: 20,
      // The queued records are dropped after the flush timed out; then the destination recovers.
      onDrop: () => inner.resume(),
    });
    inner.pause();
    for (let i = 0; i < 8; i++) sink.write(record(i));
    await sink.close();
    expect(inner.delivered).toEqual(range(0, 5));
    expect(metrics.snapshot()).toMatchObject({ logged: 5, dropped: 3 });
    expect(sink.backlog).toBe(0);
  });

  it('an onDrop callback that throws is logged, not propagated', async () => {
    const inner = new FakeBatchSink();
    const logger = new CapturingLogger();
    const sink = new BatchingSink(inner, {
      maxQueueSize: 1,
      batchSize: 5,
      flushIntervalMs: 60_000,
      logger,
      onDrop: () => {
        throw new Error('callback bug');
      },
    });
    sink.write(record(1));
    expect(() => sink.write(record(2))).toThrow(SinkOverflowError);
    expect(logger.errors.some((e) => e.includes('callback bug'))).toBe(true);
    await sink.close();
  });

  it('without metrics the overflow error says it was not counted', async () => {
    const sink = new BatchingSink(new FakeBatchSink(), { maxQueueSize: 1, batchSize: 5, logger: new CapturingLogger() });
    sink.write(record(1));
    let error: unknown;
    try {
      sink.write(record(2));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SinkOverflowError);
    expect((error as SinkOverflowError).counted).toBe(false);
    await sink.close();
  });

  it('validates options', () => {
    expect(() => new BatchingSink(new FakeBatchSink(), { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new BatchingSink(new FakeBatchSink(), { maxRetries: 5 } as BatchingSinkOptions)).toThrow(/"maxRetries" was removed/);
    expect(() => new BatchingSink(new FakeBatchSink(), { dropPolicy: 'random' as 'drop-oldest' })).toThrow(/dropPolicy/);
  });
});
