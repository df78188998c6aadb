import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from '@keyv/redis';
import type { PlanoutLogRecord } from '../../src/core/log-record.js';
import { exposureRecordId } from '../../src/nest/record-id.js';
import { get, units } from './support/fault-app.js';
import { assignmentOf, byId, MockKafkaCluster } from './support/kafka-mock.js';
import { buildSampleApp, removeSampleApp } from './support/sample-build.js';
import { closedPort, until } from './support/tcp-proxy.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `planout-test:${randomBytes(6).toString('hex')}:`;
const root = process.cwd();
let cluster: MockKafkaCluster;
let sampleOut: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'planout-kafka-'));
  [cluster, sampleOut] = await Promise.all([MockKafkaCluster.start(3), buildSampleApp(root)]);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
  if (sampleOut !== undefined) await removeSampleApp(sampleOut);
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    if (keys.length) await client.del(keys);
  }
  await client.quit();
});

interface Instance {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The compiled sample app with its sink switched to Kafka (`PLANOUT_KAFKA_BROKERS`). */
async function startSample(topic: string, env: Record<string, string> = {}): Promise<Instance> {
  const port = await closedPort();
  const child = spawn(process.execPath, [path.join(sampleOut, 'sample-app/main.js')], {
    cwd: dir,
    env: {
      ...process.env,
      PORT: String(port),
      REDIS_URL: '',
      DATABASE_URL: '',
      PLANOUT_LOG_FILE: path.join(dir, 'unused.jsonl'),
      PLANOUT_KAFKA_BROKERS: cluster.bootstrap,
      PLANOUT_KAFKA_TOPIC: topic,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await until(() => output.includes('listening on') || child.exitCode !== null, 20_000);
  expect(child.exitCode).toBeNull();
  return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited };
}

async function exp1Exposures(topic: string): Promise<PlanoutLogRecord[]> {
  return (await cluster.consume(topic)).map((m) => m.record).filter((r) => r.name === 'Exp1' && r.event === 'exposure');
}

/** Every group of records sharing an id holds one assignment, and the id is that assignment's. */
function expectDuplicatesOnly(records: readonly PlanoutLogRecord[]): Map<string, PlanoutLogRecord[]> {
  const groups = byId(records);
  for (const [id, group] of groups) {
    expect(new Set(group.map(assignmentOf)).size).toBe(1);
    expect(id).toBe(exposureRecordId(group[0]!));
  }
  return groups;
}

describe('the compiled sample app producing to Kafka (PLANOUT_KAFKA_BROKERS)', () => {
  it('load then SIGTERM: every unit answered 200 has its exposure in the topic; same id = duplicate only', async () => {
    const app = await startSample('sigterm');
    const all = units('sigterm', 1500);
    const ok: string[] = [];
    let next = 0;
    let stopped = false;
    const worker = async (): Promise<void> => {
      while (next < all.length) {
        const unit = all[next++]!;
        if ((await get(`${app.base}/exp1?userid=${unit}`)) === 200) ok.push(unit);
        if (!stopped && ok.length >= 300) {
          stopped = true;
          app.child.kill('SIGTERM');
        }
      }
    };
    await Promise.all(Array.from({ length: 24 }, worker));
    const exit = await app.exited;

    const stored = await exp1Exposures('sigterm');
    const groups = expectDuplicatesOnly(stored);
    const found = new Set(stored.map((r) => String(r.inputs.userid)));
    console.log(`Kafka SIGTERM: ${ok.length} answered 200, ${stored.length} exposures in the topic, ${groups.size} distinct ids`);
    expect(stopped).toBe(true);
    expect(ok.length).toBeGreaterThanOrEqual(300);
    expect(ok.filter((u) => !found.has(u))).toEqual([]);
    // Nest runs the shutdown hooks (flush, close the producer), then re-raises the signal.
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(app.output()).not.toMatch(/dropped|rejected/);
    expect(app.output()).toContain('did not grant an idempotent producer');
  }, 60_000);

  it('three processes on one Redis and one cluster: after deduplicating by id, exactly one exposure per unit', async () => {
    const env = { REDIS_URL, PLANOUT_REDIS_PREFIX: prefix };
    const apps = await Promise.all([startSample('multi', env), startSample('multi', env), startSample('multi', env)]);
    const all = units('multi', 200);
    try {
      let next = 0;
      // Every unit hits the three processes at once: they race on the shared Redis.
      const worker = async (): Promise<void> => {
        while (next < all.length) {
          const unit = all[next++]!;
          const statuses = await Promise.all(apps.map((a) => get(`${a.base}/exp1?userid=${unit}`)));
          expect(statuses).toEqual([200, 200, 200]);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      // A second pass: every process now finds each unit's mark in Redis.
      for (const unit of all.slice(0, 50)) expect(await get(`${apps[(all.indexOf(unit) + 1) % 3]!.base}/exp1?userid=${unit}`)).toBe(200);
    } finally {
      for (const a of apps) a.child.kill('SIGTERM');
      await Promise.all(apps.map((a) => a.exited));
    }
    const stored = await exp1Exposures('multi');
    const groups = expectDuplicatesOnly(stored);
    const idsByUnit = new Map<string, Set<string>>();
    for (const r of stored) {
      const unit = String(r.inputs.userid);
      if (!idsByUnit.has(unit)) idsByUnit.set(unit, new Set());
      idsByUnit.get(unit)!.add(r.id!);
    }
    console.log(`Kafka 3 processes: ${all.length} units, ${stored.length} exposure records, ${groups.size} after dedupe by id`);
    expect(groups.size).toBe(all.length);
    expect([...idsByUnit.keys()].sort()).toEqual([...all].sort());
    expect([...idsByUnit.values()].every((ids) => ids.size === 1)).toBe(true);
    for (const a of apps) expect(a.output()).not.toMatch(/dropped|rejected/);
  }, 90_000);
});
