import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { get, units } from './support/fault-app.js';
import { buildSampleApp, removeSampleApp } from './support/sample-build.js';
import { databaseUrl, killSample, sinkSummary, startSample, type SampleProcess } from './support/sample-process.js';
import { TcpProxy, until } from './support/tcp-proxy.js';

// SIGTERM to the compiled sample app (PostgreSQL sink, default options, the database
// behind a TCP proxy) in each state of its sink. Whatever the state, every record is
// either in the table or counted in the sink's closing summary: sent = stored + dropped.

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const target = new URL(DATABASE_URL);
const run = `planout_sigterm_${randomBytes(5).toString('hex')}`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
const schemas: string[] = [];
let sampleOut: string;
let dir: string;
let proxy: TcpProxy;
let sample: SampleProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'planout-sigterm-'));
  sampleOut = await buildSampleApp(process.cwd());
}, 120_000);

afterEach(async () => {
  await killSample(sample);
  sample = undefined;
  await proxy?.down();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await removeSampleApp(sampleOut);
  // Each dropped on its own: one failure must not leave the others behind.
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((error: unknown) => console.error(error));
  await admin.end();
});

/** A fresh schema, a proxy to PostgreSQL, and the sample app logging through it. */
async function start(state: string, env: Record<string, string> = {}): Promise<{ schema: string; app: SampleProcess }> {
  const schema = `${run}_${state}`;
  schemas.push(schema);
  await admin.query(`CREATE SCHEMA ${schema}`);
  proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.up();
  sample = await startSample(sampleOut, dir, {
    DATABASE_URL: databaseUrl(DATABASE_URL, schema, proxy.port),
    PLANOUT_LOG_FILE: path.join(dir, `${state}.jsonl`),
    ...env,
  });
  return { schema, app: sample };
}

async function stored(schema: string): Promise<string[]> {
  const result = await admin
    .query<{ unit: string }>(`SELECT record->'inputs'->>'userid' AS unit FROM ${schema}.planout_log WHERE name = 'Exp1' AND event = 'exposure'`)
    .catch(() => ({ rows: [] as { unit: string }[] }));
  return result.rows.map((r) => r.unit);
}

/** GET /exp1 for each unit (one Exp1 exposure each); the units answered 200. */
async function expose(base: string, list: string[], concurrency = 16): Promise<string[]> {
  const ok: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const unit = list[next++]!;
      if ((await get(`${base}/exp1?userid=${unit}`)) === 200) ok.push(unit);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ok;
}

async function health(base: string): Promise<{ writePendingMs: number | null; backlog: number | null }> {
  const res = await fetch(`${base}/health`);
  const body = (await res.json()) as { info?: Record<string, unknown>; error?: Record<string, unknown> };
  return (body.info?.planout ?? body.error?.planout) as { writePendingMs: number | null; backlog: number | null };
}

/** Warms the app up: the table exists and `n` exposures are in it. */
async function warmUp(schema: string, app: SampleProcess, n = 20): Promise<string[]> {
  const warm = await expose(app.base, units(`${schema}-warm`, n));
  expect(warm).toHaveLength(n);
  await until(async () => (await stored(schema)).length === n, 15_000);
  return warm;
}

/**
 * SIGTERM, then the accounting: the process ends by the signal, its last sink line
 * accounts for every record, and stored + dropped = sent, exactly.
 */
async function terminateAndAccount(schema: string, app: SampleProcess, sent: string[]) {
  const started = Date.now();
  app.child.kill('SIGTERM');
  const exit = await app.exited;
  const tookMs = Date.now() - started;
  expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
  const summary = sinkSummary(app.output());
  expect(summary).toBeDefined();
  const rows = await stored(schema);
  const distinct = new Set(rows);
  expect(distinct.size).toBe(summary!.delivered);
  expect(rows.length).toBe(distinct.size);
  expect(summary!.delivered + summary!.droppedOverflow + summary!.droppedShutdown + summary!.rejected).toBe(sent.length);
  for (const unit of distinct) expect(sent).toContain(unit);
  process.stdout.write(
    `SIGTERM ${schema.slice(run.length + 1)}: sent ${sent.length}, stored ${distinct.size}, dropped ${summary!.droppedOverflow} (queue full) + ${summary!.droppedShutdown} (shutdown), rejected ${summary!.rejected}, exit after ${tookMs} ms\n`,
  );
  return { summary: summary!, tookMs, output: app.output() };
}

describe('SIGTERM to the sample app in each state of its PostgreSQL sink', () => {
  it('idle: everything was delivered; the sink says so and exits by the signal', async () => {
    const { schema, app } = await start('idle');
    const sent = await warmUp(schema, app, 50);
    const { summary, output } = await terminateAndAccount(schema, app, sent);
    expect(summary).toEqual({ delivered: 50, droppedOverflow: 0, droppedShutdown: 0, rejected: 0 });
    expect(output).not.toMatch(/dropped \d+ records/);
  }, 60_000);

  it('batch in flight (database stalled), recovering during shutdown: delivered within the shutdown timeout', async () => {
    const { schema, app } = await start('inflight');
    const warm = await warmUp(schema, app);
    proxy.stall();
    const during = await expose(app.base, units(`${schema}-during`, 150));
    expect(during).toHaveLength(150);
    await until(async () => ((await health(app.base)).writePendingMs ?? 0) > 200, 10_000);
    const pending = app.child.exitCode;
    expect(pending).toBeNull();
    // The hung connection breaks a second into the shutdown; the retry finds PostgreSQL back.
    setTimeout(() => void proxy.down().then(() => proxy.up()), 1000);
    const { summary } = await terminateAndAccount(schema, app, [...warm, ...during]);
    expect(summary).toEqual({ delivered: 170, droppedOverflow: 0, droppedShutdown: 0, rejected: 0 });
  }, 60_000);

  it('batch in flight (database stalled throughout): dropped past the timeouts, counted and logged', async () => {
    const { schema, app } = await start('hung');
    const warm = await warmUp(schema, app);
    proxy.stall();
    const during = await expose(app.base, units(`${schema}-during`, 150));
    expect(during).toHaveLength(150);
    await until(async () => ((await health(app.base)).writePendingMs ?? 0) > 200, 10_000);
    const { summary, output } = await terminateAndAccount(schema, app, [...warm, ...during]);
    expect(summary).toEqual({ delivered: 20, droppedOverflow: 0, droppedShutdown: 150, rejected: 0 });
    expect(output).toMatch(/PostgresSink: dropped \d+ records, not delivered before shutdown/);
  }, 60_000);

  it('waiting to retry (database refusing connections), back during shutdown: delivered within the shutdown timeout', async () => {
    const { schema, app } = await start('retry_back');
    const warm = await warmUp(schema, app);
    await proxy.down();
    const during = await expose(app.base, units(`${schema}-during`, 200));
    expect(during).toHaveLength(200);
    await until(() => /retrying in \d+ms/.test(app.output()), 10_000);
    setTimeout(() => void proxy.up(), 1000);
    const { summary } = await terminateAndAccount(schema, app, [...warm, ...during]);
    expect(summary).toEqual({ delivered: 220, droppedOverflow: 0, droppedShutdown: 0, rejected: 0 });
  }, 60_000);

  it('waiting to retry (database refusing connections throughout): dropped after the shutdown timeout, counted and logged, never a silent exit', async () => {
    const { schema, app } = await start('retry');
    const warm = await warmUp(schema, app);
    await proxy.down();
    const during = await expose(app.base, units(`${schema}-during`, 200));
    expect(during).toHaveLength(200);
    await until(() => /retrying in \d+ms/.test(app.output()), 10_000);
    const { summary, tookMs, output } = await terminateAndAccount(schema, app, [...warm, ...during]);
    expect(summary).toEqual({ delivered: 20, droppedOverflow: 0, droppedShutdown: 200, rejected: 0 });
    expect(output).toMatch(/PostgresSink: dropped \d+ records, not delivered before shutdown/);
    // It waited for the shutdown timeout (5 s by default) instead of exiting at once, and
    // no longer than the timeout plus the bound of the batch in flight (writeTimeoutMs, 10 s).
    expect(tookMs).toBeGreaterThan(4000);
    expect(tookMs).toBeLessThan(15_000);
  }, 60_000);

  it('queue full (database refusing connections): overflow and shutdown drops both counted, and logged', async () => {
    const { schema, app } = await start('full', { PLANOUT_MAX_QUEUE: '50' });
    const warm = await warmUp(schema, app);
    await proxy.down();
    const during = await expose(app.base, units(`${schema}-during`, 300), 4);
    // Requests never fail because the log is full.
    expect(during).toHaveLength(300);
    // Exposures reach the sink in batches a few ms after their responses: read the counters
    // once all 320 (warm-up included) were accepted or refused.
    let metrics: Record<string, number> = {};
    await until(async () => {
      metrics = (await (await fetch(`${app.base}/metrics/json`)).json()) as Record<string, number>;
      return metrics.accepted! + metrics.failed! === warm.length + during.length;
    }, 10_000);
    expect(metrics.dropped).toBeGreaterThan(0);
    expect(metrics.failed).toBe(metrics.dropped);
    await until(() => /retrying in \d+ms/.test(app.output()), 10_000);
    const { summary, output } = await terminateAndAccount(schema, app, [...warm, ...during]);
    expect(summary.delivered).toBe(20);
    expect(summary.droppedOverflow).toBe(metrics.dropped);
    expect(summary.droppedShutdown).toBe(300 - metrics.dropped);
    expect(output).toMatch(/queue full \(50 records\)/);
  }, 60_000);
});
