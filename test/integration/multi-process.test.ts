import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from '@keyv/redis';
import { get } from './support/fault-app.js';
import { buildSampleApp, exp1ExposureUnits, removeSampleApp } from './support/sample-build.js';
import { closedPort, until } from './support/tcp-proxy.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `planout-test:${randomBytes(6).toString('hex')}:`;
const root = process.cwd();
let sampleOut: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'planout-multi-'));
  sampleOut = await buildSampleApp(root);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await removeSampleApp(sampleOut);
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
  logFile: string;
  exited: Promise<unknown>;
}

async function startInstance(name: string): Promise<Instance> {
  const port = await closedPort();
  const logFile = path.join(dir, `${name}.jsonl`);
  const child = spawn(process.execPath, [path.join(sampleOut, 'sample-app/main.js')], {
    cwd: dir,
    env: { ...process.env, PORT: String(port), PLANOUT_LOG_FILE: logFile, REDIS_URL, PLANOUT_REDIS_PREFIX: prefix, DATABASE_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await until(() => output.includes('listening on') || child.exitCode !== null, 20_000);
  expect(child.exitCode).toBeNull();
  return { child, base: `http://127.0.0.1:${port}`, logFile, exited };
}

/** Exposure marks in Redis under this run's prefix. */
async function markCount(): Promise<number> {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  let count = 0;
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) count += keys.length;
  await client.quit();
  return count;
}

async function requestAll(base: string, units: string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < units.length) expect(await get(`${base}/exp1?userid=${units[next++]}`)).toBe(200);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

describe('two app processes sharing one Redis (the compiled sample app)', () => {
  it('log one exposure per unit between them', async () => {
    const [a, b] = await Promise.all([startInstance('a'), startInstance('b')]);
    try {
      const units = Array.from({ length: 120 }, (_, i) => `multi-${i}`);
      await requestAll(a.base, units);
      // The marks are written once each exposure reached A's sink, off the request path.
      await until(async () => (await markCount()) >= 120, 20_000);
      await requestAll(b.base, units);
      await requestAll(a.base, units.slice(0, 40));
      await requestAll(b.base, units.slice(80));
    } finally {
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
    }
    const fromA = await exp1ExposureUnits(a.logFile);
    const fromB = await exp1ExposureUnits(b.logFile);
    expect(fromA.length).toBe(120);
    expect(fromB).toEqual([]);
    expect(new Set(fromA).size).toBe(120);
  }, 90_000);
});
