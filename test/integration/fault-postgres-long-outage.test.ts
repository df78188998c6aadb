import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { PlanoutMetrics } from '../../src/nest/planout-metrics.js';
import { createPostgresLogSink } from '../../src/nest/sinks/postgres.sink.js';
import type { BatchingSink } from '../../src/nest/sinks/batching.sink.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { get, startFaultApp } from './support/fault-app.js';
import { TcpProxy, until } from './support/tcp-proxy.js';

// Issue 9, defect 1: a 30 s outage at 200 records/s used to lose 700 records to a retry
// count. Now: 60 s of PostgreSQL refusing connections at 200 records/s, with the sink's
// default options, and every record is delivered after recovery.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const target = new URL(DATABASE_URL);
const schema = `planout_outage60_${randomBytes(6).toString('hex')}`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
const OUTAGE_MS = 60_000;
const PER_SECOND = 200;
let proxy: TcpProxy;
let app: INestApplication | undefined;

beforeAll(async () => {
  await admin.query(`CREATE SCHEMA ${schema}`);
  proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.up();
});

afterAll(async () => {
  await proxy.up().catch(() => undefined);
  await app?.close();
  agent.destroy();
  await proxy.down();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
}, 60_000);

async function storedUnits(): Promise<string[]> {
  const result = await admin
    .query<{ unit: string }>(`SELECT record->'inputs'->>'userid' AS unit FROM ${schema}.outage WHERE name = 'Exp1' AND event = 'exposure'`)
    .catch(() => ({ rows: [] as { unit: string }[] }));
  return result.rows.map((r) => r.unit);
}

// A bounded keep-alive pool without client-side timeouts: a busy shared machine may slow
// the answers, and the count of records sent must not depend on it.
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** GET `url`: the status code as text, or the error's code. Never rejects. */
function status(url: string): Promise<string> {
  return new Promise((resolve) => {
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
        res.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      })
      .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** Requests `/param` for new units at `perSecond` (in ticks of 50 ms) for `ms`; the units answered 200 and the count sent. */
async function paced(base: string, perSecond: number, ms: number): Promise<{ ok: string[]; sent: number; statuses: Map<string, number> }> {
  const ok: string[] = [];
  const statuses = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();
  const perTick = perSecond / 20;
  const start = Date.now();
  let sent = 0;
  for (let tick = 0; tick < ms / 50; tick++) {
    for (let i = 0; i < perTick; i++) {
      const unit = `u${sent++}`;
      const p = status(`${base}/param?userid=${unit}`).then((code) => {
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        if (code === '200') ok.push(unit);
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    const wait = start + (tick + 1) * 50 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inFlight);
  return { ok, sent, statuses };
}

describe('PostgreSQL refusing connections for 60 s at 200 records/s (default sink options, real Nest app)', () => {
  it('delivers every record after recovery: nothing dropped, nothing rejected', async () => {
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const url = new URL(DATABASE_URL);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    // Only where to write and what to report to: every delivery option is the default.
    const sink: BatchingSink = createPostgresLogSink({ connectionString: url.toString(), table: `${schema}.outage`, metrics, logger });
    let base: string;
    ({ app, url: base } = await startFaultApp({ metrics, logSink: sink }));

    expect(await get(`${base}/param?userid=warm`)).toBe(200);
    await until(async () => (await storedUnits()).length === 1, 15_000);

    await proxy.down();
    const outageStarted = Date.now();
    const { ok, sent, statuses } = await paced(base, PER_SECOND, OUTAGE_MS);
    expect(sent).toBe((PER_SECOND * OUTAGE_MS) / 1000);
    expect([...statuses]).toEqual([['200', sent]]);
    expect(ok).toHaveLength(sent);
    // Still down: nothing of the outage has landed, everything is queued.
    expect(await storedUnits()).toHaveLength(1);
    expect(sink.backlog).toBe(sent);
    expect(metrics.snapshot().dropped).toBe(0);
    await proxy.up();
    const outageMs = Date.now() - outageStarted;

    await until(() => sink.backlog === 0, 60_000);
    const stored = await storedUnits();
    const distinct = new Set(stored);
    expect(distinct.size).toBe(sent + 1);
    for (const unit of ok) expect(distinct.has(unit)).toBe(true);
    const snapshot = metrics.snapshot();
    expect(snapshot).toMatchObject({ accepted: sent + 1, dropped: 0, rejected: 0, failed: 0 });
    // Connections were refused, never cut mid-insert: no batch landed twice.
    expect(stored.length).toBe(sent + 1);
    expect(snapshot.logged).toBe(sent + 1);
    expect(sink.stats).toEqual({ delivered: sent + 1, rejected: 0, droppedOverflow: 0, droppedShutdown: 0 });
    expect(snapshot.retried).toBeGreaterThan(5);
    process.stdout.write(
      `long outage: ${sent} records sent during ${outageMs} ms of refused connections, ${distinct.size - 1} delivered after recovery, retried ${snapshot.retried} times, dropped ${snapshot.dropped}\n`,
    );
  }, 180_000);
});
