import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, units } from './support/fault-app.js';
import { buildSampleApp, exp1UnitsInText, removeSampleApp } from './support/sample-build.js';
import { startSample, type SampleProcess } from './support/sample-process.js';
import { until } from './support/tcp-proxy.js';

const root = process.cwd();
let sampleOut: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'planout-rotation-'));
  sampleOut = await buildSampleApp(root);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await removeSampleApp(sampleOut);
});

/** The compiled sample app (JSON-lines sink, default options) logging to `logFile`. */
function startLoggingSample(logFile: string): Promise<SampleProcess> {
  return startSample(sampleOut, dir, { PLANOUT_LOG_FILE: logFile });
}

const lineCount = (text: string): number => text.split('\n').filter((l) => l !== '').length;

/**
 * Requests `/exp1` for every unit (`concurrency` in flight); after `rotateAfter` answers,
 * runs `rotate` once while traffic continues. Returns the units answered 200 and those
 * whose request started after `rotate` had completed.
 */
async function trafficWithRotation(base: string, all: string[], rotateAfter: number, rotate: () => Promise<void>, concurrency = 16) {
  const ok: string[] = [];
  const afterRotation: string[] = [];
  let next = 0;
  let rotation: Promise<void> | undefined;
  let rotated = false;
  const worker = async (): Promise<void> => {
    while (next < all.length) {
      const unit = all[next++]!;
      const startedAfter = rotated;
      if ((await get(`${base}/exp1?userid=${unit}`)) === 200) {
        ok.push(unit);
        if (startedAfter) afterRotation.push(unit);
      }
      if (rotation === undefined && ok.length >= rotateAfter) {
        rotation = rotate().then(() => {
          rotated = true;
        });
      }
      // Give the other workers' requests a chance to start only after the rotation.
      if (rotation !== undefined && !rotated) await rotation;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  expect(rotated).toBe(true);
  return { ok, afterRotation };
}

describe('log rotation under traffic (the compiled sample app, JSON-lines sink)', () => {
  it('SIGHUP after the log was renamed: the app keeps serving, reopens the path, and records after rotation are there', async () => {
    const file = path.join(dir, 'hup.jsonl');
    const app = await startLoggingSample(file);
    const before = units('hup-a', 40);
    for (const u of before) expect(await get(`${app.base}/exp1?userid=${u}`)).toBe(200);
    await until(async () => lineCount(await readFile(file, 'utf8').catch(() => '')) === 40);

    await rename(file, `${file}.1`);
    app.child.kill('SIGHUP');
    await until(() => app.output().includes('reopen() was called'));
    expect(app.child.exitCode).toBeNull();
    expect(app.output()).toContain(`SIGHUP: reopening ${file}`);

    const after = units('hup-b', 40);
    for (const u of after) expect(await get(`${app.base}/exp1?userid=${u}`)).toBe(200);
    // A second SIGHUP with nothing rotated is harmless too.
    app.child.kill('SIGHUP');
    expect(await get(`${app.base}/exp1?userid=hup-c`)).toBe(200);
    app.child.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: null, signal: 'SIGTERM' });

    expect(exp1UnitsInText(await readFile(`${file}.1`, 'utf8')).sort()).toEqual([...before].sort());
    expect(exp1UnitsInText(await readFile(file, 'utf8')).sort()).toEqual([...after, 'hup-c'].sort());
    expect(app.output()).not.toMatch(/dropped|rejected|failed/);
  }, 60_000);

  it.each([
    ['rename', false],
    ['delete', true],
  ])('rotation by %s during traffic: sent = lines in the old file + lines in the new one; every record after rotation is at the configured path', async (how, deleteIt) => {
    const file = path.join(dir, `${how}.jsonl`);
    const app = await startLoggingSample(file);
    let oldFile: Promise<string> = Promise.resolve('');
    const { ok, afterRotation } = await trafficWithRotation(app.base, units(how, 1500), 500, async () => {
      if (deleteIt) {
        // Keep a descriptor, to read what went to the unlinked file once the app is done with it.
        const handle = await open(file, 'r');
        await unlink(file);
        oldFile = app.exited.then(() => handle.readFile('utf8')).finally(() => handle.close());
      } else {
        await rename(file, `${file}.1`);
        oldFile = app.exited.then(() => readFile(`${file}.1`, 'utf8'));
      }
    });
    app.child.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: null, signal: 'SIGTERM' });

    const oldText = await oldFile;
    const newText = await readFile(file, 'utf8');
    const inOld = exp1UnitsInText(oldText);
    const inNew = exp1UnitsInText(newText);
    console.log(
      `rotation by ${how}: sent ${ok.length} (all 200), old file ${inOld.length} lines, new file ${inNew.length} lines, ${afterRotation.length} requests started after rotation`,
    );
    expect(ok).toHaveLength(1500);
    expect(lineCount(oldText) + lineCount(newText)).toBe(ok.length);
    expect([...inOld, ...inNew].sort()).toEqual([...ok].sort());
    const newSet = new Set(inNew);
    expect(afterRotation.length).toBeGreaterThan(500);
    expect(afterRotation.filter((u) => !newSet.has(u))).toEqual([]);
    // Records answered before the rotation but still buffered are written after it, to the new file.
    expect(inOld.length).toBeGreaterThan(0);
    expect(app.output()).not.toMatch(/dropped|rejected|failed/);
  }, 60_000);
});
