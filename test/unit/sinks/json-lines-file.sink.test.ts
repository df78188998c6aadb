import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
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

  it.each([
    ['lines that straddle chunk ends', 300],
    ['lines longer than a chunk', 40],
  ])('writes multi-byte text whole and in order: %s (flushBytes %d)', async (_, flushBytes) => {
    const path = file();
    const metrics = new PlanoutMetrics();
    const sink = new JsonLinesFileSink({ path, flushBytes, metrics, logger: new CapturingLogger() });
    // 1-, 2-, 3- and 4-byte UTF-8 characters, and a lone surrogate (JSON.stringify escapes it).
    const texts = Array.from({ length: 500 }, (_, i) => `${'é'.repeat(i % 7)}名${'😀'.repeat(i % 5)}x\uD800${'a'.repeat(i % 13)}`);
    texts.forEach((text, i) => sink.write(record(i, { params: { text } })));
    await sink.close();
    const out = await lines(path);
    expect(out.map((l) => (JSON.parse(l) as { params: { text: string } }).params.text)).toEqual(texts);
    expect(metrics.snapshot().logged).toBe(500);
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

  it('starts on a new line when the existing file ends mid-line, so its first record stays parseable', async () => {
    const path = file();
    await writeFile(path, '{"name":"Exp1","torn":');
    const metrics = new PlanoutMetrics();
    const sink = new JsonLinesFileSink({ path, metrics, logger: new CapturingLogger() });
    sink.write(record(0));
    sink.write(record(1));
    await sink.close();
    const out = await lines(path);
    expect(out).toEqual(['{"name":"Exp1","torn":', JSON.stringify(record(0)), JSON.stringify(record(1))]);
    expect(metrics.snapshot().logged).toBe(2);
  });

  it('adds no blank line to an existing file that ends with a newline, nor to an empty one', async () => {
    const whole = file();
    await writeFile(whole, '{"a":1}\n');
    const empty = file();
    await writeFile(empty, '');
    for (const path of [whole, empty]) {
      const sink = new JsonLinesFileSink({ path, logger: new CapturingLogger() });
      sink.write(record(0));
      await sink.close();
    }
    expect(await lines(whole)).toEqual(['{"a":1}', JSON.stringify(record(0))]);
    expect(await lines(empty)).toEqual([JSON.stringify(record(0))]);
  });
});

/** The times (minus the fixture's base) of the records in a JSON-lines file. */
async function times(path: string): Promise<number[]> {
  return (await lines(path)).map((l) => (JSON.parse(l) as { time: number }).time - 1_700_000_000);
}

/** Targets of this process's open file descriptors (Linux), to see which files the sink holds. */
function openFiles(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

describe('JsonLinesFileSink and log rotation', () => {
  const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

  it.each([
    ['renamed', (path: string) => rename(path, `${path}.1`)],
    ['deleted', (path: string) => unlink(path)],
  ])('file %s: the next write goes to a new file at the path, even before the timer notices', async (how, rotate) => {
    const path = file();
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    // The timer is off: the check before each write alone must catch the rotation.
    const sink = new JsonLinesFileSink({ path, metrics, logger, rotationCheckIntervalMs: 0 });
    for (let i = 0; i < 10; i++) sink.write(record(i));
    await sink.flush();
    await rotate(path);
    for (let i = 10; i < 25; i++) sink.write(record(i));
    await sink.flush();
    expect(await times(path)).toEqual(range(10, 25));
    if (how === 'renamed') expect(await times(`${path}.1`)).toEqual(range(0, 10));
    expect(openFiles().some((f) => f.startsWith(`${path}.1`) || f === `${path} (deleted)`)).toBe(false);
    await sink.close();
    expect(metrics.snapshot()).toMatchObject({ logged: 25, dropped: 0 });
    expect(logger.logs.join('\n')).toContain('no longer names the open file');
  });

  it.each([
    ['renamed', (path: string) => rename(path, `${path}.1`)],
    ['deleted', (path: string) => unlink(path)],
  ])('file %s while idle: the sink notices on its own timer, releases the old file and recreates the path', async (_, rotate) => {
    const path = file();
    const logger = new CapturingLogger();
    const sink = new JsonLinesFileSink({ path, logger, rotationCheckIntervalMs: 20 });
    sink.write(record(0));
    await sink.flush();
    await rotate(path);
    expect(existsSync(path)).toBe(false);
    await until(() => existsSync(path));
    await until(() => !openFiles().some((f) => f.startsWith(`${path}.1`) || f === `${path} (deleted)`));
    expect(openFiles()).toContain(path);
    sink.write(record(1));
    await sink.close();
    expect(await times(path)).toEqual([1]);
    expect(openFiles()).not.toContain(path);
  });

  it('reopen(): closes the file and opens the path again at once; later records go there', async () => {
    const path = file();
    const logger = new CapturingLogger();
    const metrics = new PlanoutMetrics();
    const sink = new JsonLinesFileSink({ path, metrics, logger, rotationCheckIntervalMs: 0 });
    sink.write(record(0));
    await sink.flush();
    await rename(path, `${path}.1`);
    // Buffered before reopen(): written after it, to the new file.
    sink.write(record(1));
    await sink.reopen();
    expect(existsSync(path)).toBe(true);
    expect(await times(path)).toEqual([1]);
    expect(logger.logs.join('\n')).toContain('reopen() was called');
    sink.write(record(2));
    await sink.close();
    expect(await times(`${path}.1`)).toEqual([0]);
    expect(await times(path)).toEqual([1, 2]);
    expect(metrics.snapshot().logged).toBe(3);
    await expect(sink.reopen()).resolves.toBeUndefined();
  });

  it('reopen() of a file still in place keeps appending to it (copytruncate-style rotation)', async () => {
    const path = file();
    const sink = new JsonLinesFileSink({ path, logger: new CapturingLogger() });
    sink.write(record(0));
    await sink.flush();
    // copytruncate: copy, then truncate in place. O_APPEND writes continue at the new end.
    await writeFile(`${path}.1`, await readFile(path));
    await writeFile(path, '');
    await sink.reopen();
    sink.write(record(1));
    await sink.close();
    expect(await times(path)).toEqual([1]);
    expect(await times(`${path}.1`)).toEqual([0]);
  });

  it('reopen() rejects when the path cannot be opened, keeps the records and delivers them once it can', async () => {
    const blockerDir = join(dir, `rotdir-${n++}`);
    const path = join(blockerDir, 'out.jsonl');
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    const sink = new JsonLinesFileSink({ path, metrics, logger, retryDelayMs: 5, rotationCheckIntervalMs: 0 });
    sink.write(record(0));
    await sink.flush();
    // The directory is replaced by a regular file: the path cannot be opened.
    await rm(blockerDir, { recursive: true });
    await writeFile(blockerDir, 'x');
    sink.write(record(1));
    await expect(sink.reopen()).rejects.toThrow(/ENOTDIR|EEXIST/);
    expect(sink.backlog).toBe(1);
    await rm(blockerDir);
    await until(() => sink.backlog === 0);
    await sink.close();
    expect(await times(path)).toEqual([1]);
    expect(metrics.snapshot()).toMatchObject({ logged: 2, dropped: 0 });
  });
});

describe('JsonLinesFileSink (lifecycle)', () => {
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
