import { describe, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PostgresDefinitionSource } from '../../src/postgres.js';
import { describeDefinitionStore } from '../support/definition-store-scenarios.js';

// The PostgreSQL store against the local server: a schema of its own per run, dropped after.
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `planout_defs_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
const table = `${schema}.definitions`;
const channel = `${schema}_changed`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });

describeDefinitionStore(
  'a PostgreSQL table (LISTEN/NOTIFY)',
  async () => {
    await admin.query(`CREATE SCHEMA "${schema}"`);
    return {
      atomic: true,
      async put(files) {
        // One transaction: one notification, and readers see all of it or none.
        const client = await admin.connect();
        try {
          await client.query('BEGIN');
          for (const [file, body] of Object.entries(files)) {
            const name = file.replace(/\.planout$/, '');
            await client.query(
              `INSERT INTO ${table} (kind, name, language, body) VALUES ('experiment', $1, 'planout', $2)
               ON CONFLICT (kind, name) DO UPDATE SET body = EXCLUDED.body, updated_at = now()`,
              [name, body],
            );
          }
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      },
      async remove(file) {
        await admin.query(`DELETE FROM ${table} WHERE kind = 'experiment' AND name = $1`, [file.replace(/\.planout$/, '')]);
      },
      // Polling far apart: changes must arrive through NOTIFY to pass the 2 s bound.
      source: () => new PostgresDefinitionSource({ connectionString: DATABASE_URL, table, channel, pollIntervalMs: 60_000 }),
    };
  },
  async () => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  },
);

describe('PostgresDefinitionSource, PostgreSQL unreachable', () => {
  it('the app starts anyway within the connect timeout, with the source error in health', async () => {
    const { bootWithUnreachableSource } = await import('../support/definition-store-scenarios.js');
    const { closedPort } = await import('./support/tcp-proxy.js');
    const port = await closedPort();
    await bootWithUnreachableSource(
      new PostgresDefinitionSource({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectTimeoutMs: 300, pollIntervalMs: 0 }),
    );
  });
});

describe('PostgresDefinitionSource, outages', () => {
  it('boots with PostgreSQL down and serves once it is back; a change made during an outage is read on reconnect', async () => {
    const { recoversAfterOutage } = await import('../support/definition-store-scenarios.js');
    const { TcpProxy } = await import('./support/tcp-proxy.js');
    const target = new URL(DATABASE_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
    const port = await proxy.up();
    const outageSchema = `${schema}_outage`;
    // Its own pool: the store suite's is closed by then.
    const db = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
    await db.query(`CREATE SCHEMA IF NOT EXISTS "${outageSchema}"`);
    const outageTable = `${outageSchema}.definitions`;
    // The table exists before the app boots (its own migration cannot run while the proxy is down).
    const { planoutDefinitionsMigrationSql } = await import('../../src/postgres.js');
    await db.query(planoutDefinitionsMigrationSql(outageTable, `${outageSchema}_changed`));
    const proxied = new URL(DATABASE_URL);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(port);
    try {
      await recoversAfterOutage({
        proxy,
        source: () =>
          new PostgresDefinitionSource({ connectionString: proxied.toString(), table: outageTable, channel: `${outageSchema}_changed`, pollIntervalMs: 0, connectTimeoutMs: 300 }),
        put: async (body) => {
          await db.query(
            `INSERT INTO ${outageTable} (kind, name, language, body) VALUES ('experiment', 'outage', 'planout', $1)
             ON CONFLICT (kind, name) DO UPDATE SET body = EXCLUDED.body`,
            [body],
          );
        },
      });
    } finally {
      await proxy.down();
      await db.query(`DROP SCHEMA IF EXISTS "${outageSchema}" CASCADE`);
      await db.end();
    }
  }, 40_000);
});
