import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { BatchingSink } from '../../../src/nest/sinks/batching.sink.js';
import { createPostgresLogSink, planoutLogMigrationSql, PostgresSink } from '../../../src/nest/sinks/postgres.sink.js';

describe('planoutLogMigrationSql', () => {
  it('creates the table and its three indexes idempotently', () => {
    const sql = planoutLogMigrationSql();
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "planout_log"');
    expect(sql).toMatch(/id bigserial PRIMARY KEY/);
    expect(sql).toMatch(/record jsonb NOT NULL/);
    expect(sql.match(/CREATE INDEX IF NOT EXISTS/g)).toHaveLength(3);
    expect(sql).toContain('"planout_log_time_idx" ON "planout_log" ("time")');
  });

  it('accepts schema.table and keeps index names within 63 characters', () => {
    const long = 't'.repeat(63);
    const sql = planoutLogMigrationSql(`analytics.${long}`);
    expect(sql).toContain(`"analytics"."${long}"`);
    for (const [, name] of sql.matchAll(/INDEX IF NOT EXISTS "([^"]+)"/g)) expect(name!.length).toBeLessThanOrEqual(63);
  });

  it.each(['', 'a.b.c', 'x; drop table y', '1abc', 'a-b', 'a"b', 'a.', 'x'.repeat(64)])('rejects the identifier %p', (name) => {
    expect(() => planoutLogMigrationSql(name)).toThrow(RangeError);
    expect(() => new PostgresSink({ table: name, pool: new pg.Pool() })).toThrow(RangeError);
  });
});

describe('PostgresSink construction', () => {
  it('does not connect before the first batch and does not end a pool it did not create', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    let ended = false;
    const end = pool.end.bind(pool);
    pool.end = (async () => {
      ended = true;
      await end();
    }) as typeof pool.end;
    const sink = new PostgresSink({ pool, table: 'a.b' });
    expect(sink.table).toBe('"a"."b"');
    await sink.close();
    expect(ended).toBe(false);
    await pool.end();
  });

  it('createPostgresLogSink returns a BatchingSink around a PostgresSink', async () => {
    const sink = createPostgresLogSink({ connectionString: 'postgres://nobody@127.0.0.1:1/none', batchSize: 7 });
    expect(sink).toBeInstanceOf(BatchingSink);
    expect(sink.inner).toBeInstanceOf(PostgresSink);
    await sink.close();
  });
});
