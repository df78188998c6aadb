import { afterAll, describe, expect, it } from '@jest/globals';
import { compilePlanout } from '../../src/core/compiler/index.js';
import { PlanoutSyntaxError } from '../../src/core/errors.js';
import { shortChecksum } from '../../src/core/experiment.js';
import { stringifyPlanoutJson } from '../../src/core/json.js';
import type { PlanoutObject } from '../../src/core/values.js';
import { countCase, executedCases, expectSame, loadCases } from './vectors.js';

interface CompilerCase {
  id: string;
  description: string;
  tags: string[];
  source: string;
  expected_script: PlanoutObject | null;
  expected_error: boolean;
  debug_json_dumps_sha1_8?: string;
}

interface InterpreterCase {
  id: string;
  name: string;
  source: string | null;
  script: PlanoutObject;
}

const compilerCases = loadCases<CompilerCase>('compiler.json');
const interpreterSources = loadCases<InterpreterCase>('interpreter.json').filter((c) => c.source !== null);

/**
 * Python's `json.dumps` of the script: equal texts mean the same structure, the same key
 * order and the same int/float kinds (`2` vs `2.0`), i.e. the same checksum.
 */
const dumps = (script: unknown): string => stringifyPlanoutJson(script);

describe('compiler.json', () => {
  it('has cases', () => expect(compilerCases.length).toBeGreaterThan(0));

  const accepted = compilerCases.filter((c) => !c.expected_error);
  const rejected = compilerCases.filter((c) => c.expected_error);

  it.each(accepted.map((c) => [`${c.id} [${c.tags.join(' ')}]`, c] as const))('%s compiles', (title, c) => {
    countCase();
    const script = compilePlanout(c.source);
    expectSame(script, c.expected_script, title);
    expect(dumps(script)).toBe(dumps(c.expected_script));
    if (c.debug_json_dumps_sha1_8 !== undefined) expect(shortChecksum(dumps(script))).toBe(c.debug_json_dumps_sha1_8);
  });

  it.each(rejected.map((c) => [`${c.id} [${c.tags.join(' ')}]`, c] as const))('%s is rejected', (_title, c) => {
    countCase();
    let error: unknown;
    try {
      compilePlanout(c.source);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PlanoutSyntaxError);
    const { line, column } = error as PlanoutSyntaxError;
    // The located position lies inside the program.
    const lines = c.source.split(/\r\n|\r|\n/);
    expect(line).toBeGreaterThanOrEqual(1);
    expect(line).toBeLessThanOrEqual(lines.length);
    expect(column).toBeGreaterThanOrEqual(1);
    expect(column).toBeLessThanOrEqual(lines[line - 1].length + 1);
  });
});

describe('interpreter.json sources', () => {
  it.each(interpreterSources.map((c) => [`${c.id} ${c.name}`, c] as const))('%s compiles to its script', (title, c) => {
    countCase();
    const script = compilePlanout(c.source!);
    expectSame(script, c.script, title);
    expect(dumps(script)).toBe(dumps(c.script));
  });
});

afterAll(() => {
  console.log(
    `compiler conformance: ${executedCases()} cases executed ` +
      `(${compilerCases.length} compiler.json programs, ${interpreterSources.length} interpreter.json sources)`,
  );
});
