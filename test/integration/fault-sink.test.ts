import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { BatchingSink, BatchLogSink, LogSink, PlanoutMetrics } from '../../src/index.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { hitUnits, startFaultApp, units } from './support/fault-app.js';
import { until } from './support/tcp-proxy.js';

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A user sink that throws on every write, synchronously or by rejecting. */
class ThrowingSink extends LogSink {
  calls = 0;
  write(): void | Promise<void> {
    this.calls++;
    if (this.calls % 2 === 0) return Promise.reject(new Error('sink rejected'));
    throw new Error('sink threw');
  }
}

/** A user destination whose writes never settle. */
class HangingDestination extends BatchLogSink {
  calls = 0;
  writeBatch(_records: PlanoutLogRecord[]): Promise<void> {
    this.calls++;
    return new Promise<void>(() => undefined);
  }
  override close(): Promise<void> {
    return new Promise<void>(() => undefined);
  }
}

describe('a sink that throws or hangs (real Nest app)', () => {
  it('throwing: every request is served, each record is counted as failed', async () => {
    const metrics = new PlanoutMetrics();
    const sink = new ThrowingSink();
    let url: string;
    ({ app, url } = await startFaultApp({ metrics, logSink: sink }));
    const sent = units('throw', 50);
    expect(await hitUnits(url, sent)).toHaveLength(50);
    await until(() => metrics.snapshot().failed === 50, 5000);
    expect(sink.calls).toBe(50);
    expect(metrics.snapshot()).toMatchObject({ accepted: 0, failed: 50 });
    expect(metrics.lastError?.message).toMatch(/sink (threw|rejected)/);
  });

  it('hanging: every request is served, the hang is bounded by writeTimeoutMs, and app.close() returns within its bound', async () => {
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const destination = new HangingDestination();
    const sink = new BatchingSink(destination, {
      batchSize: 10,
      flushIntervalMs: 10,
      writeTimeoutMs: 100,
      retryBaseDelayMs: 10,
      shutdownTimeoutMs: 300,
      metrics,
      logger,
    });
    let url: string;
    ({ app, url } = await startFaultApp({ metrics, logSink: sink }));
    const sent = units('hang', 40);
    expect(await hitUnits(url, sent)).toHaveLength(40);
    // Timed-out batches are retried (never dropped for a retry count) until shutdown.
    await until(() => metrics.snapshot().retried > 1, 5000);
    expect(metrics.snapshot().dropped).toBe(0);
    expect(sink.lastError?.message).toMatch(/timed out|timeout/i);

    const started = Date.now();
    await app.close();
    app = undefined;
    // Liveness bound, not a timing measurement: shutdown must not wait on the hung destination forever.
    expect(Date.now() - started).toBeLessThan(5000);
    // Final when close returns: the sink is closed even though its flush timed out, and
    // close() waits (up to writeTimeoutMs) for the batch in flight to drop itself.
    const snapshot = metrics.snapshot();
    expect(snapshot.dropped).toBe(40);
    expect(sink.backlog).toBe(0);
    expect(snapshot.accepted).toBe(40);
    expect(snapshot.logged).toBe(0);
    expect(logger.errors.some((e) => e.includes('dropped'))).toBe(true);
  });
});
