import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildLogReport, readJsonLines, type LogReport } from '../../../src/cli/report.js';
import { chiSquareTest } from '../../../src/core/stats/chi-square.js';
import { Experiment, UniformChoice, type Assignment, type PlanoutLogRecord } from '../../../src/core/index.js';
import { mixedLog, naiveReport } from '../../support/report-fixtures.js';

const root = process.cwd();
const build = path.join(root, `.tmp-report-${randomBytes(4).toString('hex')}`);
const main = path.join(build, 'cli', 'main.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'planout-report-'));

function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [main, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', build], {
    cwd: root,
    encoding: 'utf8',
  });
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
}, 60_000);

afterAll(() => {
  rmSync(build, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** Sums rounded to 12 significant digits: the two computations add floats in different orders. */
function rounded<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_key, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v)) as T;
}

function writeLog(name: string, lines: string[]): string {
  const file = path.join(scratch, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('nestjs-planout report (JSON lines)', () => {
  const records = mixedLog(20_000);
  const file = writeLog('mixed.jsonl', [...records.map((r) => JSON.stringify(r)), 'not json', '{"name": 3}', '']);

  it('figures equal an independent computation over the records in memory', async () => {
    const { report, skipped } = await buildLogReport(readJsonLines(file));
    const naive = naiveReport(records);
    expect(skipped).toEqual({ invalid: 2, overridden: naive.overridden });
    expect(naive.overridden).toBeGreaterThan(0);
    const byKey = (e: { name: string; salt: string; checksum: string | null }) => `${e.name}/${e.salt}/${e.checksum}`;
    const expected = [...naive.experiments].sort((a, b) => (byKey(a) < byKey(b) ? -1 : 1));
    expect(report.experiments.map(byKey)).toEqual(['Button/Button/aaaa1111', 'Exp1/Exp1/bbbb2222', 'Exp1/Exp1/cccc3333']);
    expect(rounded(report.experiments)).toEqual(rounded(expected));
    // The shape of the issue: string values keyed as JSON ("\"#ff0000\""), numbers as "10".
    const button = report.experiments[0]!;
    expect(Object.keys(button.params.button_color!).sort()).toEqual(['"#00ff00"', '"#ff0000"']);
    expect(Object.keys(button.params.size!).sort()).toEqual(['10', '12']);
    expect(Object.keys(button.events.purchase!.sums).sort()).toEqual(['amount', 'items']);
    // Units keyed by canonical inputs: key order does not split a unit.
    expect(report.experiments[1]!.units).toBeLessThanOrEqual(300);
  });

  it('the CLI prints the same JSON; text mode prints per experiment, param and event', async () => {
    const json = cli('report', file, '--json');
    expect(json.status).toBe(0);
    expect(json.stderr).toMatch(/^skipped: 2 lines that are not log records, \d+ QA-overridden records\n$/);
    const { report } = await buildLogReport(readJsonLines(file));
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(JSON.stringify(report)));

    const text = cli('report', file);
    expect(text.status).toBe(0);
    const button = report.experiments[0]!;
    expect(text.stdout).toContain(`Button (salt Button, checksum aaaa1111): ${button.units} exposed units\n  button_color\n    "#00ff00": ${button.params.button_color!['"#00ff00"']} units`);
    expect(text.stdout).toContain(`  event purchase: ${button.events.purchase!.count} records, amount sum `);
  });

  it('--definitions adds the SRM p-value of params whose weights the definition fixes', async () => {
    const dir = path.join(scratch, 'definitions');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'Button.planout'),
      "button_color = uniformChoice(choices=['#ff0000', '#00ff00'], unit=userid);\nsize = weightedChoice(choices=[10, 12], weights=[1, 3], unit=userid);\n",
    );
    const run = cli('report', file, '--json', '--definitions', dir);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as LogReport;
    const button = report.experiments.find((e) => e.name === 'Button')!;
    const colors = button.params.button_color!;
    const sizes = button.params.size!;
    expect(button.srm).toEqual({
      button_color: {
        pValue: chiSquareTest([colors['"#ff0000"']!, colors['"#00ff00"']!], [0.5, 0.5])!.pValue,
        expected: { '"#ff0000"': 0.5, '"#00ff00"': 0.5 },
      },
      size: { pValue: chiSquareTest([sizes['10']!, sizes['12']!], [0.25, 0.75])!.pValue, expected: { '10': 0.25, '12': 0.75 } },
    });
    // No definition for Exp1: no srm key.
    expect(report.experiments.find((e) => e.name === 'Exp1')!.srm).toBeUndefined();
  });

  it('a missing file or a bad command line fails with a message', () => {
    const missing = cli('report', path.join(scratch, 'none.jsonl'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('none.jsonl: cannot read: ENOENT');
    const bad = cli('report', file, '--table', 'x');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--table applies to a postgres:// source');
  });
});

describe('README: the report example', () => {
  it('examples/checkout-exposures.jsonl is what the sample\'s CheckoutButton assignment logs (60 units, purchases of every third, one unexposed buyer)', () => {
    const records: PlanoutLogRecord[] = [];
    class CheckoutButton extends Experiment {
      protected override setup(): void {
        this.name = 'CheckoutButton';
      }
      assign(params: Assignment, inputs: Record<string, unknown>): void {
        params.set('button_color', new UniformChoice({ choices: ['#ff0000', '#00ff00'], unit: inputs.userid as string }));
        params.set('button_text', new UniformChoice({ choices: ['Buy now', 'Check out'], unit: inputs.userid as string }));
      }
      protected override log(record: PlanoutLogRecord): void {
        records.push({ ...record, time: 1764400000 });
      }
    }
    for (let u = 1; u <= 60; u++) {
      const exp = new CheckoutButton({ userid: String(u) });
      exp.getParams();
      if (u % 3 === 1) exp.logEvent('purchase', { amount: 10 + (u % 5), items: 1 + (u % 2) });
    }
    new CheckoutButton({ userid: '999' }).logEvent('purchase', { amount: 5, items: 1 });
    const lines = readFileSync('examples/checkout-exposures.jsonl', 'utf8').trimEnd().split('\n');
    // The checksum hashes the source of the generating script's assign, not this one's.
    const { checksum } = JSON.parse(lines[0]!) as PlanoutLogRecord;
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(records.map((r) => ({ ...r, checksum })));
  });

  it('README shows the CLI\'s output on it', () => {
    const readme = readFileSync('README.md', 'utf8');
    const command = 'nestjs-planout report examples/checkout-exposures.jsonl --definitions examples/definitions';
    const shown = new RegExp('```text\\n\\$ ' + command.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&') + '\\n([\\s\\S]*?)```').exec(readme)?.[1];
    const run = cli(...command.split(' ').slice(1));
    expect(run.status).toBe(0);
    expect(shown).toBe(run.stdout);
  });
});
