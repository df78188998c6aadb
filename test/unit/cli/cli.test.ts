import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { compilePlanout } from '../../../src/core/compiler/index.js';
import { parsePlanoutJson, stringifyPlanoutJson } from '../../../src/core/json.js';
import type { CheckReport } from '../../../src/cli/check.js';
import { runCli } from '../../../src/cli/cli.js';
import type { PlanoutObject } from '../../../src/core/values.js';
import { loadCases } from '../../conformance/vectors.js';

// The CLI runs as a real process: the sources are compiled with tsc (about a second) into
// a directory inside the repo, so that the package's "type": "module" applies.
const root = process.cwd();
const build = path.join(root, `.tmp-cli-${randomBytes(4).toString('hex')}`);
const main = path.join(build, 'cli', 'main.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'planout-cli-'));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI as a child process. */
function cli(...args: string[]): Run {
  const result = spawnSync(process.execPath, [main, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same command line in this process (the CLI's code, without a process start per case). */
function inProcess(...args: string[]): Run {
  let stdout = '';
  let stderr = '';
  const status = runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  if (typeof status !== 'number') throw new Error('inProcess() runs the synchronous commands (compile, check)');
  return { status, stdout, stderr };
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

describe('nestjs-planout compile', () => {
  it('prints the JSON script, keeping the reference output (the seeds\' Exp1 is the reference demo exp1)', () => {
    const run = cli('compile', 'examples/exp1.planout');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const printed = parsePlanoutJson(run.stdout);
    const compiled = compilePlanout(readFileSync('examples/exp1.planout', 'utf8'));
    expect(stringifyPlanoutJson(printed)).toBe(stringifyPlanoutJson(compiled));
    // interpreter.json's pub-int-01 is the reference's demo exp1.json: same program.
    const demo = loadCases<{ id: string; script: PlanoutObject }>('interpreter.json').find((c) => c.id.endsWith('demo_exp1'));
    if (demo !== undefined) expect(stringifyPlanoutJson(printed)).toBe(stringifyPlanoutJson(demo.script));
  });

  it('keeps floats that look integral as floats in the printed JSON', () => {
    const file = path.join(scratch, 'floats.planout');
    writeFileSync(file, 'x = @[1e21, 0.5];\ny = 12345678901234567890;\n');
    const run = inProcess('compile', file);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('"value": [1e+21, 0.5]');
    expect(run.stdout).toContain('"value": 12345678901234567000');
  });

  it('exits 1 with the located error on stderr for a bad program', () => {
    const run = cli('compile', 'examples/broken.planout');
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')[0]).toBe(
      "examples/broken.planout:2:73: syntax error: expected ')', ',' or an operator but found ';'",
    );
  });

  it('exits 1 when the file cannot be read', () => {
    const run = inProcess('compile', path.join(scratch, 'nope.planout'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('cannot read: ENOENT');
  });

  it.each([
    [[] as string[], 'no command given'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['compile'], 'no file given'],
    [['compile', 'a.planout', 'b.planout'], 'one file expected, got 2'],
    [['compile', '--pretty', 'examples/exp1.planout'], "Unknown option '--pretty'"],
    [['check', 'examples/exp1.planout', '--units', 'many'], '--units must be a whole number'],
    [['check', 'examples/exp1.planout', '--input', 'country'], '--input expects KEY=VALUE'],
  ])('usage error %j exits 2', (args, message) => {
    const run = inProcess(...args);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('Usage:');
  });

  it('a usage error exits 2 from the real process too', () => {
    const run = cli('compile');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('no file given');
  });

  it('help prints the usage and exits 0', () => {
    const run = inProcess('--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('nestjs-planout check <file.planout|file.json>');
  });
});

describe('nestjs-planout check', () => {
  const report = (run: Run): CheckReport & { source: string } => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    return JSON.parse(run.stdout) as CheckReport & { source: string };
  };
  const shareOf = (r: CheckReport, param: string, kind: 'draw' | 'final', value: unknown): number => {
    const entry = r.params.find((p) => p.param === param && p.kind === kind)!;
    return entry.values.find((v) => v.value === value)!.share;
  };

  it("the seeds' Exp1: shares within 2 points of the weights, every unit in the experiment", () => {
    const r = report(cli('check', 'examples/exp1.planout', '--json', '--units', '4000'));
    expect(r.units).toBe(4000);
    expect(r.inExperiment).toBe(4000);
    const draws = r.params.filter((p) => p.kind === 'draw');
    expect(draws.map((p) => [p.param, p.operator, p.expectedFrom])).toEqual([
      ['group_size', 'uniformChoice', 'weights'],
      ['specific_goal', 'bernoulliTrial', 'weights'],
      ['ratings_per_user_goal', 'uniformChoice', 'weights'],
    ]);
    for (const param of draws) {
      for (const value of param.values) expect(Math.abs(value.share - value.expected!)).toBeLessThan(0.02);
      expect(param.chiSquare!.pValue).toBeGreaterThan(0.001);
    }
    // Drawn only for the units with a specific goal (p = 0.8).
    expect(Math.abs(draws[2].units / 4000 - 0.8)).toBeLessThan(0.02);
    const computed = r.params.find((p) => p.param === 'ratings_goal')!;
    expect(computed).toMatchObject({ kind: 'final', expectedFrom: null, chiSquare: null, units: draws[2].units });
    expect(computed.values.map((v) => v.value).sort((a, b) => Number(a) - Number(b))).toEqual([8, 16, 32, 64, 80, 160, 320, 640]);
  });

  it('the trade price: draws at 25% each, 0.99 becomes 0.5 and leaves the experiment', () => {
    const r = report(cli('check', 'examples/trade-price.planout', '--json', '--units', '4000'));
    const draw = r.params.find((p) => p.kind === 'draw')!;
    expect(draw.values.map((v) => [v.value, v.expected])).toEqual([
      [0.1, 0.25],
      [0.25, 0.25],
      [0.5, 0.25],
      [0.99, 0.25],
    ]);
    for (const value of draw.values) expect(Math.abs(value.share - 0.25)).toBeLessThan(0.03);
    const out = 4000 - r.inExperiment;
    expect(out).toBe(draw.values[3].count);
    expect(shareOf(r, 'trade_price', 'final', 0.5)).toBeCloseTo((draw.values[2].count + draw.values[3].count) / 4000, 10);
    expect(r.params.find((p) => p.kind === 'final')!.values.some((v) => v.value === 0.99)).toBe(false);
  });

  it('a compiled JSON script gives the same report as its program', () => {
    const json = path.join(scratch, 'exp1.json');
    const compiled = inProcess('compile', 'examples/exp1.planout');
    writeFileSync(json, compiled.stdout);
    const fromJson = report(inProcess('check', json, '--json', '--units', '500', '--salt', 'Exp1'));
    const fromProgram = report(inProcess('check', 'examples/exp1.planout', '--json', '--units', '500', '--salt', 'Exp1'));
    expect({ ...fromJson, source: '' }).toEqual({ ...fromProgram, source: '' });
  });

  it('--unit-input names the unit; a script hashing another input gets one arm for all, p near 0', () => {
    const file = path.join(scratch, 'wrong-unit.planout');
    writeFileSync(file, 'arm = weightedChoice(choices=["a", "b"], weights=[1, 3], unit=userid);\n');
    const right = report(inProcess('check', file, '--json', '--units', '2000'));
    expect(right.params[0].chiSquare!.pValue).toBeGreaterThan(0.001);
    const wrong = report(inProcess('check', file, '--json', '--units', '2000', '--unit-input', 'visitor'));
    expect(wrong.unitInput).toBe('visitor');
    const arm = wrong.params[0];
    expect(arm.values.map((v) => v.expected)).toEqual([0.25, 0.75]);
    // userid is None for every unit: all units hash alike.
    expect(arm.values.map((v) => v.count).sort()).toEqual([0, 2000]);
    expect(arm.chiSquare!.pValue).toBeLessThan(1e-6);
  });

  it('passes --input to every unit', () => {
    const file = path.join(scratch, 'germany.planout');
    writeFileSync(file, 'if (country != "DE") { return false; }\nfeature = bernoulliTrial(p=0.5, unit=userid);\n');
    expect(report(inProcess('check', file, '--json', '--units', '300')).inExperiment).toBe(0);
    const inDe = report(inProcess('check', file, '--json', '--units', '300', '--input', 'country=DE'));
    expect(inDe.inExperiment).toBe(300);
    expect(inDe.params.map((p) => p.param)).toEqual(['feature']);
  });

  it('exits 1 naming the param when the script fails', () => {
    const file = path.join(scratch, 'bad-args.planout');
    writeFileSync(file, 'color = uniformChoice(choices=5, unit=userid);\n');
    const run = inProcess('check', file);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('param "color"');
  });
});

describe('README: the PlanOut language section shows what the code does', () => {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('## Writing experiments in the PlanOut language'));
  const body = section.slice(0, section.indexOf('\n## ', 3));

  it('shows examples/exp1.planout as it is', () => {
    const program = /```planout\n([\s\S]*?)```/.exec(body)![1];
    expect(program).toBe(readFileSync('examples/exp1.planout', 'utf8'));
  });

  const sessions = [...body.matchAll(/```console\n\$ npx nestjs-planout ([^\n]*)\n([\s\S]*?)```/g)];
  it('has command sessions', () => expect(sessions.length).toBeGreaterThanOrEqual(3));

  it.each(sessions.map((m) => [m[1], m[2]] as const))('$ nestjs-planout %s', (args, shown) => {
    expect(existsSync(main)).toBe(true);
    const run = cli(...args.split(' '));
    expect(run.stdout + run.stderr).toBe(shown);
  });
});
