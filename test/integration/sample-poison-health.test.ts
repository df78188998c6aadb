import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient } from '@keyv/redis';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { get } from './support/fault-app.js';
import { buildSampleApp, removeSampleApp } from './support/sample-build.js';
import { databaseUrl, killSample, sinkSummary, startSample, type SampleProcess } from './support/sample-process.js';
import { TcpProxy, until } from './support/tcp-proxy.js';

// The compiled sample app over real HTTP, real PostgreSQL and real Redis: a poison
// request (issue 9, defect 2) and hung backends seen by /health (defect 7).

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = `planout_sample_${randomBytes(5).toString('hex')}`;
const redisPrefix = `${run}:`;
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
const schemas: string[] = [];
let sampleOut: string;
let dir: string;
let proxy: TcpProxy | undefined;
let sample: SampleProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'planout-sample-'));
  sampleOut = await buildSampleApp(process.cwd());
}, 120_000);

afterEach(async () => {
  await killSample(sample);
  sample = undefined;
  await proxy?.down();
  proxy = undefined;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await removeSampleApp(sampleOut);
  // Each dropped on its own: one failure must not leave the others behind.
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((error: unknown) => console.error(error));
  await admin.end();
  const redis = createClient({ url: REDIS_URL });
  await redis.connect();
  const keys: string[] = [];
  for await (const batch of redis.scanIterator({ MATCH: `${redisPrefix}*`, COUNT: 1000 })) keys.push(...batch);
  if (keys.length > 0) await redis.del(keys);
  redis.destroy();
});

async function newSchema(name: string): Promise<string> {
  const schema = `${run}_${name}`;
  schemas.push(schema);
  await admin.query(`CREATE SCHEMA ${schema}`);
  return schema;
}

async function post(url: string, body: string): Promise<number> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function metricsOf(base: string): Promise<Record<string, number>> {
  return (await (await fetch(`${base}/metrics/json`)).json()) as Record<string, number>;
}

interface HealthSample {
  at: number;
  status: string;
  reasons: string[];
  cacheConnected: boolean | null;
}

async function healthOf(base: string): Promise<HealthSample> {
  const res = await fetch(`${base}/health`);
  const body = (await res.json()) as { info?: Record<string, HealthSample>; error?: Record<string, HealthSample> };
  const planout = body.info?.planout ?? body.error?.planout;
  return { at: Date.now(), status: planout?.status ?? 'missing', reasons: planout?.reasons ?? [], cacheConnected: planout?.cacheConnected ?? null };
}

/** Runs `fn` every `everyMs` until `stop` resolves. */
async function every(everyMs: number, stop: Promise<unknown>, fn: () => Promise<void>): Promise<void> {
  let done = false;
  void stop.finally(() => (done = true));
  while (!done) {
    await fn();
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('a poison request through the sample app (POST /exp1/convert with a lone surrogate) into PostgreSQL', () => {
  it('at 1/s for 25 s among ordinary traffic: every record stored, the poison values as U+FFFD, nothing dropped or rejected', async () => {
    const schema = await newSchema('poison');
    sample = await startSample(sampleOut, dir, { DATABASE_URL: databaseUrl(DATABASE_URL, schema), PLANOUT_LOG_FILE: path.join(dir, 'poison.jsonl') });
    const base = sample.base;
    const exposures: string[] = [];
    const poisonUnits: string[] = [];
    const goodUnits: string[] = [];
    const started = Date.now();
    for (let second = 0; second < 25; second++) {
      const batch: Promise<void>[] = [];
      // The body is JSON text with the escape \ud800: JSON.parse gives a lone surrogate.
      const poisonUnit = `poison-${second}`;
      batch.push(post(`${base}/exp1/convert?userid=${poisonUnit}`, '{"amount":"\\ud800"}').then((s) => void (s === 200 && poisonUnits.push(poisonUnit))));
      const goodUnit = `buyer-${second}`;
      batch.push(post(`${base}/exp1/convert?userid=${goodUnit}`, JSON.stringify({ amount: second })).then((s) => void (s === 200 && goodUnits.push(goodUnit))));
      for (let i = 0; i < 40; i++) {
        const unit = `visitor-${second}-${i}`;
        batch.push(get(`${base}/exp1?userid=${unit}`).then((s) => void (s === 200 && exposures.push(unit))));
      }
      await Promise.all(batch);
      const wait = started + (second + 1) * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
    }
    expect(poisonUnits).toHaveLength(25);
    expect(goodUnits).toHaveLength(25);
    expect(exposures).toHaveLength(1000);

    await until(async () => {
      const m = await metricsOf(base);
      return m.accepted > 0 && m.logged === m.accepted;
    }, 20_000);
    const metrics = await metricsOf(base);
    expect(metrics).toMatchObject({ rejected: 0, dropped: 0, failed: 0 });
    sample.child.kill('SIGTERM');
    expect(await sample.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(sinkSummary(sample.output())).toEqual({ delivered: metrics.accepted, droppedOverflow: 0, droppedShutdown: 0, rejected: 0 });

    const rows = await admin.query<{ event: string; unit: string; amount: unknown }>(
      `SELECT event, record->'inputs'->>'userid' AS unit, record->'extra_data'->'amount' AS amount FROM ${schema}.planout_log WHERE name = 'Exp1'`,
    );
    const total = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.planout_log`);
    expect(total.rows[0]!.n).toBe(metrics.accepted);
    const conversions = rows.rows.filter((r) => r.event === 'conversion');
    expect(conversions.filter((r) => r.unit.startsWith('poison-')).map((r) => r.amount)).toEqual(Array(25).fill('\ufffd'));
    expect(new Set(conversions.filter((r) => r.unit.startsWith('buyer-')).map((r) => r.unit))).toEqual(new Set(goodUnits));
    const exposed = new Set(rows.rows.filter((r) => r.event === 'exposure').map((r) => r.unit));
    for (const unit of exposures) expect(exposed.has(unit)).toBe(true);
    process.stdout.write(
      `poison over HTTP: ${metrics.accepted} records accepted, ${total.rows[0]!.n} stored (${exposures.length} visitor exposures, 25 + 25 conversions, the 25 poison amounts as U+FFFD), rejected ${metrics.rejected}, dropped ${metrics.dropped}\n`,
    );
  }, 90_000);
});

describe('/health of the sample app while a backend hangs (accepts connections, never answers)', () => {
  it('Redis stalled for 20 s: degraded within seconds although the cache still reports connected; every request served', async () => {
    proxy = new TcpProxy(new URL(REDIS_URL).hostname, Number(new URL(REDIS_URL).port || 6379));
    await proxy.up();
    sample = await startSample(sampleOut, dir, {
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      PLANOUT_REDIS_PREFIX: redisPrefix,
      PLANOUT_LOG_FILE: path.join(dir, 'redis-stall.jsonl'),
    });
    const base = sample.base;
    await until(async () => (await healthOf(base)).cacheConnected === true, 10_000);
    let n = 0;
    const statuses: number[] = [];
    const traffic = async () => {
      const round = Array.from({ length: 5 }, () => get(`${base}/exp1?userid=r${n++}`).then((s) => void statuses.push(s)));
      await Promise.all(round);
    };
    for (let i = 0; i < 10; i++) await traffic();
    expect((await healthOf(base)).status).toBe('up');

    proxy.stall();
    const stalledAt = Date.now();
    const stallOver = sleep(20_000);
    const samples: HealthSample[] = [];
    await Promise.all([every(50, stallOver, traffic), every(250, stallOver, async () => void samples.push(await healthOf(base)))]);

    const firstDegraded = samples.findIndex((s) => s.status === 'degraded');
    expect(firstDegraded).toBeGreaterThanOrEqual(0);
    const detectedAfterMs = samples[firstDegraded]!.at - stalledAt;
    // Liveness bound, loosely: well before the stall ends (it used to stay `up` throughout).
    expect(detectedAfterMs).toBeLessThan(5000);
    const after = samples.slice(firstDegraded);
    expect(after.every((s) => s.status === 'degraded')).toBe(true);
    // Not from the connection state: the hung connection still looks open.
    expect(after.every((s) => s.cacheConnected === true)).toBe(true);
    expect(after.at(-1)!.reasons.join('; ')).toMatch(/exposure cache failing: \d+ of \d+ operations in the last 10s failed \(\d+ timed out\)/);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const metrics = await metricsOf(base);
    expect(metrics.cacheErrors).toBeGreaterThan(100);
    process.stdout.write(
      `redis stall: degraded ${detectedAfterMs} ms after the stall began, ${after.length}/${after.length} later samples degraded, ${statuses.length} requests all 200, cacheErrors ${metrics.cacheErrors}\n`,
    );
  }, 60_000);

  it('PostgreSQL stalled: degraded within seconds (a write pending), and every record delivered once it answers again', async () => {
    const schema = await newSchema('pgstall');
    proxy = new TcpProxy(new URL(DATABASE_URL).hostname, Number(new URL(DATABASE_URL).port || 5432));
    await proxy.up();
    sample = await startSample(sampleOut, dir, { DATABASE_URL: databaseUrl(DATABASE_URL, schema, proxy.port), PLANOUT_LOG_FILE: path.join(dir, 'pg-stall.jsonl') });
    const base = sample.base;
    let n = 0;
    const sent: string[] = [];
    const traffic = async () => {
      const round = Array.from({ length: 10 }, () => {
        const unit = `p${n++}`;
        return get(`${base}/exp1?userid=${unit}`).then((s) => void (s === 200 && sent.push(unit)));
      });
      await Promise.all(round);
    };
    for (let i = 0; i < 5; i++) await traffic();
    await until(async () => (await metricsOf(base)).logged === 50, 10_000);
    expect((await healthOf(base)).status).toBe('up');

    proxy.stall();
    const stalledAt = Date.now();
    const stallOver = sleep(8000);
    const samples: HealthSample[] = [];
    await Promise.all([every(50, stallOver, traffic), every(250, stallOver, async () => void samples.push(await healthOf(base)))]);
    const firstDegraded = samples.findIndex((s) => s.status === 'degraded');
    expect(firstDegraded).toBeGreaterThanOrEqual(0);
    const detectedAfterMs = samples[firstDegraded]!.at - stalledAt;
    expect(detectedAfterMs).toBeLessThan(5000);
    expect(samples.slice(firstDegraded).every((s) => s.status === 'degraded')).toBe(true);
    expect(samples[firstDegraded]!.reasons.join('; ')).toMatch(/sink stalled: a write has been pending for \d+ms/);

    // The hung connections break; PostgreSQL answers again.
    await proxy.down();
    await proxy.up();
    await until(async () => {
      const m = await metricsOf(base);
      return m.logged >= m.accepted && m.accepted === sent.length;
    }, 30_000);
    sample.child.kill('SIGTERM');
    expect(await sample.exited).toEqual({ code: null, signal: 'SIGTERM' });
    const rows = await admin.query<{ unit: string }>(`SELECT record->'inputs'->>'userid' AS unit FROM ${schema}.planout_log`);
    const stored = new Set(rows.rows.map((r) => r.unit));
    // At-least-once: a batch cut mid-insert may land twice, but every unit is there.
    expect(stored).toEqual(new Set(sent));
    const summary = sinkSummary(sample.output());
    expect(summary).toMatchObject({ droppedOverflow: 0, droppedShutdown: 0, rejected: 0 });
    process.stdout.write(
      `postgres stall: degraded ${detectedAfterMs} ms after the stall began; ${sent.length} records sent, ${stored.size} distinct stored (${rows.rows.length} rows), dropped 0\n`,
    );
  }, 90_000);
});
