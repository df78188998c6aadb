import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { JsonLinesFileSink, PlanoutMetrics } from '../../src/index.js';
import { createPostgresLogSink } from '../../src/nest/sinks/postgres.sink.js';
import type { LogSink } from '../../src/nest/log-sink.interface.js';
import { CapturingLogger } from '../unit/sinks/fixtures.js';
import { get, startFaultApp, units } from './support/fault-app.js';
import { buildSampleApp, exp1ExposureUnits, removeSampleApp } from './support/sample-build.js';
import { startSample } from './support/sample-process.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `planout_shutdown_${randomBytes(6).toString('hex')}`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
const root = process.cwd();
let sampleOut: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'planout-shutdown-'));
  await admin.query(`CREATE SCHEMA ${schema}`);
  sampleOut = await buildSampleApp(root);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await removeSampleApp(sampleOut);
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

async function tableUnits(table: string): Promise<string[]> {
  const result = await admin.query<{ unit: string }>(
    `SELECT record->'inputs'->>'userid' AS unit FROM ${schema}.${table} WHERE name = 'Exp1' AND event = 'exposure'`,
  );
  return result.rows.map((r) => r.unit);
}

/**
 * Fires requests for distinct units (`concurrency` in flight) at `/path?userid=` until
 * `all` are sent; calls `stop` once `stopAfter` have answered 200. The units answered 200.
 */
async function loadAndStop(base: string, route: string, all: string[], stopAfter: number, stop: () => void, concurrency = 24): Promise<string[]> {
  const ok: string[] = [];
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (next < all.length) {
      const unit = all[next++]!;
      if ((await get(`${base}/${route}?userid=${unit}`)) === 200) ok.push(unit);
      if (!stopped && ok.length >= stopAfter) {
        stopped = true;
        stop();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  expect(stopped).toBe(true);
  return ok;
}

describe('app.close() during load (in-process Nest app)', () => {
  const variants: [string, (metrics: PlanoutMetrics) => LogSink, () => Promise<string[]>][] = [
    ['JSON lines', (metrics) => new JsonLinesFileSink({ path: path.join(dir, 'close.jsonl'), metrics }), () => exp1ExposureUnits(path.join(dir, 'close.jsonl'))],
    [
      'PostgreSQL',
      (metrics) =>
        createPostgresLogSink({ connectionString: DATABASE_URL, table: `${schema}.close_log`, batchSize: 50, metrics, logger: new CapturingLogger() }),
      () => tableUnits('close_log'),
    ],
  ];

  it.each(variants)('%s: every record accepted before close is in the sink afterwards', async (_, makeSink, stored) => {
    const metrics = new PlanoutMetrics();
    const { app, url } = await startFaultApp({ metrics, logSink: makeSink(metrics) });
    let closing: Promise<void> | undefined;
    const ok = await loadAndStop(url, 'param', units('close', 600), 150, () => {
      closing = app.close();
    });
    await closing;
    expect(ok.length).toBeGreaterThanOrEqual(150);
    const found = new Set(await stored());
    expect(ok.filter((u) => !found.has(u))).toEqual([]);
    expect(metrics.snapshot()).toMatchObject({ dropped: 0, failed: 0 });
  }, 60_000); // Boots an app, serves 150+ requests and drains the sink: seconds on a loaded machine.
});

describe('SIGTERM during load (the compiled sample app as a child process)', () => {
  async function runSample(env: Record<string, string>, check: () => Promise<string[]>): Promise<{ ok: number; exit: { code: number | null; signal: NodeJS.Signals | null } }> {
    const sample = await startSample(sampleOut, dir, env);

    const ok = await loadAndStop(sample.base, 'exp1', units('sigterm', 1500), 300, () => sample.child.kill('SIGTERM'));
    const exit = await sample.exited;
    const output = sample.output();
    const found = new Set(await check());
    expect(ok.filter((u) => !found.has(u))).toEqual([]);
    expect(ok.length).toBeGreaterThanOrEqual(300);
    expect(output).not.toMatch(/dropped|rejected/);
    return { ok: ok.length, exit };
  }

  it('JSON lines: every unit answered 200 has its exposure in the file after the process exits', async () => {
    const file = path.join(dir, 'sigterm.jsonl');
    const { exit } = await runSample({ PLANOUT_LOG_FILE: file }, () => exp1ExposureUnits(file));
    // Nest runs the shutdown hooks, then re-raises the signal to end the process.
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
  }, 60_000);

  it('PostgreSQL: every unit answered 200 has its exposure in the table after the process exits', async () => {
    const url = new URL(DATABASE_URL);
    // The sample's default table, created in this run's schema.
    url.searchParams.set('options', `-c search_path=${schema}`);
    const { exit } = await runSample({ DATABASE_URL: url.toString(), PLANOUT_LOG_FILE: path.join(dir, 'unused.jsonl') }, () => tableUnits('planout_log'));
    // Nest runs the shutdown hooks, then re-raises the signal to end the process.
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
  }, 60_000);
});
