import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PyFloat } from '../../src/core/values.js';
import { PlanoutMetrics } from '../../src/nest/planout-metrics.js';
import { SinkOverflowError } from '../../src/nest/sinks/errors.js';
import { createPostgresLogSink, planoutLogMigrationSql, PostgresSink } from '../../src/nest/sinks/postgres.sink.js';
import { BatchingSink } from '../../src/nest/sinks/batching.sink.js';
import { CapturingLogger, record } from '../unit/sinks/fixtures.js';
import { closedPort, TcpProxy, until } from './support/tcp-proxy.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const target = new URL(DATABASE_URL);
const schema = `planout_it_${randomBytes(6).toString('hex')}`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });

/** The same database reached through `port` on localhost. */
function viaPort(port: number): string {
  const url = new URL(DATABASE_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}

async function rows(table: string): Promise<{ name: string; event: string; time: string; record: Record<string, unknown> }[]> {
  const result = await admin.query(`SELECT name, event, "time", record FROM ${schema}.${table} ORDER BY id`);
  return result.rows;
}

beforeAll(async () => {
  await admin.query(`CREATE SCHEMA ${schema}`);
});

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe('PostgresSink (real PostgreSQL)', () => {
  it('creates the table lazily and stores records in batches with name/event/time columns and a jsonb record', async () => {
    const metrics = new PlanoutMetrics();
    const sink = createPostgresLogSink({
      connectionString: DATABASE_URL,
      table: `${schema}.planout_log`,
      batchSize: 50,
      metrics,
      logger: new CapturingLogger(),
    });
    const cyclic: Record<string, unknown> = { k: 1 };
    cyclic.self = cyclic;
    sink.write(record(0, { inputs: { userid: 123456789012345678901234567890n } }));
    sink.write(record(1, { params: { ratio: new PyFloat(2), text: 'nul\u0000byte' }, event: 'click', extra_data: { cyclic } }));
    for (let i = 2; i < 120; i++) sink.write(record(i, { name: i % 2 === 0 ? 'Exp1' : 'Exp2' }));
    await sink.close();

    const stored = await rows('planout_log');
    expect(stored).toHaveLength(120);
    expect(metrics.snapshot()).toMatchObject({ logged: 120, dropped: 0, retried: 0 });
    expect(stored.map((r) => Number(r.time) - 1_700_000_000)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(stored[1]).toMatchObject({ name: 'Exp1', event: 'click' });
    expect(stored[1]!.record.params).toEqual({ ratio: 2, text: 'nul\uFFFDbyte' });
    expect((stored[1]!.record.extra_data as { cyclic: unknown }).cyclic).toEqual({ k: 1, self: '[Circular]' });
    expect(stored[3]!.name).toBe('Exp2');
    expect(stored[5]!.record).toEqual(JSON.parse(JSON.stringify(record(5, { name: 'Exp2' }))));

    // A bigint input stays exact in the jsonb document.
    const exact = await admin.query(`SELECT record->'inputs'->>'userid' AS userid FROM ${schema}.planout_log WHERE "time" = $1`, [1_700_000_000]);
    expect(exact.rows[0].userid).toBe('123456789012345678901234567890');

    const indexes = await admin.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'planout_log' ORDER BY 1`, [schema]);
    expect(indexes.rows.map((r: { indexname: string }) => r.indexname)).toEqual([
      'planout_log_event_idx',
      'planout_log_name_idx',
      'planout_log_pkey',
      'planout_log_time_idx',
    ]);
  });

  it('works with a table from the exported migration SQL (createTable: false) and a pool it does not own', async () => {
    const table = `${schema}.migrated`;
    await admin.query(planoutLogMigrationSql(table));
    await admin.query(planoutLogMigrationSql(table)); // idempotent
    const inner = new PostgresSink({ pool: admin, table, createTable: false });
    await inner.writeBatch([record(1), record(2)]);
    await inner.close(); // must leave `admin` usable
    expect((await rows('migrated')).map((r) => r.record.time)).toEqual([1_700_000_001, 1_700_000_002]);
  });

  it('two sinks racing to create the same table both succeed', async () => {
    const table = `${schema}.raced`;
    const a = new PostgresSink({ connectionString: DATABASE_URL, table });
    const b = new PostgresSink({ connectionString: DATABASE_URL, table });
    await Promise.all([a.writeBatch([record(1)]), b.writeBatch([record(2)])]);
    await Promise.all([a.close(), b.close()]);
    expect(await rows('raced')).toHaveLength(2);
  });

  it('a batch larger than one statement allows is inserted atomically', async () => {
    const table = `${schema}.big`;
    const inner = new PostgresSink({ connectionString: DATABASE_URL, table });
    await inner.writeBatch(Array.from({ length: 12_000 }, (_, i) => record(i)));
    await inner.close();
    const count = await admin.query(`SELECT count(*)::int AS n, count(DISTINCT "time")::int AS d FROM ${table}`);
    expect(count.rows[0]).toEqual({ n: 12_000, d: 12_000 });
  });

  it('an unreachable database: attempts fail fast and are retried until shutdown, the queue stays bounded, every drop is counted', async () => {
    const port = await closedPort();
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const dropped: string[] = [];
    const sink = createPostgresLogSink({
      connectionString: viaPort(port),
      table: `${schema}.never`,
      connectionTimeoutMs: 500,
      batchSize: 5,
      maxQueueSize: 10,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 20,
      shutdownTimeoutMs: 2000,
      flushIntervalMs: 10,
      metrics,
      logger,
      onDrop: (records, reason) => dropped.push(...records.map(() => reason)),
    });
    let overflow = 0;
    for (let i = 0; i < 30; i++) {
      try {
        sink.write(record(i));
      } catch (error) {
        expect(error).toBeInstanceOf(SinkOverflowError);
        overflow++;
      }
    }
    expect(overflow).toBeGreaterThan(0);
    expect(sink.backlog).toBe(30 - overflow);
    expect(sink.backlog).toBeLessThanOrEqual(15);
    // Retried for as long as it takes: nothing is dropped while the queue has room.
    await until(() => metrics.snapshot().retried >= 5);
    expect(metrics.snapshot().dropped).toBe(overflow);
    expect(sink.backlog).toBe(30 - overflow);
    expect(sink.lastError?.message).toMatch(/ECONNREFUSED|connect/i);
    await sink.close();
    const snap = metrics.snapshot();
    expect(snap.logged).toBe(0);
    expect(snap.dropped).toBe(30);
    expect(dropped).toHaveLength(30);
    expect(dropped.filter((r) => r === 'overflow')).toHaveLength(overflow);
    expect(dropped.filter((r) => r === 'shutdown')).toHaveLength(30 - overflow);
    expect(sink.stats).toEqual({ delivered: 0, rejected: 0, droppedOverflow: overflow, droppedShutdown: 30 - overflow });
    expect(logger.errors.length).toBeGreaterThan(0);
  });

  it('database down mid-traffic then back: failures are retried and flush on close delivers everything', async () => {
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const port = await proxy.up();
    const metrics = new PlanoutMetrics();
    const sink = createPostgresLogSink({
      connectionString: viaPort(port),
      table: `${schema}.outage`,
      connectionTimeoutMs: 500,
      queryTimeoutMs: 2000,
      batchSize: 10,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 50,
      shutdownTimeoutMs: 10_000,
      flushIntervalMs: 10,
      metrics,
      logger: new CapturingLogger(),
    });
    try {
      for (let i = 0; i < 25; i++) sink.write(record(i));
      await sink.flush();
      expect(metrics.snapshot().logged).toBe(25);

      await proxy.down();
      for (let i = 25; i < 60; i++) sink.write(record(i));
      await until(() => metrics.snapshot().retried >= 3);
      expect(sink.lastError?.message).toMatch(/ECONNREFUSED|connect/i);
      expect(sink.backlog).toBe(35);

      await proxy.up();
      for (let i = 60; i < 70; i++) sink.write(record(i));
      await sink.close();
    } finally {
      await proxy.down();
    }
    expect(sink.backlog).toBe(0);
    expect(metrics.snapshot()).toMatchObject({ logged: 70, dropped: 0 });
    const stored = await rows('outage');
    expect(stored.map((r) => Number(r.time) - 1_700_000_000)).toEqual(Array.from({ length: 70 }, (_, i) => i));
    expect(sink).toBeInstanceOf(BatchingSink);
  });
});
