import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PlanoutMetrics } from '../../src/nest/planout-metrics.js';
import { createPostgresLogSink } from '../../src/nest/sinks/postgres.sink.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { hitUnits, startFaultApp, units } from './support/fault-app.js';
import { TcpProxy, until } from './support/tcp-proxy.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const target = new URL(DATABASE_URL);
const schema = `planout_fault_${randomBytes(6).toString('hex')}`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
let proxy: TcpProxy;
let app: INestApplication | undefined;

function viaProxy(): string {
  const url = new URL(DATABASE_URL);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.toString();
}

async function storedUnits(table: string): Promise<string[]> {
  const result = await admin.query<{ unit: string }>(
    `SELECT record->'inputs'->>'userid' AS unit FROM ${schema}.${table} WHERE name = 'Exp1' AND event = 'exposure' ORDER BY id`,
  );
  return result.rows.map((r) => r.unit);
}

beforeAll(async () => {
  await admin.query(`CREATE SCHEMA ${schema}`);
  proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.up();
});

afterEach(async () => {
  await proxy.up().catch(() => undefined);
  await app?.close();
  app = undefined;
});

afterAll(async () => {
  await proxy.down();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

function sinkOptions(table: string, metrics: PlanoutMetrics, logger: CapturingLogger) {
  return {
    connectionString: viaProxy(),
    table: `${schema}.${table}`,
    batchSize: 10,
    flushIntervalMs: 20,
    retryBaseDelayMs: 20,
    retryMaxDelayMs: 200,
    connectionTimeoutMs: 300,
    queryTimeoutMs: 2000,
    metrics,
    logger,
  };
}

describe('PostgreSQL unreachable under traffic, then back (real Nest app, real PostgreSQL)', () => {
  it('serves every request during the outage and delivers every exposure after recovery', async () => {
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    ({ app } = await startFaultApp({ metrics, logSink: createPostgresLogSink(sinkOptions('outage', metrics, logger)) }));
    const base = await app.getUrl();

    const before = units('before', 20);
    expect(await hitUnits(base, before)).toHaveLength(20);
    await until(async () => (await storedUnits('outage').catch(() => [])).length === 20, 10_000);

    await proxy.down();
    const during = units('during', 100);
    const served = await hitUnits(base, during);
    expect(served).toHaveLength(100);
    await until(() => metrics.snapshot().retried > 0, 10_000);
    expect(await storedUnits('outage')).toHaveLength(20);

    await proxy.up();
    await until(async () => (await storedUnits('outage')).length >= 120, 15_000);
    const stored = await storedUnits('outage');
    // At-least-once: a batch cut mid-flight may land twice, but every unit is there.
    expect(new Set(stored)).toEqual(new Set([...before, ...during]));
    expect(metrics.snapshot()).toMatchObject({ dropped: 0, failed: 0, accepted: 120 });
    expect(metrics.snapshot().logged).toBeGreaterThanOrEqual(120);
    expect(logger.warnings.join('\n') + logger.errors.join('\n')).not.toBe('');
  });

  it('past the queue bound, drops are counted (dropped = sent − delivered) and logged, never silent', async () => {
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const sink = createPostgresLogSink({ ...sinkOptions('bounded', metrics, logger), maxQueueSize: 15, batchSize: 5 });
    ({ app } = await startFaultApp({ metrics, logSink: sink }));
    const base = await app.getUrl();
    // Create the table first, so delivery after recovery is the only variable.
    expect(await hitUnits(base, ['warmup'])).toHaveLength(1);
    await until(async () => (await storedUnits('bounded').catch(() => [])).length === 1, 10_000);

    await proxy.down();
    const sent = units('bounded', 60);
    expect(await hitUnits(base, sent, 4)).toHaveLength(60);
    await until(() => metrics.snapshot().accepted + metrics.snapshot().failed === 61, 10_000);

    await proxy.up();
    await until(() => sink.backlog === 0, 15_000);
    const delivered = new Set((await storedUnits('bounded')).filter((u) => u !== 'warmup'));
    const snapshot = metrics.snapshot();
    expect(delivered.size).toBeGreaterThanOrEqual(15);
    expect(delivered.size).toBeLessThan(60);
    expect(snapshot.dropped).toBe(60 - delivered.size);
    // The module counted each rejected record too, and the sink said so in the log.
    expect(snapshot.failed).toBe(snapshot.dropped);
    expect(logger.warnings.some((w) => w.includes('queue full'))).toBe(true);
  });
});
