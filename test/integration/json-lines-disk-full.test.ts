import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { JsonLinesFileSink, PlanoutMetrics } from '../../src/index.js';
import { CapturingLogger, record } from '../unit/sinks/fixtures.js';
import { get, units } from './support/fault-app.js';
import { buildSampleApp, exp1ExposureUnits, removeSampleApp } from './support/sample-build.js';
import { closedPort, until } from './support/tcp-proxy.js';

const run = promisify(execFile);
let disk: string;
let mounted = false;
let skipReason = '';
let n = 0;

// A 64 KiB tmpfs is a disk that fills up after a few hundred records. Mounting needs root.
beforeAll(async () => {
  disk = await mkdtemp(path.join(tmpdir(), 'planout-diskfull-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]);
    mounted = true;
  } catch (error) {
    skipReason = `cannot mount a tmpfs (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
    console.log(`json-lines disk-full tests skipped: ${skipReason}`);
  }
});

afterAll(async () => {
  // Lazily if still busy (a failed test may leave a file open), so no mount outlives the run.
  if (mounted) await run('umount', [disk]).catch(() => run('umount', ['-l', disk]));
  await rm(disk, { recursive: true, force: true });
  if (!mounted) await rmdir(disk).catch(() => undefined);
});

// Each test starts with an empty disk, whatever the previous one left behind.
afterEach(async () => {
  if (mounted) for (const name of await readdir(disk)) await rm(path.join(disk, name), { force: true });
});

/** Runs `body` only where the tmpfs is mounted; elsewhere the skip was printed in beforeAll. */
function onTmpfs(name: string, body: () => Promise<void>, timeoutMs = 30_000): void {
  it(name, async () => {
    if (!mounted) return;
    await body();
  }, timeoutMs);
}

/** A file that takes all but `leave` bytes of the disk (page-granular on tmpfs). */
async function fill(leave: number): Promise<string> {
  const filler = path.join(disk, `filler-${n++}`);
  const { stdout } = await run('df', ['--output=avail', '-B1', disk]);
  const avail = Number(stdout.trim().split('\n')[1]);
  await writeFile(filler, Buffer.alloc(Math.max(0, avail - leave), 0x78));
  return filler;
}

async function parsedLines(file: string): Promise<{ text: string; times: number[] }> {
  const text = await readFile(file, 'utf8');
  const rows = text === '' ? [] : text.slice(0, -1).split('\n');
  return { text, times: rows.map((l) => (JSON.parse(l) as { time: number }).time - 1_700_000_000) };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('JsonLinesFileSink on a full disk (tmpfs)', () => {
  onTmpfs('close() on a full disk: the file ends with a whole line; logged = lines in the file; the rest counted dropped and logged', async () => {
    const file = path.join(disk, `full-${n++}.jsonl`);
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    // Big records so a write is cut mid-line when the disk fills (not at a line boundary by luck).
    const sent = 2000;
    const sink = new JsonLinesFileSink({ path: file, metrics, logger, flushBytes: 16 * 1024 });
    for (let i = 0; i < sent; i++) sink.write(record(i, { extra_data: { pad: 'p'.repeat(i % 97) } }));
    await sink.close();

    const { text, times } = await parsedLines(file);
    expect(text.endsWith('\n')).toBe(true);
    expect(times).toEqual(range(0, times.length));
    const { logged, dropped } = metrics.snapshot();
    console.log(`disk full at close: sent ${sent}, lines in file ${times.length}, logged ${logged}, dropped ${dropped}`);
    expect(times.length).toBeGreaterThan(100);
    expect(logged).toBe(times.length);
    expect(dropped).toBe(sent - logged);
    // The message README quotes (under Jest's VM realm, Node's fs errors print with an "Error: " prefix).
    expect(logger.errors.map((e) => e.replace('(reason: Error: ', '(reason: '))).toContain(
      `JsonLinesFileSink: ${dropped} records could not be written to ${file} before close and are dropped (reason: ENOSPC: no space left on device, write)`,
    );
    await rm(file);
  });

  onTmpfs('the next writer after a full disk appends whole records: the file stays parseable', async () => {
    const file = path.join(disk, `next-${n++}.jsonl`);
    const filler = await fill(20 * 1024);
    const first = new JsonLinesFileSink({ path: file, logger: new CapturingLogger(), flushBytes: 8 * 1024 });
    for (let i = 0; i < 2000; i++) first.write(record(i));
    await first.close();
    const before = (await parsedLines(file)).times.length;
    expect(before).toBeGreaterThan(0);
    // Space comes back (another file is removed); a new process appends.
    await rm(filler);
    const metrics = new PlanoutMetrics();
    const second = new JsonLinesFileSink({ path: file, metrics, logger: new CapturingLogger() });
    for (let i = 5000; i < 5010; i++) second.write(record(i));
    await second.close();
    const { times } = await parsedLines(file);
    expect(times).toEqual([...range(0, before), ...range(5000, 5010)]);
    expect(metrics.snapshot()).toMatchObject({ logged: 10, dropped: 0 });
    await rm(file);
  });

  onTmpfs('disk full, then space freed: every record delivered exactly once, in order, no torn line', async () => {
    const file = path.join(disk, `recover-${n++}.jsonl`);
    const filler = await fill(12 * 1024);
    const metrics = new PlanoutMetrics();
    const logger = new CapturingLogger();
    // About 35 KiB of records: more than the 12 KiB left, less than the whole disk.
    const sent = 200;
    const sink = new JsonLinesFileSink({ path: file, metrics, logger, flushBytes: 4096, retryDelayMs: 20 });
    for (let i = 0; i < sent; i++) sink.write(record(i, { extra_data: { pad: 'q'.repeat(i % 53) } }));
    await until(() => sink.lastError?.message.includes('ENOSPC') === true, 10_000);
    const stuck = metrics.snapshot().logged;
    // While full: what is in the file is whole lines only, exactly the records counted logged.
    const during = await parsedLines(file);
    expect(stuck).toBeGreaterThan(0);
    expect(during.text.endsWith('\n')).toBe(true);
    expect(during.times).toEqual(range(0, stuck));
    expect(stuck).toBeLessThan(sent);

    await rm(filler);
    await until(() => sink.backlog === 0, 10_000);
    await sink.close();
    const { times } = await parsedLines(file);
    console.log(`disk full then freed: sent ${sent}, logged while full ${stuck}, lines after recovery ${times.length}, retried ${metrics.snapshot().retried}`);
    expect(times).toEqual(range(0, sent));
    expect(metrics.snapshot()).toMatchObject({ logged: sent, dropped: 0 });
    expect(metrics.snapshot().retried).toBeGreaterThan(0);
    await rm(file);
  });
});

describe('the compiled sample app on a full disk (tmpfs)', () => {
  let sampleOut: string | undefined;
  beforeAll(async () => {
    if (mounted) sampleOut = await buildSampleApp(process.cwd());
  }, 120_000);
  afterAll(async () => {
    if (sampleOut !== undefined) await removeSampleApp(sampleOut);
  });

  /** Runs the sample app logging to `file`, requests `/exp1` for `all`, then SIGTERM. */
  async function runSample(file: string, all: string[]): Promise<{ ok: string[]; output: string }> {
    const port = await closedPort();
    const child = spawn(process.execPath, [path.join(sampleOut!, 'sample-app/main.js')], {
      cwd: disk,
      env: { ...process.env, PORT: String(port), REDIS_URL: '', DATABASE_URL: '', PLANOUT_LOG_FILE: file },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    const exited = new Promise<unknown>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await until(() => output.includes('listening on') || child.exitCode !== null, 20_000);
    const ok: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < all.length) {
          const unit = all[next++]!;
          if ((await get(`http://127.0.0.1:${port}/exp1?userid=${unit}`)) === 200) ok.push(unit);
        }
      }),
    );
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: null, signal: 'SIGTERM' });
    return { ok, output };
  }

  onTmpfs('SIGTERM with the disk full: every record is in the file or counted dropped and logged; the file ends with a whole line; the next process appends parseable records', async () => {
    const file = path.join(disk, `sample-${n++}.jsonl`);
    const filler = await fill(48 * 1024);
    const sent = units('full', 1000);
    const first = await runSample(file, sent);
    expect(first.ok).toHaveLength(sent.length);
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const stored = await exp1ExposureUnits(file);
    const dropped = Number(/(\d+) records could not be written/.exec(first.output)?.[1] ?? 0);
    console.log(`sample app, disk full at SIGTERM: sent ${first.ok.length}, lines in file ${stored.length}, counted dropped and logged ${dropped}`);
    expect(dropped).toBeGreaterThan(0);
    expect(stored.length + dropped).toBe(first.ok.length);
    expect(new Set(stored).size).toBe(stored.length);
    expect(first.output).toContain(
      `${dropped} records could not be written to ${file} before close and are dropped (reason: ENOSPC: no space left on device, write)`,
    );

    // Space comes back; the next process's records all land after whole lines.
    await rm(filler);
    const more = units('after', 50);
    const second = await runSample(file, more);
    expect(second.ok).toHaveLength(50);
    const after = await exp1ExposureUnits(file);
    expect(after).toEqual([...stored, ...after.slice(stored.length)]);
    expect(after.slice(stored.length).sort()).toEqual([...more].sort());
    expect(second.output).not.toMatch(/dropped|ENOSPC/);
    await rm(file);
  }, 90_000);
});
