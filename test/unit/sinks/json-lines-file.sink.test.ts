import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PyFloat } from '../../../src/core/values.js';
import { SinkClosedError, SinkOverflowError } from '../../../src/nest/sinks/errors.js';
import { JsonLinesFileSink } from '../../../src/nest/sinks/json-lines-file.sink.js';
import { PlanoutMetrics } from '../../../src/nest/planout-metrics.js';
import { CapturingLogger, record } from './fixtures.js';

let dir: string;
let n = 0;
const file = (): string => join(dir, `out-${n++}.jsonl`);

async function lines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

/** Polls until `check` holds; gives up (failing the test) rather than poll forever. */
async function until(check: () => boolean | Promise<boolean>, limitMs = 20_000): Promise<void> {
  // Generous: a loaded CI machine may delay timers by seconds; only liveness is asserted.
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'planout-jsonl-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JsonLinesFileSink', () => {
  it('appends one JSON line per record, in order, with bigint digits and toJSON respected', async () => {
    const path = file();
    const metrics = new PlanoutMetrics();
    const sink = new JsonLinesFileSink({ path, metrics, logger: new CapturingLogger() });
    sink.write(record(0, { inputs: { userid: 12345678901234567890n } }));
    sink.write(record(1, { params: { ratio: new PyFloat(3) } }));
    sink.write(record(2));
    await sink.close();
    const out = await lines(path);
    expect(out).toHaveLength(3);
    expect(out[0]).toContain('"userid":12345678901234567890');
    expect(JSON.parse(out[1]!).params).toEqual({ ratio: 3 });
    expect(JSON.parse(out[2]!)).toEqual(JSON.parse(JSON.stringify(record(2))));
    expect(metrics.snapshot().logged).toBe(3);
  });

  it('buffers: nothing reaches the file until the buffer fills, the timer fires or flush is called', async () => {
    const path = file();
    const sink = new JsonLinesFileSink({ path, flushIntervalMs: 60_000, logger: new CapturingLogger() });
    sink.write(record(1));
    sink.write(record(2));
    await new Promise((r) => setImmediate(r));
    expect(existsSync(path)).toBe(false);
    expect(sink.backlog).toBe(2);
    await sink.flush();
    expect(await lines(path)).toHaveLength(2);
    expect(sink.backlog).toBe(0);
    await sink.close();
  });

  it('writes on its own after flushIntervalMs, without flush()', async () => {
    const path = file();
    const sink = new JsonLinesFileSink({ path, flushIntervalMs: 20, logger: new CapturingLogger() });
    sink.write(record(1));
    await until(() => existsSync(path) && sink.backlog === 0);
    expect(await lines(path)).toHaveLength(1);
    await sink.close();
  });

  it('keeps order across many chunks (small flushBytes) and appends to an existing file', async () => {
    const path = file();
    await writeFile(path, '{"existing":true}\n');
    const sink = new JsonLinesFileSink({ path, flushBytes: 4096, flushRecords: 100, logger: new CapturingLogger() });
    for (let i = 0; i < 20_000; i++) sink.write(record(i));
    await sink.close();
    const out = await lines(path);
    expect(out).toHaveLength(20_001);
    expect(JSON.parse(out[0]!)).toEqual({ existing: true });
    const times = out.slice(1).map((l) => (JSON.parse(l) as { time: number }).time - 1_700_000_000);
    expect(times).toEqual(Array.from({ length: 20_000 }, (_, i) => i));
  });

  it('rejects past maxBufferedRecords with a typed, counted error while the file cannot be written, then recovers', async () => {
    // The file's directory is a regular file: every open fails (ENOTDIR/EEXIST) until it is removed.
    const blocker = join(dir, `blocker-${n++}`);
    await writeFile(blocker, 'not a directory');
    const path = join(blocker, 'out.jsonl');
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const sink = new JsonLinesFileSink({ path, maxBufferedRecords: 5, flushIntervalMs: 5, retryDelayMs: 5, metrics, logger });
    for (let i = 0; i < 5; i++) sink.write(record(i));
    let thrown: unknown;
    try {
      sink.write(record(5));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SinkOverflowError);
    expect((thrown as SinkOverflowError).counted).toBe(true);
    expect(metrics.snapshot().dropped).toBe(1);
    await expect(sink.flush()).rejects.toThrow();
    expect(sink.backlog).toBe(5);
    expect(sink.lastError).toBeDefined();
    expect(metrics.lastError?.message).toMatch(/ENOTDIR|EEXIST/);
    expect(logger.errors.join('\n')).toContain('records kept for retry');

    await rm(blocker);
    await until(() => sink.backlog === 0);
    expect(metrics.snapshot().retried).toBeGreaterThan(0);
    expect(sink.lastError).toBeUndefined();
    sink.write(record(6));
    await sink.close();
    const out = (await lines(path)).map((l) => (JSON.parse(l) as { time: number }).time - 1_700_000_000);
    expect(out).toEqual([0, 1, 2, 3, 4, 6]);
    expect(metrics.snapshot().logged).toBe(6);
  });

  it('close() never rejects: records that cannot be written are counted as dropped and logged', async () => {
    const blocker = join(dir, `blocker-${n++}`);
    await writeFile(blocker, 'x');
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const sink = new JsonLinesFileSink({ path: join(blocker, 'out.jsonl'), metrics, logger });
    sink.write(record(1));
    sink.write(record(2));
    await expect(sink.close()).resolves.toBeUndefined();
    expect(metrics.snapshot().dropped).toBe(2);
    expect(logger.errors.some((m) => m.includes('2 records could not be written'))).toBe(true);
  });

  it('rejects writes after close with SinkClosedError', async () => {
    const sink = new JsonLinesFileSink({ path: file(), logger: new CapturingLogger() });
    await sink.close();
    expect(() => sink.write(record(1))).toThrow(SinkClosedError);
  });

  it('validates options', () => {
    expect(() => new JsonLinesFileSink({ maxBufferedRecords: 0 })).toThrow(/maxBufferedRecords/);
    expect(() => new JsonLinesFileSink({ flushIntervalMs: Number.NaN })).toThrow(/flushIntervalMs/);
  });
});
