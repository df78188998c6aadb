import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { buildLogReport, readJsonLines, type LogReport } from '../../src/cli/report.js';
import { createPostgresLogSink, planoutLogMigrationSql } from '../../src/nest/sinks/postgres.sink.js';
import { mixedLog, naiveReport } from '../support/report-fixtures.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `planout_report_${randomBytes(6).toString('hex')}`;
const root = process.cwd();
const build = path.join(root, `.tmp-report-${randomBytes(4).toString('hex')}`);
const main = path.join(build, 'cli', 'main.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'planout-report-it-'));
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });

/** The CLI as a child process, under GNU time: its output and its peak resident set (KiB). */
async function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; maxRssKiB: number }> {
  return cliWith([], ...args);
}

async function cliWith(nodeArgs: string[], ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string; maxRssKiB: number }> {
  const child = spawn('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, ...nodeArgs, main, ...args], { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const [status] = (await once(child, 'close')) as [number | null];
  const match = /maxrss=(\d+)\n?$/.exec(stderr);
  return { status, stdout, stderr: stderr.replace(/maxrss=\d+\n?$/, ''), maxRssKiB: Number(match?.[1] ?? NaN) };
}

beforeAll(async () => {
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', build], {
    cwd: root,
    encoding: 'utf8',
  });
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  await admin.query(`CREATE SCHEMA ${schema}`);
}, 120_000);

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  rmSync(build, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

function rounded<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_key, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v)) as T;
}

describe('nestjs-planout report on PostgreSQL', () => {
  it('reads the PostgresSink table (through a cursor): the figures equal an independent computation and the JSON-lines report of the same records', async () => {
    const records = mixedLog(12_000, 11);
    const table = `${schema}.planout_log`;
    await admin.query(planoutLogMigrationSql(table));
    // Written by the real sink, as an app would.
    const sink = createPostgresLogSink({ connectionString: DATABASE_URL, table });
    try {
      for (let i = 0; i < records.length; i++) {
        sink.write(records[i]!);
        if (i % 2_000 === 1_999) await sink.flush!(); // stay under the sink's queue bound
      }
      await sink.flush!();
    } finally {
      await sink.close!();
    }
    const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    expect(Number(rows[0]!.n)).toBe(records.length);

    const run = await cli('report', DATABASE_URL, '--table', table, '--json');
    expect(run.stderr).toMatch(/^skipped: 0 lines that are not log records, \d+ QA-overridden records\n$/);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as LogReport;
    const naive = naiveReport(records);
    const key = (e: { name: string; salt: string; checksum: string | null }) => `${e.name}/${e.salt}/${e.checksum}`;
    expect(rounded(report.experiments)).toEqual(rounded([...naive.experiments].sort((a, b) => (key(a) < key(b) ? -1 : 1))));

    const file = path.join(scratch, 'same.jsonl');
    const out = createWriteStream(file);
    for (const record of records) out.write(JSON.stringify(record) + '\n');
    out.end();
    await once(out, 'finish');
    const fromFile = (await buildLogReport(readJsonLines(file))).report;
    expect(rounded(report)).toEqual(rounded(fromFile));
  }, 120_000);

  it('names a missing table; hides the password', async () => {
    const url = new URL(DATABASE_URL);
    url.password = 'secret-pw';
    const run = await cli('report', url.toString(), '--table', `${schema}.nope`);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/relation ".*nope" does not exist/);
    expect(run.stderr).not.toContain('secret-pw');
  }, 60_000);
});

/**
 * `units` units, each exposed once, then events (amount = i % 100) up to `records`. Units are
 * assigned the arm `userid % 3`, and event i belongs to unit i % units.
 */
async function writeBigLog(file: string, records: number, units: number): Promise<void> {
  const out = createWriteStream(file);
  const arms = ['"#ff0000"', '"#00ff00"', '"#0000ff"'];
  let buffer = '';
  for (let i = 0; i < records; i++) {
    const unit = i % units;
    buffer +=
      i < units
        ? `{"name":"Big","salt":"Big","checksum":"0badf00d","inputs":{"userid":"${unit}"},"params":{"color":${arms[unit % 3]}},"event":"exposure","time":1700000000}\n`
        : `{"name":"Big","salt":"Big","checksum":"0badf00d","inputs":{"userid":"${unit}"},"params":{"color":${arms[unit % 3]}},"event":"purchase","time":1700000000,"extra_data":{"amount":${i % 100}}}\n`;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
}

describe('nestjs-planout report streams', () => {
  it('a million records: memory grows with units and arms, not with records', async () => {
    const units = 3_000;
    const small = path.join(scratch, 'small.jsonl');
    const big = path.join(scratch, 'big.jsonl');
    await writeBigLog(small, 100_000, units);
    await writeBigLog(big, 1_000_000, units);

    // A 40 MiB heap: the file is over 150 MB, so keeping records (or lines) would run out of memory.
    const started = Date.now();
    const bigRun = await cliWith(['--max-old-space-size=40'], 'report', big, '--json');
    const seconds = (Date.now() - started) / 1000;
    const smallRun = await cliWith(['--max-old-space-size=40'], 'report', small, '--json');
    expect([bigRun.status, smallRun.status]).toEqual([0, 0]);

    // The figures, computed from how the log was generated.
    const report = (JSON.parse(bigRun.stdout) as LogReport).experiments;
    expect(report).toHaveLength(1);
    const [big1] = report;
    expect(big1!.units).toBe(units);
    expect(big1!.params.color).toEqual({ '"#ff0000"': 1000, '"#00ff00"': 1000, '"#0000ff"': 1000 });
    const purchases = 1_000_000 - units;
    let amount = 0;
    const perArm = [0, 0, 0];
    const countPerArm = [0, 0, 0];
    for (let i = units; i < 1_000_000; i++) {
      amount += i % 100;
      perArm[(i % units) % 3]! += i % 100;
      countPerArm[(i % units) % 3]!++;
    }
    expect(big1!.events.purchase!.count).toBe(purchases);
    expect(big1!.events.purchase!.sums).toEqual({ amount });
    expect(big1!.events.purchase!.byParam.color).toEqual({
      '"#ff0000"': { count: countPerArm[0], sums: { amount: perArm[0] } },
      '"#00ff00"': { count: countPerArm[1], sums: { amount: perArm[1] } },
      '"#0000ff"': { count: countPerArm[2], sums: { amount: perArm[2] } },
    });

    // Ten times the records, same units and arms: the peak RSS barely moves.
    const deltaMiB = (bigRun.maxRssKiB - smallRun.maxRssKiB) / 1024;
    console.log(
      `report: 1,000,000 records in ${seconds.toFixed(1)} s, peak RSS ${(bigRun.maxRssKiB / 1024).toFixed(0)} MiB ` +
        `(100,000 records: ${(smallRun.maxRssKiB / 1024).toFixed(0)} MiB, delta ${deltaMiB.toFixed(1)} MiB)`,
    );
    expect(deltaMiB).toBeLessThan(40);
  }, 300_000);
});
