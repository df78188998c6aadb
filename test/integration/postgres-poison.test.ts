import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { PlanoutMetrics } from '../../src/nest/planout-metrics.js';
import type { DropReason } from '../../src/nest/sinks/batching.sink.js';
import { createPostgresLogSink, PostgresSink } from '../../src/nest/sinks/postgres.sink.js';
import { CapturingLogger, record } from '../unit/sinks/fixtures.js';
import { closedPort } from './support/tcp-proxy.js';

// Issue 9, defect 2, at the sink: records PostgreSQL refuses (SQLSTATE class 22) are
// isolated by splitting their batch; every other record is stored.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `planout_poison_${randomBytes(6).toString('hex')}`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });

beforeAll(async () => {
  await admin.query(`CREATE SCHEMA ${schema}`);
});

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('PostgresSink data errors (real PostgreSQL)', () => {
  it("classifies the server's refusals of data as data errors, and an unreachable server as transient", async () => {
    const sink = new PostgresSink({ pool: admin, createTable: false });
    // What the sink would send for a lone surrogate if it did not sanitize it.
    const surrogate = await errorOf(admin.query('SELECT $1::jsonb', ['{"amount":"\\ud800"}']));
    expect((surrogate as { code: string }).code).toBe('22P02');
    expect(sink.isDataError(surrogate)).toBe(true);
    const range = await errorOf(admin.query('SELECT $1::bigint', ['100000000000000000000']));
    expect((range as { code: string }).code).toBe('22003');
    expect(sink.isDataError(range)).toBe(true);
    const missing = await errorOf(admin.query(`SELECT * FROM ${schema}.no_such_table`));
    expect(sink.isDataError(missing)).toBe(false);
    const refusing = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/test` });
    const refused = await errorOf(refusing.query('SELECT 1'));
    await refusing.end();
    expect(sink.isDataError(refused)).toBe(false);
  });

  it('stores a lone surrogate and U+0000 as U+FFFD instead of failing the batch', async () => {
    const metrics = new PlanoutMetrics();
    const sink = createPostgresLogSink({ connectionString: DATABASE_URL, table: `${schema}.sanitized`, metrics, logger: new CapturingLogger() });
    sink.write(record(1, { event: 'conversion', extra_data: { amount: '\ud800', note: 'a\u0000b', emoji: '\ud83d\ude00' } }));
    sink.write(record(2, { name: 'Exp\udfff' }));
    await sink.close();
    const result = await admin.query<{ name: string; record: PlanoutLogRecord }>(`SELECT name, record FROM ${schema}.sanitized ORDER BY id`);
    expect(result.rows.map((r) => r.record.extra_data ?? null)).toEqual([{ amount: '\ufffd', note: 'a\ufffdb', emoji: '\ud83d\ude00' }, null]);
    expect(result.rows[1]!.name).toBe('Exp\ufffd');
    expect(metrics.snapshot()).toMatchObject({ logged: 2, rejected: 0, dropped: 0 });
  });

  it('poison records at 1/s for 25 s among 200 records/s: every other record stored, the poison ones counted rejected', async () => {
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const refused: { record: PlanoutLogRecord; reason: DropReason }[] = [];
    const sink = createPostgresLogSink({
      connectionString: DATABASE_URL,
      table: `${schema}.poison`,
      metrics,
      logger,
      onDrop: (records, reason) => refused.push(...records.map((r) => ({ record: r, reason }))),
    });
    const good: number[] = [];
    const poison: number[] = [];
    const started = Date.now();
    for (let second = 0; second < 25; second++) {
      for (let i = 0; i < 200; i++) {
        const id = second * 1000 + i;
        if (i === 100) {
          // Values PostgreSQL refuses: a time beyond bigint (22003), a number beyond numeric (22003).
          poison.push(id);
          sink.write(
            second % 2 === 0
              ? record(id, { name: 'Poison', event: 'conversion', time: 1e20, inputs: { userid: id } })
              : record(id, { name: 'Poison', event: 'conversion', inputs: { userid: id }, extra_data: { amount: BigInt('9'.repeat(140_000)) } }),
          );
        }
        good.push(id);
        sink.write(record(id, { inputs: { userid: id }, time: 1_700_000_000 + second }));
      }
      const wait = started + (second + 1) * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await sink.close();

    const rows = await admin.query<{ unit: number }>(`SELECT (record->'inputs'->>'userid')::int AS unit FROM ${schema}.poison ORDER BY id`);
    const stored = rows.rows.map((r) => r.unit);
    expect(good).toHaveLength(5000);
    expect(poison).toHaveLength(25);
    // Every good record exactly once, in order; none of the poison ones.
    expect(stored).toEqual(good);
    expect(refused.map((r) => r.reason)).toEqual(Array(25).fill('invalid'));
    expect(refused.map((r) => r.record.inputs.userid)).toEqual(poison);
    expect(metrics.snapshot()).toMatchObject({ logged: 5000, rejected: 25, dropped: 0, retried: 0 });
    expect(sink.stats).toEqual({ delivered: 5000, rejected: 25, droppedOverflow: 0, droppedShutdown: 0 });
    expect(logger.errors[0]).toMatch(/PostgresSink: rejected a "conversion" record of "Poison": the destination refused its data: value "100000000000000000000" is out of range for type bigint/);
    expect(logger.errors.at(-1)).toBe('PostgresSink: closed; 5000 records delivered, 0 dropped (0 queue full, 0 at shutdown), 25 rejected as invalid');
    process.stdout.write(`poison at the sink: ${good.length} good records stored of ${good.length}, ${poison.length} poison rejected, ${metrics.snapshot().dropped} dropped\n`);
  }, 60_000);
});
